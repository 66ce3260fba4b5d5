"""GiftHeroClient under the emulator's faults, rate limit and timeouts, over real HTTP: what the
shared transport decides (resend, or not) seen through this client's methods."""

from __future__ import annotations

import asyncio
import socket

import pytest

from adapter.gifthero.errors import BalanceUnchanged
from adapter.ports import (
    DeclineReason,
    LedgerDecline,
    LedgerOutcomeUnknown,
    LedgerUnavailable,
)
from tests.ledgers.gifthero.conftest import usd

CODE = "m4n8b2v6c1x9z3l7"
NOTE = "giftcard-adapter:issue:3c9d"


@pytest.fixture
async def card_id(client, deadline) -> str:
    made = await client.create_card(code=CODE, amount=usd("100.00"), note=NOTE, deadline=deadline())
    return made.id


# ---- 429 and Retry-After -------------------------------------------------------------------

async def test_429_is_waited_out_when_retry_after_fits_the_deadline(client, hero, card_id, deadline) -> None:
    await hero.configure(rate_limit=1, rate_window_s=0.2)
    loop = asyncio.get_running_loop()
    assert (await client.get_card(card_id=card_id, deadline=deadline())).id == card_id
    started = loop.time()
    entry = await client.set_balance(card_id=card_id, balance=usd("60.00"), deadline=deadline(5))
    assert entry is not None and entry.delta == usd("-40.00")
    assert loop.time() - started >= 0.9  # Retry-After: 1 was honoured
    state = await hero.state()
    assert state["calls"]["set_balance"] == 2  # one 429 (not executed), one PUT
    assert [t["amount"] for t in (await hero.card(card_id))["transactions"]] == ["100.00", "-40.00"]


async def test_429_past_the_deadline_is_unavailable_and_nothing_was_done(client, hero, card_id, deadline) -> None:
    await hero.configure(rate_limit=1, rate_window_s=30)
    await client.get_card(card_id=card_id, deadline=deadline())
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LedgerUnavailable) as caught:
        await client.set_balance(card_id=card_id, balance=usd("60.00"), deadline=deadline(2))
    assert caught.value.retry_after >= 28
    assert loop.time() - started < 1  # no waiting for an answer that can't come in time
    await hero.configure(rate_limit=None)
    assert (await hero.card(card_id))["balance"] == "100.00"


# ---- timeouts ------------------------------------------------------------------------------

async def test_a_slow_read_past_the_deadline_is_unavailable(client, hero, card_id, deadline) -> None:
    await hero.fault(kind="latency", operation="get", latency_ms=500, count=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LedgerUnavailable):
        await client.get_card(card_id=card_id, deadline=deadline(0.3))
    assert loop.time() - started < 0.6


async def test_a_slow_write_past_the_deadline_is_outcome_unknown_and_not_resent(client, hero, card_id,
                                                                                 deadline) -> None:
    await hero.fault(kind="latency", operation="set_balance", latency_ms=400)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LedgerOutcomeUnknown):
        await client.set_balance(card_id=card_id, balance=usd("55.00"), deadline=deadline(0.2))
    assert loop.time() - started < 0.4
    assert (await hero.state())["calls"]["set_balance"] == 1


async def test_a_write_held_before_it_ran_is_outcome_unknown(client, hero, card_id, deadline) -> None:
    """We can't tell "held before" from "held after" (next test): both are unknown, settled by a read."""
    await hero.fault(kind="hold", operation="set_balance", stage="before")
    call = asyncio.create_task(client.set_balance(card_id=card_id, balance=usd("10.00"), deadline=deadline(0.3)))
    await hero.until(lambda s: s["held"] == 1)
    with pytest.raises(LedgerOutcomeUnknown):
        await call
    await hero.control("POST", "/release")
    await hero.until(lambda s: s["held"] == 0)
    assert (await client.get_card(card_id=card_id, deadline=deadline())).balance == usd("100.00")
    assert (await hero.state())["calls"]["set_balance"] == 1


async def test_an_answer_held_after_the_write_is_outcome_unknown(client, hero, card_id, deadline) -> None:
    await hero.fault(kind="hold", operation="disable", stage="after")
    call = asyncio.create_task(client.deactivate(card_id=card_id, deadline=deadline(0.3)))
    state = await hero.until(lambda s: s["held"] == 1)
    assert state["cards"][0]["disabled_at"] is not None  # done, answer not yet given
    with pytest.raises(LedgerOutcomeUnknown):
        await call
    await hero.control("POST", "/release")
    again = await client.deactivate(card_id=card_id, deadline=deadline())  # settling by repeating is safe
    assert not again.enabled


# ---- 5xx -----------------------------------------------------------------------------------

async def test_5xx_on_a_write_is_outcome_unknown_and_not_resent(client, hero, card_id, deadline) -> None:
    await hero.fault(kind="error_5xx", operation="set_balance", status=503)
    with pytest.raises(LedgerOutcomeUnknown):
        await client.set_balance(card_id=card_id, balance=usd("1.00"), deadline=deadline())
    assert (await hero.state())["calls"]["set_balance"] == 1


async def test_5xx_on_create_is_outcome_unknown_and_find_created_settles_it(client, hero, deadline) -> None:
    await hero.fault(kind="internal_server_error", operation="create")
    with pytest.raises(LedgerOutcomeUnknown):
        await client.create_card(code="p0o9i8u7y6t5r4e3", amount=usd("5.00"), note=NOTE, deadline=deadline())
    assert await client.find_created(code="p0o9i8u7y6t5r4e3", note=NOTE, deadline=deadline()) is None


async def test_5xx_on_a_read_is_retried(client, hero, card_id, deadline) -> None:
    await hero.fault(kind="error_5xx", operation="transactions", status=502, count=2)
    entries = await client.history(card_id=card_id, after=None, deadline=deadline())
    assert [e.delta for e in entries] == [usd("100.00")]
    assert (await hero.state())["calls"]["transactions"] == 3


async def test_a_read_failing_every_time_is_unavailable(client, hero, card_id, deadline) -> None:
    await hero.fault(kind="internal_server_error", operation="search", count=20)
    with pytest.raises(LedgerUnavailable):
        await client.find_created(code=CODE, note=NOTE, deadline=deadline())
    assert (await hero.state())["calls"]["search"] == 4  # the first try and 3 retries


# ---- dropped connections -------------------------------------------------------------------

async def test_a_dropped_put_on_a_pooled_connection_is_not_resent(client, hero, wire, card_id, deadline) -> None:
    """ledgers.md §3.2: aiohttp would resend an idempotent-method request on a reused connection
    that drops; for an absolute PUT that copy could overwrite a foreign change. It must not."""
    await client.get_card(card_id=card_id, deadline=deadline())  # the PUT reuses this connection
    await hero.fault(kind="lose_response", operation="set_balance")
    with pytest.raises(LedgerOutcomeUnknown):
        await client.set_balance(card_id=card_id, balance=usd("70.00"), deadline=deadline())
    state = await hero.state()
    assert state["calls"]["set_balance"] == 1
    assert [t["amount"] for t in state["cards"][0]["transactions"]] == ["100.00", "-30.00"]
    assert [m for m, _, _ in wire.requests].count("PUT") == 1


async def test_a_dropped_read_is_retried(client, hero, card_id, deadline) -> None:
    await client.newest_entry(card_id=card_id, deadline=deadline())
    await hero.fault(kind="lose_response", operation="get")
    card = await client.get_card(card_id=card_id, deadline=deadline())
    assert card is not None and card.id == card_id
    assert (await hero.state())["calls"]["get"] == 2


async def test_a_dropped_create_is_outcome_unknown_and_find_created_settles_it(client, hero, deadline) -> None:
    await hero.fault(kind="lose_response", operation="create")
    with pytest.raises(LedgerOutcomeUnknown):
        await client.create_card(code=CODE, amount=usd("20.00"), note=NOTE, deadline=deadline())
    found = await client.find_created(code=CODE, note=NOTE, deadline=deadline())
    assert found is not None and found.balance == usd("20.00")
    with pytest.raises(LedgerDecline) as caught:  # and a blind resend would have been refused
        await client.create_card(code=CODE, amount=usd("20.00"), note=NOTE, deadline=deadline())
    assert caught.value.reason is DeclineReason.CODE_TAKEN


# ---- nobody there --------------------------------------------------------------------------

async def test_nothing_listening_is_unavailable_for_reads_and_writes(make_client, deadline) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}/api/external")
    with pytest.raises(LedgerUnavailable):
        await client.get_card(card_id="1", deadline=deadline())
    with pytest.raises(LedgerUnavailable):  # never sent: safe to say so for a write
        await client.set_balance(card_id="1", balance=usd("1.00"), deadline=deadline())


# ---- a change between our read and our PUT -------------------------------------------------

async def test_a_foreign_change_between_read_and_put_shows_in_the_put_answer_and_history(
        client, hero, card_id, deadline) -> None:
    """The exactly-once protocol detects a lost update from what this client reports: the PUT's
    own delta no longer matches target - balance read, and history has the foreign entry."""
    anchor = await client.newest_entry(card_id=card_id, deadline=deadline())
    await hero.fault(kind="foreign_change", operation="get", card_id=int(card_id), delta="-30.00")
    read = await client.get_card(card_id=card_id, deadline=deadline())
    assert read.balance == usd("100.00")  # answered from before the checkout
    entry = await client.set_balance(card_id=card_id, balance=read.balance - usd("10.00"), deadline=deadline())
    assert entry.delta == usd("20.00")  # not -10.00: someone spent 30.00 in between
    newer = await client.history(card_id=card_id, after=anchor, deadline=deadline())
    assert [(e.delta, e.kind.value) for e in newer] == [(usd("-30.00"), "other"), (usd("20.00"), "set")]
    assert newer[-1].id == entry.id


async def test_a_foreign_change_to_exactly_our_target_is_not_executed_and_a_fresh_read_finishes_it(
        client, hero, card_id, deadline) -> None:
    """A checkout of 30.00 lands after we read 100.00 for our own debit of 30.00: the PUT of
    70.00 is refused "unchanged" and made nothing. Not applied, not declined: not executed."""
    await hero.fault(kind="foreign_change", operation="get", card_id=int(card_id), delta="-30.00")
    read = await client.get_card(card_id=card_id, deadline=deadline())
    with pytest.raises(BalanceUnchanged):
        await client.set_balance(card_id=card_id, balance=read.balance - usd("30.00"), deadline=deadline())
    fresh = await client.get_card(card_id=card_id, deadline=deadline())
    entry = await client.set_balance(card_id=card_id, balance=fresh.balance - usd("30.00"), deadline=deadline())
    assert entry.delta == usd("-30.00") and (await hero.card(card_id))["balance"] == "40.00"
