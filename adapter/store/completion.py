"""The last statement of a request whose ledger write landed, in one round trip.

The final answer, the write marked applied, its audit row and the use case's own rows (a card in
the registry, a new instrument, a settled reservation) are one statement, so one transaction and
one round trip instead of BEGIN, four or five statements and COMMIT: on the hot path of every
mutating webhook, round trips to Postgres are most of what the adapter adds to Shopify's latency.

Every part is conditioned on the `finished` CTE, the lease-guarded UPDATE of the idempotency
record: a process whose lease was taken over changes nothing at all, exactly as the rollback of
the multi-statement transaction did. The statement text is assembled from constant fragments
only; every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from adapter.store import audit, cards
from adapter.store.cards import Registration
from adapter.store.idempotency import FINISH_CTE, FinalAnswer, answer_values
from adapter.store.instruments import RESERVATION_COLUMNS


@dataclass(frozen=True, slots=True)
class Movement:
    """The applied write and what its audit row says about it."""

    operation: str
    write_id: str
    shopify_card_id: str | None
    last_characters: str | None
    amount: Decimal | None
    currency: str | None
    ledger_transaction_id: str | None = None
    processed_at: datetime | None = None
    instrument_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class RegisterCard(Registration):
    """A card this request created, added to the code registry."""

    def fragment(self, first: int) -> tuple[str, tuple]:
        p = _numbers(first, cards.INSERT_COUNT)
        return (
            f"""registered AS (
                 INSERT INTO cards ({cards.INSERT_COLUMNS})
                 SELECT {p[0]}::bytea, {p[1]}::bytea, {p[2]}::bytea, {p[3]}::text, {p[4]}::text, {p[5]}::text,
                        {p[6]}::text, {p[7]}::text
                   FROM finished
                 ON CONFLICT (code_digest) DO NOTHING)""",
            self.values(),
        )


@dataclass(frozen=True, slots=True)
class OpenInstrument:
    """The payment instrument an authorization opens."""

    instrument_id: UUID
    code_digest: bytes
    shopify_card_id: str
    last_characters: str
    currency: str
    account_id: str | None
    authorized: Decimal
    code_key_id: bytes | None = None  # the key that made code_digest

    def fragment(self, first: int) -> tuple[str, tuple]:
        p = _numbers(first, 8)
        return (
            f"""opened AS (
                 INSERT INTO instruments (id, code_digest, shopify_card_id, last_characters, currency, account_id,
                                          authorized, code_key_id)
                 SELECT {p[0]}::uuid, {p[1]}::bytea, {p[2]}::text, {p[3]}::text, {p[4]}::text, {p[5]}::text,
                        {p[6]}::numeric, {p[7]}::bytea
                   FROM finished)""",
            (self.instrument_id, self.code_digest, self.shopify_card_id, self.last_characters, self.currency,
             self.account_id, self.authorized, self.code_key_id),
        )


@dataclass(frozen=True, slots=True)
class SettleReservation:
    """A refund or revoke's reserved amount becomes the instrument's total."""

    instrument_id: UUID
    operation: str  # refund | revoke
    amount: Decimal

    def fragment(self, first: int) -> tuple[str, tuple]:
        reserved, total = RESERVATION_COLUMNS[self.operation]
        p = _numbers(first, 2)
        return (
            f"""settled AS (
                 UPDATE instruments SET {reserved} = {reserved} - {p[1]}::numeric, {total} = {total} + {p[1]}::numeric,
                                        updated_at = now()
                  WHERE id = {p[0]}::uuid AND EXISTS (SELECT 1 FROM finished))""",
            (self.instrument_id, self.amount),
        )


UseCaseRows = RegisterCard | OpenInstrument | SettleReservation

# $1-$5 the answer, $6-$14 the movement; a use case's fragment numbers its own from $15.
_BASE = f"""
WITH {FINISH_CTE},
applied AS (
    UPDATE ledger_writes
       SET state = 'applied', code_encrypted = NULL, updated_at = now(),
           shopify_card_id = coalesce($6::text, shopify_card_id),
           ledger_transaction_id = coalesce($11::text, ledger_transaction_id),
           processed_at = coalesce($12::timestamptz, processed_at)
     WHERE write_id = $10::text AND EXISTS (SELECT 1 FROM finished)),
audited AS (
    {audit.INSERT}
    SELECT $14::text, $10::text, $13::uuid, $6::text, $7::text, $8::numeric, $9::text, $11::text, id
      FROM finished)"""
_FIRST_FREE = 15


def _numbers(first: int, count: int) -> list[str]:
    return [f"${n}" for n in range(first, first + count)]


# The re-read of the card that the write changed, queued with the answer (services.intake, which
# works it once the answer is out): in the same statement, so it is as durable as the answer and
# costs no round trip of its own. Its columns are store.intake.enqueue's for Want("card", id).
_QUEUE_REREAD = """
queued AS (
    INSERT INTO intake_queue (source, event_id, kind, ledger_card_id)
    SELECT 'adapter', $10::text, 'card', $6::text FROM finished WHERE $6::text IS NOT NULL
    RETURNING item_id)"""


@dataclass(frozen=True, slots=True)
class Completed:
    stored: bool               # False: the lease was lost, nothing was written
    reread: int | None = None  # the intake item queued with it (queue_reread), if any


async def complete_applied(
    conn, answer: FinalAnswer, movement: Movement, rows: UseCaseRows | None = None, *, queue_reread: bool = False,
) -> Completed:
    """Store the answer with the applied write (and, if asked, queue the re-read of its card)."""
    sql, extra = _BASE, ()
    if rows is not None:
        fragment, extra = rows.fragment(_FIRST_FREE)
        sql = f"{sql},\n{fragment}"
    if queue_reread:
        sql = f"{sql},{_QUEUE_REREAD}"
    row = await conn.fetchrow(
        f"{sql}\nSELECT (SELECT count(*) FROM finished) AS finished"
        + (", (SELECT item_id FROM queued) AS reread" if queue_reread else ""),
        *answer_values(answer), movement.shopify_card_id, movement.last_characters, movement.amount, movement.currency,
        movement.write_id, movement.ledger_transaction_id, movement.processed_at, movement.instrument_id,
        movement.operation, *extra,
    )
    return Completed(row["finished"] == 1, row["reread"] if queue_reread else None)
