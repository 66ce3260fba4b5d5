"""Parse and validation errors as Shopify words them: graphql-ruby's, not graphql-core's.

Shopify answers an invalid document with graphql-ruby's StaticValidation errors: each with
`message`, `locations`, a `path` and `extensions` (`code` plus details), and parse errors from its
C parser (graphql-c_parser, Bison: "syntax error, unexpected ...") with no path. graphql-core
validates to the same spec but words, locates and counts its errors differently, so the rules
graphql-ruby reports most are walked here the way graphql-ruby's visitor walks them:

- `path` is the visitor's position: "query Name" / "mutation Name" (just "query"/"mutation" when
  anonymous, "fragment Name" in a fragment), then each field's alias or name, "... on Type" for an
  inline fragment, "... Name" for a spread, each argument's and input field's name, and the index
  of an input object in a list argument.
- A field that does not exist, or whose selections are wrong, is not looked into further; an
  unknown argument neither. So one mistake gives one error, as on Shopify.
- An argument's literal is checked after its insides, and only if nothing inside it was reported.

WORDINGS is the table of what is reproduced (graphql-ruby rule, extensions code, message).
The rest of the spec's rules run through graphql-core: their errors keep graphql-core's message,
with graphql-ruby's code and a path (FALLBACK_RULES).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    InlineFragmentNode,
    ListValueNode,
    Node,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    ArgumentNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    is_enum_type,
    is_input_object_type,
    is_input_type,
    is_list_type,
    is_non_null_type,
    is_required_argument,
    is_scalar_type,
    validate,
)
from graphql.language import BooleanValueNode, FloatValueNode, IntValueNode, StringValueNode
from graphql.pyutils import Undefined
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from graphql.utilities import type_from_ast
from graphql.validation import (
    ExecutableDefinitionsRule,
    KnownDirectivesRule,
    NoFragmentCyclesRule,
    FragmentsOnCompositeTypesRule,
    OverlappingFieldsCanBeMergedRule,
    PossibleFragmentSpreadsRule,
    UniqueArgumentNamesRule,
    UniqueDirectivesPerLocationRule,
    UniqueFragmentNamesRule,
    UniqueInputFieldNamesRule,
    UniqueVariableNamesRule,
)

# -- the wordings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    rule: str  # graphql-ruby's StaticValidation rule (or the parser)
    code: str | None  # extensions.code; None: the error has no extensions
    template: str  # str.format template of the message


# What graphql-ruby says, rule by rule (read from graphql-ruby's lib/graphql/static_validation and
# graphql-c_parser). Each entry has a test in tests/sandbox/test_versions_and_errors.py.
WORDINGS: dict[str, Wording] = {
    # FieldsAreDefinedOnType. extensions: typeName, fieldName.
    "undefinedField": Wording("FieldsAreDefinedOnType", "undefinedField",
                              "Field '{field}' doesn't exist on type '{type}'"),
    # ... and a field other than __typename selected straight on a union. extensions: nodeName.
    "selectionOnUnion": Wording("FieldsAreDefinedOnType", "selectionMismatch",
                                "Selections can't be made directly on unions (see selections on {type})"),
    # FieldsHaveAppropriateSelections. extensions: nodeName ("field 'x'"), typeName.
    "selectionsRequired": Wording(
        "FieldsHaveAppropriateSelections", "selectionMismatch",
        "Field must have selections ({node} returns {type} but has no selections. Did you mean '{name} {{ ... }}'?)"),
    "selectionsOnScalar": Wording(
        "FieldsHaveAppropriateSelections", "selectionMismatch",
        "Selections can't be made on scalars ({node} returns {type} but has selections [{selections}])"),
    # ArgumentsAreDefined; kind is Field, InputObject or Directive. extensions: name, typeName, argumentName.
    "argumentNotAccepted": Wording("ArgumentsAreDefined", "argumentNotAccepted",
                                   "{kind} '{name}' doesn't accept argument '{argument}'"),
    # RequiredArgumentsArePresent. extensions: className, name, arguments.
    "missingRequiredArguments": Wording("RequiredArgumentsArePresent", "missingRequiredArguments",
                                        "{kind} '{name}' is missing required arguments: {arguments}"),
    # ArgumentLiteralsAreCompatible. extensions: typeName (the kind), argumentName.
    "argumentLiteralsIncompatible": Wording(
        "ArgumentLiteralsAreCompatible", "argumentLiteralsIncompatible",
        "Argument '{argument}' on {kind} '{name}' has an invalid value ({value}). Expected type '{type}'."),
    # RequiredInputObjectAttributesArePresent. extensions: argumentName, argumentType, inputObjectType.
    "missingRequiredInputObjectAttribute": Wording(
        "RequiredInputObjectAttributesArePresent", "missingRequiredInputObjectAttribute",
        "Argument '{argument}' on InputObject '{input_type}' is required. Expected type {type}"),
    # VariablesAreInputTypes. extensions: typeName, variableName.
    "variableTypeUndefined": Wording("VariablesAreInputTypes", "variableRequiresValidType",
                                     "{type} isn't a defined input type (on ${variable})"),
    "variableTypeNotInput": Wording("VariablesAreInputTypes", "variableRequiresValidType",
                                    "{type} isn't a valid input type (on ${variable})"),
    # VariableDefaultValuesAreCorrectlyTyped. extensions: variableName, typeName. Where the literal
    # validator explains the problem, that explanation is the message instead: a scalar's
    # 'Could not coerce value "ten" to Int', an enum's 'Expected "ZZZ" to be one of: AED, ...'.
    "defaultValueInvalidType": Wording("VariableDefaultValuesAreCorrectlyTyped", "defaultValueInvalidType",
                                       "Default value for ${variable} doesn't match type {type}"),
    # VariablesAreUsedAndDefined; an anonymous operation is "anonymous query" / "anonymous mutation".
    # extensions: variableName.
    "variableNotUsed": Wording("VariablesAreUsedAndDefined", "variableNotUsed",
                               "Variable ${variable} is declared by {operation} but not used"),
    "variableNotDefined": Wording("VariablesAreUsedAndDefined", "variableNotDefined",
                                  "Variable ${variable} is used by {operation} but not declared"),
    # VariableUsagesAreAllowed; problem is "Type mismatch", "List dimension mismatch" or
    # "Nullability mismatch". extensions: variableName, typeName, argumentName, errorMessage.
    "variableMismatch": Wording(
        "VariableUsagesAreAllowed", "variableMismatch",
        "{problem} on variable ${variable} and argument {argument} ({variable_type} / {argument_type})"),
    # FragmentTypesExist. extensions: typeName.
    "undefinedFragmentType": Wording("FragmentTypesExist", "undefinedType",
                                     "No such type {type}, so it can't be a fragment condition"),
    # FragmentsAreUsed. extensions: fragmentName.
    "fragmentNotDefined": Wording("FragmentsAreUsed", "useAndDefineFragment",
                                  "Fragment {fragment} was used, but not defined"),
    "fragmentNotUsed": Wording("FragmentsAreUsed", "useAndDefineFragment",
                               "Fragment {fragment} was defined, but not used"),
    # DirectivesAreDefined. extensions: directiveName.
    "undefinedDirective": Wording("DirectivesAreDefined", "undefinedDirective", "Directive @{directive} is not defined"),
    # OperationNamesAreValid. extensions: operationName (when named).
    "operationNameRequired": Wording("OperationNamesAreValid", "uniquelyNamedOperations",
                                     "Operation name is required when multiple operations are present"),
    "operationNameNotUnique": Wording("OperationNamesAreValid", "uniquelyNamedOperations",
                                      'Operation name "{operation}" must be unique'),
    # SubscriptionRootExists (the Admin API has no subscriptions).
    "missingSubscriptionConfiguration": Wording("SubscriptionRootExists", "missingSubscriptionConfiguration",
                                                "Schema is not configured for subscriptions"),
    # graphql-c_parser: Bison's "detailed" message plus the position of the last token read. No path,
    # no extensions. The expected tokens are only given where there is one (a missing ':').
    "syntaxError": Wording("Parser", None, "syntax error, unexpected {token}{expecting} at [{line}, {column}]"),
    "emptyDocument": Wording("Parser", None, "Unexpected end of document"),
}

# Rules left to graphql-core: (graphql-core rule, graphql-ruby's code). graphql-core's message.
FALLBACK_RULES: list[tuple[Any, str]] = [
    (ExecutableDefinitionsRule, "queryContainsSchemaDefinitions"),
    (UniqueFragmentNamesRule, "fragmentNotUnique"),
    (NoFragmentCyclesRule, "infiniteLoop"),
    (FragmentsOnCompositeTypesRule, "fragmentOnNonCompositeType"),
    (PossibleFragmentSpreadsRule, "cannotSpreadFragment"),
    (OverlappingFieldsCanBeMergedRule, "fieldConflict"),
    (UniqueArgumentNamesRule, "argumentNotUnique"),
    (UniqueVariableNamesRule, "variableNotUnique"),
    (UniqueDirectivesPerLocationRule, "directiveCannotBeRepeated"),
    (KnownDirectivesRule, "directiveCannotBeApplied"),  # its unknown-directive errors are ours
    (UniqueInputFieldNamesRule, "inputFieldNotUnique"),
]


def _error(key: str, nodes: list[Node], path: list[Any] | None, extensions: dict[str, Any] | None = None,
           **words: Any) -> dict[str, Any]:
    wording = WORDINGS[key]
    error: dict[str, Any] = {"message": wording.template.format(**words), "locations": _locations(nodes)}
    if path is not None:
        error["path"] = path
    if wording.code is not None:
        error["extensions"] = {"code": wording.code, **(extensions or {})}
    return error


def _locations(nodes: list[Node]) -> list[dict[str, int]]:
    out = []
    for node in nodes:
        if node is not None and node.loc is not None:
            where = node.loc.source.get_location(node.loc.start)
            out.append({"line": where.line, "column": where.column})
    return out


# -- values as graphql-ruby prints and checks them --------------------------------------------------

def print_value(node: Node) -> str:
    """GraphQL::Language::Printer's form of a literal: `{amount: "5", currencyCode: USD}`."""
    if isinstance(node, StringValueNode):
        return json.dumps(node.value, ensure_ascii=False)
    if isinstance(node, FloatValueNode):
        return repr(float(node.value))
    if isinstance(node, IntValueNode):
        return str(int(node.value))
    if isinstance(node, BooleanValueNode):
        return "true" if node.value else "false"
    if isinstance(node, NullValueNode):
        return "null"
    if isinstance(node, EnumValueNode):
        return node.value
    if isinstance(node, VariableNode):
        return f"${node.name.value}"
    if isinstance(node, ListValueNode):
        return "[" + ", ".join(print_value(v) for v in node.values) + "]"
    if isinstance(node, ObjectValueNode):
        return "{" + ", ".join(f"{f.name.value}: {print_value(f.value)}" for f in node.fields) + "}"
    return str(node)


def _constant(node: Node) -> bool:
    if isinstance(node, VariableNode):
        return False
    if isinstance(node, ListValueNode):
        return all(_constant(v) for v in node.values)
    if isinstance(node, ObjectValueNode):
        return all(_constant(f.value) for f in node.fields)
    return True


def _serialize(node: Node) -> str:
    """GraphQL::Language.serialize of the literal's Ruby value: JSON for leaves, no spaces."""
    if isinstance(node, ListValueNode):
        return "[" + ",".join(_serialize(v) for v in node.values) + "]"
    if isinstance(node, ObjectValueNode):
        return "{" + ",".join(f"{f.name.value}:{_serialize(f.value)}" for f in node.fields) + "}"
    if isinstance(node, (StringValueNode, EnumValueNode)):
        return json.dumps(node.value, ensure_ascii=False)
    if isinstance(node, NullValueNode):
        return "null"
    return print_value(node)


def literal_problem(node: Node, type_: Any) -> tuple[bool, str | None]:
    """graphql-ruby's LiteralValidator (error_bubbling off): (valid, the first problem's
    explanation, where graphql-ruby has one). A non-null input field counts as required even
    when it has a default; scalars judge literals by the schema's own parsers."""
    if type_ is None:
        return False, None
    if isinstance(node, NullValueNode):
        return not is_non_null_type(type_), None
    if is_non_null_type(type_):
        return literal_problem(node, type_.of_type)
    if is_list_type(type_):
        for item in node.values if isinstance(node, ListValueNode) else (node,):
            valid, explanation = literal_problem(item, type_.of_type)
            if not valid:
                return False, explanation
        return True, None
    if isinstance(node, VariableNode):
        return True, None
    if is_scalar_type(type_) and _constant(node):
        try:
            if type_.parse_literal(node, None) is not Undefined:
                return True, None
        except (GraphQLError, ValueError, TypeError, ArithmeticError):
            pass
        return False, f"Could not coerce value {_serialize(node)} to {type_.name}"
    if is_enum_type(type_):
        if not isinstance(node, EnumValueNode):
            return False, None
        if node.value in type_.values:
            return True, None
        return False, f"Expected {_serialize(node)} to be one of: {', '.join(type_.values)}"
    if is_input_object_type(type_) and isinstance(node, ObjectValueNode):
        present = {f.name.value for f in node.fields}
        if any(is_non_null_type(f.type) and name not in present for name, f in type_.fields.items()):
            return False, None
        for object_field in node.fields:
            known = type_.fields.get(object_field.name.value)
            valid, explanation = literal_problem(object_field.value, known.type if known is not None else None)
            if not valid:
                return False, explanation
        return True, None
    return False, None


def literal_is_valid(node: Node, type_: Any) -> bool:
    return literal_problem(node, type_)[0]


def _list_dimension(type_: Any) -> int:
    if is_list_type(type_):
        return 1 + _list_dimension(type_.of_type)
    if is_non_null_type(type_):
        return _list_dimension(type_.of_type)
    return 0


def _non_null_levels_match(arg_type: Any, var_type: Any) -> bool:
    if is_non_null_type(arg_type) and not is_non_null_type(var_type):
        return False
    wraps = (GraphQLList, GraphQLNonNull)
    if isinstance(arg_type, wraps) and isinstance(var_type, wraps):
        if is_non_null_type(var_type) and not is_non_null_type(arg_type):
            var_type = var_type.of_type
        return _non_null_levels_match(arg_type.of_type, var_type.of_type)
    return True


def _list_depth(node: Node) -> int:
    if isinstance(node, ListValueNode):
        return 1 + max((_list_depth(v) for v in node.values), default=0)
    return 0


# -- the walk --------------------------------------------------------------------------------------

@dataclass
class _Usage:
    declared_by: OperationDefinitionNode | None = None
    used_by: Node | None = None
    node: Node | None = None
    path: list[Any] = field(default_factory=list)


@dataclass
class _Spread:
    name: str
    node: FragmentSpreadNode
    path: list[Any]


def _definition_name(node: Node) -> str:
    """How VariablesAreUsedAndDefined names an operation or fragment."""
    if isinstance(node, OperationDefinitionNode):
        return node.name.value if node.name else f"anonymous {node.operation.value}"
    return node.name.value  # a fragment


class _Walk:
    """graphql-ruby's StaticValidation visitor (BaseVisitor::ContextMethods and the rules above)."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.errors: list[dict[str, Any]] = []
        self.path: list[Any] = []
        self.object_types: list[Any] = []
        self.field_definitions: list[Any] = []
        self.directive_definitions: list[Any] = []
        self.argument_definitions: list[Any] = []
        self.parents: list[Node] = []  # graphql-ruby's notion of parent: no selection sets, no lists
        # VariablesAreUsedAndDefined / VariableUsagesAreAllowed / DefinitionDependencies
        self.usages: dict[int, dict[str, _Usage]] = {}
        self.definitions: list[Node] = []
        self.spreads: dict[int, list[_Spread]] = {}
        self.fragments: dict[str, tuple[FragmentDefinitionNode, list[Any]]] = {}
        self.context: list[Node] = []
        self.declared_variables: dict[str, VariableDefinitionNode] = {}
        self.operation_names: dict[str | None, list[OperationDefinitionNode]] = {}

    # -- helpers ---------------------------------------------------------------------------------

    def _mark(self) -> tuple[int, ...]:
        return (len(self.path), len(self.object_types), len(self.field_definitions),
                len(self.directive_definitions), len(self.argument_definitions), len(self.parents))

    def _restore(self, mark: tuple[int, ...]) -> None:
        for stack, size in zip((self.path, self.object_types, self.field_definitions, self.directive_definitions,
                                self.argument_definitions, self.parents), mark, strict=True):
            del stack[size:]

    def _parent(self) -> Node | None:
        return self.parents[-1] if self.parents else None

    def _field_definition(self, parent_type: Any, name: str) -> Any:
        if name == "__typename":
            return TypeNameMetaFieldDef
        if parent_type is self.schema.query_type and name in ("__schema", "__type"):
            return SchemaMetaFieldDef if name == "__schema" else TypeMetaFieldDef
        if isinstance(parent_type, (GraphQLObjectType, GraphQLInterfaceType)):
            return parent_type.fields.get(name)
        return None

    def _argument_definition(self, name: str) -> Any:
        if self.argument_definitions and self.argument_definitions[-1] is not None:
            owner = get_named_type(self.argument_definitions[-1].type)
            return owner.fields.get(name) if isinstance(owner, GraphQLInputObjectType) else None
        if self.directive_definitions and self.directive_definitions[-1] is not None:
            return self.directive_definitions[-1].args.get(name)
        if self.field_definitions and self.field_definitions[-1] is not None:
            return self.field_definitions[-1].args.get(name)
        return None

    def _parent_definition(self, parent: Node | None) -> Any:
        """ArgumentsAreDefined#parent_definition: what the argument's parent accepts arguments from."""
        if isinstance(parent, ObjectValueNode):
            outer = self.argument_definitions[-2] if len(self.argument_definitions) > 1 else None
            owner = get_named_type(outer.type) if outer is not None else None
            return owner if isinstance(owner, GraphQLInputObjectType) else None
        if isinstance(parent, DirectiveNode):
            return self.schema.get_directive(parent.name.value)
        if isinstance(parent, FieldNode):
            return self.field_definitions[-1] if self.field_definitions else None
        return None

    @staticmethod
    def _accepted(definition: Any) -> dict[str, Any]:
        return definition.fields if isinstance(definition, GraphQLInputObjectType) else definition.args

    @staticmethod
    def _kind_and_name(parent: Node, definition: Any) -> tuple[str, str]:
        if isinstance(parent, FieldNode):
            return "Field", (parent.alias or parent.name).value
        if isinstance(parent, ObjectValueNode):
            return "InputObject", definition.name
        return "Directive", parent.name.value

    # -- entry -----------------------------------------------------------------------------------

    def run(self, document: DocumentNode) -> list[dict[str, Any]]:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                self.operation(definition)
            elif isinstance(definition, FragmentDefinitionNode):
                self.fragment_definition(definition)
        self.variables_used_and_defined()
        self.fragments_used()
        self.operation_names_valid()
        return self.errors

    def operation(self, node: OperationDefinitionNode) -> None:
        mark = self._mark()
        root = {OperationType.QUERY: self.schema.query_type, OperationType.MUTATION: self.schema.mutation_type,
                OperationType.SUBSCRIPTION: self.schema.subscription_type}[node.operation]
        self.object_types.append(root)
        self.path.append(node.operation.value + (f" {node.name.value}" if node.name else ""))
        self.operation_names.setdefault(node.name.value if node.name else None, []).append(node)
        usages = self.usages.setdefault(id(node), {})
        for variable in node.variable_definitions or ():
            usage = usages.setdefault(variable.variable.name.value, _Usage())
            usage.declared_by = node
            usage.path = list(self.path)
        self.declared_variables = {v.variable.name.value: v for v in node.variable_definitions or ()}
        if root is None:
            self.errors.append(_error("missingSubscriptionConfiguration", [node], list(self.path)))
            self._restore(mark)
            return
        self.definitions.append(node)
        self.context.append(node)
        self.parents.append(node)
        for variable in node.variable_definitions or ():
            self.variable_definition(variable)
        for directive in node.directives or ():
            self.directive(directive)
        self.selections(node.selection_set.selections)
        self.context.pop()
        self._restore(mark)

    def fragment_definition(self, node: FragmentDefinitionNode) -> None:
        mark = self._mark()
        self.object_types.append(self.schema.get_type(node.type_condition.name.value))
        self.path.append(f"fragment {node.name.value}")
        if self.fragment_type_missing(node) or not self.composite():
            self._restore(mark)
            return
        self.usages.setdefault(id(node), {})
        self.fragments.setdefault(node.name.value, (node, list(self.path)))
        self.definitions.append(node)
        self.context.append(node)
        self.parents.append(node)
        for directive in node.directives or ():
            self.directive(directive)
        self.selections(node.selection_set.selections)
        self.context.pop()
        self._restore(mark)

    def fragment_type_missing(self, node: FragmentDefinitionNode | InlineFragmentNode) -> bool:
        if node.type_condition is None or self.schema.get_type(node.type_condition.name.value) is not None:
            return False
        name = node.type_condition.name.value
        self.errors.append(_error("undefinedFragmentType", [node], list(self.path), {"typeName": name}, type=name))
        return True

    def composite(self) -> bool:
        """FragmentsAreOnCompositeTypes (graphql-core words it) stops the walk into the fragment."""
        return isinstance(self.object_types[-1], (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType))

    def selections(self, selections: Any) -> None:
        for selection in selections:
            if isinstance(selection, FieldNode):
                self.field(selection)
            elif isinstance(selection, InlineFragmentNode):
                self.inline_fragment(selection)
            elif isinstance(selection, FragmentSpreadNode):
                self.fragment_spread(selection)

    def inline_fragment(self, node: InlineFragmentNode) -> None:
        mark = self._mark()
        condition = node.type_condition
        self.object_types.append(self.schema.get_type(condition.name.value) if condition else self.object_types[-1])
        self.path.append("..." + (f" on {condition.name.value}" if condition else ""))
        if self.fragment_type_missing(node) or not self.composite():
            self._restore(mark)
            return
        self.parents.append(node)
        for directive in node.directives or ():
            self.directive(directive)
        self.selections(node.selection_set.selections)
        self._restore(mark)

    def fragment_spread(self, node: FragmentSpreadNode) -> None:
        mark = self._mark()
        self.path.append(f"... {node.name.value}")
        self.spreads.setdefault(id(self.context[-1]), []).append(_Spread(node.name.value, node, list(self.path)))
        self.parents.append(node)
        for directive in node.directives or ():
            self.directive(directive)
        self._restore(mark)

    def field(self, node: FieldNode) -> None:
        mark = self._mark()
        parent_node = self._parent()
        parent_type = self.object_types[-1]
        definition = self._field_definition(parent_type, node.name.value)
        self.field_definitions.append(definition)
        self.object_types.append(get_named_type(definition.type) if definition is not None else None)
        self.path.append((node.alias or node.name).value)
        try:
            if parent_type is None:  # nothing to check against (not reached on a valid walk)
                return
            if definition is None:  # FieldsAreDefinedOnType
                if isinstance(parent_type, GraphQLUnionType):
                    self.errors.append(_error("selectionOnUnion", [parent_node], list(self.path),
                                              {"nodeName": parent_type.name}, type=parent_type.name))
                else:
                    self.errors.append(_error("undefinedField", [node], list(self.path),
                                              {"typeName": parent_type.name, "fieldName": node.name.value},
                                              field=node.name.value, type=parent_type.name))
                return
            if not self.selections_fit(node, self.object_types[-1]):
                return
            self.required_arguments(node, definition, "Field")
            self.parents.append(node)
            for argument in node.arguments or ():
                self.argument(argument)
            for directive in node.directives or ():
                self.directive(directive)
            if node.selection_set is not None:
                self.selections(node.selection_set.selections)
        finally:
            self._restore(mark)

    def selections_fit(self, node: FieldNode, resolved: Any) -> bool:
        """FieldsHaveAppropriateSelections: scalars (not enums) take none, objects and interfaces
        need some; unions and enums are not this rule's business."""
        selections = node.selection_set.selections if node.selection_set is not None else ()
        described = f"field '{node.name.value}'"
        if isinstance(resolved, GraphQLScalarType) and selections:
            names = []
            for selection in selections:
                if isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition.name.value if selection.type_condition else ""
                    names.append(f'"... on {condition} {{ ... }}"')
                else:
                    names.append(f'"{selection.name.value}"')
            self.errors.append(_error("selectionsOnScalar", [node], list(self.path),
                                      {"nodeName": described, "typeName": resolved.name},
                                      node=described, type=resolved.name, selections=", ".join(names)))
            return False
        if isinstance(resolved, (GraphQLObjectType, GraphQLInterfaceType)) and not selections:
            self.errors.append(_error("selectionsRequired", [node], list(self.path),
                                      {"nodeName": described, "typeName": resolved.name},
                                      node=described, type=resolved.name, name=node.name.value))
            return False
        return True

    def required_arguments(self, node: FieldNode | DirectiveNode, definition: Any, kind: str) -> None:
        present = {argument.name.value for argument in node.arguments or ()}
        missing = [name for name, argument in definition.args.items()
                   if is_required_argument(argument) and name not in present]
        if missing:
            listed = ", ".join(missing)
            self.errors.append(_error("missingRequiredArguments", [node], list(self.path),
                                      {"className": kind, "name": node.name.value, "arguments": listed},
                                      kind=kind, name=node.name.value, arguments=listed))

    def directive(self, node: DirectiveNode) -> None:
        mark = self._mark()
        definition = self.schema.get_directive(node.name.value)
        self.directive_definitions.append(definition)
        if definition is None:
            self.errors.append(_error("undefinedDirective", [node], list(self.path),
                                      {"directiveName": node.name.value}, directive=node.name.value))
        else:
            self.required_arguments(node, definition, "Directive")
            self.parents.append(node)
            for argument in node.arguments or ():
                self.argument(argument)
        self._restore(mark)

    def variable_definition(self, node: VariableDefinitionNode) -> None:
        name = node.variable.name.value
        named = node.type
        while not hasattr(named, "name"):
            named = named.type
        type_name = named.name.value
        found = self.schema.get_type(type_name)
        if found is None:
            self.errors.append(_error("variableTypeUndefined", [node], list(self.path),
                                      {"typeName": type_name, "variableName": name}, type=type_name, variable=name))
        elif not is_input_type(found):
            self.errors.append(_error("variableTypeNotInput", [node], list(self.path),
                                      {"typeName": type_name, "variableName": name}, type=type_name, variable=name))
        elif node.default_value is not None:
            var_type = type_from_ast(self.schema, node.type)
            valid, explanation = literal_problem(node.default_value, var_type)
            if var_type is not None and not valid:
                error = _error("defaultValueInvalidType", [node], list(self.path),
                               {"variableName": name, "typeName": str(var_type)}, variable=name, type=str(var_type))
                if explanation:  # graphql-ruby prefers the literal's own problem, when it has one
                    error["message"] = explanation
                self.errors.append(error)

    def argument(self, node: ArgumentNode | ObjectFieldNode) -> None:
        """An argument, or a field of an input object literal (graphql-ruby calls both arguments)."""
        mark = self._mark()
        parent = self._parent()
        name = node.name.value
        self.argument_definitions.append(self._argument_definition(name))
        self.path.append(name)
        try:
            parent_definition = self._parent_definition(parent)
            if parent_definition is not None and name not in self._accepted(parent_definition):
                kind, owner = self._kind_and_name(parent, parent_definition)
                self.errors.append(_error("argumentNotAccepted", [node], list(self.path),
                                          {"name": owner, "typeName": kind, "argumentName": name},
                                          kind=kind, name=owner, argument=name))
                return
            self.variable_usages_allowed(node, parent)
            self.parents.append(node)
            self.value(node.value, 0)
            self.parents.pop()
            self.literal_compatible(node, parent, parent_definition)
        finally:
            self._restore(mark)

    def value(self, node: Node, index: int) -> None:
        if isinstance(node, ListValueNode):
            for position, item in enumerate(node.values):
                self.value(item, position)
        elif isinstance(node, ObjectValueNode):
            self.input_object(node, index)
        elif isinstance(node, VariableNode):
            usage = self.usages[id(self.context[-1])].setdefault(node.name.value, _Usage())
            usage.used_by = self.context[-1]
            usage.node = node
            usage.path = list(self.path)

    def input_object(self, node: ObjectValueNode, index: int) -> None:
        mark = self._mark()
        definition = self.argument_definitions[-1] if self.argument_definitions else None
        if definition is not None and is_list_type(definition.type.of_type if is_non_null_type(definition.type)
                                                   else definition.type):
            self.path.append(index)
        # RequiredInputObjectAttributesArePresent: every non-null field, default or not.
        owner = get_named_type(definition.type) if definition is not None else None
        if isinstance(owner, GraphQLInputObjectType):
            present = {f.name.value for f in node.fields}
            for name, input_field in owner.fields.items():
                if is_non_null_type(input_field.type) and name not in present:
                    self.errors.append(_error(
                        "missingRequiredInputObjectAttribute", [node], [*self.path, name],
                        {"argumentName": name, "argumentType": str(input_field.type), "inputObjectType": owner.name},
                        argument=name, input_type=owner.name, type=str(input_field.type)))
        self.parents.append(node)
        for object_field in node.fields:
            self.argument(object_field)
        self._restore(mark)

    def literal_compatible(self, node: ArgumentNode | ObjectFieldNode, parent: Node | None,
                           parent_definition: Any) -> None:
        """ArgumentLiteralsAreCompatible, once the argument's insides are checked."""
        if isinstance(node.value, VariableNode) or parent_definition is None:
            return
        here = list(self.path)
        if any(error.get("path", [])[:len(here)] == here for error in self.errors):
            return
        definition = self._accepted(parent_definition).get(node.name.value)
        if definition is None or literal_is_valid(node.value, definition.type):
            return
        kind, owner = self._kind_and_name(parent, parent_definition)
        self.errors.append(_error("argumentLiteralsIncompatible", [parent], here,
                                  {"typeName": kind, "argumentName": node.name.value},
                                  argument=node.name.value, kind=kind, name=owner,
                                  value=print_value(node.value), type=str(definition.type)))

    def variable_usages_allowed(self, node: ArgumentNode | ObjectFieldNode, parent: Node | None) -> None:
        values = node.value.values if isinstance(node.value, ListValueNode) else (node.value,)
        variables = [v for v in values if isinstance(v, VariableNode)]
        if not variables:
            return
        if isinstance(parent, FieldNode):
            accepted = self.field_definitions[-1].args if self.field_definitions[-1] else None
        elif isinstance(parent, DirectiveNode):
            accepted = self.directive_definitions[-1].args if self.directive_definitions[-1] else None
        else:
            outer = self.argument_definitions[-2] if len(self.argument_definitions) > 1 else None
            owner = get_named_type(outer.type) if outer is not None else None
            accepted = owner.fields if isinstance(owner, GraphQLInputObjectType) else None
        if not accepted or node.name.value not in accepted:
            return
        argument_type = accepted[node.name.value].type
        for variable in variables:
            declared = self.declared_variables.get(variable.name.value)
            if declared is None:
                continue
            var_type = type_from_ast(self.schema, declared.type)
            if var_type is None:
                continue
            if declared.default_value is not None and not is_non_null_type(var_type):
                var_type = GraphQLNonNull(var_type)
            for _ in range(_list_depth(node.value)):
                var_type = GraphQLNonNull(GraphQLList(var_type))
            if get_named_type(var_type) is not get_named_type(argument_type):
                problem = "Type mismatch"
            elif _list_dimension(var_type) != _list_dimension(argument_type):
                problem = "List dimension mismatch"
            elif not _non_null_levels_match(argument_type, var_type):
                problem = "Nullability mismatch"
            else:
                continue
            name = variable.name.value
            self.errors.append(_error(
                "variableMismatch", [node], list(self.path),
                {"variableName": name, "typeName": str(var_type), "argumentName": node.name.value,
                 "errorMessage": problem},
                problem=problem, variable=name, argument=node.name.value, variable_type=str(var_type),
                argument_type=str(argument_type)))

    # -- at the end of the document --------------------------------------------------------------

    def _follow_spreads(self, node: Node, variables: dict[str, _Usage], visited: list[str]) -> None:
        for spread in [s for s in self.spreads.get(id(node), []) if s.name not in visited]:
            found = self.fragments.get(spread.name)
            if found is None:
                continue
            visited.append(spread.name)
            for name, child in self.usages.get(id(found[0]), {}).items():
                parent = variables.setdefault(name, _Usage())
                if child.used_by is not None:
                    parent.node, parent.used_by, parent.path = child.node, child.used_by, child.path
            self._follow_spreads(found[0], variables, visited)

    def variables_used_and_defined(self) -> None:
        for definition in self.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            variables = self.usages[id(definition)]
            self._follow_spreads(definition, variables, [])
            for name, usage in variables.items():
                if usage.declared_by is not None and usage.used_by is None:
                    self.errors.append(_error("variableNotUsed", [usage.declared_by], usage.path,
                                              {"variableName": name}, variable=name,
                                              operation=_definition_name(usage.declared_by)))
            for name, usage in variables.items():
                if usage.used_by is not None and usage.declared_by is None:
                    self.errors.append(_error("variableNotDefined", [usage.node], usage.path,
                                              {"variableName": name}, variable=name,
                                              operation=_definition_name(usage.used_by)))

    def fragments_used(self) -> None:
        reached: set[str] = set()
        for definition in self.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            pending = [definition]
            seen: set[int] = set()
            while pending:
                current = pending.pop(0)
                if id(current) in seen:
                    continue
                seen.add(id(current))
                for spread in self.spreads.get(id(current), []):
                    found = self.fragments.get(spread.name)
                    if found is None:
                        self.errors.append(_error("fragmentNotDefined", [spread.node], spread.path,
                                                  {"fragmentName": spread.name}, fragment=spread.name))
                    else:
                        reached.add(spread.name)
                        pending.append(found[0])
        for name, (node, path) in self.fragments.items():
            if name not in reached:
                self.errors.append(_error("fragmentNotUsed", [node], path, {"fragmentName": name}, fragment=name))

    def operation_names_valid(self) -> None:
        count = sum(len(nodes) for nodes in self.operation_names.values())
        for name, nodes in self.operation_names.items():
            if name is None and count > 1:
                self.errors.append(_error("operationNameRequired", list(nodes), []))
            elif name is not None and len(nodes) > 1:
                self.errors.append(_error("operationNameNotUnique", list(nodes), [], {"operationName": name},
                                          operation=name))


# -- paths for graphql-core's errors ---------------------------------------------------------------

def _paths(document: DocumentNode) -> dict[int, list[Any]]:
    """graphql-ruby's path of every node, for the rules left to graphql-core."""
    paths: dict[int, list[Any]] = {}

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, OperationDefinitionNode):
            path = [*path, node.operation.value + (f" {node.name.value}" if node.name else "")]
        elif isinstance(node, FragmentDefinitionNode):
            path = [*path, f"fragment {node.name.value}"]
        elif isinstance(node, InlineFragmentNode):
            path = [*path, "..." + (f" on {node.type_condition.name.value}" if node.type_condition else "")]
        elif isinstance(node, FragmentSpreadNode):
            path = [*path, f"... {node.name.value}"]
        elif isinstance(node, FieldNode):
            path = [*path, (node.alias or node.name).value]
        elif isinstance(node, (ArgumentNode, ObjectFieldNode)):
            path = [*path, node.name.value]
        paths[id(node)] = path
        for key in node.keys:
            child = getattr(node, key, None)
            if isinstance(child, Node):
                walk(child, path)
            elif isinstance(child, (list, tuple)):
                for item in child:
                    if isinstance(item, Node):
                        walk(item, path)

    walk(document, [])
    return paths


def _core_errors(schema: GraphQLSchema, document: DocumentNode, rules: list[tuple[Any, str]],
                 paths: dict[int, list[Any]]) -> list[dict[str, Any]]:
    out = []
    for rule, code in rules:
        for error in validate(schema, document, [rule]):
            if rule is KnownDirectivesRule and error.message.startswith("Unknown directive"):
                continue  # DirectivesAreDefined, ours
            node = (error.nodes or [None])[0]
            shaped: dict[str, Any] = {"message": error.message, "locations": _locations(list(error.nodes or ()))}
            shaped["path"] = paths.get(id(node), [])
            shaped["extensions"] = {"code": code}
            out.append(shaped)
    return out


def validation_errors(schema: GraphQLSchema, document: DocumentNode) -> list[dict[str, Any]]:
    """Shopify's errors for a parsed document; [] when it may be executed."""
    errors = _Walk(schema).run(document)
    # graphql-core's whole check in one pass: a valid document (the usual case) costs no more.
    everything = validate(schema, document)
    if not errors and not everything:
        return []
    paths = _paths(document)
    errors += _core_errors(schema, document, FALLBACK_RULES, paths)
    if errors:
        return errors
    # What the walk and the fallback let through must still satisfy graphql-core before it executes.
    return [{"message": e.message, "locations": _locations(list(e.nodes or ())),
             "path": paths.get(id((e.nodes or [None])[0]), []), "extensions": {"code": "validationError"}}
            for e in everything]


# -- parse errors ----------------------------------------------------------------------------------

# graphql-c_parser's lexer, for the token names and positions Bison reports.
_TOKEN = re.compile(r'''
    (?P<BLOCK>"""(?:\\"""|[^"]|"{1,2}(?!"))*"{0,2}""")
  | (?P<STRING>"(?:\\u[0-9A-Za-z]{4}|\\[\\/bfnrt"]|[^"\\])*")
  | (?P<NUMBER>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE]?[+-]?[0-9]+)?)
  | (?P<NAME>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<PUNCT>\.\.\.|[{}()\[\]:$@=!|&])
  | (?P<COMMENT>\#[^\n\r]*)
  | (?P<NEWLINE>\r\n|[\r\n])
  | (?P<BLANK>[,\ \t\ufeff]+)
  | (?P<UNKNOWN>.)
''', re.VERBOSE | re.DOTALL)

_PUNCTUATION = {"{": "LCURLY", "}": "RCURLY", "(": "LPAREN", ")": "RPAREN", "[": "LBRACKET", "]": "RBRACKET",
                ":": "COLON", "$": "VAR_SIGN", "@": "DIR_SIGN", "...": "ELLIPSIS", "=": "EQUALS", "!": "BANG",
                "|": "PIPE", "&": "AMP"}
_KEYWORDS = {"on": "ON", "fragment": "FRAGMENT", "true": "TRUE_LITERAL", "false": "FALSE_LITERAL",
             "null": "NULL_LITERAL", "query": "QUERY", "mutation": "MUTATION", "subscription": "SUBSCRIPTION",
             "schema": "SCHEMA", "scalar": "SCALAR", "type": "TYPE_LITERAL", "extend": "EXTEND",
             "implements": "IMPLEMENTS", "interface": "INTERFACE", "union": "UNION", "enum": "ENUM",
             "input": "INPUT", "directive": "DIRECTIVE", "repeatable": "REPEATABLE"}


@dataclass(frozen=True)
class _Token:
    name: str
    value: str
    line: int
    column: int
    offset: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    line, column = 1, 1
    for match in _TOKEN.finditer(text):
        kind, raw = match.lastgroup, match.group()
        if kind == "NEWLINE":
            line, column = line + 1, 1
            continue
        if kind == "BLANK" or kind == "COMMENT":
            column += len(raw.encode())
            continue
        if kind == "BLOCK":
            name, value = "STRING", raw[3:-3]
        elif kind == "STRING":
            name, value = "STRING", raw[1:-1]
        elif kind == "NUMBER":
            name, value = ("INT" if re.fullmatch(r"-?(?:0|[1-9][0-9]*)", raw) else "FLOAT"), raw
        elif kind == "NAME":
            name, value = _KEYWORDS.get(raw, "IDENTIFIER"), raw
        elif kind == "PUNCT":
            name, value = _PUNCTUATION[raw], raw
        else:
            name, value = "invalid token", raw
        tokens.append(_Token(name, value, line, column, match.start()))
        column += len(raw.encode())
        line += raw.count("\n") if kind == "BLOCK" else 0
    return tokens


def _inspect(value: str) -> str:
    """Ruby's String#inspect, for the common cases."""
    return json.dumps(value, ensure_ascii=False)


def syntax_error(text: str, error: GraphQLSyntaxError) -> dict[str, Any]:
    """graphql-ruby's ParseError for a document graphql-core could not parse: no path, no extensions."""
    tokens = _tokens(text)
    if not tokens:
        return _error("emptyDocument", [], None) | {"locations": [{"line": 1, "column": 1}]}
    position = (error.positions or [len(text)])[0]
    # An unknown character is never acceptable: Bison stops there even where graphql-core reads on.
    offending = next((t for t in tokens if t.offset >= position or t.name == "invalid token"), None)
    if offending is None:  # the end of the document: Bison names it, graphql-ruby places it on the last token
        token, where = "end of file", tokens[-1]
    else:
        token, where = offending.name, offending
    expecting = ""
    if "Expected ':'" in error.message:  # the one place the grammar allows a single token
        expecting = ", expecting COLON"
        token = f"{token} ({_inspect(where.value)})"
    message = WORDINGS["syntaxError"].template.format(token=token, expecting=expecting, line=where.line,
                                                      column=where.column)
    return {"message": message, "locations": [{"line": where.line, "column": where.column}]}
