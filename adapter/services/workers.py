"""Background work every replica runs: the reconciler and the key reaper.

Replicas never step on each other: records are leased with FOR UPDATE SKIP LOCKED, and each
record is then worked on under its own lease like any request. The reconciler's ledger calls are
background work (ports.background_work): when the ledger's budget runs short they are refused,
not queued in front of NewStore's, and the record waits for the next pass. Shutdown stops a worker between
records, never inside one.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import timedelta

import structlog

from adapter.domain.errors import UseCaseError
from adapter.idempotency.coordinator import Presenter
from adapter.observability import metrics
from adapter.ports import background_work
from adapter.services.context import Services
from adapter.services.settlement import settle
from adapter.store import maintenance, writes

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    reconcile_interval: float = 5.0
    grace: float = 5.0            # a caller's own retry gets this long to come back first
    batch: int = 20
    lease: float = 20.0
    deadline: float = 8.0         # per settled record
    reverse_after: float = 1800.0
    reap_interval: float = 60.0
    # A reaped record costs Postgres far more than its own row: its ledger write's foreign key
    # (ON DELETE SET NULL) rewrites that write, with a new entry in each of its indexes (nine
    # tenths of a batch's time on 5M records). Batches of 500 back to back took claims to 1.8-2.4x
    # their p50 and 2.1-2.7x their p99 while a backlog was reaped (bench.growth, two runs); batches
    # of 50, each followed by a pause nine times as long as it took, to 1.1-1.2x and 1.2-1.3x, at
    # 500-850 records/s (a month's records expire at the rate they were made: at 100 requests/s,
    # a fifth of that or less).
    reap_batch: int = 50
    reap_duty: float = 0.1        # the share of a pass's time spent in its batches
    retention_days: int = 30


class Reconciler:
    def __init__(self, services: Services, presenter: Presenter, settings: WorkerSettings) -> None:
        self._services = services
        self._presenter = presenter
        self._settings = settings

    async def run_once(self, stopping: asyncio.Event | None = None) -> dict[str, int]:
        """One pass: lease a batch of stale open records and settle each. Returns result counts."""
        services, settings = self._services, self._settings
        coordinator = services.idempotency
        async with services.pool.acquire() as conn:
            leased = await maintenance.claim_stale(conn, coordinator.owner, settings.lease, settings.grace, settings.batch)
        results: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        for index, record in enumerate(leased):
            if stopping is not None and stopping.is_set():
                for rest in leased[index:]:
                    await coordinator.release(rest.id)
                break
            claim = coordinator.claim_for(record, self._presenter)
            try:
                with background_work():  # never before NewStore's calls on the ledger's budget
                    result = await settle(services, claim, loop.time() + settings.deadline,
                                          reverse_after=timedelta(seconds=settings.reverse_after))
            except UseCaseError as error:
                result = "deferred"
                log.info("settlement_deferred", reason=error.message)
            except Exception:
                result = "failed"
                log.exception("settlement_failed")
            if result in ("still_unknown", "awaiting_retry", "deferred", "failed"):
                await coordinator.release(record.id)
            results[result] = results.get(result, 0) + 1
        if stopping is None or not stopping.is_set():
            # What the ledger's own adapter left to finish (checks of absolute-balance PUTs).
            try:
                with background_work():
                    finished = await services.ledger.settle_background(deadline=loop.time() + settings.deadline)
                if finished:
                    results["ledger_background"] = finished
            except Exception:
                log.warning("ledger_background_failed", exc_info=True)
        async with services.pool.acquire() as conn:
            metrics.OLDEST_UNSETTLED.set(await writes.oldest_unsettled_age(conn))
            metrics.OPEN_REVIEWS.set(await writes.open_reviews(conn))
        return results

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.run_once(stopping)
                metrics.RECONCILER_RUNS.labels("ok").inc()
            except Exception:
                metrics.RECONCILER_RUNS.labels("error").inc()
                log.warning("reconciler_pass_failed", exc_info=True)
            await _sleep_unless(stopping, self._settings.reconcile_interval * random.uniform(0.8, 1.2))


class Reaper:
    def __init__(self, services: Services, settings: WorkerSettings) -> None:
        self._services = services
        self._settings = settings

    async def run_once(self, stopping: asyncio.Event | None = None) -> int:
        """Delete expired records in small batches (short transactions, no long locks), pausing
        after each in proportion to how long it took (reap_duty): the requests keep most of the
        database, and a slow database gets longer pauses."""
        settings = self._settings
        rest = (1 - settings.reap_duty) / settings.reap_duty
        total = 0
        while stopping is None or not stopping.is_set():
            started = _monotonic()
            async with self._services.pool.acquire() as conn:
                deleted = await maintenance.reap_expired(conn, settings.retention_days, settings.reap_batch)
            total += deleted
            metrics.REAPED_KEYS.inc(deleted)
            if deleted < settings.reap_batch:
                break
            await _pause(stopping, (_monotonic() - started) * rest)
        if total:
            log.info("idempotency_keys_reaped", count=total)
        return total

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.run_once(stopping)
            except Exception:
                log.warning("reaper_pass_failed", exc_info=True)
            await _sleep_unless(stopping, self._settings.reap_interval * random.uniform(0.8, 1.2))


def _monotonic() -> float:
    return asyncio.get_running_loop().time()


async def _pause(stopping: asyncio.Event | None, seconds: float) -> None:
    if stopping is None:
        await asyncio.sleep(seconds)
    else:
        await _sleep_unless(stopping, seconds)


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
