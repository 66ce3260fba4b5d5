"""The poller's change list on a ledger that lists cards by their last update, newest first
(Shopify's giftCards by UPDATED_AT, Gift Card Hero's search ordered by updated_at).

Each pass walks from the top down to a floor, reading at most a few pages. The floor is the
newest update listed before less a margin (an update committed late, or stamped by a clock a
little behind, is listed again rather than missed: a re-read of an unchanged card appends
nothing), but never below the last walk's start less the margin: an update stamped before that
was visible to the last walk, which listed it. So a quiet shop's pass reads one short page.

A walk that runs out of pages before its floor (a burst of changes, or the first pass over a
shop's every card) is resumed at the next pass from where it stopped (the page cursor) after
the new top has been read: nothing between the top and the floor is ever skipped, however long
the list. The watermark (opaque to everything but this module) holds all of it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from adapter.ports import CardChanges, ChangedCard

log = structlog.get_logger(__name__)

CHANGE_MARGIN = timedelta(minutes=2)

# One page of the list, newest first, from a cursor (None: the top): its cards, and the cursor of
# the next page (None: the list ends here).
PageReader = Callable[[str | None], Awaitable[tuple[list[ChangedCard], str | None]]]


# Unfinished walks kept at most; past that the two newest merge (the newer one's continuation
# covers the older one's range, from higher up).
MAX_UNFINISHED = 4


@dataclass(frozen=True)
class Watermark:
    newest: datetime | None = None        # the newest update listed so far
    walked: datetime | None = None        # when the last walk from the top started
    # Walks left unfinished, oldest first: (the cursor to go on from, how far down: None to the end).
    unfinished: tuple[tuple[str, datetime | None], ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> Watermark:
        """The JSON this module writes; an older watermark was the newest update's time alone."""
        if not raw:
            return cls()
        if not raw.startswith("{"):
            return cls(newest=datetime.fromisoformat(raw))
        fields = json.loads(raw)
        moment = lambda value: datetime.fromisoformat(value) if value else None  # noqa: E731
        return cls(moment(fields.get("newest")), moment(fields.get("walked")),
                   tuple((cursor, moment(floor)) for cursor, floor in fields.get("unfinished") or ()))

    def dump(self) -> str:
        moment = lambda value: value.isoformat() if value else None  # noqa: E731
        return json.dumps({"newest": moment(self.newest), "walked": moment(self.walked),
                           "unfinished": [[cursor, moment(floor)] for cursor, floor in self.unfinished]})

    def top_floor(self) -> tuple[datetime | None, bool]:
        """How far down the walk from the top goes, and whether the floor itself is excluded:
        when the last walk started more than the margin after the newest update, every update
        stamped up to it was visible to that walk and listed (ledgers stamp whole seconds: a
        burst's last second would otherwise be listed again at every pass)."""
        if self.newest is None:
            return None, False  # the first walk: the whole list, over as many passes as it takes
        if self.walked is not None and self.walked - CHANGE_MARGIN >= self.newest:
            return self.newest, True
        floor = self.newest - CHANGE_MARGIN
        if self.walked is not None:
            floor = max(floor, self.walked - CHANGE_MARGIN)
        return floor, False


async def walk_changes(since: str | None, read_page: PageReader, max_pages: int, ledger: str,
                       now: datetime | None = None) -> CardChanges:
    """One pass: the top down to its floor, then, with the pages left (at least one while any
    is unfinished, so none waits forever behind a busy top), unfinished walks, oldest first."""
    mark = Watermark.parse(since)
    started = now or datetime.now(UTC)
    cards: list[ChangedCard] = []
    budget = [max_pages]

    async def walk(cursor: str | None, floor: datetime | None, pages: int, *, above: bool = False) -> str | None:
        """Down from `cursor` to `floor` (`above`: not the floor itself), at most `pages`; where
        to go on from if not there."""
        for _ in range(pages):
            page, next_cursor = await read_page(cursor)
            budget[0] -= 1
            for card in page:
                if floor is not None and (card.updated_at < floor or (above and card.updated_at == floor)):
                    return None
                cards.append(card)
            if next_cursor is None:
                return None
            cursor = next_cursor
        return cursor

    unfinished = list(mark.unfinished)
    top_floor, above = mark.top_floor()
    stopped = await walk(None, top_floor, max(1, max_pages - (1 if unfinished else 0)), above=above)
    fresh = [(stopped, top_floor)] if stopped is not None else []
    while unfinished and budget[0] > 0:
        cursor, floor = unfinished[0]
        left = await walk(cursor, floor, budget[0])
        if left is None:
            unfinished.pop(0)
        else:
            unfinished[0] = (left, floor)
    unfinished += fresh
    while len(unfinished) > MAX_UNFINISHED:
        (_, older_floor), (cursor, newer_floor) = unfinished[-2], unfinished[-1]
        floors = [f for f in (older_floor, newer_floor) if f is not None]
        unfinished[-2:] = [(cursor, min(floors) if len(floors) == 2 else None)]
    if stopped is not None:
        log.warning("change_list_truncated", ledger=ledger, cards=len(cards), unfinished=len(unfinished))
    newest = max([c.updated_at for c in cards if c.updated_at is not None] + ([mark.newest] if mark.newest else []),
                 default=None)
    if newest is None:
        return CardChanges(cards, since)
    return CardChanges(cards, Watermark(newest, started, tuple(unfinished)).dump())
