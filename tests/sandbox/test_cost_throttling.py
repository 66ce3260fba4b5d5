"""§14 items 24-26: cost on every response, the leaky bucket, THROTTLED/429, MAX_COST_EXCEEDED."""

from __future__ import annotations

from giftcard_emulators.shopify.app import SANDBOX
from giftcard_emulators.shopify.bucket import LeakyBucket
from giftcard_emulators.shopify.config import SandboxConfig
from tests.sandbox.conftest import CREATE, DEBIT

CONFIG_QUERY = "{ giftCardConfiguration { issueLimit { amount currencyCode } } }"


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


# -- 24, 25. the bucket, driven by a hand-moved clock ---------------------------------------------

class BucketClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def shop_with_bucket_clock(make_shop, config: SandboxConfig):
    """The bucket refills from its own clock; a fake one makes refill assertions exact."""
    shop = await make_shop(config)
    clock = BucketClock()
    shop.client.server.app[SANDBOX].bucket = LeakyBucket(config, clock=clock)
    return shop, clock


DEBIT_ONE = {"input": {"debitAmount": {"amount": "1.00", "currencyCode": "USD"}}}


async def test_bucket_refills_at_the_restore_rate_and_a_throttled_call_can_be_resent(make_shop):
    shop, clock = await shop_with_bucket_clock(make_shop, SandboxConfig(bucket_size=15.0, restore_rate=2.0))
    card_id = await shop.card("100.00")  # 10 points: 5 left
    throttled = await shop.gql(DEBIT, {"id": card_id, **DEBIT_ONE})
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    cost = throttled["extensions"]["cost"]
    assert cost["actualQueryCost"] is None and cost["throttleStatus"]["currentlyAvailable"] == 5
    # The client's rule: wait (requested - available) / restoreRate = (11 - 5) / 2 = 3 s.
    clock.now += 2.5
    assert (await shop.gql(DEBIT, {"id": card_id, **DEBIT_ONE}))["errors"][0]["extensions"]["code"] == "THROTTLED"
    clock.now += 0.5
    resent = await shop.gql(DEBIT, {"id": card_id, **DEBIT_ONE})
    assert resent["data"]["giftCardDebit"]["userErrors"] == []
    assert resent["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 0
    assert [t["amount"] for t in (await shop.state_card(card_id))["transactions"]] == ["-1.0"]


async def test_bucket_never_refills_beyond_its_size(make_shop):
    shop, clock = await shop_with_bucket_clock(make_shop, SandboxConfig(bucket_size=50.0, restore_rate=10.0))
    await shop.card()
    clock.now += 3600
    status = (await shop.gql(CONFIG_QUERY))["extensions"]["cost"]["throttleStatus"]
    assert status == {"maximumAvailable": 50.0, "currentlyAvailable": 49, "restoreRate": 10.0}


async def test_429_retry_after_is_the_seconds_until_the_bucket_covers_the_call(make_shop):
    shop, clock = await shop_with_bucket_clock(
        make_shop, SandboxConfig(bucket_size=15.0, restore_rate=2.0, throttle_with_429=True))
    card_id = await shop.card("100.00")
    response, body = await shop.raw(DEBIT, {"id": card_id, **DEBIT_ONE})
    assert response.status == 429
    assert response.headers["Retry-After"] == "3"
    assert response.headers["X-Shopify-API-Version"] == "2026-10"
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert (await shop.state_card(card_id))["transactions"] == []
    clock.now += 3
    response, body = await shop.raw(DEBIT, {"id": card_id, **DEBIT_ONE})
    assert response.status == 200 and body["data"]["giftCardDebit"]["userErrors"] == []


async def test_throttled_create_makes_no_card(make_shop):
    shop = await make_shop(SandboxConfig(bucket_size=9.0, restore_rate=0.0001))
    body = await shop.gql(CREATE, {"input": {"initialValue": "5", "code": "throttled0001"}})
    assert "data" not in body and body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert (await shop.state())["cards"] == []


# -- 24. cost on every kind of GraphQL answer ----------------------------------------------------

async def test_every_graphql_answer_carries_cost(make_shop):
    shop = await make_shop(SandboxConfig(bucket_size=40.0, restore_rate=0.0001))
    answers = {
        "data": await shop.gql(CONFIG_QUERY),
        "userError": await shop.gql(DEBIT, {"id": "gid://shopify/GiftCard/9", **DEBIT_ONE}),
        "undefinedField": await shop.gql("{ giftCardConfiguration { nope } }"),
        "INVALID_VARIABLE": await shop.gql(DEBIT, {"id": "gid://shopify/GiftCard/9"}),
        "RESOURCE_NOT_FOUND": await shop.gql('{ giftCard(id: "9") { id } }'),
        "MAX_COST_EXCEEDED": await shop.gql("{ giftCards(first: 250) { nodes { transactions(first: 5) { nodes { id } } } } }"),
        "unknown operation": await shop.gql("query A { giftCardConfiguration { issueLimit { amount } } } "
                                            "query B { giftCardConfiguration { issueLimit { amount } } }",
                                            operation_name="C"),
    }
    for _ in range(3):
        answers["THROTTLED"] = await shop.gql(DEBIT, {"id": "gid://shopify/GiftCard/9", **DEBIT_ONE})
    assert answers["THROTTLED"]["errors"][0]["extensions"]["code"] == "THROTTLED"
    for name, body in answers.items():
        cost = body["extensions"]["cost"]
        assert set(cost) == {"requestedQueryCost", "actualQueryCost", "throttleStatus"}, name
        assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}, name


async def test_max_cost_exceeded_executes_and_charges_nothing(shop):
    document = """mutation { giftCardCreate(input: {initialValue: "5"}) { giftCard {
        transactions(first: 250) { nodes { id giftCard { transactions(first: 2) { nodes { id } } } } } }
        userErrors { message } } }"""
    body = await shop.gql(document)
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 1512, "maxCost": 1000}
    assert error["message"] == "Query cost is 1512, which exceeds the single query max cost limit (1000)."
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1512 and cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["currentlyAvailable"] == 2000
    assert (await shop.state())["cards"] == []
