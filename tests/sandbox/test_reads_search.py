"""§14 items 17, 19-23: money and ids, transactions paging, search filters, sort keys, ignored
fields, the unfielded term and giftCardConfiguration."""

from __future__ import annotations

import re

import pytest

from giftcard_emulators.shopify.config import SandboxConfig
from tests.sandbox.conftest import DEACTIVATE, UPDATE

SEARCH = """query S($q: String, $sort: GiftCardSortKeys, $r: Boolean, $first: Int, $after: String,
                    $last: Int, $before: String) {
  giftCards(first: $first, after: $after, last: $last, before: $before, query: $q, sortKey: $sort, reverse: $r) {
    nodes { id lastCharacters }
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""
COUNT = "query C($q: String, $limit: Int) { giftCardsCount(query: $q, limit: $limit) { count precision } }"


async def search(shop, q=None, **variables):
    variables.setdefault("first", 50)
    body = await shop.gql(SEARCH, {"q": q, **variables})
    return body


def ids(body):
    return [n["id"] for n in body["data"]["giftCards"]["nodes"]]


# -- 17. money and ids ---------------------------------------------------------------------------

@pytest.mark.parametrize(("sent", "read"), [("5.00", "5.0"), ("41.01", "41.01"), ("3000", "3000.0"),
                                           ("0.50", "0.5"), ("12.345", "12.345")])
async def test_money_strings(shop, sent, read):
    card = (await shop.create(sent))["giftCard"]
    assert card["balance"] == {"amount": read, "currencyCode": "USD"}


async def test_ids_and_unknown_card_is_null(shop):
    card = await shop.card()
    assert re.fullmatch(r"gid://shopify/GiftCard/\d+", card)
    body = await shop.gql("{ giftCard(id: \"gid://shopify/GiftCard/987654\") { id } }")
    assert body["data"] == {"giftCard": None} and "errors" not in body
    malformed = await shop.gql("{ giftCard(id: \"987654\") { id } }")
    assert malformed["data"] == {"giftCard": None}
    assert malformed["errors"][0]["extensions"]["code"] == "RESOURCE_NOT_FOUND"


# -- 19. transactions ----------------------------------------------------------------------------

TXNS = """query T($id: ID!, $first: Int, $last: Int, $after: String, $before: String, $r: Boolean) {
  giftCard(id: $id) { transactions(first: $first, last: $last, after: $after, before: $before, reverse: $r) {
    nodes { __typename id amount { amount } }
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""


async def test_transactions_oldest_first_reverse_and_cursor_paging(shop):
    card = await shop.card("100.00")
    await shop.debit(card, "1.00")
    await shop.credit(card, "2.00")
    await shop.debit(card, "3.00")
    await shop.debit(card, "4.00")

    async def page(**variables):
        body = await shop.gql(TXNS, {"id": card, **variables})
        return body["data"]["giftCard"]["transactions"]

    everything = await page(first=10)
    assert [n["amount"]["amount"] for n in everything["nodes"]] == ["-1.0", "2.0", "-3.0", "-4.0"]
    assert [n["__typename"] for n in everything["nodes"]] == [
        "GiftCardDebitTransaction", "GiftCardCreditTransaction", "GiftCardDebitTransaction", "GiftCardDebitTransaction"]
    newest = await page(first=10, r=True)
    assert [n["amount"]["amount"] for n in newest["nodes"]] == ["-4.0", "-3.0", "2.0", "-1.0"]

    first = await page(first=2)
    assert [n["amount"]["amount"] for n in first["nodes"]] == ["-1.0", "2.0"]
    assert first["pageInfo"]["hasNextPage"] is True and first["pageInfo"]["hasPreviousPage"] is False
    assert first["edges"][-1]["cursor"] == first["pageInfo"]["endCursor"]
    second = await page(first=2, after=first["pageInfo"]["endCursor"])
    assert [n["amount"]["amount"] for n in second["nodes"]] == ["-3.0", "-4.0"]
    assert second["pageInfo"]["hasNextPage"] is False and second["pageInfo"]["hasPreviousPage"] is True
    back = await page(last=1, before=second["pageInfo"]["startCursor"])
    assert [n["amount"]["amount"] for n in back["nodes"]] == ["2.0"]
    reversed_second = await page(first=3, r=True, after=newest["edges"][0]["cursor"])
    assert [n["amount"]["amount"] for n in reversed_second["nodes"]] == ["-3.0", "2.0", "-1.0"]


async def test_connection_without_first_or_last_is_an_error(shop):
    body = await shop.gql("{ giftCards { nodes { id } } }")
    assert body["data"] is None
    assert body["errors"][0]["message"] == "you must provide one of first or last"


# -- 20. filters, sort keys, count ---------------------------------------------------------------

@pytest.fixture
async def catalogue(shop):
    """Five cards with distinct states, created a minute apart."""
    cards = {}
    cards["full"] = await shop.card("10.00", code="fullcard0001")
    shop.clock.advance(minutes=1)
    cards["partial"] = await shop.card("20.00", code="partcard0002", expiresOn="2030-06-01")
    await shop.debit(cards["partial"], "5.00")
    shop.clock.advance(minutes=1)
    cards["empty"] = await shop.card("30.00", code="emptycard003")
    await shop.debit(cards["empty"], "30.00")
    shop.clock.advance(minutes=1)
    cards["expired"] = await shop.card("40.00", code="oldcard00004", expiresOn="2020-01-01")
    shop.clock.advance(minutes=1)
    seeded = await shop.seed(code="boughtonline5", amount="50.00", customer_id=4242)
    cards["online"] = seeded["id"]
    shop.clock.advance(minutes=1)
    await shop.gql(DEACTIVATE, {"id": cards["empty"]})
    shop.clock.advance(minutes=1)
    await shop.gql(DEACTIVATE, {"id": cards["full"]})
    return cards


@pytest.mark.parametrize(("query", "expected"), [
    ("balance_status:full", ["full", "expired", "online"]),
    ("balance_status:partial", ["partial"]),
    ("balance_status:empty", ["empty"]),
    ("balance_status:full_or_partial", ["full", "partial", "expired", "online"]),
    ("created_at:>='2026-11-20T15:15:00Z'", ["empty", "expired", "online"]),
    ("created_at:<2026-11-20T15:14:30Z", ["full", "partial"]),
    ("expires_on:<=2021-01-01", ["expired"]),
    ("expires_on:>2026-01-01", ["partial"]),
    ("initial_value:>=30", ["empty", "expired", "online"]),
    ("initial_value:<20", ["full"]),
    ("customer_id:4242", ["online"]),
    ("customer_id:'gid://shopify/Customer/4242'", ["online"]),
    ("recipient_id:1", []),
    ("source:api_client", ["full", "partial", "empty", "expired"]),
    ("source:purchased", ["online"]),
    ("source:manual", []),
    ("status:enabled", ["partial", "expired", "online"]),
    ("status:disabled", ["full", "empty"]),
    ("status:expired", ["expired"]),
    ("status:expiring", ["partial"]),
    ("status:enabled balance_status:full", ["expired", "online"]),
    ("status:disabled OR balance_status:partial", ["full", "partial", "empty"]),
    ("-status:disabled", ["partial", "expired", "online"]),
    ("initial_value:>=1000", []),
])
async def test_filters(shop, catalogue, query, expected):
    assert ids(await search(shop, query)) == [catalogue[name] for name in expected]
    count = (await shop.gql(COUNT, {"q": query}))["data"]["giftCardsCount"]
    assert count == {"count": len(expected), "precision": "EXACT"}


async def test_id_filter(shop, catalogue):
    partial_number = int(catalogue["partial"].rsplit("/", 1)[1])
    assert ids(await search(shop, f"id:>={partial_number + 1}")) == [
        catalogue[n] for n in ("empty", "expired", "online")]
    assert ids(await search(shop, f"id:{partial_number}")) == [catalogue["partial"]]


@pytest.mark.parametrize(("sort", "reverse", "expected"), [
    ("ID", False, ["full", "partial", "empty", "expired", "online"]),
    ("ID", True, ["online", "expired", "empty", "partial", "full"]),
    ("CREATED_AT", False, ["full", "partial", "empty", "expired", "online"]),
    ("CREATED_AT", True, ["online", "expired", "empty", "partial", "full"]),
    ("UPDATED_AT", False, ["partial", "expired", "online", "empty", "full"]),
    ("UPDATED_AT", True, ["full", "empty", "online", "expired", "partial"]),
    # Never deactivated is the smallest value (ties by id), then in the order of deactivation.
    ("DISABLED_AT", False, ["partial", "expired", "online", "empty", "full"]),
    ("DISABLED_AT", True, ["full", "empty", "online", "expired", "partial"]),
])
async def test_sort_keys(shop, catalogue, sort, reverse, expected):
    assert ids(await search(shop, sort=sort, r=reverse)) == [catalogue[n] for n in expected]


@pytest.mark.parametrize(("sort", "reverse"), [("ID", False), ("ID", True), ("CREATED_AT", True),
                                             ("UPDATED_AT", True), ("DISABLED_AT", False)])
async def test_cursor_paging_walks_every_card_once(shop, catalogue, sort, reverse):
    expected = ids(await search(shop, sort=sort, r=reverse))
    seen, after, pages = [], None, 0
    while True:
        body = await search(shop, sort=sort, r=reverse, first=2, after=after)
        seen += ids(body)
        pages += 1
        info = body["data"]["giftCards"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == expected and pages == 3


async def test_cursor_survives_the_cursor_card_being_updated(shop, catalogue):
    first = await search(shop, sort="UPDATED_AT", r=True, first=2)
    assert ids(first) == [catalogue["full"], catalogue["empty"]]
    await shop.gql(UPDATE, {"id": catalogue["expired"], "input": {"note": "touched"}})
    rest = await search(shop, sort="UPDATED_AT", r=True, first=10,
                        after=first["data"]["giftCards"]["pageInfo"]["endCursor"])
    assert ids(rest) == [catalogue["online"], catalogue["partial"]]


async def test_last_and_before(shop, catalogue):
    tail = await search(shop, first=None, last=2)
    assert ids(tail) == [catalogue["expired"], catalogue["online"]]
    assert tail["data"]["giftCards"]["pageInfo"]["hasPreviousPage"] is True
    before = await search(shop, first=None, last=2, before=tail["data"]["giftCards"]["pageInfo"]["startCursor"])
    assert ids(before) == [catalogue["partial"], catalogue["empty"]]


async def test_count_limit_gives_at_least(shop, catalogue):
    assert (await shop.gql(COUNT, {"limit": 2}))["data"]["giftCardsCount"] == {"count": 2, "precision": "AT_LEAST"}
    assert (await shop.gql(COUNT, {"limit": 5}))["data"]["giftCardsCount"] == {"count": 5, "precision": "EXACT"}
    assert (await shop.gql(COUNT, {}))["data"]["giftCardsCount"] == {"count": 5, "precision": "EXACT"}


# -- 21. ignored fields --------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "field", "parsed"), [
    ("updated_at:>=2026-07-14", "updated_at", {"field": "updated_at", "range_gte": "2026-07-14"}),
    ("last_characters:0001", "last_characters", {"field": "last_characters", "match_all": "0001"}),
    ("enabled:true", "enabled", {"field": "enabled", "match_all": "true"}),
    ("active:false", "active", {"field": "active", "match_all": "false"}),
])
async def test_ignored_fields_return_everything_with_a_warning(shop, catalogue, query, field, parsed):
    body = await search(shop, query)
    assert len(ids(body)) == 5
    assert body["extensions"]["search"] == [{"path": ["giftCards"], "query": query, "parsed": parsed, "warnings": [
        {"field": field, "message": "Invalid search field for this query.", "code": "invalid_field"}]}]
    count = await shop.gql(COUNT, {"q": query})
    assert count["data"]["giftCardsCount"]["count"] == 5
    assert count["extensions"]["search"][0]["path"] == ["giftCardsCount"]


async def test_valid_queries_have_no_search_extension(shop, catalogue):
    assert "search" not in (await search(shop, "status:enabled"))["extensions"]


async def test_ignored_term_beside_a_valid_one_filters_by_the_valid_one(shop, catalogue):
    body = await search(shop, "status:expired updated_at:>=2026-01-01")
    assert ids(body) == [catalogue["expired"]]
    [entry] = body["extensions"]["search"]
    assert entry["warnings"] == [{"field": "updated_at", "message": "Invalid search field for this query.",
                                  "code": "invalid_field"}]


# -- 22. unfielded term --------------------------------------------------------------------------

@pytest.mark.parametrize(("term", "expected"), [
    ("partcard0002", ["partial"]),
    ("PARTCARD0002", ["partial"]),
    ("0002", ["partial"]),
    ("ine5", ["online"]),
    ("NE5", ["online"]),
    ("partcard", []),  # not a full code, not in the last four
    ("nomatch12345", []),
])
async def test_unfielded_term_matches_full_code_or_last_four_fragment(shop, catalogue, term, expected):
    assert ids(await search(shop, term)) == [catalogue[n] for n in expected]


# -- 23. configuration ---------------------------------------------------------------------------

async def test_configuration_returns_configured_limits(make_shop):
    from decimal import Decimal
    shop = await make_shop(SandboxConfig(currency="CAD", issue_limit=Decimal("2500"), purchase_limit=Decimal("999.99")))
    body = await shop.gql("{ giftCardConfiguration { issueLimit { amount currencyCode } purchaseLimit { amount currencyCode } } }")
    assert body["data"]["giftCardConfiguration"] == {
        "issueLimit": {"amount": "2500.0", "currencyCode": "CAD"},
        "purchaseLimit": {"amount": "999.99", "currencyCode": "CAD"}}
    await shop.control("POST", "/sandbox/config", {"purchase_limit": "100.00"})
    body = await shop.gql("{ giftCardConfiguration { purchaseLimit { amount } } }")
    assert body["data"]["giftCardConfiguration"]["purchaseLimit"]["amount"] == "100.0"


async def test_code_sort_pages_without_leaking_codes_in_cursors(shop, catalogue):
    import base64
    expected = ids(await search(shop, sort="CODE"))
    assert expected == [catalogue[n] for n in ("online", "empty", "full", "expired", "partial")]
    first = await search(shop, sort="CODE", first=2)
    cursors = [e["cursor"] for e in first["data"]["giftCards"]["edges"]]
    decoded = " ".join(base64.urlsafe_b64decode(c).decode() for c in cursors)
    assert "bought" not in decoded and "empty" not in decoded
    rest = await search(shop, sort="CODE", first=10, after=first["data"]["giftCards"]["pageInfo"]["endCursor"])
    assert ids(first) + ids(rest) == expected
