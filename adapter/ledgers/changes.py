"""The poller's change list on a ledger that lists cards by their last update, newest first
(Shopify's giftCards by UPDATED_AT, Gift Card Hero's search ordered by updated_at): walk down to
the watermark, less a margin, and move the watermark only over what the walk has listed."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from adapter.ports import CardChanges, ChangedCard

log = structlog.get_logger(__name__)

# An update committed late, or stamped by a clock a little behind: listed again rather than missed
# (a re-read of an unchanged card appends nothing).
CHANGE_MARGIN = timedelta(minutes=2)


class ChangeWalk:
    def __init__(self, since: str | None) -> None:
        self._since = since
        self._floor = datetime.fromisoformat(since) - CHANGE_MARGIN if since else None
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
        """The walk reached the floor (or the last page): the newest update seen is the watermark."""
        if self._newest is None or (self._since is not None and datetime.fromisoformat(self._since) >= self._newest):
            return CardChanges(self.cards, self._since)
        return CardChanges(self.cards, self._newest.isoformat())

    def truncated(self, ledger: str) -> CardChanges:
        """More cards changed than a pass may read: the watermark stays (none yet: the newest
        seen), so the next pass reads from the top again; the poller's round of known cards
        covers the rest meanwhile. Nothing below it is skipped."""
        log.warning("change_list_truncated", ledger=ledger, cards=len(self.cards))
        if self._since is None:
            return self.complete()
        return CardChanges(self.cards, self._since)
