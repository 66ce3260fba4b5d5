"""Gift Card Hero emulator tests: real HTTP through pytest-aiohttp's test server, fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.emulators.clocks import FakeClock

from giftcard_emulators.gifthero.app import GIFTHERO, GiftHeroConfig, create_gifthero_app

TOKEN = "gifthero-token"
API = "/api/external"


class Hero:
    def __init__(self, client: TestClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = TOKEN,
                   params: Any = None, raw: str | bytes | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if raw is not None:
            kwargs["data"] = raw
            headers["Content-Type"] = "application/json"
        elif body is not None:
            kwargs["json"] = body
        response = await self.client.request(method, API + path, **kwargs)
        return response, await response.json()

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response, payload = await self.call(method, path, body, **kwargs)
        assert response.status < 300, (response.status, payload)
        return payload

    async def create(self, value: Any = "100.00", code: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"initial_value": value, **fields}
        if code is not None:
            body["code"] = code
        return (await self.ok("POST", "/gift-cards", body))["gift_card"]

    async def control(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = await self.client.request(method, "/_emulator" + path, json=body)
        payload = await response.json()
        if expect is not None:
            assert response.status == expect, payload
        else:
            assert response.status < 300, payload
        return payload

    async def state(self) -> dict[str, Any]:
        return await self.control("GET", "/state")

    async def fault(self, **spec: Any) -> str:
        return (await self.control("POST", "/faults", spec))["id"]


@pytest.fixture
def make_hero(aiohttp_client: Callable[..., Any]) -> Callable[..., Any]:
    async def factory(config: GiftHeroConfig | None = None) -> Hero:
        app = create_gifthero_app(config)
        clock = FakeClock()
        app[GIFTHERO].ledger.clock = clock
        return Hero(await aiohttp_client(app), clock)

    return factory


@pytest.fixture
async def hero(make_hero: Callable[..., Any]) -> Hero:
    return await make_hero()
