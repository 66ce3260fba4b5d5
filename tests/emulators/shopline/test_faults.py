"""Fault switches: latency, error_5xx (before/after), internal_server_error, lose_response, hold,
scoping by route and card, and foreign_change landing between a read and a PUT."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest


async def wait_until_held(store, count=1):
    """Poll (not time) until the emulator reports the call parked."""
    for _ in range(500):
        if (await store.state())["held"] == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("call never got held")


def put_path(card):
    return f"gift_cards/{card['id']}.json"


async def test_latency_delays_the_answer(store):
    card = await store.create("10.00")
    await store.fault(kind="latency", latency_ms=150, operation="get_gift_card")
    started = time.monotonic()
    assert (await store.read(card["id"]))["balance"] == "10.00"
    assert time.monotonic() - started >= 0.15
    assert (await store.state())["faults_fired"] == {"latency": 1}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_error_5xx_before_changes_nothing(store, status):
    card = await store.create("10.00")
    await store.fault(kind="error_5xx", operation="update_gift_card", status=status)
    response, body = await store.call("PUT", put_path(card), {"gift_card": {"balance": "4.00"}})
    assert response.status == status and isinstance(body["errors"], str)
    assert response.headers["traceId"]
    assert (await store.state_card(card["id"]))["balance"] == "10.00"
    assert (await store.state())["operation_records"] == []
    assert (await store.put_balance(card["id"], "4.00"))["balance"] == "4.00"  # count defaulted to 1


async def test_error_5xx_after_applies_then_fails(store):
    card = await store.create("10.00")
    await store.fault(kind="error_5xx", operation="update_gift_card", stage="after", status=503)
    response, _ = await store.call("PUT", put_path(card), {"gift_card": {"balance": "4.00"}})
    assert response.status == 503
    assert (await store.read(card["id"]))["balance"] == "4.00"
    assert len(await store.records(card["id"])) == 1


async def test_internal_server_error_is_a_500_before_executing(store):
    await store.fault(kind="internal_server_error", operation="create_gift_card")
    response, body = await store.call("POST", "gift_cards.json", {"gift_card": {"initial_value": "5.00"}})
    assert response.status == 500 and body == {"errors": "Internal Server Error"}
    assert (await store.state())["cards"] == []


async def test_lose_response_applies_then_drops_the_connection(store):
    card = await store.create("10.00")
    await store.fault(kind="lose_response", operation="update_gift_card")
    # The test client never resends (aiohttp's TestClient turns its retry off).
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await store.call("PUT", put_path(card), {"gift_card": {"balance": "4.00"}})
    state = await store.state()
    assert state["cards"][0]["balance"] == "4.00"
    assert [r["balance_after"] for r in state["operation_records"]] == ["4.00"]
    assert state["calls"]["update_gift_card"] == 1 and state["faults_fired"] == {"lose_response": 1}


async def test_a_plain_client_session_resends_a_lost_put_unasked(store):
    """What ledgers.md §3.2 warns of, shown on the emulator's counters: a ClientSession (aiohttp
    3.14, IDEMPOTENT_METHODS) sends a PUT a second time by itself when the connection drops."""
    card = await store.create("10.00")
    url = str(store.client.make_url(f"/admin/openapi/v20260601/{put_path(card)}"))
    headers = {"Authorization": f"Bearer {store.emulator.config.access_token}"}
    async with aiohttp.ClientSession() as session:
        await store.fault(kind="lose_response", operation="update_gift_card")
        async with session.put(url, json={"gift_card": {"balance": "4.00"}}, headers=headers) as response:
            assert response.status == 200  # the answer of the unasked second copy
        assert (await store.state())["calls"]["update_gift_card"] == 2
        await store.fault(kind="lose_response", operation="update_gift_card", count=2)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await session.put(url, json={"gift_card": {"balance": "3.00"}}, headers=headers)
        assert (await store.state())["calls"]["update_gift_card"] == 4


async def test_lose_response_on_create_is_not_resent(store):
    await store.fault(kind="lose_response", operation="create_gift_card")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await store.call("POST", "gift_cards.json", {"gift_card": {"initial_value": "5.00", "code": "lostanswer123"}})
    state = await store.state()
    assert [c["code"] for c in state["cards"]] == ["lostanswer123"] and state["calls"]["create_gift_card"] == 1


async def test_hold_before_parks_until_released(store):
    card = await store.create("10.00")
    await store.fault(kind="hold", operation="update_gift_card")
    in_flight = asyncio.create_task(store.put_balance(card["id"], "3.00"))
    await wait_until_held(store)
    assert (await store.state_card(card["id"]))["balance"] == "10.00"  # not executed yet
    assert (await store.state())["held_operations"] == ["update_gift_card"]
    assert await store.control("POST", "release") == {"released": 1}
    assert (await in_flight)["balance"] == "3.00"


async def test_hold_after_applies_then_parks_the_answer(store):
    card = await store.create("10.00")
    await store.fault(kind="hold", operation="update_gift_card", stage="after")
    in_flight = asyncio.create_task(store.put_balance(card["id"], "3.00"))
    await wait_until_held(store)
    assert (await store.state_card(card["id"]))["balance"] == "3.00"
    assert not in_flight.done()
    assert (await store.control("DELETE", "faults"))["released"] == 1
    assert (await in_flight)["balance"] == "3.00"


async def test_reset_fails_a_call_held_before_executing(store):
    card = await store.create("10.00")
    await store.fault(kind="hold", operation="update_gift_card")
    in_flight = asyncio.create_task(store.call("PUT", put_path(card), {"gift_card": {"balance": "3.00"}}))
    await wait_until_held(store)
    await store.control("POST", "reset")
    response, _ = await in_flight
    assert response.status == 503
    assert (await store.state())["cards"] == []


async def test_faults_are_scoped_to_a_route_and_a_card(store):
    first, second = await store.create("10.00"), await store.create("10.00")
    await store.fault(kind="error_5xx", operation="get_gift_card", card_id=first["id"], count=3)
    assert (await store.read(second["id"]))["id"] == second["id"]          # other card
    assert (await store.ok("GET", "gift_cards.json"))["gift_cards"]       # other route
    response, _ = await store.call("GET", f"gift_cards/{first['id']}.json")
    assert response.status == 502
    await store.control("DELETE", "faults")
    await store.fault(kind="error_5xx", card_id=second["id"])  # any route about that card
    response, _ = await store.call("POST", f"gift_cards/{second['id']}/disable.json")
    assert response.status == 502


async def test_probability_faults_are_seeded(store):
    await store.fault(kind="error_5xx", operation="list_gift_cards", probability=0.5, seed=7)
    statuses = [(await store.call("GET", "gift_cards.json"))[0].status for _ in range(20)]
    assert {200, 502} == set(statuses)
    await store.control("POST", "reset")
    await store.fault(kind="error_5xx", operation="list_gift_cards", probability=0.5, seed=7)
    assert [(await store.call("GET", "gift_cards.json"))[0].status for _ in range(20)] == statuses


async def test_bad_fault_specs_are_400(store):
    for spec in ({"kind": "explode"}, {"kind": "error_5xx", "operation": "giftCardDebit"},
                 {"kind": "error_5xx", "status": 404}, {"kind": "foreign_change"},
                 {"kind": "foreign_change", "delta": "0"}, {"kind": "latency"},
                 {"kind": "error_5xx", "card_id": "abc"},
                 {"kind": "foreign_change", "delta": "-1", "operation_type": "OPERATE_ACTION_TOPUP"}):
        await store.control("POST", "faults", spec, expect=400)


# -- foreign_change -------------------------------------------------------------------------------

async def test_foreign_change_lands_between_our_read_and_our_put(store):
    """The lost update of ledgers.md §3.2: read B, a checkout takes 15, PUT B - 10 overwrites it."""
    card = await store.create("50.00")
    await store.fault(kind="foreign_change", operation="get_gift_card", card_id=card["id"], delta="-15.00")
    read = await store.read(card["id"])
    assert read["balance"] == "50.00"  # the answer shows the balance from before the checkout
    assert (await store.state_card(card["id"]))["balance"] == "35.00"  # ...but the checkout has landed
    target = "40.00"  # B - 10, computed from the stale read
    assert (await store.put_balance(card["id"], target))["balance"] == "40.00"
    records = await store.records(card["id"], sort_order="asc")
    assert [(r["operation_type"], r["balance_before"], r["balance_after"]) for r in records] == [
        ("OPERATE_ACTION_DEDUCT", "50.00", "35.00"),
        ("OPERATE_ACTION_ADJUST_BALANCE", "35.00", "40.00")]  # the history shows the overwrite
    state = await store.state()
    assert state["faults_fired"] == {"foreign_change": 1} and state["faults"] == []


async def test_foreign_change_refund_and_list_read_by_code(store):
    card = await store.create("20.00", code="lookmeup12345")
    await store.fault(kind="foreign_change", operation="list_gift_cards", delta="7.50")
    listed = (await store.ok("GET", "gift_cards.json", params={"code": "lookmeup12345"}))["gift_cards"]
    assert listed[0]["balance"] == "20.00"
    assert (await store.read(card["id"]))["balance"] == "27.50"
    assert [r["operation_type"] for r in await store.records(card["id"])] == ["OPERATE_ACTION_REFUND"]


async def test_foreign_change_waits_for_its_card_and_operation(store):
    first, second = await store.create("50.00"), await store.create("50.00")
    await store.fault(kind="foreign_change", card_id=second["id"], delta="-5.00", count=2)
    await store.read(first["id"])
    await store.put_balance(second["id"], "45.00")  # a write is not a read
    assert (await store.state_card(second["id"]))["balance"] == "45.00"
    await store.records(second["id"])  # any read about the card (default: the read routes)
    await store.read(second["id"])
    assert (await store.state_card(second["id"]))["balance"] == "35.00"
    assert (await store.state_card(first["id"]))["balance"] == "50.00"
    assert (await store.state())["faults"] == []


async def test_foreign_change_that_would_go_negative_waits(store):
    card = await store.create("5.00")
    await store.fault(kind="foreign_change", card_id=card["id"], delta="-6.00")
    await store.read(card["id"])
    assert (await store.state_card(card["id"]))["balance"] == "5.00"
    assert len((await store.state())["faults"]) == 1
    await store.put_balance(card["id"], "10.00")
    await store.read(card["id"])
    assert (await store.state_card(card["id"]))["balance"] == "4.00"


async def test_foreign_change_can_be_typed_and_cleared(store):
    card = await store.create("5.00")
    await store.fault(kind="foreign_change", card_id=card["id"], delta="1.00", operation_type="OPERATE_ACTION_ADJUST_BALANCE")
    await store.read(card["id"])
    assert [r["operation_type"] for r in await store.records(card["id"])] == ["OPERATE_ACTION_ADJUST_BALANCE"]
    await store.fault(kind="foreign_change", card_id=card["id"], delta="1.00")
    await store.control("DELETE", "faults")
    await store.read(card["id"])
    assert (await store.state_card(card["id"]))["balance"] == "6.00"
