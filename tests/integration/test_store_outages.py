"""The store reports its outages as our own DependencyUnavailable (a 503 to retry), and nothing
above it needs to know the driver's exceptions; other failures inside a held connection's
block stay what they are."""

from __future__ import annotations

import pytest

from adapter.domain.errors import DependencyUnavailable
from adapter.store.database import create_pool


async def test_a_connection_lost_inside_the_block_is_a_dependency_outage(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        with pytest.raises(DependencyUnavailable):
            async with pool.acquire() as conn:
                conn.terminate()  # as if Postgres restarted under us
                await conn.fetchval("SELECT 1")
        async with pool.acquire() as conn:  # the pool recovers: a fresh connection
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


async def test_no_free_connection_in_time_is_a_dependency_outage(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire():
            with pytest.raises(DependencyUnavailable):
                async with pool.acquire(timeout=0.05):
                    pass
    finally:
        await pool.close()


async def test_other_io_failing_inside_the_block_is_not_blamed_on_the_database(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        with pytest.raises(ConnectionResetError):
            async with pool.acquire():
                raise ConnectionResetError("the ledger hung up")  # e.g. a call made under the card lock
    finally:
        await pool.close()
