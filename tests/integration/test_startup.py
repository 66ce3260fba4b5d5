"""`giftcard-adapter serve` fails closed: embedded mode only when asked for, and then on loopback."""

import asyncio
import contextlib
import os
import socket
import subprocess
import sys

import aiohttp

from tests.chaos.processes import free_port
from tests.conftest import CARD_CODE_KEY
from tests.served import wait_for

CLEAN_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.getcwd()}


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adapter", "serve", *args], capture_output=True, text=True,
                          timeout=60, env={**CLEAN_ENV, **env})


def test_serve_with_nothing_configured_refuses_naming_every_missing_setting():
    refused = _serve({})
    assert refused.returncode == 2
    message = refused.stderr.strip()
    assert message.startswith("giftcard-adapter: invalid configuration: missing DATABASE_URL")
    for name in ("SHOPIFY_SHOP_DOMAIN or SHOPIFY_GRAPHQL_URL", "SHOPIFY_ACCESS_TOKEN", "NEWSTORE_API_KEYS",
                 "CARD_CODE_KEY", "EMBEDDED=true"):
        assert name in message
    assert "SHOPIFY_SANDBOX_IN_USE" not in refused.stdout + refused.stderr


def test_serve_refuses_a_plain_http_ledger_outside_embedded_mode():
    refused = _serve({"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/gca",
                      "SHOPIFY_GRAPHQL_URL": "http://127.0.0.1:8089/admin/api/2026-10/graphql.json",
                      "SHOPIFY_ACCESS_TOKEN": "shpat_secret_value", "NEWSTORE_API_KEYS": "k" * 32,
                      "CARD_CODE_KEY": CARD_CODE_KEY})
    assert refused.returncode == 2
    assert "SHOPIFY_GRAPHQL_URL must be https" in refused.stderr
    assert "shpat_secret_value" not in refused.stderr and "pw@" not in refused.stderr


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: it only picks a route
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_serve_embedded_without_keys_listens_on_loopback_only(database_url, sandbox):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "adapter", "serve", "--embedded"],
        env={**CLEAN_ENV, "DATABASE_URL": database_url, "SHOPIFY_GRAPHQL_URL": sandbox.graphql_url,
             "SHOPIFY_ACCESS_TOKEN": sandbox.config.access_token, "CARD_CODE_KEY": CARD_CODE_KEY,
             "HTTP_PORT": str(port), "METRICS_PORT": str(free_port()), "WORKERS_ENABLED": "false",
             "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        async def ready():
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with aiohttp.ClientSession() as session:
                    async with session.get(f"http://127.0.0.1:{port}/health/ready") as response:
                        return response.status == 200
            return False

        await wait_for(ready, timeout=60, interval=0.2)
        other = _non_loopback_address()
        if other is not None:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(other, port), 3)
            except OSError:
                pass  # refused: nothing listens there
            else:
                writer.close()
                raise AssertionError(f"embedded mode answered on {other}")
    finally:
        process.terminate()
        process.wait(timeout=30)
