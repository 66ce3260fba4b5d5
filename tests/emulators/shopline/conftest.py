"""SHOPLINE emulator tests talk to it over real HTTP (pytest-aiohttp's test server), with the
store's wall clock and the rate-limit bucket's clock both moved by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.emulators.clocks import FakeClock

from giftcard_emulators.shopline import Emulator, ShoplineConfig, create_shopline_app

TOKEN = ShoplineConfig.access_token
VERSION = "v20260601"
API = f"/admin/openapi/{VERSION}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeMonotonic:
    """The bucket's clock, in seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """A thin client: the Admin REST API plus the /_emulator control routes."""

    def __init__(self, client: TestClient, emulator: Emulator, clock: FakeClock, monotonic: FakeMonotonic) -> None:
        self.client = client
        self.emulator = emulator
        self.clock = clock
        self.monotonic = monotonic

    async def call(self, method: str, path: str, body: Any = None, *, version: str = VERSION,
                   token: str | None = TOKEN, params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> tuple[Any, Any]:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("/") else f"/admin/openapi/{version}/{path}"
        response = await self.client.request(method, url, json=body, params=params, headers=all_headers)
        text = await response.text()
        return response, (json.loads(text) if text else None)

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response, payload = await self.call(method, path, body, **kwargs)
        assert response.status in (200, 201), (response.status, payload)
        return payload

    async def create(self, initial_value: str = "50.00", **fields: Any) -> dict[str, Any]:
        payload = await self.ok("POST", "gift_cards.json", {"gift_card": {"initial_value": initial_value, **fields}})
        return payload["gift_card"]

    async def read(self, card_id: str) -> dict[str, Any]:
        return (await self.ok("GET", f"gift_cards/{card_id}.json"))["gift_card"]

    async def put_balance(self, card_id: str, balance: str) -> dict[str, Any]:
        return (await self.ok("PUT", f"gift_cards/{card_id}.json", {"gift_card": {"balance": balance}}))["gift_card"]

    async def records(self, card_id: str, **params: str) -> list[dict[str, Any]]:
        return (await self.ok("GET", f"gift_cards/{card_id}/operation_records.json", params=params))["operation_records"]

    async def control(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = await self.client.request(method, f"/_emulator/{path}", json=body)
        payload = await response.json()
        if expect is not None:
            assert response.status == expect, payload
        else:
            assert response.status < 300, payload
        return payload

    async def state(self) -> dict[str, Any]:
        return await self.control("GET", "state")

    async def state_card(self, card_id: str) -> dict[str, Any]:
        return next(card for card in (await self.state())["cards"] if card["id"] == card_id)

    async def seed(self, **body: Any) -> dict[str, Any]:
        body.setdefault("balance", "25.00")
        return await self.control("POST", "cards", body, expect=201)

    async def fault(self, **spec: Any) -> str:
        return (await self.control("POST", "faults", spec))["id"]


@pytest.fixture
def make_store(aiohttp_client: Callable[..., Any]) -> Callable[..., Any]:
    async def factory(config: ShoplineConfig | None = None) -> Store:
        clock, monotonic = FakeClock(), FakeMonotonic()
        emulator = Emulator(config or ShoplineConfig(), clock=clock, monotonic=monotonic)
        app = create_shopline_app(emulator=emulator)
        return Store(await aiohttp_client(app), emulator, clock, monotonic)

    return factory


@pytest.fixture
async def store(make_store: Callable[..., Any]) -> Store:
    return await make_store()
