"""Exactly once on a ledger that can only set a balance (ledgers.md §3.2).

SHOPLINE and Gift Card Hero take `PUT balance = T`: no delta, no precondition, no note. This
module turns such a ledger (an `AbsoluteLedger`) into the `LedgerPort` the use cases call, so a
debit or credit there keeps the promise it keeps on Shopify. Per card:

1. take the card's write lock in Postgres (shared by every replica);
2. read the balance B and the card's newest history entry (the mark);
3. record the intent (B, T = B ± amount, the mark) on the write's row, committed;
4. PUT T;
5. verify: find our entry among the entries after the mark. Entries before ours are foreign
   changes our PUT overwrote (a checkout between our read and our PUT): they are restored with
   a correcting PUT, counted and logged, never left silent.

An unknown outcome is settled from the same record: the entries after the mark must show our
PUT as the one "set" entry where the running sum reaches T − B (applied), or no such entry while
the balance still adds up (not applied). Anything else goes to review (a row in ledger_reviews,
a metric, a log line) and is never resent blindly.

Two rules keep late PUTs harmless. A card with one of our PUTs still unsettled takes no other
write of ours (its late arrival would overwrite it): such a write is answered "retry later". And
aiohttp's own resend of a PUT is switched off (adapter.ledgers.rest); were one to happen anyway,
its second entry makes two candidates, which is a review, not a guess.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import structlog

from adapter.domain.money import Money
from adapter.ledgers.marker import marker
from adapter.observability.metrics import ABSOLUTE_VERIFICATIONS, FOREIGN_CHANGES_REPAIRED, LEDGER_REVIEWS
from adapter.ports import (
    AbsoluteLedger,
    BalanceEntry,
    CardChanges,
    CardHolder,
    CardReading,
    DeclineReason,
    EntryKind,
    LedgerCard,
    LedgerConfiguration,
    LedgerDecline,
    LedgerError,
    LedgerNeedsReview,
    LedgerOutcomeUnknown,
    LedgerTransaction,
    LedgerUnavailable,
    Priority,
    WriteRef,
)
from adapter.store import balance_intents as store
from adapter.store.balance_intents import BalanceIntent

log = structlog.get_logger(__name__)

# A correcting PUT can itself be overtaken by another foreign change: a few rounds, then review.
REPAIR_ROUNDS = 3
# An answered PUT whose entry the history does not show is looked for again (by the reconciler's
# sweep) this long before it goes to review. Zero: at once. A PUT that changed nothing (a foreign
# change had already set the balance to our target) makes no entry on SHOPLINE, and guessing
# what it means is what review is for; a lagging history is not seen in the emulators, and a
# delay held such writes open past the chaos runs' settling window. Raise it only with a
# settlement for that no-op case.
VERIFY_PATIENCE = timedelta(0)


class _Ambiguous(enum.Enum):
    AMBIGUOUS = "ambiguous"


AMBIGUOUS = _Ambiguous.AMBIGUOUS


def locate_put(entries: list[BalanceEntry], balance_read: Decimal,
               target: Decimal) -> tuple[int, Decimal] | None | _Ambiguous:
    """Where our PUT (B -> T) is among the entries after the mark, oldest first, and what it
    overwrote.

    The mark is read just before the balance, so the first few entries may already be in B (a
    change landing between the two reads). A landed PUT leaves the balance at exactly T: it is a
    "set" entry e_i such that, for the first entry e_j after our read, e_j + ... + e_i = T − B;
    e_j .. e_(i-1) are the changes it wrote over. None: no entry can be ours. AMBIGUOUS: more
    than one reading fits (another app set the same balance, a second copy of our PUT)."""
    wanted = target - balance_read
    readings = {(end, window - entries[end].delta.amount) for end, window in _runs(entries)
                if window == wanted and entries[end].kind is EntryKind.SET}
    if not readings:
        return None
    return readings.pop() if len(readings) == 1 else AMBIGUOUS


def unchanged_put(entries: list[BalanceEntry], balance_read: Decimal, target: Decimal) -> bool:
    """Whether changes since our read (a run of the entries after the mark) had already moved the
    balance from what we read to our target, so an answered PUT of ours that left no entry was
    one that changed nothing (SHOPLINE records no entry for such a PUT): our own movement is then
    what is missing, on top of theirs."""
    return any(window == target - balance_read for _, window in _runs(entries))


def _runs(entries: list[BalanceEntry]) -> Iterator[tuple[int, Decimal]]:
    """Each run of consecutive entries: the index of its last entry, and what the run added up
    to (the balance it moved from just before its first entry)."""
    for end in range(len(entries)):
        window = Decimal(0)
        for start in range(end, -1, -1):
            window += entries[start].delta.amount
            yield end, window


def explains(entries: list[BalanceEntry], balance_read: Decimal, balance_now: Decimal) -> bool:
    """Whether the entries after our read (a suffix of those after the mark) account for the
    whole change of the balance since we read it."""
    moved = Decimal(0)
    if balance_now == balance_read:
        return True
    for entry in reversed(entries):
        moved += entry.delta.amount
        if balance_read + moved == balance_now:
            return True
    return False


@dataclass
class AbsoluteBalanceLedger:
    """The LedgerPort over an AbsoluteLedger client and our Postgres pool."""

    client: AbsoluteLedger
    pool: object
    today: object = None  # () -> date; the use cases' clock, for expiry
    # The card write lock (store.card_lock). Injectable only so a test can show what its absence
    # costs (tests/integration/test_absolute_balance.py, the race test).
    lock: object = store.card_lock

    def __post_init__(self) -> None:
        self.capabilities = self.client.capabilities
        self._ledger = self.capabilities.name

    # ---- pass-through: cards --------------------------------------------------------------

    async def create_card(self, *, code: str, amount: Money, ref: WriteRef, deadline: float,
                          holder: CardHolder | None = None) -> LedgerCard:
        # A new card has no balance to overwrite; its note proves it ours (find_created). Neither
        # ledger links cards to customer accounts: the holder is not sent.
        return await self.client.create_card(code=code, amount=amount, note=marker(ref), deadline=deadline)

    async def find_created(self, *, code: str, ref: WriteRef, deadline: float) -> LedgerCard | None:
        return await self.client.find_created(code=code, note=marker(ref), deadline=deadline)

    async def deactivate(self, *, card_id: str, deadline: float) -> LedgerCard:
        return await self.client.deactivate(card_id=card_id, deadline=deadline)

    async def get_card(self, *, card_id: str, deadline: float) -> LedgerCard | None:
        return await self.client.get_card(card_id=card_id, deadline=deadline)

    async def find_by_code(self, *, code: str, deadline: float, priority: Priority = Priority.MONEY) -> LedgerCard | None:
        return await self.client.find_by_code(code=code, deadline=deadline, priority=priority)

    async def configuration(self, *, deadline: float) -> LedgerConfiguration:
        return await self.client.configuration(deadline=deadline)

    async def reread_card(self, *, card_id: str, after: str | None, deadline: float) -> CardReading:
        return await self.client.reread(card_id=card_id, after=after, deadline=deadline)

    async def cards_of_order(self, *, order_id: str, deadline: float) -> list[LedgerCard]:
        return []  # neither SHOPLINE nor Gift Card Hero lists the cards an order sold (cards_by_order)

    async def changed_cards(self, *, since: str | None, deadline: float) -> CardChanges:
        return await self.client.changed_cards(since=since, deadline=deadline)

    # ---- money ----------------------------------------------------------------------------

    async def debit(self, *, card_id: str, amount: Money, ref: WriteRef, deadline: float) -> LedgerTransaction:
        return await self._move(card_id, Money(-amount.amount, amount.currency), ref, deadline)

    async def credit(self, *, card_id: str, amount: Money, ref: WriteRef, deadline: float) -> LedgerTransaction:
        return await self._move(card_id, amount, ref, deadline)

    async def _move(self, card_id: str, delta: Money, ref: WriteRef, deadline: float) -> LedgerTransaction:
        async with self.lock(self.pool, card_id, deadline) as conn:
            if await store.unsettled_put_on(conn, card_id, ref.write_id):
                # Its PUT may still land and would overwrite ours: settle it first.
                raise LedgerUnavailable("an earlier write to this card is not settled yet", retry_after=2.0)
            # The mark first: every entry that can change the balance after our read is after it.
            mark = await self.client.newest_entry(card_id=card_id, deadline=deadline)
            card = await self.client.get_card(card_id=card_id, deadline=deadline)
            if card is None:
                raise LedgerDecline(DeclineReason.CARD_NOT_FOUND, "no card with this id")
            self._ensure_movable(card, delta)
            read, target = card.balance.amount, card.balance.amount + delta.amount
            await store.record_put(conn, ref.write_id, read, target, mark)
            try:
                entry = await self.client.set_balance(card_id=card_id, balance=Money(target, delta.currency),
                                                      deadline=deadline)
            except (LedgerDecline, LedgerUnavailable):
                await store.forget_put(conn, ref.write_id)  # not executed: no PUT to settle
                raise
            # The PUT landed: from here nothing may fail the write. Checking for foreign
            # changes is our business, and if it can't finish now a sweep finishes it.
            intent = BalanceIntent(ref.write_id, ref.operation, card_id, abs(delta.amount), delta.currency, read,
                                   target, mark, None, None, datetime.now(UTC))
            ours = await self._verify(conn, intent, entry, deadline)
        return _transaction(intent, delta, ours)

    def _ensure_movable(self, card: LedgerCard, delta: Money) -> None:
        """What Shopify's delta write would refuse, checked before we set anything."""
        if not card.enabled:
            raise LedgerDecline(DeclineReason.DEACTIVATED, "card disabled")
        if self.today is not None and card.is_expired(self.today()):
            raise LedgerDecline(DeclineReason.EXPIRED, "card expired")
        if card.balance.currency != delta.currency:
            raise LedgerDecline(DeclineReason.MISMATCHING_CURRENCY, "card currency differs")
        if card.balance.amount + delta.amount < 0:
            raise LedgerDecline(DeclineReason.INSUFFICIENT_FUNDS, "balance below the debit")

    async def _verify(self, conn, intent: BalanceIntent, answered: BalanceEntry | None,
                      deadline: float) -> BalanceEntry | None:
        """Find our PUT's entry and restore what it overwrote; None if that must wait (the
        write stays 'pending' for the sweep) or went to review."""
        if answered is not None:  # the ledger said which entry the PUT made
            overwritten = (intent.balance_target - intent.balance_read) - answered.delta.amount
            return await self._accept(conn, intent, answered, overwritten, deadline)
        return await self._check(conn, intent, deadline)

    async def _check(self, conn, intent: BalanceIntent, deadline: float) -> BalanceEntry | None:
        """The foreign-change check of a PUT the ledger answered (so: applied), from the history.
        An entry that does not show yet is given VERIFY_PATIENCE (the history may lag the
        balance) before it goes to review; the write stays applied whatever this finds."""
        try:
            entries = await self.client.history(card_id=intent.card_id, after=intent.history_mark, deadline=deadline)
        except LedgerNeedsReview as unreadable:  # e.g. the mark fell out of the history window
            await self._review(conn, intent, "history_unreadable", {"why": unreadable.reason})
            return None
        except LedgerError as error:
            return await self._defer(conn, intent, type(error).__name__)
        where = locate_put(entries, intent.balance_read, intent.balance_target)
        if isinstance(where, tuple):
            index, overwritten = where
            return await self._accept(conn, intent, entries[index], overwritten, deadline)
        if where is None and unchanged_put(entries, intent.balance_read, intent.balance_target):
            # A checkout elsewhere had taken the balance to our target before our PUT landed, so
            # the PUT changed nothing and left no entry: put our own movement back on top, as a
            # repair whose entry stands for the write (store.finish_repair).
            ABSOLUTE_VERIFICATIONS.labels(self._ledger, "unchanged_put").inc()
            log.warning("absolute_put_changed_nothing", ledger=self._ledger, write_id=intent.write_id,
                        card_id=intent.card_id)
            return await self._accept(conn, intent, None, intent.balance_target - intent.balance_read, deadline)
        if where is AMBIGUOUS or datetime.now(UTC) - intent.created_at > VERIFY_PATIENCE:
            await self._review(conn, intent, "put_not_identified", {"entries": len(entries)})
            return None
        return await self._defer(conn, intent, "entry not in the history yet")

    async def _defer(self, conn, intent: BalanceIntent, reason: str, *, unrepaired: Decimal | None = None) -> None:
        """Leave the check (or, with `unrepaired`, the repair) to the sweep."""
        ABSOLUTE_VERIFICATIONS.labels(self._ledger, "deferred").inc()
        log.warning("absolute_verify_deferred", ledger=self._ledger, write_id=intent.write_id, reason=reason)
        state = "pending" if unrepaired is None else "repairing"
        await store.mark_verify(conn, intent.write_id, state, unrepaired=unrepaired)

    async def _accept(self, conn, intent: BalanceIntent, ours: BalanceEntry | None, overwritten: Decimal,
                      deadline: float) -> BalanceEntry | None:
        """Our PUT is `ours` (None: it changed nothing, and made no entry); `overwritten`: what
        is missing, to restore (the foreign changes it wrote over, or our own movement). Our
        entry, or the first correcting PUT's where ours made none."""
        ABSOLUTE_VERIFICATIONS.labels(self._ledger, "verified").inc()
        entry_id = ours.id if ours is not None else None
        if overwritten == 0:
            await store.mark_verify(conn, intent.write_id, "verified", entry_id)
            return ours
        # 'repairing' before anything is sent: should this process die now, the sweep restores it.
        await store.mark_verify(conn, intent.write_id, "repairing", entry_id, unrepaired=overwritten)
        first_repair = await self._repair(conn, intent, overwritten, deadline)
        return ours or first_repair

    async def _repair(self, conn, intent: BalanceIntent, lost: Decimal, deadline: float, *,
                      done: int = 0) -> BalanceEntry | None:
        """Put back the foreign changes our PUT overwrote (`lost`) on top of the card's balance now.

        Each correcting PUT is settled like a write of its own: answered or found in the history
        (applied; what it overwrote in turn is the next round's `lost`), proven not executed
        (absent: the sweep starts a round again from a fresh read), or of unknown outcome: left
        'sending', which blocks our other writes to the card, for the sweep to settle from the
        history (_resume_repair). Never resent blindly. `done`: rounds applied before. Answers
        the first correcting PUT's entry, if this call applied one."""
        first: BalanceEntry | None = None
        for _ in range(done, REPAIR_ROUNDS):
            detail = {"lost": str(lost), "currency": intent.currency}
            try:
                mark = await self.client.newest_entry(card_id=intent.card_id, deadline=deadline)
                card = await self.client.get_card(card_id=intent.card_id, deadline=deadline)
                if card is None:
                    raise LedgerDecline(DeclineReason.CARD_NOT_FOUND, "card vanished")
            except LedgerDecline as error:
                await self._review(conn, intent, "repair_not_started", {**detail, "error": type(error).__name__})
                return first
            except LedgerError as error:  # nothing sent: from a fresh read, later
                await self._defer(conn, intent, type(error).__name__, unrepaired=lost)
                return first
            now, target = card.balance.amount, card.balance.amount + lost
            if target < 0:
                # The checkout spent money our debit had already taken: the card is overdrawn by
                # the difference. Setting 0 would hide it; a person must decide.
                await self._review(conn, intent, "foreign_change_overdraws", {**detail, "balance": str(now)})
                return first
            repair = await store.start_repair(conn, intent.write_id, intent.card_id, lost, intent.currency,
                                              now, target, mark)
            try:
                answered = await self.client.set_balance(card_id=intent.card_id,
                                                         balance=Money(target, intent.currency), deadline=deadline)
            except LedgerDecline as error:  # refused before it executed, and it would be again
                await store.finish_repair(conn, repair.repair_id, "absent")
                await self._review(conn, intent, "repair_refused",
                                   {**detail, "repair_id": repair.repair_id, "error": type(error).__name__})
                return first
            except LedgerUnavailable as error:  # not executed: a fresh round later
                await store.finish_repair(conn, repair.repair_id, "absent", unrepaired=lost)
                await self._defer(conn, intent, type(error).__name__, unrepaired=lost)
                return first
            except LedgerError as error:  # it may have landed: the history will say
                await self._defer(conn, intent, type(error).__name__, unrepaired=lost)
                return first
            if answered is not None:
                left = (target - now) - answered.delta.amount
                await store.finish_repair(conn, repair.repair_id, "applied", answered.id, unrepaired=left)
                self._repaired(intent, repair)
                made = answered
            else:
                settled = await self._settle_repair(conn, intent, repair, deadline, answered=True)
                if settled is None:
                    return first
                left, made = settled
            first = first or made
            if left == 0:
                await store.mark_verify(conn, intent.write_id, "verified")
                return first
            lost = left
        await self._review(conn, intent, "repair_rounds_exhausted", {"lost": str(lost), "currency": intent.currency})
        return first

    async def _settle_repair(self, conn, intent: BalanceIntent, repair: store.Repair, deadline: float, *,
                             answered: bool) -> tuple[Decimal, BalanceEntry | None] | None:
        """What is still lost once this correcting PUT is settled from the history (the rule of
        find_write: our entry where the running sum reaches its target, or none while the
        balance still adds up), and its entry (None: it did not land); None when that must
        wait (still 'sending') or went to review."""
        detail = {"lost": str(repair.amount), "currency": intent.currency, "repair_id": repair.repair_id}
        try:
            entries = await self.client.history(card_id=intent.card_id, after=repair.history_mark, deadline=deadline)
            where = locate_put(entries, repair.balance_read, repair.balance_target)
            if where is None and not answered:
                card = await self.client.get_card(card_id=intent.card_id, deadline=deadline)
                if card is not None and explains(entries, repair.balance_read, card.balance.amount):
                    await store.finish_repair(conn, repair.repair_id, "absent", unrepaired=repair.amount)
                    return repair.amount, None
                newest = await self.client.newest_entry(card_id=intent.card_id, deadline=deadline)
                if newest != (entries[-1].id if entries else repair.history_mark):
                    raise LedgerUnavailable("the card changed while it was read", retry_after=1.0)
        except LedgerNeedsReview as unreadable:
            where, detail["why"] = None, unreadable.reason
        except LedgerError as error:
            await self._defer(conn, intent, type(error).__name__, unrepaired=repair.amount)
            return None
        if isinstance(where, tuple):
            index, left = where
            await store.finish_repair(conn, repair.repair_id, "applied", entries[index].id, unrepaired=left)
            self._repaired(intent, repair)
            return left, entries[index]
        await store.finish_repair(conn, repair.repair_id, "review")
        await self._review(conn, intent, "repair_unsettled", {**detail, "ambiguous": where is AMBIGUOUS})
        return None

    async def _resume_repair(self, conn, intent: BalanceIntent, deadline: float) -> None:
        """The sweep's part of _repair: settle a correcting PUT left 'sending', then restore what
        is still missing."""
        repairs = await store.repairs_of(conn, intent.write_id)
        lost = intent.unrepaired
        if repairs and repairs[-1].state == "sending":
            settled = await self._settle_repair(conn, intent, repairs[-1], deadline, answered=False)
            if settled is None:
                return
            lost = settled[0]
            repairs = await store.repairs_of(conn, intent.write_id)
        if not lost:
            await store.mark_verify(conn, intent.write_id, "verified")
            return
        await self._repair(conn, intent, lost, deadline, done=sum(r.state == "applied" for r in repairs))

    def _repaired(self, intent: BalanceIntent, repair: store.Repair) -> None:
        FOREIGN_CHANGES_REPAIRED.labels(self._ledger).inc()
        log.warning("foreign_change_repaired", ledger=self._ledger, card_id=intent.card_id,
                    write_id=intent.write_id, amount=str(repair.amount), currency=intent.currency)

    async def _review(self, conn, intent: BalanceIntent, reason: str, detail: dict, *, applied: bool = True) -> None:
        """`applied=False` only where the write's own outcome is what the ledger cannot prove."""
        review_id = await store.open_review(conn, intent.write_id, intent.card_id, reason, applied=applied, detail={
            **detail, "operation": intent.operation, "balance_read": str(intent.balance_read),
            "balance_target": str(intent.balance_target), "history_mark": intent.history_mark,
        })
        LEDGER_REVIEWS.labels(self._ledger, reason).inc()
        log.error("ledger_write_needs_review", ledger=self._ledger, review_id=review_id, reason=reason,
                  write_id=intent.write_id, card_id=intent.card_id)

    # ---- settling -------------------------------------------------------------------------

    async def find_write(self, *, card_id: str, ref: WriteRef, not_before: datetime,
                         deadline: float) -> LedgerTransaction | None:
        async with self.pool.acquire() as conn:
            intent = await store.intent_of(conn, ref.write_id)
        if intent is None or intent.balance_read is None:
            return None  # the intent is recorded before every PUT: none was sent
        if intent.verify_state == "review":
            raise LedgerNeedsReview("the write is in review")
        if intent.verify_state in _APPLIED:
            return _transaction(intent, _signed(intent), None)
        async with self.lock(self.pool, card_id, deadline) as conn:
            intent = await store.intent_of(conn, ref.write_id)  # under the lock: final
            # Another settler (a replica's sweep, the caller's retry) may have settled it while we
            # waited for the lock: its correcting PUT would now read as a second candidate for ours.
            if intent.verify_state == "review":
                raise LedgerNeedsReview("the write is in review")
            if intent.verify_state in _APPLIED:
                return _transaction(intent, _signed(intent), None)
            if intent.verify_state == "pending":  # its PUT was answered: applied; the check is open
                return _transaction(intent, _signed(intent), await self._check(conn, intent, deadline))
            try:
                entries = await self.client.history(card_id=card_id, after=intent.history_mark, deadline=deadline)
            except LedgerNeedsReview as unreadable:  # e.g. the mark fell out of the history window
                await self._review(conn, intent, "history_unreadable", {"why": unreadable.reason}, applied=False)
                raise
            where = locate_put(entries, intent.balance_read, intent.balance_target)
            if where is AMBIGUOUS:
                await self._review(conn, intent, "settle_ambiguous", {"entries": len(entries)}, applied=False)
                raise LedgerNeedsReview("more than one entry could be this write")
            if where is None:
                card = await self.client.get_card(card_id=card_id, deadline=deadline)
                if card is not None and explains(entries, intent.balance_read, card.balance.amount):
                    return None  # every change since the read is someone else's: not applied
                newest = await self.client.newest_entry(card_id=card_id, deadline=deadline)
                if newest != (entries[-1].id if entries else intent.history_mark):
                    # The card moved between our two reads (a checkout elsewhere): the history we
                    # read is not the balance's. Nothing is ambiguous yet: settle again later.
                    raise LedgerUnavailable("the card changed while it was read", retry_after=1.0)
                await self._review(conn, intent, "history_does_not_add_up",
                                   {"entries": len(entries), "balance": str(card.balance.amount) if card else None},
                                   applied=False)
                raise LedgerNeedsReview("the history does not explain the balance")
            index, overwritten = where
            ours = await self._accept(conn, intent, entries[index], overwritten, deadline)
        return _transaction(intent, _signed(intent), ours)

    async def settle_background(self, *, deadline: float, limit: int = 20) -> int:
        """Finish the foreign-change checks and repairs that could not finish right after their
        PUT (the write is applied: only what it may have overwritten is still open)."""
        async with self.pool.acquire() as conn:
            pending = await store.pending_verifications(conn, limit)
        done = 0
        for intent in pending:
            try:
                async with self.lock(self.pool, intent.card_id, deadline) as conn:
                    intent = await store.intent_of(conn, intent.write_id)  # under the lock: final
                    if intent.verify_state == "pending":
                        await self._check(conn, intent, deadline)
                    elif intent.verify_state == "repairing":
                        await self._resume_repair(conn, intent, deadline)
                done += 1
            except LedgerError as error:
                log.info("absolute_verify_still_deferred", ledger=self._ledger, write_id=intent.write_id,
                         reason=type(error).__name__)
        return done


# The PUT is known applied: 'repairing' only restores foreign changes around it.
_APPLIED = ("verified", "repairing")


def _signed(intent: BalanceIntent) -> Money:
    return Money(intent.balance_target - intent.balance_read, intent.currency)


def _transaction(intent: BalanceIntent, delta: Money, ours: BalanceEntry | None) -> LedgerTransaction:
    """Our write as the use cases see it: the amount they asked for. The entry id is the
    ledger's when known; until the check has found it, a stand-in naming our write."""
    entry_id = ours.id if ours is not None else intent.ledger_transaction_id or f"unverified:{intent.write_id}"
    processed_at = ours.processed_at if ours is not None else datetime.now(UTC)
    return LedgerTransaction(id=entry_id, amount=delta, note=None, processed_at=processed_at, card_id=intent.card_id)
