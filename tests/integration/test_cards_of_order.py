"""LedgerPort.cards_of_order (issue #12's intake): Shopify lists an order's cards through
giftCards(query: "order_id:…"), page by page; the ledgers that can't answer [] without a call."""

from __future__ import annotations

import asyncio

import aiohttp

from adapter.http.keys import SERVICES
from tests import ledger_view
from tests.integration.test_absolute_balance import emulator, make_absolute  # noqa: F401 - fixtures


def deadline() -> float:
    return asyncio.get_running_loop().time() + 5


async def test_shopify_lists_every_card_an_order_sold_and_no_other(make_adapter, sandbox):
    adapter = await make_adapter()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sandbox.base_url}/sandbox/orders", json={
                "line_items": [{"price": "10.00", "gift_card": True, "quantity": 12}, {"price": "3.00"}]}) as answer:
            placed = await answer.json()
    await ledger_view.make_card(sandbox, "notofanyorder001", "5.00")
    ledger = adapter.server.app[SERVICES].ledger
    assert ledger.capabilities.cards_by_order
    before = await ledger_view.calls(sandbox, "giftCards")
    found = await ledger.cards_of_order(order_id=str(placed["order"]["id"]), deadline=deadline())
    assert sorted(card.id for card in found) == sorted(card["id"] for card in placed["gift_cards"])
    assert await ledger_view.calls(sandbox, "giftCards") == before + 2  # 12 cards: two pages of 10
    assert await ledger.cards_of_order(order_id=str(placed["order"]["id"] + 1), deadline=deadline()) == []
    assert await ledger.cards_of_order(order_id="not-an-order", deadline=deadline()) == []


async def test_absolute_ledgers_answer_no_cards_without_a_call(make_absolute, emulator):
    adapter = await make_absolute()
    ledger = adapter.server.app[SERVICES].ledger
    assert not ledger.capabilities.cards_by_order
    assert await ledger.cards_of_order(order_id="123", deadline=deadline()) == []
