"""The shared REST transport on its own: the pacing model, Link and Retry-After parsing, and its
behaviour against small raw aiohttp servers (what the SHOPLINE emulator can't be made to say)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from adapter.ledgers.rest import LeakyBucket, RestAnswer, RestTransport, _send_once, retry_after_seconds
from adapter.ports import LedgerOutcomeUnknown, LedgerUnavailable


def deadline(seconds: float = 5.0) -> float:
    return asyncio.get_running_loop().time() + seconds


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ---- LeakyBucket ----------------------------------------------------------------------------------


async def test_bucket_lets_a_burst_through_up_to_its_size_less_headroom_then_paces():
    clock = Clock()
    bucket = LeakyBucket(40, 4, clock=clock)
    assert bucket.headroom == 1  # what leaks in the default slack of 0.25 s
    for _ in range(39):
        assert bucket.wait_for() == 0
        await bucket.take(deadline=clock.now + 1)
    assert bucket.wait_for() == pytest.approx(0.25)     # one ball must leak out first
    clock.now += 0.25
    assert bucket.wait_for() == 0
    assert bucket.level() == pytest.approx(38)


async def test_bucket_refuses_a_wait_past_the_deadline_and_reserves_nothing():
    clock = Clock()
    bucket = LeakyBucket(2, 1, clock=clock, slack_seconds=0)
    await bucket.take(deadline=clock.now + 1)
    await bucket.take(deadline=clock.now + 1)
    with pytest.raises(LedgerUnavailable) as refused:
        await bucket.take(deadline=clock.now + 0.5)
    assert refused.value.retry_after == pytest.approx(1.0)
    assert bucket.level() == 2


async def test_bucket_queues_concurrent_callers_behind_each_other():
    bucket = LeakyBucket(2, 20, slack_seconds=0)  # the loop's clock; 50 ms per ball
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(bucket.take(deadline(2)) for _ in range(4)))
    assert loop.time() - started >= 0.09  # two immediately, then two more, 50 ms apart


async def test_bucket_try_take_and_fill():
    clock = Clock()
    bucket = LeakyBucket(40, 4, clock=clock)
    assert all(bucket.try_take(at_most=20) for _ in range(21))
    assert not bucket.try_take(at_most=20)
    bucket.fill()
    assert bucket.level() == 40 and bucket.wait_for() == pytest.approx(0.5)


def test_bucket_needs_sane_figures():
    for size, leak, slack in ((0, 4, 0), (40, 0, 1), (40, 4, -1)):
        with pytest.raises(ValueError):
            LeakyBucket(size, leak, slack_seconds=slack)
    assert LeakyBucket(3, 100).headroom == 2  # never so much that nothing fits


# ---- Link and Retry-After -----------------------------------------------------------------------


def answer(headers) -> RestAnswer:
    return RestAnswer(200, None, headers, None)


def test_link_picks_the_entry_by_rel():
    value = ('<https://s.myshopline.com/a.json?limit=2&page_info=abc>; rel="previous", '
             '<https://s.myshopline.com/a.json?limit=2&page_info=def>; rel="next"')
    for headers in (CIMultiDict({"Link": value}), {"link": value}):
        assert answer(headers).link("next") == "https://s.myshopline.com/a.json?limit=2&page_info=def"
        assert answer(headers).link("previous") == "https://s.myshopline.com/a.json?limit=2&page_info=abc"
    assert answer({"Link": "<https://x/a>; title=\"n\"; rel=next"}).link("NEXT") == "https://x/a"
    assert answer({"Link": '<https://x/a>; rel="next last"'}).link("last") == "https://x/a"
    assert answer({"Link": '<https://x/a>; rel="previous"'}).link("next") is None
    assert answer({}).link("next") is None
    two_headers = CIMultiDict([("Link", '<https://x/p>; rel="previous"'), ("Link", '<https://x/n>; rel="next"')])
    assert answer(two_headers).link("next") == "https://x/n"


def test_retry_after_in_seconds_or_as_an_http_date():
    now = datetime(2026, 11, 20, 15, 13, 22, tzinfo=timezone.utc)
    assert retry_after_seconds("3") == 3 and retry_after_seconds(" 0.5 ") == 0.5
    assert retry_after_seconds("Fri, 20 Nov 2026 15:13:25 GMT", now=now) == 3
    assert retry_after_seconds("Fri, 20 Nov 2026 15:13:20 GMT", now=now) == 0  # already past
    for unusable in (None, "", "-1", "soon", "nan", "inf"):
        assert retry_after_seconds(unusable) is None


# ---- the transport against raw servers ----------------------------------------------------------


@pytest.fixture
async def raw(aiohttp_server):
    """A server whose one route answers what the test sets, counting requests."""
    state = {"requests": [], "reply": lambda request: web.json_response({})}

    async def handle(request: web.Request) -> web.StreamResponse:
        state["requests"].append((request.method, request.path_qs, dict(request.headers), await request.read()))
        result = state["reply"](request)
        return await result if asyncio.iscoroutine(result) else result

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = await aiohttp_server(app)
    state["url"] = str(server.make_url("/api/"))
    return state


@pytest.fixture
async def transport(raw):
    async with aiohttp.ClientSession() as session:
        yield RestTransport(session, base_url=raw["url"], headers={"Authorization": "Bearer t"}, vendor="test",
                            trace_header="traceId", request_timeout=2.0)


async def test_it_sends_headers_and_exact_json_and_answers_parsed_json(raw, transport):
    raw["reply"] = lambda r: web.Response(text='{"a": 1.10, "b": [1]}', content_type="application/json",
                                          headers={"traceId": "t-1"})
    got = await transport.call("POST", "things.json", json={"amount": Decimal("5.10"), "s": "x"}, params={"q": "1"},
                               deadline=deadline(), write=True, operation="create")
    assert got.status == 200 and got.body == {"a": Decimal("1.10"), "b": [1]} and got.trace_id == "t-1"
    assert got.headers["traceid"] == "t-1"  # case-insensitive
    [(method, path, headers, body)] = raw["requests"]
    assert (method, path, headers["Authorization"], body) == ("POST", "/api/things.json?q=1", "Bearer t",
                                                              b'{"amount":5.1,"s":"x"}')  # exact, normalised


async def test_other_statuses_and_empty_bodies_go_back_to_the_caller(raw, transport):
    raw["reply"] = lambda r: web.Response(status=404, text="<html>not here</html>", content_type="text/html")
    got = await transport.call("GET", "x.json", deadline=deadline(), write=False, operation="get")
    assert (got.status, got.body) == (404, None)
    raw["reply"] = lambda r: web.Response(status=204)
    got = await transport.call("PUT", "x.json", json={}, deadline=deadline(), write=True, operation="put")
    assert (got.status, got.body) == (204, None)
    raw["reply"] = lambda r: web.Response(status=307, headers={"Location": "/elsewhere"})
    got = await transport.call("PUT", "x.json", json={}, deadline=deadline(), write=True, operation="put")
    assert got.status == 307  # a redirect would send the write again: never followed
    assert len(raw["requests"]) == 3


async def test_a_2xx_that_is_not_json(raw, transport):
    raw["reply"] = lambda r: web.Response(text="<html>proxy</html>", content_type="text/html")
    with pytest.raises(LedgerOutcomeUnknown):
        await transport.call("PUT", "x.json", json={}, deadline=deadline(), write=True, operation="put")
    assert len(raw["requests"]) == 1
    with pytest.raises(LedgerUnavailable):
        await transport.call("GET", "x.json", deadline=deadline(), write=False, operation="get")
    assert len(raw["requests"]) == 1 + 4  # a read is retried (3 retries), then unavailable


async def test_a_429_without_retry_after_is_resent_after_a_short_backoff_and_bounded(raw, transport, monkeypatch):
    monkeypatch.setattr("adapter.ledgers.rest._THROTTLE_FALLBACK", 0.01)  # the backoff's base: keep the test short
    raw["reply"] = lambda r: web.json_response({"errors": "Too many request"}, status=429)
    with pytest.raises(LedgerUnavailable, match="429"):
        await transport.call("GET", "x.json", deadline=deadline(20), write=False, operation="get")
    assert len(raw["requests"]) == 6  # the first and 5 resends


async def test_a_retry_after_in_seconds_is_waited(raw, transport):
    replies = iter([web.json_response({}, status=429, headers={"Retry-After": "0.3"}), web.json_response({"ok": 1})])
    raw["reply"] = lambda r: next(replies)
    loop = asyncio.get_running_loop()
    started = loop.time()
    got = await transport.call("PUT", "x.json", json={}, deadline=deadline(), write=True, operation="put")
    assert got.body == {"ok": 1} and loop.time() - started >= 0.3


async def test_nothing_waits_past_the_deadline(raw, transport):
    async def slow(request):
        await asyncio.sleep(3)
        return web.json_response({})

    raw["reply"] = slow
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LedgerUnavailable):
        await transport.call("GET", "x.json", deadline=deadline(0.3), write=False, operation="get")
    assert loop.time() - started < 0.5


async def test_a_paging_link_off_the_origin_is_not_followed(raw, transport):
    with pytest.raises(LedgerUnavailable, match="origin"):
        await transport.call("GET", "", url="https://attacker.example/api/x.json?page_info=a", deadline=deadline(),
                             write=False, operation="get")
    got = await transport.call("GET", "", url=raw["url"] + "x.json?page_info=a%2Bb", deadline=deadline(),
                               write=False, operation="get")
    assert got.status == 200 and raw["requests"][-1][1] == "/api/x.json?page_info=a%2Bb"


async def test_a_session_with_middlewares_of_its_own_is_refused():
    async def passthrough(request, handler):
        return await handler(request)

    async with aiohttp.ClientSession(middlewares=(passthrough,)) as session:
        with pytest.raises(ValueError, match="middlewares"):
            RestTransport(session, base_url="https://x.example/", headers={}, vendor="test")


async def test_send_once_refuses_a_second_copy_whatever_made_aiohttp_try():
    """The backstop of the middleware: a second pass through it never reaches the handler."""
    middleware, sent = _send_once(), []

    async def handler(request):
        sent.append(request)
        return "response"

    assert await middleware("request", handler) == "response"
    with pytest.raises(Exception, match="second time"):
        await middleware("request", handler)
    assert sent == ["request"]
