"""Re-reading a card into the mirror and the feed (adapter.services.sync, issue #12), on each
ledger: ours told from foreign changes, each change one event, a re-read adding nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from adapter.http.keys import SERVICES
from adapter.services.sync import resync
from tests import ledger_view
from tests.conftest import AUTH
from tests.integration.test_absolute_balance import (  # noqa: F401 - fixtures
    authorize, card_id_of, emulator, issue, make_absolute, post)


def deadline() -> float:
    return asyncio.get_running_loop().time() + 5


async def events(db) -> list[tuple]:
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT kind, cause, amount, balance_after, operation FROM feed_events ORDER BY event_id")
    return [tuple(row) for row in rows]


async def test_an_absolute_ledger_card_resyncs_into_one_event_per_change(make_absolute, emulator, db):
    adapter = await make_absolute()
    services = adapter.server.app[SERVICES]
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.foreign_change_on_read(card_id, "-30.00")  # a web-shop checkout mid-debit
    status, _ = await post(adapter, "/financial_instruments", authorize(number, 20, "a-1"))
    assert status == 200

    assert await resync(services, card_id, deadline()) == 3
    assert await resync(services, card_id, deadline()) == 0  # a re-read adds nothing
    issued, checkout, ours = await events(db)
    assert issued[:3] == ("issued", "pos_sale", Decimal("100"))
    assert checkout[:2] == ("debited", "online_checkout") and checkout[2] == Decimal("30.00")
    assert ours == ("debited", "pos_redemption", Decimal("20"), ours[3], "authorize")
    # The feed adds up to the ledger's balance: the correcting PUT is bookkeeping, not an event.
    assert await emulator.balance(card_id) == Decimal("50")
    async with db.acquire() as conn:
        mirrored = await conn.fetch("SELECT origin, cause FROM ledger_entries ORDER BY occurred_at, entry_id")
    assert ("ours", "repair") in [tuple(row) for row in mirrored]


async def test_shopify_card_resyncs_ours_by_marker_and_the_rest_as_foreign(make_adapter, sandbox, db):
    adapter = await make_adapter()
    services = adapter.server.app[SERVICES]
    card_id = await ledger_view.make_card(sandbox, "synccard00000001", "100.00")
    response = await adapter.post("/financial_instruments", json=authorize("synccard00000001", 30, "s-1"), headers=AUTH)
    assert response.status == 200
    await ledger_view.shopify_debit(sandbox, card_id, "5.00", note="adjusted in the admin")

    assert await resync(services, card_id, deadline()) == 3
    # Made elsewhere (no issue of ours): its creation, met at its first re-read, is an event too,
    # with what it was issued with, walked back from the balance now.
    assert await events(db) == [("issued", "other_app", Decimal("100.0"), Decimal("100.0"), None),
                                ("debited", "pos_redemption", Decimal("30"), Decimal("70.0"), "authorize"),
                                ("debited", "admin_adjustment", Decimal("5.0"), Decimal("65.0"), None)]
    assert await resync(services, card_id, deadline()) == 0  # issued once, not at every re-read
    response = await adapter.post("/gift_card/deactivate", json={"card_number": "synccard00000001",
                                                                 "idempotence_key": "d-1"}, headers=AUTH)
    assert response.status == 200
    assert await resync(services, card_id, deadline()) == 1
    assert (await events(db))[-1][:2] == ("deactivated", "pos_refund")


async def test_concurrent_resyncs_of_one_card_append_each_event_once(make_adapter, sandbox, db):
    adapter = await make_adapter()
    services = adapter.server.app[SERVICES]
    card_id = await ledger_view.make_card(sandbox, "synccard00000002", "100.00")
    for amount in ("1.00", "2.00", "3.00"):
        await ledger_view.shopify_debit(sandbox, card_id, amount)
    appended = await asyncio.gather(*(resync(services, card_id, deadline()) for _ in range(3)))
    assert sum(appended) == 4
    assert [e[:3] for e in await events(db)] == [("issued", "other_app", Decimal("100.0")),
                                                 ("debited", "admin_adjustment", Decimal("1.0")),
                                                 ("debited", "admin_adjustment", Decimal("2.0")),
                                                 ("debited", "admin_adjustment", Decimal("3.0"))]
