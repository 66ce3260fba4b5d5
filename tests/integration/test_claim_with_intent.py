"""A fresh claim records its ledger-write intent in the same statement: the write it hands back
is exactly the row in Postgres, and a losing claim records nothing."""

import dataclasses
import uuid
from decimal import Decimal

from adapter.store import idempotency as records
from adapter.store import writes
from adapter.store.writes import Intent

INTENT = Intent("authorize", code_digest=b"\x01" * 32, shopify_card_id="gid://shopify/GiftCard/7",
                amount=Decimal("12.50"), currency="EUR", instrument_id=uuid.uuid4(),
                context={"metadata": {"order_id": "DEV-1"}, "last4": "4321"})


async def test_the_write_a_winning_claim_returns_is_the_row_it_recorded(db):
    async with db.acquire() as conn:
        record, write = await records.claim_with_intent(conn, "authorize", "k1", b"fp", "owner-a", 20, INTENT)
        stored = await writes.for_idempotency(conn, record.id)
    assert write.counted_now and not stored.counted_now
    assert dataclasses.replace(write, counted_now=False) == stored
    assert stored.attempts == 1 and stored.state == "pending" and stored.may_have_been_sent
    assert record.locked_by == "owner-a" and not record.is_final


async def test_a_losing_claim_records_no_write(db):
    async with db.acquire() as conn:
        first = await records.claim_with_intent(conn, "authorize", "k2", b"fp", "owner-a", 20, INTENT)
        second = await records.claim_with_intent(conn, "authorize", "k2", b"fp", "owner-b", 20, INTENT)
        count = await conn.fetchval("SELECT count(*) FROM ledger_writes")
    assert first is not None and second is None
    assert count == 1
