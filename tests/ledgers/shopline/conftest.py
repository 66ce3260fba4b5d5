"""The SHOPLINE client against the SHOPLINE emulator over real HTTP (start_shopline on a socket).

The emulator runs in this process, so tests arrange its store and faults through its objects
directly (no HTTP, no rate-limit balls spent) and observe what reached it through its counters.

Its store clock is frozen at a whole second: the emulator's operation-record cursor carries
`created_at` to the second only, so records made within one real second with microseconds page
wrongly (the page after the first comes back empty). An emulator bug, reported; SHOPLINE's own
times are whole seconds too.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from adapter.shopline.client import ShoplineClient
from giftcard_emulators.shopline import RunningShopline, ShoplineConfig, start_shopline
from giftcard_emulators.shopline.ledger import Card

TOKEN = "shopline-test-token-do-not-log"


def deadline(seconds: float = 5.0) -> float:
    return asyncio.get_running_loop().time() + seconds


class Shop:
    def __init__(self, running: RunningShopline) -> None:
        self.running = running

    @property
    def emulator(self) -> Any:
        return self.running.emulator

    def api_url(self, version: str | None = None) -> str:
        return f"{self.running.base_url}/admin/openapi/{version or self.running.config.api_version}"

    def seed(self, *, balance: str = "25.00", code: str | None = None, note: str | None = None,
             disabled: bool = False, currency: str | None = None) -> Card:
        """A card made elsewhere (the admin, another app)."""
        ledger = self.emulator.ledger
        amount = Decimal(balance)
        return ledger.add_card(code=code or ledger.new_code(), balance=amount, initial_value=amount,
                               currency=currency or self.running.config.currency, note=note, disabled=disabled)

    def change(self, card: Card, delta: str, operation_type: str | None = None) -> Any:
        """A checkout (negative) or refund (positive) elsewhere, with its operation record."""
        return self.emulator.ledger.move_balance(card, Decimal(delta), operation_type)

    def fault(self, **spec: Any) -> Any:
        return self.emulator.faults.add(spec)

    def calls(self, operation: str) -> int:
        return self.emulator.calls[operation]

    def card(self, card_id: str) -> Card:
        return self.emulator.ledger.cards[card_id]


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    running = await start_shopline(config=ShoplineConfig(access_token=TOKEN))
    running.emulator.clock.set(datetime.now(UTC).replace(microsecond=0))
    try:
        yield Shop(running)
    finally:
        await running.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def make_client(shop: Shop, session: aiohttp.ClientSession) -> Callable[..., ShoplineClient]:
    def make(*, version: str | None = None, currency: str = "USD", **options: Any) -> ShoplineClient:
        version = version or shop.running.config.api_version
        return ShoplineClient(session, base_url=shop.api_url(version), access_token=TOKEN, api_version=version,
                              currency=currency, **options)

    return make


@pytest.fixture
def client(make_client: Callable[..., ShoplineClient]) -> ShoplineClient:
    return make_client()
