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
_SENT_WITH = {"SearchCards": {"first": 2}, "CardsOfOrder": {"first": 50}, "ChangedCards": {"first": 50},
              "ReadCard": {"first": 10}}


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


# ---- replicas: one shared level once the bucket runs low ----------------------------------

from adapter.shopify.pacing import COORDINATE_BELOW, MARGIN, SharedReservation, Ticket  # noqa: E402,F401


class MemoryLevel:
    """The shared level's rules (adapter.store.buckets keeps them in Postgres) on one clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.row: dict | None = None
        self.reserves = 0
        self.down = False

    def _refilled(self, ceiling: float | None = None) -> float:
        row = self.row
        assert row is not None
        level = min(row["maximum"], row["level"] + max(0.0, self.clock.now - row["as_of"]) * row["rate"])
        return min(level, ceiling) if ceiling is not None else level

    async def reserve(self, cost, *, floor_share, margin_share, margin_points, seconds_left, ceiling, seed=None):
        # adapter.store.buckets' rules
        self.reserves += 1
        if self.down:
            return None
        if self.row is None:
            if seed is None:
                return None
            self.row = {"level": seed[0], "maximum": seed[1], "rate": seed[2], "as_of": self.clock.now}
        row = self.row
        before = self._refilled(ceiling)
        margin = max(margin_share * row["maximum"], margin_points)
        floor = (margin - row["rate"] * seconds_left if floor_share is None
                 else max(floor_share * row["maximum"], margin))
        after = None
        if before - cost >= floor:
            after = row["level"] = before - cost
            row["as_of"] = self.clock.now
        return SharedReservation(before, after, row["maximum"], row["rate"])

    async def settle(self, *, figure, maximum, restore_rate, refund):
        if self.down:
            return
        if self.row is None:
            self.row = {"level": figure, "maximum": maximum, "rate": restore_rate, "as_of": self.clock.now}
            return
        self.row["level"] = min(figure, self._refilled() + refund)
        self.row["as_of"] = self.clock.now


def replica(clock: Clock, level: MemoryLevel | None) -> tuple[CostBucket, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return CostBucket(clock=clock, shared=level, sleep=sleep), slept


def standard(available: float, actual: float | None = 10.0) -> ThrottleStatus:
    return ThrottleStatus(maximum=2000.0, available=available, restore_rate=100.0, requested=10.0, actual=actual)


async def test_three_replicas_on_a_drained_bucket_queue_on_one_level_instead_of_each_spending_the_restore():
    """Each replica's own model counts the whole restore rate as its own: after an answer that
    left the bucket empty, all three would send a debit 0.1 s later, when the bucket has the
    points for one (two THROTTLED). On the shared level the three queue one behind another."""
    clock = Clock()
    level = MemoryLevel(clock)
    replicas = [replica(clock, level) for _ in range(3)]
    for bucket, _ in replicas:
        await bucket.answered(Ticket(10), standard(0))  # each has seen the bucket empty
    tickets = [await bucket.take(10, deadline=clock.now + 8) for bucket, _ in replicas]
    waits = [t.waited for t in tickets]
    margin = MARGIN * 2000
    assert all(t.shared for t in tickets)
    assert waits == [(margin + 10) / 100, (margin + 20) / 100, (margin + 30) / 100]  # 10 points apart
    # Without the shared level, each replica's model had lent it the same 10 points:
    alone = [replica(clock, None) for _ in range(3)]
    for bucket, _ in alone:
        bucket.update(standard(0))
    assert [await bucket.acquire(10, deadline=clock.now + 8) for bucket, _ in alone] == [0.1, 0.1, 0.1]


async def test_above_the_coordination_line_no_round_trip_is_made():
    clock = Clock()
    level = MemoryLevel(clock)
    bucket, slept = replica(clock, level)
    await bucket.answered(Ticket(10), standard(1990))
    ticket = await bucket.take(10, deadline=clock.now + 8)
    assert not ticket.shared and level.reserves == 0 and slept == []
    await bucket.answered(ticket, standard(1980))
    assert level.row is None  # nor is a high figure written


async def test_below_the_line_an_answer_writes_its_figure_even_for_a_call_reserved_on_our_own():
    clock = Clock()
    level = MemoryLevel(clock)
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10), standard(COORDINATE_BELOW * 2000 - 1))
    assert level.row is not None and level.row["level"] == COORDINATE_BELOW * 2000 - 1


async def test_an_answer_gives_back_what_was_reserved_and_not_charged():
    clock = Clock()
    level = MemoryLevel(clock)
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10), standard(500))
    ticket = await bucket.take_within(54, share=1.0)  # a card re-read: 54 requested
    assert isinstance(ticket, Ticket) and ticket.shared and level.row["level"] == 446
    await bucket.answered(ticket, ThrottleStatus(2000.0, 495, 100.0, requested=54, actual=5))
    assert level.row["level"] == 495  # 446 + 49 given back (and not above Shopify's 495)


async def test_a_throttled_call_gives_back_all_it_reserved_and_the_level_is_held_to_the_figure():
    clock = Clock()
    level = MemoryLevel(clock)
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10), standard(300))
    ticket = await bucket.take(10, deadline=clock.now + 8)
    assert level.row["level"] == 290
    await bucket.answered(ticket, standard(4, actual=None))  # THROTTLED: another app spent it
    assert level.row["level"] == 4


async def test_a_throttled_lookup_gives_back_all_it_reserved():
    clock = Clock()
    level = MemoryLevel(clock)
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10), standard(1100))
    ticket = await bucket.take_within(10, share=0.5)
    assert isinstance(ticket, Ticket) and ticket.shared
    assert level.row["level"] == 1090
    await bucket.answered(ticket, standard(1095, actual=None))  # not executed: never resent
    assert level.row["level"] == 1095  # 1090 + 10 given back, held to Shopify's figure


async def test_a_lookup_on_the_shared_level_keeps_the_money_share_for_every_replica():
    clock = Clock()
    level = MemoryLevel(clock)
    first, _ = replica(clock, level)
    second, _ = replica(clock, level)
    await first.answered(Ticket(10), standard(1010))
    await second.answered(Ticket(10), standard(1010))
    assert isinstance(await first.take_within(6, share=0.5), Ticket)   # 1010 -> 1004
    wait = await second.take_within(6, share=0.5)                      # 998 < 1000: refused
    assert abs(wait - 0.02) < 1e-9 and level.row["level"] == 1004


async def test_a_wait_past_the_deadline_is_refused_on_the_shared_level_too():
    import pytest

    from adapter.ports import LedgerUnavailable

    clock = Clock()
    level = MemoryLevel(clock)
    bucket, slept = replica(clock, level)
    await bucket.answered(Ticket(10), standard(0))
    level.row["level"] = -790  # 80 debits queued by the replicas: 8 s of restore
    with pytest.raises(LedgerUnavailable) as refused:
        await bucket.take(10, deadline=clock.now + 8)
    assert refused.value.retry_after > 8 and level.row["level"] == -790 and slept == []


async def test_without_postgres_a_replica_goes_on_with_its_own_model():
    clock = Clock()
    level = MemoryLevel(clock)
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10), standard(5))
    level.down = True
    ticket = await bucket.take(10, deadline=clock.now + 8)
    assert not ticket.shared and abs(ticket.waited - 0.05) < 1e-9  # (10 - 5) / 100 on its own model


async def test_a_caller_cancelled_while_waiting_no_longer_counts_as_in_flight():
    clock = Clock()

    async def cancelled(_seconds: float) -> None:
        raise asyncio.CancelledError

    bucket = CostBucket(clock=clock, sleep=cancelled)
    bucket.update(standard(0))
    try:
        await bucket.acquire(10, deadline=clock.now + 8)
    except asyncio.CancelledError:
        pass
    bucket.update(standard(100))
    assert bucket.available() == 100  # not 90: the cancelled reservation is not awaiting a charge


async def test_a_shared_level_that_fails_to_settle_never_fails_the_answered_call():
    clock = Clock()
    level = MemoryLevel(clock)

    async def broken(**_figures) -> None:
        raise RuntimeError("the store broke")

    level.settle = broken  # type: ignore[method-assign]
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10, shared=True), standard(5))  # no exception: the write was executed
    assert bucket.available() == 5


async def test_a_lookup_below_its_floor_by_shopifys_own_figure_is_refused_without_a_round_trip():
    clock = Clock()
    level = MemoryLevel(clock)
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10), standard(990))
    wait = await bucket.take_within(54, share=0.5)
    assert abs(wait - (1000 + 54 - 990) / 100) < 1e-9 and level.reserves == 0


async def test_at_the_lookups_floor_newstores_calls_make_no_round_trip_and_lookups_do():
    """Background work holds the level at the lookups' floor (half the bucket): NewStore's calls
    there still go on the replica's own model; the lookups next to their floor are coordinated."""
    clock = Clock()
    level = MemoryLevel(clock)
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10), standard(1060))
    assert not (await bucket.take(10, deadline=clock.now + 8)).shared and level.reserves == 0
    bucket.release(10)
    lookup = await bucket.take_within(54, share=0.5)
    assert isinstance(lookup, Ticket) and lookup.shared and level.reserves == 1


async def test_a_debit_next_to_a_card_reread_on_its_way_makes_no_round_trip():
    clock = Clock()
    level = MemoryLevel(clock)
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10), standard(1990))
    reread = await bucket.take_within(54, share=0.5)   # the echo of the last write, on its way
    assert isinstance(reread, Ticket) and not reread.shared
    assert not (await bucket.take(10, deadline=clock.now + 8)).shared and level.reserves == 0


async def test_a_lookup_never_spends_the_margin_newstores_calls_wait_above():
    """SEARCH_BUCKET_SHARE 1: lookups may spend the whole bucket but the margin; at 10% of 2,000
    a lookup leaving 190 is refused, on our own model and on the shared level alike."""
    clock = Clock()
    alone, _ = replica(clock, None)
    alone.update(standard(250))
    assert abs(alone.reserve_within(60, share=1.0) - (200 + 60 - 250) / 100) < 1e-9
    level = MemoryLevel(clock)
    bucket, _ = replica(clock, level)
    await bucket.answered(Ticket(10), standard(300))
    level.row["level"] = 250  # the others' reservations since
    assert abs(await bucket.take_within(60, share=1.0) - (200 + 60 - 250) / 100) < 1e-9
