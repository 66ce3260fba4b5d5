"""Work a request starts in the background once its answer is on its way, never before it.

A use case that hands work to the background (the re-read of a card our write changed:
Intake.note_applied) used to start it at once; the task then ran at the request's next await (the
pool's release of the connection, which yields) and sent its first statement before our answer
was written: a fraction of a millisecond added to every write's answer. `defer` keeps the work
until the request's task has ended, its answer written (adapter.http.middleware.request_context
opens the list for each request); outside a request (the settler, a worker) it runs at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar

import structlog

log = structlog.get_logger(__name__)

_PENDING: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_answer", default=None)


def defer(start: Callable[[], None]) -> None:
    """Call `start` (which only schedules work, never waits) once the current request's answer
    is written; at once outside a request."""
    pending = _PENDING.get()
    if pending is None:
        start()
    else:
        pending.append(start)


def open_for_request() -> None:
    """Collect what this request defers, and start it when the request's task ends (aiohttp
    answers each request in a task of its own, and writes the answer before that task ends)."""
    task = asyncio.current_task()
    if task is None:
        return
    pending: list[Callable[[], None]] = []
    _PENDING.set(pending)
    task.add_done_callback(lambda _task: _start_all(pending))


def _start_all(pending: list[Callable[[], None]]) -> None:
    for start in pending:
        try:
            start()
        except Exception:  # the answer is out: nothing here may fail anything
            log.warning("after_answer_failed", exc_info=True)
    pending.clear()
