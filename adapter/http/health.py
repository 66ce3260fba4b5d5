"""Liveness (no dependencies) and readiness (Postgres reachable, migrations applied)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from adapter import jsonio
from adapter.observability import metrics
from adapter.http.keys import READINESS, SERVICES
from adapter.store.migrations import current_version, latest_version


def _json(status: int, body: dict) -> web.Response:
    return web.Response(status=status, body=jsonio.dumps(body), content_type="application/json")


def _readiness(status: int, body: dict) -> web.Response:
    metrics.READY.set(1 if status == 200 else 0)
    return _json(status, body)


async def live(request: web.Request) -> web.Response:
    return _json(200, {"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    state = request.app[READINESS]
    if getattr(state, "draining", False):
        return _readiness(503, {"status": "draining"})
    services = request.app[SERVICES]
    try:
        async with asyncio.timeout(2):
            async with services.pool.acquire() as conn:
                version = await current_version(conn)
    except Exception:
        return _readiness(503, {"status": "unavailable", "postgres": "unreachable"})
    expected = latest_version()
    if version != expected:
        return _readiness(503, {"status": "unavailable", "migrations": f"at {version}, expected {expected}"})
    return _readiness(200, {"status": "ok", "postgres": "ok", "migrations": version})
