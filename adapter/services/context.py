"""What every use case needs, wired once by the app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from adapter.crypto import CodeVault
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

    async def get(self, deadline: float) -> str:
        if self._currency is None:
            async with self._lock:
                if self._currency is None:
                    config = await self.ledger.configuration(deadline=deadline)
                    self._currency = config.issue_limit.currency
        return self._currency


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
