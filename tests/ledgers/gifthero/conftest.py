"""Gift Card Hero client tests: the real client over real HTTP against the emulator, started
in-process on a socket of its own with `start_gifthero`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from adapter.domain.money import Money
from adapter.gifthero.client import GiftHeroClient
from giftcard_emulators.gifthero import GiftHeroConfig, RunningGiftHero, start_gifthero

TOKEN = "gifthero-test-token-3f9c"
CURRENCY = "USD"


def usd(amount: str) -> Money:
    return Money(Decimal(amount), CURRENCY)


class Hero:
    """The running emulator and its /_emulator control routes."""

    def __init__(self, running: RunningGiftHero, session: aiohttp.ClientSession) -> None:
        self.running = running
        self.session = session

    @property
    def api_url(self) -> str:
        return self.running.api_url

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, self.running.base_url + "/_emulator" + path, json=body) as response:
            payload = await response.json()
            assert response.status < 300, payload
            return payload

    async def state(self) -> dict[str, Any]:
        return await self.control("GET", "/state")

    async def card(self, card_id: str) -> dict[str, Any]:
        cards = {str(c["id"]): c for c in (await self.state())["cards"]}
        return cards[card_id]

    async def calls(self, operation: str) -> int:
        return (await self.state())["calls"].get(operation, 0)

    async def seed(self, **fields: Any) -> dict[str, Any]:
        return await self.control("POST", "/cards", fields)

    async def fault(self, **spec: Any) -> str:
        return (await self.control("POST", "/faults", spec))["id"]

    async def configure(self, **settings: Any) -> None:
        await self.control("POST", "/config", settings)

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """Poll the emulator's state until `predicate` holds (never a fixed sleep)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            state = await self.state()
            if predicate(state):
                return state
            assert loop.time() < end, "emulator state never matched"
            await asyncio.sleep(0.005)


@pytest.fixture
async def running() -> AsyncIterator[RunningGiftHero]:
    server = await start_gifthero(config=GiftHeroConfig(access_token=TOKEN, currency=CURRENCY))
    try:
        yield server
    finally:
        server.emulator.faults.release(proceed=False)
        await server.close()


class Wire:
    """What the client's session put on the wire: (method, path with query, body bytes)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.headers: list[dict[str, str]] = []

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def started(_session: Any, _context: Any, params: aiohttp.TraceRequestStartParams) -> None:
            self.requests.append((params.method, params.url.path_qs, b""))
            self.headers.append(dict(params.headers))

        async def chunk(_session: Any, _context: Any, params: aiohttp.TraceRequestChunkSentParams) -> None:
            method, path, body = self.requests[-1]
            self.requests[-1] = (method, path, body + params.chunk)

        config.on_request_start.append(started)
        config.on_request_chunk_sent.append(chunk)
        return config

    def bodies(self, method: str) -> list[bytes]:
        return [body for m, _, body in self.requests if m == method]


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
async def session(wire: Wire) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trace_configs=[wire.trace()]) as client_session:
        yield client_session


@pytest.fixture
async def hero(running: RunningGiftHero) -> AsyncIterator[Hero]:
    # Its own session: control calls must not warm or drop the client's pooled connections.
    async with aiohttp.ClientSession() as control_session:
        yield Hero(running, control_session)


@pytest.fixture
def make_client(session: aiohttp.ClientSession, running: RunningGiftHero) -> Callable[..., GiftHeroClient]:
    def factory(**overrides: Any) -> GiftHeroClient:
        options: dict[str, Any] = {"base_url": running.api_url, "access_token": TOKEN, "currency": CURRENCY}
        options.update(overrides)
        return GiftHeroClient(session, **options)

    return factory


@pytest.fixture
def client(make_client: Callable[..., GiftHeroClient]) -> GiftHeroClient:
    return make_client()


@pytest.fixture
def deadline() -> Callable[[float], float]:
    def at(seconds: float = 5.0) -> float:
        return asyncio.get_running_loop().time() + seconds

    return at
