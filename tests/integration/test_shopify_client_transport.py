"""ShopifyClient over real HTTP against a tiny scripted server: what it sends, what it resends,
and which port exception each transport failure becomes (spec §9, §10, §11).

Assertions are on what the server received (counts, headers, variables), with timing checked
only as "did it wait at all" with generous bounds.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from adapter.domain.money import Money
from adapter.ports import (
    CardHolder,
    LedgerConfigurationError,
    LedgerDecline,
    LedgerOutcomeUnknown,
    LedgerSearchWarning,
    LedgerUnavailable,
    Priority,
    WriteRef,
)
from adapter.shopify.client import ShopifyClient
from adapter.shopify.customers import CustomerLinking
from adapter.shopify.pacing import LookupBudget

TOKEN = "shpat_test_token_0123456789"
VERSION = "2026-07"
CARD_ID = "gid://shopify/GiftCard/663920574770"
MARKER = "gca:v1:authorize:5f0c2e7a9b4d4e1f8a3c6d2b1e0f9a87"
REF = WriteRef("authorize", "5f0c2e7a9b4d4e1f8a3c6d2b1e0f9a87")  # its marker is MARKER

Step = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cost(available: float = 1989, requested: float = 11, restore: float = 100.0, maximum: float = 2000.0) -> dict:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": requested,
                     "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": available,
                                        "restoreRate": restore}}}


def card_node(**overrides: Any) -> dict:
    return {"id": CARD_ID, "lastCharacters": "7369", "enabled": True, "expiresOn": None, "deactivatedAt": None,
            "note": None, "createdAt": "2026-11-20T15:10:00Z",
            "balance": {"amount": "100.0", "currencyCode": "USD"}, **overrides}


DEBIT_OK = {"data": {"giftCardDebit": {"giftCardDebitTransaction": {
    "id": "gid://shopify/GiftCardDebitTransaction/247048503602", "note": MARKER,
    "processedAt": "2026-11-20T15:13:22Z", "amount": {"amount": "-30.0", "currencyCode": "USD"},
    "giftCard": {"id": CARD_ID, "balance": {"amount": "70.0", "currencyCode": "USD"}}},
    "userErrors": []}}, "extensions": cost()}

CARD_OK = {"data": {"giftCard": card_node()}, "extensions": cost(requested=2)}

THROTTLED = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
             "extensions": {"cost": {"requestedQueryCost": 11, "actualQueryCost": None,
                                     "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1,
                                                        "restoreRate": 100.0}}}}

INTERNAL = {"errors": [{"message": "Internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}


def answer(payload: dict, status: int = 200, headers: dict | None = None) -> Step:
    async def step(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload, status=status, headers=headers)
    return step


def slow(seconds: float, payload: dict) -> Step:
    async def step(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response(payload)
    return step


def drop_connection() -> Step:
    """The request was read (a write would have executed); the answer is lost."""
    async def step(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response()
    return step


@dataclass
class Received:
    headers: dict[str, str]
    body: dict
    at: float


@dataclass
class ScriptedShopify:
    steps: deque[Step] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    served_version: str | None = None

    def then(self, *steps: Step) -> ScriptedShopify:
        self.steps.extend(steps)
        return self

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(Received(dict(request.headers), json.loads(await request.read()),
                                      asyncio.get_running_loop().time()))
        if not self.steps:
            return web.json_response({"errors": "script exhausted"}, status=599)
        response = await self.steps.popleft()(request)
        if isinstance(response, web.Response) and response.status != 599:
            response.headers.setdefault("X-Shopify-API-Version", self.served_version or request.match_info["version"])
        return response

    @property
    def variables(self) -> list[dict]:
        return [r.body["variables"] for r in self.received]


@pytest.fixture
def shop() -> ScriptedShopify:
    return ScriptedShopify()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def client(aiohttp_server, shop: ScriptedShopify, session: aiohttp.ClientSession) -> ShopifyClient:
    app = web.Application()
    app.router.add_post("/admin/api/{version}/graphql.json", shop.handle)
    server = await aiohttp_server(app)
    url = str(server.make_url(f"/admin/api/{VERSION}/graphql.json"))
    return ShopifyClient(session, graphql_url=url, access_token=TOKEN, api_version=VERSION, read_retries=2)


def deadline_in(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


def calls(operation: str, result: str) -> float:
    return REGISTRY.get_sample_value(
        "giftcard_adapter_shopify_calls_total", {"operation": operation, "result": result}) or 0.0


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


USD30 = Money(Decimal("30.00"), "USD")


# ---- the happy path: what goes on the wire ---------------------------------------------

async def test_debit_sends_token_minor_unit_amount_and_marker(client, shop) -> None:
    shop.then(answer(DEBIT_OK))
    before = calls("giftCardDebit", "ok")
    tx = await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert tx.amount == Money(Decimal("-30.00"), "USD") and tx.balance_after == Money(Decimal("70.00"), "USD")
    (sent,) = shop.received
    assert sent.headers["X-Shopify-Access-Token"] == TOKEN
    assert "Authorization" not in sent.headers
    assert sent.headers["Content-Type"].startswith("application/json")
    assert sent.body["operationName"] == "DebitCard"
    assert sent.body["variables"] == {"id": CARD_ID, "input": {
        "debitAmount": {"amount": "30.00", "currencyCode": "USD"}, "note": MARKER}}
    assert calls("giftCardDebit", "ok") == before + 1


async def test_create_sends_initial_amount_in_minor_units(client, shop) -> None:
    shop.then(answer({"data": {"giftCardCreate": {"giftCard": card_node(note="gca:v1:issue:x"),
                                                  "giftCardCode": "k3v9q2m8x7p4t6w1", "userErrors": []}},
                      "extensions": cost(requested=10)}))
    card = await client.create_card(code="k3v9q2m8x7p4t6w1", amount=Money(Decimal("500"), "JPY"),
                                    ref=WriteRef("issue", "x"), deadline=deadline_in(5))
    assert card.id == CARD_ID
    sent = shop.variables[0]["input"]
    assert sent == {"initialAmount": {"amount": "500", "currencyCode": "JPY"}, "code": "k3v9q2m8x7p4t6w1",
                    "note": "gca:v1:issue:x"}
    assert "initialValue" not in shop.received[0].body["query"]


async def test_unknown_card_is_none_and_deactivate_returns_the_card(client, shop) -> None:
    shop.then(answer({"data": {"giftCard": None}}),
              answer({"data": {"giftCardDeactivate": {"giftCard": card_node(
                  enabled=False, deactivatedAt="2026-11-21T09:00:00Z"), "userErrors": []}}}))
    assert await client.get_card(card_id="gid://shopify/GiftCard/1", deadline=deadline_in(5)) is None
    card = await client.deactivate(card_id=CARD_ID, deadline=deadline_in(5))
    assert card.enabled is False and card.balance.ledger_string() == "100.00"


# ---- throttling ------------------------------------------------------------------------

async def test_throttled_write_is_resent_once_with_the_same_marker_after_waiting(client, shop) -> None:
    shop.then(answer(THROTTLED), answer(DEBIT_OK))
    throttled_before = calls("giftCardDebit", "throttled")
    tx = await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert tx.note == MARKER
    assert len(shop.received) == 2
    assert shop.received[0].body == shop.received[1].body  # same document, same marker
    # (11 - 1) / 100 = 0.1 s: it waited, generously bounded.
    assert shop.received[1].at - shop.received[0].at >= 0.05
    assert calls("giftCardDebit", "throttled") == throttled_before + 1


async def test_throttled_with_no_time_left_is_unavailable_not_resent(client, shop) -> None:
    slow_refill = {**THROTTLED, "extensions": cost(available=0, requested=11, restore=1.0)}
    slow_refill["extensions"]["cost"]["actualQueryCost"] = None
    shop.then(answer(slow_refill))
    with pytest.raises(LedgerUnavailable):
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(2))
    assert len(shop.received) == 1


async def test_429_waits_retry_after_then_resends(client, shop) -> None:
    shop.then(answer({"errors": "Too many requests"}, status=429, headers={"Retry-After": "0.2"}),
              answer(DEBIT_OK))
    before = calls("giftCardDebit", "http_429")
    await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert len(shop.received) == 2 and shop.received[0].body == shop.received[1].body
    assert shop.received[1].at - shop.received[0].at >= 0.15
    assert calls("giftCardDebit", "http_429") == before + 1


async def test_429_without_retry_after_waits_one_second_or_gives_up(client, shop) -> None:
    # Default 1 s does not fit a 0.5 s deadline: unavailable, nothing resent.
    shop.then(answer({"errors": "Too many requests"}, status=429))
    with pytest.raises(LedgerUnavailable):
        await client.get_card(card_id=CARD_ID, deadline=deadline_in(0.5))
    assert len(shop.received) == 1


async def test_pacing_waits_before_sending_when_the_model_bucket_is_empty(client, shop) -> None:
    # The first answer says the bucket is empty, refilling at 100/s; a debit costs ~11.
    shop.then(answer({**CARD_OK, "extensions": cost(available=0, requested=2)}), answer(DEBIT_OK))
    waited_before = counter("giftcard_adapter_shopify_throttle_wait_seconds_total")
    await client.get_card(card_id=CARD_ID, deadline=deadline_in(5))
    await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert len(shop.received) == 2
    assert shop.received[1].at - shop.received[0].at >= 0.05
    assert counter("giftcard_adapter_shopify_throttle_wait_seconds_total") > waited_before
    assert REGISTRY.get_sample_value("giftcard_adapter_shopify_throttle_points_available") is not None


async def test_pacing_refuses_up_front_when_the_wait_passes_the_deadline(client, shop) -> None:
    shop.then(answer({**CARD_OK, "extensions": cost(available=0, requested=2, restore=1.0)}))
    await client.get_card(card_id=CARD_ID, deadline=deadline_in(5))
    with pytest.raises(LedgerUnavailable) as caught:
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(2))
    assert len(shop.received) == 1  # never sent
    assert caught.value.retry_after > 2


# ---- 5xx, INTERNAL_SERVER_ERROR: reads retry, writes are unknown -------------------------

async def test_5xx_on_a_read_is_retried(client, shop) -> None:
    shop.then(answer({"error": "bad gateway"}, status=502), answer(CARD_OK))
    before = calls("giftCard", "http_5xx")
    card = await client.get_card(card_id=CARD_ID, deadline=deadline_in(5))
    assert card is not None and len(shop.received) == 2
    assert calls("giftCard", "http_5xx") == before + 1


async def test_5xx_on_a_read_exhausts_retries_as_unavailable(client, shop) -> None:
    shop.then(*[answer({}, status=503)] * 5)
    with pytest.raises(LedgerUnavailable):
        await client.get_card(card_id=CARD_ID, deadline=deadline_in(10))
    assert len(shop.received) == 3  # read_retries=2: one attempt plus two retries


async def test_5xx_on_a_write_is_unknown_and_sent_exactly_once(client, shop) -> None:
    shop.then(answer({}, status=500), answer(DEBIT_OK))
    with pytest.raises(LedgerOutcomeUnknown):
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert len(shop.received) == 1


async def test_internal_server_error_on_a_write_is_unknown_and_on_a_read_retried(client, shop) -> None:
    shop.then(answer(INTERNAL), answer(INTERNAL), answer(CARD_OK))
    with pytest.raises(LedgerOutcomeUnknown):
        await client.credit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert len(shop.received) == 1
    assert await client.get_card(card_id=CARD_ID, deadline=deadline_in(5)) is not None
    assert len(shop.received) == 3


async def test_user_error_internal_error_on_a_write_is_unknown(client, shop) -> None:
    shop.then(answer({"data": {"giftCardDebit": {"giftCardDebitTransaction": None, "userErrors": [
        {"field": ["id"], "code": "INTERNAL_ERROR", "message": "oops"}]}}}))
    before = calls("giftCardDebit", "internal_error")
    with pytest.raises(LedgerOutcomeUnknown):
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert len(shop.received) == 1
    assert calls("giftCardDebit", "internal_error") == before + 1


# ---- lost connections and timeouts --------------------------------------------------------

async def test_connection_dropped_after_a_write_is_unknown_and_not_resent(client, shop) -> None:
    shop.then(drop_connection(), answer(DEBIT_OK))
    with pytest.raises(LedgerOutcomeUnknown):
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert len(shop.received) == 1


async def test_connection_dropped_on_a_read_is_retried(client, shop) -> None:
    shop.then(drop_connection(), answer(CARD_OK))
    assert await client.get_card(card_id=CARD_ID, deadline=deadline_in(5)) is not None
    assert len(shop.received) == 2


async def test_slow_write_past_the_deadline_is_unknown(client, shop) -> None:
    shop.then(slow(2.0, DEBIT_OK), answer(DEBIT_OK))
    before = calls("giftCardDebit", "timeout")
    with pytest.raises(LedgerOutcomeUnknown):
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(0.3))
    assert len(shop.received) == 1
    assert calls("giftCardDebit", "timeout") == before + 1


async def test_slow_read_past_the_deadline_is_unavailable(client, shop) -> None:
    shop.then(slow(2.0, CARD_OK), answer(CARD_OK))
    with pytest.raises(LedgerUnavailable):
        await client.get_card(card_id=CARD_ID, deadline=deadline_in(0.3))
    assert len(shop.received) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connect_failure_on_a_write_is_unavailable_not_unknown(session) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/admin/api/{VERSION}/graphql.json"
    client = ShopifyClient(session, graphql_url=url, access_token=TOKEN, api_version=VERSION)
    with pytest.raises(LedgerUnavailable):
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))


# ---- 4xx ---------------------------------------------------------------------------------

async def test_401_is_a_configuration_error(client, shop) -> None:
    shop.then(answer({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
                     status=401))
    before = calls("giftCardDebit", "http_4xx")
    with pytest.raises(LedgerConfigurationError):
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert len(shop.received) == 1
    assert calls("giftCardDebit", "http_4xx") == before + 1


@pytest.mark.parametrize("status", [402, 423])
async def test_frozen_or_locked_shop_is_unavailable(client, shop, status) -> None:
    shop.then(answer({"errors": "Unavailable Shop"}, status=status))
    with pytest.raises(LedgerUnavailable):
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert len(shop.received) == 1


async def test_access_denied_is_a_configuration_error(client, shop) -> None:
    shop.then(answer({"data": {"giftCard": None}, "errors": [{"message": "Access denied",
                      "extensions": {"code": "ACCESS_DENIED"}}]}))
    before = calls("giftCard", "graphql_error")
    with pytest.raises(LedgerConfigurationError):
        await client.get_card(card_id=CARD_ID, deadline=deadline_in(5))
    assert len(shop.received) == 1
    assert calls("giftCard", "graphql_error") == before + 1


# ---- version, search, transactions --------------------------------------------------------

async def test_version_mismatch_is_counted(client, shop) -> None:
    shop.served_version = "2025-10"
    shop.then(answer(CARD_OK), answer(CARD_OK))
    before = counter("giftcard_adapter_shopify_api_version_mismatches_total")
    await client.get_card(card_id=CARD_ID, deadline=deadline_in(5))
    await client.get_card(card_id=CARD_ID, deadline=deadline_in(5))
    assert counter("giftcard_adapter_shopify_api_version_mismatches_total") == before + 2


async def test_matching_version_is_not_counted(client, shop) -> None:
    shop.then(answer(CARD_OK))
    before = counter("giftcard_adapter_shopify_api_version_mismatches_total")
    await client.get_card(card_id=CARD_ID, deadline=deadline_in(5))
    assert counter("giftcard_adapter_shopify_api_version_mismatches_total") == before


async def test_search_warning_fails_the_search(client, shop) -> None:
    shop.then(answer({"data": {"giftCards": {"nodes": [card_node()]}}, "extensions": {
        "search": [{"path": ["giftCards"], "query": "x", "warnings": [
            {"field": "updated_at", "message": "Invalid search field for this query.", "code": "invalid_field"}]}],
        **cost(requested=6)}}))
    before = counter("giftcard_adapter_shopify_search_warnings_total")
    with pytest.raises(LedgerSearchWarning):
        await client.find_by_code(code="updated_at:>=2026-07-14", deadline=deadline_in(5))
    assert counter("giftcard_adapter_shopify_search_warnings_total") == before + 1
    assert shop.variables == [{"first": 2, "query": "updated_at:>=2026-07-14"}]


async def test_find_by_code_returns_the_one_matching_card(client, shop) -> None:
    shop.then(answer({"data": {"giftCards": {"nodes": [card_node()]}}, "extensions": cost(requested=6)}))
    card = await client.find_by_code(code="k3v9q2m8x7p4t6w17369", deadline=deadline_in(5))
    assert card is not None and card.last_characters == "7369"


async def test_find_by_code_refuses_a_hit_with_other_last_characters_or_two_hits(client, shop) -> None:
    shop.then(answer({"data": {"giftCards": {"nodes": [card_node()]}}, "extensions": cost(requested=6)}))
    assert await client.find_by_code(code="k3v9q2m8x7p4t6w1", deadline=deadline_in(5)) is None
    shop.then(answer({"data": {"giftCards": {"nodes": [card_node(), card_node(id="gid://shopify/GiftCard/2")]}},
                      "extensions": cost(requested=6)}))
    assert await client.find_by_code(code="k3v9q2m8x7p4t6w17369", deadline=deadline_in(5)) is None


def tx(n: int, note: str | None, at: str, amount: str = "-1.0") -> dict:
    return {"__typename": "GiftCardDebitTransaction", "id": f"gid://shopify/GiftCardDebitTransaction/{n}",
            "note": note, "processedAt": at, "amount": {"amount": amount, "currencyCode": "USD"}}


def page(nodes: list[dict], next_cursor: str | None) -> dict:
    return {"data": {"giftCard": {**card_node(), "updatedAt": "2026-11-20T15:13:22Z", "transactions": {
        "nodes": nodes, "pageInfo": {"hasNextPage": next_cursor is not None, "endCursor": next_cursor}}}},
        "extensions": cost(requested=104)}


NOT_BEFORE = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


async def test_find_write_pages_newest_first_until_the_marker(client, shop) -> None:
    shop.then(answer(page([tx(5, "other", "2026-11-20T15:20:00Z"), tx(4, None, "2026-11-20T15:19:00Z")], "c1")),
              answer(page([tx(3, MARKER, "2026-11-20T15:13:22Z", "-30.0")], None)))
    found = await client.find_write(card_id=CARD_ID, ref=REF, not_before=NOT_BEFORE,
                                          deadline=deadline_in(5))
    assert found is not None and found.id.endswith("/3") and found.amount.ledger_string() == "-30.00"
    assert found.card_id == CARD_ID
    assert shop.variables == [{"id": CARD_ID, "first": 50, "after": None}, {"id": CARD_ID, "first": 50, "after": "c1"}]


async def test_find_write_stops_at_transactions_older_than_the_attempt(client, shop) -> None:
    shop.then(answer(page([tx(2, "other", "2026-11-20T15:01:00Z"), tx(1, None, "2026-11-20T14:59:00Z")], "c1")))
    assert await client.find_write(card_id=CARD_ID, ref=REF, not_before=NOT_BEFORE,
                                         deadline=deadline_in(5)) is None
    assert len(shop.received) == 1


async def test_find_write_on_an_unknown_card_is_none(client, shop) -> None:
    shop.then(answer({"data": {"giftCard": None}}))
    assert await client.find_write(card_id=CARD_ID, ref=REF, not_before=NOT_BEFORE,
                                         deadline=deadline_in(5)) is None


async def test_configuration(client, shop) -> None:
    shop.then(answer({"data": {"giftCardConfiguration": {
        "issueLimit": {"amount": "3000.0", "currencyCode": "CAD"},
        "purchaseLimit": {"amount": "1000.0", "currencyCode": "CAD"}}}, "extensions": cost(requested=1)}))
    config = await client.configuration(deadline=deadline_in(5))
    assert config.issue_limit == Money(Decimal("3000.00"), "CAD")
    assert shop.variables == [{}]


@pytest.mark.parametrize("domain", ["mystore", "mystore.myshopify.com", "https://MyStore.myshopify.com/"])
def test_graphql_url_for(domain: str) -> None:
    assert ShopifyClient.graphql_url_for(domain, "2026-10") == \
        "https://mystore.myshopify.com/admin/api/2026-10/graphql.json"


def test_repr_hides_the_token() -> None:
    client = ShopifyClient(None, graphql_url="https://x.myshopify.com/admin/api/2026-10/graphql.json",  # type: ignore[arg-type]
                           access_token=TOKEN, api_version="2026-10")
    assert TOKEN not in repr(client)


async def test_logs_never_carry_the_token_a_code_or_a_query(client, shop) -> None:
    from structlog.testing import capture_logs

    code = "k3v9q2m8x7p4t6w1"
    shop.served_version = "2025-10"
    shop.then(
        answer(THROTTLED),
        answer({"data": {"giftCardCreate": {"giftCard": None, "giftCardCode": None, "userErrors": [
            {"field": ["input", "code"], "code": None, "message": "Code has already been taken"}]}}}),
        answer({}, status=502),
        answer({"data": {"giftCards": {"nodes": []}}, "extensions": {"search": [{"path": ["giftCards"],
               "query": code, "warnings": [{"field": "x", "message": "Invalid search field for this query.",
                                            "code": "invalid_field"}]}]}}),
    )
    with capture_logs() as logs:
        with pytest.raises(LedgerDecline):
            await client.create_card(code=code, amount=USD30, ref=WriteRef("issue", "x"), deadline=deadline_in(5))
        with pytest.raises(LedgerSearchWarning):
            await client.find_by_code(code=code, deadline=deadline_in(5))
    text = repr(logs)
    assert logs, "expected some log lines"
    assert any(line["event"] == "shopify_api_version_mismatch" for line in logs)
    assert TOKEN not in text and code not in text


# ---- lookups (Priority.LOOKUP): refused at once rather than spend the money calls' budget -----

SEARCH_NONE = {"data": {"giftCards": {"nodes": []}}}


def searched(available: float) -> dict:
    return {**SEARCH_NONE, "extensions": cost(available=available, requested=6)}


async def test_a_lookup_is_not_sent_when_it_would_take_the_bucket_into_the_money_share(client, shop) -> None:
    # About 48 points short of 1000 + its cost: half a second at 100/s, so a busy machine's
    # pause between the two calls cannot refill it (at 1005, a 10 ms pause did).
    shop.then(answer(searched(available=960)), answer(searched(available=960)))
    await client.find_by_code(code="k3v9q2m8x7p4t6w1", deadline=deadline_in(5))  # the bucket: 960 of 2000
    before = counter_with("giftcard_adapter_ledger_lookups_shed_total", reason="budget")
    with pytest.raises(LedgerUnavailable) as refused:
        await client.find_by_code(code="k3v9q2m8x7p4t6w1", deadline=deadline_in(5),
                                  priority=Priority.LOOKUP)
    assert len(shop.received) == 1  # nothing sent
    assert 0.3 < refused.value.retry_after <= 0.5  # its wait for those points, not more
    assert counter_with("giftcard_adapter_ledger_lookups_shed_total", reason="budget") == before + 1
    # The same search for money (settling a write) is sent.
    await client.find_by_code(code="k3v9q2m8x7p4t6w1", deadline=deadline_in(5))
    assert len(shop.received) == 2


async def test_a_card_reread_is_a_background_read_refused_in_the_money_share(client, shop) -> None:
    """The mirror's re-read (poller, webhooks, our own writes' echo) never spends what NewStore's
    calls need: with the bucket near half, it is not sent; a balance for NewStore still is."""
    shop.then(answer(searched(available=1005)))
    await client.find_by_code(code="k3v9q2m8x7p4t6w1", deadline=deadline_in(5))  # the bucket: 1005 of 2000
    with pytest.raises(LedgerUnavailable):
        await client.reread_card(card_id=CARD_ID, after=None, deadline=deadline_in(5))
    assert [r.body["operationName"] for r in shop.received] == ["SearchCards"]  # nothing sent
    shop.then(answer({"data": {"giftCard": None}, "extensions": cost(available=1005, requested=1)}))
    assert await client.get_card(card_id=CARD_ID, deadline=deadline_in(5)) is None
    assert [r.body["operationName"] for r in shop.received] == ["SearchCards", "GetCard"]


async def test_the_reconcilers_calls_are_background_work_refused_in_the_money_share(client, shop) -> None:
    """Settling what nobody waits for (ports.background_work: the reconciler) goes on the lookups'
    terms: with the bucket near half, a debit it would make is not sent; NewStore's is."""
    from adapter.ports import background_work

    shop.then(answer(searched(available=1005)))
    await client.find_by_code(code="k3v9q2m8x7p4t6w1", deadline=deadline_in(5))  # the bucket: 1005 of 2000
    with background_work(), pytest.raises(LedgerUnavailable):
        await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert [r.body["operationName"] for r in shop.received] == ["SearchCards"]  # nothing sent
    shop.then(answer(DEBIT_OK))
    await client.debit(card_id=CARD_ID, amount=USD30, ref=REF, deadline=deadline_in(5))
    assert [r.body["operationName"] for r in shop.received] == ["SearchCards", "DebitCard"]


async def test_a_lookup_above_the_money_share_is_sent(client, shop) -> None:
    shop.then(answer(searched(available=1500)), answer(searched(available=1494)))
    for _ in range(2):
        await client.find_by_code(code="k3v9q2m8x7p4t6w1", deadline=deadline_in(5),
                                  priority=Priority.LOOKUP)
    assert len(shop.received) == 2


async def test_a_throttled_lookup_is_not_resent(client, shop) -> None:
    shop.then(answer(THROTTLED), answer(searched(available=1900)))
    with pytest.raises(LedgerUnavailable):
        await client.find_by_code(code="k3v9q2m8x7p4t6w1", deadline=deadline_in(5),
                                  priority=Priority.LOOKUP)
    assert len(shop.received) == 1


async def test_lookups_in_flight_are_capped(aiohttp_server, shop, session) -> None:
    opened = asyncio.Event()

    def held() -> Step:
        async def step(request: web.Request) -> web.StreamResponse:
            await opened.wait()
            return web.json_response(searched(available=1900))
        return step

    app = web.Application()
    app.router.add_post("/admin/api/{version}/graphql.json", shop.handle)
    server = await aiohttp_server(app)
    client = ShopifyClient(session, graphql_url=str(server.make_url(f"/admin/api/{VERSION}/graphql.json")),
                           access_token=TOKEN, api_version=VERSION, lookups=LookupBudget(max_in_flight=2))
    shop.then(held(), held(), answer(searched(available=1900)))

    def lookup():
        return client.find_by_code(code="k3v9q2m8x7p4t6w1", deadline=deadline_in(5),
                                   priority=Priority.LOOKUP)

    running = [asyncio.create_task(lookup()) for _ in range(2)]
    while len(shop.received) < 2:
        await asyncio.sleep(0.01)
    with pytest.raises(LedgerUnavailable):
        await lookup()
    assert len(shop.received) == 2
    opened.set()
    assert await asyncio.gather(*running) == [None, None]
    assert await lookup() is None  # room again


def counter_with(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---- linking a card to its customer (issue #13) ------------------------------------------------

HOLDER = CardHolder(email="jay@example.com", name="Jay Doubleyou")
CUSTOMER = "gid://shopify/Customer/7"


def customers_answer(*emails: str) -> dict:
    nodes = [{"id": f"gid://shopify/Customer/{n}", "defaultEmailAddress": {"emailAddress": e}}
             for n, e in enumerate(emails, 7)]
    return {"data": {"customers": {"nodes": nodes}}, "extensions": cost(requested=4)}


CREATED_CARD = {"data": {"giftCardCreate": {"giftCard": card_node(), "giftCardCode": "k3v9q2m8x7p4t6w1",
                                            "userErrors": []}}, "extensions": cost(requested=10)}


async def create_linked(client: ShopifyClient):
    client.customer_linking = CustomerLinking(link=True)
    return await client.create_card(code="k3v9q2m8x7p4t6w1", amount=Money(Decimal("50"), "USD"),
                                    ref=WriteRef("issue", "0" * 32), deadline=deadline_in(5), holder=HOLDER)


async def test_a_customer_deleted_since_it_was_found_leaves_the_card_unlinked_not_failed(client, shop) -> None:
    refused = {"errors": [{"message": f"Invalid id: {CUSTOMER}", "locations": [{"line": 2, "column": 3}],
                           "path": ["giftCardCreate"], "extensions": {"code": "RESOURCE_NOT_FOUND"}}],
               "data": {"giftCardCreate": None}, "extensions": cost(requested=10)}
    shop.then(answer(customers_answer("jay@example.com")), answer(refused), answer(CREATED_CARD))
    assert (await create_linked(client)).id == CARD_ID
    sent = [r.body["variables"].get("input", {}) for r in shop.received]
    assert sent[1]["customerId"] == CUSTOMER and "customerId" not in sent[2]  # nothing ran: made again, unlinked


async def test_two_customers_with_the_email_link_neither(client, shop) -> None:
    ambiguous = REGISTRY.get_sample_value("giftcard_adapter_shopify_customer_links_total",
                                          {"result": "ambiguous"}) or 0.0
    shop.then(answer(customers_answer("jay@example.com", "JAY@example.com")), answer(CREATED_CARD))
    await create_linked(client)
    assert "customerId" not in shop.received[1].body["variables"]["input"]
    assert REGISTRY.get_sample_value("giftcard_adapter_shopify_customer_links_total",
                                     {"result": "ambiguous"}) == ambiguous + 1
