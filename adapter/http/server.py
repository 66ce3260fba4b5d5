"""How the service listens: aiohttp's server, with the slow-client bound it lacks.

aiohttp has no header-read timeout: a connection that sends its request line and headers a byte
at a time (or nothing at all) keeps its file descriptor until the keep-alive timeout, an hour by
default in 3.14. GuardedRequestHandler closes a connection whose request line and headers have not
arrived HTTP_HEADER_TIMEOUT_SECONDS after it opened (or after the first byte of a further request
on a kept-alive connection). The body is bounded where it is read (adapter.http.requests), and a
body left unread is drained for at most LINGER_SECONDS before the connection is closed.

Two more things aiohttp does on its own and we do not want: its 400 for a malformed request line
or an over-long header is text/plain and quotes the start of the input (which may carry an API
key); and every answer carries `Server: Python/3.x aiohttp/3.x`. Here the first answers in
NewStore's error shape, quoting nothing, and no answer names the software.

`listen()` is the one way both ports are served, in production (adapter.__main__) and in tests.

This leans on aiohttp internals: RequestHandler's `_request_count`, `_messages` and
`_request_in_progress`, Server's `_loop` and `_kwargs`, AppRunner's `_make_server` and
Response's `_prepare_headers` (checked against aiohttp 3.14.5). tests/integration/
test_slow_clients.py and test_hardened_answers.py exercise each, so an aiohttp upgrade that moves
them fails there rather than in production.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import hdrs, http_exceptions, web
from aiohttp.web_protocol import RequestHandler

from adapter.http.errors import ApiError, error_body
from adapter.observability import metrics
from adapter.settings import Settings

log = structlog.get_logger("adapter.http.server")

# After an answer that left part of the body unsent (401, 404, 408, 413), keep reading and
# discarding for this long, so the client reads our answer rather than a reset; no longer, or a
# slow sender would keep the connection all the same.
LINGER_SECONDS = 2.0

# aiohttp's parser errors, as a field and a problem; never the bytes that caused them.
_PROTOCOL_PROBLEMS: tuple[tuple[type[Exception], str], ...] = (
    (http_exceptions.LineTooLong, "request line or headers: a line is too long"),
    (http_exceptions.BadHttpMethod, "request line: unknown method"),
    (http_exceptions.InvalidURLError, "request line: invalid target"),
    (http_exceptions.BadStatusLine, "request line: malformed"),
    (http_exceptions.InvalidHeader, "headers: malformed header"),
    (http_exceptions.PayloadEncodingError, "body: malformed Content-Length or Transfer-Encoding"),
)


# The parser raises a plain BadHttpMessage for most of what it refuses; its wording (never passed
# on: it quotes the input) tells headers from body framing. Anything unrecognised stays generic.
_WORDING = (("chunk", "body: malformed chunked encoding"),
            ("content-length", "body: malformed Content-Length or Transfer-Encoding"),
            ("transfer-encoding", "body: malformed Content-Length or Transfer-Encoding"),
            ("header", "headers: malformed header"))


def _protocol_problem(exc: BaseException | None) -> str:
    for kind, problem in _PROTOCOL_PROBLEMS:
        if isinstance(exc, kind):
            return problem
    wording = str(getattr(exc, "message", "")).strip().split("\n", 1)[0].lower()
    for word, problem in _WORDING:
        if word in wording:
            return problem
    return "request line or headers: malformed"


class _Answer(web.Response):
    """An answer made below the application (no on_response_prepare there): no Server header."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self.headers.popall(hdrs.SERVER, None)


def _holds_more(data: bytes, message) -> bool:
    """Whether `data`, in which `message` arrived whole, carries bytes after it (pipelining).

    The parser does not say where in `data` a message ended: its headers end at the last blank
    line, unless its body holds one, and its body is Content-Length long. A chunked body or a
    blank line inside the body answers False: that case stays bounded by the keep-alive timeout.
    """
    headers = getattr(message, "headers", None)
    if headers is None or getattr(message, "chunked", True):
        return False
    end = data.rfind(b"\r\n\r\n")
    try:
        length = int(headers.get(hdrs.CONTENT_LENGTH) or 0)
    except ValueError:
        return False
    return end >= 0 and len(data) - (end + 4) > length


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection handler with a deadline on request lines and headers."""

    __slots__ = ("_header_timeout", "_header_timer", "_body")

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._body = None  # the payload of the last request whose headers arrived

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()  # a client that connects and sends nothing counts as slow too

    def data_received(self, data: bytes) -> None:
        requests_before = self._request_count
        super().data_received(data)
        if self._request_count != requests_before:
            # A request line and headers are complete (or refused, which closes the connection).
            self._disarm()
            message, self._body = self._messages[-1] if self._messages else (None, None)
            if self._between_requests() and _holds_more(data, message):
                self._arm()  # a further request pipelined behind this one, not complete yet
        elif data and self._header_timer is None and self._between_requests():
            self._arm()  # the first bytes of a further request on a kept-alive connection

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """aiohttp's answer to what never reached the application (parser errors, mostly)."""
        if request.writer.output_size > 0:
            # As aiohttp: an answer is half written, the connection can only be dropped.
            raise ConnectionError("response already started")
        error_type = type(exc).__name__ if exc is not None else None
        if status < 500:
            log.info("http_protocol_error", status=status, error_type=error_type)
            error = ApiError(status, "bad_request", _protocol_problem(exc))
        else:
            log.error("http_protocol_error", status=status, error_type=error_type)
            error = ApiError(500, "internal_error", "internal error")
        answer = _Answer(status=error.status, body=error_body(error.error_code, error.message),
                         content_type="application/json")
        answer.force_close()
        return answer

    # ---- header deadline --------------------------------------------------------------

    def _between_requests(self) -> bool:
        return self._body is None or self._body.is_eof()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self._loop.call_later(self._header_timeout, self._headers_overdue)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self._request_in_progress:
            # Pipelined behind a request still being answered: let that answer go out first.
            self._arm()
            return
        metrics.SLOW_CLIENTS.labels("headers").inc()
        log.debug("slow_headers_closed", seconds=self._header_timeout)
        self.force_close()


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        # AppRunner runs the application's start-up and builds aiohttp's Server for it; the same
        # server, making our handler (the Server class is fixed inside Application).
        made = await super()._make_server()
        return _Server(made.request_handler, request_factory=made.request_factory,
                       handler_cancellation=made.handler_cancellation,
                       loop=asyncio.get_running_loop(), **made._kwargs)


async def _no_server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.popall(hdrs.SERVER, None)


async def listen(app: web.Application, host: str, port: int, settings: Settings, *,
                 shutdown_timeout: float = 60.0) -> web.AppRunner:
    """Start serving `app` on host:port; the caller cleans the runner up (runner.cleanup())."""
    app.on_response_prepare.append(_no_server_header)
    # handler_cancellation stays off: a client that hangs up never cuts a ledger write short.
    runner = _Runner(app, access_log=None, shutdown_timeout=shutdown_timeout,
                     keepalive_timeout=settings.http_keepalive_timeout_seconds,
                     lingering_time=LINGER_SECONDS,
                     header_timeout=settings.http_header_timeout_seconds)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_port(runner: web.AppRunner) -> int:
    return runner.addresses[0][1]
