"""The poller's change list on a ledger that lists cards by their last update, newest first
(Shopify's giftCards by UPDATED_AT, Gift Card Hero's search ordered by updated_at): walk down to
the watermark, less a margin, and move the watermark only over what the walk has listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from adapter.ports import CardChanges, ChangedCard

log = structlog.get_logger(__name__)

# An update committed late, or stamped by a clock a little behind: listed again rather than missed
# (a re-read of an unchanged card appends nothing).
CHANGE_MARGIN = timedelta(minutes=2)


class ChangeWalk:
    """The watermark is "<newest update listed>|<when that walk started>" (a plain time: an older
    watermark, read as the newest update). The walk goes down to the newest update less the
    margin, but never below the last walk's start less the margin: an update stamped before
    that was visible to the last walk, which listed it. So a quiet shop's pass reads one short
    page, not again every card of the last burst (all within the margin of its newest update)."""

    def __init__(self, since: str | None, now: datetime | None = None) -> None:
        self._started = now or datetime.now(UTC)
        newest, _, walked = (since or "").partition("|")
        self._since_newest = datetime.fromisoformat(newest) if newest else None
        floor = self._since_newest - CHANGE_MARGIN if self._since_newest else None
        if floor is not None and walked:
            floor = max(floor, min(self._since_newest, datetime.fromisoformat(walked) - CHANGE_MARGIN))
        self._since = since
        self._floor = floor
        self._newest: datetime | None = None
        self.cards: list[ChangedCard] = []

    def take(self, card: ChangedCard) -> bool:
        """List a card (its updated_at set); False once the walk is below the floor (this card
        and all after it are older than the watermark allows): stop."""
        updated = card.updated_at
        if self._floor is not None and updated < self._floor:
            return False
        if self._newest is None or updated > self._newest:
            self._newest = updated
        self.cards.append(card)
        return True

    def complete(self) -> CardChanges:
        """The walk reached the floor (or the last page): the newest update seen (or the one
        before, if none is newer) and this walk's start are the next watermark."""
        newest = self._newest
        if self._since_newest is not None and (newest is None or self._since_newest >= newest):
            newest = self._since_newest
        if newest is None:
            return CardChanges(self.cards, self._since)
        return CardChanges(self.cards, f"{newest.isoformat()}|{self._started.isoformat()}")

    def truncated(self, ledger: str) -> CardChanges:
        """More cards changed than a pass may read: the watermark stays (none yet: the newest
        seen), so the next pass reads from the top again; the poller's round of known cards
        covers the rest meanwhile. Nothing below it is skipped."""
        log.warning("change_list_truncated", ledger=ledger, cards=len(self.cards))
        if self._since is None:  # the newest seen, without a walk time: the margin counts from it
            return CardChanges(self.cards, self._newest.isoformat() if self._newest else None)
        return CardChanges(self.cards, self._since)
