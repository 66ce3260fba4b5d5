"""Ledger-write intents: recorded before a ledger write, settled after it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from enum import StrEnum
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from adapter import jsonio
from adapter.ports import WriteRef
from adapter.store import cards
from adapter.store.cards import Registration

_COLUMNS = (
    "write_id, idempotency_id, operation, state, code_digest, code_encrypted, shopify_card_id,"
    " amount, currency, ledger_transaction_id, processed_at, attempts, first_sent_at, last_sent_at,"
    " created_at, instrument_id, context, code_key_id"
)


class WriteState(StrEnum):
    """ledger_writes.state (its CHECK constraint lists the same values)."""

    PENDING = "pending"        # recorded; `attempts` says whether it may have been sent
    UNKNOWN = "unknown"        # sent, outcome not known: settle by reading the ledger first
    APPLIED = "applied"        # the ledger shows it
    DECLINED = "declined"      # definitely refused
    ABANDONED = "abandoned"    # proven never applied, and its request given up


@dataclass(frozen=True, slots=True)
class LedgerWrite:
    write_id: str
    idempotency_id: int | None
    operation: str
    state: WriteState
    code_digest: bytes | None
    code_encrypted: bytes | None
    shopify_card_id: str | None
    amount: Decimal | None
    currency: str | None
    ledger_transaction_id: str | None
    processed_at: datetime | None
    attempts: int
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    created_at: datetime
    instrument_id: UUID | None
    context: dict
    code_key_id: bytes | None  # the id of the key that made code_digest (NULL: before key ids)
    # Recorded by this very request with its first attempt already counted (not a column):
    # nothing can have been sent yet, so there is nothing to settle and nothing more to count.
    counted_now: bool = False

    @property
    def ref(self) -> WriteRef:
        """This write's identity at the ledger (a Shopify note, an absolute-balance intent)."""
        return WriteRef(self.operation, self.write_id)

    @property
    def may_have_been_sent(self) -> bool:
        return self.attempts > 0


def new_write_id() -> str:
    return secrets.token_hex(16)


def _write(row) -> LedgerWrite | None:
    if not row:
        return None
    values = dict(row)
    values["context"] = jsonio.loads(values["context"].encode()) if values["context"] else {}
    values["state"] = WriteState(values["state"])
    return LedgerWrite(**values)


@dataclass(frozen=True, slots=True)
class Intent:
    """What a ledger write will do, before it has a row."""

    operation: str
    code_digest: bytes | None = None
    code_encrypted: bytes | None = None
    code_key_id: bytes | None = None  # the key that made code_digest: vault.key_id with vault.digest
    shopify_card_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    instrument_id: UUID | None = None
    context: dict = field(default_factory=dict)

    def values(self, write_id: str) -> tuple:
        """The parameters of INSERT_COLUMNS' first ten columns, in order (write_id first)."""
        return (write_id, self.operation, self.code_digest, self.code_encrypted, self.shopify_card_id, self.amount,
                self.currency, self.instrument_id, jsonio.dumps(self.context).decode(), self.code_key_id)


@dataclass(frozen=True, slots=True)
class RegisteredCardIntent:
    """An intent for a card this process does not know yet: the claim's own statement reads
    the card's id from our registry by the code's digest, and records the intent if it is there
    (or, `even_unregistered`, in any case, its card id left for the use case to find)."""

    intent: Intent  # its shopify_card_id is left None
    code_digests: tuple[bytes, ...]  # vault.digests: the registry row may be under any configured key
    even_unregistered: bool = False


# The intent's ten values (Intent.values), then idempotency_id, attempts, first/last sent.
INSERT_COLUMNS = (
    "write_id, operation, code_digest, code_encrypted, shopify_card_id, amount, currency, instrument_id, context,"
    " code_key_id, idempotency_id, attempts, first_sent_at, last_sent_at"
)


async def record_intent(
    conn, idempotency_id: int | None, intent: Intent, *, sending: bool = False, register: Registration | None = None,
) -> LedgerWrite:
    """`sending=True` also counts the first attempt (as mark_sending would), in the same statement;
    so is `register`, a card the ledger search just found, added to the registry."""
    row = await conn.fetchrow(
        f"""WITH registered AS (
                INSERT INTO cards ({cards.INSERT_COLUMNS})
                SELECT $13::bytea, $14::bytea, $15::bytea, $16::text, $17::text, $18::text, $19::text, $20::text
                 WHERE $13::bytea IS NOT NULL
                ON CONFLICT (code_digest) DO NOTHING)
            INSERT INTO ledger_writes ({INSERT_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::bytea, $11, $12,
                    CASE WHEN $12 > 0 THEN now() END, CASE WHEN $12 > 0 THEN now() END)
            RETURNING {_COLUMNS}""",
        *intent.values(new_write_id()), idempotency_id, 1 if sending else 0,
        *(register.values() if register is not None else (None,) * cards.INSERT_COUNT),
    )
    write = _write(row)
    return replace(write, counted_now=True) if sending else write


def recorded_with_claim(write_id: str, idempotency_id: int, recorded_at: datetime, intent: Intent) -> LedgerWrite:
    """The write a fresh claim recorded in its own statement (idempotency.claim), first attempt
    counted: its row holds exactly these values, and now() is the claim's own timestamp."""
    return LedgerWrite(
        write_id=write_id, idempotency_id=idempotency_id, operation=intent.operation, state=WriteState.PENDING,
        code_digest=intent.code_digest, code_encrypted=intent.code_encrypted, code_key_id=intent.code_key_id,
        shopify_card_id=intent.shopify_card_id,
        amount=intent.amount, currency=intent.currency, ledger_transaction_id=None, processed_at=None, attempts=1,
        first_sent_at=recorded_at, last_sent_at=recorded_at, created_at=recorded_at,
        instrument_id=intent.instrument_id, context=intent.context, counted_now=True,
    )


async def for_idempotency(conn, idempotency_id: int) -> LedgerWrite | None:
    """The latest write of a record (a record makes at most one live write at a time)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger_writes WHERE idempotency_id = $1 ORDER BY created_at DESC LIMIT 1",
        idempotency_id,
    )
    return _write(row)


async def mark_sending(conn, write_id: str) -> None:
    """Count the attempt before the request leaves: if we die mid-call, the write is known to
    have possibly been sent and will be settled, never blindly resent."""
    await conn.execute(
        """UPDATE ledger_writes SET attempts = attempts + 1, first_sent_at = coalesce(first_sent_at, now()),
                  last_sent_at = now(), updated_at = now() WHERE write_id = $1""",
        write_id,
    )


async def mark_unknown(conn, write_id: str) -> None:
    await conn.execute(
        "UPDATE ledger_writes SET state = 'unknown', updated_at = now() WHERE write_id = $1 AND state <> 'applied'",
        write_id,
    )


async def mark_not_sent(conn, write_id: str) -> None:
    """The call provably did not execute (throttled, connect failure): undo the attempt count
    so the next try may send without settling first."""
    await conn.execute(
        """UPDATE ledger_writes SET attempts = greatest(attempts - 1, 0), updated_at = now()
            WHERE write_id = $1 AND state = 'pending'""",
        write_id,
    )


async def mark_declined(conn, write_id: str) -> None:
    await conn.execute(
        "UPDATE ledger_writes SET state = 'declined', code_encrypted = NULL, updated_at = now() WHERE write_id = $1",
        write_id,
    )


async def replace_code(conn, write_id: str, code_digest: bytes, code_encrypted: bytes, code_key_id: bytes) -> None:
    """An issue whose generated code collided: nothing was created, try another code."""
    await conn.execute(
        """UPDATE ledger_writes SET code_digest = $2, code_encrypted = $3, code_key_id = $4, attempts = 0,
                  state = 'pending', first_sent_at = NULL, updated_at = now() WHERE write_id = $1""",
        write_id, code_digest, code_encrypted, code_key_id,
    )


async def mark_abandoned(conn, write_id: str) -> None:
    """Proven never applied, and its request given up: nothing happened, nothing will."""
    await conn.execute(
        """UPDATE ledger_writes SET state = 'abandoned', code_encrypted = NULL, updated_at = now()
            WHERE write_id = $1 AND state <> 'applied'""",
        write_id,
    )


async def mark_found(conn, write_id: str, ledger_transaction_id: str, processed_at: datetime) -> None:
    """The ledger shows the write: its outcome is known even if its request is not answered yet."""
    await conn.execute(
        """UPDATE ledger_writes SET state = 'applied', ledger_transaction_id = $2, processed_at = $3,
                  updated_at = now() WHERE write_id = $1""",
        write_id, ledger_transaction_id, processed_at,
    )


async def other_activation_state(conn, code_digests: tuple[bytes, ...], amount: Decimal, currency: str,
                                 write_id: str) -> WriteState | None:
    """The state of another activation of ours on this card with this amount: 'applied' if one
    landed, else 'pending' or 'unknown' if one may still land, else None (index
    ledger_writes_activations). `code_digests`: the code's digest under every configured key
    (vault.digests), since the earlier activation may have been recorded under an older one."""
    state = await conn.fetchval(
        """SELECT state FROM ledger_writes
            WHERE code_digest = ANY($1::bytea[]) AND operation = 'activate' AND amount = $2 AND currency = $3
              AND write_id <> $4 AND state IN ('applied', 'pending', 'unknown')
            ORDER BY state = 'applied' DESC LIMIT 1""",
        code_digests, amount, currency, write_id,
    )
    return WriteState(state) if state is not None else None


async def open_reviews(conn) -> int:
    """Writes an operator must decide (ledger_reviews, index ledger_reviews_open)."""
    return await conn.fetchval("SELECT count(*) FROM ledger_reviews WHERE resolved_at IS NULL")


async def oldest_unsettled_age(conn) -> float:
    """Seconds since the oldest write whose outcome we do not know was recorded."""
    return float(await conn.fetchval(
        """SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM ledger_writes
            WHERE state = 'unknown' OR (state = 'pending' AND attempts > 0)"""
    ))
