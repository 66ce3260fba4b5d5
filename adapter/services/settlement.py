"""Settling requests nobody is working on: their process died, or their caller never retried.

Each open record's latest ledger write says how far it got. The rule of the whole service holds
here too: only the ledger's own answer decides, and nothing is sent twice.

- Nothing sent (or provably refused): abandon. No money moved; the record is deleted so a retry
  of the key is processed anew, as the 503 its caller got promised.
- Create or deactivate: resume the use case itself. Resending a create with the same code can
  never make a second card, and deactivating twice is harmless. A card finished this way is
  reported for manual review.
- Refund or revoke found in the ledger: completed, totals and answer stored. Absent (proven):
  abandoned, the reservation given back.
- Authorize found in the ledger: left for the caller's retry until `reverse_after`, then credited
  back (marker op `reverse`) and answered 400 for good. Absent (proven): abandoned.

A record was leased with a batch, and settling the ones before it may have outlasted the lease:
each is renewed before it is worked on, and skipped if a caller's retry has taken it over. The
two decisions that a retry could make differently (abandon, reverse) are made under the renewed
lease, in the transaction that checks it: never when a retry may be answering the same key.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import structlog

from adapter.domain.money import Money
from adapter.idempotency.coordinator import Claim, LeaseLost
from adapter.observability import metrics
from adapter.services.context import Services
from adapter.services.create_card import CreateCommand, create_card
from adapter.services.deactivate import deactivate
from adapter.services.money_writes import find_settled, safe_to_resend
from adapter.services.payments import complete_credit_back, reverse_unanswered
from adapter.store import instruments, writes
from adapter.store import idempotency as records
from adapter.store.writes import Intent, LedgerWrite, WriteState

log = structlog.get_logger(__name__)


async def settle(services: Services, claim: Claim, deadline: float, *, reverse_after: timedelta) -> str:
    """Drive one leased open record as far as the ledger allows; returns the settlement result."""
    async with services.pool.acquire() as conn:
        if not await services.idempotency.renew(conn, claim, _seconds_left(deadline)):
            return _count(claim.record.operation, "taken_over")
        write = await writes.for_idempotency(conn, claim.record_id)
    # A write never sent, or refused, can be forgotten with its record, but for a credit-back:
    # it is recorded because the record's debit landed, so forgetting it would leave that debit
    # unanswered and never credited back (found by reconciling after the chaos run: an orphaned
    # debit). A credit-back the ledger refused goes to review (payments.reverse_unanswered).
    if write is None or (write.operation != "reverse" and (
            write.state in (WriteState.DECLINED, WriteState.ABANDONED)
            or (write.state is WriteState.PENDING and write.attempts == 0))):
        await _abandon(services, claim, write)
        return _count(claim.record.operation, "abandoned")
    operation = write.operation
    if operation in ("issue", "activate"):
        command = CreateCommand(operation, Money(write.amount, write.currency), None,
                                write.context.get("customer_id"), write.context.get("correlation_id"))
        response = await create_card(services, claim, command, deadline)
        if response.status == 200:
            metrics.UNACKNOWLEDGED_CARDS.inc()
            log.error("card_created_without_acknowledgement", write_operation=operation, write_id=write.write_id)
        return _count(operation, "completed")
    if operation == "deactivate":
        await deactivate(services, claim, services.vault.decrypt_code(write.code_encrypted), deadline)
        return _count(operation, "completed")
    if operation == "reverse":
        await reverse_unanswered(services, claim, write, deadline)
        return _count(operation, "reversed")
    found = await find_settled(services, write, deadline)
    if found is None:
        if not safe_to_resend(services, write):
            return _count(operation, "still_unknown")
        await _abandon(services, claim, write)
        return _count(operation, "abandoned")
    if operation in ("refund", "revoke"):
        async with services.pool.acquire() as conn:
            await complete_credit_back(conn, claim, write, found)
        return _count(operation, "completed")
    # authorize: the customer's money was taken, but NewStore was told to retry.
    if datetime.now(UTC) - claim.record.created_at < reverse_after:
        return _count(operation, "awaiting_retry")
    reverse = await _start_reverse(services, claim, write, deadline)
    await reverse_unanswered(services, claim, reverse, deadline)
    return _count(operation, "reversed")


def _count(operation: str, result: str) -> str:
    metrics.SETTLEMENTS.labels(operation, result).inc()
    log.info("settled", write_operation=operation, result=result)
    return result


def _seconds_left(deadline: float) -> float:
    return max(deadline - asyncio.get_running_loop().time(), 0.0)


async def _abandon(services: Services, claim: Claim, write: LedgerWrite | None) -> None:
    """Forget the record first: only if it was still ours is the reservation given back (a
    retry that took the key over may be crediting that very write)."""
    log.info("settlement_abandoning", write_id=write.write_id if write else None,
             write_state=write.state.value if write else None)
    async with services.pool.acquire() as conn, conn.transaction():
        if not await records.forget(conn, claim.record_id, claim.owner):
            raise LeaseLost()
        if write is not None:
            if write.operation in ("refund", "revoke") and write.state is not WriteState.ABANDONED:
                await instruments.release_reservation(conn, write.instrument_id, write.operation, write.amount)
            await writes.mark_abandoned(conn, write.write_id)


async def _start_reverse(services: Services, claim: Claim, debit: LedgerWrite, deadline: float) -> LedgerWrite:
    """Record the credit-back under a renewed lease: the caller's retry, which would answer the
    debit 200, cannot take the key over until the reverse is recorded, and once it is, a retry
    finishes the reverse instead (payments.authorize)."""
    async with services.pool.acquire() as conn, conn.transaction():
        if not await services.idempotency.renew(conn, claim, _seconds_left(deadline)):
            raise LeaseLost()
        return await writes.record_intent(conn, claim.record_id, Intent(
            "reverse", code_digest=debit.code_digest, code_key_id=debit.code_key_id,
            shopify_card_id=debit.shopify_card_id, amount=debit.amount,
            currency=debit.currency, instrument_id=debit.instrument_id or uuid.uuid4(), context=debit.context,
        ))
