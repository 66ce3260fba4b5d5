"""The leaky bucket: 40 requests held per app per store, 4 leaking out per second."""

from __future__ import annotations

from giftcard_emulators.shopline import ShoplineConfig


async def _status(store) -> int:
    response, _ = await store.call("GET", "gift_cards.json")
    return response.status


async def test_a_burst_of_40_passes_and_the_41st_is_429(store):
    assert [await _status(store) for _ in range(40)] == [200] * 40
    response, body = await store.call("GET", "gift_cards.json")
    assert response.status == 429
    assert body == {"errors": "Too many request"}
    assert response.headers["Retry-After"] == "1"  # one ball leaks out in 0.25 s
    state = await store.state()
    assert state["calls"]["list_gift_cards"] == 41 and state["throttled"] == {"list_gift_cards": 1}


async def test_the_bucket_leaks_4_requests_per_second(store):
    for _ in range(40):
        await _status(store)
    store.monotonic.now += 0.24
    assert await _status(store) == 429
    store.monotonic.now += 0.01  # 0.25 s: exactly one ball out
    assert await _status(store) == 200
    assert await _status(store) == 429
    store.monotonic.now += 1.0  # four more
    assert [await _status(store) for _ in range(5)] == [200] * 4 + [429]
    store.monotonic.now += 10.0  # the bucket empties, no further
    assert [await _status(store) for _ in range(41)] == [200] * 40 + [429]


async def test_a_steady_4_per_second_is_never_throttled(store):
    for _ in range(200):
        assert await _status(store) == 200
        store.monotonic.now += 0.25


async def test_every_route_shares_the_one_bucket_and_writes_count_too(store):
    card = await store.create("5.00")
    for _ in range(38):
        await store.read(card["id"])
    assert (await store.call("PUT", f"gift_cards/{card['id']}.json", {"gift_card": {"balance": "4.00"}}))[0].status == 200
    response, _ = await store.call("PUT", f"gift_cards/{card['id']}.json", {"gift_card": {"balance": "3.00"}})
    assert response.status == 429
    assert (await store.state_card(card["id"]))["balance"] == "4.00"  # the throttled PUT did nothing


async def test_retry_after_grows_with_the_debt(make_store):
    store = await make_store(ShoplineConfig(bucket_size=2, leak_rate=0.5))
    assert [await _status(store) for _ in range(3)] == [200, 200, 429]
    response, _ = await store.call("GET", "gift_cards.json")
    assert response.headers["Retry-After"] == "2"  # 0.5 per second: one ball needs 2 s


async def test_size_and_rate_change_through_the_control_api(store):
    await store.control("POST", "config", {"bucket_size": 3, "leak_rate": 1})
    assert [await _status(store) for _ in range(4)] == [200, 200, 200, 429]
    store.monotonic.now += 1
    assert [await _status(store) for _ in range(2)] == [200, 429]
    assert (await store.state())["bucket"]["bucket_size"] == 3.0
