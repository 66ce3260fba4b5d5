"""Ending a claimed request with a final answer, in one transaction with its business rows."""

from __future__ import annotations

from adapter.domain.errors import Decline
from adapter.idempotency.coordinator import Claim, StoredResponse
from adapter.store import writes


async def finish_declined(services, claim: Claim, decline: Decline, write_id: str | None = None) -> StoredResponse:
    """A definite business decline is final: mark the write declined and store the answer."""
    async with services.pool.acquire() as conn, conn.transaction():
        if write_id is not None:
            await writes.mark_declined(conn, write_id)
        return await claim.finish(conn, decline)


async def earlier_write(services, claim: Claim):
    """The ledger write recorded for this key: with the claim itself, or by an earlier attempt
    (none on a fresh claim otherwise)."""
    if claim.write is not None:
        return claim.write
    if claim.fresh:
        return None
    async with services.pool.acquire() as conn:
        return await writes.for_idempotency(conn, claim.record_id)
