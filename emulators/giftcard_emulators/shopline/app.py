"""The SHOPLINE emulator's aiohttp application."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from giftcard_emulators.shopline.api import error_response
from giftcard_emulators.shopline.api import routes as api_routes
from giftcard_emulators.shopline.config import ShoplineConfig
from giftcard_emulators.shopline.control import routes as control_routes
from giftcard_emulators.shopline.runtime import Emulator

EMULATOR: web.AppKey[Emulator] = web.AppKey("shopline_emulator", Emulator)


@web.middleware
async def trace_ids(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every answer carries a fresh `traceId`; unknown /admin paths and methods answer SHOPLINE's
    `{"errors": ...}` rather than aiohttp's text pages."""
    trace_id = uuid.uuid4().hex
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if not request.path.startswith("/admin/"):
            exc.headers["traceId"] = trace_id
            raise
        response = error_response(exc.status, exc.reason)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    response.headers["traceId"] = trace_id
    return response


def create_shopline_app(config: ShoplineConfig | None = None, emulator: Emulator | None = None) -> web.Application:
    emulator = emulator or Emulator(config or ShoplineConfig())
    app = web.Application(middlewares=[trace_ids])
    app[EMULATOR] = emulator
    app.router.add_routes(api_routes(emulator))
    app.router.add_routes(control_routes(emulator))

    async def release_held(_app: web.Application) -> None:
        emulator.faults.release(proceed=False)  # a held call must not keep shutdown waiting

    async def stop_webhooks(_app: web.Application) -> None:
        await emulator.webhooks.close()

    app.on_shutdown.append(release_held)
    app.on_cleanup.append(stop_webhooks)
    return app
