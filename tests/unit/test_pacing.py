"""The bucket model keeps in-flight reservations when Shopify's figures reset it."""

import asyncio

from adapter.shopify.mapping import ThrottleStatus
from adapter.shopify.pacing import CostBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def status(available: float) -> ThrottleStatus:
    return ThrottleStatus(maximum=2000.0, available=available, restore_rate=1000.0)


async def test_an_answer_does_not_forget_what_other_requests_have_reserved():
    clock = Clock()
    bucket = CostBucket(clock=clock)
    bucket.update(status(2000))
    for _ in range(50):  # fifty debits sent, none answered yet
        await bucket.acquire(11, deadline=clock.now + 8)
    # The first answer reports Shopify's figure, which charges only that one request so far.
    bucket.release(11)
    bucket.update(status(1989))
    assert bucket.available() == 1989 - 49 * 11
    for _ in range(49):
        bucket.release(11)
    bucket.update(status(1450))
    assert bucket.available() == 1450


async def test_a_full_bucket_paces_the_next_request_by_the_restore_rate():
    clock = Clock()
    bucket = CostBucket(clock=clock)
    bucket.update(status(5))
    waited = await asyncio.wait_for(bucket.acquire(11, deadline=clock.now + 8), timeout=1)
    assert abs(waited - 0.006) < 1e-9  # (11 - 5) / 1000 points per second


# ---- lookups: never below the money share, never waiting -----------------------------------

def test_a_lookup_is_reserved_only_while_the_bucket_keeps_the_money_share():
    clock = Clock()
    bucket = CostBucket(clock=clock)
    bucket.update(ThrottleStatus(maximum=2000.0, available=1012, restore_rate=100.0))
    assert bucket.reserve_within(6, share=0.5) == 0.0      # 1012 -> 1006
    assert bucket.reserve_within(6, share=0.5) == 0.0      # 1006 -> 1000: exactly the floor
    wait = bucket.reserve_within(6, share=0.5)             # would go below 1000: refused
    assert abs(wait - 0.06) < 1e-9 and bucket.available() == 1000
    assert bucket.wait_for(11) == 0.0                      # money calls still have the rest
    clock.now += 0.06
    assert bucket.reserve_within(6, share=0.5) == 0.0


def test_a_lookup_reserved_is_in_flight_like_any_call():
    clock = Clock()
    bucket = CostBucket(clock=clock)
    bucket.update(ThrottleStatus(maximum=2000.0, available=2000, restore_rate=100.0))
    assert bucket.reserve_within(6, share=0.5) == 0.0
    bucket.update(ThrottleStatus(maximum=2000.0, available=2000, restore_rate=100.0))
    assert bucket.available() == 1994  # still on its way: Shopify's figure does not include it
    bucket.release(6)


def test_a_lookup_does_not_wait_out_a_429():
    clock = Clock()
    bucket = CostBucket(clock=clock)
    bucket.block_for(2.0)  # even before the bucket is known
    assert bucket.reserve_within(6, share=1.0) == 2.0


def test_before_the_first_answer_lookups_are_not_held_back():
    assert CostBucket(clock=Clock()).reserve_within(6, share=0.1) == 0.0


def test_a_lookup_budget_rejects_shares_outside_the_bucket():
    import pytest

    from adapter.shopify.pacing import LookupBudget

    for share in (0, -0.1, 1.5):
        with pytest.raises(ValueError):
            LookupBudget(share=share)
    with pytest.raises(ValueError):
        LookupBudget(max_in_flight=0)


# Variables as the client sends each document (the size of its connections).
_SENT_WITH = {"SearchCards": {"first": 2}, "CardsOfOrder": {"first": 50}, "ChangedCards": {"first": 50}}


def test_every_documents_estimate_is_what_shopify_asks_for_it():
    """The bucket model reserves the estimate before sending: one below the requested cost (as the
    sandbox, calibrated to recorded answers, prices it) lets a call through that Shopify throttles."""
    from graphql import parse

    from adapter.shopify.documents import ALL_DOCUMENTS
    from adapter.shopify.pacing import estimated_cost
    from giftcard_emulators.shopify.cost import CostCalculator
    from giftcard_emulators.shopify.schema import sandbox_schema

    schema = sandbox_schema()
    for document in ALL_DOCUMENTS:
        variables = _SENT_WITH.get(document.operation_name, {})
        requested = CostCalculator(schema, {}, variables).operation(parse(document.text).definitions[0])
        assert estimated_cost(document.operation_name, variables) == requested, document.operation_name
