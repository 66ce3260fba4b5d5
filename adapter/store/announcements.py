"""Movements a webhook announced on a card, open until a re-read finds the entry each explains
(sql/011_announced_movements.up.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Announcement:
    announcement_id: int
    amount: Decimal          # signed: what it did to the card's balance
    cause: str
    order_ref: str | None
    announced_at: datetime


async def record(conn, source: str, event_id: str, movements: tuple[tuple[str, Decimal, str], ...],
                 order_ref: str | None) -> None:
    """(card, signed amount, cause) of each movement one webhook announced."""
    if movements:
        await conn.execute(
            """INSERT INTO announced_movements (ledger_card_id, amount, cause, order_ref, source, event_id)
               SELECT card, amount, cause, $4, $5, $6 FROM unnest($1::text[], $2::numeric[], $3::text[])
                   AS m(card, amount, cause)""",
            [m[0] for m in movements], [m[1] for m in movements], [m[2] for m in movements], order_ref, source,
            event_id)


async def open_for(conn, card_id: str) -> list[Announcement]:
    """The card's open announcements, oldest first, locked for this re-read's transaction (a
    concurrent re-read of the card waits, so an announcement explains one entry only)."""
    rows = await conn.fetch(
        """SELECT announcement_id, amount, cause, order_ref, announced_at FROM announced_movements
            WHERE ledger_card_id = $1 AND entry_id IS NULL ORDER BY announcement_id FOR UPDATE""", card_id)
    return [Announcement(**dict(row)) for row in rows]


async def forget(conn, older_than_seconds: float, limit: int = 1000) -> int:
    """Announcements past every vendor's retry window, explained or not: an entry they did not
    explain by then was mirrored without them, and they can never explain a later one."""
    return int((await conn.execute(
        """DELETE FROM announced_movements WHERE announcement_id IN (
               SELECT announcement_id FROM announced_movements
                WHERE announced_at < now() - make_interval(secs => $1) LIMIT $2)""",
        older_than_seconds, limit)).split()[-1])


async def explained(conn, matches: dict[int, str]) -> None:
    """Close each announcement with the entry it explained."""
    if matches:
        await conn.execute(
            """UPDATE announced_movements a SET entry_id = m.entry_id
                 FROM unnest($1::bigint[], $2::text[]) AS m(announcement_id, entry_id)
                WHERE a.announcement_id = m.announcement_id""",
            list(matches), list(matches.values()))
