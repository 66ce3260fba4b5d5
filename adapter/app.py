"""create_app(settings) -> web.Application, with its resources opened in cleanup_ctx."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import structlog
from aiohttp import web

from adapter.crypto import CodeVault
from adapter.domain.cardnumbers import CardNumberReader
from adapter.http.auth import ApiKeys
from adapter.feed.delivery import FeedDelivery, feed_settings
from adapter.http.keys import API_KEYS, HTTP_SESSION, RATE_LIMITER, READINESS, SERVICES, SETTINGS, WORKERS
from adapter.http.ratelimit import RateLimiter
from adapter.http.presenter import present
from adapter.http.middleware import MIDDLEWARES
from adapter.http.routes import setup_routes
from adapter.idempotency.coordinator import IdempotencyCoordinator
from adapter.services.context import Services, ShopCurrency, UnknownCodes, utc_today
from adapter.services.poller import Poller, PollerSettings
from adapter.http.webhooks import INTAKE
from adapter.services.intake import Intake, IntakeSettings
from adapter.services.workers import Reaper, Reconciler, WorkerSettings
from adapter.observability import metrics
from adapter.observability.runtime import MeteredConnector, probe_event_loop_lag, watch_pool
from adapter.settings import Settings
from adapter.ledgers.selection import build_ledger
from adapter.store.database import create_pool
from adapter.store.migrations import migrate

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Readiness:
    draining: bool = False


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[API_KEYS] = ApiKeys(settings.api_keys)
    app[RATE_LIMITER] = RateLimiter(settings.rate_limit_per_key_per_second, settings.rate_limit_burst)
    for position in range(1, len(settings.api_keys) + 1):
        metrics.RATE_LIMITED.labels(str(position))
    app[READINESS] = Readiness()
    if not app[API_KEYS].enabled:
        log.warning("authentication_disabled", reason="NEWSTORE_API_KEYS is empty (embedded mode only)")
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(_workers)
    app.cleanup_ctx.append(_intake)
    setup_routes(app)
    return app


async def _resources(app: web.Application):
    settings = app[SETTINGS]
    assert settings.database_url is not None and settings.card_code_secrets
    pool = await create_pool(settings.database_url.get_secret_value(),
                             min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    async with pool.acquire() as conn:
        await migrate(conn)
    watch_pool(pool)
    # One session for every outbound call (the ledger's, the feed's webhooks); per-call
    # deadlines are set by the caller. The feed holds at most FEED_CONCURRENCY of its connections.
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, connect=3),
        connector=MeteredConnector(limit=100, keepalive_timeout=30),
    )
    app[HTTP_SESSION] = session
    ledger = build_ledger(settings, session, pool, utc_today)
    log.info("ledger_selected", ledger=ledger.capabilities.name, moves=ledger.capabilities.moves.value)
    vault = CodeVault(settings.card_code_secrets)
    # Key ids are not secret: they tell operators which key writes and which still read.
    log.info("card_code_keys", writing_key_id=vault.key_id.hex(), reading_key_ids=[k.hex() for k in vault.key_ids])
    coordinator = IdempotencyCoordinator(pool, vault, lease_seconds=settings.idempotency_lease_seconds,
                                         wait_seconds=settings.idempotency_wait_seconds)
    app[SERVICES] = Services(pool=pool, ledger=ledger, vault=vault, idempotency=coordinator,
                             shop_currency=ShopCurrency(ledger),
                             resend_after_seconds=settings.ledger_resend_after_seconds,
                             unknown_codes=UnknownCodes(ttl=settings.unknown_card_ttl_seconds),
                             card_numbers=CardNumberReader(settings.card_number_prefix_list,
                                                           settings.card_number_pattern),
                             feed_subscribers=settings.feed_subscriber_names,
                             sync_hold_seconds=settings.sync_hold_seconds)
    if settings.feed_subscriber_names:
        log.info("feed_subscribers", names=list(settings.feed_subscriber_names))
    try:
        yield
    finally:
        await session.close()
        await pool.close()


def worker_settings(settings: Settings) -> WorkerSettings:
    return WorkerSettings(
        reconcile_interval=settings.reconcile_interval_seconds,
        grace=settings.reconcile_grace_seconds,
        lease=settings.idempotency_lease_seconds,
        deadline=settings.request_deadline_seconds,
        reverse_after=settings.reverse_unanswered_debit_after_seconds,
        reap_interval=settings.reap_interval_seconds,
        retention_days=settings.idempotency_retention_days,
    )


@dataclass
class Workers:
    reconciler: Reconciler
    reaper: Reaper
    poller: Poller
    stopping: asyncio.Event
    # The feed's webhook delivery, when FEED_SUBSCRIBERS names any.
    feed: FeedDelivery | None = None


async def _workers(app: web.Application):
    """The reconciler, the reaper, the poller and the feed's delivery, stopped between records at shutdown."""
    settings = app[SETTINGS]
    config = worker_settings(settings)
    services = app[SERVICES]
    poller = Poller(services, PollerSettings(settings.poll_interval_seconds, settings.poll_batch,
                                             settings.request_deadline_seconds))
    workers = Workers(Reconciler(services, present, config), Reaper(services, config), poller, asyncio.Event())
    if settings.feed_subscriber_list:
        workers.feed = FeedDelivery(services.pool, app[HTTP_SESSION], settings.feed_subscriber_list,
                                    feed_settings(settings))
    app[WORKERS] = workers
    tasks = [asyncio.create_task(probe_event_loop_lag(workers.stopping))]
    if settings.workers_enabled:
        tasks += [asyncio.create_task(workers.reconciler.run(workers.stopping)),
                  asyncio.create_task(workers.reaper.run(workers.stopping))]
        if settings.poll_enabled:
            tasks.append(asyncio.create_task(workers.poller.run(workers.stopping)))
        if workers.feed is not None:
            tasks.append(asyncio.create_task(workers.feed.run(workers.stopping)))
    try:
        yield
    finally:
        workers.stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _intake(app: web.Application):
    """The webhooks' re-reads (issue #12): started right after each answer, and drained by every
    replica's worker for what is left (WORKERS_ENABLED; tests drive drain_once themselves)."""
    settings = app[SETTINGS]
    intake = Intake(app[SERVICES], IntakeSettings(interval=settings.intake_interval_seconds,
                                                  deadline=settings.request_deadline_seconds))
    app[INTAKE] = intake
    stopping = asyncio.Event()
    task = asyncio.create_task(intake.run(stopping)) if settings.workers_enabled else None
    if settings.workers_enabled:  # tests without workers drive every re-read themselves
        app[SERVICES].idempotency.on_applied = intake.note_applied
    try:
        yield
    finally:
        stopping.set()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        await intake.close()
