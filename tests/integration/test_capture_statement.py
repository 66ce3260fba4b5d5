"""A capture is its claim (which reads the instrument) and one statement: the capture, its audit
row and the answer (issue #14). It used to take BEGIN, four statements and COMMIT after the
claim. Only a decline, worded from what the instrument has left, takes that transaction."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapter.store import instruments
from tests.conftest import AUTH
from tests.integration.test_payments import authorized, call, psp


@pytest.fixture
def locks(monkeypatch):
    """The instrument locks the fallback transaction takes."""
    taken = []
    real = instruments.lock

    async def lock(conn, instrument_id):
        taken.append(instrument_id)
        return await real(conn, instrument_id)

    monkeypatch.setattr(instruments, "lock", lock)
    return taken


async def test_a_capture_with_room_is_one_statement_after_its_claim(adapter, sandbox, db, locks):
    instrument = await authorized(adapter, sandbox, amount=30)
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(12, "cap-1"))
    assert status == 200, body
    assert (body[0]["reason"], body[0]["capture_amount"], body[0]["refund_amount"]) == ("capture", -12, 12)
    assert body[0]["metadata"]["gift_card_last_characters"] == "0001"
    assert locks == []  # no fallback transaction
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT captured FROM instruments WHERE id = $1::uuid", instrument) == Decimal(12)
        audit = await conn.fetchrow("SELECT operation, amount, currency, last_characters, shopify_card_id, "
                                    "idempotency_key_id FROM audit_log WHERE operation = 'capture'")
        record = await conn.fetchrow("SELECT id, state, response_body FROM idempotency_keys WHERE operation = 'capture'")
    assert (audit["operation"], audit["amount"], audit["currency"], audit["last_characters"]) == \
        ("capture", Decimal(12), "USD", "0001")
    assert audit["shopify_card_id"].startswith("gid://shopify/GiftCard/")
    assert audit["idempotency_key_id"] == record["id"] and record["state"] == "final"
    # The replay is the stored answer, byte for byte.
    replay = await adapter.post(f"/financial_instruments/{instrument}/_capture", json=psp(12, "cap-1"), headers=AUTH)
    assert replay.headers["Idempotent-Replayed"] == "true" and await replay.read() == bytes(record["response_body"])


async def test_a_capture_over_what_is_left_changes_nothing_and_is_declined_as_before(adapter, sandbox, db, locks):
    instrument = await authorized(adapter, sandbox, amount=30)
    assert (await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(25, "cap-1")))[0] == 200
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(6, "cap-2"))
    assert status == 400 and body["message"] == "capture exceeds what is left to capture (5.00 USD available)"
    assert [str(i) for i in locks] == [instrument]  # the decline's transaction
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(5, "cap-3", currency="EUR"))
    assert status == 400 and body["message"] == "currency does not match the instrument's currency"
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT captured FROM instruments WHERE id = $1::uuid", instrument) == Decimal(25)
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE operation = 'capture'") == 1


async def test_a_capture_of_an_unknown_instrument_is_not_found(adapter, locks):
    status, body, _ = await call(adapter, "/financial_instruments/5f0c6a4e-0000-4000-8000-000000000000/_capture",
                                 psp(5, "cap-x"))
    assert status == 404 and body["message"] == "unknown instrument"
