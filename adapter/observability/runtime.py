"""Saturation signals: event-loop lag, requests in flight, and whether anything queues for a
Postgres connection (adapter.store.database.Pool) or a connection to the ledger (MeteredConnector)."""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar

import aiohttp

from adapter.observability import metrics

LAG_PROBE_SECONDS = 0.25


async def probe_event_loop_lag(stopping: asyncio.Event) -> None:
    """A timer that should fire every LAG_PROBE_SECONDS; how late it fires is the lag."""
    loop = asyncio.get_running_loop()
    while not stopping.is_set():
        expected = loop.time() + LAG_PROBE_SECONDS
        await asyncio.sleep(LAG_PROBE_SECONDS)
        metrics.EVENT_LOOP_LAG.observe(max(0.0, loop.time() - expected))


class HighWater:
    """How many of something are in progress, and the most there have been at once: plain
    integers on the hot path, read by the gauges at scrape time (a peak between two scrapes is
    never missed)."""

    __slots__ = ("now", "peak")

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        self.now += 1
        if self.now > self.peak:
            self.peak = self.now

    def leave(self) -> None:
        self.now -= 1


# NewStore-facing requests being answered (adapter.http.middleware.observe).
REQUESTS_IN_FLIGHT = HighWater()
# True inside a NewStore request (and in what it awaits or starts for itself, such as a search
# ahead), not in what it leaves to the background (adapter.after_answer): the pool serves it first.
IN_REQUEST: ContextVar[bool] = ContextVar("in_request", default=False)
metrics.REQUESTS_IN_FLIGHT.set_function(lambda: REQUESTS_IN_FLIGHT.now)
metrics.REQUESTS_IN_FLIGHT_PEAK.set_function(lambda: REQUESTS_IN_FLIGHT.peak)


def watch_pool(pool) -> None:
    """Read the pool's figures at scrape time, so they are never stale."""
    metrics.DB_POOL_SIZE.labels("total").set_function(pool.get_size)
    metrics.DB_POOL_SIZE.labels("idle").set_function(pool.get_idle_size)
    metrics.DB_POOL_SIZE.labels("max").set_function(pool.get_max_size)
    metrics.DB_POOL_SIZE.labels("in_use").set_function(lambda: pool.get_size() - pool.get_idle_size())
    in_use = getattr(pool, "in_use", None)
    if in_use is not None:
        metrics.DB_POOL_SIZE.labels("peak_in_use").set_function(lambda: in_use.peak)


class MeteredConnector(aiohttp.TCPConnector):
    """aiohttp's connector, timing the calls that find all `limit` connections taken and wait for
    one (HTTP_CLIENT_QUEUE_WAIT). Only a call that queues pays for the measurement.

    aiohttp has this as a trace signal too (on_connection_queued_start), but any TraceConfig
    makes every call send all of its signals; this hooks the one place a call waits."""

    async def _wait_for_available_connection(self, key, traces) -> None:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            await super()._wait_for_available_connection(key, traces)
        finally:
            metrics.HTTP_CLIENT_QUEUE_WAIT.observe(time.perf_counter() - started)
