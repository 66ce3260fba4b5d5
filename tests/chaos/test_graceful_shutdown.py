"""SIGTERM: readiness turns false at once, the drain window still serves, then no new
connections, and a request whose Shopify write is in flight finishes before the process exits."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal

import aiohttp

from tests import ledger_view
from tests.chaos.processes import AdapterProcess
from tests.chaos.test_replicas_and_crashes import post
from tests.served import wait_for


async def _held(sandbox) -> bool:
    return (await ledger_view.state(sandbox))["held"] >= 1


async def test_sigterm_drains_and_finishes_the_held_ledger_write(database_url, sandbox, db):
    await ledger_view.make_card(sandbox, "shutdowncard0001", "100.00")
    process = await AdapterProcess(database_url, sandbox, WORKERS_ENABLED="true", SHUTDOWN_DRAIN_SECONDS="1.5",
                                   SHUTDOWN_TIMEOUT_SECONDS="20").start()
    await ledger_view.add_fault(sandbox, kind="hold", operation="giftCardDebit")
    body = {"idempotency_key": "in-flight-at-shutdown", "transactions": [],
            "arguments": {"amount": Decimal("25"), "currency": "USD", "payment_method": "gift_card"},
            "metadata": {"number": "shutdowncard0001"}}
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(post(session, f"{process.url}/financial_instruments", body))
        await wait_for(lambda: _held(sandbox), timeout=10)  # the debit is held inside the sandbox
        process.process.send_signal(signal.SIGTERM)

        async def draining() -> bool:
            async with aiohttp.ClientSession() as fresh:  # a new connection during the drain window
                async with fresh.get(f"{process.url}/health/ready") as ready:
                    return ready.status == 503 and (await ready.json())["status"] == "draining"

        await wait_for(draining, timeout=1.2)  # well inside the 1.5 s drain window
        async with aiohttp.ClientSession() as fresh:
            async with fresh.get(f"{process.url}/health/live") as live:
                assert live.status == 200

        async def refused() -> bool:
            async with aiohttp.ClientSession() as late:
                try:
                    async with late.get(f"{process.url}/health/live") as response:
                        await response.read()
                        return False
                except aiohttp.ClientConnectionError:
                    return True

        # Past the drain window the listener is closed: new connections are refused.
        await wait_for(refused, timeout=5, interval=0.1)
        assert process.process.poll() is None, "the process must wait for its in-flight request"
        await ledger_view.release_held(sandbox)
        status, raw, _ = await in_flight
    assert status == 200, raw
    assert await asyncio.to_thread(process.process.wait, 30) == 0
    card = await ledger_view.card_by_code(sandbox, "shutdowncard0001")
    assert len(card["transactions"]) == 1 and ledger_view.balance_of(card) == Decimal("75")
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT state FROM idempotency_keys WHERE key = 'in-flight-at-shutdown'") == "final"
