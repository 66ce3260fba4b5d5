"""The feed's delivery queue (feed_deliveries): claimed by the delivery worker, settled after
each send, and put back or dropped by the operator.

In order per card per subscriber: a row is claimed only while no older row of the same card for
the same subscriber exists, pending or dead. Delivered rows are deleted, so "older row exists"
is exactly "an older event of this card is not delivered yet"; a dead row blocks its card until
it is re-delivered (redeliver) or dropped (skip).

A claim is a lease: it counts the attempt and moves next_attempt_at past the time the worker
needs to send it, in one short transaction (FOR UPDATE SKIP LOCKED: replicas claim disjoint
rows). That next_attempt_at is the claim's token: a failure is recorded only if the row still
carries it, so a worker whose lease ran out (and whose row another worker has since claimed)
records nothing. A worker that dies mid-send leaves its rows to be claimed again when the lease
ends: at least once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from adapter.store.feed import _COLUMNS, Event

_EVENT_COLUMNS = ", ".join(f"e.{column.strip()}" for column in _COLUMNS.split(","))


@dataclass(frozen=True, slots=True)
class Claimed:
    subscriber: str
    event: Event
    attempts: int           # including the one this claim is for
    token: datetime         # next_attempt_at as the claim set it: the lease's end


async def claim(conn, subscribers: tuple[str, ...], limit: int, lease_seconds: float) -> list[Claimed]:
    """Lease up to `limit` due rows, each the oldest undelivered of its card for its subscriber,
    the longest due first."""
    if not subscribers or limit < 1:
        return []
    rows = await conn.fetch(
        f"""WITH due AS (
                SELECT d.subscriber, d.event_id
                  FROM feed_deliveries d
                 WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND d.subscriber = ANY($1::text[])
                   AND NOT EXISTS (SELECT 1 FROM feed_deliveries o
                                    WHERE o.subscriber = d.subscriber AND o.ledger_card_id = d.ledger_card_id
                                      AND o.event_id < d.event_id)
                 ORDER BY d.next_attempt_at, d.event_id
                 LIMIT $2
                   FOR UPDATE OF d SKIP LOCKED)
            UPDATE feed_deliveries f
               SET attempts = f.attempts + 1,
                   next_attempt_at = clock_timestamp() + make_interval(secs => $3)
              FROM due JOIN feed_events e ON e.event_id = due.event_id
             WHERE f.subscriber = due.subscriber AND f.event_id = due.event_id
         RETURNING f.subscriber, f.attempts, f.next_attempt_at AS token, {_EVENT_COLUMNS}""",
        list(subscribers), limit, float(lease_seconds))
    claimed = []
    for row in rows:
        values = dict(row)
        subscriber, attempts, token = values.pop("subscriber"), values.pop("attempts"), values.pop("token")
        claimed.append(Claimed(subscriber, Event(**values), attempts, token))
    claimed.sort(key=lambda c: (c.token, c.event.event_id))
    return claimed


async def delivered(conn, item: Claimed) -> None:
    """Answered 2xx: the row goes (whoever holds it now: the event has arrived)."""
    await conn.execute("DELETE FROM feed_deliveries WHERE subscriber = $1 AND event_id = $2",
                       item.subscriber, item.event.event_id)


async def failed(conn, item: Claimed, error: str, retry_in: float | None) -> bool:
    """Not delivered: due again in `retry_in` seconds, or dead (None). False if the claim was
    lost meanwhile (the lease ran out and another claim took the row): nothing is changed."""
    if retry_in is None:
        status = await conn.execute(
            """UPDATE feed_deliveries SET state = 'dead', last_error = $4
                WHERE subscriber = $1 AND event_id = $2 AND state = 'pending' AND next_attempt_at = $3""",
            item.subscriber, item.event.event_id, item.token, error)
    else:
        status = await conn.execute(
            """UPDATE feed_deliveries SET next_attempt_at = clock_timestamp() + make_interval(secs => $5),
                                          last_error = $4
                WHERE subscriber = $1 AND event_id = $2 AND state = 'pending' AND next_attempt_at = $3""",
            item.subscriber, item.event.event_id, item.token, error, float(retry_in))
    return status.endswith(" 1")


async def release(conn, items: list[Claimed]) -> None:
    """Claimed but not sent (shutdown, or too little lease left): due now, the attempt uncounted."""
    if items:
        await conn.executemany(
            """UPDATE feed_deliveries SET attempts = greatest(attempts - 1, 0), next_attempt_at = now()
                WHERE subscriber = $1 AND event_id = $2 AND state = 'pending' AND next_attempt_at = $3""",
            [(item.subscriber, item.event.event_id, item.token) for item in items])


# ---- what the operator sees and does ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class QueueStatus:
    subscriber: str
    pending: int
    dead: int
    oldest_event_id: int | None
    oldest_occurred_at: datetime | None
    oldest_age_seconds: float           # now minus occurred_at of the oldest undelivered event; 0 if none


async def status(conn) -> list[QueueStatus]:
    """Per subscriber with rows: pending and dead counts, and the oldest undelivered event."""
    rows = await conn.fetch(
        """SELECT d.subscriber,
                  count(*) FILTER (WHERE d.state = 'pending') AS pending,
                  count(*) FILTER (WHERE d.state = 'dead') AS dead,
                  min(e.occurred_at) AS oldest_occurred_at,
                  greatest(extract(epoch FROM now() - min(e.occurred_at)), 0)::float8 AS oldest_age_seconds,
                  (array_agg(e.event_id ORDER BY e.occurred_at, e.event_id))[1] AS oldest_event_id
             FROM feed_deliveries d JOIN feed_events e ON e.event_id = d.event_id
            GROUP BY d.subscriber ORDER BY d.subscriber""")
    return [QueueStatus(r["subscriber"], r["pending"], r["dead"], r["oldest_event_id"], r["oldest_occurred_at"],
                        r["oldest_age_seconds"]) for r in rows]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    subscriber: str
    event_id: int
    event_uuid: uuid.UUID
    ledger_card_id: str
    last_characters: str | None
    kind: str
    attempts: int
    last_error: str | None
    blocked: int                        # undelivered events of the same card behind it


async def dead_letters(conn, limit: int = 50) -> list[DeadLetter]:
    rows = await conn.fetch(
        """SELECT d.subscriber, d.event_id, e.event_uuid, d.ledger_card_id, e.last_characters, e.kind, d.attempts,
                  d.last_error,
                  (SELECT count(*) FROM feed_deliveries b
                    WHERE b.subscriber = d.subscriber AND b.ledger_card_id = d.ledger_card_id
                      AND b.event_id > d.event_id) AS blocked
             FROM feed_deliveries d JOIN feed_events e ON e.event_id = d.event_id
            WHERE d.state = 'dead'
            ORDER BY d.subscriber, d.event_id
            LIMIT $1""", limit)
    return [DeadLetter(**dict(r)) for r in rows]


async def resolve_events(conn, references: list[str]) -> dict[str, int | None]:
    """Each reference (a sequence number or an event UUID) -> its event id, None if unknown."""
    found: dict[str, int | None] = {}
    for reference in references:
        event_id = None
        if reference.isascii() and reference.isdigit() and len(reference) <= 19:
            event_id = await conn.fetchval("SELECT event_id FROM feed_events WHERE event_id = $1", int(reference))
        else:
            try:
                event_uuid = uuid.UUID(reference)
            except ValueError:
                event_uuid = None
            if event_uuid is not None:
                event_id = await conn.fetchval("SELECT event_id FROM feed_events WHERE event_uuid = $1", event_uuid)
        found[reference] = event_id
    return found


async def redeliver(conn, subscriber: str | None, event_ids: list[int] | None) -> dict[str, int]:
    """Dead rows back to pending, due now, attempts reset: those of `event_ids` (None: every
    dead row), of `subscriber` (None: every subscriber). Counts by subscriber."""
    rows = await conn.fetch(
        """UPDATE feed_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now()
            WHERE state = 'dead' AND ($1::text IS NULL OR subscriber = $1)
              AND ($2::bigint[] IS NULL OR event_id = ANY($2::bigint[]))
        RETURNING subscriber""", subscriber, event_ids)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["subscriber"]] = counts.get(row["subscriber"], 0) + 1
    return counts


async def skip(conn, subscriber: str, event_ids: list[int]) -> int:
    """Drop dead rows for good: the subscriber will not get these events by webhook (the pull
    API still has them), and their cards' later events go on."""
    status = await conn.execute(
        "DELETE FROM feed_deliveries WHERE state = 'dead' AND subscriber = $1 AND event_id = ANY($2::bigint[])",
        subscriber, event_ids)
    return int(status.split()[-1])
