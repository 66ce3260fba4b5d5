"""Create, read, list (code filter, status, fields, since_id, paging), update and disable."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from giftcard_emulators.shopline import ShoplineConfig

CARD_KEYS = {"id", "api_client_id", "balance", "initial_value", "currency", "last_characters", "disabled_at",
             "expires_on", "note", "customer_id", "created_at", "updated_at"}


# -- create ---------------------------------------------------------------------------------------

async def test_create_with_our_code_answers_the_card_without_its_code(store):
    response, body = await store.call("POST", "gift_cards.json", {"gift_card": {
        "code": "ourcode0123456789", "initial_value": "50.00", "note": "issued by adapter",
        "customer_id": "4200113946", "expires_on": "2027-12-31"}})
    assert response.status == 201
    card = body["gift_card"]
    assert set(card) == CARD_KEYS
    assert re.fullmatch(r"\d{1,64}", card["id"])
    assert card["balance"] == card["initial_value"] == "50.00"
    assert card["currency"] == "USD" and card["last_characters"] == "6789"
    assert card["disabled_at"] is None and card["expires_on"] == "2027-12-31"
    assert card["note"] == "issued by adapter" and card["customer_id"] == "4200113946"
    assert card["created_at"] == card["updated_at"] == "2026-11-20T15:13:22+00:00"
    assert "ourcode0123456789" not in str(body)
    assert (await store.state_card(card["id"]))["code"] == "ourcode0123456789"


async def test_create_without_code_generates_a_valid_one(store):
    card = await store.create("10.00")
    code = (await store.state_card(card["id"]))["code"]
    assert re.fullmatch(r"[a-z0-9]{16}", code) and card["last_characters"] == code[-4:]


@pytest.mark.parametrize("code", ["short7x", "a" * 21, "UPPERCASE123", "with-dash123", "spa ce12345", "ümlaut123"])
async def test_code_rules_answer_422(store, code):
    response, body = await store.call("POST", "gift_cards.json", {"gift_card": {"code": code, "initial_value": "5.00"}})
    assert response.status == 422, body
    assert "code" in body["errors"]
    assert (await store.state())["cards"] == []


async def test_code_limits_8_and_20_are_allowed(store):
    for code in ("abcd1234", "a" * 19 + "9"):
        await store.create("5.00", code=code)


async def test_duplicate_code_answers_422_already_taken(store):
    await store.create("5.00", code="takencode123")
    response, body = await store.call("POST", "gift_cards.json",
                                      {"gift_card": {"code": "takencode123", "initial_value": "9.00"}})
    assert response.status == 422 and "already been taken" in body["errors"]
    await store.seed(code="seededcode99")
    response, _ = await store.call("POST", "gift_cards.json", {"gift_card": {"code": "seededcode99", "initial_value": "1.00"}})
    assert response.status == 422


@pytest.mark.parametrize(("value", "status"), [("0.00", 422), ("-5.00", 422), ("5.001", 422), ("abc", 422),
                                               (None, 422), (5, 400), ("1e3", 422)])
async def test_initial_value_must_be_a_positive_decimal_string(store, value, status):
    response, body = await store.call("POST", "gift_cards.json", {"gift_card": {"initial_value": value}})
    assert response.status == status, body
    assert "initial_value" in body["errors"]


async def test_create_needs_the_gift_card_object(store):
    response, body = await store.call("POST", "gift_cards.json", {"initial_value": "5.00"})
    assert response.status == 400 and "gift_card" in body["errors"]


async def test_money_uses_the_currency_exponent(make_store):
    yen = await make_store(ShoplineConfig(currency="JPY"))
    card = await yen.create("5000")
    assert card["balance"] == "5000" and card["currency"] == "JPY"
    response, _ = await yen.call("POST", "gift_cards.json", {"gift_card": {"initial_value": "5000.5"}})
    assert response.status == 422
    dinar = await make_store(ShoplineConfig(currency="KWD"))
    assert (await dinar.create("1.5"))["balance"] == "1.500"


async def test_note_is_limited_to_500_characters(store):
    response, _ = await store.call("POST", "gift_cards.json", {"gift_card": {"initial_value": "1.00", "note": "n" * 501}})
    assert response.status == 422
    await store.create("1.00", note="n" * 500)


# -- read -----------------------------------------------------------------------------------------

async def test_read_by_id(store):
    card = await store.create("12.00")
    assert await store.read(card["id"]) == card


@pytest.mark.parametrize("card_id", ["30157043359245339231369999", "abc", "1" * 65])
async def test_unknown_or_malformed_id_is_404(store, card_id):
    response, body = await store.call("GET", f"gift_cards/{card_id}.json")
    assert response.status == 404 and "errors" in body


# -- list -----------------------------------------------------------------------------------------

async def test_code_filter_is_an_exact_single_hit(store):
    wanted = await store.create("5.00", code="exactcode1234")
    await store.create("5.00", code="exactcode12345")
    await store.create("5.00", code="xexactcode1234")
    await store.create("5.00")
    listed = (await store.ok("GET", "gift_cards.json", params={"code": "exactcode1234"}))["gift_cards"]
    assert [card["id"] for card in listed] == [wanted["id"]]
    for near in ("exactcode123", "EXACTCODE1234", "exactcode1234 ", "1234"):
        assert (await store.ok("GET", "gift_cards.json", params={"code": near}))["gift_cards"] == []


async def test_code_filter_is_ignored_before_v20260301(store):
    await store.create("5.00", code="exactcode1234")
    await store.create("5.00")
    old = (await store.ok("GET", "gift_cards.json", params={"code": "exactcode1234"}, version="v20251201"))
    assert len(old["gift_cards"]) == 2
    new = await store.ok("GET", "gift_cards.json", params={"code": "exactcode1234"}, version="v20260301")
    assert len(new["gift_cards"]) == 1


async def test_status_since_id_and_fields(store):
    first, second, third = [await store.create("5.00") for _ in range(3)]
    await store.ok("POST", f"gift_cards/{second['id']}/disable.json")
    enabled = (await store.ok("GET", "gift_cards.json", params={"status": "enabled"}))["gift_cards"]
    assert [c["id"] for c in enabled] == [first["id"], third["id"]]
    disabled = (await store.ok("GET", "gift_cards.json", params={"status": "disabled"}))["gift_cards"]
    assert [c["id"] for c in disabled] == [second["id"]]
    since = (await store.ok("GET", "gift_cards.json", params={"since_id": first["id"]}))["gift_cards"]
    assert [c["id"] for c in since] == [second["id"], third["id"]]
    slim = (await store.ok("GET", "gift_cards.json", params={"fields": "id, last_characters"}))["gift_cards"]
    assert all(set(c) == {"id", "last_characters"} for c in slim)
    response, _ = await store.call("GET", "gift_cards.json", params={"status": "active"})
    assert response.status == 422


def _links(response) -> dict[str, str]:
    header = response.headers.get("Link")
    if not header:
        return {}
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


def _path(url: str) -> str:
    """A Link URL as a path for the test client (the emulator's own host and port)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _page_info(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def test_pagination_follows_link_headers_both_ways(store):
    ids = [(await store.create("5.00"))["id"] for _ in range(5)]
    response, body = await store.call("GET", "gift_cards.json", params={"limit": "2"})
    assert [c["id"] for c in body["gift_cards"]] == ids[:2]
    links = _links(response)
    assert set(links) == {"next"}
    query = _page_info(links["next"])
    assert query["limit"] == ["2"] and set(query) == {"limit", "page_info"}
    assert urlsplit(links["next"]).path.endswith("/admin/openapi/v20260601/gift_cards.json")

    response, body = await store.call("GET", _path(links["next"]))
    assert [c["id"] for c in body["gift_cards"]] == ids[2:4]
    links = _links(response)
    assert set(links) == {"previous", "next"}

    response, body = await store.call("GET", _path(links["next"]))
    assert [c["id"] for c in body["gift_cards"]] == ids[4:]
    links = _links(response)
    assert set(links) == {"previous"}

    response, body = await store.call("GET", _path(links["previous"]))
    assert [c["id"] for c in body["gift_cards"]] == ids[2:4]


async def test_no_link_header_when_everything_fits(store):
    await store.create("5.00")
    response, _ = await store.call("GET", "gift_cards.json")
    assert "Link" not in response.headers


async def test_with_page_info_every_filter_but_limit_and_fields_is_ignored(store):
    ids = [(await store.create("5.00"))["id"] for _ in range(4)]
    await store.ok("POST", f"gift_cards/{ids[3]}/disable.json")
    response, body = await store.call("GET", "gift_cards.json", params={"status": "enabled", "limit": "1"})
    assert [c["id"] for c in body["gift_cards"]] == ids[:1]
    token = _page_info(_links(response)["next"])["page_info"][0]
    # The cursor keeps status=enabled; status=disabled, since_id and code given now are ignored...
    response, body = await store.call("GET", "gift_cards.json", params={
        "page_info": token, "status": "disabled", "since_id": ids[2], "code": "nosuchcode123",
        "limit": "5", "fields": "id"})
    # ...while limit and fields apply.
    assert body["gift_cards"] == [{"id": ids[1]}, {"id": ids[2]}]
    assert "next" not in _links(response)


async def test_bad_page_info_and_limits_are_422(store):
    for params in ({"page_info": "bm90LWEtY3Vyc29y"}, {"page_info": "%%%"}, {"limit": "251"},
                   {"limit": "0"}, {"limit": "ten"}):
        response, body = await store.call("GET", "gift_cards.json", params=params)
        assert response.status == 422, (params, body)
    response, _ = await store.call("GET", "gift_cards.json", params={"limit": "250"})
    assert response.status == 200


# -- update ---------------------------------------------------------------------------------------

async def test_put_sets_the_balance_absolutely_and_records_it(store):
    card = await store.create("50.00")
    store.clock.advance(minutes=5)
    updated = await store.put_balance(card["id"], "12.34")
    assert updated["balance"] == "12.34" and updated["initial_value"] == "50.00"
    assert updated["updated_at"] == "2026-11-20T15:18:22+00:00"
    assert (await store.read(card["id"]))["balance"] == "12.34"
    await store.put_balance(card["id"], "60.00")  # no precondition, up is fine too
    records = await store.records(card["id"], sort_order="asc")
    assert [(r["operation_type"], r["balance_before"], r["balance_after"], r["change_amount"]) for r in records] == [
        ("OPERATE_ACTION_ADJUST_BALANCE", "50.00", "12.34", "-37.66"),
        ("OPERATE_ACTION_ADJUST_BALANCE", "12.34", "60.00", "47.66")]
    assert records[0]["created_at"] == "2026-11-20T15:18:22+00:00"
    assert records[0]["gift_card_id"] == card["id"] and records[0]["currency"] == "USD"


async def test_put_accepts_the_bare_fields_too_and_counts_the_shape(store):
    card = await store.create("50.00")
    body = await store.ok("PUT", f"gift_cards/{card['id']}.json", {"balance": "40.00"})
    assert body["gift_card"]["balance"] == "40.00"
    await store.put_balance(card["id"], "30.00")
    assert (await store.state())["put_shapes"] == {"bare": 1, "wrapped": 1}


@pytest.mark.parametrize(("balance", "status"), [("-0.01", 422), ("1.234", 422), (12, 400), ("x", 422)])
async def test_put_rejects_bad_balances_and_changes_nothing(store, balance, status):
    card = await store.create("50.00")
    response, body = await store.call("PUT", f"gift_cards/{card['id']}.json", {"gift_card": {"balance": balance}})
    assert response.status == status and "balance" in body["errors"]
    assert (await store.read(card["id"]))["balance"] == "50.00"
    assert await store.records(card["id"]) == []


async def test_put_to_zero_and_unchanged_put(store):
    card = await store.create("50.00")
    assert (await store.put_balance(card["id"], "0"))["balance"] == "0.00"
    await store.put_balance(card["id"], "0.00")  # unchanged: no record
    assert len(await store.records(card["id"])) == 1


async def test_put_note_and_expiry(store):
    card = await store.create("50.00")
    body = await store.ok("PUT", f"gift_cards/{card['id']}.json",
                          {"gift_card": {"note": "changed", "expires_on": "2027-08-16T23:59:59+08:00"}})
    assert body["gift_card"]["note"] == "changed"
    assert body["gift_card"]["expires_on"] == "2027-08-16T15:59:59+00:00"
    assert await store.records(card["id"]) == []


async def test_put_on_unknown_card_is_404(store):
    response, _ = await store.call("PUT", "gift_cards/30157043359245339231369999.json", {"gift_card": {"balance": "1.00"}})
    assert response.status == 404


# -- disable --------------------------------------------------------------------------------------

async def test_disable_is_final(store):
    card = await store.create("50.00")
    store.clock.advance(hours=1)
    response, body = await store.call("POST", f"gift_cards/{card['id']}/disable.json")
    assert response.status == 200
    disabled_at = body["gift_card"]["disabled_at"]
    assert disabled_at == "2026-11-20T16:13:22+00:00" and body["gift_card"]["balance"] == "50.00"
    store.clock.advance(hours=1)
    response, body = await store.call("POST", f"gift_cards/{card['id']}/disable.json")
    assert response.status == 422 and "already disabled" in body["errors"]
    assert (await store.read(card["id"]))["disabled_at"] == disabled_at
    response, body = await store.call("PUT", f"gift_cards/{card['id']}.json", {"gift_card": {"balance": "10.00"}})
    assert response.status == 422 and "disabled" in body["errors"]
    assert (await store.read(card["id"]))["balance"] == "50.00"
    response, _ = await store.call("POST", "gift_cards/30157043359245339231369999/disable.json")
    assert response.status == 404
