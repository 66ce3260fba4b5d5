"""§14 items 1-5: transport, authentication, bad bodies, schema validation, aliased mutations."""

from __future__ import annotations

import pytest

from giftcard_emulators.shopify.config import SandboxConfig
from tests.sandbox.conftest import CREATE, DEBIT, TOKEN

UNAUTHORIZED = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
CONFIG_QUERY = "{ giftCardConfiguration { issueLimit { amount currencyCode } } }"


# -- 1. any YYYY-MM version, echoed --------------------------------------------------------------

@pytest.mark.parametrize("version", ["2025-01", "2026-04", "2026-10"])
async def test_serves_any_version_and_echoes_it(shop, version):
    response, body = await shop.raw(CONFIG_QUERY, path=f"/admin/api/{version}/graphql.json")
    assert response.status == 200
    assert response.headers["X-Shopify-API-Version"] == version
    assert body["data"]["giftCardConfiguration"]["issueLimit"]["amount"] == "3000.0"


async def test_a_path_without_a_dated_version_is_not_found(shop):
    response, _ = await shop.raw(CONFIG_QUERY, path="/admin/api/latest/graphql.json")
    assert response.status == 404


# -- 2. authentication ---------------------------------------------------------------------------

async def test_missing_token_is_401_with_rest_body(shop):
    response, body = await shop.raw(CONFIG_QUERY, token=None)
    assert response.status == 401
    assert body == UNAUTHORIZED


async def test_wrong_token_is_401(shop):
    response, body = await shop.raw(CONFIG_QUERY, token="shpat_wrong")
    assert response.status == 401
    assert body == UNAUTHORIZED


async def test_token_only_as_bearer_is_401(shop):
    response, body = await shop.raw(CONFIG_QUERY, token=None, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 401
    assert body == UNAUTHORIZED


async def test_configured_token_is_the_one_accepted(make_shop):
    shop = await make_shop(SandboxConfig(access_token="shpat_custom"))
    response, _ = await shop.raw(CONFIG_QUERY, token="shpat_custom")
    assert response.status == 200
    response, _ = await shop.raw(CONFIG_QUERY, token=TOKEN)
    assert response.status == 401


# -- 3. malformed bodies -------------------------------------------------------------------------

async def test_non_json_body_is_400(shop):
    response = await shop.client.post("/admin/api/2026-10/graphql.json", data=b"query { shop { id } }",
                                      headers={"X-Shopify-Access-Token": TOKEN, "Content-Type": "application/json"})
    assert response.status == 400


@pytest.mark.parametrize("body", [{}, {"variables": {}}, {"query": ""}, {"query": 5}, []])
async def test_body_without_query_is_400(shop, body):
    response = await shop.client.post("/admin/api/2026-10/graphql.json", json=body,
                                      headers={"X-Shopify-Access-Token": TOKEN})
    assert response.status == 400


# -- 4. validation against the 2026-07 schema ----------------------------------------------------

async def test_unknown_field_is_undefined_field_without_data(shop):
    body = await shop.gql("{ giftCard(id: \"gid://shopify/GiftCard/1\") { id code } }")
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "undefinedField"
    assert error["message"] == "Field 'code' doesn't exist on type 'GiftCard'"


async def test_bad_variables_are_invalid_variable_with_problems(shop):
    card_id = await shop.card()
    body = await shop.gql(DEBIT, {"id": card_id, "input": {"debitAmount": {"currencyCode": "USD"}}})
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_VARIABLE"
    assert error["extensions"]["problems"] == [
        {"path": ["debitAmount", "amount"], "explanation": "Expected value to not be null"}]
    assert error["message"] == ("Variable $input of type GiftCardDebitInput! was provided invalid value "
                                "for debitAmount.amount (Expected value to not be null)")
    assert (await shop.state_card(card_id))["transactions"] == []


async def test_unknown_input_field_is_invalid_variable(shop):
    body = await shop.gql(CREATE, {"input": {"initialValue": "5", "bogus": 1}})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_VARIABLE"
    assert error["extensions"]["problems"] == [
        {"path": ["bogus"], "explanation": "Field is not defined on GiftCardCreateInput"}]


async def test_missing_required_variable_is_invalid_variable(shop):
    body = await shop.gql(DEBIT, {"input": {"debitAmount": {"amount": "1", "currencyCode": "USD"}}})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_VARIABLE"
    assert error["extensions"]["problems"] == [{"path": [], "explanation": "Expected value to not be null"}]


async def test_malformed_decimal_is_invalid_variable(shop):
    card_id = await shop.card()
    body = await shop.gql(DEBIT, {"id": card_id, "input": {"debitAmount": {"amount": "ten", "currencyCode": "USD"}}})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_VARIABLE"
    assert error["extensions"]["problems"][0]["path"] == ["debitAmount", "amount"]


async def test_syntax_error_has_no_data(shop):
    body = await shop.gql("{ giftCard(id: ")
    assert "data" not in body and body["errors"]


# -- 5. aliased mutations ------------------------------------------------------------------------

async def test_aliased_mutations_apply_and_are_charged_separately(shop):
    card_id = await shop.card("100.00")
    document = """
    mutation Two($id: ID!) {
      a: giftCardDebit(id: $id, debitInput: {debitAmount: {amount: "10.00", currencyCode: USD}, note: "a"}) {
        giftCardDebitTransaction { id } userErrors { code }
      }
      b: giftCardDebit(id: $id, debitInput: {debitAmount: {amount: "15.00", currencyCode: USD}, note: "b"}) {
        giftCardDebitTransaction { id } userErrors { code }
      }
    }"""
    body = await shop.gql(document, {"id": card_id})
    assert body["data"]["a"]["userErrors"] == [] and body["data"]["b"]["userErrors"] == []
    assert body["extensions"]["cost"]["requestedQueryCost"] == 20
    card = await shop.state_card(card_id)
    assert card["balance"] == "75.0"
    assert [t["note"] for t in card["transactions"]] == ["a", "b"]


# -- 1-4. more transport edges -------------------------------------------------------------------

async def test_every_answer_on_the_graphql_path_names_the_version_served(shop):
    # 2024-10 is no longer served: it falls forward to the oldest supported version (versions.py).
    path = "/admin/api/2024-10/graphql.json"
    ok, _ = await shop.raw(CONFIG_QUERY, path=path)
    denied, _ = await shop.raw(CONFIG_QUERY, path=path, token=None)
    bad = await shop.client.post(path, data=b"{", headers={"X-Shopify-Access-Token": TOKEN})
    assert [r.status for r in (ok, denied, bad)] == [200, 401, 400]
    assert {r.headers["X-Shopify-API-Version"] for r in (ok, denied, bad)} == {"2025-01"}


async def test_token_is_checked_before_the_body(shop):
    response = await shop.client.post("/admin/api/2026-10/graphql.json", data=b"not json")
    assert response.status == 401
    assert await response.json() == UNAUTHORIZED


@pytest.mark.parametrize("variables", [[1, 2], 5, "not json"])
async def test_variables_that_are_not_an_object_are_400(shop, variables):
    response = await shop.client.post("/admin/api/2026-10/graphql.json",
                                      json={"query": CONFIG_QUERY, "variables": variables},
                                      headers={"X-Shopify-Access-Token": TOKEN})
    assert response.status == 400


async def test_variables_sent_as_a_json_string_are_accepted(shop):
    response = await shop.client.post("/admin/api/2026-10/graphql.json", json={
        "query": CREATE, "variables": '{"input": {"initialAmount": {"amount": "5.00", "currencyCode": "USD"}}}'},
        headers={"X-Shopify-Access-Token": TOKEN})
    body = await response.json()
    assert response.status == 200
    assert body["data"]["giftCardCreate"]["giftCard"]["balance"]["amount"] == "5.0"


async def test_undefined_field_executes_nothing(shop):
    body = await shop.gql("""mutation { giftCardCreate(input: {initialValue: "5"}) {
        giftCard { id code } userErrors { message } } }""")
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "undefinedField", "typeName": "GiftCard", "fieldName": "code"}
    assert (await shop.state())["cards"] == []


async def test_invalid_variable_executes_nothing(shop):
    body = await shop.gql(CREATE, {"input": {"initialAmount": {"amount": "5.00", "currencyCode": "ZZZ"}}})
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_VARIABLE"
    assert [p["path"] for p in error["extensions"]["problems"]] == [["initialAmount", "currencyCode"]]
    assert (await shop.state())["cards"] == []


# -- 5. more aliasing ----------------------------------------------------------------------------

async def test_three_aliased_creates_are_each_charged_to_the_bucket(shop):
    document = """mutation {
      a: giftCardCreate(input: {initialValue: "1"}) { giftCardCode userErrors { message } }
      b: giftCardCreate(input: {initialValue: "2"}) { giftCardCode userErrors { message } }
      c: giftCardCreate(input: {initialValue: "0"}) { giftCardCode userErrors { code } }
    }"""
    body = await shop.gql(document)
    assert body["data"]["a"]["userErrors"] == body["data"]["b"]["userErrors"] == []
    assert body["data"]["c"] == {"giftCardCode": None, "userErrors": [{"code": "GREATER_THAN"}]}
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == cost["actualQueryCost"] == 30  # the declined one is charged too
    assert cost["throttleStatus"]["currentlyAvailable"] <= 1970
    assert sorted(card["initialValue"] for card in (await shop.state())["cards"]) == ["1.0", "2.0"]


async def test_aliased_debits_on_one_card_apply_in_document_order(shop):
    card_id = await shop.card("10.00")
    document = """mutation($id: ID!) {
      first: giftCardDebit(id: $id, debitInput: {debitAmount: {amount: "6", currencyCode: USD}}) {
        giftCardDebitTransaction { id } userErrors { code } }
      second: giftCardDebit(id: $id, debitInput: {debitAmount: {amount: "6", currencyCode: USD}}) {
        giftCardDebitTransaction { id } userErrors { code } }
    }"""
    body = await shop.gql(document, {"id": card_id})
    assert body["data"]["first"]["userErrors"] == []
    assert body["data"]["second"] == {"giftCardDebitTransaction": None, "userErrors": [{"code": "INSUFFICIENT_FUNDS"}]}
    assert body["extensions"]["cost"]["requestedQueryCost"] == 20
    assert (await shop.state_card(card_id))["balance"] == "4.0"
