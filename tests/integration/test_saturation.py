"""Nothing queues while the ledger takes its time (issue #14): a ledger answers in a hundred-odd
milliseconds, so at 100 requests/s a dozen are waiting for it at once. None of them may hold a
Postgres connection meanwhile (a pool of DB_POOL_MAX would queue everyone behind a dozen), and
the metrics that would show queueing must see it: the pool's wait and its peak in use, the
outbound connector's wait, the requests in flight."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from adapter.http.keys import SERVICES
from adapter.observability import runtime
from adapter.observability.runtime import MeteredConnector
from adapter.store.database import create_pool
from tests.conftest import AUTH
from tests.integration.test_payments import authorize_body, new_card, psp

IN_FLIGHT = 12


def sample(name: str, labels: dict | None = None) -> float:
    return REGISTRY.get_sample_value(f"giftcard_adapter_{name}", labels or {}) or 0.0


# ---- the pool's own figures --------------------------------------------------------------------

REQUEST = {"work": "request"}


async def test_a_take_that_finds_the_pool_full_is_counted_and_its_wait_measured(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=2)
    runtime.IN_REQUEST.set(True)  # as in a NewStore request (the tasks below inherit it)
    try:
        queued, waits, waited = sample("db_pool_acquires_queued_total", REQUEST), \
            sample("db_pool_acquire_wait_seconds_count", REQUEST), sample("db_pool_acquire_wait_seconds_sum", REQUEST)
        release = asyncio.Event()

        async def hold() -> None:
            async with pool.acquire():
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        while pool.in_use.now < 2:
            await asyncio.sleep(0.001)
        assert pool.queued["request"] == 0  # two of two: nobody waited
        assert pool.in_use.peak == 2

        async def third() -> float:
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            return time.perf_counter()

        asked = time.perf_counter()
        waiting = asyncio.create_task(third())
        await asyncio.sleep(0)  # it has asked: the count is taken when a take begins
        assert pool.queued["request"] == 1
        assert sample("db_pool_acquires_queued_total", REQUEST) >= queued + 1  # and the metric with it
        while time.perf_counter() - asked < 0.05:  # it stays queued while both are held
            assert not waiting.done()
            await asyncio.sleep(0.005)
        released = time.perf_counter()
        release.set()
        await asyncio.gather(*holders, waiting)
        assert sample("db_pool_acquire_wait_seconds_count", REQUEST) == waits + 3
        assert sample("db_pool_acquire_wait_seconds_sum", REQUEST) - waited >= released - asked
        assert pool.in_use.now == 0 and pool.in_use.peak == 2
    finally:
        await pool.close()


async def test_background_work_holds_at_most_half_the_pool_and_requests_get_the_rest(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=4)
    assert pool.background_limit == 2
    release = asyncio.Event()
    nested = []

    async def background(take_another: bool = False) -> None:  # a worker: not in a request
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
            if take_another:  # a second take inside the first (a statement under a card lock)
                async with pool.acquire() as inner:
                    nested.append(await inner.fetchval("SELECT 2"))
            await release.wait()

    workers = [asyncio.create_task(background(take_another=index == 0)) for index in range(4)]
    for _ in range(5000):  # a nested take that waited for the share again would never get it
        if nested and pool.in_use.now >= 2:
            break
        await asyncio.sleep(0.001)
    assert nested == [2]  # the nested take did not wait for a share it already holds
    assert pool.in_use.now == 2  # two of four background takes hold; two wait for the share
    assert not any(worker.done() for worker in workers)

    async def request() -> int:
        runtime.IN_REQUEST.set(True)
        async with pool.acquire() as conn:
            return await conn.fetchval("SELECT 3")

    # Two requests at once get the two connections the background may not take, at once. (This
    # pool's own count: the metric also counts any other pool alive in the test process.)
    assert await asyncio.wait_for(asyncio.gather(request(), request()), 5) == [3, 3]
    assert pool.queued["request"] == 0
    release.set()
    await asyncio.gather(*workers)
    assert pool.in_use.now == 0
    await pool.close()


# ---- the outbound connector --------------------------------------------------------------------

async def test_the_connector_measures_calls_that_wait_for_a_connection_slot(aiohttp_server):
    release = asyncio.Event()
    arrived = asyncio.Queue()

    async def slow(_request: web.Request) -> web.Response:
        arrived.put_nowait(None)
        await release.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", slow)
    server = await aiohttp_server(app)
    count = sample("http_client_connection_queue_wait_seconds_count")
    async with aiohttp.ClientSession(connector=MeteredConnector(limit=2)) as session:
        async def get() -> str:
            async with session.get(server.make_url("/")) as response:
                return await response.text()

        calls = [asyncio.create_task(get()) for _ in range(3)]
        for _ in range(2):
            await arrived.get()  # two calls hold both connections
        assert sample("http_client_connection_queue_wait_seconds_count") == count
        release.set()
        assert await asyncio.gather(*calls) == ["ok"] * 3
    # The third waited for a slot (and only the third).
    assert sample("http_client_connection_queue_wait_seconds_count") == count + 1


# ---- the adapter: no Postgres connection is held while the ledger answers ----------------------

ROOT_FIELDS = {"issue": "giftCardCreate", "authorize": "giftCardDebit", "refund": "giftCardCredit",
               "deactivate": "giftCardDeactivate"}


async def _requests(adapter, sandbox, operation: str) -> list[tuple[str, dict]]:
    if operation == "issue":
        return [("/gift_card/issue", {"amount": {"value": 5, "currency": "USD"}, "customer": {},
                                      "idempotence_key": str(uuid.uuid4())}) for _ in range(IN_FLIGHT)]
    if operation == "deactivate":
        # Cards the adapter meets for the first time: each is searched for, then deactivated.
        codes = [await new_card(sandbox, f"saturate{n:08d}", "5.00") for n in range(IN_FLIGHT)]
        return [("/gift_card/deactivate", {"card_number": code, "idempotence_key": str(uuid.uuid4())})
                for code in codes]
    code = await new_card(sandbox, "saturatewallet01", "500.00")
    if operation == "authorize":
        return [("/financial_instruments", authorize_body(code, 1, str(uuid.uuid4()))) for _ in range(IN_FLIGHT)]
    response = await adapter.post("/financial_instruments", json=authorize_body(code, 50, "saturate-auth"), headers=AUTH)
    instrument = (await response.json())[0]["instrument_id"]
    response = await adapter.post(f"/financial_instruments/{instrument}/_capture", json=psp(50, "saturate-capture"),
                                  headers=AUTH)
    assert response.status == 200
    return [(f"/financial_instruments/{instrument}/_refund", psp(1, str(uuid.uuid4()))) for _ in range(IN_FLIGHT)]


async def _sandbox(session: aiohttp.ClientSession, sandbox, method: str, path: str, body=None) -> dict:
    async with session.request(method, sandbox.base_url + path, json=body) as response:
        assert response.status < 300
        return await response.json()


@pytest.mark.parametrize("operation", list(ROOT_FIELDS))
async def test_requests_waiting_on_the_ledger_hold_no_postgres_connection(make_adapter, sandbox, operation):
    # A pool far smaller than the requests in flight: were a connection held across the ledger
    # call, no more than two of them could ever reach the ledger.
    adapter = await make_adapter(db_pool_min=1, db_pool_max=2)
    pool = adapter.server.app[SERVICES].pool
    requests = await _requests(adapter, sandbox, operation)
    async with aiohttp.ClientSession() as control:
        await _sandbox(control, sandbox, "POST", "/sandbox/faults",
                       {"kind": "hold", "operation": ROOT_FIELDS[operation], "count": IN_FLIGHT})
        in_flight_before = runtime.REQUESTS_IN_FLIGHT.now
        sent = [asyncio.create_task(adapter.post(path, json=body, headers=AUTH)) for path, body in requests]
        try:
            for _ in range(2000):
                if (await _sandbox(control, sandbox, "GET", "/sandbox/state"))["held"] == IN_FLIGHT:
                    break
                assert not any(task.done() for task in sent), [await t for t in sent if t.done()]
                await asyncio.sleep(0.005)
            else:
                raise AssertionError("the requests never all reached the ledger")
            # Every request is waiting on the ledger, and not one holds a connection meanwhile.
            assert pool.in_use.now == 0
            assert runtime.REQUESTS_IN_FLIGHT.now - in_flight_before == IN_FLIGHT
            assert runtime.REQUESTS_IN_FLIGHT.peak >= IN_FLIGHT
        finally:
            await _sandbox(control, sandbox, "POST", "/sandbox/release")
            answers = await asyncio.gather(*sent, return_exceptions=True)
        statuses = [getattr(answer, "status", answer) for answer in answers]
    assert statuses == [200] * IN_FLIGHT
    assert pool.in_use.now == 0 and pool.in_use.peak <= 2
