"""What aiohttp would answer on its own: in NewStore's shape, quoting nothing, naming no software."""

import aiohttp
import pytest

from adapter import jsonio
from adapter.http.server import listen, bound_port
from adapter.observability.metrics_server import create_metrics_app
from tests.conftest import API_KEY, adapter_settings
from tests.served import exchange, parse_answer, served


@pytest.fixture
async def port(database_url, sandbox, db):
    async with served(adapter_settings(database_url, sandbox)) as listening:
        yield listening


def _assert_our_error(raw: bytes, status: int, message_starts: str) -> dict:
    answer_status, headers, body = parse_answer(raw)
    assert answer_status == status
    assert headers["content-type"].startswith("application/json")
    assert "server" not in headers
    decoded = jsonio.loads(body)
    assert decoded["error_code"] == "bad_request" and decoded["request_accepted"] is False
    assert decoded["message"].startswith(message_starts), decoded["message"]
    return decoded


async def test_an_over_long_header_is_refused_in_our_shape_without_echoing_it(port, captured_logs):
    # An API key in an over-long header: neither the answer nor the log may quote it.
    secret = API_KEY + "z" * 9000
    raw = await exchange(port, b"POST /gift_card/balance HTTP/1.1\r\nHost: a\r\nX-API-Key: " + secret.encode()
                         + b"\r\n\r\n")
    _assert_our_error(raw, 400, "request line or headers:")
    assert API_KEY.encode() not in raw and b"zzzz" not in raw
    assert API_KEY not in captured_logs() and "zzzz" not in captured_logs()


async def test_an_over_long_request_line_is_refused_in_our_shape(port):
    raw = await exchange(port, b"GET /" + b"p" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    _assert_our_error(raw, 400, "request line or headers:")
    assert b"ppp" not in raw


@pytest.mark.parametrize(("request_bytes", "message_starts"), [
    (b"GARBAGE\r\n\r\n", "request line:"),
    (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", "request line:"),
    (b"GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n", "headers:"),
])
async def test_malformed_requests_are_refused_in_our_shape(port, request_bytes, message_starts):
    raw = await exchange(port, request_bytes)
    _assert_our_error(raw, 400, message_starts)
    assert b"GARBAGE" not in raw and b"G@T" not in raw and b"Bad Header" not in raw


async def test_malformed_chunked_body_is_a_400_naming_the_body(port):
    raw = await exchange(port, b"POST /gift_card/balance HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer "
                         + API_KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n")
    _assert_our_error(raw, 400, "body:")


async def test_no_answer_names_the_server_software(port, database_url, sandbox):
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for method, path, headers in (("GET", "/health/live", {}), ("GET", "/openapi.json", {}),
                                      ("POST", "/gift_card/balance", {}),  # 401
                                      ("POST", "/nope", {"X-API-Key": API_KEY}),  # 404
                                      ("POST", "/gift_card/balance", {"X-API-Key": API_KEY})):  # 400
            async with session.request(method, url + path, headers=headers) as response:
                assert "Server" not in response.headers, (path, response.headers["Server"])
    settings = adapter_settings(database_url, sandbox)
    metrics_runner = await listen(create_metrics_app(), "127.0.0.1", 0, settings)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{bound_port(metrics_runner)}/metrics") as response:
                assert response.status == 200 and "Server" not in response.headers
                assert "giftcard_adapter_slow_clients_total" in await response.text()
    finally:
        await metrics_runner.cleanup()
