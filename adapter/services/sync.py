"""Re-reading a card (issue #12): every signal, a webhook or the poller, means "go re-read", never
"trust the payload".

A re-read mirrors every ledger entry of the card not seen yet, tells ours from everyone else's,
and turns each change of balance or state into a feed event in the same transaction as its
mirror row. Ours are told by the ledger's own proof (our marker in a Shopify note, the entry our
absolute-balance write recorded, a correcting PUT's entry); anything else is foreign, with the
cause the ledger can tell.

What the feed says of our writes is what NewStore asked for (an authorization of 20 is "debited
20"); the mirror keeps what the ledger did (on an absolute ledger a PUT that wrote over a
checkout shows another delta, and the correcting PUT one more). Both add up to the same balance.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from adapter.domain.errors import Decline
from adapter.ports import BalanceEntry, LedgerCard, LedgerError
from adapter.services.context import Services
from adapter.services.ledger_errors import transient_from
from adapter.store import feed, mirror
from adapter.store.feed import NewEvent
from adapter.store.mirror import MirrorRow, OurWrite

log = structlog.get_logger(__name__)

_MARKER = re.compile(r"^gca:v1:([a-z]+):([0-9a-f]{32})$")

# Our operations in the feed's words: (kind, cause). The kind is the operation's, not the sign of
# the ledger's delta: a PUT that wrote over a checkout may show a credit for our debit.
_OURS = {
    "issue": ("issued", "pos_sale"),
    "activate": ("activated", "pos_sale"),
    "authorize": ("debited", "pos_redemption"),
    "refund": ("credited", "pos_refund"),
    "revoke": ("credited", "reversal"),
    "reverse": ("credited", "reversal"),
}
CREATES = ("issue", "activate")
CREATION = "creation"  # BalanceEntry.cause of a card's first entry, where the ledger makes one


async def resync(services: Services, card_id: str, deadline: float, *, cause: str | None = None,
                 order_ref: str | None = None, sold_by: str | None = None) -> int:
    """Re-read one card; answers the number of events appended. `cause`/`order_ref`: what the
    signal said of foreign changes it announced (an order's checkout), used where the ledger
    itself does not say. `sold_by`: the order that sold the card, when the signal named the card
    as that order's line item; only then is a creation met here a web-shop sale of that order."""
    async with services.pool.acquire() as conn:
        state = await mirror.sync_state(conn, card_id)
    try:
        reading = await services.ledger.reread_card(card_id=card_id, after=state.last_entry_id, deadline=deadline)
    except LedgerError as error:
        raise transient_from(error) from None
    card, entries = reading.card, reading.entries
    if card is None:
        raise Decline("unknown gift card")
    async with services.pool.acquire() as conn, conn.transaction():
        ours = {w.write_id: w for w in await mirror.our_writes(conn, card_id)}
        repairs = await mirror.repair_entries(conn, card_id)
        mirrored = await mirror.mirrored_writes(conn, card_id)
        rows = _rows(card, entries, ours, repairs, mirrored, cause, first_sync=state.enabled is None,
                     sold=sold_by is not None)
        inserted = await mirror.insert_new(conn, card_id, rows)
        events = [_event(card, row, ours, sold_by if row.detail == CREATION else order_ref)
                  for row in rows if row.entry_id in inserted]
        if state.enabled is not False and not card.enabled:
            events.append(_deactivation(card, ours))
        events = [event for event in events if event is not None]
        await feed.append(conn, events, services.feed_subscribers)
        await mirror.record_position(conn, card_id, entries[-1].id if entries else None, card.balance.amount,
                                     card.balance.currency, card.enabled, card.last_characters)
    if events:
        log.info("card_resynced", card_id=card_id, entries=len(entries), events=len(events))
    return len(events)


def _rows(card: LedgerCard, entries: list[BalanceEntry], ours: dict[str, OurWrite], repairs: dict[str, str],
          mirrored: set[str], cause: str | None, *, first_sync: bool = False, sold: bool = False) -> list[MirrorRow]:
    by_entry = {w.ledger_transaction_id: w for w in ours.values() if w.ledger_transaction_id}
    rows: list[MirrorRow] = []
    balance = card.balance.amount  # walked back from the balance now: the balance after each entry
    creation_seen = False
    for entry in reversed(entries):
        rows.append(_row(entry, balance, ours, by_entry, repairs, cause))
        creation_seen |= entry.cause == CREATION
        balance -= entry.delta.amount
    rows.reverse()
    if not creation_seen:
        # A ledger that makes no entry for a card's creation (Shopify, SHOPLINE): our create is
        # mirrored from our own journal, once.
        created = [w for w in ours.values() if w.operation in CREATES]
        for write in created:
            if write.write_id not in mirrored:
                rows.insert(0, MirrorRow(f"{write.operation}:{write.write_id}", write.amount or Decimal(0),
                                         card.balance.currency, None, datetime.now(UTC), "ours", "pos_sale",
                                         write.write_id, write.operation, "no ledger entry for a creation"))
        if not created and first_sync:
            # A card made elsewhere (sold at the web shop, by an admin, by another app), met for
            # the first time: its issue is an event too, with what it was issued with (the
            # balance before its first entry, walked back from the balance now). The signal's
            # cause is about the movements it announced, not the card's birth: a creation is
            # a web-shop sale only when an order named the card among what it sold.
            rows.insert(0, MirrorRow(f"{CREATION}:{card.id}", balance, card.balance.currency, balance,
                                     card.created_at or datetime.now(UTC), "foreign",
                                     "online_checkout" if sold else "other_app", None, None, CREATION))
    return rows


def _row(entry: BalanceEntry, balance_after: Decimal, ours: dict[str, OurWrite], by_entry: dict[str, OurWrite],
         repairs: dict[str, str], cause: str | None) -> MirrorRow:
    def made(origin: str, what: str, write_id: str | None = None, operation: str | None = None,
             detail: str | None = entry.detail) -> MirrorRow:
        return MirrorRow(entry.id, entry.delta.amount, entry.delta.currency, balance_after, entry.processed_at,
                         origin, what, write_id, operation, detail)

    marked = _MARKER.match(entry.note or "")
    if marked is not None and marked[1] in _OURS:
        return made("ours", _OURS[marked[1]][1], marked[2], marked[1])
    write = by_entry.get(entry.id)
    if write is not None and write.operation in _OURS:
        return made("ours", _OURS[write.operation][1], write.write_id, write.operation)
    if entry.id in repairs:
        return made("ours", "repair", repairs[entry.id], "repair")
    if entry.cause == CREATION:
        create = next((w for w in ours.values() if w.operation in CREATES), None)
        if create is not None:
            return made("ours", "pos_sale", create.write_id, create.operation)
        return made("foreign", "other_app", detail=CREATION)
    return made("foreign", entry.cause or cause or "admin_adjustment")


def _event(card: LedgerCard, row: MirrorRow, ours: dict[str, OurWrite], order_ref: str | None) -> NewEvent | None:
    if row.cause == "repair":
        return None  # bookkeeping: the foreign change it restores has its own event
    write = ours.get(row.write_id) if row.write_id else None
    if row.origin == "ours":
        kind, cause = _OURS[row.operation or ""]
        amount = write.amount if write is not None and write.amount is not None else abs(row.amount)
        return NewEvent(card.id, card.last_characters, kind, cause, amount, row.balance_after, row.currency,
                        row.occurred_at, operation=row.operation, entry_id=row.entry_id)
    kind = "issued" if row.detail == CREATION else ("credited" if row.amount >= 0 else "debited")
    return NewEvent(card.id, card.last_characters, kind, row.cause, abs(row.amount), row.balance_after, row.currency,
                    row.occurred_at, order_ref=order_ref, entry_id=row.entry_id)


def _deactivation(card: LedgerCard, ours: dict[str, OurWrite]) -> NewEvent:
    """A card seen enabled (or never seen) and now disabled. Ours if we deactivated it (NewStore
    does so when a gift-card sale is returned)."""
    by_us = any(w.operation == "deactivate" for w in ours.values())
    return NewEvent(card.id, card.last_characters, "deactivated", "pos_refund" if by_us else "admin_adjustment",
                    None, card.balance.amount, card.balance.currency, card.deactivated_at or datetime.now(UTC),
                    operation="deactivate" if by_us else None)
