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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from adapter.observability.metrics import SHOPIFY_THROTTLE_AVAILABLE, SHOPIFY_THROTTLE_WAIT
from adapter.ports import LedgerUnavailable
from adapter.shopify.mapping import ThrottleStatus

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
    "ReadCard": 54,      # card 1 + transactions connection 2 + 50 nodes x 1 (+ pageInfo 1)
    "Configuration": 1,
}


# Documents whose size is their `first` variable: (fixed part, cost of one node). The fixed part
# is the connection's 2, and 1 more where pageInfo is selected.
_CONNECTIONS: dict[str, tuple[float, float]] = {
    "SearchCards": (2, 1),     # the card (its balance is free)
    "CardsOfOrder": (3, 2),    # the card and its order
    "ChangedCards": (3, 1),    # the card
}


def estimated_cost(operation_name: str, variables: dict | None = None) -> float:
    if operation_name in _CONNECTIONS:
        fixed, per_node = _CONNECTIONS[operation_name]
        return fixed + per_node * int((variables or {}).get("first") or 1)
    return ESTIMATED_COST.get(operation_name, 10)


# The others' spend is learned over about this many seconds; a replica always keeps this share of
# the restore rate for itself.
OTHERS_TAU = 2.0
OWN_RATE_FLOOR = 0.05


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


class CostBucket:
    """One shop's leaky bucket, as far as we know it."""

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        self._known = False
        self.maximum = 0.0
        self.restore_rate = 0.0
        self._available = 0.0
        self._as_of = 0.0
        self._blocked_until = 0.0
        # Points reserved by requests still on their way: Shopify's next figure does not yet
        # include them, so they stay deducted when the model is reset to it.
        self._in_flight = 0.0
        # Points per second the shop's other clients (other replicas) spend, learned from the
        # answers: between two of our answers the level moved by less than the restore minus our
        # own charge. Between answers the model refills at what they leave us.
        self.others = 0.0
        self._figure: float | None = None  # Shopify's last level, and when we had it
        self._figure_at = 0.0

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    @property
    def known(self) -> bool:
        return self._known

    @property
    def own_rate(self) -> float:
        """What the bucket restores for us: the restore rate less the others' spend, never below
        OWN_RATE_FLOOR of it (a replica the others crowd out still gets its calls through)."""
        return max(self.restore_rate - self.others, self.restore_rate * OWN_RATE_FLOOR)

    def available(self, now: float | None = None) -> float:
        """Points available now (negative while reservations are outstanding)."""
        if not self._known:
            return float("inf")
        now = self._now() if now is None else now
        refilled = self._available + max(0.0, now - self._as_of) * self.own_rate
        return min(self.maximum, refilled)

    def update(self, status: ThrottleStatus) -> None:
        """Shopify's own figures replace the model (they include refunds of unused cost)."""
        if status.restore_rate <= 0 or status.maximum <= 0:
            return
        now = self._now()
        if self._figure is not None and status.restore_rate == self.restore_rate:
            # Since our last answer the bucket restored `restore_rate x dt` (up to its maximum)
            # and charged this call's actual cost (none if throttled): whatever else it lost,
            # someone else spent.
            dt = max(0.0, now - self._figure_at)
            expected = min(status.maximum, self._figure + dt * status.restore_rate) - (status.actual or 0.0)
            spent_by_others = expected - status.available
            # A first-order filter with time constant OTHERS_TAU: each answer moves the estimate
            # by its evidence, so answers that arrive out of order cancel out.
            self.others += (spent_by_others - self.others * dt) / OTHERS_TAU
            self.others = min(max(self.others, 0.0), status.restore_rate)
        self._figure, self._figure_at = status.available, now
        self._known = True
        self.maximum = status.maximum
        self.restore_rate = status.restore_rate
        self._available = status.available - self._in_flight
        self._as_of = now
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
                wait = max(wait, shortfall / self.own_rate)
        return wait

    async def acquire(self, cost: float, deadline: float) -> float:
        """Reserve `cost` points, waiting first if the bucket can't pay them. Returns the wait.
        Raises LedgerUnavailable (and reserves nothing) if the wait would pass the deadline."""
        now = self._now()
        wait = self.wait_for(cost, now)
        if now + wait >= deadline and wait > 0:
            raise LedgerUnavailable("Shopify cost budget exhausted until past the deadline", retry_after=wait)
        if self._known:
            # Reserve now, with no await in between, so the next caller sees our debt.
            self._available = self.available(now) - min(cost, self.maximum)
            self._as_of = now
        self._in_flight += cost
        if wait > 0:
            SHOPIFY_THROTTLE_WAIT.inc(wait)
            await asyncio.sleep(wait)
        return wait

    def reserve_within(self, cost: float, share: float) -> float:
        """For a call that must not wait (a lookup): reserve `cost` only if nobody is held back
        by a 429 and the bucket keeps `(1 - share) * maximum` after it. Returns 0.0 when
        reserved; otherwise reserves nothing and returns the seconds until it could be."""
        now = self._now()
        wait = max(0.0, self._blocked_until - now)
        if self._known:
            shortfall = self.maximum * (1 - share) + min(cost, self.maximum) - self.available(now)
            if shortfall > 0:
                wait = max(wait, shortfall / self.own_rate)
        if wait > 0:
            return wait
        if self._known:
            self._available = self.available(now) - min(cost, self.maximum)
            self._as_of = now
        self._in_flight += cost
        return 0.0

    def release(self, cost: float) -> None:
        """The request that reserved `cost` has its answer (or none will come)."""
        self._in_flight = max(0.0, self._in_flight - cost)
