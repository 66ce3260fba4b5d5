"""SHOPLINE's gift-card webhook into the mirror and the feed (issue #12's intake), end to end: the
emulator sends app_memberSystem_giftCard/challenged, signed, over real HTTP, on every balance
change; the adapter finds the card by its code (full: registry or code filter; masked: every
known card with those last characters) and re-reads it. The code never reaches a log or a table."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal

import aiohttp
import pytest
from pydantic import SecretStr

from adapter.http.keys import WORKERS
from tests.conftest import AUTH
from tests.integration.test_absolute_balance import authorize
from tests.integration.test_no_secrets_leak import _all_column_text
from tests.served import wait_for
from tests.integration.intake import count, events, movements, quiet

SECRET = "shopline-app-secret-" + "9" * 20
TOPIC = "app_memberSystem_giftCard/challenged"


@pytest.fixture
async def store():
    from giftcard_emulators.shopline.server import start_shopline

    running = await start_shopline()
    yield running
    await running.close()


async def control(store, method: str, path: str, body=None, expect: int | None = None):
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"{store.control_url}/{path}", json=body) as response:
            payload = await response.json(content_type=None)
            assert response.status == expect if expect else response.status < 300, payload
            return payload


@pytest.fixture
async def adapter(make_adapter, store):
    """The adapter on SHOPLINE, and the store's webhook subscribed to its /webhooks/shopline."""
    client = await make_adapter(ledger="shopline", shopline_base_url=store.api_url + "/",
                                shopline_access_token=SecretStr(store.config.access_token),
                                shopline_app_secret=SecretStr(SECRET), ledger_currency="USD")
    await control(store, "POST", "webhooks", {"url": str(client.make_url("/webhooks/shopline")), "secret": SECRET,
                                              "retry_delays": [0.05, 0.1, 0.2]})
    return client


async def seed(store, code: str, balance: str) -> str:
    return (await control(store, "POST", "cards", {"code": code, "balance": balance}, expect=201))["id"]


async def change(store, card_id: str, delta: str) -> None:
    await control(store, "POST", f"cards/{card_id}/changes", {"delta": delta}, expect=201)


async def settled(store) -> list[dict]:
    async def done():
        listed = (await control(store, "GET", "webhooks"))["deliveries"]
        return listed if all(d["state"] in ("delivered", "failed", "dropped", "held") for d in listed) else None

    return await wait_for(done, 10)


async def shop_events(db) -> list[tuple]:
    """The events, each with the operation it was recorded for (SHOPLINE orders are not linked)."""
    return await movements(db, "operation")


async def test_a_purchase_payment_reaches_the_feed_once_even_sent_twice(adapter, store, db):
    card_id = await seed(store, "webshopcard00001", "50.00")  # made at the web shop: not known to us
    await control(store, "POST", "webhooks/faults", {"kind": "duplicate"})
    await change(store, card_id, "-12.34")  # a checkout: PURCHASE_PAYMENT, the full code in the body
    delivered = await settled(store)
    assert [d["state"] for d in delivered] == ["delivered", "delivered"]
    assert delivered[0]["webhook_id"] == delivered[1]["webhook_id"]
    await quiet(adapter)
    assert await shop_events(db) == [(card_id, "debited", "online_checkout", Decimal("12.34"), Decimal("37.66"), None)]
    assert await count(db, "webhook_receipts") == 1
    async with db.acquire() as conn:  # found by the code filter, and registered by its code (a digest)
        assert await conn.fetchval("SELECT origin FROM cards WHERE shopify_id = $1", card_id) == "discovered"
    assert (await adapter.server.app[WORKERS].poller.run_once())["events"] == 0


async def test_a_masked_code_rereads_every_known_card_with_its_last_characters(make_adapter, adapter, store, db):
    await control(store, "POST", "webhooks", {"code": "masked", "signature": "base64"})
    mine = await seed(store, "maskedcard000042", "30.00")
    other = await seed(store, "maskedcard000043", "30.00")
    for code in ("maskedcard000042", "maskedcard000043"):
        response = await adapter.post("/gift_card/balance", json={"identifier": {"number": code}}, headers=AUTH)
        assert response.status == 200  # known to us from here on
    await change(store, mine, "-5.00")
    await change(store, other, "2.00")  # RETURN_INCREASE
    await settled(store)
    await quiet(adapter)
    assert sorted(e[:5] for e in await shop_events(db)) == sorted([
        (mine, "debited", "online_checkout", Decimal("5.00"), Decimal("25.00")),
        (other, "credited", "order_refund", Decimal("2.00"), Decimal("32.00"))])
    unknown = await seed(store, "maskedcard009999", "10.00")  # no card of ours ends in 9999
    await change(store, unknown, "-1.00")
    await settled(store)
    await quiet(adapter)
    assert len(await shop_events(db)) == 2


async def test_out_of_order_and_missed_webhooks(adapter, store, db):
    card_id = await seed(store, "ordercard0000001", "100.00")
    await control(store, "POST", "webhooks", {"hold": True})
    await change(store, card_id, "-10.00")
    await change(store, card_id, "-20.00")
    assert (await control(store, "POST", "webhooks/release", {"order": "reverse"}))["released"] == 2
    await settled(store)
    await quiet(adapter)
    assert [e[2:5] for e in await shop_events(db)] == [("online_checkout", Decimal("10.00"), Decimal("90.00")),
                                                  ("online_checkout", Decimal("20.00"), Decimal("70.00"))]
    await control(store, "POST", "webhooks/faults", {"kind": "drop"})
    await change(store, card_id, "-7.00")  # announced to nobody
    assert (await settled(store))[-1]["state"] == "dropped"
    assert (await adapter.server.app[WORKERS].poller.run_once())["events"] == 1
    assert (await shop_events(db))[-1][1:5] == ("debited", "online_checkout", Decimal("7.00"), Decimal("63.00"))


async def test_the_webhook_of_our_own_put_does_not_make_it_foreign(adapter, store, db):
    card_id = await seed(store, "ownputcard000001", "40.00")
    status = await adapter.post("/gift_card/balance", json={"identifier": {"number": "ownputcard000001"}},
                                headers=AUTH)
    assert status.status == 200
    # Our write is slow to read its mark and to verify its PUT (both list the operation records);
    # the webhook announcing the PUT arrives meanwhile, and its re-read must not run before the
    # write is known ours.
    await control(store, "POST", "faults", {"kind": "latency", "operation": "list_operation_records",
                                            "latency_ms": 400, "count": 2})
    response = await adapter.post("/financial_instruments", json=authorize("ownputcard000001", 15, "own-1"),
                                  headers=AUTH)
    assert response.status == 200, await response.text()
    await settled(store)  # SHOPLINE announced our PUT while we were still verifying it
    await quiet(adapter)
    assert await shop_events(db) == [(card_id, "debited", "pos_redemption", Decimal("15"), Decimal("25.00"), "authorize")]


def sign_hex(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_forged_or_re_signed_bodies_are_refused_and_change_nothing(adapter, store, db):
    body = json.dumps({"gift_card_code": "forgedcard000001", "current_balance": 0, "update_value": 100,
                       "update_type": "DECREASE", "scene_type": "PURCHASE_PAYMENT"}).encode()
    base = {"X-Shopline-Topic": TOPIC, "X-Shopline-Webhook-Id": "b54557e48a5fbf7d70bcd043",
            "Content-Type": "application/json"}
    for sent, signature in [(body, sign_hex(body, "someone-elses-secret-0123456789")),
                            (body.replace(b"100", b"999"), sign_hex(body, SECRET)),
                            (body, None), (body, "")]:
        sent_headers = {**base, **AUTH, **({"X-Shopline-Hmac-Sha256": signature} if signature is not None else {})}
        response = await adapter.post("/webhooks/shopline", data=sent, headers=sent_headers)
        assert response.status == 401
        assert (await response.json())["error_code"] == "unauthorized"
    for table in ("webhook_receipts", "intake_queue", "feed_events", "card_sync"):
        assert await count(db, table) == 0, table
    for signature in (sign_hex(body, SECRET).upper(),
                      base64.b64encode(bytes.fromhex(sign_hex(body, SECRET))).decode()):
        response = await adapter.post("/webhooks/shopline", data=body,
                                      headers={**base, "X-Shopline-Hmac-Sha256": signature})
        assert response.status == 200  # hex (any case) or base64
    assert await count(db, "webhook_receipts") == 1  # the second was the same event


async def test_the_code_never_reaches_a_log_or_a_table(adapter, store, db, captured_logs):
    codes = ("leakcheckwebhk01", "leakcheckwebhk02")
    full = await seed(store, codes[0], "20.00")
    await change(store, full, "-2.00")
    await settled(store)
    await control(store, "POST", "webhooks", {"code": "masked"})
    await change(store, full, "-3.00")
    unknown = await seed(store, codes[1], "20.00")
    await change(store, unknown, "-1.00")  # masked, and no known card has its last characters
    await settled(store)
    await quiet(adapter)
    assert len(await shop_events(db)) == 2
    logs, columns = captured_logs(), await _all_column_text(db)
    for code in codes:
        assert code not in logs and code.upper() not in logs
        assert code not in columns
