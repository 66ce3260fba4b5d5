"""The balance-change feed (issue #12): events appended in the mirror's transaction, read by
cursor, and queued for each subscriber.

An event never holds a card code: the ledger's card id and the last four only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

# Every append takes this transaction lock: event ids are then handed out in commit order, so a
# reader paging by id can never see event N+1 before event N becomes visible.
FEED_LOCK = 0x67636665  # "gcfe"

KINDS = ("issued", "activated", "debited", "credited", "deactivated")
CAUSES = ("pos_sale", "pos_redemption", "pos_refund", "online_checkout", "order_refund", "admin_adjustment",
          "other_app", "reversal")


@dataclass(frozen=True, slots=True)
class NewEvent:
    ledger_card_id: str
    last_characters: str | None
    kind: str
    cause: str
    amount: Decimal | None
    balance_after: Decimal | None
    currency: str | None
    occurred_at: datetime
    operation: str | None = None
    order_ref: str | None = None
    entry_id: str | None = None


@dataclass(frozen=True, slots=True)
class Event(NewEvent):
    event_id: int = 0
    event_uuid: uuid.UUID | None = None
    created_at: datetime | None = None


_COLUMNS = ("event_id, event_uuid, ledger_card_id, last_characters, kind, cause, amount, balance_after, currency,"
            " occurred_at, operation, order_ref, entry_id, created_at")


async def append(conn, events: list[NewEvent], subscribers: tuple[str, ...] = ()) -> list[int]:
    """Append events, in order, and queue each for every subscriber. Must run inside the
    transaction that writes what the events describe (the mirror rows)."""
    if not events:
        return []
    for event in events:
        if event.kind not in KINDS or event.cause not in CAUSES:
            raise ValueError(f"unknown event kind or cause: {event.kind}/{event.cause}")
    await conn.execute("SELECT pg_advisory_xact_lock($1)", FEED_LOCK)
    first = await conn.fetchval("SELECT coalesce(max(event_id), 0) + 1 FROM feed_events")
    ids = list(range(first, first + len(events)))
    await conn.executemany(
        """INSERT INTO feed_events (event_id, event_uuid, ledger_card_id, last_characters, kind, cause, amount,
                                    balance_after, currency, occurred_at, operation, order_ref, entry_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        [(event_id, uuid.uuid4(), e.ledger_card_id, e.last_characters, e.kind, e.cause, e.amount, e.balance_after,
          e.currency, e.occurred_at, e.operation, e.order_ref, e.entry_id) for event_id, e in zip(ids, events)],
    )
    if subscribers:
        await conn.executemany(
            "INSERT INTO feed_deliveries (subscriber, event_id, ledger_card_id) VALUES ($1, $2, $3)",
            [(subscriber, event_id, e.ledger_card_id)
             for event_id, e in zip(ids, events) for subscriber in subscribers],
        )
    return ids


async def after(conn, cursor: int, limit: int) -> list[Event]:
    """Events after `cursor`, oldest first: the pull API's page."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM feed_events WHERE event_id > $1 ORDER BY event_id LIMIT $2",
                            cursor, limit)
    return [Event(**dict(row)) for row in rows]
