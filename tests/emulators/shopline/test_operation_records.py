"""GET gift_cards/{id}/operation_records.json: types, time bounds, the 180-day window, order, paging."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest


async def _card_with_history(store):
    """Four records a minute apart: ADJUST (PUT), DEDUCT, REFUND (checkout elsewhere), ADJUST."""
    card = await store.create("100.00")
    store.clock.advance(minutes=1)
    await store.put_balance(card["id"], "90.00")                     # 15:14:22 ADJUST
    store.clock.advance(minutes=1)
    await store.control("POST", f"cards/{card['id']}/changes", {"delta": "-20.00"}, expect=201)  # 15:15 DEDUCT
    store.clock.advance(minutes=1)
    await store.control("POST", f"cards/{card['id']}/changes", {"delta": "5.00"}, expect=201)    # 15:16 REFUND
    store.clock.advance(minutes=1)
    await store.put_balance(card["id"], "70.00")                     # 15:17:22 ADJUST
    return card


async def test_records_default_to_newest_first_and_carry_before_after(store):
    card = await _card_with_history(store)
    records = await store.records(card["id"])
    assert [r["operation_type"] for r in records] == [
        "OPERATE_ACTION_ADJUST_BALANCE", "OPERATE_ACTION_REFUND", "OPERATE_ACTION_DEDUCT",
        "OPERATE_ACTION_ADJUST_BALANCE"]
    assert [(r["balance_before"], r["balance_after"], r["change_amount"]) for r in records] == [
        ("75.00", "70.00", "-5.00"), ("70.00", "75.00", "5.00"), ("90.00", "70.00", "-20.00"),
        ("100.00", "90.00", "-10.00")]
    assert [r["created_at"] for r in records][0] == "2026-11-20T15:17:22+00:00"
    ascending = await store.records(card["id"], sort_order="asc")
    assert ascending == list(reversed(records))


async def test_operation_type_filter_takes_a_comma_list(store):
    card = await _card_with_history(store)
    deduct = await store.records(card["id"], operation_type="OPERATE_ACTION_DEDUCT")
    assert [r["change_amount"] for r in deduct] == ["-20.00"]
    both = await store.records(card["id"], operation_type="OPERATE_ACTION_DEDUCT,OPERATE_ACTION_REFUND")
    assert [r["operation_type"] for r in both] == ["OPERATE_ACTION_REFUND", "OPERATE_ACTION_DEDUCT"]
    response, _ = await store.call("GET", f"gift_cards/{card['id']}/operation_records.json",
                                   params={"operation_type": "OPERATE_ACTION_TOPUP"})
    assert response.status == 422


async def test_createtime_bounds_are_inclusive(store):
    card = await _card_with_history(store)
    inside = await store.records(card["id"], createtime_at_min="2026-11-20T15:15:22+00:00",
                                 createtime_at_max="2026-11-20T23:16:22+08:00")
    assert [r["created_at"] for r in inside] == ["2026-11-20T15:16:22+00:00", "2026-11-20T15:15:22+00:00"]
    response, _ = await store.call("GET", f"gift_cards/{card['id']}/operation_records.json",
                                   params={"createtime_at_min": "yesterday"})
    assert response.status == 422


async def test_only_the_last_180_days_are_answered(store):
    card = await store.create("100.00")
    await store.put_balance(card["id"], "90.00")  # at T0
    store.clock.advance(days=100)
    await store.put_balance(card["id"], "80.00")  # at T0 + 100 d
    store.clock.advance(days=80)                   # now T0 + 180 d: both still inside
    assert len(await store.records(card["id"])) == 2
    store.clock.advance(seconds=1)                 # the first one falls out
    records = await store.records(card["id"])
    assert [r["balance_after"] for r in records] == ["80.00"]
    # An earlier minimum does not bring it back, nor does it error.
    again = await store.records(card["id"], createtime_at_min="2026-01-01T00:00:00+00:00")
    assert [r["balance_after"] for r in again] == ["80.00"]
    # The emulator still holds it (state), SHOPLINE just won't answer it.
    assert len((await store.state())["operation_records"]) == 2


async def test_records_page_with_link_headers_and_the_limit_of_100(store):
    card = await store.create("100.00")
    for cents in range(1, 6):
        store.clock.advance(seconds=10)
        await store.put_balance(card["id"], f"{100 - cents}.00")
    response, body = await store.call("GET", f"gift_cards/{card['id']}/operation_records.json",
                                      params={"limit": "2", "sort_order": "asc", "operation_type": "OPERATE_ACTION_ADJUST_BALANCE"})
    seen = [r["balance_after"] for r in body["operation_records"]]
    while "rel=\"next\"" in response.headers.get("Link", ""):
        url = re.search(r'<([^>]+)>; rel="next"', response.headers["Link"]).group(1)
        parts = urlsplit(url)
        assert parts.path.endswith(f"/gift_cards/{card['id']}/operation_records.json")
        # page_info carries the filters and sort: a sort_order given now is ignored.
        response, body = await store.call("GET", f"{parts.path}?{parts.query}&sort_order=desc")
        seen += [r["balance_after"] for r in body["operation_records"]]
    assert seen == ["99.00", "98.00", "97.00", "96.00", "95.00"]
    for limit, status in (("100", 200), ("101", 422)):
        response, _ = await store.call("GET", f"gift_cards/{card['id']}/operation_records.json", params={"limit": limit})
        assert response.status == status


async def test_records_within_one_second_page_without_a_gap(store):
    """The cursor keeps the sort key's full precision (it once kept whole seconds only, and a
    page after records made within one second came back empty)."""
    card = await store.create("100.00")
    for cents in range(1, 5):
        store.clock.advance(seconds=0.2)
        await store.put_balance(card["id"], f"{100 - cents}.00")
    response, body = await store.call("GET", f"gift_cards/{card['id']}/operation_records.json", params={"limit": "1"})
    seen = [r["balance_after"] for r in body["operation_records"]]
    while "rel=\"next\"" in response.headers.get("Link", ""):
        url = re.search(r'<([^>]+)>; rel="next"', response.headers["Link"]).group(1)
        parts = urlsplit(url)
        response, body = await store.call("GET", f"{parts.path}?{parts.query}")
        seen += [r["balance_after"] for r in body["operation_records"]]
    assert seen == ["96.00", "97.00", "98.00", "99.00"]


async def test_a_cursor_of_another_card_or_list_is_refused(store):
    first, second = await store.create("10.00"), await store.create("10.00")
    for amount in ("9.00", "8.00"):
        await store.put_balance(first["id"], amount)
    response, _ = await store.call("GET", f"gift_cards/{first['id']}/operation_records.json", params={"limit": "1"})
    url = re.search(r'<([^>]+)>; rel="next"', response.headers["Link"]).group(1)
    query = urlsplit(url).query
    response, _ = await store.call("GET", f"gift_cards/{second['id']}/operation_records.json?{query}")
    assert response.status == 422
    response, _ = await store.call("GET", f"gift_cards.json?{query}")
    assert response.status == 422


@pytest.mark.parametrize("sort_order", ["up", "ASC"])
async def test_bad_sort_order_is_422(store, sort_order):
    card = await store.create("10.00")
    response, _ = await store.call("GET", f"gift_cards/{card['id']}/operation_records.json", params={"sort_order": sort_order})
    assert response.status == 422


async def test_records_of_an_unknown_card_are_404(store):
    response, _ = await store.call("GET", "gift_cards/30157043359245339231369999/operation_records.json")
    assert response.status == 404
