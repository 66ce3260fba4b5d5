"""The vendored 2026-07 Admin schema, the releases derived from it, and documents parsed and
validated against them once.

Parsing the 3.8 MB SDL takes seconds, so it happens once per process, and each release's schema
is built from that parse on first use (versions.py says which release serves which version);
benchmarks resend the same few documents thousands of times, so each distinct text is parsed and
validated only once per release. Errors are worded the way Shopify (graphql-ruby) words them
(validation.py).
"""

from __future__ import annotations

import dataclasses
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
    GraphQLSyntaxError,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    build_ast_schema,
    get_named_type,
    parse,
)
from graphql.language import FloatValueNode, IntValueNode, StringValueNode
from graphql.pyutils import Undefined
from graphql.utilities import coerce_input_value, type_from_ast, validate_input_value

from giftcard_emulators.shopify.validation import syntax_error, validation_errors

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


# -- releases ------------------------------------------------------------------------------------
# We vendor one SDL, 2026-07. Older releases are derived from it by an explicit list of what they
# lack, limited to what the sandbox serves; a release here is built once, on first use.
# 2025-01: a gift card transaction (debit, credit, and their interface) has no `giftCard` field
# yet, so selecting it is Shopify's undefinedField ("Field 'giftCard' doesn't exist on type
# 'GiftCardDebitTransaction'").
LATEST_RELEASE = "2026-07"
SCHEMA_RELEASES: dict[str, dict[str, frozenset[str]]] = {
    # release -> {type name: the fields it does not have yet}
    "2026-07": {},
    "2025-01": {
        "GiftCardTransaction": frozenset({"giftCard"}),
        "GiftCardDebitTransaction": frozenset({"giftCard"}),
        "GiftCardCreditTransaction": frozenset({"giftCard"}),
    },
}


@lru_cache(maxsize=1)
def _vendored_sdl() -> DocumentNode:
    return parse(SCHEMA_PATH.read_text(encoding="utf-8"))


def _without_fields(document: DocumentNode, removed: dict[str, frozenset[str]]) -> DocumentNode:
    definitions = []
    for definition in document.definitions:
        if isinstance(definition, (ObjectTypeDefinitionNode, InterfaceTypeDefinitionNode)) \
                and definition.name.value in removed:
            kept = tuple(f for f in definition.fields if f.name.value not in removed[definition.name.value])
            trimmed = dataclasses.replace(definition, fields=kept)
            assert len(trimmed.fields) < len(definition.fields), f"{definition.name.value}: nothing to remove"
            definition = trimmed
        definitions.append(definition)
    return DocumentNode(definitions=tuple(definitions), loc=document.loc)


@lru_cache(maxsize=None)
def release_schema(release: str) -> GraphQLSchema:
    """The release's schema with the sandbox's scalars and type resolution (resolvers: versions.py)."""
    removed = SCHEMA_RELEASES[release]
    document = _without_fields(_vendored_sdl(), removed) if removed else _vendored_sdl()
    # assume_valid: the vendored SDL has deprecation mismatches graphql-core's schema check refuses.
    schema = build_ast_schema(document, assume_valid=True, assume_valid_sdl=True)
    for name, parser in (("Decimal", parse_decimal), ("DateTime", _parse_datetime), ("Date", _parse_date)):
        scalar = schema.type_map[name]
        scalar.parse_value = scalar.coerce_input_value = parser  # type: ignore[attr-defined]
        scalar.parse_literal = scalar.coerce_input_literal = _literal(parser)  # type: ignore[attr-defined]
    for name in ("GiftCardTransaction", "Node", "HasMetafields"):
        schema.type_map[name].resolve_type = _transaction_type  # type: ignore[attr-defined]
    return schema


def sandbox_schema() -> GraphQLSchema:
    """The latest release (2026-07): what the sandbox served before it knew of versions."""
    return release_schema(LATEST_RELEASE)


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


@lru_cache(maxsize=2048)
def prepare(query: str, release: str = LATEST_RELEASE) -> PreparedDocument:
    schema = release_schema(release)
    try:
        document = parse(query)
    except GraphQLSyntaxError as error:
        return PreparedDocument(None, [syntax_error(query, error)], {}, {})
    problems = validation_errors(schema, document)
    if problems:
        return PreparedDocument(document, problems, {}, {})
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


def variable_errors(op: OperationDefinitionNode, variables: dict[str, Any],
                    schema: GraphQLSchema | None = None) -> list[dict[str, Any]]:
    """Shopify's INVALID_VARIABLE errors, one per bad variable, each with its `problems`."""
    schema = schema or sandbox_schema()
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
