"""Our own writes reach the feed within moments of their answer, not at the poller's next turn:
with the workers running, each write answered as applied queues a re-read of its card
(Intake.note_applied), on every ledger."""

from __future__ import annotations

from decimal import Decimal

from adapter.http.keys import SERVICES
from adapter.http.webhooks import INTAKE
from tests.conftest import AUTH
from tests.integration.test_payments import authorize_body


async def test_an_authorization_is_in_the_feed_once_answered(make_adapter, ledger, db):
    adapter = await make_adapter()
    intake = adapter.server.app[INTAKE]
    adapter.server.app[SERVICES].idempotency.on_applied = intake.note_applied  # as app.py does with workers
    await ledger.make_known_card("ownwritecard0001", "100.00")
    response = await adapter.post("/financial_instruments", json=authorize_body("ownwritecard0001", 30, "own-1"),
                                  headers=AUTH)
    assert response.status == 200
    await intake.idle()
    async with db.acquire() as conn:
        events = [tuple(r) for r in await conn.fetch(
            "SELECT kind, cause, amount, balance_after, operation FROM feed_events ORDER BY event_id")]
        assert await conn.fetchval("SELECT count(*) FROM intake_queue") == 0
    assert events[-1] == ("debited", "pos_redemption", Decimal("30"), Decimal("70"), "authorize")
    replay = await adapter.post("/financial_instruments", json=authorize_body("ownwritecard0001", 30, "own-1"),
                                headers=AUTH)
    assert replay.status == 200
    await intake.idle()
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM feed_events WHERE kind = 'debited'") == 1
