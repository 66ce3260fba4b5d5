"""SQL for idempotency records: claim, read, take over, finish, release."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from adapter.store import writes
from adapter.store.writes import Intent, LedgerWrite, RegisteredCardIntent

_COLUMNS = (
    "id, operation, key, fingerprint, state, locked_by, locked_until, response_status,"
    " response_body, response_encrypted, created_at, locked_until > now() AS lease_alive"
)


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    id: int
    operation: str
    key: str
    fingerprint: bytes
    state: str
    locked_by: str | None
    locked_until: datetime | None
    response_status: int | None
    response_body: bytes | None
    response_encrypted: bool
    created_at: datetime
    lease_alive: bool

    @property
    def is_final(self) -> bool:
        return self.state == "final"


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """A request's final answer as stored, with the lease it must still hold to store it."""

    record_id: int
    owner: str
    status: int
    body: bytes  # encrypted when `encrypted`
    encrypted: bool


# The one arbitrated insert, as a CTE named claimed ($1-$5: operation, key, fingerprint, owner,
# lease seconds): a statement that gets its row owns the key, and can do more in the same round trip.
CLAIM_CTE = f"""claimed AS (
    INSERT INTO idempotency_keys (operation, key, fingerprint, locked_by, locked_until)
    VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
    ON CONFLICT (operation, key) DO NOTHING
    RETURNING {_COLUMNS})"""


# Storing the final answer, as a CTE named finished ($1-$5: record id, owner, status, body,
# encrypted). Guarded by the lease owner, so a process whose lease was taken over cannot
# overwrite the answer the new owner is producing; a statement conditions its other parts on it.
# `condition`: a further SQL condition the answer is stored on (e.g. another CTE's success).
def finish_cte(condition: str = "TRUE") -> str:
    return f"""finished AS (
    UPDATE idempotency_keys
       SET state = 'final', response_status = $3, response_body = $4, response_encrypted = $5,
           locked_by = NULL, locked_until = NULL, completed_at = now(), updated_at = now()
     WHERE id = $1 AND state = 'open' AND locked_by = $2 AND ({condition})
    RETURNING id)"""


FINISH_CTE = finish_cte()


def _record(row: asyncpg.Record | None) -> IdempotencyRecord | None:
    return IdempotencyRecord(**dict(row)) if row else None


async def fetch(conn, operation: str, key: str) -> IdempotencyRecord | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM idempotency_keys WHERE operation = $1 AND key = $2", operation, key
    )
    return _record(row)


async def claim(
    conn, operation: str, key: str, fingerprint: bytes, owner: str, lease_seconds: float
) -> IdempotencyRecord | None:
    """The one arbitrated insert: the caller that gets a row back owns the key."""
    row = await conn.fetchrow(f"WITH {CLAIM_CTE} SELECT * FROM claimed", operation, key, fingerprint, owner,
                              lease_seconds)
    return _record(row)


async def claim_with_intent(
    conn, operation: str, key: str, fingerprint: bytes, owner: str, lease_seconds: float,
    intent: Intent | RegisteredCardIntent,
) -> tuple[IdempotencyRecord, LedgerWrite | None] | None:
    """claim(), and when it wins, the ledger-write intent with its first attempt counted, in the
    same statement: one round trip and one commit before the Shopify call instead of two.

    A RegisteredCardIntent takes its card id from the registry; when the card is not registered
    the write is None, or (even_unregistered) recorded without a card id: either way the use case
    then finds the card by a ledger search."""
    write_id = writes.new_write_id()
    even_unregistered = False
    if isinstance(intent, RegisteredCardIntent):
        card_digests, even_unregistered, intent = intent.code_digests, intent.even_unregistered, intent.intent
    else:
        card_digests = None
    row = await conn.fetchrow(
        f"""WITH {CLAIM_CTE},
            registered AS (
                SELECT shopify_id FROM cards
                 WHERE $16::bytea[] IS NOT NULL AND code_digest = ANY($16::bytea[]) LIMIT 1),
            recorded AS (
                INSERT INTO ledger_writes ({writes.INSERT_COLUMNS})
                SELECT $6, $7, $8::bytea, $9::bytea, coalesce($10::text, registered.shopify_id), $11::numeric,
                       $12::text, $13::uuid, $14::jsonb, $15::bytea, claimed.id, 1, now(), now()
                  FROM claimed LEFT JOIN registered ON true
                 WHERE $16::bytea[] IS NULL OR registered.shopify_id IS NOT NULL OR $17::boolean)
            SELECT claimed.*, (SELECT shopify_id FROM registered) AS registered_card_id FROM claimed""",
        operation, key, fingerprint, owner, lease_seconds, *intent.values(write_id), card_digests, even_unregistered,
    )
    if row is None:
        return None
    values = dict(row)
    registered_card_id = values.pop("registered_card_id")
    record = IdempotencyRecord(**values)
    if card_digests is not None:
        if registered_card_id is None and not even_unregistered:
            return record, None
        intent = replace(intent, shopify_card_id=registered_card_id)
    return record, writes.recorded_with_claim(write_id, record.id, record.created_at, intent)


async def take_over(conn, record_id: int, owner: str, lease_seconds: float) -> IdempotencyRecord | None:
    """Take an open record whose lease ran out (its owner died or gave it back)."""
    row = await conn.fetchrow(
        f"""UPDATE idempotency_keys
               SET locked_by = $2, locked_until = now() + make_interval(secs => $3), updated_at = now()
             WHERE id = $1 AND state = 'open' AND (locked_until IS NULL OR locked_until <= now())
            RETURNING {_COLUMNS}""",
        record_id, owner, lease_seconds,
    )
    return _record(row)


async def finish(conn, answer: FinalAnswer) -> bool:
    """Store the final answer (False if the lease was lost). Must run in the transaction that
    writes the business rows."""
    finished = await conn.fetchval(f"WITH {FINISH_CTE} SELECT count(*) FROM finished", *answer_values(answer))
    return finished == 1


def answer_values(answer: FinalAnswer) -> tuple:
    """FINISH_CTE's parameters, $1-$5."""
    return answer.record_id, answer.owner, answer.status, answer.body, answer.encrypted


async def release(conn, record_id: int, owner: str) -> None:
    """Give the lease back without a final answer: a retry may take over at once."""
    await conn.execute(
        """UPDATE idempotency_keys SET locked_by = NULL, locked_until = now(), updated_at = now()
            WHERE id = $1 AND state = 'open' AND locked_by = $2""",
        record_id, owner,
    )


async def forget(conn, record_id: int, owner: str) -> bool:
    """Delete an open record that never reached the ledger (e.g. a request rejected after the
    claim by a validation that needs the database): a corrected retry is then processed anew.
    False if the lease was lost (another worker took the record over): nothing was deleted."""
    result = await conn.execute(
        "DELETE FROM idempotency_keys WHERE id = $1 AND state = 'open' AND locked_by = $2", record_id, owner
    )
    return result.endswith(" 1")


async def renew(conn, record_id: int, owner: str, lease_seconds: float) -> bool:
    """Extend our lease before a decision another worker must not make at the same time (False:
    it was taken over). Only a lease still held by `owner` is extended, run out or not: a
    take-over changes locked_by in its own atomic UPDATE, so exactly one of the two wins."""
    renewed = await conn.fetchval(
        """UPDATE idempotency_keys SET locked_until = now() + make_interval(secs => $3), updated_at = now()
            WHERE id = $1 AND state = 'open' AND locked_by = $2
           RETURNING id""",
        record_id, owner, lease_seconds,
    )
    return renewed is not None
