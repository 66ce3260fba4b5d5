"""A refund's or revoke's reservation and its write intent, recorded by the claim's own statement
(store/reservations): the write handed back is exactly the row in Postgres, a refusal reserves
and records nothing and says what the instrument had room for, and a losing claim locks and
changes nothing."""

import asyncio
import dataclasses
import uuid
from decimal import Decimal

import pytest

from adapter.domain.errors import Decline
from adapter.jsonio import RawJson
from adapter.store import idempotency as records
from adapter.store import writes
from adapter.store.reservations import InstrumentRoom, Reservation, claim_and_reserve, reserve


class Refused(Decline):
    def __init__(self, room):
        super().__init__("refused")
        self.room = room


def reservation(operation: str, instrument_id, amount: str, currency: str = "USD") -> Reservation:
    return Reservation(operation, instrument_id, Decimal(amount), currency, RawJson('{"order_id":"DEV-1"}'), refusal=Refused)


async def instrument(conn, *, authorized: str = "10", captured: str = "0") -> uuid.UUID:
    instrument_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO instruments (id, code_digest, shopify_card_id, last_characters, currency, authorized, captured)
           VALUES ($1, $2, 'gid://shopify/GiftCard/5', '0005', 'USD', $3, $4)""",
        instrument_id, b"\x05" * 32, Decimal(authorized), Decimal(captured),
    )
    return instrument_id


async def totals(conn, instrument_id) -> tuple:
    row = await conn.fetchrow("SELECT refund_reserved, revoke_reserved FROM instruments WHERE id = $1", instrument_id)
    return row["refund_reserved"], row["revoke_reserved"]


async def test_a_winning_claim_reserves_and_hands_back_the_write_it_recorded(db):
    async with db.acquire() as conn:
        instrument_id = await instrument(conn, captured="6")
        record, write = await claim_and_reserve(conn, "refund", "k1", b"fp", "owner-a", 20,
                                                reservation("refund", instrument_id, "4"))
        stored = await writes.for_idempotency(conn, record.id)
        assert await totals(conn, instrument_id) == (Decimal(4), Decimal(0))
    assert dataclasses.replace(write, counted_now=False) == stored
    assert (stored.operation, stored.amount, stored.shopify_card_id, stored.attempts) == (
        "refund", Decimal(4), "gid://shopify/GiftCard/5", 1)
    assert stored.context == {"metadata_json": '{"order_id":"DEV-1"}', "last4": "0005"}
    assert record.locked_by == "owner-a" and not record.is_final


async def test_a_revoke_reserves_at_most_what_is_still_capturable(db):
    async with db.acquire() as conn:
        instrument_id = await instrument(conn, authorized="10", captured="7")
        _, write = await claim_and_reserve(conn, "revoke", "k2", b"fp", "owner-a", 20,
                                           reservation("revoke", instrument_id, "5"))
        assert await totals(conn, instrument_id) == (Decimal(0), Decimal(3))
    assert write.amount == Decimal(3)


@pytest.mark.parametrize(("operation", "amount", "currency", "captured", "room"), [
    ("refund", "6.01", "USD", "6", InstrumentRoom("USD", Decimal(4), Decimal(6))),  # over the refund cap
    ("revoke", "1", "USD", "10", InstrumentRoom("USD", Decimal(0), Decimal(10))),   # nothing capturable
    ("refund", "1", "EUR", "6", InstrumentRoom("USD", Decimal(4), Decimal(6))),     # other currency
])
async def test_a_refusal_reserves_nothing_and_says_what_there_was_room_for(db, operation, amount, currency, captured,
                                                                           room):
    async with db.acquire() as conn:
        instrument_id = await instrument(conn, authorized="10", captured=captured)
        record, outcome = await claim_and_reserve(conn, operation, "k3", b"fp", "owner-a", 20,
                                                  reservation(operation, instrument_id, amount, currency))
        count = await conn.fetchval("SELECT count(*) FROM ledger_writes")
        assert await totals(conn, instrument_id) == (Decimal(0), Decimal(0))
    assert outcome == room and count == 0
    assert not record.is_final  # the coordinator stores the decline next


async def test_an_unknown_instrument_is_no_room_at_all(db):
    async with db.acquire() as conn:
        record, outcome = await claim_and_reserve(conn, "refund", "k4", b"fp", "owner-a", 20,
                                                  reservation("refund", uuid.uuid4(), "1"))
    assert record is not None and outcome is None


async def test_a_losing_claim_reserves_nothing(db):
    async with db.acquire() as conn:
        instrument_id = await instrument(conn, captured="6")
        first = await claim_and_reserve(conn, "refund", "k5", b"fp", "owner-a", 20,
                                        reservation("refund", instrument_id, "1"))
        second = await claim_and_reserve(conn, "refund", "k5", b"fp", "owner-b", 20,
                                         reservation("refund", instrument_id, "1"))
        assert await totals(conn, instrument_id) == (Decimal(1), Decimal(0))
    assert first is not None and second is None


async def test_a_record_claimed_earlier_reserves_or_raises_its_refusal(db):
    async with db.acquire() as conn:
        instrument_id = await instrument(conn, captured="6")
        record = await records.claim(conn, "refund", "k6", b"fp", "owner-a", 20)
        write = await reserve(conn, record.id, reservation("refund", instrument_id, "5"))
        assert dataclasses.replace(write, counted_now=False) == await writes.for_idempotency(conn, record.id)
        with pytest.raises(Refused) as refused:
            await reserve(conn, record.id, reservation("refund", instrument_id, "2"))
        assert await totals(conn, instrument_id) == (Decimal(5), Decimal(0))
    assert refused.value.room == InstrumentRoom("USD", Decimal(4), Decimal(1))


async def test_concurrent_reservations_never_exceed_the_cap(db):
    async with db.acquire() as conn:
        instrument_id = await instrument(conn, captured="10")

    async def one(index: int):
        async with db.acquire() as conn:
            return await claim_and_reserve(conn, "refund", f"race-{index}", b"fp", "owner-a", 20,
                                           reservation("refund", instrument_id, "3"))

    outcomes = [outcome for _, outcome in await asyncio.gather(*(one(i) for i in range(12)))]
    reserved = [o for o in outcomes if isinstance(o, writes.LedgerWrite)]
    async with db.acquire() as conn:
        assert await totals(conn, instrument_id) == (Decimal(9), Decimal(0))
    assert len(reserved) == 3
