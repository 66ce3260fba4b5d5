"""The vendored 2026-07 Admin schema, and documents parsed and validated against it once.

Building the 3.8 MB SDL takes seconds, so it happens once per process; benchmarks resend the same
few documents thousands of times, so each distinct text is parsed and validated only once.
Validation errors are reshaped the way Shopify (graphql-ruby) words them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import adapter.shopify
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    get_named_type,
    parse,
    validate,
)
from graphql.language import FloatValueNode, IntValueNode, StringValueNode
from graphql.pyutils import Undefined
from graphql.utilities import coerce_input_value, type_from_ast, validate_input_value

# The vendor's published schema, shipped with the adapter (its test validates every document we send).
SCHEMA_PATH = Path(adapter.shopify.__file__).resolve().parent / "schema" / "admin-2026-07.graphql"


# -- scalars -------------------------------------------------------------------------------------
# The SDL leaves custom scalars as pass-through; Shopify rejects malformed values as
# INVALID_VARIABLE, and resolvers want Decimal/datetime/date rather than strings.

def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueError("invalid decimal")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"invalid decimal '{value}'") from exc
    if not amount.is_finite():
        raise ValueError(f"invalid decimal '{value}'")
    return amount


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("invalid datetime")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _parse_date(value: Any) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("invalid date")
    return date.fromisoformat(value)


def _literal(parser: Any) -> Any:
    def parse_literal(node: Any, _variables: Any = None) -> Any:
        if isinstance(node, (StringValueNode, IntValueNode, FloatValueNode)):
            return parser(node.value)
        raise ValueError("invalid literal")

    return parse_literal


def _transaction_type(value: Any, _info: Any, _abstract: Any) -> str:
    return value.typename


@lru_cache(maxsize=1)
def sandbox_schema() -> GraphQLSchema:
    # assume_valid: the vendored SDL has deprecation mismatches graphql-core's schema check refuses.
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"), assume_valid=True)
    for name, parser in (("Decimal", parse_decimal), ("DateTime", _parse_datetime), ("Date", _parse_date)):
        scalar = schema.type_map[name]
        scalar.parse_value = scalar.coerce_input_value = parser  # type: ignore[attr-defined]
        scalar.parse_literal = scalar.coerce_input_literal = _literal(parser)  # type: ignore[attr-defined]
    for name in ("GiftCardTransaction", "Node", "HasMetafields"):
        schema.type_map[name].resolve_type = _transaction_type  # type: ignore[attr-defined]
    return schema


# -- documents -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreparedDocument:
    document: DocumentNode | None
    errors: list[dict[str, Any]]
    operations: dict[str | None, OperationDefinitionNode]
    fragments: dict[str, FragmentDefinitionNode]

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        if name:
            return self.operations.get(name)
        if len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return None


def _locations(error: GraphQLError) -> list[dict[str, int]]:
    return [{"line": loc.line, "column": loc.column} for loc in error.locations or ()]


_RULES: list[tuple[re.Pattern[str], str, Any]] = [
    (re.compile(r"^Cannot query field '(?P<f>\w+)' on type '(?P<t>\w+)'"), "undefinedField",
     lambda m: (f"Field '{m['f']}' doesn't exist on type '{m['t']}'", {"typeName": m["t"], "fieldName": m["f"]})),
    (re.compile(r"^Unknown argument '(?P<a>\w+)' on field '\w+\.(?P<f>\w+)'"), "argumentNotAccepted",
     lambda m: (f"Field '{m['f']}' doesn't accept argument '{m['a']}'", {"name": m["f"], "argumentName": m["a"]})),
    (re.compile(r"^Argument '\w+\.(?P<f>\w+)\((?P<a>\w+):\)' of type .* is required"), "missingRequiredArguments",
     lambda m: (f"Field '{m['f']}' is missing required arguments: {m['a']}", {"name": m["f"], "arguments": m["a"]})),
    (re.compile(r"^Variable '\$(?P<v>\w+)' is never used"), "variableNotUsed",
     lambda m: (f"Variable ${m['v']} is declared by anonymous query but not used", {"variableName": m["v"]})),
    (re.compile(r"^Variable '\$(?P<v>\w+)' is not defined"), "variableNotDefined",
     lambda m: (f"Variable ${m['v']} is used by anonymous query but not declared", {"variableName": m["v"]})),
    (re.compile(r"^Unknown type '(?P<t>\w+)'"), "undefinedType",
     lambda m: (f"{m['t']} isn't a defined input type", {"typeName": m["t"]})),
    (re.compile(r"must have a selection of subfields|must not have a selection"), "selectionMismatch", None),
    (re.compile(r"to include required field"), "missingRequiredInputObjectAttribute", None),
    (re.compile(r"^Expected value of type|cannot represent"), "argumentLiteralsIncompatible", None),
]


def shopify_validation_error(error: GraphQLError) -> dict[str, Any]:
    message = error.message
    for pattern, code, reword in _RULES:
        match = pattern.search(message)
        if match:
            extra: dict[str, Any] = {}
            if reword is not None:
                message, extra = reword(match)
            return {"message": message, "locations": _locations(error), "extensions": {"code": code, **extra}}
    return {"message": message, "locations": _locations(error), "extensions": {"code": "validationError"}}


@lru_cache(maxsize=2048)
def prepare(query: str) -> PreparedDocument:
    schema = sandbox_schema()
    try:
        document = parse(query)
    except GraphQLError as error:
        return PreparedDocument(None, [{"message": error.message, "locations": _locations(error)}], {}, {})
    problems = validate(schema, document)
    if problems:
        return PreparedDocument(document, [shopify_validation_error(e) for e in problems], {}, {})
    operations: dict[str | None, OperationDefinitionNode] = {}
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            operations[definition.name.value if definition.name else None] = definition
        elif isinstance(definition, FragmentDefinitionNode):
            fragments[definition.name.value] = definition
    return PreparedDocument(document, [], operations, fragments)


# -- variables -----------------------------------------------------------------------------------

def _explanation(message: str) -> tuple[list[str], str]:
    """graphql-core's wording -> (extra path, graphql-ruby's wording)."""
    missing = re.search(r"include required field '(\w+)'", message) or re.search(
        r"Field '(\w+)' of required type '.*' was not provided", message)
    if missing:
        return [missing[1]], "Expected value to not be null"
    unknown = re.search(r"Expected value of type '(\w+)' not to include unknown field '(\w+)'", message) or \
        re.search(r"Field '(\w+)' is not defined by type '(\w+)'", message)
    if unknown:
        type_name, field_name = (unknown[1], unknown[2]) if "not to include" in message else (unknown[2], unknown[1])
        return [field_name], f"Field is not defined on {type_name}"
    if "non-nullable" in message or "not to be null" in message:
        return [], "Expected value to not be null"
    return [], message


def variable_errors(op: OperationDefinitionNode, variables: dict[str, Any]) -> list[dict[str, Any]]:
    """Shopify's INVALID_VARIABLE errors, one per bad variable, each with its `problems`."""
    schema = sandbox_schema()
    out: list[dict[str, Any]] = []
    for definition in op.variable_definitions or ():
        name = definition.variable.name.value
        var_type = type_from_ast(schema, definition.type)
        if var_type is None:
            continue
        type_text = str(var_type)
        value = variables.get(name, Undefined)
        problems: list[dict[str, Any]] = []
        if value is Undefined:
            if definition.default_value is None and type_text.endswith("!"):
                problems.append({"path": [], "explanation": "Expected value to not be null"})
        elif coerce_input_value(value, var_type) is Undefined:
            def on_error(error: GraphQLError, path: list[str | int]) -> None:
                extra, explanation = _explanation(error.message)
                problems.append({"path": [*path, *extra], "explanation": explanation})

            validate_input_value(value, var_type, on_error)
            if not problems:
                problems.append({"path": [], "explanation": f"Could not coerce value to {get_named_type(var_type)}"})
        if not problems:
            continue
        first = problems[0]
        message = f"Variable ${name} of type {type_text} was provided invalid value"
        if first["path"]:
            dotted = ".".join(str(p) for p in first["path"])
            message += f" for {dotted} ({first['explanation']})"
        out.append({
            "message": message,
            "locations": [{"line": definition.loc.source.get_location(definition.loc.start).line,
                           "column": definition.loc.source.get_location(definition.loc.start).column}]
            if definition.loc else [],
            "extensions": {"value": None if value is Undefined else value, "problems": problems,
                           "code": "INVALID_VARIABLE"},
        })
    return out
