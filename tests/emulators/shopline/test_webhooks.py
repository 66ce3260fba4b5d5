"""The SHOPLINE emulator's gift-card webhook (app_memberSystem_giftCard/challenged): on every
change of a card's balance or state, signed with the app secret, the body in minor units."""

from __future__ import annotations

import base64
import hashlib
import hmac

from tests.emulators.shopline.conftest import Store
from tests.served import wait_for
from tests.webhook_receiver import start_receiver

SECRET = "shopline-app-secret-0123456789abcdef"
TOPIC = "app_memberSystem_giftCard/challenged"


def digest(body: bytes) -> bytes:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).digest()


async def subscribe(store: Store, url: str, **extra) -> None:
    await store.control("POST", "webhooks", {"url": url, "secret": SECRET, "retry_delays": [0.05], **extra})


async def test_a_change_elsewhere_is_announced_signed_in_hex_with_minor_units(store: Store, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    await subscribe(store, receiver.url)
    card = await store.seed(balance="50.00", code="webhookcard00001", customer_id="2404721679")
    await store.control("POST", f"cards/{card['id']}/changes", {"delta": "-12.34"}, expect=201)
    await wait_for(lambda: len(receiver.received) == 1, 5)
    (request,) = receiver.received
    headers = request.headers
    assert headers["X-Shopline-Topic"] == TOPIC
    assert headers["X-Shopline-Hmac-Sha256"] == digest(request.body).hex()  # lowercase hex by default
    assert headers["X-Shopline-Shop-Domain"] == "emulator.myshopline.com"
    assert headers["X-Shopline-API-Version"] == "v20260601"
    assert headers["X-Shopline-Shop-Id"] and headers["X-Shopline-Merchant-Id"]
    assert len(headers["X-Shopline-Webhook-Id"]) == 24
    body = request.json
    assert body == {**body, "gift_card_code": "webhookcard00001", "current_balance": 3766, "update_value": 1234,
                    "update_type": "DECREASE", "scene_type": "PURCHASE_PAYMENT", "gift_card_original_value": 5000,
                    "buyer_id": "2404721679"}
    assert isinstance(body["updated_at"], int) and body["updated_at"] > 1_600_000_000_000


async def test_puts_refunds_and_a_disable_are_announced_too(store: Store, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    await subscribe(store, receiver.url)
    card = await store.seed(balance="20.00")
    await store.put_balance(card["id"], "15.00")
    await store.put_balance(card["id"], "15.00")  # no change: no record, no webhook
    await store.control("POST", f"cards/{card['id']}/changes", {"delta": "5.00"}, expect=201)
    await store.ok("POST", f"gift_cards/{card['id']}/disable.json")
    await wait_for(lambda: len(receiver.received) == 3, 5)
    bodies = [r.json for r in receiver.received]
    assert [(b["update_type"], b["scene_type"], b["update_value"], b["current_balance"]) for b in bodies] == [
        ("DECREASE", "PURCHASE_PAYMENT", 500, 1500), ("INCREASE", "RETURN_INCREASE", 500, 2000),
        ("DECREASE", "CARD_DIABLED", 0, 2000)]


async def test_a_checkout_between_a_read_and_a_put_is_announced(store: Store, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    await subscribe(store, receiver.url)
    card = await store.seed(balance="20.00")
    await store.fault(kind="foreign_change", card_id=card["id"], delta="-3.00")
    await store.read(card["id"])
    await wait_for(lambda: len(receiver.received) == 1, 5)
    assert receiver.received[0].json["scene_type"] == "PURCHASE_PAYMENT"


async def test_base64_signature_and_masked_code_on_demand(store: Store, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    await subscribe(store, receiver.url, signature="base64", code="masked")
    card = await store.seed(balance="9.00", code="maskedcard000042")
    await store.control("POST", f"cards/{card['id']}/changes", {"delta": "-1.00"}, expect=201)
    await wait_for(lambda: len(receiver.received) == 1, 5)
    (request,) = receiver.received
    assert request.headers["X-Shopline-Hmac-Sha256"] == base64.b64encode(digest(request.body)).decode()
    assert request.json["gift_card_code"] == "************0042"
    listed = await store.control("GET", "webhooks")
    assert listed["signature"] == "base64" and listed["code"] == "masked" and "secret" not in listed


async def test_a_resend_keeps_the_webhook_id(store: Store, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    receiver.answers = [502]
    await subscribe(store, receiver.url)
    await store.control("POST", "webhooks/faults", {"kind": "duplicate"})
    card = await store.seed(balance="9.00")
    await store.control("POST", f"cards/{card['id']}/changes", {"delta": "-1.00"}, expect=201)
    await wait_for(lambda: len(receiver.received) == 3, 5)  # failed once and retried, plus the duplicate
    assert len({r.headers["X-Shopline-Webhook-Id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1


async def test_off_by_default_and_bad_settings_refused(store: Store):
    card = await store.seed(balance="9.00")
    await store.control("POST", f"cards/{card['id']}/changes", {"delta": "-1.00"}, expect=201)
    assert (await store.control("GET", "webhooks"))["deliveries"] == []
    await store.control("POST", "webhooks", {"signature": "rot13"}, expect=400)
    await store.control("POST", "webhooks", {"code": "half"}, expect=400)
