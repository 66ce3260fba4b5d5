"""Saturation signals: event-loop lag and Postgres pool usage."""

from __future__ import annotations

import asyncio

from adapter.observability import metrics

LAG_PROBE_SECONDS = 0.25


async def probe_event_loop_lag(stopping: asyncio.Event) -> None:
    """A timer that should fire every LAG_PROBE_SECONDS; how late it fires is the lag."""
    loop = asyncio.get_running_loop()
    while not stopping.is_set():
        expected = loop.time() + LAG_PROBE_SECONDS
        await asyncio.sleep(LAG_PROBE_SECONDS)
        metrics.EVENT_LOOP_LAG.observe(max(0.0, loop.time() - expected))


def watch_pool(pool) -> None:
    """Read the pool's figures at scrape time, so they are never stale."""
    metrics.DB_POOL_SIZE.labels("total").set_function(pool.get_size)
    metrics.DB_POOL_SIZE.labels("idle").set_function(pool.get_idle_size)
    metrics.DB_POOL_SIZE.labels("max").set_function(pool.get_max_size)
    metrics.DB_POOL_SIZE.labels("in_use").set_function(lambda: pool.get_size() - pool.get_idle_size())
