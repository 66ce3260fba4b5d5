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
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import structlog

from adapter.domain.errors import Decline, RetryLater
from adapter.ports import BalanceEntry, LedgerCard, LedgerError
from adapter.services.context import Services
from adapter.services.ledger_errors import transient_from
from adapter.store import announcements, feed, mirror
from adapter.store.announcements import Announcement
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
# Our clock against the ledger's: an announcement may be dated a little before its entry.
ANNOUNCEMENT_SKEW = timedelta(minutes=5)


async def resync(services: Services, card_id: str, deadline: float, *, cause: str | None = None,
                 order_ref: str | None = None, sold_by: str | None = None) -> int:
    """Re-read one card; answers the number of events appended. `cause`/`order_ref`: what the
    signal said of foreign changes it announced (an order's checkout), used where the ledger
    itself does not say and the signal gave no sizes (announced_movements has those). `sold_by`:
    the order that sold the card, when the signal named the card as that order's line item; only
    then is a creation met here a web-shop sale of that order.

    On a ledger whose history names no causes, a foreign entry no announcement explains is held
    back (it and every later entry) until SYNC_HOLD_SECONDS after it happened: its webhook may
    still come. What came before it is mirrored; then HeldBack (a webhook's re-read is retried,
    and the poller takes the card first, once the hold is over)."""
    async with services.pool.acquire() as conn:
        state = await mirror.sync_state(conn, card_id)
    try:
        reading = await services.ledger.reread_card(card_id=card_id, after=state.last_entry_id, deadline=deadline)
    except LedgerError as error:
        raise transient_from(error) from None
    card, entries = reading.card, reading.entries
    if card is None:
        raise Decline("unknown gift card")
    hold_after = None
    if not services.ledger.capabilities.entry_causes and services.sync_hold_seconds > 0:
        hold_after = datetime.now(UTC) - timedelta(seconds=services.sync_hold_seconds)
    async with services.pool.acquire() as conn, conn.transaction():
        entry_ids = [entry.id for entry in entries]
        ours = {w.write_id: w for w in await mirror.our_writes(conn, card_id, write_ids=_marked_writes(entries),
                                                                 transaction_ids=entry_ids)}
        repairs = await mirror.repair_entries(conn, card_id, entry_ids)
        mirrored = await mirror.mirrored_writes(conn, card_id, [w.write_id for w in ours.values()
                                                                 if w.operation in CREATES])
        explainer = Explainer(await announcements.open_for(conn, card_id), cause, order_ref, hold_after)
        rows = _rows(card, entries, ours, repairs, mirrored, explainer, first_sync=state.enabled is None,
                     sold_by=sold_by)
        await announcements.explained(conn, explainer.matches)
        inserted = await mirror.insert_new(conn, card_id, rows)
        events = [_event(card, row, ours) for row in rows if row.entry_id in inserted]
        held = explainer.held_from is not None
        taken = entries[:explainer.held_from] if held else entries
        enabled = card.enabled if not held else state.enabled is not False
        if state.enabled is not False and not enabled:
            events.append(_deactivation(card, ours))
        events = [event for event in events if event is not None]
        await feed.append(conn, events, services.feed_subscribers)
        balance = card.balance.amount - sum((e.delta.amount for e in entries[len(taken):]), Decimal(0))
        due_at = entries[len(taken)].processed_at + timedelta(seconds=services.sync_hold_seconds) if held else None
        await mirror.record_position(conn, card_id, taken[-1].id if taken else None, balance,
                                     card.balance.currency, enabled, card.last_characters, due_at=due_at)
    if events:
        log.info("card_resynced", card_id=card_id, entries=len(taken), events=len(events))
    if held:
        log.info("card_resync_held", card_id=card_id, held=len(entries) - len(taken))
        assert due_at is not None
        raise HeldBack("a change of the card waits for the webhook that may explain it",
                       retry_after=max(0.5, (due_at - datetime.now(UTC)).total_seconds() + 0.5))
    return len(events)


def _marked_writes(entries: list[BalanceEntry]) -> list[str]:
    """The writes of ours these entries' notes name (a Shopify note carries our marker)."""
    return [marked[2] for entry in entries
            if (marked := _MARKER.match(entry.note or "")) is not None and marked[1] in _OURS]


class HeldBack(RetryLater):
    """Part of the card's history waits for its webhook; `retry_after`: when the wait is over."""


class Explainer:
    """Names the cause of each foreign entry, oldest first, on the ledger's word, an open
    announcement of what it did (consumed: `matches`), or the cause of a signal that gave none;
    an entry none of them explains is an admin_adjustment, unless it happened after `hold_after`:
    then it and everything after it are held (`held_from`, its index)."""

    def __init__(self, open_announcements: list[Announcement], cause: str | None, order_ref: str | None,
                 hold_after: datetime | None) -> None:
        self._open = list(open_announcements)
        self._cause, self._order_ref = cause, order_ref
        self._hold_after = hold_after
        self.matches: dict[int, str] = {}
        self.held_from: int | None = None

    def foreign(self, entry: BalanceEntry) -> tuple[str, str | None] | None:
        """(cause, order) of a foreign entry, or None: hold it."""
        if entry.cause is not None:
            return entry.cause, entry.order_ref or self._order_ref
        for announcement in self._open:
            # An announcement tells of what had happened when it was sent: never of a later entry.
            if announcement.amount == entry.delta.amount \
                    and entry.processed_at <= announcement.announced_at + ANNOUNCEMENT_SKEW:
                self._open.remove(announcement)
                self.matches[announcement.announcement_id] = entry.id
                return announcement.cause, announcement.order_ref
        if self._cause is not None:
            return self._cause, self._order_ref
        if self._hold_after is not None and entry.processed_at > self._hold_after:
            return None
        return "admin_adjustment", None


def _rows(card: LedgerCard, entries: list[BalanceEntry], ours: dict[str, OurWrite], repairs: dict[str, str],
          mirrored: set[str], explainer: Explainer, *, first_sync: bool = False,
          sold_by: str | None = None) -> list[MirrorRow]:
    by_entry = {w.ledger_transaction_id: w for w in ours.values() if w.ledger_transaction_id}
    after: list[Decimal] = []
    balance = card.balance.amount  # walked back from the balance now: the balance after each entry
    for entry in reversed(entries):
        after.append(balance)
        balance -= entry.delta.amount
    after.reverse()
    rows: list[MirrorRow] = []
    for index, entry in enumerate(entries):
        row = _row(entry, after[index], ours, by_entry, repairs, explainer)
        if row is None:
            explainer.held_from = index
            break
        rows.append(row)
    creation_seen = any(entry.cause == CREATION for entry in entries)
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
                                     "online_checkout" if sold_by else "other_app", None, None, CREATION,
                                     order_ref=sold_by))
    return rows


def _row(entry: BalanceEntry, balance_after: Decimal, ours: dict[str, OurWrite], by_entry: dict[str, OurWrite],
         repairs: dict[str, str], explainer: Explainer) -> MirrorRow | None:
    """The entry's mirror row; None to hold it back (Explainer)."""
    def made(origin: str, what: str, write_id: str | None = None, operation: str | None = None,
             detail: str | None = entry.detail, order_ref: str | None = None) -> MirrorRow:
        return MirrorRow(entry.id, entry.delta.amount, entry.delta.currency, balance_after, entry.processed_at,
                         origin, what, write_id, operation, detail, order_ref)

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
    explained = explainer.foreign(entry)
    if explained is None:
        return None
    return made("foreign", explained[0], order_ref=explained[1])


def _event(card: LedgerCard, row: MirrorRow, ours: dict[str, OurWrite]) -> NewEvent | None:
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
                    row.occurred_at, order_ref=row.order_ref, entry_id=row.entry_id)


def _deactivation(card: LedgerCard, ours: dict[str, OurWrite]) -> NewEvent:
    """A card seen enabled (or never seen) and now disabled. Ours if we deactivated it (NewStore
    does so when a gift-card sale is returned)."""
    by_us = any(w.operation == "deactivate" for w in ours.values())
    return NewEvent(card.id, card.last_characters, "deactivated", "pos_refund" if by_us else "admin_adjustment",
                    None, card.balance.amount, card.balance.currency, card.deactivated_at or datetime.now(UTC),
                    operation="deactivate" if by_us else None)
