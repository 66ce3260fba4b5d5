"""The sandbox's aiohttp application."""

from __future__ import annotations

from aiohttp import web

from giftcard_emulators.shopify.config import SandboxConfig
from giftcard_emulators.shopify.control import routes as control_routes
from giftcard_emulators.shopify.graphql_endpoint import handle_unknown_version, make_handler
from giftcard_emulators.shopify.runtime import Sandbox
from giftcard_emulators.shopify.state import SandboxState

SANDBOX: web.AppKey[Sandbox] = web.AppKey("sandbox", Sandbox)
SANDBOX_STATE: web.AppKey[SandboxState] = web.AppKey("sandbox_state", SandboxState)

GRAPHQL_PATH = r"/admin/api/{version:\d{4}-\d{2}}/graphql.json"


def create_sandbox_app(config: SandboxConfig | None = None) -> web.Application:
    sandbox = Sandbox(config or SandboxConfig())
    app = web.Application()
    app[SANDBOX] = sandbox
    app[SANDBOX_STATE] = sandbox.state
    app.router.add_post(GRAPHQL_PATH, make_handler(sandbox))
    app.router.add_post("/admin/api/{version}/graphql.json", handle_unknown_version)
    app.router.add_routes(control_routes(sandbox))

    async def release_held(_app: web.Application) -> None:
        # A held call must not keep shutdown waiting forever.
        sandbox.faults.release(proceed=False)

    async def stop_webhooks(_app: web.Application) -> None:
        await sandbox.webhooks.close()

    app.on_shutdown.append(release_held)
    app.on_cleanup.append(stop_webhooks)
    return app
