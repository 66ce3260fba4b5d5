"""Slow clients are shed within their bounds, on a real listening socket wired as in production.

Headers that do not arrive within HTTP_HEADER_TIMEOUT_SECONDS: the connection is closed with no
answer. A body that does not arrive within HTTP_BODY_TIMEOUT_SECONDS (or the request deadline):
408 in NewStore's shape, nothing written, and the connection closed.
"""

import asyncio

import aiohttp
import pytest

from adapter import jsonio
from prometheus_client import REGISTRY

from adapter.http.server import LINGER_SECONDS
from tests import ledger_view
from tests.conftest import API_KEY, adapter_settings
from tests.served import exchange, open_fds, parse_answer, served, slow_client, wait_for

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
# Scheduling slack on a shared 2-core machine; far below what an unbounded read would take.
SLACK = 1.5

ISSUE = jsonio.dumps({"amount": {"value": 25, "currency": "USD"}, "customer": {"id": "64810476"},
                      "idempotence_key": "slow-issue-1"})
REQUEST_HEAD = (b"POST /gift_card/issue HTTP/1.1\r\nHost: adapter\r\n"
                b"Authorization: Bearer " + API_KEY.encode() + b"\r\nContent-Type: application/json\r\n")


def slow(phase: str) -> float:
    return REGISTRY.get_sample_value("giftcard_adapter_slow_clients_total", {"phase": phase}) or 0.0


def _settings(database_url, sandbox, **overrides):
    values = dict(http_header_timeout_seconds=HEADER_TIMEOUT, http_body_timeout_seconds=BODY_TIMEOUT)
    values.update(overrides)
    return adapter_settings(database_url, sandbox, **values)


@pytest.fixture
async def port(database_url, sandbox, db):
    async with served(_settings(database_url, sandbox)) as listening:
        yield listening


async def _nothing_written(sandbox, db):
    assert await ledger_view.cards(sandbox) == []
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0
        assert await conn.fetchval("SELECT count(*) FROM ledger_writes") == 0


async def test_headers_sent_a_byte_at_a_time_are_cut_off_within_the_bound(port, sandbox, db):
    before = slow("headers")
    took, answer = await slow_client(port, b"POST /gift_card/issue HTTP/1.1\r\n", drip=b"X-Pad: 1\r\n")
    assert answer == b""  # closed without an answer: there is no request to answer yet
    assert HEADER_TIMEOUT * 0.9 <= took <= HEADER_TIMEOUT + SLACK
    assert slow("headers") == before + 1
    await _nothing_written(sandbox, db)


async def test_a_connection_that_sends_nothing_is_closed_within_the_header_bound(port):
    took, answer = await slow_client(port, b"")
    assert answer == b"" and took <= HEADER_TIMEOUT + SLACK


async def test_a_slow_body_gets_408_in_our_shape_and_nothing_is_written(port, sandbox, db):
    before = slow("body")
    head = REQUEST_HEAD + f"Content-Length: {len(ISSUE)}\r\n\r\n".encode()
    took, answer = await slow_client(port, head + ISSUE[:5], drip=b" ")
    status, headers, body = parse_answer(answer)
    assert status == 408 and slow("body") == before + 1
    assert headers["content-type"].startswith("application/json") and headers["connection"] == "close"
    assert jsonio.loads(body) == {"error_code": "bad_request", "request_accepted": False,
                                  "message": "body: not received in time (HTTP_BODY_TIMEOUT_SECONDS)"}
    # Answered at the body bound; closed after at most the linger that lets the client read it.
    assert took <= BODY_TIMEOUT + LINGER_SECONDS + SLACK
    await _nothing_written(sandbox, db)


async def test_a_body_shorter_than_announced_is_bounded_too(port, sandbox, db):
    head = REQUEST_HEAD + f"Content-Length: {len(ISSUE) + 100}\r\n\r\n".encode()
    took, answer = await slow_client(port, head + ISSUE)  # then silence
    assert parse_answer(answer)[0] == 408
    assert took <= BODY_TIMEOUT + LINGER_SECONDS + SLACK
    await _nothing_written(sandbox, db)


async def test_the_request_deadline_bounds_the_body_read(database_url, sandbox, db):
    # A body timeout longer than the whole deadline: the deadline ends the read.
    settings = _settings(database_url, sandbox, request_deadline_seconds=1.0, http_body_timeout_seconds=5.0)
    async with served(settings) as listening:
        head = REQUEST_HEAD + f"Content-Length: {len(ISSUE)}\r\n\r\n".encode()
        took, answer = await slow_client(listening, head + ISSUE[:5], drip=b" ")
    status, _, body = parse_answer(answer)
    assert status == 408 and "REQUEST_DEADLINE_SECONDS" in jsonio.loads(body)["message"]
    assert took <= 1.0 + LINGER_SECONDS + SLACK
    await _nothing_written(sandbox, db)


async def _read_one_answer(reader) -> int:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status, headers, _ = parse_answer(head)
    await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return status


async def test_an_idle_kept_alive_connection_outlives_the_header_bound_but_not_a_slow_next_request(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        ping = b"GET /health/live HTTP/1.1\r\nHost: adapter\r\n\r\n"
        writer.write(ping)
        assert await _read_one_answer(reader) == 200
        # Idle (no byte of a next request) for longer than the header bound: kept open.
        await asyncio.sleep(HEADER_TIMEOUT + 0.5)
        writer.write(ping)
        assert await _read_one_answer(reader) == 200
        # The first bytes of a further request start the header clock.
        loop = asyncio.get_running_loop()
        started = loop.time()
        writer.write(b"GET /health/live HTTP/1.1\r\n")
        assert await asyncio.wait_for(reader.read(100), HEADER_TIMEOUT + SLACK) == b""
        assert loop.time() - started >= HEADER_TIMEOUT * 0.9
    finally:
        writer.close()


async def test_two_hundred_slow_clients_are_all_shed_while_normal_requests_are_served(port, sandbox, db):
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        # Warm up (the Postgres pool, the connection to the sandbox), then count.
        async with session.get(f"{url}/health/ready") as response:
            assert response.status == 200
    baseline = open_fds()
    body_head = REQUEST_HEAD + f"Content-Length: {len(ISSUE)}\r\n\r\n".encode() + ISSUE[:5]
    clients = [asyncio.create_task(slow_client(port, b"POST /gift_card/issue HTTP/1.1\r\n", drip=b"X-Pad: 1\r\n"))
               for _ in range(100)]
    clients += [asyncio.create_task(slow_client(port, body_head, drip=b" ")) for _ in range(100)]
    # Both ends of each connection live in this process: 200 slow clients are ~400 descriptors.
    peak = await wait_for(lambda: (n := open_fds()) >= baseline + 300 and n, timeout=10)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/gift_card/issue", data=ISSUE, headers=auth) as response:
            assert response.status == 200, await response.text()
    results = await asyncio.gather(*clients)
    header_results, body_results = results[:100], results[100:]
    assert all(answer == b"" for _, answer in header_results)
    assert all(parse_answer(answer)[0] == 408 for _, answer in body_results)
    assert max(took for took, _ in results) <= BODY_TIMEOUT + LINGER_SECONDS + 2 * SLACK
    await wait_for(lambda: open_fds() <= baseline + 5, timeout=5)
    assert peak >= baseline + 300
    # The one normal issue wrote its card; none of the slow ones wrote anything.
    assert len(await ledger_view.cards(sandbox)) == 1


async def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(database_url, sandbox, db):
    keepalive = 2.0
    async with served(_settings(database_url, sandbox, http_keepalive_timeout_seconds=keepalive)) as listening:
        reader, writer = await asyncio.open_connection("127.0.0.1", listening)
        try:
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: adapter\r\n\r\n")
            assert await _read_one_answer(reader) == 200
            loop = asyncio.get_running_loop()
            answered = loop.time()
            assert await asyncio.wait_for(reader.read(100), keepalive + SLACK) == b""
            assert loop.time() - answered >= keepalive * 0.9  # idle is not slow: the header bound did not apply
        finally:
            writer.close()


async def test_a_slow_request_pipelined_behind_a_slow_answer_does_not_cut_that_answer(port, sandbox):
    # The issue's ledger call takes longer than the header bound; the next request's headers,
    # pipelined behind it, never complete. The issue is answered in full, then the connection closes.
    await ledger_view.add_fault(sandbox, kind="latency", operation="giftCardCreate", latency_ms=2500, count=1)
    issue_request = REQUEST_HEAD + f"Content-Length: {len(ISSUE)}\r\n\r\n".encode() + ISSUE
    took, answer = await slow_client(port, issue_request + b"GET /health/live HTTP/1.1\r\n", limit=15)
    status, headers, body = parse_answer(answer)
    assert status == 200, body
    assert len(body) == int(headers["content-length"]) and "identifier" in jsonio.loads(body)
    assert took >= 2.5
    assert len(await ledger_view.cards(sandbox)) == 1
