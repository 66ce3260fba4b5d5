"""From the ledger to a subscriber: a sandbox card debited by NewStore and in the admin, re-read
by the sync service (which queues each event for Services.feed_subscribers), reaches the
subscriber signed and in order, and reads the same from the pull API."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from adapter.http.keys import SERVICES
from adapter.services.sync import resync
from tests import ledger_view
from tests.conftest import AUTH
from tests.feed.conftest import FAST, queue_empty
from tests.served import wait_for


async def test_a_resynced_card_reaches_the_subscriber_and_the_pull_api(make_adapter, sandbox, subscriber, db):
    adapter = await make_adapter(**FAST, workers_enabled=True, poll_enabled=False,
                                 feed_subscribers=[subscriber.config()])
    services = adapter.server.app[SERVICES]
    assert services.feed_subscribers == ("erp",)
    card_id = await ledger_view.make_card(sandbox, "feedcard00000001", "100.00")
    authorize = {"idempotency_key": "feed-e2e-1", "transactions": [],
                 "arguments": {"amount": 30, "currency": "USD", "payment_method": "gift_card"},
                 "metadata": {"number": "feedcard00000001"}}
    response = await adapter.post("/financial_instruments", json=authorize, headers=AUTH)
    assert response.status == 200, await response.text()
    await ledger_view.shopify_debit(sandbox, card_id, "5.00", note="adjusted in the admin")

    # Our authorize already queued a re-read of its own (the workers run): whichever re-read
    # comes first, each change is appended once.
    await resync(services, card_id, asyncio.get_running_loop().time() + 5)
    await wait_for(lambda: len(subscriber.accepted) >= 3, timeout=10)
    await wait_for(lambda: queue_empty(db), timeout=5)
    bodies = [r.body for r in subscriber.accepted]
    assert [(b["kind"], b["cause"], b["amount"], b["balance_after"], b["operation"]) for b in bodies] == [
        ("issued", "other_app", Decimal("100"), Decimal("100"), None),  # sold elsewhere, first met here
        ("debited", "pos_redemption", Decimal("30"), Decimal("70"), "authorize"),
        ("debited", "admin_adjustment", Decimal("5"), Decimal("65"), None)]
    assert all(b["card"] == {"ledger_id": card_id, "last_characters": "0001"} for b in bodies)

    page = json.loads(await (await adapter.get("/v1/gift_cards/events", headers=AUTH)).read(), parse_float=Decimal)
    assert page["events"] == bodies and page["next_cursor"] == str(bodies[-1]["sequence"])
