"""Query cost as Shopify charges it (spec §9), calibrated to the recorded figures:

- scalars and enums 0, objects 1, `MoneyV2` 0 (recorded: a config read costs 1, not 3);
- a connection costs 2 + size × (cost of one node), its size taken from `first`/`last`;
- each mutation root field costs 10; the objects directly in its payload are included, anything
  deeper is charged on top (so a debit that also selects `giftCard` costs 11).

With `data` the same walk gives the actual cost: connections are sized by what was returned.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
)
from graphql.utilities import value_from_ast_untyped

MUTATION_COST = 10
FREE_OBJECTS = frozenset({"MoneyV2"})
_MISSING = object()


class CostCalculator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def operation(self, op: OperationDefinitionNode, data: Any = _MISSING) -> int:
        if op.operation == OperationType.MUTATION:
            root = self.schema.mutation_type
            total = 0
            for node in self._fields(op.selection_set, root):
                if node.name.value.startswith("__"):
                    continue
                payload_type = get_named_type(root.fields[node.name.value].type)
                value = self._child(data, node)
                total += MUTATION_COST
                # Objects straight under the payload are part of the flat mutation price.
                for child in self._fields(node.selection_set, payload_type):
                    child_type = self._field_type(payload_type, child)
                    if child_type is None or is_leaf_type(child_type):
                        continue
                    total += self._selection(child.selection_set, child_type, self._child(value, child))
            return total
        root = self.schema.query_type if op.operation == OperationType.QUERY else None
        if root is None:
            return 0
        return self._selection(op.selection_set, root, data)

    # -- walking -----------------------------------------------------------------------------

    def _fields(self, selection_set: SelectionSetNode | None, parent: Any) -> list[FieldNode]:
        """Fields of a selection with fragments flattened (type conditions are not narrowed:
        charging the union of fragments errs on the expensive side, as Shopify does)."""
        if selection_set is None:
            return []
        out: list[FieldNode] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                out.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                out.extend(self._fields(selection.selection_set, parent))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    out.extend(self._fields(fragment.selection_set, parent))
        return out

    def _field_type(self, parent: Any, node: FieldNode) -> Any:
        fields = getattr(parent, "fields", None)
        if fields is None or node.name.value not in fields:
            # An interface's fields are on the interface; an unknown field was rejected earlier.
            return None
        return get_named_type(fields[node.name.value].type)

    @staticmethod
    def _child(data: Any, node: FieldNode) -> Any:
        if data is _MISSING:
            return _MISSING
        if not isinstance(data, dict):
            return None
        key = node.alias.value if node.alias else node.name.value
        return data.get(key)

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast_untyped(argument.value, self.variables)
        return None

    def _selection(self, selection_set: SelectionSetNode | None, parent: Any, data: Any) -> int:
        total = 0
        for node in self._fields(selection_set, parent):
            if node.name.value.startswith("__"):
                continue
            field_type = self._field_type(parent, node)
            if field_type is None or is_leaf_type(field_type):
                continue
            total += self._object_field(node, field_type, self._child(data, node))
        return total

    def _object_field(self, node: FieldNode, field_type: Any, value: Any) -> int:
        if field_type.name.endswith("Connection") and isinstance(field_type, GraphQLObjectType):
            return self._connection(node, field_type, value)
        own = 0 if field_type.name in FREE_OBJECTS else 1
        if isinstance(value, list):
            # Plain lists (userErrors) are charged like one element.
            value = value[0] if value else None
        if value is None:
            return own
        return own + self._selection(node.selection_set, field_type, value)

    def _connection(self, node: FieldNode, field_type: GraphQLObjectType, value: Any) -> int:
        if value is _MISSING:
            size = self._argument(node, "first") or self._argument(node, "last") or 0
        elif isinstance(value, dict):
            items = value.get("nodes") if isinstance(value.get("nodes"), list) else value.get("edges")
            size = len(items) if isinstance(items, list) else 0
        else:
            size = 0
        size = size if isinstance(size, int) else 0
        per_node = 0
        other = 0
        for child in self._fields(node.selection_set, field_type):
            child_type = self._field_type(field_type, child)
            if child_type is None or is_leaf_type(child_type):
                continue
            name = child.name.value
            if name == "nodes":
                per_node = max(per_node, 1 + self._selection(child.selection_set, child_type, _MISSING))
            elif name == "edges":
                for edge_child in self._fields(child.selection_set, child_type):
                    if edge_child.name.value == "node":
                        node_type = self._field_type(child_type, edge_child)
                        per_node = max(
                            per_node, 1 + self._selection(edge_child.selection_set, node_type, _MISSING)
                        )
            else:
                other += self._object_field(child, child_type, _MISSING)
        return 2 + size * per_node + other
