"""The poller's change list (issue #12) on each ledger: LedgerPort.changed_cards names the cards
changed or made since the watermark, and the poller registers the ones we did not know and
re-reads changed ones before the rest of its round. adapter.ledgers.changes is tested alone at
the end: the walk down to the watermark."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from adapter.http.keys import SERVICES, WORKERS
from adapter.ledgers.changes import CHANGE_MARGIN, ChangeWalk
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
        assert nothing.cards == [] and nothing.watermark.startswith(f"{ahead}|")


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


def test_a_walk_stops_below_the_watermark_less_the_margin_and_moves_it_to_the_newest_update():
    mark = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    now = mark + timedelta(minutes=6)
    walk = ChangeWalk(mark.isoformat(), now=now)  # a watermark without a walk time: the older form
    assert walk.take(_card(1, mark + timedelta(minutes=5)))
    assert walk.take(_card(2, mark - CHANGE_MARGIN))        # within the margin: listed again
    assert not walk.take(_card(3, mark - CHANGE_MARGIN - timedelta(seconds=1)))
    changes = walk.complete()
    assert [c.card_id for c in changes.cards] == ["card-1", "card-2"]
    assert changes.watermark == f"{(mark + timedelta(minutes=5)).isoformat()}|{now.isoformat()}"


def test_a_walk_with_nothing_newer_keeps_the_newest_update_and_notes_its_own_time():
    mark = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    now = mark + timedelta(seconds=40)
    walk = ChangeWalk(mark.isoformat(), now=now)
    assert walk.take(_card(1, mark - timedelta(seconds=30)))
    assert walk.complete().watermark == f"{mark.isoformat()}|{now.isoformat()}"


def test_a_quiet_shop_is_walked_from_the_last_walk_less_the_margin_not_the_whole_last_burst():
    burst_end = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    # The last walk ran long after the burst: everything before its start less the margin was visible to it.
    walk = ChangeWalk(f"{burst_end.isoformat()}|{(burst_end + timedelta(minutes=10)).isoformat()}",
                      now=burst_end + timedelta(minutes=10, seconds=30))
    assert walk.take(_card(1, burst_end))  # the newest update: listed again (a re-read adds nothing)
    assert not walk.take(_card(2, burst_end - timedelta(seconds=1)))  # the rest of the burst: not again
    # Soon after the burst, the margin still counts from the last walk's start.
    recent = ChangeWalk(f"{burst_end.isoformat()}|{(burst_end + timedelta(seconds=30)).isoformat()}")
    assert recent.take(_card(2, burst_end - timedelta(seconds=60)))
    assert not recent.take(_card(3, burst_end + timedelta(seconds=30) - CHANGE_MARGIN - timedelta(seconds=1)))


def test_a_truncated_walk_never_moves_the_watermark_past_what_it_did_not_list():
    mark = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    walk = ChangeWalk(mark.isoformat())
    assert walk.take(_card(1, mark + timedelta(hours=1)))
    assert walk.truncated("test").watermark == mark.isoformat()
    first = ChangeWalk(None)  # the first pass: no watermark yet, so the newest seen becomes it
    assert first.take(_card(1, mark))
    assert first.truncated("test").watermark == mark.isoformat()
