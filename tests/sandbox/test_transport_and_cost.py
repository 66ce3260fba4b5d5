"""§14 items 1-5 (transport, schema validation, aliases) and 24-26 (cost and throttling)."""

from __future__ import annotations

import pytest

from adapter.sandbox.config import SandboxConfig
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


# -- 24. cost on every response ------------------------------------------------------------------

async def test_recorded_costs_and_throttle_status(shop):
    body = await shop.gql(CONFIG_QUERY)
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1 and cost["actualQueryCost"] == 1
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert cost["throttleStatus"]["restoreRate"] == 100.0
    assert cost["throttleStatus"]["currentlyAvailable"] <= 1999

    created = await shop.gql(CREATE, {"input": {"initialAmount": {"amount": "50.00", "currencyCode": "USD"}}})
    assert created["extensions"]["cost"]["requestedQueryCost"] == 10
    card_id = created["data"]["giftCardCreate"]["giftCard"]["id"]

    debit = await shop.gql(DEBIT, {"id": card_id, "input": {"debitAmount": {"amount": "1.00", "currencyCode": "USD"}}})
    assert debit["extensions"]["cost"]["requestedQueryCost"] == 11
    assert debit["extensions"]["cost"]["actualQueryCost"] == 11

    read = await shop.gql("""query($id: ID!) { giftCard(id: $id) { id balance { amount }
        transactions(first: 5) { nodes { id amount { amount } } pageInfo { hasNextPage } } } }""", {"id": card_id})
    assert read["extensions"]["cost"]["requestedQueryCost"] == 9


async def test_mutation_without_nested_card_costs_ten(shop):
    card_id = await shop.card()
    body = await shop.gql("""mutation($id: ID!) { giftCardDebit(id: $id, debitInput: {debitAmount:
        {amount: "1", currencyCode: USD}}) { giftCardDebitTransaction { id amount { amount } } userErrors { code } } }""",
                          {"id": card_id})
    assert body["extensions"]["cost"]["requestedQueryCost"] == 10


async def test_bucket_size_and_rate_are_configurable_and_drain(make_shop):
    shop = await make_shop(SandboxConfig(bucket_size=500.0, restore_rate=0.0001))
    first = (await shop.gql(CONFIG_QUERY))["extensions"]["cost"]["throttleStatus"]
    assert first["maximumAvailable"] == 500.0 and first["restoreRate"] == 0.0001
    assert first["currentlyAvailable"] == 499
    second = (await shop.gql(CONFIG_QUERY))["extensions"]["cost"]["throttleStatus"]
    assert second["currentlyAvailable"] == 498


async def test_unused_connection_cost_is_refunded(shop):
    body = await shop.gql("{ giftCards(first: 100) { nodes { id } } }")
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 102
    assert cost["actualQueryCost"] == 2
    assert cost["throttleStatus"]["currentlyAvailable"] == 1998


async def test_validation_errors_also_carry_cost(shop):
    body = await shop.gql("{ giftCard(id: \"x\") { nope } }")
    assert body["extensions"]["cost"]["actualQueryCost"] == 0


# -- 25. throttling ------------------------------------------------------------------------------

async def test_throttled_request_is_200_and_not_executed(make_shop):
    shop = await make_shop(SandboxConfig(bucket_size=30.0, restore_rate=0.0001))
    card_id = await shop.card("100.00")  # 10 points; 20 left
    first = await shop.debit(card_id, "1.00")  # 11 points; 9 left
    assert first["userErrors"] == []
    response, body = await shop.raw(DEBIT, {"id": card_id, "input": {"debitAmount": {"amount": "1.00",
                                                                                        "currencyCode": "USD"}}})
    assert response.status == 200
    assert "data" not in body
    assert body["errors"] == [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 11 and cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["currentlyAvailable"] == 9
    card = await shop.state_card(card_id)
    assert card["balance"] == "99.0" and len(card["transactions"]) == 1


async def test_throttle_switch_answers_429_with_retry_after(make_shop):
    shop = await make_shop(SandboxConfig(bucket_size=15.0, restore_rate=1.0, throttle_with_429=True))
    card_id = await shop.card("100.00")
    response, body = await shop.raw(DEBIT, {"id": card_id, "input": {"debitAmount": {"amount": "1.00",
                                                                                        "currencyCode": "USD"}}})
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert (await shop.state_card(card_id))["transactions"] == []


async def test_throttle_mode_can_be_switched_at_runtime(make_shop):
    shop = await make_shop(SandboxConfig(bucket_size=5.0, restore_rate=0.0001))
    response, _ = await shop.raw(CREATE, {"input": {"initialValue": "5"}})
    assert response.status == 200
    await shop.control("POST", "/sandbox/config", {"throttle_with_429": True})
    response, _ = await shop.raw(CREATE, {"input": {"initialValue": "5"}})
    assert response.status == 429
    assert (await shop.state())["cards"] == []


# -- 26. single-query maximum --------------------------------------------------------------------

async def test_document_over_1000_is_max_cost_exceeded(shop):
    card_id = await shop.card()
    body = await shop.gql("""{ giftCards(first: 250) { nodes { id
        transactions(first: 10) { nodes { id } } } } }""")
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["maxCost"] == 1000
    assert error["extensions"]["cost"] > 1000
    assert card_id


async def test_document_at_most_1000_is_executed(shop):
    body = await shop.gql("{ giftCards(first: 249) { nodes { id } } }")
    assert body["extensions"]["cost"]["requestedQueryCost"] == 251
    assert body["data"]["giftCards"]["nodes"] == []
