"""Running the sandbox on a real socket: in-process for tests/demos, or blocking for the CLI."""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from giftcard_emulators.shopify.app import create_sandbox_app
from giftcard_emulators.shopify.config import SandboxConfig, shop_settings
from giftcard_emulators.shopify.schema import sandbox_schema

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


async def _freeze_what_survived(_app: web.Application) -> AsyncIterator[None]:
    """The sandbox's ledger only grows, and each of Python's full collections rescans all of it:
    pauses of 300-400 ms at a few thousand cards, seen as p99 spikes on both sides of
    bench.overhead. Moving what has survived so far into the permanent generation once a second
    keeps those scans small. The price, cyclic garbage frozen with it, suits a process that only
    lives for a demo or a benchmark; the in-process sandbox of the tests does not do this."""

    async def freeze_every_second() -> None:
        while True:
            await asyncio.sleep(1)
            gc.freeze()

    task = asyncio.create_task(freeze_every_second())
    yield
    task.cancel()


def run_sandbox(host: str = "127.0.0.1", port: int = 8089, config: SandboxConfig | None = None) -> None:
    """Serve until interrupted (the `giftcard-adapter sandbox --port N` subcommand)."""
    sandbox_schema()
    config = config or SandboxConfig()
    print(f"Shopify sandbox on http://{host}:{port}/admin/api/{DEFAULT_API_VERSION}/graphql.json", flush=True)
    app = create_sandbox_app(config)
    app.cleanup_ctx.append(_freeze_what_survived)
    web.run_app(app, host=host, port=port, access_log=None, print=None)


def add_shop_arguments(parser: argparse.ArgumentParser) -> None:
    """The per-shop flags, shared by `python -m giftcard_emulators.shopify` and `giftcard-adapter sandbox`.
    Plain strings here: `shop_settings` parses them once for both, as /sandbox/config does."""
    parser.add_argument("--currency", help=f"the shop's currency (default {SandboxConfig.currency})")
    parser.add_argument("--issue-limit", help=f"the most one card may hold (default {SandboxConfig.issue_limit})")
    parser.add_argument("--purchase-limit",
                        help=f"giftCardConfiguration's purchase limit (default {SandboxConfig.purchase_limit})")
    add_latency_arguments(parser)


def add_latency_arguments(parser: argparse.ArgumentParser) -> None:
    """How long every GraphQL answer takes (shared with `giftcard-adapter sandbox`)."""
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="every GraphQL answer waits this long, in ms (default 0: at once)")
    parser.add_argument("--latency-jitter-ms", type=float, default=0.0,
                        help="spread of that wait, uniform within ± this many ms (default 0)")


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> SandboxConfig:
    try:
        return shop_settings(args.currency, args.issue_limit, args.purchase_limit,
                             bucket_size=args.bucket_size, restore_rate=args.restore_rate,
                             # An older `giftcard-adapter sandbox` has no latency flags.
                             latency_ms=getattr(args, "latency_ms", 0.0),
                             latency_jitter_ms=getattr(args, "latency_jitter_ms", 0.0))
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m giftcard_emulators.shopify",
                                     description="Serve the local Shopify gift-card sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--bucket-size", type=float, default=SandboxConfig.bucket_size,
                        help="cost bucket size (points)")
    parser.add_argument("--restore-rate", type=float, default=SandboxConfig.restore_rate,
                        help="cost points restored per second")
    add_shop_arguments(parser)
    args = parser.parse_args(argv)
    run_sandbox(args.host, args.port, config_from_args(parser, args))
