"""Shared fixtures: a real Postgres, the ledgers' stand-ins over real HTTP, the adapter over real HTTP.

Postgres comes from TEST_DATABASE_URL if set, else a testcontainers Postgres if a Docker engine
answers, else an embedded pgserver. Each run works in a database of its own.

Two ways to a ledger:
- `ledger`: parametrised over the three ledgers (ids shopify, shopline, gifthero), a
  tests.standins stand-in; `make_adapter` / `adapter` then serve on that ledger. For what the
  port promises on every ledger.
- `sandbox`: the Shopify sandbox alone, for what is about Shopify (GraphQL cost, searches,
  notes, gid ids, the transport). A test that asks for neither gets the sandbox.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import shutil
import tempfile
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pydantic import SecretStr

from adapter import jsonio
from adapter.observability.logging import configure_logging

# Keys must be at least 32 characters (adapter.settings.MIN_API_KEY_LENGTH).
API_KEY = "test-key-current-0123456789abcdef"
OLD_API_KEY = "test-key-previous-0123456789abcdef"
CARD_CODE_KEY = "k" * 40
AUTH = {"Authorization": f"Bearer {API_KEY}"}

LOG_BUFFER = io.StringIO()


def pytest_configure(config):
    # Every log line of the run lands here, so tests can grep it for secrets.
    configure_logging("json", "DEBUG", stream=LOG_BUFFER)


@pytest.fixture
def captured_logs():
    start = LOG_BUFFER.tell()

    def read() -> str:
        return LOG_BUFFER.getvalue()[start:]

    return read


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def postgres_server_url():
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    import pgserver

    data_dir = tempfile.mkdtemp(prefix="gca-pg-")
    server = pgserver.get_server(data_dir, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def database_url(postgres_server_url):
    """A fresh database for this run, migrated to the latest version."""
    name = f"gca_test_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(postgres_server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = _with_database(postgres_server_url, name)

    async def migrate_latest() -> None:
        from adapter.store.migrations import migrate

        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(migrate_latest())
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def db(database_url):
    """A pool on the test database, emptied before each test."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
        if tables:
            await conn.execute("TRUNCATE " + ", ".join(f'"{t["tablename"]}"' for t in tables) + " RESTART IDENTITY CASCADE")
    yield pool
    await pool.close()


@pytest.fixture
async def sandbox():
    from giftcard_emulators.shopify.server import start_sandbox

    running = await start_sandbox("127.0.0.1", 0)
    yield running
    await running.close()


@pytest.fixture(params=["shopify", "shopify-2025-01", "shopline", "gifthero"])
async def ledger(request, db):
    """The ledger this test runs on: a tests.standins stand-in with its emulator started (and
    the test's database, where an operator registers cards made elsewhere)."""
    from tests.standins import STANDINS

    standin = await STANDINS[request.param](db=db).start()
    yield standin
    await standin.close()


@pytest.fixture
def ledger_if_any(request):
    """The test's `ledger` if it has one, else None; for autouse fixtures, which must not
    parametrise every test of their module by asking for `ledger` themselves."""
    return request.getfixturevalue("ledger") if "ledger" in request.fixturenames else None


def ledger_overrides(ledger) -> dict:
    """The settings that point the adapter at `ledger`: a stand-in, or the Shopify sandbox."""
    if hasattr(ledger, "settings_overrides"):
        return ledger.settings_overrides()
    return {"shopify_graphql_url": ledger.graphql_url, "shopify_access_token": SecretStr(ledger.config.access_token)}


def adapter_settings(database_url: str, served_ledger, /, **overrides):
    """`served_ledger`: a tests.standins stand-in or the Shopify sandbox (the `sandbox` fixture);
    `overrides` are settings (`ledger=` among them: the setting, not a stand-in)."""
    from adapter.settings import Settings

    values = dict(
        # Embedded mode: the only one that lets the ledger URL be http (an emulator, on loopback).
        # Everything else is configured as in production.
        embedded=True,
        database_url=SecretStr(database_url),
        **ledger_overrides(served_ledger),
        newstore_api_keys=SecretStr(f"{API_KEY},{OLD_API_KEY}"),
        card_code_key=SecretStr(CARD_CODE_KEY),
        idempotency_wait_seconds=3.0,
        workers_enabled=False,  # tests drive the reconciler and reaper passes themselves
        sync_hold_seconds=0,  # re-reads mirror at once; the intake's Shopify tests hold (SYNC_HOLD_SECONDS)
    )
    values.update(overrides)
    settings = Settings(**values)
    settings.check()
    return settings


@pytest.fixture
def make_adapter(request, aiohttp_client, database_url, db):
    """Start an adapter app (real HTTP) with optional setting overrides, on the test's `ledger`
    if it asks for one, else on the Shopify sandbox."""
    from adapter.app import create_app

    served = request.getfixturevalue("ledger" if "ledger" in request.fixturenames else "sandbox")

    async def make(**overrides):
        # Request bodies are serialised like NewStore's: Decimals as exact JSON numbers.
        return await aiohttp_client(create_app(adapter_settings(database_url, served, **overrides)),
                                    json_serialize=lambda value: jsonio.dumps(value).decode())

    return make


@pytest.fixture
async def adapter(make_adapter):
    return await make_adapter()
