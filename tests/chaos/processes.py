"""Adapter processes for the multi-replica and crash tests: real `giftcard-adapter serve`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import aiohttp

from tests.conftest import API_KEY, CARD_CODE_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ledger_env(ledger) -> dict[str, str]:
    """What points a process at `ledger`: a tests.standins stand-in, or the Shopify sandbox."""
    if hasattr(ledger, "env"):
        return ledger.env()
    return {"SHOPIFY_GRAPHQL_URL": ledger.graphql_url, "SHOPIFY_ACCESS_TOKEN": ledger.config.access_token}


class AdapterProcess:
    def __init__(self, database_url: str, ledger, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            **ledger_env(ledger),
            "NEWSTORE_API_KEYS": API_KEY,
            "CARD_CODE_KEY": CARD_CODE_KEY,
            "EMBEDDED": "true",  # the ledger is an emulator over http; all else is configured
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "METRICS_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
            # No load balancer to notice readiness turning false: stopping need not wait 5 s
            # (test_graceful_shutdown sets its own drain window).
            "SHUTDOWN_DRAIN_SECONDS": "0",
            **env,
        }
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> AdapterProcess:
        self.process = subprocess.Popen([sys.executable, "-m", "adapter", "serve"], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"adapter exited: {self.process.stderr.read().decode()[-2000:]}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{self.url}/health/ready") as response:
                        if response.status == 200:
                            return self
                await asyncio.sleep(0.1)
        raise RuntimeError("adapter did not become ready")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no lease given back, a call possibly in flight."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.terminate()
        return self.wait()

    def wait(self) -> int | None:
        """Wait for a process told to stop; SIGKILL it after 30 s."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextlib.asynccontextmanager
async def adapters(database_url: str, ledger, count: int, **env: str):
    started = [AdapterProcess(database_url, ledger, **env) for _ in range(count)]
    try:
        await asyncio.gather(*(p.start() for p in started))
        yield started
    finally:
        for process in started:  # all told at once, then each waited for
            if process.process is not None and process.process.poll() is None:
                process.process.terminate()
        for process in started:
            if process.process is not None:
                process.wait()
