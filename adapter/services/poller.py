"""The poller (issue #12): changes made where the adapter never sees them (a checkout, an admin,
another app) reach the mirror even when no webhook announces them.

One replica polls at a time (a lease in Postgres). Each pass re-reads a bounded batch of known
cards, the longest unsynced first, so the poller spends at most `batch` card reads of the
ledger's budget per `interval` and never crowds out NewStore's calls. Ledger-specific change
lists (Shopify's giftCards by UPDATED_AT, SHOPLINE's since_id, Gift Card Hero's transactions)
would find changed cards sooner; until then every known card is re-read in turn.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from adapter.domain.errors import UseCaseError
from adapter.observability import metrics
from adapter.reconciliation import reconcile
from adapter.services.context import Services
from adapter.services.reread import reread
from adapter.store import poller as store

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PollerSettings:
    interval: float = 30.0     # seconds between passes
    batch: int = 20            # cards re-read per pass
    deadline: float = 8.0      # per card


class Poller:
    def __init__(self, services: Services, settings: PollerSettings) -> None:
        self._services = services
        self._settings = settings
        self._ledger = services.ledger.capabilities.name

    async def run_once(self, stopping: asyncio.Event | None = None) -> dict[str, int]:
        services, settings = self._services, self._settings
        owner = services.idempotency.owner
        lease = settings.interval * 3 + settings.batch * settings.deadline
        async with services.pool.acquire() as conn:
            if not await store.take_lease(conn, self._ledger, owner, lease):
                return {"not_leader": 1}
            cards = await store.cards_due(conn, settings.batch)
        results = {"cards": 0, "events": 0, "failed": 0}
        loop = asyncio.get_running_loop()
        for card_id in cards:
            if stopping is not None and stopping.is_set():
                break
            try:
                results["events"] += await reread(services, card_id, loop.time() + settings.deadline)
                results["cards"] += 1
            except UseCaseError as error:
                results["failed"] += 1
                log.info("poll_card_deferred", card_id=card_id, reason=error.message)
        async with services.pool.acquire() as conn:
            await store.record_pass(conn, self._ledger, datetime.now(UTC).isoformat())
            # The books, as far as the mirror has caught up: /metrics shows drift as it appears.
            report = await reconcile(conn, datetime.now(UTC) - timedelta(hours=24))
        for kind, count in report.drift.items():
            metrics.RECONCILIATION_DRIFT.labels(kind).set(count)
        return results

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.run_once(stopping)
            except Exception:
                log.warning("poller_pass_failed", exc_info=True)
            try:
                await asyncio.wait_for(stopping.wait(), self._settings.interval * random.uniform(0.8, 1.2))
            except TimeoutError:
                pass
