"""The poller's change list (issue #12) on each ledger: LedgerPort.changed_cards names the cards
changed or made since the watermark, and the poller registers the ones we did not know and
re-reads changed ones before the rest of its round. adapter.ledgers.changes is tested alone at
the end: the walk down to the watermark."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from adapter.http.keys import SERVICES, WORKERS
from adapter.ledgers.changes import CHANGE_MARGIN, Watermark, walk_changes
from adapter.ports import CardChanges, ChangedCard
from adapter.store import poller as poller_store


POLLER_SERIES = [("poller_passes_total", "led"), ("poller_passes_total", "not_leader"),
                 ("poller_cards_total", "reread"), ("poller_cards_total", "deferred")]


def counted(name: str, result: str) -> float:
    return REGISTRY.get_sample_value(f"giftcard_adapter_{name}", {"result": result}) or 0.0


def deadline() -> float:
    return asyncio.get_running_loop().time() + 5


async def test_the_change_list_names_cards_made_or_changed_since_the_watermark(make_adapter, ledger):
    port = (await make_adapter()).server.app[SERVICES].ledger
    first = await ledger.make_card("changecard000001", "20.00")
    listed = await port.changed_cards(since=None, deadline=deadline())
    assert first in {card.card_id for card in listed.cards} and listed.watermark is not None
    assert {card.last_characters for card in listed.cards if card.card_id == first} == {"0001"}
    later = await ledger.make_card("changecard000002", "20.00")
    again = await port.changed_cards(since=listed.watermark, deadline=deadline())
    assert later in {card.card_id for card in again.cards}
    if ledger.name == "shopline":  # by id: only what is newer than the last card listed
        assert first not in {card.card_id for card in again.cards}
        assert int(again.watermark) >= int(later)
    else:  # by last update, newest first: the walk stops at the watermark (less the margin)
        ahead = (datetime.now(UTC) + CHANGE_MARGIN + timedelta(minutes=1)).isoformat()
        nothing = await port.changed_cards(since=ahead, deadline=deadline())
        assert nothing.cards == [] and Watermark.parse(nothing.watermark).newest.isoformat() == ahead


async def test_the_poller_registers_cards_made_elsewhere_and_reads_them_first(make_adapter, ledger, db):
    first, second = await make_adapter(poll_batch=1), await make_adapter(poll_batch=1)
    made = [await ledger.make_card(f"pollcard0000000{n}", "50.00") for n in range(1, 4)]
    leader, other = first.server.app[WORKERS].poller, second.server.app[WORKERS].poller
    before = {series: counted(*series) for series in POLLER_SERIES}
    passed = await leader.run_once()
    assert passed["changed"] >= 3 and passed["cards"] == 1
    assert await other.run_once() == {"not_leader": 1}  # the lease is held
    assert {series: counted(*series) - before[series] for series in POLLER_SERIES} == {
        ("poller_passes_total", "led"): 1, ("poller_passes_total", "not_leader"): 1,
        ("poller_cards_total", "reread"): 1, ("poller_cards_total", "deferred"): 0}
    for _ in range(2):
        assert (await leader.run_once())["cards"] == 1  # every card gets its turn
    async with db.acquire() as conn:
        synced = {row["ledger_card_id"] for row in await conn.fetch("SELECT ledger_card_id FROM card_sync")}
        registered = {row["ledger_card_id"] for row in await conn.fetch("SELECT ledger_card_id FROM ledger_cards")}
        assert await conn.fetchval("SELECT watermark FROM poller_state") is not None
    assert set(made) <= synced and set(made) <= registered
    # A card sold at the web shop meanwhile is read in the next pass, before the round goes on.
    sold = await ledger.make_card("pollcard00000004", "25.00")
    assert (await leader.run_once())["cards"] == 1
    async with db.acquire() as conn:
        mirrored = await conn.fetchrow("SELECT balance, last_characters FROM card_sync WHERE ledger_card_id = $1", sold)
    assert (mirrored["balance"], mirrored["last_characters"]) == (25, "0004")


async def test_a_card_the_ledger_dates_as_changed_since_its_sync_comes_before_the_round(db):
    async with db.acquire() as conn:
        for card_id, minutes in (("a", 3), ("b", 2), ("c", 1)):
            await conn.execute("INSERT INTO ledger_cards (ledger_card_id, last_characters, met_through)"
                               " VALUES ($1, $1, 'test')", card_id)
            await conn.execute("INSERT INTO card_sync (ledger_card_id, synced_at) VALUES ($1, now() - $2::interval)",
                               card_id, timedelta(minutes=minutes))
        assert await poller_store.cards_due(conn, 3) == ["a", "b", "c"]  # the longest unsynced first
        now = datetime.now(UTC)
        await poller_store.record_changes(conn, "test", [
            ChangedCard("a", "a", now - timedelta(minutes=5)),   # listed again: changed before its sync
            ChangedCard("c", "c", now),                           # changed since its sync
            ChangedCard("d", "d", now),                           # new: registered, never synced
        ], "w-1")
        assert await poller_store.cards_due(conn, 4) == ["d", "c", "a", "b"]
        assert await conn.fetchval("SELECT met_through FROM ledger_cards WHERE ledger_card_id = 'd'") == "poll:test"


def _card(n: int, updated: datetime) -> ChangedCard:
    return ChangedCard(f"card-{n}", f"{n:04d}", updated)


class Listing:
    """A ledger's list by last update, newest first, in pages of `size`; the cursor is the
    position after a page (as a sort-key cursor is, for a list that does not change meanwhile)."""

    def __init__(self, cards: list[ChangedCard], size: int = 2) -> None:
        self.cards = sorted(cards, key=lambda c: c.updated_at, reverse=True)
        self.size = size
        self.pages_read = 0

    async def read(self, cursor: str | None) -> tuple[list[ChangedCard], str | None]:
        self.pages_read += 1
        start = int(cursor or 0)
        end = start + self.size
        return self.cards[start:end], str(end) if end < len(self.cards) else None


MARK = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def listed(changes) -> list[str]:
    return [c.card_id for c in changes.cards]


async def test_a_walk_stops_below_the_watermark_less_the_margin_and_moves_it_to_the_newest_update():
    now = MARK + timedelta(minutes=6)
    listing = Listing([_card(1, MARK + timedelta(minutes=5)), _card(2, MARK - CHANGE_MARGIN),
                       _card(3, MARK - CHANGE_MARGIN - timedelta(seconds=1)), _card(4, MARK - timedelta(hours=1))])
    # A watermark of the older form (the newest update alone).
    changes = await walk_changes(MARK.isoformat(), listing.read, 4, "test", now=now)
    assert listed(changes) == ["card-1", "card-2"]  # card-2: within the margin, listed again
    assert Watermark.parse(changes.watermark) == Watermark(MARK + timedelta(minutes=5), now)


async def test_a_walk_with_nothing_newer_keeps_the_newest_update_and_notes_its_own_time():
    now = MARK + timedelta(seconds=40)
    listing = Listing([_card(1, MARK - timedelta(seconds=30))])
    changes = await walk_changes(Watermark(MARK).dump(), listing.read, 4, "test", now=now)
    assert Watermark.parse(changes.watermark) == Watermark(MARK, now)


async def test_a_quiet_shop_is_walked_from_the_last_walk_less_the_margin_not_the_whole_last_burst():
    # A burst whose last second holds more cards than a pass reads (ledgers stamp whole seconds).
    burst = [_card(n, MARK - timedelta(seconds=n // 10)) for n in range(40)]
    listing = Listing(burst)
    late = Watermark(MARK, MARK + timedelta(minutes=10)).dump()  # the last walk ran long after the burst
    changes = await walk_changes(late, listing.read, 4, "test", now=MARK + timedelta(minutes=10, seconds=30))
    assert listed(changes) == [] and listing.pages_read == 1  # all of it was visible to that walk, and listed
    assert Watermark.parse(changes.watermark).unfinished == ()
    soon = Watermark(MARK, MARK + timedelta(seconds=30)).dump()  # soon after: the margin counts from the walk
    listing.pages_read = 0
    assert len(listed(await walk_changes(soon, listing.read, 30, "test"))) == 40


async def test_a_walk_out_of_pages_goes_on_next_pass_after_the_new_top_and_skips_nothing():
    old = [_card(n, MARK - timedelta(seconds=n)) for n in range(1, 10)]  # a burst of 9 since the watermark
    listing = Listing(old)
    first = await walk_changes(Watermark(MARK - timedelta(minutes=1)).dump(), listing.read, 2, "test",
                               now=MARK + timedelta(seconds=5))
    assert listed(first) == ["card-1", "card-2", "card-3", "card-4"]
    assert Watermark.parse(first.watermark).unfinished
    # Meanwhile two cards change (one of them already listed): they move to the top.
    listing = Listing([*old[4:], _card(2, MARK + timedelta(seconds=20)), _card(10, MARK + timedelta(seconds=21))])
    seen = set(listed(first))
    mark = first.watermark
    for n in range(12):  # the top stays busy for the first passes (all within the margin), then quiets
        changes = await walk_changes(mark, listing.read, 2, "test", now=MARK + timedelta(seconds=40 + 60 * n))
        seen |= set(listed(changes))
        mark = changes.watermark
    assert seen == {f"card-{n}" for n in range(1, 11)}
    assert Watermark.parse(mark).unfinished == ()


async def test_the_first_walk_lists_the_whole_list_over_as_many_passes_as_it_takes():
    listing = Listing([_card(n, MARK - timedelta(days=n)) for n in range(7)])
    seen, mark = set(), None
    for _ in range(4):
        changes = await walk_changes(mark, listing.read, 2, "test", now=MARK)
        seen |= set(listed(changes))
        mark = changes.watermark
    assert seen == {f"card-{n}" for n in range(7)} and Watermark.parse(mark).unfinished == ()
    assert Watermark.parse(mark).newest == MARK
