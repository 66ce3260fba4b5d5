"""Numbered SQL migrations (sql/NNN_name.up.sql / .down.sql) applied under an advisory lock.

The lock makes concurrent start-ups of several replicas safe: one applies, the others wait and
then find nothing left to do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)

# Arbitrary but fixed: the advisory lock key every replica agrees on.
MIGRATION_LOCK_KEY = 0x6763615F6D6967  # "gca_mig"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.up\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str


def sql_dir() -> Path:
    configured = os.environ.get("ADAPTER_SQL_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "sql"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    found = []
    for path in sorted(directory.glob("*.up.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise RuntimeError(f"badly named migration {path.name}")
        down = path.with_name(path.name.replace(".up.sql", ".down.sql"))
        found.append(Migration(int(match[1]), match[2], path.read_text(), down.read_text()))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


async def _ensure_table(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )


async def current_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")


def latest_version() -> int:
    return len(load_migrations())


async def migrate(conn: asyncpg.Connection, target: int | None = None) -> int:
    """Bring the schema to `target` (default: latest), up or down. Returns the new version."""
    migrations = load_migrations()
    target = len(migrations) if target is None else target
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await _ensure_table(conn)
        version = await current_version(conn)
        while version < target:
            step = migrations[version]
            async with conn.transaction():
                await conn.execute(step.up)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", step.version, step.name
                )
            log.info("migration_applied", version=step.version, name=step.name)
            version += 1
        while version > target:
            step = migrations[version - 1]
            async with conn.transaction():
                await conn.execute(step.down)
                await conn.execute("DELETE FROM schema_migrations WHERE version = $1", step.version)
            log.info("migration_reverted", version=step.version, name=step.name)
            version -= 1
        return version
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
