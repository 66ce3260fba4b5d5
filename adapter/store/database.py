"""The asyncpg pool, and the embedded Postgres for local runs.

The pool the rest of the adapter gets translates the driver's "the database is not there"
exceptions into our own DependencyUnavailable, raised where they happen (taking a connection, or
any statement on it), so no layer above the store needs to know asyncpg's exception types.
"""

from __future__ import annotations

import asyncio
import re
import time
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path

import asyncpg
import structlog

from adapter.domain.errors import DependencyUnavailable
from adapter.observability import metrics
from adapter.observability.runtime import IN_REQUEST, HighWater

log = structlog.get_logger(__name__)


def mask_dsn(dsn: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db, for logs."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", dsn)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook. asyncpg still rolls back an open transaction first; what it would
    otherwise add (RESET ALL, UNLISTEN, advisory unlock: one round trip per release) guards
    session state we never change outside a `finally` that restores it."""


# Postgres going away, restarting or refusing connections: retryable, never a 500.
DRIVER_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,                         # the connection is gone
    asyncpg.exceptions.OperatorInterventionError,   # admin shutdown, crash shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
)
# Taking a connection may also fail as the network does, or not in time.
ACQUIRE_UNAVAILABLE = (*DRIVER_UNAVAILABLE, ConnectionError, OSError, asyncio.TimeoutError)


# This task holds a connection taken as background work: a further take inside it (a statement
# under a card lock) does not wait for a background slot again, which could never come.
_HOLDS_BACKGROUND_SLOT: ContextVar[bool] = ContextVar("holds_background_slot", default=False)


class Pool:
    """asyncpg's pool, with its outages reported as DependencyUnavailable. Everything else
    (fetch, close, get_size, ...) is the pool's own.

    Inside the block only the driver's own outage types are translated: the block may do other
    I/O (the card lock is held across ledger calls), whose failures are not the database's.

    NewStore's requests come first (issue #14): work outside them (the workers, the re-reads,
    the feed, the ledgers' webhooks) holds at most `background_limit` connections at once, half
    the pool, so the other half is always there for requests however far behind the background
    is. A request never waits for background work's connections; it may wait for other requests'
    (db_pool_acquires_queued{work="request"} counts it)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._max = pool.get_max_size()
        self.background_limit = max(1, self._max // 2)
        self._background = asyncio.Semaphore(self.background_limit)
        # Takes begun and not yet given back: asyncpg hands out its connections in that order,
        # so a take begun when `max` are out waits for one (DB_POOL_ACQUIRES_QUEUED).
        self._taking = 0
        # Connections held by a block, and the most held at once (db_pool_connections{peak_in_use}).
        self.in_use = HighWater()
        # This pool's own count of takes that found it full, by work (the metric sums every pool
        # of the process).
        self.queued = {"request": 0, "background": 0}

    def __getattr__(self, name: str):
        return getattr(self._pool, name)

    @asynccontextmanager
    async def acquire(self, *, timeout: float | None = None):
        work = "request" if IN_REQUEST.get() else "background"
        started = time.perf_counter()
        slot = None
        if work == "background" and not _HOLDS_BACKGROUND_SLOT.get():
            try:
                async with asyncio.timeout(timeout):
                    await self._background.acquire()
            except TimeoutError as error:
                raise DependencyUnavailable("TimeoutError") from error
            slot = _HOLDS_BACKGROUND_SLOT.set(True)
        entered = False
        if self._taking >= self._max:
            metrics.child(metrics.DB_POOL_ACQUIRES_QUEUED, work).inc()
            self.queued[work] += 1
        self._taking += 1
        try:
            async with self._pool.acquire(timeout=timeout) as conn:
                entered = True
                metrics.child(metrics.DB_POOL_ACQUIRE_WAIT, work).observe(time.perf_counter() - started)
                self.in_use.enter()
                try:
                    yield conn
                finally:
                    self.in_use.leave()
        except ACQUIRE_UNAVAILABLE as error:
            if entered and not isinstance(error, DRIVER_UNAVAILABLE):
                raise  # the block's own I/O failed, not the database
            raise DependencyUnavailable(type(error).__name__) from error
        finally:
            self._taking -= 1
            if slot is not None:
                _HOLDS_BACKGROUND_SLOT.reset(slot)
                self._background.release()


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, command_timeout=10,
                                     reset=_keep_session)
    log.info("database_connected", dsn=mask_dsn(dsn))
    return Pool(pool)


def start_embedded_postgres(data_dir: Path) -> tuple[str, object]:
    """Start (or reuse) a pgserver instance under data_dir; returns its URI and the handle."""
    import pgserver  # imported lazily: production never needs it

    path = (data_dir / "postgres").resolve()
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(path), cleanup_mode="stop")
    log.warning("embedded_postgres_started", data_dir=str(path))
    return server.get_uri(), server
