"""The feed's delivery over real HTTP: a subscriber is an aiohttp server in the test that
verifies every request's signature with the documented scheme (adapter.feed.signature.verify,
which the README's snippet restates), and the adapter's own worker delivers to it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiohttp import web

from adapter.feed import signature
from adapter.store import feed
from tests.cli import run_main

SECRET = "feed-secret-current-" + "c" * 24
OLD_SECRET = "feed-secret-previous-" + "p" * 24
# Small everything: a failed delivery is due again within 50 ms.
FAST = dict(feed_backoff_base_seconds=0.01, feed_backoff_cap_seconds=0.05, feed_poll_interval_seconds=0.02,
            feed_delivery_timeout_seconds=0.5, feed_max_attempts=100)


@dataclass
class Received:
    body: dict
    raw: bytes
    headers: dict[str, str]


@dataclass
class Subscriber:
    """Answers 204 to a correctly signed request while `mode` is "ok"; "fail" answers 500,
    "hang" answers nothing until `release()` (the adapter gives up first: a timeout)."""

    secrets: tuple[str, ...] = (SECRET,)
    mode: str = "ok"
    accepted: list[Received] = field(default_factory=list)
    attempts: list[dict] = field(default_factory=list)   # every request, by its body
    refused_signatures: int = 0
    hung: int = 0
    url: str = ""
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not signature.verify(request.headers.get(signature.HEADER), raw, self.secrets):
            self.refused_signatures += 1
            return web.Response(status=401)
        body = json.loads(raw, parse_float=Decimal)
        assert request.headers[signature.EVENT_ID_HEADER] == body["event_id"]
        self.attempts.append(body)
        mode = self.mode
        if mode == "hang":
            self.hung += 1
            await self._released.wait()
            return web.Response(status=500)
        if mode == "fail":
            return web.Response(status=500, text="down for maintenance")
        self.accepted.append(Received(body, raw, dict(request.headers)))
        return web.Response(status=204)

    def release(self) -> None:
        self._released.set()

    def config(self, name: str = "erp", secrets: tuple[str, ...] | None = None) -> dict:
        return {"name": name, "url": self.url, "secrets": list(secrets or self.secrets)}

    def sequences(self) -> list[int]:
        return [r.body["sequence"] for r in self.accepted]

    def by_card(self) -> dict[str, list[int]]:
        cards: dict[str, list[int]] = {}
        for received in self.accepted:
            cards.setdefault(received.body["card"]["ledger_id"], []).append(received.body["sequence"])
        return cards


@pytest.fixture
async def subscriber(aiohttp_server):
    receiver = Subscriber()
    app = web.Application()
    app.router.add_post("/hooks/giftcards", receiver.handle)
    server = await aiohttp_server(app)
    receiver.url = str(server.make_url("/hooks/giftcards"))
    yield receiver
    receiver.release()


def card(n: int) -> str:
    return f"gid://shopify/GiftCard/{900000 + n}"


def event(card_number: int, amount: str = "12.50", balance: str = "37.50", *, kind: str = "debited",
          cause: str = "online_checkout", occurred_at: datetime | None = None, **extra) -> feed.NewEvent:
    return feed.NewEvent(ledger_card_id=card(card_number), last_characters=f"{card_number:04d}"[-4:], kind=kind,
                         cause=cause, amount=Decimal(amount), balance_after=Decimal(balance), currency="USD",
                         occurred_at=occurred_at or datetime.now(UTC) - timedelta(seconds=1), **extra)


async def append(pool, events: list[feed.NewEvent], subscribers: tuple[str, ...] = ("erp",)) -> list[int]:
    async with pool.acquire() as conn:
        async with conn.transaction():
            return await feed.append(conn, events, subscribers)


async def queue_rows(pool) -> list[dict]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(
            "SELECT subscriber, event_id, ledger_card_id, state, attempts FROM feed_deliveries ORDER BY event_id")]


async def queue_empty(pool) -> bool:
    return not await queue_rows(pool)


async def command(database_url: str, *argv: str, subscribers: list[dict] | None = None) -> tuple[int, str, str]:
    """`giftcard-adapter feed ...` (main(argv), on a thread, with only these settings), as in
    production: no EMBEDDED, so every subscriber URL is https."""
    configured = subscribers or [{"name": "erp", "url": "https://erp.example/hooks/giftcards", "secrets": [SECRET]}]
    env = {"DATABASE_URL": database_url, "FEED_SUBSCRIBERS": json.dumps(configured), "LOG_LEVEL": "WARNING"}
    return await run_main(["feed", *argv], env)
