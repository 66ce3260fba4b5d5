"""What every use case needs, wired once by the app."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from adapter.crypto import CodeVault
from adapter.domain.cardnumbers import CardNumberReader
from adapter.idempotency.coordinator import IdempotencyCoordinator
from adapter.ports import LedgerCard, LedgerPort


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class ShopCurrency:
    """The shop's currency (new cards are made in it), read from giftCardConfiguration once
    and kept: a shop's currency does not change under a running process."""

    ledger: LedgerPort
    _currency: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def known(self) -> str | None:
        """The currency if already read, without any I/O."""
        return self._currency

    async def get(self, deadline: float) -> str:
        if self._currency is None:
            async with self._lock:
                if self._currency is None:
                    config = await self.ledger.configuration(deadline=deadline)
                    self._currency = config.issue_limit.currency
        return self._currency


class CardIdCache:
    """Code digest -> Shopify card id, for cards we have already found. The mapping never
    changes (codes are unique per shop and cards are never deleted), so a hit is always
    right; the registry in Postgres stays the record. Bounded, least recently used out.

    Keyed by the digest under the writing key (vault.digest), whichever key the registry row
    was found under: the keys are fixed for a process's life, so one code has one cache key."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._ids: OrderedDict[bytes, str] = OrderedDict()

    def get(self, digest: bytes) -> str | None:
        card_id = self._ids.get(digest)
        if card_id is not None:
            self._ids.move_to_end(digest)
        return card_id

    def put(self, digest: bytes, card_id: str) -> None:
        self._ids[digest] = card_id
        self._ids.move_to_end(digest)
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


class UnknownCodes:
    """Code digests the ledger search recently found no card for, each remembered for `ttl`
    seconds: the same unknown code asked again (a retry, a replay, a misread card) is answered
    "unknown gift card" without another search.

    The price of the memory: a card created elsewhere (the web shop) moments after its code was
    asked here is refused for up to `ttl`. Our own registry is always read first, so a card
    issued or activated through any replica is never refused; keep `ttl` short. Bounded: the
    oldest entry goes first."""

    def __init__(self, ttl: float = 30.0, size: int = 50_000, clock: Callable[[], float] | None = None) -> None:
        self._ttl = ttl
        self._size = size
        self._clock = clock or _loop_time
        self._until: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def __contains__(self, digest: bytes) -> bool:
        until = self._until.get(digest)
        if until is None:
            return False
        if until <= self._clock():
            del self._until[digest]
            return False
        return True

    def add(self, digest: bytes) -> None:
        if self._ttl <= 0:
            return
        now = self._clock()
        self._until[digest] = now + self._ttl
        self._until.move_to_end(digest)
        # Entries are in expiry order (one ttl for all): drop the expired from the front, and
        # the oldest beyond the bound.
        while self._until:
            oldest_until = next(iter(self._until.values()))
            if oldest_until > now and len(self._until) <= self._size:
                break
            self._until.popitem(last=False)

    def discard(self, digest: bytes) -> None:
        self._until.pop(digest, None)


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


@dataclass
class Services:
    pool: object
    ledger: LedgerPort
    vault: CodeVault
    idempotency: IdempotencyCoordinator
    shop_currency: ShopCurrency
    today: Callable[[], date] = utc_today
    # How long after an attempt was sent an absent write may be sent again: the attempt's own
    # deadline plus a settling delay.
    resend_after_seconds: float = 20.0
    card_ids: CardIdCache = field(default_factory=CardIdCache)
    unknown_codes: UnknownCodes = field(default_factory=UnknownCodes)
    # The ledger search for a code already on its way, by code digest: asked again meanwhile, the
    # code waits for that search's answer instead of sending another. Its answer is the one
    # matching card, or None.
    lookups: dict[bytes, asyncio.Future[LedgerCard | None]] = field(default_factory=dict)
    card_numbers: CardNumberReader = field(default_factory=CardNumberReader)
    # The feed's subscribers (FEED_SUBSCRIBERS): each event is queued for each of them.
    feed_subscribers: tuple[str, ...] = ()
    # How long an unexplained foreign entry waits for its webhook (SYNC_HOLD_SECONDS; sync.py).
    sync_hold_seconds: float = 0.0
