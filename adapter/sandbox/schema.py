"""The real Admin schema, and documents parsed and validated once per distinct text.

graphql-core's own SDL validation rejects Shopify's schema (a deprecated field implements a
non-deprecated interface field), so the schema is built with assume_valid; documents are still
checked with every standard validation rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
)

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "shopify" / "schema" / "admin-2026-07.graphql"
_UNDEFINED_FIELD = re.compile(r"Cannot query field '(?P<field>\w+)' on type '(?P<type>\w+)'")


@lru_cache(maxsize=1)
def admin_schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text(), assume_valid=True)


@dataclass
class PreparedDocument:
    document: DocumentNode | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    operations: list[OperationDefinitionNode] = field(default_factory=list)

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        if name:
            return next((op for op in self.operations if op.name and op.name.value == name), None)
        return self.operations[0] if len(self.operations) == 1 else None

    @staticmethod
    def root_fields(operation: OperationDefinitionNode) -> list[str]:
        return [s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)]


def shopify_error(error: GraphQLError) -> dict[str, Any]:
    """graphql-core's wording in the shape Shopify answers validation errors with."""
    body: dict[str, Any] = {"message": error.message}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    match = _UNDEFINED_FIELD.search(error.message)
    if match:
        body["message"] = f"Field '{match['field']}' doesn't exist on type '{match['type']}'"
        body["extensions"] = {"code": "undefinedField", "typeName": match["type"], "fieldName": match["field"]}
    else:
        body["extensions"] = {"code": "validationError"}
    return body


@lru_cache(maxsize=512)
def prepare(text: str) -> PreparedDocument:
    try:
        document = parse(text)
    except GraphQLError as error:
        return PreparedDocument(None, [{"message": error.message, "extensions": {"code": "parseError"}}])
    problems = validate(admin_schema(), document)
    if problems:
        return PreparedDocument(document, [shopify_error(p) for p in problems])
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return PreparedDocument(document, [], fragments, operations)
