"""Queries of the background workers. Every replica runs them; SKIP LOCKED keeps them apart."""

from __future__ import annotations

from adapter.store.idempotency import _COLUMNS, IdempotencyRecord, _record


async def claim_stale(conn, owner: str, lease_seconds: float, grace_seconds: float, limit: int) -> list[IdempotencyRecord]:
    """Open records nobody holds (lease run out for `grace_seconds`, so a caller's own retry
    gets the first chance), leased to this worker. Rows another replica is claiming are skipped."""
    rows = await conn.fetch(
        f"""UPDATE idempotency_keys SET locked_by = $1, locked_until = now() + make_interval(secs => $2),
                   updated_at = now()
             WHERE id IN (SELECT id FROM idempotency_keys
                           WHERE state = 'open'
                             AND (locked_until IS NULL OR locked_until <= now() - make_interval(secs => $3))
                           ORDER BY created_at
                           LIMIT $4
                           FOR UPDATE SKIP LOCKED)
         RETURNING {_COLUMNS}""",
        owner, lease_seconds, grace_seconds, limit,
    )
    return [_record(row) for row in rows]


async def reap_expired(conn, retention_days: int, batch: int) -> int:
    """Delete one small batch of final records past retention. Audit rows stay."""
    result = await conn.execute(
        # "= ANY(ARRAY(...))", not "IN (...)": the batch's ids are then the primary key's index
        # condition in every plan. With IN, the generic plan Postgres may cache could read the
        # whole primary key to join them (tests/integration/test_query_plans.py).
        """DELETE FROM idempotency_keys WHERE id = ANY(ARRAY(
               SELECT id FROM idempotency_keys
                WHERE state = 'final' AND created_at < now() - make_interval(days => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED))""",
        retention_days, batch,
    )
    return int(result.split()[-1])
