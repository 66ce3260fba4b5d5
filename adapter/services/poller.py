"""The poller (issue #12): changes made where the adapter never sees them (a checkout, an admin,
another app) reach the mirror even when no webhook announces them.

One replica polls at a time (a lease in Postgres). Each pass first asks the ledger's change list
(LedgerPort.changed_cards: Shopify's giftCards by UPDATED_AT, SHOPLINE's new cards by since_id,
Gift Card Hero's search by updated_at) what changed since the durable watermark; cards it names
are registered if new and put first. Then it re-reads a bounded batch of known cards: never
synced, then listed as changed, then the longest unsynced, so every known card gets its turn.
The poller spends at most the change list's pages and `batch` card re-reads per `interval`, all
on the lookups' terms where the ledger rations its budget (refused at once, never queued in
front of NewStore's calls).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from adapter.domain.errors import LedgerBusy, UseCaseError
from adapter.observability import metrics
from adapter.ports import LedgerError
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
        loop = asyncio.get_running_loop()
        async with services.pool.acquire() as conn:
            if not await store.take_lease(conn, self._ledger, owner, lease):
                metrics.POLLER_PASSES.labels("not_leader").inc()
                return {"not_leader": 1}
            since = await store.watermark(conn, self._ledger)
        results = {"changed": 0, "cards": 0, "events": 0, "failed": 0}
        try:
            changes = await services.ledger.changed_cards(since=since, deadline=loop.time() + settings.deadline)
        except LedgerError as error:  # the round below still runs; the list is asked again next pass
            changes = None
            log.info("poll_change_list_deferred", reason=type(error).__name__)
        async with services.pool.acquire() as conn:
            if changes is not None:
                await store.record_changes(conn, self._ledger, changes.cards, changes.watermark)
                results["changed"] = len(changes.cards)
            cards = await store.cards_due(conn, settings.batch)
        for index, card_id in enumerate(cards):
            if stopping is not None and stopping.is_set():
                break
            try:
                results["events"] += await reread(services, card_id, loop.time() + settings.deadline)
                results["cards"] += 1
                metrics.POLLER_CARDS.labels("reread").inc()
            except LedgerBusy as error:
                # The ledger takes no more now (its budget is kept for NewStore's calls, or it is
                # down): the rest of the batch would be refused as well, each after its own queries
                # (bench.priority, 50 a pass every 0.5 s: authorize p99 18-19 ms against 9-11 alone;
                # stopping here, 16.8 against 17.6). They stay due, first in the next pass.
                left = len(cards) - index
                results["failed"] += left
                metrics.POLLER_CARDS.labels("deferred").inc(left)
                log.info("poll_batch_deferred", reason=error.message, cards=left)
                break
            except UseCaseError as error:
                results["failed"] += 1
                metrics.POLLER_CARDS.labels("deferred").inc()
                log.info("poll_card_deferred", card_id=card_id, reason=error.message)
        async with services.pool.acquire() as conn:
            # The books, as far as the mirror has caught up: /metrics shows drift as it appears.
            report = await reconcile(conn, datetime.now(UTC) - timedelta(hours=24))
        for kind, count in report.drift.items():
            metrics.RECONCILIATION_DRIFT.labels(kind).set(count)
        metrics.POLLER_PASSES.labels("led").inc()
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
