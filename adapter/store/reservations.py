"""A refund's or revoke's amount reserved on its instrument, with its ledger-write intent, in
one statement.

Lock the instrument, check the cap, reserve and record the intent: as BEGIN, four statements
and COMMIT this was six round trips before the credit could be sent. Here it is one, with the
idempotency claim in the same statement on the hot path.

Why the cap holds under concurrency: `locked` reads the instrument FOR UPDATE, which under READ
COMMITTED waits for a concurrent reservation to commit and then returns the row as that one
left it; `reserved` then updates the row this statement holds the lock of (re-reading it if the
statement's snapshot saw an older version), so two requests never both see the same room
under the cap. A refusal (unknown instrument, other currency, nothing left) reserves and
records nothing, and the statement says what it saw so the use case can word its decline.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

import asyncpg
import structlog

from adapter.domain.errors import Decline, RetryLater
from adapter.jsonio import RawJson
from adapter.observability.metrics import CAP_GUARD_REFUSALS
from adapter.store import writes
from adapter.store.idempotency import CLAIM_CTE, IdempotencyRecord
from adapter.store.instruments import CAPTURABLE
from adapter.store.writes import Intent, LedgerWrite

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class InstrumentRoom:
    """What the statement saw of the instrument, under its lock."""

    currency: str
    capturable: Decimal
    refundable: Decimal


@dataclass(frozen=True, slots=True)
class Reservation:
    """A refund or revoke to reserve on its instrument before the credit is sent."""

    operation: str  # refund | revoke
    instrument_id: UUID
    amount: Decimal  # as asked: a revoke reserves at most what is still capturable
    currency: str
    metadata: RawJson
    # The decline to answer when nothing was reserved (None: the instrument does not exist).
    refusal: Callable[[InstrumentRoom | None], Decline]


def _statement(claimed: str, first: int) -> str:
    """`claimed` is a CTE named claimed yielding the record's id; parameters from $first on
    are the reservation's: operation, instrument id, amount, currency, metadata, write id."""
    op, instrument, amount, currency, metadata, write_id = (f"${first + n}" for n in range(6))
    return f"""WITH {claimed},
        locked AS (
            SELECT id, code_digest, code_key_id, shopify_card_id, last_characters, currency,
                   {CAPTURABLE} AS capturable,
                   captured - refunded - refund_reserved AS refundable
              FROM instruments
             WHERE id = {instrument}::uuid AND EXISTS (SELECT FROM claimed)
               FOR UPDATE),
        asked AS (
            SELECT locked.*,
                   CASE WHEN {op}::text = 'refund' THEN {amount}::numeric
                        ELSE least({amount}::numeric, capturable) END AS amount
              FROM locked),
        reserved AS (
            UPDATE instruments i
               SET refund_reserved = i.refund_reserved + CASE WHEN {op}::text = 'refund' THEN a.amount ELSE 0 END,
                   revoke_reserved = i.revoke_reserved + CASE WHEN {op}::text = 'revoke' THEN a.amount ELSE 0 END,
                   updated_at = now()
              FROM asked a
             WHERE i.id = a.id AND a.currency = {currency}::text AND a.amount > 0
               AND ({op}::text <> 'refund' OR a.amount <= a.refundable)
            RETURNING a.*),
        recorded AS (
            INSERT INTO ledger_writes ({writes.INSERT_COLUMNS})
            SELECT {write_id}::text, {op}::text, r.code_digest, NULL, r.shopify_card_id, r.amount, r.currency, r.id,
                   jsonb_build_object('metadata_json', {metadata}::text, 'last4', r.last_characters),
                   r.code_key_id, claimed.id, 1, now(), now()
              FROM reserved r, claimed
            RETURNING created_at)
        SELECT claimed.*,
               a.currency AS room_currency, a.capturable AS room_capturable, a.refundable AS room_refundable,
               r.amount AS reserved_amount, r.code_digest AS reserved_code_digest,
               r.code_key_id AS reserved_code_key_id,
               r.shopify_card_id AS reserved_card_id, r.last_characters AS reserved_last4,
               w.created_at AS recorded_at
          FROM claimed LEFT JOIN asked a ON true LEFT JOIN reserved r ON true LEFT JOIN recorded w ON true"""


_CLAIM_AND_RESERVE = _statement(CLAIM_CTE, 6)
_RESERVE_FOR_RECORD = _statement("claimed AS (SELECT id FROM idempotency_keys WHERE id = $1)", 2)

_OUTCOME_COLUMNS = ("room_currency", "room_capturable", "room_refundable", "reserved_amount", "reserved_code_digest",
                    "reserved_code_key_id", "reserved_card_id", "reserved_last4", "recorded_at")


@asynccontextmanager
async def _caps_hold():
    """The instrument's caps are CHECK constraints too (refund_cap, ...): should the statement's
    own guard ever let a reservation past them, Postgres refuses the whole statement (the claim
    included, so nothing is recorded) and the caller is told to retry with the same key, never
    a 500. A chaos run on the absolute-balance ledgers met it once (issue #11 note): counted and
    logged so it can be found, while the cause is looked for."""
    try:
        yield
    except asyncpg.CheckViolationError as error:
        CAP_GUARD_REFUSALS.inc()
        log.error("instrument_cap_refused_reservation", constraint=error.constraint_name)
        raise RetryLater("the instrument changed while the request was checked, retry with the same key") from None


def _parameters(reservation: Reservation, write_id: str) -> tuple:
    return (reservation.operation, reservation.instrument_id, reservation.amount, reservation.currency,
            str(reservation.metadata), write_id)


def _outcome(values: dict, reservation: Reservation, write_id: str,
             record_id: int) -> LedgerWrite | InstrumentRoom | None:
    """The write recorded, else what the instrument had room for (None: no such instrument)."""
    if values["reserved_amount"] is not None:
        return writes.recorded_with_claim(write_id, record_id, values["recorded_at"], Intent(
            reservation.operation, code_digest=values["reserved_code_digest"],
            code_key_id=values["reserved_code_key_id"],
            shopify_card_id=values["reserved_card_id"], amount=values["reserved_amount"],
            currency=reservation.currency, instrument_id=reservation.instrument_id,
            context={"metadata_json": str(reservation.metadata), "last4": values["reserved_last4"]},
        ))
    if values["room_currency"] is None:
        return None
    return InstrumentRoom(values["room_currency"], values["room_capturable"], values["room_refundable"])


async def claim_and_reserve(
    conn, operation: str, key: str, fingerprint: bytes, owner: str, lease_seconds: float, reservation: Reservation,
) -> tuple[IdempotencyRecord, LedgerWrite | InstrumentRoom | None] | None:
    """Claim the key and, when the claim wins, reserve and record the write: None when the key
    is taken, else the fresh record and the reservation's outcome (see _outcome)."""
    write_id = writes.new_write_id()
    async with _caps_hold():
        row = await conn.fetchrow(_CLAIM_AND_RESERVE, operation, key, fingerprint, owner, lease_seconds,
                                  *_parameters(reservation, write_id))
    if row is None:
        return None
    values = dict(row)
    outcome_values = {name: values.pop(name) for name in _OUTCOME_COLUMNS}
    record = IdempotencyRecord(**values)
    return record, _outcome(outcome_values, reservation, write_id, record.id)


async def reserve(conn, record_id: int, reservation: Reservation) -> LedgerWrite:
    """For a record claimed earlier (taken over with no write): reserve and record the write, or
    raise the reservation's refusal."""
    write_id = writes.new_write_id()
    async with _caps_hold():
        row = await conn.fetchrow(_RESERVE_FOR_RECORD, record_id, *_parameters(reservation, write_id))
    outcome = _outcome(dict(row), reservation, write_id, record_id) if row is not None else None
    if isinstance(outcome, LedgerWrite):
        return outcome
    raise reservation.refusal(outcome)
