"""Embedded defaults for local runs: Postgres, the Shopify sandbox, a development code key.

Only for EMBEDDED=true (or `--embedded`): each stand-in is announced loudly in the log, none of
them belongs in production, and without the flag Settings.check() refuses to start on anything
missing rather than reaching for these.
"""

from __future__ import annotations

import os
import secrets
from contextlib import AsyncExitStack

import structlog
from pydantic import SecretStr

from adapter.settings import Settings
from adapter.store.database import start_embedded_postgres

log = structlog.get_logger(__name__)


def dev_card_code_key(settings: Settings) -> SecretStr:
    """A random key kept in the data directory, so local card digests survive restarts."""
    path = settings.data_dir / "dev-card-code-key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return SecretStr(path.read_text().strip())


async def with_embedded_defaults(settings: Settings, stack: AsyncExitStack, *, ledger: bool = True) -> Settings:
    """Fill what is not configured with local stand-ins; `ledger=False` skips the sandbox."""
    if not settings.embedded:
        raise ValueError("embedded defaults asked for outside embedded mode")
    updates: dict[str, object] = {}
    if settings.database_url is None:
        uri, server = start_embedded_postgres(settings.data_dir)
        stack.callback(server.cleanup)
        updates["database_url"] = SecretStr(uri)
    if ledger and not settings.shop_configured:
        from adapter.sandbox.server import start_sandbox

        sandbox = await start_sandbox("127.0.0.1", 0)
        stack.push_async_callback(sandbox.close)
        log.warning(
            "SHOPIFY_SANDBOX_IN_USE",
            message="No shop configured: using the built-in Shopify sandbox. No real money moves.",
            graphql_url=sandbox.graphql_url,
        )
        updates["shopify_graphql_url"] = sandbox.graphql_url
        updates["shopify_access_token"] = SecretStr(sandbox.config.access_token)
    if settings.card_code_key is None:
        log.warning("dev_card_code_key_in_use", path=str(settings.data_dir / "dev-card-code-key"))
        updates["card_code_key"] = dev_card_code_key(settings)
    return settings.model_copy(update=updates)
