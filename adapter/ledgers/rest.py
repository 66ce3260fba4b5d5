"""One REST transport for the ledgers that speak JSON over HTTP (SHOPLINE, Gift Card Hero).

The rule that shapes it is the one of the Shopify client: a balance write has no idempotency at
the vendor, so a request that may have reached the vendor is NEVER sent again from here. It
surfaces as LedgerOutcomeUnknown and the exactly-once protocol above (adapter.ledgers.absolute)
settles it by reading the ledger. Only what proves non-execution is resent: a 429 (refused before
execution) and a connection that never opened. Reads are retried within the deadline.

That includes resends aiohttp would make by itself. ClientSession (3.14, client.py,
IDEMPOTENT_METHODS, `_retry_connection`) sends a PUT, GET or DELETE once more, unasked, when the
connection drops with ServerDisconnectedError or ClientOSError; for an absolute-balance PUT that
second copy can land after someone else's change and overwrite it (ledgers.md §3.2). aiohttp has
no public per-request switch for it, only the private session attribute its own TestClient sets.
What it does have is per-request client middlewares (public since 3.12), rebuilt around every
attempt of the request's internal loop: `_send_once` wraps our writes, turns a drop after sending
into an exception aiohttp does not retry, and refuses to let a second copy out should a future
aiohttp retry on something else. tests/ledgers/shopline/test_dropped_connection.py counts the
PUTs that reach the server, so a change in aiohttp that gets past this fails there.

Every call takes `deadline`, an absolute event-loop time; no wait and no attempt runs past it, and
every attempt carries its own ClientTimeout cut to the time left (with aiohttp's rounding of long
timeouts to whole seconds turned off). Never logged or put in an exception: the headers (the
token), the URL or its query (a `code` filter, a page cursor holding the filters), and bodies.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import aiohttp
import structlog
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from adapter import jsonio
from adapter.ledgers import exchange, metrics
from adapter.ledgers.exchange import MaybeSent, NotSent
from adapter.ledgers.metrics import LEDGER_CALL_DURATION, LEDGER_CALLS, LEDGER_PACING_WAIT, LEDGER_RATE_LIMITED
from adapter.observability.metrics import LOOKUPS_SHED
from adapter.ports import LedgerOutcomeUnknown, LedgerUnavailable

log = structlog.get_logger(__name__)

_BACKOFF_BASE = 0.1          # seconds; doubled per retry, full jitter
_BACKOFF_CAP = 2.0
_MAX_CONNECT_RESENDS = 3     # a connection that never opened: nothing was sent, writes too
_MAX_THROTTLE_RESENDS = 5    # 429s are also bounded by the deadline; this is a backstop
_THROTTLE_FALLBACK = 0.25    # a 429 without a usable Retry-After: this, doubled per 429, jittered
_MIN_THROTTLE_WAIT = 0.05    # "Retry-After: 0" still gets a pause
_LOOKUP_SHARE = 0.5          # a lookup is sent only while the bucket is at most half used


# ---- the answer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestAnswer:
    status: int
    body: Any                    # parsed with adapter.jsonio (exact Decimals), None if empty
    headers: Mapping[str, str]   # case-insensitive (a CIMultiDictProxy) when built by the transport
    trace_id: str | None         # the vendor's trace header, if any

    def link(self, rel: str) -> str | None:
        """The URL of the `Link` entry with this rel (RFC 8288: `<url>; rel="next"`, entries
        joined by ", ", several rels in one entry separated by spaces), or None."""
        wanted = rel.lower()
        for value in _header_values(self.headers, "Link"):
            for target, parameters in _LINK_ENTRY.findall(value):
                for name, quoted, bare in _LINK_PARAM.findall(parameters):
                    if name.lower() == "rel" and wanted in (quoted or bare).lower().split():
                        return target.strip()
        return None


_LINK_ENTRY = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)")
_LINK_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"([^"]*)"|([^;,\s]*))')


def _header_values(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    return [value for key, value in headers.items() if key.lower() == name.lower()]


# ---- pacing -------------------------------------------------------------------------------------


class LeakyBucket:
    """Our model of a vendor's request bucket (SHOPLINE: 40 held, 4 leaking out per second), so
    we wait before sending instead of being answered 429.

    Every request is one ball. A caller reserves its ball before it waits, so concurrent callers
    queue behind one another rather than all seeing the same room. The model fills only to
    `size - headroom`, the headroom being what leaks in `slack_seconds` (SHOPLINE: one ball): the
    vendor counts a ball when it arrives, we when we send, so a burst whose first request arrives
    late, or a request that overtakes an earlier one, would otherwise find the vendor's bucket
    fuller than our model. It knows only this process's calls; a 429 (another replica, another
    app of the store) tells it the real bucket is full (`fill`).
    """

    def __init__(self, size: float, leak_per_second: float, clock: Callable[[], float] | None = None,
                 *, slack_seconds: float = 0.25) -> None:
        if size < 1 or leak_per_second <= 0 or slack_seconds < 0:
            raise ValueError("a bucket needs size >= 1, leak_per_second > 0 and slack_seconds >= 0")
        self.size = float(size)
        self.leak_per_second = float(leak_per_second)
        self.headroom = min(self.size - 1, slack_seconds * self.leak_per_second)
        self._clock = clock
        self._level = 0.0
        self._stamp: float | None = None

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def level(self, now: float | None = None) -> float:
        """Balls in the bucket now (more than `size` while callers are queued for room)."""
        now = self._now() if now is None else now
        if self._stamp is None:
            return 0.0
        return max(0.0, self._level - max(0.0, now - self._stamp) * self.leak_per_second)

    def wait_for(self, now: float | None = None) -> float:
        """Seconds until one more ball fits, without reserving it."""
        over = self.level(now) + 1 - (self.size - self.headroom)
        return max(0.0, over / self.leak_per_second)

    def _put(self, now: float) -> None:
        self._level = self.level(now) + 1
        self._stamp = now

    async def take(self, deadline: float) -> None:
        """Wait for room for one request; LedgerUnavailable (nothing reserved) if the wait would
        pass the deadline."""
        now = self._now()
        wait = self.wait_for(now)
        if wait > 0 and now + wait >= deadline:
            raise LedgerUnavailable("request budget exhausted until past the deadline", retry_after=wait)
        self._put(now)  # no await between the check and the reservation
        if wait > 0:
            await asyncio.sleep(wait)

    def try_take(self, *, at_most: float) -> bool:
        """Reserve one ball now, without waiting, only if the bucket holds at most `at_most`."""
        now = self._now()
        if self.level(now) > at_most or self.wait_for(now) > 0:
            return False
        self._put(now)
        return True

    def fill(self) -> None:
        """The vendor answered 429: its bucket is full whatever our model says."""
        now = self._now()
        self._level = max(self.level(now), self.size)
        self._stamp = now


# ---- the transport ------------------------------------------------------------------------------


class _Throttled(Exception):
    """429: refused before execution; `wait` is what Retry-After asked for (None: not said)."""

    def __init__(self, wait: float | None) -> None:
        super().__init__("HTTP 429")
        self.wait = wait


Middleware = Callable[[aiohttp.ClientRequest, Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]]],
                      Awaitable[aiohttp.ClientResponse]]


def _send_once() -> Middleware:
    """A per-request middleware for writes: at most one copy of the request leaves (see the
    module docstring). A fresh one per request: it remembers that its request went out."""
    sent = False

    async def middleware(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        nonlocal sent
        if sent:
            raise exchange.LostAfterSending("the HTTP library tried to send this write a second time; refused")
        sent = True
        try:
            return await handler(request)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
            raise  # the connection never opened: nothing went out (and aiohttp does not resend)
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            raise exchange.LostAfterSending(f"connection lost after sending ({type(exc).__name__})") from None

    return middleware


class RestTransport:
    """One vendor's REST API for one store. Share one instance (and its session) per store."""

    def __init__(self, session: aiohttp.ClientSession, *, base_url: str, headers: dict[str, str], vendor: str,
                 trace_header: str | None = None, bucket: LeakyBucket | None = None, read_retries: int = 3,
                 connect_timeout: float = 2.0, request_timeout: float = 10.0) -> None:
        # A write's per-request middlewares replace the session's; a session middleware would
        # silently not run for writes, so none is allowed.
        if getattr(session, "_middlewares", ()):
            raise ValueError("the session must not have middlewares of its own (writes replace them)")
        if read_retries < 0 or connect_timeout <= 0 or request_timeout <= 0:
            raise ValueError("read_retries must be >= 0 and the timeouts positive")
        self._session = session
        self._base = URL(base_url.rstrip("/") + "/")
        if not self._base.is_absolute():
            raise ValueError("base_url must be an absolute URL")
        self._headers = dict(headers)
        self.vendor = vendor
        self._trace_header = trace_header
        self.bucket = bucket
        self._read_retries = read_retries
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        metrics.initialise(vendor)

    def __repr__(self) -> str:  # never the headers: they hold the token
        return f"RestTransport(vendor={self.vendor!r}, base_url={str(self._base)!r})"

    async def call(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                   url: str | None = None, deadline: float, write: bool, operation: str,
                   lookup: bool = False) -> RestAnswer:
        """Send until an answer the caller must map (any status but 429 and 5xx), a definite
        failure, or the deadline.

        `url` (absolute, from a Link header) replaces base_url + path; it must be on the base
        URL's origin, since the token goes with it. `lookup`: a call that may be refused at once
        (LedgerUnavailable) so it never spends what money calls need: when the bucket is more
        than half used, and on a 429, it is not sent or resent."""
        target = self._target(path, url, operation)
        data = jsonio.dumps(json) if json is not None else None
        loop = asyncio.get_running_loop()
        connect_resends = read_retries = throttle_resends = 0
        while True:
            await self._pace(deadline, operation, lookup)
            try:
                return await self._attempt(method, target, params, data, deadline, write, operation)
            except _Throttled as throttled:
                throttle_resends += 1
                LEDGER_RATE_LIMITED.labels(self.vendor).inc()
                if self.bucket is not None:
                    self.bucket.fill()
                wait = throttled.wait
                if wait is None:
                    wait = min(_BACKOFF_CAP, _THROTTLE_FALLBACK * 2 ** (throttle_resends - 1)) * random.uniform(1, 1.5)
                wait = max(wait, _MIN_THROTTLE_WAIT)
                if lookup:
                    LOOKUPS_SHED.labels("throttled").inc()
                    raise LedgerUnavailable(f"{operation}: throttled (HTTP 429)", retry_after=wait) from None
                if throttle_resends > _MAX_THROTTLE_RESENDS or loop.time() + wait >= deadline:
                    raise LedgerUnavailable(f"{operation}: throttled (HTTP 429), no time left to wait",
                                            retry_after=wait) from None
                log.info("ledger_throttled", ledger=self.vendor, operation=operation, wait=round(wait, 3))
                LEDGER_PACING_WAIT.labels(self.vendor).inc(wait)
                await asyncio.sleep(wait)
            except NotSent as failure:
                connect_resends += 1
                if connect_resends > _MAX_CONNECT_RESENDS:
                    raise LedgerUnavailable(f"{operation}: {failure}") from None
                await self._backoff(connect_resends, deadline, operation, str(failure))
            except MaybeSent as failure:
                if write:
                    raise LedgerOutcomeUnknown(f"{operation}: {failure}") from None
                read_retries += 1
                if read_retries > self._read_retries:
                    raise LedgerUnavailable(f"{operation}: {failure}") from None
                await self._backoff(read_retries, deadline, operation, str(failure))

    def _target(self, path: str, url: str | None, operation: str) -> URL:
        if url is None:
            return self._base.join(URL(path.lstrip("/")))
        target = URL(url, encoded=True)  # a Link URL is already encoded: don't quote it again
        if not target.is_absolute() or target.origin() != self._base.origin():
            log.error("ledger_foreign_link", ledger=self.vendor, operation=operation)
            raise LedgerUnavailable(f"{operation}: the vendor's paging link leaves its origin; not followed")
        return target

    async def _pace(self, deadline: float, operation: str, lookup: bool) -> None:
        if self.bucket is None:
            return
        if lookup:
            if not self.bucket.try_take(at_most=self.bucket.size * _LOOKUP_SHARE):
                LOOKUPS_SHED.labels("budget").inc()
                raise LedgerUnavailable(f"{operation}: the request budget left is kept for money calls",
                                        retry_after=max(self.bucket.wait_for(), 1 / self.bucket.leak_per_second))
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.bucket.take(deadline)
        waited = loop.time() - started
        if waited > 0:
            LEDGER_PACING_WAIT.labels(self.vendor).inc(waited)

    async def _backoff(self, retry: int, deadline: float, operation: str, reason: str) -> None:
        delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (retry - 1)))
        if asyncio.get_running_loop().time() + delay >= deadline:
            raise LedgerUnavailable(f"{operation}: {reason}, no time left to retry")
        log.info("ledger_retry", ledger=self.vendor, operation=operation, reason=reason, retry=retry)
        await asyncio.sleep(delay)

    def _timeout(self, remaining: float) -> aiohttp.ClientTimeout:
        connect = min(self._connect_timeout, remaining)
        # ceil_threshold: aiohttp rounds timeouts above it up to a whole second, past our deadline.
        return aiohttp.ClientTimeout(total=min(self._request_timeout, remaining), connect=connect,
                                     sock_connect=connect, ceil_threshold=math.inf)

    async def _attempt(self, method: str, target: URL, params: dict | None, data: bytes | None,
                       deadline: float, write: bool, operation: str) -> RestAnswer:
        """One HTTP exchange, counted, timed and logged under one result."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        remaining = deadline - started
        if remaining <= 0:
            raise LedgerUnavailable(f"{operation}: deadline passed before sending")
        result, status, trace_id = "disconnected", None, None
        try:
            try:
                async with self._session.request(
                    method, target, params=params, data=data, headers=self._headers,
                    timeout=self._timeout(remaining), allow_redirects=False,  # a redirect resends
                    middlewares=(_send_once(),) if write else None,
                ) as response:
                    status = response.status
                    headers = CIMultiDictProxy(CIMultiDict(response.headers))
                    trace_id = headers.get(self._trace_header) if self._trace_header else None
                    raw = await response.read()
            except exchange.FAILURES as exc:
                result, failure = exchange.failure_of(exc, what=f"{self.vendor} {operation}")
                raise failure from None
            except asyncio.CancelledError:
                result = "cancelled"  # our caller gave up; a write may still have landed
                raise

            if status == 429:
                result = "http_429"
                raise _Throttled(retry_after_seconds(headers.get("Retry-After")))
            if status >= 500:
                result = "http_5xx"
                raise MaybeSent(f"HTTP {status}")
            try:
                body = jsonio.loads(raw) if raw.strip() else None
            except jsonio.BadJson:
                if 200 <= status < 300:
                    result = "unreadable"
                    raise MaybeSent(f"HTTP {status} with a body that is not JSON") from None
                body = None  # an error page from a proxy: the caller maps the status alone
            result = "ok" if 200 <= status < 300 else f"http_{status // 100}xx"
            return RestAnswer(status, body, headers, trace_id)
        finally:
            elapsed = loop.time() - started
            LEDGER_CALLS.labels(self.vendor, operation, result).inc()
            LEDGER_CALL_DURATION.labels(self.vendor).observe(elapsed)
            (log.debug if result == "ok" else log.info)(
                "ledger_call", ledger=self.vendor, operation=operation, method=method, status=status,
                result=result, seconds=round(elapsed, 4), trace_id=trace_id)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None
    when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
