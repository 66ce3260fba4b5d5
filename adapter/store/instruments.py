"""Payment instruments and their running totals. Every change runs under a row lock (a
reservation's too, in store/reservations)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from adapter.store import audit
from adapter.store.idempotency import CLAIM_CTE, FinalAnswer, IdempotencyRecord, answer_values, finish_cte

# What may still be captured (Instrument.capturable), for the statements that decide it in SQL.
CAPTURABLE = "authorized - captured - revoked - revoke_reserved"

# What a refund or revoke reserves while its credit is in flight, and the total it then becomes.
RESERVATION_COLUMNS = {"refund": ("refund_reserved", "refunded"), "revoke": ("revoke_reserved", "revoked")}

_COLUMNS = (
    "id, code_digest, shopify_card_id, last_characters, currency, account_id, authorized, captured,"
    " refunded, revoked, refund_reserved, revoke_reserved"
)


@dataclass(frozen=True, slots=True)
class Instrument:
    id: UUID
    code_digest: bytes
    shopify_card_id: str
    last_characters: str
    currency: str
    account_id: str | None
    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    revoked: Decimal
    refund_reserved: Decimal
    revoke_reserved: Decimal

    @property
    def capturable(self) -> Decimal:
        """Authorized and neither captured, revoked nor reserved for a revoke."""
        return self.authorized - self.captured - self.revoked - self.revoke_reserved

    @property
    def refundable(self) -> Decimal:
        return self.captured - self.refunded - self.refund_reserved


def _instrument(row) -> Instrument | None:
    return Instrument(**dict(row)) if row else None


async def lock(conn, instrument_id: UUID) -> Instrument | None:
    """Read and lock for the rest of the transaction: concurrent operations on one instrument
    queue here, so each sees the totals the previous one left."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM instruments WHERE id = $1 FOR UPDATE", instrument_id)
    return _instrument(row)


async def get(conn, instrument_id: UUID) -> Instrument | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM instruments WHERE id = $1", instrument_id)
    return _instrument(row)


async def add_capture(conn, instrument_id: UUID, amount: Decimal) -> None:
    await conn.execute(
        "UPDATE instruments SET captured = captured + $2, updated_at = now() WHERE id = $1", instrument_id, amount
    )


async def release_reservation(conn, instrument_id: UUID, operation: str, amount: Decimal) -> None:
    """Give a reservation back: its credit was declined or never sent. (One that landed becomes
    the total in the statement that stores the answer: completion.SettleReservation.)"""
    reserved = RESERVATION_COLUMNS[operation][0]
    await conn.execute(
        f"UPDATE instruments SET {reserved} = {reserved} - $2, updated_at = now() WHERE id = $1",
        instrument_id, amount,
    )


# ---- capture: the instrument read with the claim, then one statement ------------------------------
# As BEGIN, four statements and COMMIT after its claim, a capture made six round trips where the
# other mutating requests make one. Its instrument's facts come with the claim (ReadInstrument);
# the capture, its audit row and its answer are then one statement.

@dataclass(frozen=True, slots=True)
class InstrumentFacts:
    """What never changes about an instrument: enough to word a capture's answer before it is made."""

    last_characters: str
    currency: str
    shopify_card_id: str


@dataclass(frozen=True, slots=True)
class ReadInstrument:
    """A capture's plan: read the instrument's facts in the claim's own statement."""

    instrument_id: UUID


_CLAIM_AND_READ = f"""WITH {CLAIM_CTE}
SELECT claimed.*, i.last_characters AS instrument_last_characters, i.currency AS instrument_currency,
       i.shopify_card_id AS instrument_shopify_card_id
  FROM claimed LEFT JOIN instruments i ON i.id = $6::uuid"""
_FACTS = ("instrument_last_characters", "instrument_currency", "instrument_shopify_card_id")


async def claim_and_read(conn, operation: str, key: str, fingerprint: bytes, owner: str, lease_seconds: float,
                         read: ReadInstrument) -> tuple[IdempotencyRecord, InstrumentFacts | None] | None:
    """Claim the key and read the instrument in one statement: None when the key is taken, else
    the fresh record and the instrument's facts (None: no such instrument)."""
    row = await conn.fetchrow(_CLAIM_AND_READ, operation, key, fingerprint, owner, lease_seconds, read.instrument_id)
    if row is None:
        return None
    values = dict(row)
    last, currency, card = (values.pop(name) for name in _FACTS)
    return IdempotencyRecord(**values), InstrumentFacts(last, currency, card) if currency is not None else None


class CaptureOutcome:
    CAPTURED = "captured"
    NO_ROOM = "no_room"        # unknown, another currency, or not enough left: nothing changed
    LEASE_LOST = "lease_lost"  # nothing changed


# $1-$5 the answer, $6 the instrument, $7 the amount, $8 the currency, $9-$10 the audit row's card.
# `room` locks the instrument only if it can take the capture (under READ COMMITTED, FOR UPDATE
# waits for a concurrent change to commit and checks the condition again on what it left); the
# answer is stored only on room and the lease, and the capture and its audit row only with it.
_CAPTURE_AND_FINISH = f"""
WITH room AS (
    SELECT id FROM instruments
     WHERE id = $6::uuid AND currency = $8::text
       AND {CAPTURABLE} >= $7::numeric
       FOR UPDATE),
{finish_cte("EXISTS (SELECT 1 FROM room)")},
captured AS (
    UPDATE instruments SET captured = captured + $7::numeric, updated_at = now()
     WHERE id = $6::uuid AND EXISTS (SELECT 1 FROM finished)),
audited AS (
    {audit.INSERT}
    SELECT 'capture', NULL, $6::uuid, $9::text, $10::text, $7::numeric, $8::text, NULL, id FROM finished)
SELECT (SELECT count(*) FROM room) AS room, (SELECT count(*) FROM finished) AS finished"""


async def capture_and_finish(conn, answer: FinalAnswer, instrument_id: UUID, amount: Decimal, currency: str,
                             facts: InstrumentFacts) -> str:
    """Capture `amount`, write its audit row and store `answer`, in one statement; a CaptureOutcome."""
    row = await conn.fetchrow(_CAPTURE_AND_FINISH, *answer_values(answer), instrument_id, amount, currency,
                              facts.shopify_card_id, facts.last_characters)
    if row["finished"] == 1:
        return CaptureOutcome.CAPTURED
    return CaptureOutcome.NO_ROOM if row["room"] == 0 else CaptureOutcome.LEASE_LOST
