"""The one-statement completion: a request whose lease was taken over while its ledger write was
in flight stores nothing at all (no answer, no audit row, no registry entry, no instrument
totals), and the write stays for its new owner to settle. On each ledger."""

import asyncio
from decimal import Decimal

from tests.conftest import AUTH
from tests.integration.test_giftcard_endpoints import activate_body
from tests.integration.test_payments import authorized, call, psp


async def _take_over_while_held(db, ledger, request: asyncio.Task, operation: str) -> None:
    """Wait until the request's write is held by the ledger, then hand its lease to another
    replica, as a takeover after an expired lease would."""
    await ledger.wait_held()
    async with db.acquire() as conn:
        taken = await conn.execute(
            "UPDATE idempotency_keys SET locked_by = 'other-replica' WHERE operation = $1 AND state = 'open'", operation
        )
    assert taken == "UPDATE 1"
    await ledger.release_held()
    response = await request
    assert response.status == 503
    assert (await response.json())["error_code"] == "retry_error"


async def test_a_create_whose_lease_was_taken_over_stores_nothing(adapter, ledger, db):
    await ledger.add_fault("hold", "create")
    request = asyncio.create_task(
        adapter.post("/gift_card/activate", json=activate_body("takenover0000001", key="taken"), headers=AUTH)
    )
    await _take_over_while_held(db, ledger, request, "activate")

    async with db.acquire() as conn:
        record = await conn.fetchrow("SELECT state, locked_by, response_body FROM idempotency_keys")
        write_state = await conn.fetchval("SELECT state FROM ledger_writes")
        audit_rows = await conn.fetchval("SELECT count(*) FROM audit_log")
        registered = await conn.fetchval("SELECT count(*) FROM cards")
    assert dict(record) == {"state": "open", "locked_by": "other-replica", "response_body": None}
    assert write_state == "pending"  # still ours to settle: the new owner finds the card by its marker
    assert audit_rows == 0 and registered == 0
    assert len(await ledger.cards()) == 1


async def test_a_refund_whose_lease_was_taken_over_leaves_the_reservation_for_its_new_owner(adapter, ledger, db):
    instrument = await authorized(adapter, ledger, code="takenrefund00001", amount=30)
    status, _, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(30, "cap-taken"))
    assert status == 200
    await ledger.add_fault("hold", "credit")
    request = asyncio.create_task(
        adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(10, "refund-taken"), headers=AUTH)
    )
    await _take_over_while_held(db, ledger, request, "refund")

    async with db.acquire() as conn:
        totals = await conn.fetchrow("SELECT refunded, refund_reserved FROM instruments")
        refund_audits = await conn.fetchval("SELECT count(*) FROM audit_log WHERE operation = 'refund'")
        write_state = await conn.fetchval("SELECT state FROM ledger_writes WHERE operation = 'refund'")
    assert (totals["refunded"], totals["refund_reserved"]) == (Decimal(0), Decimal(10))
    assert refund_audits == 0
    assert write_state == "pending"


async def test_an_applied_authorization_opens_its_instrument_with_its_audit_row(adapter, ledger, db):
    instrument = await authorized(adapter, ledger, code="completed0009876", amount=30)
    async with db.acquire() as conn:
        opened = await conn.fetchrow("SELECT id::text, authorized, last_characters, currency FROM instruments")
        audit = await conn.fetchrow(
            "SELECT operation, amount, instrument_id::text, last_characters, ledger_transaction_id, idempotency_key_id"
            " FROM audit_log")
        write = await conn.fetchrow("SELECT state, ledger_transaction_id, processed_at FROM ledger_writes")
        record_id = await conn.fetchval("SELECT id FROM idempotency_keys WHERE state = 'final'")
    assert dict(opened) == {"id": instrument, "authorized": Decimal(30), "last_characters": "9876", "currency": "USD"}
    assert audit["operation"] == "authorize" and audit["amount"] == Decimal(30)
    assert audit["instrument_id"] == instrument and audit["last_characters"] == "9876"
    assert audit["ledger_transaction_id"] == write["ledger_transaction_id"] is not None
    assert audit["idempotency_key_id"] == record_id
    assert write["state"] == "applied" and write["processed_at"] is not None
    [transaction] = (await ledger.card_by_code("completed0009876"))["transactions"]
    assert write["ledger_transaction_id"] == transaction["id"] and transaction["amount"] == Decimal(-30)
