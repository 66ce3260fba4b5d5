"""One test per documented behaviour of Gift Card Hero's REST API (seed 001)."""

from __future__ import annotations

from decimal import Decimal

from yarl import URL

from tests.emulators.gifthero.conftest import Hero

CARD_FIELDS = {"id", "balance", "created_at", "updated_at", "currency", "initial_value", "disabled_at",
               "line_item_id", "api_client_id", "user_id", "customer_id", "note", "expires_on",
               "template_suffix", "last_characters", "order_id"}


async def test_missing_or_wrong_token_is_401(hero: Hero) -> None:
    for token in (None, "wrong"):
        response, body = await hero.call("GET", "/gift-cards", token=token)
        assert response.status == 401
        assert body == {"errors": "Unauthorized"}
    response, _ = await hero.call("GET", "/gift-cards")
    assert response.status == 200


async def test_create_takes_a_number_exactly_and_answers_the_normalised_code(hero: Hero) -> None:
    response, body = await hero.call("POST", "/gift-cards",
                                     raw='{"initial_value": 100.10, "code": "ABCD EFGH IJKL MNOP", "note": "n",'
                                         ' "template_suffix": "gift_cards.birthday.liquid"}')
    assert response.status == 201
    card = body["gift_card"]
    assert set(card) == CARD_FIELDS | {"code"}
    assert card["code"] == "abcdefghijklmnop"
    assert card["last_characters"] == "mnop"
    assert card["balance"] == card["initial_value"] == "100.10"
    assert card["note"] == "n" and card["template_suffix"] == "gift_cards.birthday.liquid"
    assert isinstance(card["id"], int)
    # A float would have made 0.1 + 0.2 inexact; three places are refused rather than rounded.
    response, body = await hero.call("POST", "/gift-cards", raw='{"initial_value": 100.005}')
    assert response.status == 422 and "initial_value" in body["errors"]
    response, body = await hero.call("POST", "/gift-cards", raw='{"initial_value": 0.3}')
    assert body["gift_card"]["balance"] == "0.30" and Decimal(body["gift_card"]["balance"]) == Decimal("0.3")


async def test_duplicate_code_is_refused_after_normalisation(hero: Hero) -> None:
    await hero.create(code="abcdefghijklmnop")
    response, body = await hero.call("POST", "/gift-cards", {"initial_value": 5, "code": "ABCD efgh IJKL mnop"})
    assert response.status == 422
    assert body == {"errors": {"code": ["has already been taken"]}}
    assert len((await hero.state())["cards"]) == 1


async def test_no_read_ever_shows_the_code(hero: Hero) -> None:
    card = await hero.create(code="secretcode123456")
    reads = [await hero.ok("GET", f"/gift-cards/{card['id']}"), await hero.ok("GET", "/gift-cards"),
             await hero.ok("GET", "/gift-cards/transactions"), await hero.ok("GET", "/gift-cards/search"),
             await hero.ok("PUT", f"/gift-cards/{card['id']}", {"note": "x"}),
             await hero.ok("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "1.00"}),
             await hero.ok("POST", f"/gift-cards/{card['id']}/disable", {"id": card["id"]})]
    for answer in reads:
        assert "secretcode123456" not in str(answer)
        assert "'code'" not in str(answer)
    single = reads[0]["gift_card"]
    assert set(single) == CARD_FIELDS


async def test_search_does_not_index_the_code_but_finds_last_characters(hero: Hero) -> None:
    card = await hero.create(code="alphabravo12wxyz")
    await hero.create(code="otherothercard99")
    for query in ("alphabravo12wxyz", "code:alphabravo12wxyz"):
        assert (await hero.ok("GET", "/gift-cards/search", params={"query": query}))["gift_cards"] == []
    for query in ("wxyz", "last_characters:wxyz"):
        found = (await hero.ok("GET", "/gift-cards/search", params={"query": query}))["gift_cards"]
        assert [c["id"] for c in found] == [card["id"]]
    by_balance = await hero.ok("GET", "/gift-cards/search", params={"query": "balance:>=100", "limit": "1"})
    assert len(by_balance["gift_cards"]) == 1


async def test_transactions_per_card_and_pagination_by_link_header(hero: Hero) -> None:
    ids = [(await hero.create("10.00"))["id"] for _ in range(3)]
    await hero.ok("PUT", f"/gift-cards/{ids[1]}/balance", {"balance": "4.00"})
    only = await hero.ok("GET", "/gift-cards/transactions", params={"query": f"id:{ids[1]}"})
    assert [c["id"] for c in only] == [ids[1]]
    assert [t["amount"] for t in only[0]["transactions"]] == ["-6.00", "10.00"]  # newest first
    response, first = await hero.call("GET", "/gift-cards/transactions", params={"limit": "2"})
    assert [c["id"] for c in first] == ids[:2]
    link = response.headers["Link"]
    assert link.endswith('; rel="next"') and "page_info=" in link
    next_url = link[1:link.index(">")]
    follow = await hero.client.get(URL(next_url).path_qs, headers={"Authorization": "Bearer gifthero-token"})
    second = await follow.json()
    assert [c["id"] for c in second] == ids[2:]
    assert "Link" not in follow.headers
    response, _ = await hero.call("GET", "/gift-cards", params={"limit": "2"})
    assert "page_info=" in response.headers["Link"]


async def test_put_balance_sets_it_absolutely_and_answers_the_signed_transaction(hero: Hero) -> None:
    card = await hero.create("100.00")
    tx = await hero.ok("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "85.00"})
    assert tx["gift_card_id"] == card["id"] and tx["amount"] == "-15.00" and tx["note"] is None
    assert tx["processed_at"] == "2026-11-20T15:13:22+00:00" and isinstance(tx["id"], int)
    up = await hero.ok("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "120.50"})
    assert up["amount"] == "35.50"
    read = (await hero.ok("GET", f"/gift-cards/{card['id']}"))["gift_card"]
    assert read["balance"] == "120.50" and read["initial_value"] == "100.00"
    response, _ = await hero.call("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "-1.00"})
    assert response.status == 422


async def test_disable_is_final(hero: Hero) -> None:
    card = await hero.create("20.00")
    disabled = (await hero.ok("POST", f"/gift-cards/{card['id']}/disable", {"id": card["id"]}))["gift_card"]
    assert disabled["disabled_at"] == "2026-11-20T15:13:22+00:00"
    hero.clock.advance(minutes=5)
    again = (await hero.ok("POST", f"/gift-cards/{card['id']}/disable"))["gift_card"]
    assert again["disabled_at"] == disabled["disabled_at"]
    response, _ = await hero.call("PUT", f"/gift-cards/{card['id']}/balance", {"balance": "5.00"})
    assert response.status == 422
    assert (await hero.ok("GET", "/gift-cards", params={"status": "disabled"}))["gift_cards"][0]["id"] == card["id"]


async def test_update_changes_only_expiry_note_and_template_suffix(hero: Hero) -> None:
    card = await hero.create("20.00")
    hero.clock.advance(seconds=2)
    updated = (await hero.ok("PUT", f"/gift-cards/{card['id']}",
                             {"id": card["id"], "expires_on": "2027-01-01", "note": "n2",
                              "template_suffix": "t"}))["gift_card"]
    assert (updated["expires_on"], updated["note"], updated["template_suffix"]) == ("2027-01-01", "n2", "t")
    assert updated["updated_at"] == "2026-11-20T15:13:24+00:00"
    for forbidden in ({"balance": "99.00"}, {"code": "newcode12345"}, {"initial_value": "5.00", "note": "x"}):
        response, body = await hero.call("PUT", f"/gift-cards/{card['id']}", forbidden)
        assert response.status == 422, body
    read = (await hero.ok("GET", f"/gift-cards/{card['id']}"))["gift_card"]
    assert read["balance"] == "20.00" and read["note"] == "n2"


async def test_unknown_card_is_404(hero: Hero) -> None:
    response, body = await hero.call("GET", "/gift-cards/999")
    assert response.status == 404 and body == {"errors": "Not Found"}


async def test_assign_to_order_as_documented(hero: Hero) -> None:
    response, _ = await hero.call("POST", "/gift-cards/assign-to-order", {"orderId": 1, "giftCode": "ABCD-EFGH-1234"})
    assert response.status == 404
    response, _ = await hero.call("POST", "/gift-cards/assign-to-order", {"giftCode": "x"})
    assert response.status == 400
    await hero.control("POST", "/orders", {"id": 7, "line_items": [{"id": 70, "gift_card": True}]}, expect=201)
    await hero.control("POST", "/orders", {"id": 8, "line_items": [{"id": 80, "gift_card": False}]}, expect=201)
    assert await hero.ok("POST", "/gift-cards/assign-to-order", {"orderId": 7, "giftCode": "AB CD-1234"}) == {"scheduled": True}
    assert await hero.ok("POST", "/gift-cards/assign-to-order",
                         {"orderId": 8, "giftCodes": [{"lineItemId": 80, "code": "x1"}]}) == {"scheduled": False}
    assignments = (await hero.state())["assignments"]
    assert assignments == [{"order_id": 7, "line_item_id": 70, "index": 0, "code": "abcd-1234",
                            "last_characters": "1234"}]


async def test_transactions_filters_combine_with_and(hero: Hero) -> None:
    full = await hero.create("50.00")
    partial = await hero.create("50.00")
    await hero.ok("PUT", f"/gift-cards/{partial['id']}/balance", {"balance": "20.00"})
    seeded = await hero.control("POST", "/cards", {"code": "seededcard01", "balance": "0.00",
                                                   "initial_value": "10.00"}, expect=201)
    async def ids(**params: str) -> list[int]:
        return [c["id"] for c in await hero.ok("GET", "/gift-cards/transactions", params=params)]
    assert await ids(balance_status="partial") == [partial["id"]]
    assert await ids(balance_status="empty") == [seeded["id"]]
    assert await ids(source="api_client", balance_status="full") == [full["id"]]
    assert await ids(query=f"last4:{partial['last_characters']}") == [partial["id"]]
    assert await ids(query=f"id:>={partial['id']}", status="enabled") == [partial["id"], seeded["id"]]
    await hero.ok("POST", f"/gift-cards/{full['id']}/disable")
    assert await ids(status="disabled") == [full["id"]]


async def test_list_since_id_fields_and_page_info_ignores_other_filters(hero: Hero) -> None:
    ids = [(await hero.create("10.00"))["id"] for _ in range(3)]
    listed = await hero.ok("GET", "/gift-cards", params={"since_id": str(ids[0]), "fields": "id,balance"})
    assert listed["gift_cards"] == [{"id": ids[1], "balance": "10.00"}, {"id": ids[2], "balance": "10.00"}]
    response, _ = await hero.call("GET", "/gift-cards", params={"limit": "1"})
    cursor = response.headers["Link"].split("page_info=")[1].split("&")[0].split(">")[0]
    page = await hero.ok("GET", "/gift-cards", params={"page_info": cursor, "limit": "1", "since_id": str(ids[2])})
    assert [c["id"] for c in page["gift_cards"]] == [ids[1]]
    response, _ = await hero.call("GET", "/gift-cards", params={"limit": "251"})
    assert response.status == 400
