"""Serving an emulator's app on a real socket, the part every emulator shares."""

from __future__ import annotations

from aiohttp import web


async def serve(app: web.Application, host: str, port: int) -> tuple[str, web.AppRunner]:
    """Start `app` on host:port (0: any free port) and answer its base URL and runner.

    No access log: tests send thousands of calls; a short shutdown: held calls must not stall it."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # noqa: SLF001 - the bound port
    bound_host, bound_port = sockets[0].getsockname()[:2] if sockets else (host, port)
    display_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    return f"http://{display_host}:{bound_port}", runner
