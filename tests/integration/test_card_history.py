"""LedgerPort.reread_card on the three ledgers (issue #12): what the mirror re-reads on every
signal, the card with its entries. Ours are told by our marker (Shopify) or by the entry our write recorded (the absolute
ledgers); a change made elsewhere carries the cause the ledger can tell."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from adapter.http.keys import SERVICES
from adapter.ledgers.marker import MARKER_PREFIX
from tests.conftest import AUTH
from tests.integration.test_absolute_balance import (  # noqa: F401 - fixtures
    authorize, card_id_of, emulator, issue, make_absolute, post)


def deadline() -> float:
    return asyncio.get_running_loop().time() + 5


async def test_absolute_ledgers_history_names_our_write_and_the_checkout(make_absolute, emulator, db):
    adapter = await make_absolute()
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.foreign_change_on_read(card_id, "-30.00")
    status, _ = await post(adapter, "/financial_instruments", authorize(number, 20, "a-1"))
    assert status == 200
    ledger = adapter.server.app[SERVICES].ledger
    reading = await ledger.reread_card(card_id=card_id, after=None, deadline=deadline())
    entries = reading.entries
    assert reading.card.balance.amount == await emulator.balance(card_id)
    async with db.acquire() as conn:
        ours = await conn.fetchval("SELECT ledger_transaction_id FROM ledger_writes WHERE operation = 'authorize'")
    checkout = [e for e in entries if e.cause == "online_checkout"]
    assert [e.delta.amount for e in checkout] == [Decimal("-30.00")]
    assert ours in [e.id for e in entries]
    since_checkout = entries[entries.index(checkout[0]):]
    assert sum(e.delta.amount for e in since_checkout) == Decimal("-50.00")  # checkout, our PUT, the repair
    newest = entries[-1].id
    assert (await ledger.reread_card(card_id=card_id, after=newest, deadline=deadline())).entries == []


async def test_shopify_history_carries_our_marker_on_our_writes(make_adapter, sandbox):
    from tests import ledger_view

    adapter = await make_adapter()
    card_id = await ledger_view.make_card(sandbox, "historycard00001", "100.00")
    response = await adapter.post("/financial_instruments", json=authorize("historycard00001", 30, "h-1"), headers=AUTH)
    assert response.status == 200
    reading = await adapter.server.app[SERVICES].ledger.reread_card(card_id=card_id, after=None, deadline=deadline())
    assert reading.card.balance.amount == Decimal("70.0")
    entries = reading.entries
    assert [(e.delta.amount, e.note.startswith(MARKER_PREFIX)) for e in entries] == [(Decimal("-30.0"), True)]


async def test_shopify_reread_from_a_known_entry_asks_a_small_first_page(make_adapter, sandbox):
    """One re-read follows each write: from a known entry it mostly finds one or two new ones, so
    its first page is small (Shopify prices a page by its size and charges for every transaction
    it returns); further pages are full ones."""
    from adapter.shopify.client import REREAD_FIRST_PAGE_SIZE, TRANSACTION_PAGE_SIZE
    from adapter.shopify.pacing import estimated_cost
    from tests import ledger_view

    adapter = await make_adapter()
    ledger = adapter.server.app[SERVICES].ledger
    card_id = await ledger_view.make_card(sandbox, "busycard00000001", "100.00")
    for _ in range(25):
        await ledger_view.shopify_debit(sandbox, card_id, "1.00")
    everything = (await ledger.reread_card(card_id=card_id, after=None, deadline=deadline())).entries
    assert len(everything) == 25
    before = await ledger_view.calls(sandbox, "giftCard")
    newest_two = await ledger.reread_card(card_id=card_id, after=everything[-3].id, deadline=deadline())
    assert [e.id for e in newest_two.entries] == [e.id for e in everything[-2:]]
    assert await ledger_view.calls(sandbox, "giftCard") == before + 1  # the small page held them
    older = await ledger.reread_card(card_id=card_id, after=everything[5].id, deadline=deadline())
    assert [e.id for e in older.entries] == [e.id for e in everything[6:]]  # 19: over two pages
    assert await ledger_view.calls(sandbox, "giftCard") == before + 3
    assert newest_two.card.balance.amount == Decimal("75.0")
    assert estimated_cost("ReadCard", {"first": REREAD_FIRST_PAGE_SIZE}) == 14
    assert estimated_cost("ReadCard", {"first": TRANSACTION_PAGE_SIZE}) == 54
