"""Postgres side of the absolute-balance protocol (adapter.ledgers.absolute): the card write
lock, the intent (B, T and the history mark) of each PUT, repairs and reviews."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg
import structlog

from adapter import jsonio
from adapter.ports import LedgerUnavailable

log = structlog.get_logger(__name__)

# The first key of every card lock (pg_advisory_lock(int, int)); the second is the card id's
# hash. Two cards sharing a hash only share a lock: slower, never wrong.
CARD_LOCK_SPACE = 0x67636C6B  # "gclk"


@asynccontextmanager
async def card_lock(pool, card_id: str, deadline: float) -> AsyncIterator[asyncpg.Connection]:
    """Hold the card's write lock, shared by every replica, until the block ends; yields the
    connection that holds it (write the intent on it: no second connection is needed).

    A session lock, not a transaction's: the intent must be committed before the PUT leaves.
    A process that dies loses its connection, and Postgres frees the lock with it. The wait is
    bounded by the deadline (lock_timeout), then LedgerUnavailable: nothing was sent."""
    loop = asyncio.get_running_loop()
    remaining = deadline - loop.time()
    if remaining <= 0:
        raise LedgerUnavailable("card lock: deadline passed")
    async with pool.acquire(timeout=remaining) as conn:
        wait_ms = max(1, int((deadline - loop.time()) * 1000))
        try:
            await conn.execute(f"SET lock_timeout = {wait_ms}")
            await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", CARD_LOCK_SPACE, card_id)
            await conn.execute("RESET lock_timeout")
        except asyncpg.LockNotAvailableError:
            await conn.execute("RESET lock_timeout")
            raise LedgerUnavailable("card busy: another write to it is in progress", retry_after=1.0) from None
        except BaseException:
            # Interrupted (the request's deadline cancelled us, the connection failed) once the
            # lock may have been granted: a session that may hold it must not go back to the
            # pool, where it would keep the card locked for every replica. Closing it frees it.
            conn.terminate()
            raise
        try:
            yield conn
        finally:
            try:
                await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", CARD_LOCK_SPACE, card_id)
            except BaseException:
                # The pool does not unlock on release (store.database._keep_session): a
                # connection that could not unlock is closed, which frees the lock.
                conn.terminate()
                raise


@dataclass(frozen=True, slots=True)
class BalanceIntent:
    write_id: str
    operation: str
    card_id: str
    amount: Decimal
    currency: str
    balance_read: Decimal | None     # None: no PUT was ever sent for this write
    balance_target: Decimal | None
    history_mark: str | None
    verify_state: str | None
    ledger_transaction_id: str | None
    created_at: datetime
    unrepaired: Decimal | None = None  # 'repairing': the foreign change still to restore


_INTENT_COLUMNS = ("write_id, operation, shopify_card_id AS card_id, amount, currency, balance_read, balance_target,"
                   " history_mark, verify_state, ledger_transaction_id, created_at, unrepaired")


async def intent_of(conn, write_id: str) -> BalanceIntent | None:
    row = await conn.fetchrow(f"SELECT {_INTENT_COLUMNS} FROM ledger_writes WHERE write_id = $1", write_id)
    return BalanceIntent(**dict(row)) if row else None


async def record_put(conn, write_id: str, balance_read: Decimal, balance_target: Decimal, mark: str | None) -> None:
    """Before the PUT leaves: what it will do, and what the card looked like."""
    await conn.execute(
        """UPDATE ledger_writes SET balance_read = $2, balance_target = $3, history_mark = $4, verify_state = NULL,
                  updated_at = now() WHERE write_id = $1""",
        write_id, balance_read, balance_target, mark,
    )


async def forget_put(conn, write_id: str) -> None:
    """The PUT provably did not execute (refused, throttled, never connected)."""
    await conn.execute(
        """UPDATE ledger_writes SET balance_read = NULL, balance_target = NULL, history_mark = NULL,
                  updated_at = now() WHERE write_id = $1""",
        write_id,
    )


async def unsettled_put_on(conn, card_id: str, write_id: str) -> bool:
    """Whether another PUT of ours to this card may still land: a write's, sent and neither
    answered (verify_state) nor settled (declined, abandoned, applied), or a correcting PUT whose
    outcome is not known yet."""
    return await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM ledger_writes
                           WHERE shopify_card_id = $1 AND write_id <> $2 AND balance_read IS NOT NULL
                             AND verify_state IS NULL AND state IN ('pending', 'unknown') AND attempts > 0)
               OR EXISTS (SELECT 1 FROM balance_repairs WHERE ledger_card_id = $1 AND state = 'sending'
                             AND write_id <> $2)""",
        card_id, write_id,
    )


async def mark_verify(conn, write_id: str, state: str, entry_id: str | None = None,
                      unrepaired: Decimal | None = None) -> None:
    """The PUT is known applied; `state` says how far its foreign-change check got
    ('repairing': `unrepaired` is what it overwrote, to restore)."""
    await conn.execute(
        """UPDATE ledger_writes SET verify_state = $2, ledger_transaction_id = coalesce($3, ledger_transaction_id),
                  unrepaired = $4, updated_at = now() WHERE write_id = $1""",
        write_id, state, entry_id, unrepaired,
    )


async def pending_verifications(conn, limit: int) -> list[BalanceIntent]:
    """Answered PUTs whose foreign-change check or repair is still open, oldest touched first."""
    rows = await conn.fetch(
        f"""SELECT {_INTENT_COLUMNS} FROM ledger_writes WHERE verify_state IN ('pending', 'repairing')
             ORDER BY updated_at LIMIT $1""", limit)
    return [BalanceIntent(**dict(row)) for row in rows]


@dataclass(frozen=True, slots=True)
class Repair:
    repair_id: int
    amount: Decimal
    balance_read: Decimal
    balance_target: Decimal
    history_mark: str | None
    state: str


async def start_repair(conn, write_id: str, card_id: str, amount: Decimal, currency: str,
                       balance_read: Decimal, balance_target: Decimal, mark: str | None) -> Repair:
    """Before the correcting PUT leaves: what it will do ('sending' until settled)."""
    repair_id = await conn.fetchval(
        """INSERT INTO balance_repairs (write_id, ledger_card_id, amount, currency, balance_read, balance_target,
                                        history_mark) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING repair_id""",
        write_id, card_id, amount, currency, balance_read, balance_target, mark,
    )
    return Repair(repair_id, amount, balance_read, balance_target, mark, "sending")


async def repairs_of(conn, write_id: str) -> list[Repair]:
    """A write's correcting PUTs, oldest first."""
    rows = await conn.fetch(
        """SELECT repair_id, amount, balance_read, balance_target, history_mark, state FROM balance_repairs
            WHERE write_id = $1 ORDER BY repair_id""", write_id)
    return [Repair(**dict(row)) for row in rows]


async def finish_repair(conn, repair_id: int, state: str, entry_id: str | None = None, *,
                        unrepaired: Decimal | None = None) -> None:
    """Settle a correcting PUT ('applied', 'absent' or 'review') and, in the same statement,
    what its write still has to restore (None: leave it as it is). An applied correcting PUT of
    a write whose own PUT made no entry (it changed nothing: the repair put its movement back)
    is the write's entry, in place of the stand-in its answer carried."""
    await conn.execute(
        """WITH settled AS (
               UPDATE balance_repairs SET state = $2, entry_id = $3, settled_at = now() WHERE repair_id = $1
               RETURNING write_id)
           UPDATE ledger_writes w SET unrepaired = coalesce($4::numeric, w.unrepaired), updated_at = now(),
                  ledger_transaction_id = CASE
                      WHEN $2 = 'applied' AND (w.ledger_transaction_id IS NULL
                                               OR w.ledger_transaction_id LIKE 'unverified:%') THEN $3
                      ELSE w.ledger_transaction_id END
             FROM settled WHERE w.write_id = settled.write_id AND ($4::numeric IS NOT NULL OR $2 = 'applied')""",
        repair_id, state, entry_id, unrepaired)


async def open_review(conn, write_id: str, card_id: str, reason: str, detail: dict, *, applied: bool) -> int:
    """One row per problem an operator must decide.

    `applied`: the write's own outcome is known (its PUT was answered, or found): what is open
    is a foreign change around it. The write is then settled ('verified') and answered as
    applied. Otherwise the write itself is held in review ('review'): never resent, and its
    caller's retries get 503 until the operator has decided."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE ledger_writes SET verify_state = $2, updated_at = now() WHERE write_id = $1",
            write_id, "verified" if applied else "review")
        return await conn.fetchval(
            """INSERT INTO ledger_reviews (write_id, ledger_card_id, reason, detail)
               VALUES ($1, $2, $3, $4::jsonb) RETURNING review_id""",
            write_id, card_id, reason, jsonio.dumps(detail).decode(),
        )


@dataclass(frozen=True, slots=True)
class Review:
    review_id: int
    write_id: str | None
    operation: str | None
    ledger_card_id: str
    reason: str
    detail: dict
    created_at: datetime
    resolved_at: datetime | None
    resolution: str | None


async def list_reviews(conn, *, include_resolved: bool = False) -> list[Review]:
    rows = await conn.fetch(
        """SELECT r.review_id, r.write_id, w.operation, r.ledger_card_id, r.reason, r.detail, r.created_at,
                  r.resolved_at, r.resolution
             FROM ledger_reviews r LEFT JOIN ledger_writes w USING (write_id)
            WHERE $1 OR r.resolved_at IS NULL ORDER BY r.review_id""",
        include_resolved,
    )
    return [Review(**{**dict(row), "detail": jsonio.loads(row["detail"].encode())}) for row in rows]


async def resolve_review(conn, review_id: int, resolution: str) -> bool:
    """Close a review with the operator's finding. The write stays as the operator left the
    ledger: this records the decision, it moves no money."""
    return await conn.fetchval(
        """UPDATE ledger_reviews SET resolved_at = now(), resolution = $2
            WHERE review_id = $1 AND resolved_at IS NULL RETURNING true""",
        review_id, resolution,
    ) or False
