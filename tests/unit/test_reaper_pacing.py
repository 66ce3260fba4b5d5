"""The reaper pauses after each full batch in proportion to how long the batch took."""

import asyncio
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest

from adapter.services import workers
from adapter.services.workers import Reaper, WorkerSettings


class FakePool:
    @asynccontextmanager
    async def acquire(self):
        yield object()


@pytest.fixture
def pass_of(monkeypatch):
    """Run one pass over batches that delete `counts` and take `seconds` each; answers the total
    reaped and the pauses asked for."""

    def run(counts: list[int], seconds: list[float], settings: WorkerSettings, stopping=None):
        clock = [100.0]
        batches = iter(zip(counts, seconds))
        pauses: list[float] = []

        async def reap_expired(conn, retention_days, batch):
            assert (retention_days, batch) == (settings.retention_days, settings.reap_batch)
            deleted, took = next(batches)
            clock[0] += took
            return deleted

        async def pause(stop, seconds):
            pauses.append(round(seconds, 6))
            if stopping is not None and len(pauses) == 2:
                stopping.set()

        monkeypatch.setattr(workers.maintenance, "reap_expired", reap_expired)
        monkeypatch.setattr(workers, "_monotonic", lambda: clock[0])
        monkeypatch.setattr(workers, "_pause", pause)
        total = asyncio.run(Reaper(SimpleNamespace(pool=FakePool()), settings).run_once(stopping))
        return total, pauses

    return run


def test_each_full_batch_is_followed_by_a_pause_nine_times_as_long(pass_of):
    settings = WorkerSettings(reap_batch=50, reap_duty=0.1)
    total, pauses = pass_of([50, 50, 7], [0.02, 0.05, 0.01], settings)
    assert total == 107
    assert pauses == [0.18, 0.45]  # none after the last, short batch: the pass is over


def test_the_duty_sets_the_pause(pass_of):
    total, pauses = pass_of([10, 0], [0.04, 0.01], WorkerSettings(reap_batch=10, reap_duty=0.5))
    assert (total, pauses) == (10, [0.04])


def test_a_stop_ends_the_pass_between_batches(pass_of):
    stopping = asyncio.Event()
    total, pauses = pass_of([5, 5, 5, 5], [0.01] * 4, WorkerSettings(reap_batch=5), stopping)
    assert total == 10 and len(pauses) == 2
