"""Base path, versions, the bearer token, traceId and the error body shape."""

from __future__ import annotations

import pytest

from tests.emulators.shopline.conftest import API


async def test_missing_or_wrong_token_is_401_with_errors_body(store):
    for token in (None, "wrong-token"):
        response, body = await store.call("GET", "gift_cards.json", token=token)
        assert response.status == 401
        assert isinstance(body["errors"], str) and body["errors"]
    response, _ = await store.call("GET", "gift_cards.json", headers={"Authorization": store.emulator.config.access_token},
                                   token=None)
    assert response.status == 401  # the token without "Bearer "
    assert (await store.state())["calls"] == {}  # refused calls are not counted as the app's


async def test_the_right_token_passes(store):
    response, body = await store.call("GET", "gift_cards.json")
    assert response.status == 200 and body == {"gift_cards": []}
    assert response.content_type == "application/json"


@pytest.mark.parametrize("version", ["v20990101", "v2026060", "2026-06", "v20260601x", "latest"])
async def test_unknown_or_malformed_version_is_404(store, version):
    response, body = await store.call("GET", "gift_cards.json", version=version)
    assert response.status == 404
    assert body == {"errors": "Not Found"}


async def test_every_documented_version_is_served(store):
    for version in ("v20250601", "v20260301", "v20260601"):
        response, _ = await store.call("GET", "gift_cards.json", version=version)
        assert response.status == 200


async def test_unknown_path_and_method_answer_json_errors(store):
    response, body = await store.call("GET", f"{API}/orders.json")
    assert response.status == 404 and "errors" in body
    response, body = await store.call("DELETE", "gift_cards/30157043359245339231360001.json")
    assert response.status == 405 and "errors" in body


async def test_every_answer_carries_a_fresh_trace_id(store):
    card = await store.create()
    seen = set()
    for method, path, token in [("GET", f"gift_cards/{card['id']}.json", "shopline-emulator-token"),
                                ("GET", "gift_cards/999.json", "shopline-emulator-token"),
                                ("GET", "gift_cards.json", None),
                                ("GET", f"{API}/nothing.json", "shopline-emulator-token")]:
        response, _ = await store.call(method, path, token=token)
        trace_id = response.headers.get("traceId")
        assert trace_id and trace_id not in seen
        seen.add(trace_id)
    store.emulator.config.bucket_size = 1
    store.emulator.bucket.drain()
    await store.call("GET", "gift_cards.json")
    response, _ = await store.call("GET", "gift_cards.json")
    assert response.status == 429 and response.headers["traceId"] not in seen


async def test_body_must_be_json(store):
    response, body = await store.call("POST", "gift_cards.json", headers={"Content-Type": "application/json"})
    assert response.status == 400  # no gift_card object
    raw = await store.client.post(f"{API}/gift_cards.json", data=b"{not json",
                                  headers={"Authorization": "Bearer shopline-emulator-token",
                                           "Content-Type": "application/json"})
    assert raw.status == 400 and "errors" in await raw.json()
    raw = await store.client.post(f"{API}/gift_cards.json", data=b'{"gift_card": {"initial_value": "5.00"}}',
                                  headers={"Authorization": "Bearer shopline-emulator-token",
                                           "Content-Type": "text/plain"})
    assert raw.status == 400
