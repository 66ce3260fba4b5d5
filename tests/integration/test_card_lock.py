"""The card write lock of the absolute-balance protocol (store.balance_intents.card_lock) is never
left behind on a pooled connection.

Found by a chaos run on Gift Card Hero: a write's settlement was deferred 60 times over 80 s as
"card busy". The pool does not unlock on release (store.database._keep_session), so a task
interrupted once Postgres had granted the lock, before the block that unlocks (the request's
deadline cancels it there), put a connection back into the pool that held the card's lock for
good. Such a connection is now closed, which frees the lock.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import asyncpg
import pytest

from adapter.store.balance_intents import CARD_LOCK_SPACE, card_lock
from adapter.store.database import create_pool
from tests.served import wait_for


class _CancelledOnceLocked:
    """A connection whose task is cancelled by its deadline right after the lock was granted."""

    def __init__(self, conn) -> None:
        self._conn = conn

    async def execute(self, query: str, *args):
        if query == "RESET lock_timeout":
            raise asyncio.CancelledError()
        return await self._conn.execute(query, *args)

    def terminate(self) -> None:
        self._conn.terminate()


class _Interrupting:
    def __init__(self, pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def acquire(self, timeout=None):
        async with self.pool.acquire(timeout=timeout) as conn:
            yield _CancelledOnceLocked(conn)


async def _lock_is_free(database_url: str, card_id: str) -> bool:
    other = await asyncpg.connect(database_url)  # a session of its own, never one of the pool's
    try:
        taken = await other.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", CARD_LOCK_SPACE, card_id)
        if taken:
            await other.execute("SELECT pg_advisory_unlock($1, hashtext($2))", CARD_LOCK_SPACE, card_id)
        return taken
    finally:
        await other.close()


async def test_a_task_interrupted_once_the_lock_is_granted_does_not_leave_it_held(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=1)  # the production pool: no unlock on release
    try:
        with pytest.raises(asyncio.CancelledError):
            async with card_lock(_Interrupting(pool), "card-1", asyncio.get_running_loop().time() + 5):
                pass
        assert await wait_for(lambda: _lock_is_free(database_url, "card-1"), timeout=5)
        # And the pool still serves (the closed connection was replaced).
        async with card_lock(pool, "card-1", asyncio.get_running_loop().time() + 5) as conn:
            assert await conn.fetchval("SELECT 1") == 1
        assert await _lock_is_free(database_url, "card-1")
    finally:
        await pool.close()
