"""Running the sandbox: in-process (serve, tests, benchmarks) or on its own (CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from adapter.sandbox.app import create_sandbox_app
from adapter.sandbox.config import SandboxConfig

API_VERSION = "2026-10"


@dataclass
class RunningSandbox:
    runner: web.AppRunner
    base_url: str
    config: SandboxConfig
    app: web.Application

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/{API_VERSION}/graphql.json"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_sandbox(host: str = "127.0.0.1", port: int = 0, config: SandboxConfig | None = None) -> RunningSandbox:
    config = config or SandboxConfig()
    app = create_sandbox_app(config)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return RunningSandbox(runner, f"http://{host}:{bound}", config, app)


def run_sandbox(host: str, port: int, config: SandboxConfig | None) -> None:
    print(f"Shopify gift-card sandbox on http://{host}:{port}/admin/api/{API_VERSION}/graphql.json "
          f"(token: {(config or SandboxConfig()).access_token})", flush=True)
    web.run_app(create_sandbox_app(config), host=host, port=port, access_log=None, print=None)
