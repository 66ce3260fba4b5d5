"""The sandbox against spec/shopify.md §14, over real HTTP. Item numbers refer to §14."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import pytest

from giftcard_emulators.shopify.app import SANDBOX_STATE, create_sandbox_app
from giftcard_emulators.shopify.config import SandboxConfig

TOKEN = {"X-Shopify-Access-Token": "sandbox-token"}
URL = "/admin/api/2026-10/graphql.json"

CREATE = """mutation C($input: GiftCardCreateInput!) { giftCardCreate(input: $input) {
  giftCard { id lastCharacters maskedCode enabled expiresOn note balance { amount currencyCode }
             initialValue { amount } transactions(first: 5) { nodes { id } } }
  giftCardCode userErrors { field code message } } }"""
DEBIT = """mutation D($id: ID!, $input: GiftCardDebitInput!) { giftCardDebit(id: $id, debitInput: $input) {
  giftCardDebitTransaction { id note processedAt amount { amount currencyCode } }
  userErrors { field code message } } }"""
CREDIT = """mutation K($id: ID!, $input: GiftCardCreditInput!) { giftCardCredit(id: $id, creditInput: $input) {
  giftCardCreditTransaction { id note processedAt amount { amount currencyCode } }
  userErrors { field code message } } }"""
DEACTIVATE = """mutation X($id: ID!) { giftCardDeactivate(id: $id) {
  giftCard { id enabled deactivatedAt updatedAt balance { amount } } userErrors { field code message } } }"""
READ = """query R($id: ID!, $reverse: Boolean, $after: String) { giftCard(id: $id) { id balance { amount }
  transactions(first: 2, reverse: $reverse, after: $after) { nodes { __typename id amount { amount } note }
  pageInfo { hasNextPage endCursor } } } }"""


@pytest.fixture
async def shop(aiohttp_client):
    config = SandboxConfig(issue_limit=Decimal("3000"), currency="USD")
    client = await aiohttp_client(create_sandbox_app(config))
    client.config = config
    return client


async def gql(shop, query, variables=None, headers=TOKEN, status=200):
    response = await shop.post(URL, json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


def money(amount, currency="USD"):
    return {"amount": amount, "currencyCode": currency}


async def create(shop, amount="50.00", code=None, **extra):
    variables = {"input": {"initialAmount": money(amount), **({"code": code} if code else {}), **extra}}
    return (await gql(shop, CREATE, variables))["data"]["giftCardCreate"]


async def debit(shop, card_id, amount, currency="USD", **extra):
    body = await gql(shop, DEBIT, {"id": card_id, "input": {"debitAmount": money(amount, currency), **extra}})
    return body["data"]["giftCardDebit"]


async def credit(shop, card_id, amount, currency="USD", **extra):
    body = await gql(shop, CREDIT, {"id": card_id, "input": {"creditAmount": money(amount, currency), **extra}})
    return body["data"]["giftCardCredit"]


# ---- transport and schema (1-5) ---------------------------------------------------------------

async def test_1_any_version_is_served_and_echoed(shop):
    response = await shop.post("/admin/api/2025-01/graphql.json", json={"query": "{ giftCardConfiguration { issueLimit { amount } } }"},
                               headers=TOKEN)
    assert response.status == 200 and response.headers["X-Shopify-API-Version"] == "2025-01"


async def test_2_token_required_and_bearer_is_not_enough(shop):
    expected = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    for headers in ({}, {"Authorization": "Bearer sandbox-token"}, {"X-Shopify-Access-Token": "wrong"}):
        assert await gql(shop, "{ giftCardConfiguration { issueLimit { amount } } }", headers=headers, status=401) == expected


async def test_3_non_json_or_no_query_is_400(shop):
    assert (await shop.post(URL, data=b"not json", headers=TOKEN)).status == 400
    assert (await shop.post(URL, json={"variables": {}}, headers=TOKEN)).status == 400


async def test_4_unknown_field_and_bad_variables(shop):
    body = await gql(shop, "{ giftCardConfiguration { nope } }")
    assert "data" not in body and body["errors"][0]["extensions"]["code"] == "undefinedField"
    body = await gql(shop, DEBIT, {"id": "gid://shopify/GiftCard/1", "input": {"debitAmount": {"amount": "1.00"}}})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE" and body["errors"][0]["extensions"]["problems"]
    body = await gql(shop, """mutation M($id: ID!) { giftCardDebit(id: $id, debitInput: {debitAmount: {amount: "1", currencyCode: USD}}) {
        giftCard { id } } }""", {"id": "x"})
    assert body["errors"][0]["extensions"]["code"] == "undefinedField"  # item 14: no giftCard on the payload
    assert "data" not in body


async def test_5_aliased_mutations_work_and_are_charged_separately(shop):
    query = """mutation { a: giftCardCreate(input: {initialAmount: {amount: "1.00", currencyCode: USD}}) { userErrors { message } }
                          b: giftCardCreate(input: {initialAmount: {amount: "2.00", currencyCode: USD}}) { userErrors { message } } }"""
    body = await gql(shop, query)
    assert body["data"]["a"]["userErrors"] == body["data"]["b"]["userErrors"] == []
    assert body["extensions"]["cost"]["requestedQueryCost"] == 20
    assert len(shop.server.app[SANDBOX_STATE].cards) == 2


# ---- create and codes (6-9) -------------------------------------------------------------------

async def test_6_initial_value_rules(shop):
    zero = await create(shop, "0")
    assert zero["userErrors"] == [{"field": ["input", "initialValue"], "code": "GREATER_THAN", "message": "must be greater than 0"}]
    over = await create(shop, "3000.01")
    assert over["userErrors"] == [{"field": ["input", "initialValue"], "code": "GIFT_CARD_LIMIT_EXCEEDED",
                                   "message": "can't exceed $3,000.00 USD"}]
    assert (await create(shop, "3000.00"))["userErrors"] == []
    legacy = await gql(shop, 'mutation { giftCardCreate(input: {initialValue: "5"}) { giftCard { balance { amount } } userErrors { message } } }')
    assert legacy["data"]["giftCardCreate"]["giftCard"]["balance"]["amount"] == "5.0"


@pytest.mark.parametrize(("code", "error_code", "message"), [
    ("abc1234", "TOO_SHORT", "Code must be at least 8 characters long"),
    ("a" * 21, "TOO_LONG", "Code must be at most 20 characters long"),
    ("abcd-1234", "INVALID", "Code can only contain letters(a-z) and numbers(0-9)"),
])
async def test_7_code_rules(shop, code, error_code, message):
    result = await create(shop, code=code)
    assert result["userErrors"] == [{"field": ["input", "code"], "code": error_code, "message": message}]
    assert result["giftCard"] is None


async def test_7_codes_are_lower_cased_unique_and_shown_once(shop):
    made = await create(shop, code="MUEmrkp4zsy")
    assert made["giftCardCode"] == "muemrkp4zsy"
    again = await create(shop, code="muemrkp4zsy")
    assert again["userErrors"] == [{"field": ["input", "code"], "code": None, "message": "Code has already been taken"}]
    generated = await create(shop)
    assert len(generated["giftCardCode"]) == 16 and generated["giftCardCode"].isalnum()
    read = await gql(shop, "query R($id: ID!) { giftCard(id: $id) { lastCharacters maskedCode } }", {"id": made["giftCard"]["id"]})
    assert "muemrkp4zsy" not in str(read)


async def test_8_9_last_characters_mask_past_expiry_and_no_transaction(shop):
    made = await create(shop, code="abcdefgh7369", expiresOn="2020-01-01")
    card = made["giftCard"]
    assert card["lastCharacters"] == "7369" and card["maskedCode"] == "•••• •••• •••• 7369"
    assert card["expiresOn"] == "2020-01-01" and card["enabled"] is True
    assert card["transactions"]["nodes"] == []


# ---- credit and debit (10-14) -----------------------------------------------------------------

async def test_10_credit_and_debit_user_errors(shop):
    card = (await create(shop, "10.00"))["giftCard"]["id"]
    expired = (await create(shop, "10.00", expiresOn="2020-01-01"))["giftCard"]["id"]
    assert (await debit(shop, card, "10.01"))["userErrors"] == [{"field": ["debitInput", "debitAmount", "amount"],
        "code": "INSUFFICIENT_FUNDS", "message": "The gift card does not have sufficient funds to satisfy the request."}]
    assert (await credit(shop, card, "0"))["userErrors"] == [{"field": ["creditInput", "creditAmount", "amount"],
        "code": "NEGATIVE_OR_ZERO_AMOUNT", "message": "A positive amount must be used."}]
    assert (await debit(shop, card, "1.00", "CAD"))["userErrors"] == [{"field": ["debitInput", "debitAmount", "currencyCode"],
        "code": "MISMATCHING_CURRENCY", "message": "The currency provided does not match the currency of the gift card."}]
    assert (await credit(shop, card, "2990.01"))["userErrors"] == [{"field": ["creditInput", "creditAmount", "amount"],
        "code": "GIFT_CARD_LIMIT_EXCEEDED", "message": "The gift card's value exceeds the allowed limits."}]
    assert (await debit(shop, expired, "1.00"))["userErrors"] == [{"field": ["id"], "code": "INVALID", "message": "The gift card has expired."}]
    assert (await debit(shop, "gid://shopify/GiftCard/999", "1.00"))["userErrors"] == [{"field": ["id"],
        "code": "GIFT_CARD_NOT_FOUND", "message": "The gift card could not be found."}]
    await gql(shop, DEACTIVATE, {"id": card})
    declined = await credit(shop, card, "1.00")
    assert declined["userErrors"] == [{"field": ["id"], "code": "INVALID", "message": "The gift card is deactivated."}]
    assert declined["giftCardCreditTransaction"] is None


async def test_11_12_signs_notes_and_processed_at(shop):
    card = (await create(shop, "10.00"))["giftCard"]["id"]
    spent = (await debit(shop, card, "1.00", note="gca:v1:authorize:x"))["giftCardDebitTransaction"]
    assert spent["amount"] == money("-1.0") and spent["note"] == "gca:v1:authorize:x"
    assert spent["processedAt"].endswith("Z")
    back = (await credit(shop, card, "0.50"))["giftCardCreditTransaction"]
    assert back["amount"] == money("0.5") and back["note"] is None
    future = await debit(shop, card, "1.00", processedAt="2999-01-01T00:00:00Z")
    assert future["userErrors"][0]["message"] == "The processed date must not be in the future."
    ancient = await debit(shop, card, "1.00", processedAt="1960-01-01T00:00:00Z")
    assert ancient["userErrors"][0]["message"] == "A valid processed date must be used."
    dated = await debit(shop, card, "1.00", processedAt="2026-01-01T10:00:00+02:00")
    assert dated["giftCardDebitTransaction"]["processedAt"] == "2026-01-01T08:00:00Z"


async def test_13_limits_cap_credit_not_debit(shop):
    card = (await create(shop, "3000.00"))["giftCard"]["id"]
    assert (await debit(shop, card, "3000.00"))["userErrors"] == []
    assert (await credit(shop, card, "3000.00"))["userErrors"] == []


# ---- deactivate and update (15-16) -----------------------------------------------------------

async def test_15_deactivate_is_permanent_and_repeatable(shop):
    card = (await create(shop, "10.00"))["giftCard"]["id"]
    first = (await gql(shop, DEACTIVATE, {"id": card}))["data"]["giftCardDeactivate"]
    assert first["userErrors"] == [] and first["giftCard"]["enabled"] is False
    assert first["giftCard"]["balance"]["amount"] == "10.0" and first["giftCard"]["deactivatedAt"]
    second = (await gql(shop, DEACTIVATE, {"id": card}))["data"]["giftCardDeactivate"]
    assert second["userErrors"] == [] and second["giftCard"]["deactivatedAt"] == first["giftCard"]["deactivatedAt"]
    unknown = (await gql(shop, DEACTIVATE, {"id": "gid://shopify/GiftCard/404"}))["data"]["giftCardDeactivate"]
    assert unknown["userErrors"] == [{"field": ["id"], "code": "GIFT_CARD_NOT_FOUND", "message": "The gift card could not be found."}]


async def test_16_update_errors_have_no_code(shop):
    card = (await create(shop, "10.00"))["giftCard"]["id"]
    query = "mutation U($id: ID!, $input: GiftCardUpdateInput!) { giftCardUpdate(id: $id, input: $input) { userErrors { field message } } }"
    empty = await gql(shop, query, {"id": card, "input": {}})
    assert empty["data"]["giftCardUpdate"]["userErrors"] == [{"field": ["input"], "message": "At least one argument is required in the input."}]
    await gql(shop, DEACTIVATE, {"id": card})
    dead = await gql(shop, query, {"id": card, "input": {"expiresOn": "2030-01-01"}})
    assert dead["data"]["giftCardUpdate"]["userErrors"] == [{"field": ["input", "expiresOn"], "message": "The gift card is deactivated."}]


# ---- reads and search (17-23) ----------------------------------------------------------------

async def test_17_18_19_reads_money_balance_and_transaction_paging(shop):
    card = (await create(shop, "10.00"))["giftCard"]["id"]
    for amount in ("1.00", "2.00", "3.00"):
        await debit(shop, card, amount)
    assert (await gql(shop, READ, {"id": "gid://shopify/GiftCard/999"}))["data"]["giftCard"] is None
    oldest = (await gql(shop, READ, {"id": card}))["data"]["giftCard"]
    assert oldest["balance"]["amount"] == "4.0"
    assert [n["amount"]["amount"] for n in oldest["transactions"]["nodes"]] == ["-1.0", "-2.0"]
    assert oldest["transactions"]["nodes"][0]["__typename"] == "GiftCardDebitTransaction"
    newest = (await gql(shop, READ, {"id": card, "reverse": True}))["data"]["giftCard"]["transactions"]
    assert [n["amount"]["amount"] for n in newest["nodes"]] == ["-3.0", "-2.0"] and newest["pageInfo"]["hasNextPage"]
    rest = (await gql(shop, READ, {"id": card, "reverse": True, "after": newest["pageInfo"]["endCursor"]}))["data"]["giftCard"]
    assert [n["amount"]["amount"] for n in rest["transactions"]["nodes"]] == ["-1.0"]


async def test_20_22_search_filters_sorting_and_unfielded_code(shop):
    await create(shop, "10.00", code="a5bh6h64b329j4k7")
    spent = (await create(shop, "20.00", code="zzzz00007369"))["giftCard"]["id"]
    await debit(shop, spent, "5.00")
    search = "query S($q: String, $sort: GiftCardSortKeys, $r: Boolean) { giftCards(first: 10, query: $q, sortKey: $sort, reverse: $r) { nodes { lastCharacters } } }"
    nodes = lambda body: [n["lastCharacters"] for n in body["data"]["giftCards"]["nodes"]]  # noqa: E731
    assert nodes(await gql(shop, search, {"q": "A5BH6H64B329J4K7"})) == ["j4k7"]
    assert nodes(await gql(shop, search, {"q": "7369"})) == ["7369"]
    assert nodes(await gql(shop, search, {"q": "balance_status:partial"})) == ["7369"]
    assert nodes(await gql(shop, search, {"q": "initial_value:>=15"})) == ["7369"]
    assert nodes(await gql(shop, search, {"sort": "ID", "r": True})) == ["7369", "j4k7"]
    count = await gql(shop, "{ giftCardsCount(limit: 1) { count precision } }")
    assert count["data"]["giftCardsCount"] == {"count": 1, "precision": "AT_LEAST"}


async def test_21_ignored_fields_warn(shop):
    await create(shop, "10.00")
    body = await gql(shop, '{ giftCards(first: 5, query: "updated_at:>=2026-07-14") { nodes { id } } }')
    assert len(body["data"]["giftCards"]["nodes"]) == 1
    assert body["extensions"]["search"] == [{"path": ["giftCards"], "query": "updated_at:>=2026-07-14",
        "parsed": {"field": "updated_at", "range_gte": "2026-07-14"},
        "warnings": [{"field": "updated_at", "message": "Invalid search field for this query.", "code": "invalid_field"}]}]


async def test_23_configuration(shop):
    body = await gql(shop, "{ giftCardConfiguration { issueLimit { amount currencyCode } purchaseLimit { amount } } }")
    assert body["data"]["giftCardConfiguration"]["issueLimit"] == money("3000.0")


# ---- cost and throttling (24-26) -------------------------------------------------------------

async def test_24_25_cost_and_throttling(aiohttp_client):
    shop = await aiohttp_client(create_sandbox_app(SandboxConfig(bucket_size=25, restore_rate=0.01)))
    flat = "mutation C($input: GiftCardCreateInput!) { giftCardCreate(input: $input) { userErrors { message } } }"
    first = await gql(shop, flat, {"input": {"initialAmount": money("1.00")}})
    cost = first["extensions"]["cost"]
    assert cost["requestedQueryCost"] == cost["actualQueryCost"] == 10
    assert cost["throttleStatus"]["maximumAvailable"] == 25.0 and cost["throttleStatus"]["currentlyAvailable"] == 15
    await gql(shop, flat, {"input": {"initialAmount": money("1.00")}})
    throttled = await gql(shop, flat, {"input": {"initialAmount": money("1.00")}})
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED" and "data" not in throttled
    assert throttled["extensions"]["cost"]["actualQueryCost"] is None
    assert len(shop.server.app[SANDBOX_STATE].cards) == 2  # nothing executed
    await shop.post("/sandbox/config", json={"throttle_with_429": True})
    response = await shop.post(URL, json={"query": flat, "variables": {"input": {"initialAmount": money("1.00")}}}, headers=TOKEN)
    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1


async def test_26_max_cost(shop):
    body = await gql(shop, "{ giftCards(first: 250) { nodes { id transactions(first: 250) { nodes { id } } } } }")
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


# ---- concurrency, faults, state (27-30) ------------------------------------------------------

async def test_27_28_concurrent_debits_never_overdraw_and_nothing_is_idempotent(shop):
    card = (await create(shop, "10.00"))["giftCard"]["id"]
    results = await asyncio.gather(*(debit(shop, card, "1.00", note="same") for _ in range(20)))
    assert sum(r["userErrors"] == [] for r in results) == 10
    state = (await (await shop.get("/sandbox/state")).json())["cards"][0]
    assert state["balance"] == "0.0" and len(state["transactions"]) == 10  # sent twice, applied twice


async def test_29_fault_switches(shop):
    card = (await create(shop, "10.00"))["giftCard"]["id"]
    await shop.post("/sandbox/faults", json={"kind": "error_5xx", "operation": "giftCardDebit", "count": 1})
    response = await shop.post(URL, json={"query": DEBIT, "variables": {"id": card, "input": {"debitAmount": money("1.00")}}}, headers=TOKEN)
    assert response.status >= 500
    await shop.post("/sandbox/faults", json={"kind": "internal_server_error", "count": 1})
    body = await gql(shop, DEBIT, {"id": card, "input": {"debitAmount": money("1.00")}})
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    state = (await (await shop.get("/sandbox/state")).json())["cards"][0]
    assert state["transactions"] == []  # neither executed
    await shop.post("/sandbox/faults", json={"kind": "lose_response", "count": 1})
    with pytest.raises(aiohttp.ClientError):
        await shop.post(URL, json={"query": DEBIT, "variables": {"id": card, "input": {"debitAmount": money("1.00")}}}, headers=TOKEN)
    state = (await (await shop.get("/sandbox/state")).json())["cards"][0]
    assert len(state["transactions"]) == 1  # executed, answer lost
    await shop.post("/sandbox/faults", json={"kind": "hold", "operation": "giftCardDebit"})
    held = asyncio.create_task(debit(shop, card, "1.00"))
    await asyncio.sleep(0.2)
    assert not held.done() and (await (await shop.get("/sandbox/state")).json())["held"] == 1
    await shop.post("/sandbox/release")
    assert (await held)["userErrors"] == []
    await shop.delete("/sandbox/faults")


async def test_30_state_endpoint_shows_codes_the_admin_api_never_does(shop):
    await create(shop, "10.00", code="visibleinstate01")
    state = await (await shop.get("/sandbox/state")).json()
    assert state["cards"][0]["code"] == "visibleinstate01"
    assert (await shop.post("/sandbox/reset")).status == 200
    assert (await (await shop.get("/sandbox/state")).json())["cards"] == []
