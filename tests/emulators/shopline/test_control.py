"""The /_emulator/ control routes other suites rely on."""

from __future__ import annotations

from datetime import UTC, datetime

from giftcard_emulators.shopline import Emulator, ShoplineConfig, create_shopline_app
from giftcard_emulators.shopline.ledger import Clock


async def test_state_shows_cards_with_code_records_faults_and_calls(store):
    card = await store.create("10.00", code="statecode1234")
    await store.put_balance(card["id"], "9.00")
    await store.read(card["id"])
    await store.fault(kind="latency", latency_ms=1, operation="get_gift_card")
    await store.read(card["id"])
    state = await store.state()
    assert state["cards"][0]["code"] == "statecode1234" and state["cards"][0]["enabled"] is True
    assert state["operation_records"][0]["source"] == "api"
    assert state["calls"] == {"create_gift_card": 1, "update_gift_card": 1, "get_gift_card": 2}
    assert state["faults_fired"] == {"latency": 1} and state["faults"] == []
    assert state["now"] == "2026-11-20T15:13:22+00:00"
    assert "access_token" not in state["config"]
    assert state["config"]["shop_domain"] == "emulator.myshopline.com"


async def test_seed_a_card_made_elsewhere(store):
    seeded = await store.seed(code="frompos12345", balance="30.00", initial_value="50.00", note="admin")
    assert seeded["code"] == "frompos12345" and seeded["api_client_id"] is None
    card = await store.read(seeded["id"])
    assert card["balance"] == "30.00" and card["initial_value"] == "50.00" and card["last_characters"] == "2345"
    listed = (await store.ok("GET", "gift_cards.json", params={"code": "frompos12345"}))["gift_cards"]
    assert [c["id"] for c in listed] == [seeded["id"]]
    generated = await store.seed()
    assert len(generated["code"]) == 16 and generated["balance"] == "25.00"
    disabled = await store.seed(disabled=True)
    assert (await store.read(disabled["id"]))["disabled_at"] is not None
    await store.control("POST", "cards", {"code": "frompos12345", "balance": "1.00"}, expect=409)
    await store.control("POST", "cards", {"code": "BAD", "balance": "1.00"}, expect=400)
    await store.control("POST", "cards", {"code": "okcode12345"}, expect=400)
    await store.control("POST", "cards", {"balance": "1.001"}, expect=400)


async def test_changes_made_elsewhere_can_be_backdated(store):
    card = await store.seed(balance="30.00")
    result = await store.control("POST", f"cards/{card['id']}/changes",
                                 {"delta": "-10.00", "created_at": "2026-11-01T10:00:00+00:00"}, expect=201)
    assert result["record"]["operation_type"] == "OPERATE_ACTION_DEDUCT"
    assert result["record"]["created_at"] == "2026-11-01T10:00:00+00:00" and result["card"]["balance"] == "20.00"
    await store.control("POST", f"cards/{card['id']}/changes", {"delta": "-21.00"}, expect=400)
    await store.control("POST", "cards/123/changes", {"delta": "-1.00"}, expect=404)


async def test_frozen_and_locked_store(store):
    await store.control("POST", "config", {"store_state": "frozen"})
    response, body = await store.call("GET", "gift_cards.json")
    assert response.status == 402 and "frozen" in body["errors"]
    await store.control("POST", "config", {"store_state": "locked"})
    response, body = await store.call("POST", "gift_cards.json", {"gift_card": {"initial_value": "1.00"}})
    assert response.status == 423 and "locked" in body["errors"]
    assert (await store.state())["cards"] == []
    await store.control("POST", "config", {"store_state": "active"})
    response, _ = await store.call("GET", "gift_cards.json")
    assert response.status == 200
    await store.control("POST", "config", {"store_state": "sleepy"}, expect=400)


async def test_token_rotation_and_bad_settings(store):
    await store.control("POST", "config", {"access_token": "rotated-token"})
    assert (await store.call("GET", "gift_cards.json"))[0].status == 401
    assert (await store.call("GET", "gift_cards.json", token="rotated-token"))[0].status == 200
    for body in ({"bucket_size": 0}, {"leak_rate": "fast"}, {"nonsense": 1}, {"currency": "usd"}):
        await store.control("POST", "config", body, expect=400)


async def test_reset_empties_the_store_but_keeps_the_config(store):
    await store.control("POST", "config", {"leak_rate": 2})
    card = await store.create("5.00")
    await store.fault(kind="error_5xx")
    assert await store.control("POST", "reset") == {"reset": True}
    state = await store.state()
    assert state["cards"] == [] and state["operation_records"] == [] and state["faults"] == []
    assert state["calls"] == {} and state["faults_fired"] == {} and state["config"]["leak_rate"] == 2.0
    assert (await store.call("GET", f"gift_cards/{card['id']}.json"))[0].status == 404
    assert (await store.create("5.00"))["id"] != card["id"]  # ids are never reused


async def test_counters_reset_keeps_the_cards(store):
    await store.create("5.00")
    await store.control("POST", "counters/reset")
    state = await store.state()
    assert state["calls"] == {} and len(state["cards"]) == 1


async def test_faults_list_and_clear(store):
    first = await store.fault(kind="error_5xx", operation="get_gift_card", count=2)
    second = await store.fault(kind="foreign_change", delta="-1.00")
    listed = await store.control("GET", "faults")
    assert [f["id"] for f in listed["faults"]] == [first, second]
    assert listed["faults"][1]["delta"] == "-1.00"
    assert (await store.control("DELETE", "faults")) == {"cleared": True, "released": 0}
    assert (await store.control("GET", "faults"))["faults"] == []


async def test_the_store_clock_can_be_set_and_moved_over_http(aiohttp_client):
    emulator = Emulator(ShoplineConfig(), clock=Clock(frozen=datetime(2026, 1, 1, tzinfo=UTC)))
    client = await aiohttp_client(create_shopline_app(emulator=emulator))
    headers = {"Authorization": f"Bearer {emulator.config.access_token}"}
    response = await client.post("/admin/openapi/v20260601/gift_cards.json", headers=headers,
                                 json={"gift_card": {"initial_value": "5.00"}})
    card = (await response.json())["gift_card"]
    assert card["created_at"] == "2026-01-01T00:00:00+00:00"
    await client.put(f"/admin/openapi/v20260601/gift_cards/{card['id']}.json", headers=headers,
                     json={"gift_card": {"balance": "4.00"}})
    moved = await (await client.post("/_emulator/clock", json={"advance_seconds": 181 * 86400})).json()
    assert moved == {"now": "2026-07-01T00:00:00+00:00"}
    response = await client.get(f"/admin/openapi/v20260601/gift_cards/{card['id']}/operation_records.json",
                                headers=headers)
    assert (await response.json())["operation_records"] == []  # out of the 180-day window
    reset = await (await client.post("/_emulator/clock", json={"now": "2026-03-01T12:00:00Z"})).json()
    assert reset == {"now": "2026-03-01T12:00:00+00:00"}


async def test_an_injected_clock_is_not_moved_over_http(store):
    await store.control("POST", "clock", {"advance_seconds": 5}, expect=400)
