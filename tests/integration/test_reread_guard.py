"""On a ledger without notes, a re-read (the poller's, a webhook's) never runs while a write of ours
to the card is in flight: its entry would be mirrored as someone else's change, for good
(adapter/services/reread.py)."""

from __future__ import annotations

from decimal import Decimal

from adapter.http.keys import WORKERS
from tests.integration.test_absolute_balance import (  # noqa: F401 - fixtures
    authorize, card_id_of, emulator, issue, make_absolute, post)


async def test_a_card_with_an_unsettled_write_is_left_alone_until_it_is_settled(make_absolute, emulator, db):
    adapter = await make_absolute(ledger_resend_after_seconds=0)
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.fault(kind="lose_response", operation=emulator.write_op)  # the PUT lands, its answer is lost
    status, _ = await post(adapter, "/financial_instruments", authorize(number, 20, "a-1"))
    assert status == 503
    poller = adapter.server.app[WORKERS].poller
    passed = await poller.run_once()
    assert (passed["cards"], passed["events"], passed["failed"]) == (0, 0, 1)

    status, body = await post(adapter, "/financial_instruments", authorize(number, 20, "a-1"))  # settled: applied
    assert status == 200, body
    assert (await poller.run_once())["events"] == 2
    async with db.acquire() as conn:
        found = [tuple(row) for row in await conn.fetch("SELECT kind, cause, amount FROM feed_events ORDER BY event_id")]
    assert found == [("issued", "pos_sale", Decimal("100")), ("debited", "pos_redemption", Decimal("20"))]
