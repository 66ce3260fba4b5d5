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
from adapter.ports import LedgerPort


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
    card_numbers: CardNumberReader = field(default_factory=CardNumberReader)
