"""Our model of Shopify's per-shop cost bucket, so we wait before sending instead of being
THROTTLED (spec §9).

Shopify answers every request with `extensions.cost.throttleStatus`; each answer resets the model
to Shopify's figures, and between answers it refills at `restoreRate`. A caller reserves its
estimated cost up front (the bucket may go negative), so concurrent callers queue behind one
another instead of all seeing the same points. Until the first answer the bucket is unknown and
nobody waits.

Lookups (Priority.LOOKUP: a search for a card by a presented code, which may be nobody's) never
wait: one is sent only while the bucket keeps `1 - share` of its maximum after paying for it
(LookupBudget), so a flood of unknown codes spends at most the top `share` of the bucket and
every known card's call still finds the rest.

Replicas. Every replica of the adapter draws on the one bucket of the shop, and a model of its
own would be wrong between answers: each would count the whole restore rate as its own, and
three of them overdraw the bucket (bench.throttle --replicas 3: 51% of the calls THROTTLED).
So below COORDINATE_BELOW of the maximum (and near a lookup's floor) reservations are made on
one shared level (SharedLevel; adapter.store.buckets keeps it in Postgres): the points every
replica's reservations left, refilled at the restore rate, never above what Shopify's latest
answer said. Callers of every replica queue on it in the order they reserved, as one process's
do on its own model. Above it, where no call waits and no lookup is near its floor, each
replica spends on its own model as before, with no round trip to Postgres: a request's latency
is unchanged while the shop has points to spare. Should Postgres not answer, the replica goes
on with its own model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from adapter.observability.metrics import SHOPIFY_SHARED_BUCKET, SHOPIFY_THROTTLE_AVAILABLE, SHOPIFY_THROTTLE_WAIT
from adapter.ports import LedgerUnavailable
from adapter.shopify.mapping import ThrottleStatus
from adapter.store.buckets import SharedReservation

log = structlog.get_logger(__name__)

# Estimated requested cost per document (operationName), as Shopify prices a selection: objects
# 1, scalars and MoneyV2 0, a connection 2 + its size x one node. Recorded: a gift-card mutation
# 10 (11 when a debit/credit also selected its giftCard); giftCardConfiguration 1; giftCard(id)
# with transactions(first: 5) 9 (bench.points measures each against the sandbox, which is
# calibrated to those). Shopify refunds the unused part; erring high only costs latency, and
# holds back lookups that would have fitted.
ESTIMATED_COST: dict[str, float] = {
    "CreateCard": 10,
    "DebitCard": 10,
    "CreditCard": 10,
    "DeactivateCard": 10,
    "CreateCustomer": 10,
    "CustomerByEmail": 6,  # customers(first: 2): connection 2 + 2 x (customer + its email address)
    "GetCard": 1,
    "Configuration": 1,
}


# Documents whose size is their `first` variable: (fixed part, cost of one node). The fixed part
# is the connection's 2, and 1 more where pageInfo is selected.
_CONNECTIONS: dict[str, tuple[float, float]] = {
    "SearchCards": (2, 1),     # the card (its balance is free)
    "CardsOfOrder": (3, 2),    # the card and its order
    "ChangedCards": (3, 1),    # the card
    "ReadCard": (4, 1),        # the card 1, its transactions 2 and their pageInfo 1; a transaction 1
}


def estimated_cost(operation_name: str, variables: dict | None = None) -> float:
    if operation_name in _CONNECTIONS:
        fixed, per_node = _CONNECTIONS[operation_name]
        return fixed + per_node * int((variables or {}).get("first") or 1)
    return ESTIMATED_COST.get(operation_name, 10)


@dataclass(frozen=True)
class LookupBudget:
    """What card lookups may take of one shop: `share` of the bucket (they are never sent when
    they would leave less than `(1 - share) * maximum`), and at most `max_in_flight` at once (so
    they can't hold every connection to Shopify either)."""

    share: float = 0.5
    max_in_flight: int = 16

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError("share must be within (0, 1]")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")


# Below this share of the maximum (by Shopify's latest figure, less our reservations) calls are
# reserved on the shared level; a lookup also within LOOKUP_COORDINATION of its floor (0.6 of
# the bucket by default). The line is under the lookups' floor: background work holds the level
# there (bench.priority), and NewStore's calls then still go without a round trip. Above it a
# replica has at most OWN_IN_FLIGHT of the maximum on its way on its own model (100 of Standard's
# 2,000 points: a card re-read's 54 and four debits; at 2% every debit next to a re-read made the
# round trip): when the level is made or met again below the line, what the others have on their
# way that way is not in it (at most 2 x 100 points at 3 replicas, once per crossing of the
# line), against the 40% of the bucket still there.
COORDINATE_BELOW = 0.4
LOOKUP_COORDINATION = 0.1
OWN_IN_FLIGHT = 0.05
# The shared level is kept this share of the maximum, and at least MARGIN_POINTS (a mutation),
# above empty: what it cannot know of lands there, not in a THROTTLED. Mostly that is what the
# other replicas had on its way on their own models when the level was made or met again below
# the line (up to OWN_IN_FLIGHT each: 10% covers three replicas). It is a level, not a rate: a
# drained bucket is paced as fast, from 10% instead of 1%. At 1% (bench.throttle --replicas 3 at
# 100/s) the level was 200 points above Shopify's at a crossing, and the fifty callers already
# waiting had their turns counted on it: 64 THROTTLED, 42 of them resent past their deadline.
MARGIN = 0.1
MARGIN_POINTS = 10.0


def margin(maximum: float) -> float:
    return max(MARGIN * maximum, MARGIN_POINTS)


def lookup_floor(share: float, maximum: float) -> float:
    """What a lookup must leave in the bucket: `1 - share` of it, and never less than the margin
    NewStore's calls keep (with SEARCH_BUCKET_SHARE 1 background work would otherwise spend the
    margin they wait above: bench.priority, authorize p50 7 ms -> 1.6 s)."""
    return max((1 - share) * maximum, margin(maximum))


class SharedLevel(Protocol):
    """The points every replica's reservations left in the shop's bucket, kept where every
    replica sees it. Both methods answer None / do nothing when the store can't be reached."""

    async def reserve(self, cost: float, *, floor_share: float | None, margin_share: float, margin_points: float,
                      seconds_left: float,
                      ceiling: float | None, seed: tuple[float, float, float] | None = None,
                      ) -> SharedReservation | None:
        """Take `cost` if the level stays at least `floor_share` of the maximum after it (a
        lookup), or, with `floor_share` None, if the wait for the level to be back above its
        margin (`margin_share` of the maximum, at least `margin_points`) fits in `seconds_left`. The level is refilled first and never
        above `ceiling`. Where there is no level yet, it starts from `seed` (the caller's own
        model: level, maximum, restore rate); None if there is neither."""

    async def settle(self, *, figure: float, maximum: float, restore_rate: float, refund: float) -> None:
        """An answer: give back `refund` (reserved, not charged), then hold the level to
        Shopify's `figure`."""


@dataclass(frozen=True)
class Ticket:
    """A reservation: its cost, whether it was taken on the shared level, and the seconds its
    caller waited for it."""

    cost: float
    shared: bool = False
    waited: float = 0.0


class CostBucket:
    """One shop's leaky bucket, as far as we know it."""

    def __init__(self, *, clock: Callable[[], float] | None = None, shared: SharedLevel | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._clock = clock
        self.shared = shared
        self._sleep_for = sleep
        self._known = False
        self.maximum = 0.0
        self.restore_rate = 0.0
        self._available = 0.0
        self._as_of = 0.0
        self._blocked_until = 0.0
        # Points reserved by requests still on their way: Shopify's next figure does not yet
        # include them, so they stay deducted when the model is reset to it.
        self._in_flight = 0.0
        self._own_in_flight = 0.0  # the part reserved on our model alone, not on the shared level
        self._figure: float | None = None  # Shopify's latest level, and when we had it
        self._figure_at = 0.0

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    @property
    def known(self) -> bool:
        return self._known

    def available(self, now: float | None = None) -> float:
        """Points available now (negative while reservations are outstanding)."""
        if not self._known:
            return float("inf")
        now = self._now() if now is None else now
        refilled = self._available + max(0.0, now - self._as_of) * self.restore_rate
        return min(self.maximum, refilled)

    def update(self, status: ThrottleStatus) -> None:
        """Shopify's own figures replace the model (they include refunds of unused cost)."""
        if status.restore_rate <= 0 or status.maximum <= 0:
            return
        self._known = True
        self.maximum = status.maximum
        self.restore_rate = status.restore_rate
        self._available = status.available - self._in_flight
        self._as_of = self._now()
        self._figure, self._figure_at = status.available, self._as_of
        SHOPIFY_THROTTLE_AVAILABLE.set(status.available)

    def block_for(self, seconds: float) -> None:
        """After a 429: nobody sends for `seconds` (Retry-After covers the whole shop)."""
        self._blocked_until = max(self._blocked_until, self._now() + seconds)

    def wait_for(self, cost: float, now: float | None = None) -> float:
        """Seconds until `cost` points are available, without reserving them."""
        now = self._now() if now is None else now
        wait = max(0.0, self._blocked_until - now)
        if self._known:
            cost = min(cost, self.maximum)  # a cost above the bucket could never be paid
            shortfall = cost - self.available(now)
            if shortfall > 0:
                wait = max(wait, shortfall / self.restore_rate)
        return wait

    async def acquire(self, cost: float, deadline: float) -> float:
        """Reserve `cost` points, waiting first if the bucket can't pay them. Returns the wait.
        Raises LedgerUnavailable (and reserves nothing) if the wait would pass the deadline."""
        now = self._now()
        wait = self.wait_for(cost, now)
        if now + wait >= deadline and wait > 0:
            raise LedgerUnavailable("Shopify cost budget exhausted until past the deadline", retry_after=wait)
        self._debit(cost, now)
        self._own_in_flight += cost
        if wait > 0:
            SHOPIFY_THROTTLE_WAIT.inc(wait)
            await self._sleep(wait, cost)
        return wait

    def _debit(self, cost: float, now: float) -> None:
        """Take `cost` off our model now, with no await before the call goes out, so the next
        caller sees our debt; it stays in flight until release()."""
        if self._known:
            self._available = self.available(now) - min(cost, self.maximum)
            self._as_of = now
        self._in_flight += cost

    def _ceiling(self, now: float) -> float:
        """The most Shopify can hold now: its latest figure plus what it restored since (call
        only once there is a figure)."""
        assert self._figure is not None
        return self._figure + (now - self._figure_at) * self.restore_rate

    async def _sleep(self, wait: float, cost: float, *, shared: bool = False) -> None:
        try:
            await self._sleep_for(wait)
        except asyncio.CancelledError:
            self.release(cost, shared=shared)  # never sent: no answer will release it
            raise

    def reserve_within(self, cost: float, share: float) -> float:
        """For a call that must not wait (a lookup): reserve `cost` only if nobody is held back
        by a 429 and the bucket keeps `lookup_floor(share)` after it. Returns 0.0 when
        reserved; otherwise reserves nothing and returns the seconds until it could be."""
        now = self._now()
        wait = max(0.0, self._blocked_until - now)
        if self._known:
            shortfall = lookup_floor(share, self.maximum) + min(cost, self.maximum) - self.available(now)
            if shortfall > 0:
                wait = max(wait, shortfall / self.restore_rate)
        if wait > 0:
            return wait
        self._debit(cost, now)
        self._own_in_flight += cost
        return 0.0

    def release(self, cost: float, *, shared: bool = False) -> None:
        """The request that reserved `cost` (on the shared level: `shared`) has its answer (or
        none will come)."""
        self._in_flight = max(0.0, self._in_flight - cost)
        if not shared:
            self._own_in_flight = max(0.0, self._own_in_flight - cost)

    # ---- the shared level (replicas) ------------------------------------------------------

    def coordinated(self, cost: float, share: float | None = None) -> bool:
        """Whether a call of `cost` (a lookup's: `share`) is reserved on the shared level: there is
        one, and by Shopify's latest figure, less our own reservations and the cost, the bucket
        is below COORDINATE_BELOW (or within LOOKUP_COORDINATION of the lookup's floor), or we
        have OWN_IN_FLIGHT on our way already. Before any answer, yes: the other replicas may have
        learned what we have not."""
        if self.shared is None:
            return False
        if self._figure is None:
            return True
        line = COORDINATE_BELOW if share is None else max(COORDINATE_BELOW, 1 - share + LOOKUP_COORDINATION)
        return (self._figure - self._in_flight - cost < line * self.maximum
                or self._own_in_flight + cost > OWN_IN_FLIGHT * self.maximum)

    async def take(self, cost: float, deadline: float) -> Ticket:
        """acquire(), on the shared level where coordinated()."""
        if self.coordinated(cost) and self._now() >= self._blocked_until:
            ticket = await self._take_shared(cost, deadline, None)
            if ticket is not None:
                return ticket
        return Ticket(cost, waited=await self.acquire(cost, deadline))

    async def take_within(self, cost: float, share: float) -> Ticket | float:
        """reserve_within(), on the shared level where coordinated(): a Ticket, or the seconds
        until the lookup could be reserved (nothing reserved)."""
        if self.coordinated(cost, share) and self._now() >= self._blocked_until:
            if self._figure is not None:
                # The shared level is never above Shopify's latest figure and the restore since:
                # when that leaves the lookup below its floor, it is refused without asking (a
                # sweep refused pass after pass makes no round trips).
                now = self._now()
                ceiling = min(self.maximum, self._ceiling(now))
                shortfall = lookup_floor(share, self.maximum) + min(cost, self.maximum) - ceiling
                if shortfall > 0:
                    return shortfall / self.restore_rate
            ticket = await self._take_shared(cost, None, share)
            if ticket is not None:
                return ticket
        wait = self.reserve_within(cost, share)
        return wait if wait > 0 else Ticket(cost)

    async def _take_shared(self, cost: float, deadline: float | None, share: float | None) -> Ticket | float | None:
        assert self.shared is not None
        now = self._now()
        ceiling = seed = None
        if self._figure is not None:
            # Shopify can't hold more than its latest figure plus what it restored since.
            ceiling = self._ceiling(now)
            seed = (min(self.maximum, ceiling) - self._in_flight, self.maximum, self.restore_rate)
        seconds_left = max(0.0, deadline - now) if deadline is not None else 0.0
        found = await self.shared.reserve(cost, floor_share=None if share is None else 1 - share,
                                          margin_share=MARGIN, margin_points=MARGIN_POINTS, seconds_left=seconds_left,
                                          ceiling=ceiling, seed=seed)
        if found is None:
            SHOPIFY_SHARED_BUCKET.labels("unavailable").inc()
            return None
        if found.after is None:
            SHOPIFY_SHARED_BUCKET.labels("refused").inc()
            if share is None:
                wait = (margin(found.maximum) + cost - found.before) / found.restore_rate
                raise LedgerUnavailable("Shopify cost budget exhausted until past the deadline", retry_after=wait)
            return (lookup_floor(share, found.maximum) + cost - found.before) / found.restore_rate
        SHOPIFY_SHARED_BUCKET.labels("reserved").inc()
        self._debit(cost, now)
        wait = 0.0
        if share is None:
            wait = max(0.0, margin(found.maximum) - found.after) / found.restore_rate
            if wait > 0:
                SHOPIFY_THROTTLE_WAIT.inc(wait)
                await self._sleep(wait, cost, shared=True)
        return Ticket(cost, shared=True, waited=wait)

    async def answered(self, ticket: Ticket, status: ThrottleStatus) -> None:
        """Shopify's figures for the call `ticket` reserved: our model takes them (update()), and
        the shared level, where the call was reserved on it or the bucket is low, gets back what
        was reserved and not charged (all of it if THROTTLED: not executed) and is held to the
        figure."""
        self.update(status)
        if self.shared is None or status.maximum <= 0 or status.restore_rate <= 0:
            return
        if not ticket.shared and status.available >= COORDINATE_BELOW * status.maximum:
            return
        refund = 0.0
        if ticket.shared:
            refund = ticket.cost - (status.actual if status.actual is not None else 0.0)
        try:
            await self.shared.settle(figure=status.available, maximum=status.maximum,
                                     restore_rate=status.restore_rate, refund=refund)
        except Exception:  # noqa: BLE001 - the model must never turn an executed call into a failed one
            SHOPIFY_SHARED_BUCKET.labels("unavailable").inc()
            log.warning("shared_bucket_settle_failed", exc_info=True)
