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
