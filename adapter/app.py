"""create_app(settings) -> web.Application, with its resources opened in cleanup_ctx."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import structlog
from aiohttp import web

from adapter.crypto import CodeVault
from adapter.http.auth import ApiKeys
from adapter.http.keys import API_KEYS, READINESS, SERVICES, SETTINGS
from adapter.http.middleware import handle
from adapter.http.routes import setup_routes
from adapter.idempotency.coordinator import IdempotencyCoordinator
from adapter.services.context import Services, ShopCurrency
from adapter.settings import Settings
from adapter.shopify.client import ShopifyClient
from adapter.store.database import create_pool
from adapter.store.migrations import migrate

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Readiness:
    draining: bool = False


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[handle], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[API_KEYS] = ApiKeys(settings.api_keys)
    app[READINESS] = Readiness()
    if not app[API_KEYS].enabled:
        log.warning("authentication_disabled", reason="NEWSTORE_API_KEYS is empty (embedded mode only)")
    app.cleanup_ctx.append(_resources)
    setup_routes(app)
    return app


def graphql_url(settings: Settings) -> str:
    if settings.shopify_graphql_url:
        return settings.shopify_graphql_url
    return ShopifyClient.graphql_url_for(settings.shopify_shop_domain or "", settings.shopify_api_version)


async def _resources(app: web.Application):
    settings = app[SETTINGS]
    assert settings.database_url is not None and settings.card_code_key is not None
    assert settings.shopify_access_token is not None
    pool = await create_pool(settings.database_url.get_secret_value(),
                             min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    async with pool.acquire() as conn:
        await migrate(conn)
    # One session for every Shopify call; per-call deadlines are set by the client.
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, connect=3),
        connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30),
    )
    ledger = ShopifyClient(session, graphql_url=graphql_url(settings),
                           access_token=settings.shopify_access_token.get_secret_value(),
                           api_version=settings.shopify_api_version)
    vault = CodeVault(settings.card_code_key.get_secret_value())
    coordinator = IdempotencyCoordinator(pool, vault, lease_seconds=settings.idempotency_lease_seconds,
                                         wait_seconds=settings.idempotency_wait_seconds)
    app[SERVICES] = Services(pool=pool, ledger=ledger, vault=vault, idempotency=coordinator,
                             shop_currency=ShopCurrency(ledger))
    try:
        yield
    finally:
        await session.close()
        await pool.close()
