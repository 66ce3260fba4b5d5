"""Re-reading a card without mistaking a write of ours for someone else's (issue #12).

sync.resync tells our entries by the ledger's own proof: our marker in a note, or, on a ledger
without notes (SHOPLINE, Gift Card Hero), the entry our write recorded once it was verified and
applied. On such a ledger a re-read that runs while one of our PUTs is on its way (sent, not yet
verified, not yet applied) would mirror that PUT as a foreign change, for good (the mirror only
adds rows). A webhook makes that likely: SHOPLINE announces every balance change, our own PUTs
included, while the PUT's verification is still running.

So there, a re-read takes the card's write lock (as every write of ours does, so none can start
meanwhile), checks that no write of ours to the card is in flight, and only then re-reads;
otherwise it is answered "retry later". The lock is held for the re-read (two ledger reads): a
write of ours waits that long, never more (its wait is bounded by its own deadline). On a
ledger with notes every entry of ours carries its proof, and nothing is held.
"""

from __future__ import annotations

import asyncio

from adapter.domain.errors import RetryLater
from adapter.ports import LedgerUnavailable
from adapter.services.context import Services
from adapter.services.sync import resync
from adapter.store import intake as store
from adapter.store.balance_intents import card_lock

LOCK_WAIT_SECONDS = 2.0
IN_FLIGHT_RETRY_SECONDS = 2.0


async def reread(services: Services, card_id: str, deadline: float, *, cause: str | None = None,
                 order_ref: str | None = None, sold_by: str | None = None) -> int:
    """sync.resync, once no write of ours to the card can be mistaken for a foreign change;
    RetryLater while one is in flight or the card's lock is busy. Answers the events appended."""
    if services.ledger.capabilities.notes:
        return await resync(services, card_id, deadline, cause=cause, order_ref=order_ref, sold_by=sold_by)
    wait_until = min(deadline, asyncio.get_running_loop().time() + LOCK_WAIT_SECONDS)
    try:
        async with card_lock(services.pool, card_id, wait_until) as conn:
            if await store.write_in_flight(conn, card_id):
                raise RetryLater("a write of ours to this card is in flight", IN_FLIGHT_RETRY_SECONDS)
            return await resync(services, card_id, deadline, cause=cause, order_ref=order_ref, sold_by=sold_by)
    except LedgerUnavailable as busy:  # the lock: resync reports its own ledger failures as RetryLater
        raise RetryLater(busy.reason, busy.retry_after) from None
