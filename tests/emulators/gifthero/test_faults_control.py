"""Rate limiting, fault switches (incl. foreign_change) and the /_emulator control routes."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from giftcard_emulators.gifthero import GiftHeroConfig, start_gifthero
from tests.emulators.gifthero.conftest import Hero


async def test_rate_limit_answers_429_with_retry_after_when_enabled(make_hero) -> None:
    hero: Hero = await make_hero(GiftHeroConfig(rate_limit=2, rate_window_s=10))
    for _ in range(2):
        await hero.ok("GET", "/gift-cards")
    response, body = await hero.call("GET", "/gift-cards")
    assert response.status == 429 and body == {"errors": "Too Many Requests"}
    assert response.headers["Retry-After"] == "10"
    hero.clock.advance(seconds=7)
    response, _ = await hero.call("GET", "/gift-cards")
    assert response.headers["Retry-After"] == "3"
    hero.clock.advance(seconds=3)
    await hero.ok("GET", "/gift-cards")


async def test_rate_limit_is_off_by_default(hero: Hero) -> None:
    for _ in range(30):
        await hero.ok("GET", "/gift-cards")


async def test_error_5xx_fires_once_on_its_operation(hero: Hero) -> None:
    card = await hero.create()
    await hero.fault(kind="error_5xx", operation="set_balance", status=503)
    await hero.ok("GET", f"/gift-cards/{card['id']}")
    response, body = await hero.call("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "1.00"})
    assert response.status == 503 and body == {"errors": "Service Unavailable"}
    assert (await hero.ok("GET", f"/gift-cards/{card['id']}"))["gift_card"]["balance"] == "100.00"
    await hero.ok("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "1.00"})
    assert (await hero.state())["faults_fired"] == {"error_5xx": 1}


async def test_latency_delays_the_answer(hero: Hero) -> None:
    await hero.fault(kind="latency", operation="list", latency_ms=50)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await hero.ok("GET", "/gift-cards")
    assert loop.time() - started >= 0.045


async def test_lose_response_applies_the_change_then_drops_the_answer(hero: Hero) -> None:
    card = await hero.create()
    await hero.fault(kind="lose_response", operation="set_balance")
    with pytest.raises(aiohttp.ClientError):
        await hero.call("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "40.00"})
    state = (await hero.state())["cards"][0]
    assert state["balance"] == "40.00"
    assert [t["amount"] for t in state["transactions"]] == ["100.00", "-60.00"]
    assert (await hero.state())["calls"]["set_balance"] == 1  # this client did not resend the PUT


async def test_hold_parks_the_call_until_released(hero: Hero) -> None:
    card = await hero.create()
    await hero.fault(kind="hold", operation="set_balance")
    call = asyncio.create_task(hero.call("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "10.00"}))
    for _ in range(100):
        if (await hero.state())["held"] == 1:
            break
        await asyncio.sleep(0.01)
    state = await hero.state()
    assert state["held_operations"] == ["set_balance"] and state["cards"][0]["balance"] == "100.00"
    assert (await hero.control("POST", "/release"))["released"] == 1
    response, tx = await call
    assert response.status == 200 and tx["amount"] == "-90.00"


async def test_foreign_change_lands_between_our_read_and_our_put(hero: Hero) -> None:
    card = await hero.create("100.00")
    other = await hero.create("50.00")
    await hero.fault(kind="foreign_change", operation="get", card_id=card["id"], delta="-30.00")
    await hero.ok("GET", f"/gift-cards/{other['id']}")  # another card: not matching
    read = (await hero.ok("GET", f"/gift-cards/{card['id']}"))["gift_card"]
    assert read["balance"] == "100.00"  # our read saw the old balance
    # Our absolute PUT of B - 20 then overwrites the checkout; the answer's amount shows it.
    tx = await hero.ok("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "80.00"})
    assert tx["amount"] == "10.00"  # not -20.00: the foreign -30.00 came first
    history = await hero.ok("GET", "/gift-cards/transactions", params={"query": f"id:{card['id']}"})
    assert [t["amount"] for t in history[0]["transactions"]] == ["10.00", "-30.00", "100.00"]
    state = await hero.state()
    assert state["faults_fired"] == {"foreign_change": 1} and state["faults"] == []
    assert (await hero.ok("GET", f"/gift-cards/{other['id']}"))["gift_card"]["balance"] == "50.00"


async def test_fault_specs_are_validated(hero: Hero) -> None:
    await hero.control("POST", "/faults", {"kind": "nope"}, expect=400)
    await hero.control("POST", "/faults", {"kind": "foreign_change", "operation": "set_balance",
                                           "card_id": 1, "delta": "1.00"}, expect=400)
    await hero.control("POST", "/faults", {"kind": "foreign_change", "operation": "list", "delta": "1.00"},
                       expect=400)


async def test_control_state_seed_config_reset_and_clear(hero: Hero) -> None:
    seeded = await hero.control("POST", "/cards", {"code": "ELSE WHERE 1234", "balance": "12.34"}, expect=201)
    assert seeded["code"] == "elsewhere1234" and seeded["api_client_id"] is None
    read = (await hero.ok("GET", f"/gift-cards/{seeded['id']}"))["gift_card"]
    assert read["balance"] == "12.34" and "code" not in read
    await hero.control("POST", "/cards", {"code": "elsewhere1234"}, expect=400)
    state = await hero.state()
    assert state["cards"][0]["code"] == "elsewhere1234" and "access_token" not in state["config"]
    assert state["calls"] == {"get": 1} and len(state["transactions"]) == 1
    await hero.fault(kind="error_5xx", operation="list")
    assert len((await hero.control("GET", "/faults"))["faults"]) == 1
    await hero.control("DELETE", "/faults")
    await hero.ok("GET", "/gift-cards")
    config = await hero.control("POST", "/config", {"access_token": "new", "currency": "eur"})
    assert config["currency"] == "EUR"
    response, _ = await hero.call("GET", "/gift-cards")
    assert response.status == 401
    assert (await hero.ok("POST", "/gift-cards", {"initial_value": 1}, token="new"))["gift_card"]["currency"] == "EUR"
    await hero.control("POST", "/config", {"bogus": 1}, expect=400)
    await hero.control("POST", "/reset")
    state = await hero.state()
    assert state["cards"] == [] and state["calls"] == {} and state["faults_fired"] == {}


async def test_start_gifthero_serves_on_a_real_socket() -> None:
    running = await start_gifthero(config=GiftHeroConfig(access_token="t1"))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(running.api_url + "/gift-cards", json={"initial_value": 5},
                                    headers={"Authorization": "Bearer t1"}) as response:
                assert response.status == 201
            async with session.get(running.base_url + "/_emulator/state") as response:
                assert len((await response.json())["cards"]) == 1
    finally:
        await running.close()


async def test_hold_after_applies_then_parks_and_reset_fails_held_calls(hero: Hero) -> None:
    card = await hero.create()
    await hero.fault(kind="hold", operation="set_balance", stage="after")
    call = asyncio.create_task(hero.call("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "10.00"}))
    for _ in range(100):
        if (await hero.state())["held"] == 1:
            break
        await asyncio.sleep(0.01)
    assert (await hero.state())["cards"][0]["balance"] == "10.00"  # applied before parking
    await hero.control("POST", "/release")
    response, tx = await call
    assert response.status == 200 and tx["amount"] == "-90.00"
    await hero.fault(kind="hold", operation="list")
    parked = asyncio.create_task(hero.call("GET", "/gift-cards"))
    for _ in range(100):
        if (await hero.state())["held"] == 1:
            break
        await asyncio.sleep(0.01)
    await hero.control("POST", "/reset")
    response, body = await parked
    assert response.status == 503
