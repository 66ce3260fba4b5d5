"""§14 items 29-30: fault switches and the sandbox-only control routes."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.sandbox.conftest import CREATE, DEACTIVATE, DEBIT

CREDIT_DOC = """mutation($id: ID!) { giftCardCredit(id: $id, creditInput: {creditAmount: {amount: "1", currencyCode: USD}}) {
  giftCardCreditTransaction { id } userErrors { code } } }"""


def debit_vars(card, amount="1.00", note=None):
    return {"id": card, "input": {"debitAmount": {"amount": amount, "currencyCode": "USD"}, "note": note}}


async def wait_until_held(shop, count=1):
    """Poll (not time) until the sandbox reports the call parked."""
    for _ in range(500):
        if (await shop.state())["held"] == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("call never got held")


# -- 29. faults ----------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [502, 503])
async def test_error_5xx_answers_before_executing(shop, status):
    card = await shop.card("10.00")
    fault_id = await shop.fault(kind="error_5xx", operation="giftCardDebit", status=status)
    assert fault_id
    response, _ = await shop.raw(DEBIT, debit_vars(card))
    assert response.status == status
    assert (await shop.state_card(card))["transactions"] == []
    assert (await shop.debit(card, "1.00"))["userErrors"] == []  # count defaulted to 1


async def test_internal_server_error_is_200_and_not_executed(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="internal_server_error")
    response, body = await shop.raw(DEBIT, debit_vars(card))
    assert response.status == 200
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "data" not in body or body["data"] is None
    assert (await shop.state_card(card))["transactions"] == []


async def test_lose_response_commits_then_drops_the_connection(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="lose_response", operation="giftCardDebit")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await shop.raw(DEBIT, debit_vars(card, note="gca:v1:authorize:lost"))
    state = await shop.state_card(card)
    assert state["balance"] == "9.0"
    assert [t["note"] for t in state["transactions"]] == ["gca:v1:authorize:lost"]


async def test_hold_parks_the_call_before_executing_until_released(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="hold", operation="giftCardDebit")
    in_flight = asyncio.create_task(shop.debit(card, "2.00"))
    await wait_until_held(shop)
    assert not in_flight.done()
    assert (await shop.state_card(card))["transactions"] == []  # not executed yet
    assert (await shop.control("GET", "/sandbox/faults"))["held_operations"] == ["giftCardDebit"]
    assert (await shop.control("POST", "/sandbox/release")) == {"released": 1}
    result = await in_flight
    assert result["userErrors"] == [] and result["giftCardDebitTransaction"]["amount"]["amount"] == "-2.0"
    assert (await shop.state())["held"] == 0


async def test_hold_after_commits_first_then_parks_the_answer(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="hold", operation="giftCardDebit", stage="after")
    in_flight = asyncio.create_task(shop.debit(card, "2.00"))
    await wait_until_held(shop)
    assert (await shop.state_card(card))["balance"] == "8.0"  # committed, answer not sent
    assert not in_flight.done()
    await shop.control("POST", "/sandbox/release")
    assert (await in_flight)["userErrors"] == []


async def test_clearing_faults_releases_held_calls(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="hold")
    in_flight = asyncio.create_task(shop.debit(card, "1.00"))
    await wait_until_held(shop)
    cleared = await shop.control("DELETE", "/sandbox/faults")
    assert cleared == {"cleared": True, "released": 1}
    assert (await in_flight)["userErrors"] == []


async def test_reset_fails_held_calls_without_executing(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="hold")
    in_flight = asyncio.create_task(shop.raw(DEBIT, debit_vars(card)))
    await wait_until_held(shop)
    await shop.control("POST", "/sandbox/reset")
    response, _ = await in_flight
    assert response.status == 503
    assert (await shop.state())["cards"] == []


async def test_latency_fault_applies_to_the_next_n_matching_calls(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="latency", operation="giftCardDebit", count=2, latency_ms=5)
    listed = (await shop.control("GET", "/sandbox/faults"))["faults"]
    assert [(f["kind"], f["remaining"]) for f in listed] == [("latency", 2)]
    await shop.gql(CREDIT_DOC, {"id": card})  # other operation: untouched
    assert (await shop.control("GET", "/sandbox/faults"))["faults"][0]["remaining"] == 2
    assert (await shop.debit(card, "1.00"))["userErrors"] == []
    assert (await shop.control("GET", "/sandbox/faults"))["faults"][0]["remaining"] == 1
    assert (await shop.debit(card, "1.00"))["userErrors"] == []
    assert (await shop.control("GET", "/sandbox/faults"))["faults"] == []


async def test_fault_scoped_to_one_operation_and_count(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="error_5xx", operation="giftCardDebit", count=2)
    response, _ = await shop.raw(CREDIT_DOC, {"id": card})
    assert response.status == 200
    assert [(await shop.raw(DEBIT, debit_vars(card)))[0].status for _ in range(3)] == [502, 502, 200]
    state = await shop.state_card(card)
    assert [t["typename"] for t in state["transactions"]] == ["GiftCardCreditTransaction", "GiftCardDebitTransaction"]


async def test_fault_without_operation_hits_any_call(shop):
    await shop.fault(kind="error_5xx", status=503)
    response, _ = await shop.raw("{ giftCardConfiguration { issueLimit { amount } } }")
    assert response.status == 503


async def test_probability_faults_are_seeded_and_last_until_cleared(make_shop):
    async def pattern():
        shop = await make_shop()
        await shop.fault(kind="error_5xx", operation="giftCardCreate", probability=0.5, seed=7)
        statuses = [(await shop.raw(CREATE, {"input": {"initialValue": "1"}}))[0].status for _ in range(30)]
        await shop.control("DELETE", "/sandbox/faults")
        after = [(await shop.raw(CREATE, {"input": {"initialValue": "1"}}))[0].status for _ in range(5)]
        cards = len((await shop.state())["cards"])
        return statuses, after, cards

    first, after, cards = await pattern()
    second, _, _ = await pattern()
    assert first == second  # same seed, same chaos
    assert 502 in first and 200 in first
    assert after == [200] * 5
    assert cards == first.count(200) + 5


async def test_always_and_never_probabilities(shop):
    await shop.fault(kind="internal_server_error", probability=1.0, seed=1)
    for _ in range(3):
        body = await shop.gql("{ giftCardConfiguration { issueLimit { amount } } }")
        assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"


@pytest.mark.parametrize("spec", [{"kind": "explode"}, {"kind": "latency"}, {"kind": "hold", "count": 0},
                                  {"kind": "error_5xx", "status": 404}, {"kind": "hold", "probability": 2}])
async def test_bad_fault_specs_are_400(shop, spec):
    await shop.control("POST", "/sandbox/faults", spec, expect=400)


async def test_faults_do_not_touch_control_routes_or_invalid_documents(shop):
    await shop.fault(kind="error_5xx")
    await shop.state()
    body = await shop.gql("{ giftCardConfiguration { nope } }")
    assert body["errors"][0]["extensions"]["code"] == "undefinedField"
    assert len((await shop.control("GET", "/sandbox/faults"))["faults"]) == 1


# -- 30. state and control routes ----------------------------------------------------------------

async def test_state_shows_cards_codes_balances_and_transactions(shop):
    card = await shop.card("100.00", code="StateCard0001", note="gca:v1:issue:1")
    await shop.debit(card, "30.00", note="gca:v1:authorize:2")
    await shop.credit(card, "5.00")
    state = await shop.state_card(card)
    assert state["code"] == "statecard0001"
    assert state["balance"] == "75.0" and state["initialValue"] == "100.0"
    assert state["enabled"] is True and state["expiresOn"] is None and state["deactivatedAt"] is None
    assert state["note"] == "gca:v1:issue:1"
    assert [(t["typename"], t["amount"], t["note"]) for t in state["transactions"]] == [
        ("GiftCardDebitTransaction", "-30.0", "gca:v1:authorize:2"),
        ("GiftCardCreditTransaction", "5.0", None)]
    assert all(t["processedAt"] == "2026-11-20T15:13:22Z" for t in state["transactions"])


async def test_seeded_card_behaves_like_one_created_elsewhere(shop):
    seeded = await shop.seed(code="OnlineCard1234", amount="25.00", currency="USD", expires_on=None)
    assert seeded["code"] == "onlinecard1234" and seeded["balance"] == "25.0"
    found = await shop.gql('{ giftCards(first: 2, query: "onlinecard1234") { nodes { id lastCharacters } } }')
    assert found["data"]["giftCards"]["nodes"] == [{"id": seeded["id"], "lastCharacters": "1234"}]
    assert (await shop.debit(seeded["id"], "25.00"))["userErrors"] == []
    disabled = await shop.seed(amount="5", enabled=False)
    assert (await shop.debit(disabled["id"], "1.00"))["userErrors"][0]["message"] == "The gift card is deactivated."
    expired = await shop.seed(amount="5", expires_on="2020-01-01")
    assert (await shop.debit(expired["id"], "1.00"))["userErrors"][0]["message"] == "The gift card has expired."
    await shop.control("POST", "/sandbox/cards", {"code": "onlinecard1234", "amount": "1"}, expect=409)
    await shop.control("POST", "/sandbox/cards", {"amount": 12.5}, expect=201)


async def test_seeding_rejects_bad_input(shop):
    await shop.control("POST", "/sandbox/cards", {"amount": "abc"}, expect=400)
    await shop.control("POST", "/sandbox/cards", {"amount": "1", "code": "short"}, expect=400)
    await shop.control("POST", "/sandbox/cards", {"amount": "1", "expires_on": "tomorrow"}, expect=400)


async def test_customers_make_customer_ids_valid_on_create(shop):
    payload = {"initialAmount": {"amount": "10.00", "currencyCode": "USD"},
               "customerId": "gid://shopify/Customer/5", "code": "abc"}
    missing = await shop.gql(CREATE, {"input": payload})
    # Refused before the code is looked at, as a top-level error (test_customers_sorting_settings).
    assert missing["data"] == {"giftCardCreate": None}
    assert missing["errors"][0]["message"] == "Invalid id: gid://shopify/Customer/5"
    customer = await shop.control("POST", "/sandbox/customers", {"id": 5}, expect=201)
    assert customer == {"id": "gid://shopify/Customer/5"}
    made = await shop.create(customerId="gid://shopify/Customer/5")
    assert made["userErrors"] == []


async def test_reset_clears_cards_faults_and_refills_the_bucket(shop):
    await shop.card()
    await shop.fault(kind="error_5xx")
    await shop.control("POST", "/sandbox/reset")
    state = await shop.state()
    assert state["cards"] == [] and state["faults"]["faults"] == []
    assert state["throttleStatus"]["currentlyAvailable"] == 2000


async def test_config_endpoint_changes_settings(shop):
    config = await shop.control("POST", "/sandbox/config", {
        "issue_limit": "100", "currency": "EUR", "bucket_size": 300, "restore_rate": 50})
    assert config["currency"] == "EUR" and config["bucket_size"] == 300.0
    assert "access_token" not in config
    body = await shop.gql("{ giftCardConfiguration { issueLimit { amount currencyCode } } }")
    assert body["data"]["giftCardConfiguration"]["issueLimit"] == {"amount": "100.0", "currencyCode": "EUR"}
    assert body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 300.0
    assert body["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 50.0
    legacy = (await shop.gql(CREATE, {"input": {"initialValue": "5"}}))["data"]["giftCardCreate"]
    assert legacy["giftCard"]["balance"]["currencyCode"] == "EUR"
    await shop.control("POST", "/sandbox/config", {"bogus": 1}, expect=400)


async def test_admin_api_never_reveals_codes_from_search(shop):
    await shop.seed(code="neverleak0001")
    await shop.card(code="neverleak0002")
    body = await shop.gql("""{ giftCards(first: 10, query: "neverleak0001") {
        nodes { id lastCharacters maskedCode note } edges { cursor } } }""")
    assert len(body["data"]["giftCards"]["nodes"]) == 1
    assert "neverleak" not in str(body)


# -- 29. more fault scoping and kinds ------------------------------------------------------------

async def test_fault_scoped_to_the_documents_operation_name(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="error_5xx", operation="DebitCard", status=503)  # conftest's DEBIT is named DebitCard
    response, _ = await shop.raw(CREDIT_DOC, {"id": card})
    assert response.status == 200
    response, _ = await shop.raw(DEBIT, debit_vars(card))
    assert response.status == 503
    assert [t["typename"] for t in (await shop.state_card(card))["transactions"]] == ["GiftCardCreditTransaction"]


async def test_latency_delays_the_matching_call(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="latency", operation="giftCardDebit", latency_ms=300)
    started = time.monotonic()
    assert (await shop.debit(card, "1.00"))["userErrors"] == []
    assert time.monotonic() - started >= 0.25  # a generous lower bound only


async def test_lost_create_commits_and_a_resend_with_the_same_code_is_taken(shop):
    await shop.fault(kind="lose_response", operation="giftCardCreate", count=1)
    variables = {"input": {"initialAmount": {"amount": "25.00", "currencyCode": "USD"}, "code": "lostcreate0001",
                           "note": "gca:v1:issue:0123456789abcdef0123456789abcdef"}}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await shop.raw(CREATE, variables)
    [card] = (await shop.state())["cards"]
    assert card["code"] == "lostcreate0001" and card["balance"] == "25.0"
    again = (await shop.gql(CREATE, variables))["data"]["giftCardCreate"]
    assert again["userErrors"] == [{"field": ["input", "code"], "code": None, "message": "Code has already been taken"}]
    found = await shop.gql('{ giftCards(first: 2, query: "lostcreate0001") { nodes { id note lastCharacters } } }')
    assert found["data"]["giftCards"]["nodes"] == [
        {"id": card["id"], "note": "gca:v1:issue:0123456789abcdef0123456789abcdef", "lastCharacters": "0001"}]


async def test_lose_response_with_a_count_drops_only_that_many_answers(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="lose_response", operation="giftCardDebit", count=2)
    for _ in range(2):
        with pytest.raises(aiohttp.ClientError):
            await shop.raw(DEBIT, debit_vars(card))
    assert (await shop.debit(card, "1.00"))["giftCardDebitTransaction"]["giftCard"]["balance"]["amount"] == "7.0"
    assert len((await shop.state_card(card))["transactions"]) == 3


async def test_hold_with_a_count_parks_that_many_calls_and_lets_the_rest_through(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="hold", operation="giftCardDebit", count=2)
    parked = [asyncio.create_task(shop.debit(card, "1.00")) for _ in range(2)]
    await wait_until_held(shop, 2)
    assert (await shop.debit(card, "1.00"))["userErrors"] == []  # the third call is not held
    assert not any(task.done() for task in parked)
    assert len((await shop.state_card(card))["transactions"]) == 1
    assert await shop.control("POST", "/sandbox/release") == {"released": 2}
    assert all(r["userErrors"] == [] for r in await asyncio.gather(*parked))
    assert (await shop.state_card(card))["balance"] == "7.0"


async def test_internal_server_error_scoped_to_an_operation(shop):
    card = await shop.card("10.00")
    await shop.fault(kind="internal_server_error", operation="giftCardCredit")
    assert (await shop.debit(card, "1.00"))["userErrors"] == []
    response, body = await shop.raw(CREDIT_DOC, {"id": card})
    assert response.status == 200
    assert body["errors"] == [{"message": "Internal error. Looks like something went wrong on our end.",
                               "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "sandbox"}}]
    assert [t["typename"] for t in (await shop.state_card(card))["transactions"]] == ["GiftCardDebitTransaction"]


# -- 30. more state ------------------------------------------------------------------------------

async def test_state_shows_deactivation_and_expiry(shop):
    card = await shop.card("10.00", expiresOn="2030-01-31")
    await shop.gql(DEACTIVATE, {"id": card})
    state = await shop.state_card(card)
    assert state["enabled"] is False and state["deactivatedAt"] == "2026-11-20T15:13:22Z"
    assert state["expiresOn"] == "2030-01-31" and state["balance"] == "10.0"


async def test_state_counts_throttled_answers_among_the_calls_served(make_shop):
    from giftcard_emulators.shopify.config import SandboxConfig

    shop = await make_shop(SandboxConfig(bucket_size=30.0, restore_rate=0.0001))
    card = await shop.card("100.00")            # 10 points: 20 left
    await shop.debit(card, "1.00")               # 11: 9 left
    await shop.raw(DEBIT, {"id": card, "input": {"debitAmount": {"amount": "1.00", "currencyCode": "USD"}}})
    await shop.control("POST", "/sandbox/config", {"throttle_with_429": True})
    response, _ = await shop.raw(DEBIT, {"id": card, "input": {"debitAmount": {"amount": "1.00",
                                                                                  "currencyCode": "USD"}}})
    assert response.status == 429
    await shop.gql("{ giftCardConfiguration { issueLimit { amount } } }")  # 1 point: still fits
    state = await shop.state()
    assert state["throttled"] == {"giftCardDebit": 2} and state["throttled_total"] == 2
    assert state["calls"] == {"giftCardCreate": 1, "giftCardDebit": 3, "giftCardConfiguration": 1}
    assert state["calls_total"] == 5
    assert len((await shop.state_card(card))["transactions"]) == 1  # neither throttled debit ran
    await shop.control("POST", "/sandbox/counters/reset")
    state = await shop.state()
    assert state["throttled"] == {} and state["throttled_total"] == 0 and state["calls_total"] == 0


async def test_state_counts_calls_by_root_field_and_keeps_the_bucket_low_water_mark(shop):
    card = await shop.card()
    await shop.debit(card, "5.00")
    await shop.read(card)
    state = await shop.state()
    assert state["calls"] == {"giftCardCreate": 1, "giftCardDebit": 1, "giftCard": 1}
    lowest = state["bucket_minimum"]
    assert lowest <= 2000 - 10  # the create's 10 points at least were taken
    await shop.control("POST", "/sandbox/counters/reset")
    state = await shop.state()
    assert state["calls"] == {} and state["bucket_minimum"] >= lowest  # from the level now
    assert len(state["cards"]) == 1  # the ledger stays
    await shop.read(card)
    await shop.control("POST", "/sandbox/reset")
    state = await shop.state()
    assert state["calls"] == {} and state["bucket_minimum"] == 2000 and state["throttled"] == {}
