"""Replicas on one shop's bucket (issue #14): the level they share in Postgres
(adapter.store.buckets), its rules on a real database, and three Shopify clients, each with its
own model as three replicas have, debiting through one sandbox bucket."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from adapter.domain.money import Money
from adapter.ports import WriteRef
from adapter.shopify.client import ShopifyClient
from adapter.shopify.pacing import CostBucket
from adapter.store.buckets import SharedBucket
from tests import ledger_view

SHOP = "replicas.myshopify.com"


async def level(db) -> float:
    return await db.fetchval("SELECT level FROM shared_buckets WHERE shop = $1", SHOP)


async def test_the_first_answer_makes_the_row_and_a_reservation_before_it_finds_none(db):
    shared = SharedBucket(db, SHOP)
    assert await shared.reserve(10, floor_share=None, margin_share=0.01, margin_points=10, seconds_left=8, ceiling=None) is None
    await shared.settle(figure=500, maximum=2000, restore_rate=0.001, refund=0)
    found = await shared.reserve(10, floor_share=None, margin_share=0.01, margin_points=10, seconds_left=8, ceiling=None)
    assert abs(found.before - 500) < 0.01 and abs(found.after - 490) < 0.01
    assert (found.maximum, found.restore_rate) == (2000, 0.001)


async def test_replicas_first_reservations_at_once_are_all_taken_whoever_makes_the_row(db):
    """Forty calls below the line at once, the row not made yet: each finds it made (by itself or
    another) and is taken; none mistakes the others' row for a refusal."""
    shared = SharedBucket(db, SHOP)
    found = await asyncio.gather(*(
        shared.reserve(10, floor_share=None, margin_share=0.01, margin_points=10, seconds_left=8, ceiling=None,
                       seed=(1100, 2000, 0.001)) for _ in range(40)))
    assert all(f is not None and f.after is not None for f in found)
    assert abs(await level(db) - 700) < 0.01  # 1100 - 40 x 10


async def test_money_calls_queue_below_empty_while_the_wait_fits_their_deadline(db):
    shared = SharedBucket(db, SHOP)
    await shared.settle(figure=0, maximum=2000, restore_rate=100, refund=0)
    await db.execute("UPDATE shared_buckets SET level = -700")  # 7 s of restore queued already
    queued = await shared.reserve(10, floor_share=None, margin_share=0.01, margin_points=10, seconds_left=8, ceiling=None)
    assert queued.after < -700  # queued: waits for the level to come back over the margin
    refused = await shared.reserve(500, floor_share=None, margin_share=0.01, margin_points=10, seconds_left=8, ceiling=None)
    assert refused.after is None  # (20 + ~710 + 500) / 100 s: past its deadline; nothing taken
    assert abs(await level(db) - queued.after) < 2  # (the restore since)


async def test_a_lookup_is_taken_only_above_its_floor(db):
    shared = SharedBucket(db, SHOP)
    await shared.settle(figure=1008, maximum=2000, restore_rate=0.001, refund=0)
    taken = await shared.reserve(6, floor_share=0.5, margin_share=0.01, margin_points=10, seconds_left=0, ceiling=None)
    refused = await shared.reserve(6, floor_share=0.5, margin_share=0.01, margin_points=10, seconds_left=0, ceiling=None)
    assert taken.after is not None and refused.after is None
    assert abs(await level(db) - 1002) < 0.01


async def test_a_lookup_allowed_the_whole_bucket_still_leaves_the_margin(db):
    shared = SharedBucket(db, SHOP)
    await shared.settle(figure=250, maximum=2000, restore_rate=0.001, refund=0)
    refused = await shared.reserve(60, floor_share=0.0, margin_share=0.1, margin_points=10, seconds_left=0,
                                   ceiling=None)
    taken = await shared.reserve(40, floor_share=0.0, margin_share=0.1, margin_points=10, seconds_left=0,
                                 ceiling=None)
    assert refused.after is None and taken.after is not None  # 190 < 200 <= 210


async def test_the_level_refills_at_the_restore_rate_and_never_above_a_replicas_ceiling(db):
    shared = SharedBucket(db, SHOP)
    await shared.settle(figure=100, maximum=2000, restore_rate=100, refund=0)
    await db.execute("UPDATE shared_buckets SET as_of = as_of - interval '3 seconds'")
    found = await shared.reserve(10, floor_share=None, margin_share=0.01, margin_points=10, seconds_left=8, ceiling=None)
    assert 400 <= found.before < 410  # 100 + 3 s x 100
    capped = await shared.reserve(10, floor_share=None, margin_share=0.01, margin_points=10, seconds_left=8, ceiling=250)
    assert capped.before == 250 and capped.after == 240


async def test_an_answer_gives_back_the_uncharged_part_and_holds_the_level_to_shopifys_figure(db):
    shared = SharedBucket(db, SHOP)
    await shared.settle(figure=1000, maximum=2000, restore_rate=0.001, refund=0)
    await shared.reserve(54, floor_share=None, margin_share=0.01, margin_points=10, seconds_left=8, ceiling=None)  # 946
    await shared.settle(figure=995, maximum=2000, restore_rate=0.001, refund=49)                 # charged 5
    assert abs(await level(db) - 995) < 0.01
    await shared.settle(figure=700, maximum=2000, restore_rate=0.001, refund=0)  # someone else spent
    assert abs(await level(db) - 700) < 0.01


async def test_postgres_gone_is_no_reservation_not_an_error(database_url):
    from adapter.store.database import create_pool

    pool = await create_pool(database_url, min_size=1, max_size=1)
    await pool.close()
    shared = SharedBucket(pool, SHOP, timeout=0.2)
    assert await shared.reserve(10, floor_share=None, margin_share=0.01, margin_points=10, seconds_left=8, ceiling=None) is None
    await shared.settle(figure=10, maximum=2000, restore_rate=100, refund=0)  # nothing raised


async def _debits_from_three_replicas(sandbox, session, shared_pool) -> tuple[int, int, int]:
    """60 debits, 20 from each of three clients at once, through a 100-point bucket restoring
    400/s (600 points: the bucket's 97 left then 1.25 s of restore). Answers the sandbox's THROTTLED
    count, the calls it served, and the debits it holds."""
    await ledger_view.configure(sandbox, bucket_size=100, restore_rate=400)
    card = await ledger_view.make_card(sandbox, "replicas00000001", "500.00")
    clients = []
    for _ in range(3):
        shared = SharedBucket(shared_pool, SHOP) if shared_pool is not None else None
        client = ShopifyClient(session, graphql_url=sandbox.graphql_url, access_token=sandbox.config.access_token,
                               api_version="2026-10", bucket=CostBucket(shared=shared))
        await client.get_card(card_id=card, deadline=asyncio.get_running_loop().time() + 5)  # its first figure
        clients.append(client)
    await ledger_view.reset_counters(sandbox)

    async def debit(client: ShopifyClient) -> None:
        await client.debit(card_id=card, amount=Money(Decimal("1.00"), "USD"), ref=WriteRef("authorize", uuid.uuid4().hex),
                           deadline=asyncio.get_running_loop().time() + 8)

    await asyncio.gather(*(debit(client) for client in clients for _ in range(20)))
    state = await ledger_view.state(sandbox)
    debits = sum(1 for t in (await ledger_view.card_by_code(sandbox, "replicas00000001"))["transactions"])
    return state["throttled_total"], state["calls_total"], debits


async def test_three_replicas_sharing_the_level_are_not_throttled(sandbox, db):
    import aiohttp

    async with aiohttp.ClientSession() as session:
        throttled, calls, debits = await _debits_from_three_replicas(sandbox, session, db)
    assert debits == 60
    assert throttled == 0 and calls == 60


async def test_three_replicas_each_on_its_own_model_are_throttled(sandbox):
    """The control: the same traffic without the shared level overdraws the bucket (the client
    waits and resends, so every debit still lands once)."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        throttled, calls, debits = await _debits_from_three_replicas(sandbox, session, None)
    assert debits == 60
    assert throttled > 0 and calls == 60 + throttled


async def test_a_throttled_debit_corrects_the_level_and_is_reserved_again_for_its_resend(sandbox, db):
    """Another app of the shop spent what the level counted on: the debit is THROTTLED, the level
    takes Shopify's figure, and the resend is reserved again (behind whoever reserved meanwhile:
    resent on the old place it would take the next caller's turn) and lands once."""
    import aiohttp
    from prometheus_client import REGISTRY

    def reserved() -> float:
        return REGISTRY.get_sample_value("giftcard_adapter_shopify_shared_bucket_reservations_total",
                                         {"result": "reserved"}) or 0.0

    await ledger_view.configure(sandbox, bucket_size=100, restore_rate=5)
    card = await ledger_view.make_card(sandbox, "replicas00000002", "500.00")
    async with aiohttp.ClientSession() as session:
        client = ShopifyClient(session, graphql_url=sandbox.graphql_url, access_token=sandbox.config.access_token,
                               api_version="2026-10", bucket=CostBucket(shared=SharedBucket(db, SHOP)))
        await client.get_card(card_id=card, deadline=asyncio.get_running_loop().time() + 5)  # ~99 of 100
        for _ in range(9):  # another app: 99 points (its debits select the card: 11 each)
            await ledger_view.shopify_debit(sandbox, card, "0.01")
        await ledger_view.reset_counters(sandbox)
        before = reserved()
        await client.debit(card_id=card, amount=Money(Decimal("1.00"), "USD"), ref=WriteRef("authorize", uuid.uuid4().hex),
                           deadline=asyncio.get_running_loop().time() + 5)
    state = await ledger_view.state(sandbox)
    assert state["throttled"] == {"giftCardDebit": 1} and state["calls"] == {"giftCardDebit": 2}
    assert reserved() == before + 2  # the resend reserved again
    assert len((await ledger_view.card_by_code(sandbox, "replicas00000002"))["transactions"]) == 10
