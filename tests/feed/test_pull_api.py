"""GET /v1/gift_cards/events: pages by cursor, the same on every replica, in the webhook's shape;
its parameters are validated naming the field; it needs an API key like every NewStore call."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from adapter.feed import events as shapes
from adapter.store import feed
from tests.conftest import AUTH, OLD_API_KEY
from tests.feed.conftest import append, event

PATH = "/v1/gift_cards/events"


async def _page(client, **query):
    response = await client.get(PATH, params={k: str(v) for k, v in query.items()}, headers=AUTH)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    return json.loads(await response.read(), parse_float=Decimal)


async def test_pages_by_cursor_stably_on_every_replica(make_adapter, db):
    first, second = await make_adapter(), await make_adapter()
    empty = await _page(first)
    assert empty == {"events": [], "next_cursor": "0"}
    ids = await append(db, [event(n % 3, amount=f"{n}.25", balance=f"{100 - n}.75") for n in range(1, 8)],
                       subscribers=())
    ids += await append(db, [event(9, kind="deactivated", cause="admin_adjustment", amount="0")], subscribers=())

    seen, cursor, pages = [], "0", 0
    while True:
        page = await _page(first, after=cursor, limit=3)
        assert page == await _page(second, after=cursor, limit=3)  # whatever replica answers
        if not page["events"]:
            assert page["next_cursor"] == cursor
            break
        pages += 1
        assert len(page["events"]) <= 3
        assert page["next_cursor"] == str(page["events"][-1]["sequence"])
        seen += page["events"]
        cursor = page["next_cursor"]
    assert pages == 3 and [e["sequence"] for e in seen] == ids
    assert len({e["event_id"] for e in seen}) == len(ids)

    # The same shape, and the same bytes per event, as the webhook body.
    async with db.acquire() as conn:
        stored = await feed.after(conn, 0, 500)
    raw = await (await first.get(PATH, headers=AUTH)).read()
    for event_ in stored:
        assert shapes.encode(event_) in raw
    assert seen[0]["amount"] == Decimal("1.25") and seen[0]["balance_after"] == Decimal("99.75")
    assert seen[0]["card"] == {"ledger_id": event(1).ledger_card_id, "last_characters": "0001"}
    assert (await _page(first))["events"] == seen  # default limit 100
    assert [e["sequence"] for e in (await _page(first, after=ids[4], limit=500))["events"]] == ids[5:]
    assert (await _page(first, after="0000", limit=1))["next_cursor"] == str(ids[0])
    beyond = await _page(first, after=10 ** 12)
    assert beyond == {"events": [], "next_cursor": str(10 ** 12)}


@pytest.mark.parametrize("query, field", [
    ("after=-1", "after"), ("after=abc", "after"), ("after=1.5", "after"), ("after=+1", "after"),
    ("after=%201", "after"), ("after=", "after"), ("after=9223372036854775808", "after"),
    ("after=1&after=2", "after"),
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=ten", "limit"), ("limit=-5", "limit"),
    ("limit=", "limit"), ("limit=1e2", "limit"), ("limit=1&limit=2", "limit"),
])
async def test_bad_parameters_are_400_naming_the_field(adapter, query, field):
    response = await adapter.get(f"{PATH}?{query}", headers=AUTH)
    assert response.status == 400
    body = await response.json()
    assert body["error_code"] == "bad_request" and body["request_accepted"] is False
    assert body["message"].startswith(f"{field}: ")


async def test_needs_an_api_key(adapter, db):
    await append(db, [event(1)], subscribers=())
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"X-API-Key": "nope"}):
        response = await adapter.get(PATH, headers=headers)
        assert response.status == 401
        assert (await response.json())["error_code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    for headers in (AUTH, {"X-API-Key": OLD_API_KEY}):
        assert (await adapter.get(PATH, headers=headers)).status == 200


async def test_the_openapi_document_describes_it(adapter):
    document = await (await adapter.get("/openapi.json")).json()
    operation = document["paths"][PATH]["get"]
    assert operation["operationId"] == "feed_events"
    assert {p["name"]: p["schema"] for p in operation["parameters"]} == {
        "after": {"type": "string", "pattern": "^[0-9]{1,19}$", "default": "0"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventsPage"}
    assert set(document["components"]["schemas"]["FeedEvent"]["required"]) == {
        "event_id", "sequence", "card", "kind", "cause", "amount", "balance_after", "currency", "occurred_at",
        "operation", "order"}
