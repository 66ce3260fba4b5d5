"""Several processes on one Postgres and a SIGKILL mid-call (on each ledger), and Postgres going
away under load (on the Shopify sandbox: it is about Postgres)."""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal

import aiohttp
import pytest

from adapter import jsonio
from tests.chaos.invariants import assert_exactly_once
from tests.chaos.processes import AdapterProcess, adapters
from tests.conftest import AUTH
from tests.served import wait_for

pytestmark = pytest.mark.chaos


async def post(session, url, body):
    async with session.post(url, data=jsonio.dumps(body), headers={**AUTH, "Content-Type": "application/json"}) as r:
        return r.status, await r.read(), r.headers.get("Idempotent-Replayed")


async def test_fifty_duplicates_over_three_processes_make_one_effect(database_url, ledger, db):
    await ledger.make_known_card("replicacard00001", "100.00")
    body = {"idempotency_key": "spread-over-replicas", "transactions": [],
            "arguments": {"amount": Decimal("12.34"), "currency": "USD", "payment_method": "gift_card"},
            "metadata": {"number": "replicacard00001"}}
    async with adapters(database_url, ledger, 3, WORKERS_ENABLED="false") as replicas:
        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(*(
                post(session, f"{replicas[i % 3].url}/financial_instruments", body) for i in range(50)
            ))
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 503}
    assert statuses.count(200) >= 1
    assert len({raw for status, raw, _ in results if status == 200}) == 1
    card = await ledger.card_by_code("replicacard00001")
    assert len(card["transactions"]) == 1 and card["balance"] == Decimal("87.66")
    await assert_exactly_once(ledger, db)


async def test_sigkill_during_a_held_debit_then_the_retry_settles_it_once(database_url, ledger, db):
    await ledger.make_known_card("killedcard000001", "100.00")
    body = {"idempotency_key": "killed-mid-call", "transactions": [],
            "arguments": {"amount": Decimal("40"), "currency": "USD", "payment_method": "gift_card"},
            "metadata": {"number": "killedcard000001"}}
    env = {"WORKERS_ENABLED": "false", "IDEMPOTENCY_LEASE_SECONDS": "2", "LEDGER_RESEND_AFTER_SECONDS": "0.5"}
    first = await AdapterProcess(database_url, ledger, **env).start()
    # Shopify's sandbox parks the debit before executing it, and it executes once released, after
    # the process died. The REST emulators read a call's body only once released, and a killed
    # client's body is gone: parked before, their PUT would never execute. Parked after it
    # executed, the PUT has landed when the process dies, its answer never delivered.
    await ledger.add_fault("hold", "debit", stage="after" if ledger.absolute else "before")
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(post(session, f"{first.url}/financial_instruments", body))
        await ledger.wait_held(timeout=10)  # the debit is now held open inside the ledger
        first.kill()
        with pytest.raises(aiohttp.ClientError):
            await in_flight
    await ledger.clear_faults()  # the held debit goes on: the ledger moves (or has moved)

    async def debited():
        card = await ledger.card_by_code("killedcard000001")
        return card if card["transactions"] else None

    card = await wait_for(debited, timeout=5)
    assert len(card["transactions"]) == 1
    second = await AdapterProcess(database_url, ledger, **env).start()
    try:
        async with aiohttp.ClientSession() as session:
            status = None
            for _ in range(20):  # NewStore retries the same key until it gets a final answer
                status, raw, _ = await post(session, f"{second.url}/financial_instruments", body)
                if status != 503:
                    break
                await asyncio.sleep(0.5)
        assert status == 200, raw
        assert jsonio.loads(raw)[0]["metadata"]["ledger_transaction_id"] == card["transactions"][0]["id"]
    finally:
        second.terminate()
    card = await ledger.card_by_code("killedcard000001")
    assert len(card["transactions"]) == 1 and card["balance"] == Decimal("60")
    await assert_exactly_once(ledger, db)


async def test_postgres_stopped_and_restarted_during_load(sandbox):
    """Requests answer 503 (never 500), readiness fails, and service resumes by itself."""
    import pgserver

    data_dir = tempfile.mkdtemp(prefix="gca-pg-restart-")
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    url = server.get_uri()
    process = await AdapterProcess(url, sandbox, WORKERS_ENABLED="false").start()
    statuses: list[int] = []
    try:
        async with aiohttp.ClientSession() as session:
            async def load(tag: str, count: int) -> None:
                for index in range(count):
                    status, _, _ = await post(session, f"{process.url}/gift_card/issue", {
                        "amount": {"value": 5, "currency": "USD"}, "customer": {}, "idempotence_key": f"{tag}-{index}"})
                    statuses.append(status)

            await load("before", 5)
            assert statuses == [200] * 5
            _stop(server)
            down = len(statuses)
            await load("during", 5)
            async with session.get(f"{process.url}/health/ready") as ready:
                assert ready.status == 503
            assert set(statuses[down:]) == {503}
            server.ensure_postgres_running()
            for _ in range(50):
                async with session.get(f"{process.url}/health/ready") as ready:
                    if ready.status == 200:
                        break
                await asyncio.sleep(0.2)
            recovered = len(statuses)
            await load("after", 5)
            assert statuses[recovered:] == [200] * 5
    finally:
        process.terminate()
        _stop(server)
    assert 500 not in statuses


def _stop(server) -> None:
    from pgserver._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
