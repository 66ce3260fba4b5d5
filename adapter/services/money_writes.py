"""Debits and credits sent at most once, whatever fails in between.

A write that may have been sent before (an unknown outcome, or a process that died mid-call) is
first looked for in the ledger by its write ref (ledger.find_write). Only when the ledger proves it absent,
on a read made after the earlier attempt could still land, is it sent again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from adapter.domain.errors import RetryLater
from adapter.domain.money import Money
from adapter.observability import metrics
from adapter.ports import LedgerDecline, LedgerError, LedgerTransaction
from adapter.services import sending
from adapter.services.context import Services
from adapter.services.ledger_errors import decline_from, transient_from
from adapter.store import writes
from adapter.store.writes import LedgerWrite, WriteState

log = structlog.get_logger(__name__)

# Transactions are searched from a little before the intent was recorded (clock skew).
SEARCH_MARGIN = timedelta(minutes=5)


async def send_once(
    services: Services,
    write: LedgerWrite,
    send: Callable[[], Awaitable[LedgerTransaction]],
    deadline: float,
) -> LedgerTransaction:
    """The ledger transaction of `write`, sending it only if the ledger proves it absent.

    Raises the Decline of a definite refusal (after marking the write declined) or RetryLater."""
    if write.state is WriteState.APPLIED and write.ledger_transaction_id is not None:
        return _recorded(write)  # a settler already found it in the ledger
    if write.may_have_been_sent and not write.counted_now:
        found = await _find(services, write, deadline)
        if found is not None:
            metrics.SETTLEMENTS.labels(write.operation, "applied").inc()
            log.info("ledger_write_settled", result="applied", write_operation=write.operation)
            return found
        if not safe_to_resend(services, write):
            metrics.SETTLEMENTS.labels(write.operation, "still_unknown").inc()
            raise RetryLater("outcome not yet known, retry with the same key", 1.0)
        metrics.SETTLEMENTS.labels(write.operation, "absent_resent").inc()
        log.info("ledger_write_settled", result="absent_resent", write_operation=write.operation)
    try:
        return await sending.attempt(services, write, send, counted=write.counted_now)
    except LedgerDecline as declined:
        async with services.pool.acquire() as conn:
            await writes.mark_declined(conn, write.write_id)
        raise decline_from(declined) from None


async def credit_once(services: Services, write: LedgerWrite, deadline: float) -> LedgerTransaction:
    """Credit the write's amount to its card, at most once (refund, revoke, reverse)."""
    return await _move_once(services, write, services.ledger.credit, deadline)


async def debit_once(services: Services, write: LedgerWrite, deadline: float) -> LedgerTransaction:
    """Debit the write's amount from its card, at most once (authorize)."""
    return await _move_once(services, write, services.ledger.debit, deadline)


async def _move_once(services: Services, write: LedgerWrite, move, deadline: float) -> LedgerTransaction:
    amount = Money(write.amount, write.currency)
    return await send_once(
        services, write,
        lambda: move(card_id=write.shopify_card_id, amount=amount, ref=write.ref, deadline=deadline),
        deadline,
    )


def _recorded(write: LedgerWrite) -> LedgerTransaction:
    sign = -1 if write.operation == "authorize" else 1
    return LedgerTransaction(id=write.ledger_transaction_id, amount=Money(sign * write.amount, write.currency),
                             note=None, processed_at=write.processed_at, card_id=write.shopify_card_id)


async def find_settled(services: Services, write: LedgerWrite, deadline: float) -> LedgerTransaction | None:
    """The write's transaction if the ledger shows it; recorded as known when it does (and not
    looked up again afterwards: a debit awaiting its caller's retry is checked every pass)."""
    if write.state is WriteState.APPLIED and write.ledger_transaction_id is not None:
        return _recorded(write)
    found = await _find(services, write, deadline)
    if found is not None:
        async with services.pool.acquire() as conn:
            await writes.mark_found(conn, write.write_id, found.id, found.processed_at)
    return found


async def _find(services: Services, write: LedgerWrite, deadline: float) -> LedgerTransaction | None:
    try:
        return await services.ledger.find_write(
            card_id=write.shopify_card_id, ref=write.ref, not_before=write.created_at - SEARCH_MARGIN,
            deadline=deadline,
        )
    except LedgerError as error:
        raise transient_from(error) from None


def safe_to_resend(services: Services, write: LedgerWrite) -> bool:
    """An earlier attempt can land until its own deadline has passed; allow a settling delay
    on top, since read-after-write consistency is undocumented."""
    if write.last_sent_at is None:
        return True
    return datetime.now(UTC) >= write.last_sent_at + timedelta(seconds=services.resend_after_seconds)
