"""The most requests per second one adapter process sustains, with its CPU time per request and
peak memory; the sandbox runs in its own process with an unlimited cost bucket.

    .venv/bin/python -m bench.throughput [--seconds 15] [--concurrency 1,8,32,64]

Closed loop at each concurrency level; the best level's rate is the sustained maximum.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid
from decimal import Decimal

import aiohttp

from adapter import jsonio
from adapter.shopify import documents
from bench.harness import API_KEY, SANDBOX_TOKEN, print_table, running_stack
from bench.procstat import cpu_seconds, memory_kib

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


async def _wallets(session, stack, count: int) -> list[str]:
    codes = []
    for _ in range(count):
        code = secrets.token_hex(8)
        async with session.post(stack.graphql_url, headers={"X-Shopify-Access-Token": SANDBOX_TOKEN}, data=jsonio.dumps({
                "query": documents.CREATE_CARD.text, "operationName": documents.CREATE_CARD.operation_name,
                "variables": {"input": {"initialAmount": {"amount": "3000.00", "currencyCode": "USD"}, "code": code}}})) as r:
            await r.read()
        async with session.post(f"{stack.adapter_url}/gift_card/balance", headers=HEADERS,
                                data=jsonio.dumps({"identifier": {"number": code}})) as r:
            assert r.status == 200
        codes.append(code)
    return codes


def _body(endpoint: str, code: str) -> tuple[str, bytes]:
    if endpoint == "balance":
        return "/gift_card/balance", jsonio.dumps({"identifier": {"number": code}})
    return "/financial_instruments", jsonio.dumps({
        "idempotency_key": str(uuid.uuid4()), "transactions": [],
        # A cent at a time: a wallet (3,000.00, the sandbox's issue limit) then lasts 300,000
        # debits, so no level runs into insufficient funds however fast the machine is.
        "arguments": {"amount": Decimal("0.01"), "currency": "USD", "payment_method": "gift_card"},
        "metadata": {"number": code}})


async def run_level(session, stack, endpoint: str, codes: list[str], concurrency: int, seconds: float) -> dict:
    done = errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal done, errors
        code = codes[index % len(codes)]
        while time.perf_counter() < stop_at:
            path, body = _body(endpoint, code)
            async with session.post(stack.adapter_url + path, data=body, headers=HEADERS) as response:
                await response.read()
                if response.status == 200:
                    done += 1
                else:
                    errors += 1

    cpu_before = cpu_seconds(stack.adapter_pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(stack.adapter_pid) - cpu_before
    return {"rate": done / elapsed, "errors": errors, "cpu_ms": cpu * 1000 / max(done, 1), "done": done}


async def measure(seconds: float, levels: list[int]) -> tuple[list[list[str]], dict]:
    rows = []
    async with running_stack() as stack:
        connector = aiohttp.TCPConnector(limit=max(levels))
        async with aiohttp.ClientSession(connector=connector) as session:
            codes = await _wallets(session, stack, 64)
            for endpoint in ("balance", "authorize"):
                best = None
                for level in levels:
                    result = await run_level(session, stack, endpoint, codes, level, seconds)
                    rows.append([endpoint, str(level), f"{result['rate']:.0f}", str(result["errors"]),
                                 f"{result['cpu_ms']:.2f}", ""])
                    if best is None or result["rate"] > best["rate"]:
                        best = result
                rows[-len(levels) + [r[2] for r in rows[-len(levels):]].index(f"{best['rate']:.0f}")][5] = "max"
            memory = memory_kib(stack.adapter_pid)
    return rows, memory


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", default="1,8,32,64")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    rows, memory = asyncio.run(measure(args.seconds, levels))
    print_table("Throughput of one adapter process (sandbox in its own process; 2 cores shared by all)",
                ["endpoint", "concurrency", "req/s", "errors", "adapter CPU ms/req", "best"], rows)
    print_table("Adapter process memory after the run", ["RSS now (MiB)", "peak RSS (MiB)"],
                [[f"{memory['VmRSS'] / 1024:.1f}", f"{memory['VmHWM'] / 1024:.1f}"]])


if __name__ == "__main__":
    main()
