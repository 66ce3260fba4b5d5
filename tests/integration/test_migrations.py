"""Stairway: every migration goes up, down and up again on an empty database."""

import secrets
from contextlib import asynccontextmanager

import asyncpg

from adapter.store.migrations import current_version, load_migrations, migrate
from tests.conftest import _with_database


async def _tables(conn) -> set[str]:
    """The schema's tables and indexes (a migration may add only an index)."""
    rows = await conn.fetch("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' "
                            "UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    return {r["name"] for r in rows} - {"schema_migrations", "schema_migrations_pkey"}


@asynccontextmanager
async def fresh_database(server_url: str, prefix: str):
    """A connection to a new, empty database, dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(_with_database(server_url, name))
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_each_migration_goes_up_down_and_up_again(postgres_server_url):
    name = f"gca_stairway_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(_with_database(postgres_server_url, name))
        try:
            seen = [set()]
            for step in load_migrations():
                assert await migrate(conn, step.version) == step.version
                after_up = await _tables(conn)
                assert after_up != seen[-1], f"migration {step.version} changed nothing"
                assert await migrate(conn, step.version - 1) == step.version - 1
                assert await _tables(conn) == seen[-1]
                assert await migrate(conn, step.version) == step.version
                assert await _tables(conn) == after_up
                seen.append(after_up)
            assert await current_version(conn) == len(load_migrations())
            assert await migrate(conn) == len(load_migrations())  # nothing left to do
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_concurrent_migrations_serialise_on_the_advisory_lock(postgres_server_url):
    import asyncio

    name = f"gca_lock_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _with_database(postgres_server_url, name)
        conns = [await asyncpg.connect(url) for _ in range(3)]
        versions = await asyncio.gather(*(migrate(c) for c in conns))
        assert versions == [len(load_migrations())] * 3
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(load_migrations())
        for c in conns:
            await c.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_old_capture_refund_and_revoke_records_move_into_their_instruments_scope(postgres_server_url):
    """A retry of a key answered before keys were scoped by instrument still finds its answer."""
    import uuid

    async with fresh_database(postgres_server_url, "gca_scope") as conn:
        await migrate(conn, 2)
        instrument = uuid.uuid4()
        ids = {}
        for operation in ("refund", "capture", "revoke", "authorize"):
            ids[operation] = await conn.fetchval(
                """INSERT INTO idempotency_keys (operation, key, fingerprint, state, response_status, response_body)
                   VALUES ($1, 'reduction-cancel-acct', '\\x00', 'final', 200, '[]') RETURNING id""", operation)
        await conn.execute("""INSERT INTO ledger_writes (write_id, idempotency_id, operation, instrument_id)
                              VALUES ($1, $2, 'refund', $3)""", "a" * 32, ids["refund"], instrument)
        await conn.execute("""INSERT INTO audit_log (operation, instrument_id, idempotency_key_id)
                              VALUES ('capture', $1, $2)""", instrument, ids["capture"])
        await migrate(conn, 3)
        keys = dict(await conn.fetch("SELECT operation, key FROM idempotency_keys"))
        assert keys == {"refund": f"{instrument}/reduction-cancel-acct",
                        "capture": f"{instrument}/reduction-cancel-acct",
                        "revoke": "reduction-cancel-acct",     # instrument known nowhere: a decline
                        "authorize": "reduction-cancel-acct"}  # authorize is not instrument-scoped
        await migrate(conn, 2)
        assert set(dict(await conn.fetch("SELECT operation, key FROM idempotency_keys")).values()) == {
            "reduction-cancel-acct"}
