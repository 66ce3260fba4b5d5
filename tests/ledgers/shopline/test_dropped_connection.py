"""A connection dropped after a write was sent (the emulator's `lose_response`: applied, then the
socket dies without an answer). ledgers.md §3.2: aiohttp 3.14 would send a PUT again by itself;
we stop it (adapter.ledgers.rest._send_once), and these tests count what reached the store.

If a future aiohttp resends past that guard, `calls("update_gift_card")` is 2 here and these
tests fail; `test_the_premise` fails instead if aiohttp stops resending on its own (then the guard
may go, and this note with it)."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from adapter.domain.money import Money
from adapter.ports import LedgerOutcomeUnknown
from adapter.shopline.client import ShoplineClient, balance_body
from tests.ledgers.shopline.conftest import TOKEN, deadline


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


async def test_a_put_whose_connection_drops_is_sent_once_and_unknown(shop, client):
    card = shop.seed(balance="10.00")
    shop.fault(kind="lose_response", operation="update_gift_card")
    with pytest.raises(LedgerOutcomeUnknown, match="connection lost after sending"):
        await client.set_balance(card_id=card.id, balance=usd("4.00"), deadline=deadline())
    assert shop.calls("update_gift_card") == 1
    assert shop.card(card.id).balance == Decimal("4.00")  # it did land: for the protocol to find out


async def test_a_put_on_a_pooled_connection_that_drops_is_sent_once_and_unknown(shop):
    reused = []

    async def on_reuse(_session, _context, _params):
        reused.append(True)

    tracing = aiohttp.TraceConfig()
    tracing.on_connection_reuseconn.append(on_reuse)
    async with aiohttp.ClientSession(trace_configs=[tracing]) as session:
        client = ShoplineClient(session, base_url=shop.api_url(), access_token=TOKEN, currency="USD")
        card = shop.seed(balance="10.00")
        await client.get_card(card_id=card.id, deadline=deadline())  # leaves a kept-alive connection
        shop.fault(kind="lose_response", operation="update_gift_card")
        with pytest.raises(LedgerOutcomeUnknown):
            await client.set_balance(card_id=card.id, balance=usd("4.00"), deadline=deadline())
    assert reused == [True]  # the PUT went out on the pooled connection
    assert shop.calls("update_gift_card") == 1


async def test_the_premise_a_plain_session_resends_the_lost_put(shop, session):
    """Without the guard, the same fault makes aiohttp send the PUT twice, and the second copy's
    answer is all its caller sees."""
    card = shop.seed(balance="10.00")
    shop.fault(kind="lose_response", operation="update_gift_card")
    async with session.put(f"{shop.api_url()}/gift_cards/{card.id}.json", json=balance_body("4.00"),
                           headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 200
    assert shop.calls("update_gift_card") == 2


async def test_a_create_or_disable_whose_connection_drops_is_unknown(shop, client):
    shop.fault(kind="lose_response", operation="create_gift_card")
    with pytest.raises(LedgerOutcomeUnknown):
        await client.create_card(code="lostanswer12345", amount=usd("5.00"), note="write:w9", deadline=deadline())
    assert shop.calls("create_gift_card") == 1
    found = await client.find_created(code="lostanswer12345", note="write:w9", deadline=deadline())
    assert found is not None  # how the protocol settles it
    shop.fault(kind="lose_response", operation="disable_gift_card")
    with pytest.raises(LedgerOutcomeUnknown):
        await client.deactivate(card_id=found.id, deadline=deadline())
    assert shop.calls("disable_gift_card") == 1


async def test_a_read_whose_connection_drops_is_simply_read_again(shop, client):
    card = shop.seed()
    shop.fault(kind="lose_response", operation="get_gift_card")
    assert (await client.get_card(card_id=card.id, deadline=deadline())) is not None
    assert shop.calls("get_gift_card") == 2
