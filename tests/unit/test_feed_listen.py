"""`giftcard-adapter feed listen` (adapter/feed/listen.py): accepts what verifies, refuses the rest."""

from __future__ import annotations

import io
import time
from decimal import Decimal

from adapter import jsonio
from adapter.feed import listen, signature

SECRET = "listen-test-secret-0123456789abcdefghij"
EVENT = {"sequence": 7, "kind": "debited", "amount": Decimal("12.5"), "currency": "USD", "balance_after": Decimal("37.5"),
         "card": {"ledger_id": "gid://shopify/GiftCard/1", "last_characters": "q34n"}, "cause": "online_checkout",
         "operation": None, "order": "#1001", "occurred_at": "2026-12-03T13:59:56.203184Z"}


async def test_a_signed_event_is_printed_and_a_forged_one_refused(aiohttp_client):
    out = io.StringIO()
    client = await aiohttp_client(listen.subscriber_app([SECRET], out))
    body = jsonio.dumps(EVENT)
    stamp = int(time.time())
    signed = {signature.HEADER: f"t={stamp},v1={signature.compute(SECRET, stamp, body)}"}
    assert (await client.post("/events", data=body, headers=signed)).status == 200
    forged = {signature.HEADER: f"t={stamp},v1={signature.compute('another-secret-0123456789abcdefghij', stamp, body)}"}
    assert (await client.post("/events", data=body, headers=forged)).status == 401
    assert out.getvalue().splitlines() == [
        "#7 debited 12.5 USD card …q34n, balance 37.5 (online_checkout, #1001) at 2026-12-03T13:59:56.203184Z",
        "refused: the signature does not verify"]
