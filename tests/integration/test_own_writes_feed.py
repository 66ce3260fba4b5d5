"""Our own writes reach the feed within moments of their answer, not at the poller's next turn:
with the workers running, each write answered as applied queues a re-read of its card
(Intake.note_applied), on every ledger."""

from __future__ import annotations

import asyncio
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


async def test_the_reread_is_queued_by_the_answers_own_statement(make_adapter, ledger, db):
    adapter = await make_adapter()
    told = []
    adapter.server.app[SERVICES].idempotency.on_applied = lambda movement, queued: told.append((movement, queued))
    await ledger.make_known_card("ownwritecard0002", "100.00")
    response = await adapter.post("/financial_instruments", json=authorize_body("ownwritecard0002", 30, "own-2"),
                                  headers=AUTH)
    assert response.status == 200
    [(movement, queued)] = told
    async with db.acquire() as conn:
        row = await conn.fetchrow("SELECT item_id, source, event_id, kind, ledger_card_id, register FROM intake_queue")
        answered_at = await conn.fetchval("SELECT completed_at FROM idempotency_keys WHERE key = 'own-2'")
        queued_at = await conn.fetchval("SELECT created_at FROM intake_queue")
    assert dict(row) == {"item_id": queued, "source": "adapter", "event_id": movement.write_id, "kind": "card",
                         "ledger_card_id": movement.shopify_card_id, "register": False}
    assert queued_at == answered_at  # one statement, one transaction: the same now()


async def test_with_every_slot_busy_the_reread_waits_in_the_queue_for_the_next_pass(make_adapter, ledger, db):
    adapter = await make_adapter()
    intake = adapter.server.app[INTAKE]
    adapter.server.app[SERVICES].idempotency.on_applied = intake.note_applied
    await ledger.make_known_card("ownwritecard0003", "100.00")
    busy = 0
    while not intake._slots.locked():  # every slot taken, as by a burst of re-reads
        await intake._slots.acquire()
        busy += 1
    try:
        response = await adapter.post("/financial_instruments", json=authorize_body("ownwritecard0003", 30, "own-3"),
                                      headers=AUTH)
        assert response.status == 200
        # Nothing waits in memory for a slot (it would wait here for as long as the slots are held).
        await asyncio.wait_for(intake.idle(), 5)
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM intake_queue") == 1  # not worked, not lost
            assert await conn.fetchval("SELECT count(*) FROM feed_events WHERE kind = 'debited'") == 0
    finally:
        for _ in range(busy):
            intake._slots.release()
    assert (await intake.drain_once())["done"] == 1  # the next pass
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM intake_queue") == 0
        assert await conn.fetchval("SELECT count(*) FROM feed_events WHERE kind = 'debited'") == 1
