"""One attempt of a recorded ledger write: the send-once rule every write shares.

The attempt is counted before the request leaves (a process that dies mid-call leaves a write
known to have possibly been sent, to be settled and never blindly resent). What a failure
proves is recorded before it is reported:

- outcome unknown (timeout after sending, 5xx): the write is UNKNOWN, to be settled by reading
  the ledger before any resend;
- provably not executed (throttled, connect failure, the ledger unavailable): the attempt is
  taken back, so the next try may send without settling first;
- a definite refusal (LedgerDecline) is handed back to the use case, which alone knows what it
  means (a debit's decline is final; a create's "code taken" may be our own earlier card).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from adapter.observability import metrics
from adapter.ports import LedgerDecline, LedgerError, LedgerOutcomeUnknown
from adapter.services.context import Services
from adapter.services.ledger_errors import transient_from
from adapter.store import writes
from adapter.store.writes import LedgerWrite

log = structlog.get_logger(__name__)

T = TypeVar("T")


async def attempt(services: Services, write: LedgerWrite, send: Callable[[], Awaitable[T]], *, counted: bool) -> T:
    """Send once. `counted`: this attempt is already counted (recorded with the claim).

    Raises LedgerDecline as it came, or the RetryLater/ConfigurationFault of any other failure."""
    if not counted:
        async with services.pool.acquire() as conn:
            await writes.mark_sending(conn, write.write_id)
    try:
        return await send()
    except LedgerDecline:
        raise
    except LedgerOutcomeUnknown as unknown:
        async with services.pool.acquire() as conn:
            await writes.mark_unknown(conn, write.write_id)
        metrics.UNKNOWN_OUTCOMES.labels(write.operation).inc()
        log.warning("ledger_outcome_unknown", reason=unknown.reason, write_operation=write.operation)
        raise transient_from(unknown) from None
    except LedgerError as error:
        async with services.pool.acquire() as conn:
            await writes.mark_not_sent(conn, write.write_id)
        raise transient_from(error) from None
