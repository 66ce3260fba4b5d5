"""Issue #13: the URL's API version chooses the schema, and errors are worded, placed and coded
as Shopify's (graphql-ruby's) are.

Every entry of validation.WORDINGS has at least one case below, asserted whole: message,
locations, path and extensions.
"""

from __future__ import annotations

import pytest

from adapter.settings import Settings
from giftcard_emulators.shopify.schema import SCHEMA_RELEASES, release_schema
from giftcard_emulators.shopify.validation import WORDINGS
from giftcard_emulators.shopify.versions import (
    OLDEST_SUPPORTED,
    SERVED_VERSIONS,
    executable_schema,
    schema_for_version,
    served_version,
)

CARD = "gid://shopify/GiftCard/1"
CONFIG_QUERY = "{ giftCardConfiguration { issueLimit { amount currencyCode } } }"
DEBIT_WITH_CARD = """mutation DebitCard($id: ID!) {
  giftCardDebit(id: $id, debitInput: {debitAmount: {amount: "1.00", currencyCode: USD}}) {
    giftCardDebitTransaction { id giftCard { id } }
    userErrors { code }
  }
}"""
CREDIT_WITH_CARD = """mutation CreditCard($id: ID!) {
  giftCardCredit(id: $id, creditInput: {creditAmount: {amount: "1.00", currencyCode: USD}}) {
    giftCardCreditTransaction { id giftCard { id } }
    userErrors { code }
  }
}"""
TRANSACTIONS_WITH_CARD = """query ReadCard($id: ID!) {
  giftCard(id: $id) {
    transactions(first: 5) { nodes { id giftCard { id } } }
  }
}"""


def path(version: str) -> str:
    return f"/admin/api/{version}/graphql.json"


# -- the version table -----------------------------------------------------------------------------

def test_the_table_serves_2025_01_and_2026_07_and_the_adapters_default():
    assert OLDEST_SUPPORTED == "2025-01" and SERVED_VERSIONS["2025-01"] == "2025-01"
    assert SERVED_VERSIONS["2026-07"] == "2026-07"
    assert Settings.model_fields["shopify_api_version"].default in SERVED_VERSIONS
    assert set(SERVED_VERSIONS.values()) <= set(SCHEMA_RELEASES)
    assert all(v[5:] in ("01", "04", "07", "10") for v in SERVED_VERSIONS)  # quarterly releases


@pytest.mark.parametrize(("requested", "version", "release"), [
    ("2025-01", "2025-01", "2025-01"),
    ("2025-04", "2025-04", "2026-07"),
    ("2026-07", "2026-07", "2026-07"),
    ("2026-10", "2026-10", "2026-07"),
    ("2024-10", "2025-01", "2025-01"),  # no longer served: falls forward to the oldest supported
    ("2023-01", "2025-01", "2025-01"),
    ("2099-01", "2099-01", "2026-07"),  # never published: the newest schema, echoed as asked
])
def test_which_version_and_schema_serve_a_request(requested, version, release):
    served = served_version(requested)
    assert (served.version, served.schema_release) == (version, release)


def test_each_schema_is_built_once_and_carries_the_resolvers():
    assert schema_for_version("2025-04") is schema_for_version("2026-10") is executable_schema("2026-07")
    assert schema_for_version("2023-01") is schema_for_version("2025-01") is release_schema("2025-01")
    assert release_schema("2025-01") is not release_schema("2026-07")
    for release in SCHEMA_RELEASES:
        schema = executable_schema(release)
        assert schema.mutation_type.fields["giftCardDebit"].resolve is not None
        assert schema.query_type.fields["giftCard"].resolve is not None
        assert schema.type_map["GiftCardTransaction"].resolve_type is not None


def test_2025_01_is_2026_07_without_the_transactions_gift_card():
    old, new = release_schema("2025-01"), release_schema("2026-07")
    assert set(old.type_map) == set(new.type_map)
    for name, type_ in new.type_map.items():
        fields = getattr(type_, "fields", None)
        if fields is None or name.startswith("__"):
            continue
        missing = set(fields) - set(old.type_map[name].fields)
        assert missing == set(SCHEMA_RELEASES["2025-01"].get(name, ())), name
    assert set(SCHEMA_RELEASES["2025-01"]) == {
        "GiftCardTransaction", "GiftCardDebitTransaction", "GiftCardCreditTransaction"}


@pytest.mark.parametrize(("requested", "served"), [
    ("2025-01", "2025-01"), ("2026-04", "2026-04"), ("2026-10", "2026-10"), ("2024-10", "2025-01"),
    ("2023-01", "2025-01"), ("2099-01", "2099-01")])
async def test_the_header_names_the_version_that_answered(shop, requested, served):
    ok, body = await shop.raw(CONFIG_QUERY, path=path(requested))
    invalid, _ = await shop.raw("{ giftCardConfiguration { nope } }", path=path(requested))
    denied, _ = await shop.raw(CONFIG_QUERY, path=path(requested), token=None)
    assert [r.status for r in (ok, invalid, denied)] == [200, 200, 401]
    assert {r.headers["X-Shopify-API-Version"] for r in (ok, invalid, denied)} == {served}
    assert body["data"]["giftCardConfiguration"]["issueLimit"]["amount"] == "3000.0"


@pytest.mark.parametrize(("document", "type_name", "line", "column", "field_path"), [
    (DEBIT_WITH_CARD, "GiftCardDebitTransaction", 3, 35,
     ["mutation DebitCard", "giftCardDebit", "giftCardDebitTransaction", "giftCard"]),
    (CREDIT_WITH_CARD, "GiftCardCreditTransaction", 3, 36,
     ["mutation CreditCard", "giftCardCredit", "giftCardCreditTransaction", "giftCard"]),
    (TRANSACTIONS_WITH_CARD, "GiftCardTransaction", 3, 41,
     ["query ReadCard", "giftCard", "transactions", "nodes", "giftCard"]),
], ids=["debit", "credit", "interface"])
@pytest.mark.parametrize("version", ["2025-01", "2024-10"])
async def test_in_2025_01_a_transaction_has_no_gift_card(shop, document, type_name, line, column, field_path,
                                                         version):
    card = await shop.card("10.00")
    response, body = await shop.raw(document, {"id": card}, path=path(version))
    assert response.headers["X-Shopify-API-Version"] == "2025-01"
    assert body["errors"] == [{
        "message": f"Field 'giftCard' doesn't exist on type '{type_name}'",
        "locations": [{"line": line, "column": column}],
        "path": field_path,
        "extensions": {"code": "undefinedField", "typeName": type_name, "fieldName": "giftCard"}}]
    assert "data" not in body
    assert (await shop.state_card(card))["transactions"] == []


async def test_in_2026_10_a_transaction_has_its_gift_card(shop):
    card = await shop.card("10.00")
    body = await shop.gql(DEBIT_WITH_CARD, {"id": card}, path=path("2026-10"))
    assert body["data"]["giftCardDebit"]["giftCardDebitTransaction"]["giftCard"] == {"id": card}
    body = await shop.gql(TRANSACTIONS_WITH_CARD, {"id": card}, path=path("2026-10"))
    assert body["data"]["giftCard"]["transactions"]["nodes"][0]["giftCard"] == {"id": card}


async def test_2025_01_serves_everything_else_with_the_same_resolvers(shop):
    card = await shop.card("10.00")
    debit = DEBIT_WITH_CARD.replace(" giftCard { id }", "")
    body = await shop.gql(debit, {"id": card}, path=path("2025-01"))
    assert body["data"]["giftCardDebit"]["userErrors"] == []
    body = await shop.gql(TRANSACTIONS_WITH_CARD.replace(" giftCard { id }", " __typename"), {"id": card},
                          path=path("2025-01"))
    assert body["data"]["giftCard"]["transactions"]["nodes"][0]["__typename"] == "GiftCardDebitTransaction"
    assert (await shop.state_card(card))["balance"] == "9.0"


async def test_introspection_shows_each_versions_schema(shop):
    document = '{ __type(name: "GiftCardDebitTransaction") { fields { name } } }'
    old = await shop.gql(document, path=path("2025-01"))
    new = await shop.gql(document, path=path("2026-10"))
    assert "giftCard" not in {f["name"] for f in old["data"]["__type"]["fields"]}
    assert "giftCard" in {f["name"] for f in new["data"]["__type"]["fields"]}


async def test_unstable_and_latest_are_not_served(shop):
    for version in ("unstable", "latest"):
        response, _ = await shop.raw(CONFIG_QUERY, path=path(version))
        assert response.status == 404


# -- the wordings ----------------------------------------------------------------------------------

def error(message, line, column, path_=None, **extensions):
    shaped = {"message": message, "locations": [{"line": line, "column": column}]}
    if path_ is not None:
        shaped["path"] = path_
    if extensions:
        shaped["extensions"] = extensions
    return shaped


# (WORDINGS key, document, the errors Shopify answers)
CASES = [
    ("undefinedField",
     'query GetCard {\n  giftCard(id: "gid://shopify/GiftCard/1") { id nope }\n}',
     [error("Field 'nope' doesn't exist on type 'GiftCard'", 2, 49, ["query GetCard", "giftCard", "nope"],
            code="undefinedField", typeName="GiftCard", fieldName="nope")]),
    ("undefinedField",
     "{ nope }",
     [error("Field 'nope' doesn't exist on type 'QueryRoot'", 1, 3, ["query", "nope"],
            code="undefinedField", typeName="QueryRoot", fieldName="nope")]),
    ("selectionOnUnion",
     '{ automaticDiscount(id: "gid://shopify/DiscountAutomaticNode/1") { title } }',
     [error("Selections can't be made directly on unions (see selections on DiscountAutomatic)", 1, 3,
            ["query", "automaticDiscount", "title"], code="selectionMismatch", nodeName="DiscountAutomatic")]),
    ("selectionsRequired",
     'query GetCard {\n  giftCard(id: "gid://shopify/GiftCard/1")\n}',
     [error("Field must have selections (field 'giftCard' returns GiftCard but has no selections. "
            "Did you mean 'giftCard { ... }'?)", 2, 3, ["query GetCard", "giftCard"],
            code="selectionMismatch", nodeName="field 'giftCard'", typeName="GiftCard")]),
    ("selectionsOnScalar",
     'query GetCard { giftCard(id: "gid://shopify/GiftCard/1") { id { value ... on Node { id } } } }',
     [error("Selections can't be made on scalars (field 'id' returns ID but has selections "
            '["value", "... on Node { ... }"])', 1, 60, ["query GetCard", "giftCard", "id"],
            code="selectionMismatch", nodeName="field 'id'", typeName="ID")]),
    ("argumentNotAccepted",
     'query GetCard { card: giftCard(id: "gid://shopify/GiftCard/1", code: "x") { id } }',
     [error("Field 'card' doesn't accept argument 'code'", 1, 64, ["query GetCard", "card", "code"],
            code="argumentNotAccepted", name="card", typeName="Field", argumentName="code")]),
    ("argumentNotAccepted",
     'mutation DebitCard($id: ID!) {\n  giftCardDebit(id: $id, debitInput: {debitAmount: {amount: "1", '
     'currencyCode: USD}, bogus: 1}) {\n    userErrors { code }\n  }\n}',
     [error("InputObject 'GiftCardDebitInput' doesn't accept argument 'bogus'", 2, 86,
            ["mutation DebitCard", "giftCardDebit", "debitInput", "bogus"],
            code="argumentNotAccepted", name="GiftCardDebitInput", typeName="InputObject", argumentName="bogus")]),
    ("missingRequiredArguments",
     "query GetCard { giftCard { id } }",
     [error("Field 'giftCard' is missing required arguments: id", 1, 17, ["query GetCard", "giftCard"],
            code="missingRequiredArguments", className="Field", name="giftCard", arguments="id")]),
    ("argumentLiteralsIncompatible",
     'mutation DebitCard($id: ID!) {\n  giftCardDebit(id: $id, debitInput: {debitAmount: "5"}) {\n'
     "    userErrors { code }\n  }\n}",
     [error("Argument 'debitAmount' on InputObject 'GiftCardDebitInput' has an invalid value (\"5\"). "
            "Expected type 'MoneyInput!'.", 2, 38, ["mutation DebitCard", "giftCardDebit", "debitInput", "debitAmount"],
            code="argumentLiteralsIncompatible", typeName="InputObject", argumentName="debitAmount")]),
    ("argumentLiteralsIncompatible",
     "query GetCard { giftCard(id: 5.5) { id } }",
     [error("Argument 'id' on Field 'giftCard' has an invalid value (5.5). Expected type 'ID!'.", 1, 17,
            ["query GetCard", "giftCard", "id"], code="argumentLiteralsIncompatible", typeName="Field",
            argumentName="id")]),
    ("argumentLiteralsIncompatible",
     'mutation { giftCardCreate(input: {initialAmount: {amount: "1", currencyCode: "USD"}}) { giftCardCode } }',
     [error("Argument 'currencyCode' on InputObject 'MoneyInput' has an invalid value (\"USD\"). "
            "Expected type 'CurrencyCode!'.", 1, 50, ["mutation", "giftCardCreate", "input", "initialAmount",
                                                     "currencyCode"],
            code="argumentLiteralsIncompatible", typeName="InputObject", argumentName="currencyCode")]),
    ("missingRequiredInputObjectAttribute",
     'mutation CreateCard {\n  giftCardCreate(input: {initialValue: "1", recipientAttributes: {message: "Hi"}}) {\n'
     "    giftCardCode\n  }\n}",
     [error("Argument 'id' on InputObject 'GiftCardRecipientInput' is required. Expected type ID!", 2, 66,
            ["mutation CreateCard", "giftCardCreate", "input", "recipientAttributes", "id"],
            code="missingRequiredInputObjectAttribute", argumentName="id", argumentType="ID!",
            inputObjectType="GiftCardRecipientInput")]),
    ("variableTypeUndefined",
     "query GetCard($id: GiftCardID!) { giftCard(id: $id) { id } }",
     [error("GiftCardID isn't a defined input type (on $id)", 1, 15, ["query GetCard"],
            code="variableRequiresValidType", typeName="GiftCardID", variableName="id")]),
    ("variableTypeNotInput",
     "query GetCard($card: GiftCard) { giftCard(id: $card) { id } }",
     [error("GiftCard isn't a valid input type (on $card)", 1, 15, ["query GetCard"],
            code="variableRequiresValidType", typeName="GiftCard", variableName="card"),
      error("Type mismatch on variable $card and argument id (GiftCard / ID!)", 1, 43,
            ["query GetCard", "giftCard", "id"], code="variableMismatch", variableName="card", typeName="GiftCard",
            argumentName="id", errorMessage="Type mismatch")]),
    ("defaultValueInvalidType",
     "query Cards($first: Int = \"ten\") { giftCards(first: $first) { nodes { id } } }",
     [error('Could not coerce value "ten" to Int', 1, 13, ["query Cards"],
            code="defaultValueInvalidType", variableName="first", typeName="Int")]),
    ("defaultValueInvalidType",
     "mutation Create($money: MoneyInput = {currencyCode: USD}) {\n"
     "  giftCardCreate(input: {initialAmount: $money}) { giftCardCode }\n}",
     [error("Default value for $money doesn't match type MoneyInput", 1, 17, ["mutation Create"],
            code="defaultValueInvalidType", variableName="money", typeName="MoneyInput")]),
    ("variableNotUsed",
     'mutation($id: ID!) { giftCardCreate(input: {initialValue: "1"}) { giftCardCode } }',
     [error("Variable $id is declared by anonymous mutation but not used", 1, 1, ["mutation"],
            code="variableNotUsed", variableName="id")]),
    ("variableNotUsed",
     "query GetCard($id: ID!, $after: String) { giftCard(id: $id) { id } }",
     [error("Variable $after is declared by GetCard but not used", 1, 1, ["query GetCard"],
            code="variableNotUsed", variableName="after")]),
    ("variableNotDefined",
     "query GetCard {\n  giftCard(id: $id) { id }\n}",
     [error("Variable $id is used by GetCard but not declared", 2, 16, ["query GetCard", "giftCard", "id"],
            code="variableNotDefined", variableName="id")]),
    ("variableNotDefined",
     "{ giftCard(id: $id) { id } }",
     [error("Variable $id is used by anonymous query but not declared", 1, 16, ["query", "giftCard", "id"],
            code="variableNotDefined", variableName="id")]),
    ("variableMismatch",
     "query GetCard($id: String!) { giftCard(id: $id) { id } }",
     [error("Type mismatch on variable $id and argument id (String! / ID!)", 1, 40, ["query GetCard", "giftCard", "id"],
            code="variableMismatch", variableName="id", typeName="String!", argumentName="id",
            errorMessage="Type mismatch")]),
    ("variableMismatch",
     "query GetCard($id: ID) { giftCard(id: $id) { id } }",
     [error("Nullability mismatch on variable $id and argument id (ID / ID!)", 1, 35, ["query GetCard", "giftCard", "id"],
            code="variableMismatch", variableName="id", typeName="ID", argumentName="id",
            errorMessage="Nullability mismatch")]),
    ("undefinedFragmentType",
     "query GetCard { ... on GiftCardish { id } }",
     [error("No such type GiftCardish, so it can't be a fragment condition", 1, 17, ["query GetCard", "... on GiftCardish"],
            code="undefinedType", typeName="GiftCardish")]),
    ("fragmentNotDefined",
     "query Config { ...ConfigFields }",
     [error("Fragment ConfigFields was used, but not defined", 1, 16, ["query Config", "... ConfigFields"],
            code="useAndDefineFragment", fragmentName="ConfigFields")]),
    ("fragmentNotUsed",
     f"query Config {CONFIG_QUERY}\nfragment Unused on QueryRoot {CONFIG_QUERY}",
     [error("Fragment Unused was defined, but not used", 2, 1, ["fragment Unused"],
            code="useAndDefineFragment", fragmentName="Unused")]),
    ("undefinedDirective",
     'query GetCard { giftCard(id: "gid://shopify/GiftCard/1") @cached { id } }',
     [error("Directive @cached is not defined", 1, 58, ["query GetCard", "giftCard"],
            code="undefinedDirective", directiveName="cached")]),
    ("operationNameRequired",
     f"query Config {CONFIG_QUERY}\n{CONFIG_QUERY}",
     [error("Operation name is required when multiple operations are present", 2, 1, [],
            code="uniquelyNamedOperations")]),
    ("operationNameNotUnique",
     f"query Config {CONFIG_QUERY}\nquery Config {CONFIG_QUERY}",
     [{"message": 'Operation name "Config" must be unique', "locations": [{"line": 1, "column": 1},
                                                                          {"line": 2, "column": 1}],
       "path": [], "extensions": {"code": "uniquelyNamedOperations", "operationName": "Config"}}]),
    ("missingSubscriptionConfiguration",
     "subscription { shop { id } }",
     [error("Schema is not configured for subscriptions", 1, 1, ["subscription"],
            code="missingSubscriptionConfiguration")]),
    ("syntaxError",
     '{ giftCard(id: "gid://shopify/GiftCard/1") { id }',
     [error("syntax error, unexpected end of file at [1, 49]", 1, 49)]),
    ("syntaxError",
     '{\n  giftCard(id: "gid://shopify/GiftCard/1") { id } }\n}',
     [error("syntax error, unexpected RCURLY at [3, 1]", 3, 1)]),
    ("syntaxError",
     "query GetCard($id ID!) { giftCard(id: $id) { id } }",
     [error('syntax error, unexpected IDENTIFIER ("ID"), expecting COLON at [1, 19]', 1, 19)]),
    ("syntaxError",
     '{ giftCard(id: "gid://shopify/GiftCard/1") { id; } }',
     [error("syntax error, unexpected invalid token at [1, 48]", 1, 48)]),
    ("emptyDocument",
     "# nothing but a comment",
     [error("Unexpected end of document", 1, 1)]),
]


def test_every_wording_has_a_case():
    assert {key for key, _, _ in CASES} == set(WORDINGS)


@pytest.mark.parametrize(("key", "document", "expected"), CASES,
                         ids=[f"{key}-{n}" for n, (key, _, _) in enumerate(CASES)])
async def test_errors_are_worded_placed_and_coded_as_shopifys(shop, key, document, expected):
    response, body = await shop.raw(document, {"id": CARD})
    assert response.status == 200
    assert "data" not in body
    assert body["errors"] == expected
    first = expected[0]
    if WORDINGS[key].code is None:  # parse errors: no path, no extensions
        assert set(first) == {"message", "locations"}
    else:
        assert first["extensions"]["code"] == WORDINGS[key].code
    assert (await shop.state())["cards"] == []


async def test_one_mistake_is_one_error_even_inside_a_wrong_field(shop):
    """graphql-ruby does not look inside a field it could not find, nor under a bad argument."""
    body = await shop.gql("query GetCard($id: ID!) { giftCard(id: $id) { nope(first: $missing) { id } } }",
                          {"id": CARD})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["undefinedField"]
    body = await shop.gql('mutation { giftCardCreate(input: {initialAmount: {currencyCode: "USD"}}) { giftCardCode } }')
    assert [(e["extensions"]["code"], e["path"][-1]) for e in body["errors"]] == [
        ("missingRequiredInputObjectAttribute", "amount"), ("argumentLiteralsIncompatible", "currencyCode")]


async def test_an_input_object_in_a_list_is_placed_by_its_index(shop):
    body = await shop.gql("""mutation {
  customerCreate(input: {email: "a@example.com", addresses: [{city: "Oslo"}, {countryCode: 5}]}) { userErrors { field } }
}""")
    assert body["errors"] == [error(
        "Argument 'countryCode' on InputObject 'MailingAddressInput' has an invalid value (5). "
        "Expected type 'CountryCode'.", 2, 78, ["mutation", "customerCreate", "input", "addresses", 1, "countryCode"],
        code="argumentLiteralsIncompatible", typeName="InputObject", argumentName="countryCode")]


async def test_the_adapters_errors_still_read_the_code(shop):
    """adapter.shopify.mapping reads errors[].extensions.code; the shapes above keep it."""
    from adapter.shopify.mapping import error_codes

    body = await shop.gql("{ giftCardConfiguration { nope } }")
    assert error_codes(body) == ["undefinedField"]
    body = await shop.gql("{ giftCardConfiguration { issueLimit { amount } ")
    assert error_codes(body) == ["UNKNOWN"]
