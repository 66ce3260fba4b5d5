"""What the webhook-intake tests (test_intake_shopify.py, test_intake_shopline.py) share: waiting
for the intake to go quiet, and reading what it left in the feed."""

from __future__ import annotations

from adapter.http.keys import SERVICES
from adapter.http.webhooks import INTAKE
from tests.served import wait_for


async def quiet(adapter, timeout: float = 10, *, hurry: bool = True) -> None:
    """Every re-read the webhooks left is done (a deferred one is drained again until it is; with
    `hurry`, at once rather than after its wait)."""
    intake = adapter.server.app[INTAKE]

    async def drained():
        await intake.idle()
        async with adapter.server.app[SERVICES].pool.acquire() as conn:
            if await conn.fetchval("SELECT count(*) FROM intake_queue") == 0:
                return True
            if hurry:
                await conn.execute("UPDATE intake_queue SET next_attempt_at = now()")  # no waiting out a backoff
        await intake.drain_once()
        return False

    await wait_for(drained, timeout)


async def events(db, last: str = "order_ref") -> list[tuple]:
    """The feed's events in order: card, kind, cause, amount, balance after, and `last`."""
    async with db.acquire() as conn:
        found = await conn.fetch(f"SELECT ledger_card_id, kind, cause, amount, balance_after, {last} FROM feed_events"
                                 " ORDER BY event_id")
    return [tuple(row) for row in found]


async def movements(db, last: str = "order_ref") -> list[tuple]:
    """events() less the `issued` event of a card made elsewhere, met at its first re-read: what
    a test's own checkouts, refunds and adjustments made."""
    return [event for event in await events(db, last) if event[1] != "issued"]


async def count(db, table: str) -> int:
    async with db.acquire() as conn:
        return await conn.fetchval(f"SELECT count(*) FROM {table}")
