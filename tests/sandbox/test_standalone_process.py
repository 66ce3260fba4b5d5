"""The `giftcard-adapter sandbox` process the benchmarks run: it serves GraphQL over a real
socket and keeps its ledger while it moves long-lived objects out of the collector's sight."""

import asyncio
import socket
import subprocess
import sys

import aiohttp

from tests.sandbox.conftest import CREATE, GQL_PATH, TOKEN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_the_standalone_sandbox_keeps_its_cards_across_its_freezes():
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "adapter", "sandbox", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}{GQL_PATH}"
    headers = {"X-Shopify-Access-Token": TOKEN}
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/sandbox/state") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            create = {"query": CREATE, "variables": {"input": {"initialAmount": {"amount": "12.50", "currencyCode": "USD"},
                                                               "code": "standalone000001"}}}
            async with session.post(url, json=create, headers=headers) as response:
                created = (await response.json())["data"]["giftCardCreate"]["giftCard"]
            await asyncio.sleep(2.2)  # two freezes later
            read = {"query": "query($id: ID!) { giftCard(id: $id) { balance { amount } } }",
                    "variables": {"id": created["id"]}}
            async with session.post(url, json=read, headers=headers) as response:
                body = await response.json()
        assert body["data"]["giftCard"]["balance"]["amount"] == "12.5"
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)
