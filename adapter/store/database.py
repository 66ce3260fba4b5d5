"""The asyncpg pool, and the embedded Postgres for local runs."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)


def mask_dsn(dsn: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db, for logs."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", dsn)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook. asyncpg still rolls back an open transaction first; what it would
    otherwise add (RESET ALL, UNLISTEN, advisory unlock: one round trip per release) guards
    session state we never change outside a `finally` that restores it."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, command_timeout=10,
                                     reset=_keep_session)
    log.info("database_connected", dsn=mask_dsn(dsn))
    return pool


def start_embedded_postgres(data_dir: Path) -> tuple[str, object]:
    """Start (or reuse) a pgserver instance under data_dir; returns its URI and the handle."""
    import pgserver  # imported lazily: production never needs it

    path = (data_dir / "postgres").resolve()
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(path), cleanup_mode="stop")
    log.warning("embedded_postgres_started", data_dir=str(path))
    return server.get_uri(), server
