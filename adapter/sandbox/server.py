"""Running the sandbox on a real socket: in-process for tests/demos, or blocking for the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from adapter.sandbox.app import create_sandbox_app
from adapter.sandbox.config import SandboxConfig
from adapter.sandbox.schema import sandbox_schema

DEFAULT_API_VERSION = "2026-10"


@dataclass
class RunningSandbox:
    base_url: str
    config: SandboxConfig
    app: web.Application
    runner: web.AppRunner

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/{DEFAULT_API_VERSION}/graphql.json"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_sandbox(host: str = "127.0.0.1", port: int = 0,
                        config: SandboxConfig | None = None) -> RunningSandbox:
    config = config or SandboxConfig()
    sandbox_schema()  # build the large schema now rather than inside the first request
    app = create_sandbox_app(config)
    # No access log: benchmarks send thousands of calls; short shutdown: held calls must not stall it.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # noqa: SLF001 - port 0
    bound_host, bound_port = sockets[0].getsockname()[:2] if sockets else (host, port)
    display_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    return RunningSandbox(f"http://{display_host}:{bound_port}", config, app, runner)


def run_sandbox(host: str = "127.0.0.1", port: int = 8089, config: SandboxConfig | None = None) -> None:
    """Serve until interrupted (the `giftcard-adapter sandbox --port N` subcommand)."""
    sandbox_schema()
    config = config or SandboxConfig()
    print(f"Shopify sandbox on http://{host}:{port}/admin/api/{DEFAULT_API_VERSION}/graphql.json", flush=True)
    web.run_app(create_sandbox_app(config), host=host, port=port, access_log=None, print=None)
