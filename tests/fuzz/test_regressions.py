"""What the schemathesis run found beyond the input-hygiene classes, each pinned by a test."""

from __future__ import annotations

import uuid

from tests import ledger_view
from tests.conftest import AUTH


async def _post(client, path, body):
    response = await client.post(path, json=body, headers=AUTH)
    return response.status, await response.json()


async def test_psp_answers_never_echo_a_callers_ledger_transaction_id(make_adapter, sandbox):
    """A capture makes no ledger call, yet it answered metadata.ledger_transaction_id = whatever
    the request's metadata said (an int broke the document's string; any value was a forged
    ledger id). The two keys the adapter adds to the metadata are its own on every operation."""
    client = await make_adapter()
    await ledger_view.make_card(sandbox, "regression000001", "100.00")
    forged = {"ledger_transaction_id": 5, "gift_card_last_characters": 7, "order_id": "DEV-1"}
    status, body = await _post(client, "/financial_instruments", {
        "idempotency_key": str(uuid.uuid4()), "metadata": {"number": "regression000001", **forged},
        "arguments": {"amount": 10, "currency": "USD", "payment_method": "gift_card"}})
    assert status == 200, body
    instrument = body[0]["instrument_id"]
    assert body[0]["metadata"]["ledger_transaction_id"].startswith("gid://shopify/GiftCardDebitTransaction/")
    assert body[0]["metadata"]["gift_card_last_characters"] == "0001"

    status, body = await _post(client, f"/financial_instruments/{instrument}/_capture", {
        "idempotency_key": str(uuid.uuid4()), "metadata": forged, "arguments": {"amount": 5, "currency": "USD"}})
    assert status == 200, body
    assert body[0]["metadata"] == {"order_id": "DEV-1", "gift_card_last_characters": "0001"}

    for operation in ("refund", "revoke"):
        status, body = await _post(client, f"/financial_instruments/{instrument}/_{operation}", {
            "idempotency_key": str(uuid.uuid4()), "metadata": forged, "arguments": {"amount": 1, "currency": "USD"}})
        assert status == 200, body
        assert body[0]["metadata"]["ledger_transaction_id"].startswith("gid://shopify/GiftCardCreditTransaction/")
        assert body[0]["metadata"]["gift_card_last_characters"] == "0001"
