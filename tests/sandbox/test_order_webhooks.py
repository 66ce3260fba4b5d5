"""The sandbox's orders and the order webhooks Shopify sends about them (spec §12): signed,
at least once, and breakable on purpose (a duplicate, out of order, a dropped one)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal

from tests.sandbox.conftest import Shop
from tests.served import wait_for
from tests.webhook_receiver import start_receiver

SECRET = "shpss_" + "a" * 32

CARDS_OF_ORDER = """query CardsOfOrder($query: String!) {
  giftCards(first: 10, query: $query) { nodes { id lastCharacters source: note order { id } balance { amount } } }
}"""


def signature(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def subscribe(shop: Shop, url: str, **extra) -> None:
    await shop.control("POST", "/sandbox/webhooks", {"url": url, "secret": SECRET, "retry_delays": [0.05, 0.05],
                                                     **extra})


async def deliveries(shop: Shop) -> list[dict]:
    return (await shop.control("GET", "/sandbox/webhooks"))["deliveries"]


async def settled(shop: Shop) -> list[dict]:
    async def done():
        listed = await deliveries(shop)
        return listed if all(d["state"] in ("delivered", "failed", "dropped", "held") for d in listed) else None

    return await wait_for(done, 5)


async def test_an_order_paid_with_a_gift_card_debits_it_and_is_announced_signed(shop: Shop, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    await subscribe(shop, receiver.url)
    card = await shop.seed(amount="100.00")
    placed = await shop.control("POST", "/sandbox/orders", {
        "line_items": [{"title": "Shirt", "price": "30.00"}],
        "gift_card_payments": [{"card_id": card["id"], "amount": "20.00"}]}, expect=201)
    order = placed["order"]
    assert order["payment_gateway_names"] == ["gift_card", "manual"]
    state = await shop.state_card(card["id"])
    assert state["balance"] == "80.0" and state["transactions"][-1]["note"] is None  # a checkout: no note of ours

    await wait_for(lambda: len(receiver.received) == 2, 5)
    transaction, paid = receiver.received
    assert [transaction.topic, paid.topic] == ["order_transactions/create", "orders/paid"]
    for request in receiver.received:
        assert request.headers["X-Shopify-Hmac-Sha256"] == signature(request.body)
        assert request.headers["X-Shopify-Shop-Domain"] == "sandbox.myshopify.com"
        assert request.headers["X-Shopify-API-Version"] == "2026-10"
        assert request.headers["X-Shopify-Triggered-At"].endswith("Z")
        assert request.headers["X-Shopify-Webhook-Id"] and request.headers["X-Shopify-Event-Id"]
    body = transaction.json
    assert body["gateway"] == "gift_card" and body["kind"] == "sale" and body["amount"] == "20.00"
    assert f"gid://shopify/GiftCard/{body['receipt']['gift_card_id']}" == card["id"]
    assert body["receipt"]["gift_card_last_characters"] == card["lastCharacters"]
    assert paid.json["id"] == order["id"] and paid.json["financial_status"] == "paid"


async def test_a_sold_gift_card_is_linked_to_its_order_and_found_by_order_id(shop: Shop, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    await subscribe(shop, receiver.url)
    await shop.seed(amount="5.00")  # a card of no order
    placed = await shop.control("POST", "/sandbox/orders", {
        "line_items": [{"title": "Gift Card", "price": "50.00", "gift_card": True, "quantity": 2}]}, expect=201)
    order_id = placed["order"]["id"]
    assert [item["gift_card"] for item in placed["order"]["line_items"]] == [True]
    sold = {card["id"] for card in placed["gift_cards"]}
    assert len(sold) == 2

    found = (await shop.gql(CARDS_OF_ORDER, {"query": f"order_id:{order_id}"}))
    assert "search" not in found.get("extensions", {}) or not found["extensions"]["search"][0].get("warnings")
    nodes = found["data"]["giftCards"]["nodes"]
    assert {n["id"] for n in nodes} == sold
    assert {n["order"]["id"] for n in nodes} == {f"gid://shopify/Order/{order_id}"}
    assert (await shop.gql(CARDS_OF_ORDER, {"query": f"order_id:{order_id + 1}"}))["data"]["giftCards"]["nodes"] == []
    await wait_for(lambda: receiver.topics() == ["orders/paid"], 5)


async def test_refund_and_cancel_give_gift_card_payments_back_and_announce_it(shop: Shop, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    await subscribe(shop, receiver.url)
    card = await shop.seed(amount="100.00")
    placed = await shop.control("POST", "/sandbox/orders", {
        "line_items": [{"title": "Shirt", "price": "40.00"}, {"title": "Gift Card", "price": "10.00", "gift_card": True}],
        "gift_card_payments": [{"card_id": card["id"], "amount": "50.00"}]}, expect=201)
    order_id = placed["order"]["id"]
    refund = await shop.control("POST", f"/sandbox/orders/{order_id}/refunds", {"amount": "15.00"}, expect=201)
    assert refund["refund"]["transactions"][0]["kind"] == "refund"
    assert (await shop.state_card(card["id"]))["balance"] == "65.0"
    await shop.control("POST", f"/sandbox/orders/{order_id}/cancel", {})
    assert (await shop.state_card(card["id"]))["balance"] == "100.0"
    assert (await shop.state_card(placed["gift_cards"][0]["id"]))["enabled"] is False  # the sold card: choice

    expected = ["order_transactions/create", "orders/paid", "order_transactions/create", "refunds/create",
                "order_transactions/create", "refunds/create", "orders/cancelled"]
    await wait_for(lambda: receiver.topics() == expected, 5)
    cancelled = receiver.received[-1].json
    assert cancelled["cancelled_at"] and len(cancelled["refunds"]) == 2
    refunded = [t for r in cancelled["refunds"] for t in r["transactions"]]
    assert sum(Decimal(t["amount"]) for t in refunded) == Decimal("50.00")


async def test_an_order_the_card_cannot_pay_changes_nothing(shop: Shop, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    await subscribe(shop, receiver.url)
    card = await shop.seed(amount="10.00")
    refused = await shop.control("POST", "/sandbox/orders", {
        "line_items": [{"price": "30.00"}], "gift_card_payments": [{"card_id": card["id"], "amount": "20.00"}]},
        expect=400)
    assert "sufficient funds" in refused["error"]
    assert (await shop.state_card(card["id"]))["transactions"] == []
    assert await deliveries(shop) == []


async def test_webhooks_are_off_until_subscribed(shop: Shop):
    card = await shop.seed(amount="10.00")
    await shop.control("POST", "/sandbox/orders", {
        "line_items": [{"price": "5.00"}], "gift_card_payments": [{"card_id": card["id"], "amount": "5.00"}]},
        expect=201)
    assert await deliveries(shop) == []
    listed = await shop.control("GET", "/sandbox/webhooks")
    assert listed["url"] is None and listed["secret_set"] is False and "secret" not in listed


async def test_at_least_once_a_failed_delivery_is_retried_with_its_webhook_id(shop: Shop, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    receiver.answers = [500, 503]
    await subscribe(shop, receiver.url)
    card = await shop.seed(amount="10.00")
    await shop.control("POST", "/sandbox/orders", {"line_items": [{"price": "5.00"}]}, expect=201)
    (delivery,) = await settled(shop)
    assert delivery["state"] == "delivered" and delivery["answers"] == [500, 503, 200]
    assert len({r.headers["X-Shopify-Webhook-Id"] for r in receiver.received}) == 1
    assert card  # the order paid no gift card: only orders/paid


async def test_duplicates_drops_and_out_of_order_on_demand(shop: Shop, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    await subscribe(shop, receiver.url)
    await shop.control("POST", "/sandbox/webhooks/faults", {"kind": "duplicate", "topic": "orders/paid"})
    await shop.control("POST", "/sandbox/orders", {"line_items": [{"price": "1.00"}]}, expect=201)
    await settled(shop)
    first, again = receiver.received
    # A duplicate event: the same X-Shopify-Event-Id in a new delivery (a new webhook id).
    assert first.headers["X-Shopify-Event-Id"] == again.headers["X-Shopify-Event-Id"]
    assert first.headers["X-Shopify-Webhook-Id"] != again.headers["X-Shopify-Webhook-Id"]
    assert first.body == again.body

    await shop.control("POST", "/sandbox/webhooks/faults", {"kind": "drop"})
    await shop.control("POST", "/sandbox/orders", {"line_items": [{"price": "2.00"}]}, expect=201)
    assert (await settled(shop))[-1]["state"] == "dropped"

    await shop.control("POST", "/sandbox/webhooks", {"hold": True})
    for price in ("3.00", "4.00"):
        await shop.control("POST", "/sandbox/orders", {"line_items": [{"price": price}]}, expect=201)
    assert [d["state"] for d in await deliveries(shop)][-2:] == ["held", "held"]
    assert (await shop.control("POST", "/sandbox/webhooks/release", {"order": "reverse"}))["released"] == 2
    await wait_for(lambda: len(receiver.received) == 4, 5)
    assert [r.json["total_price"] for r in receiver.received] == ["1.00", "1.00", "4.00", "3.00"]

    number = (await deliveries(shop))[0]["number"]
    resent = await shop.control("POST", f"/sandbox/webhooks/{number}/resend")
    assert resent["duplicate_of"] == number
    await wait_for(lambda: len(receiver.received) == 5, 5)
    assert receiver.received[-1].headers["X-Shopify-Event-Id"] == first.headers["X-Shopify-Event-Id"]


async def test_bad_webhook_settings_are_refused(shop: Shop):
    await shop.control("POST", "/sandbox/webhooks", {"url": "ftp://x"}, expect=400)
    await shop.control("POST", "/sandbox/webhooks", {"colour": "red"}, expect=400)
    await shop.control("POST", "/sandbox/webhooks/faults", {"kind": "explode"}, expect=400)
    await shop.control("POST", "/sandbox/webhooks/99/resend", expect=400)
