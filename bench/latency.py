"""p50/p99 latency of each NewStore endpoint through the adapter, against the sandbox.

    .venv/bin/python -m bench.latency [--requests 300]

Sequential requests (one in flight), so the figures are service latency, not queueing.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid

import aiohttp

from bench.harness import API_KEY, percentile, print_table, running_stack

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


async def _timed(session, url, body) -> float:
    started = time.perf_counter()
    async with session.post(url, json=body, headers=HEADERS) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
    return (time.perf_counter() - started) * 1000


def _code() -> str:
    return secrets.token_hex(8)


async def measure(requests: int) -> list[list[str]]:
    async with running_stack() as stack, aiohttp.ClientSession() as session:
        base = stack.adapter_url
        results: dict[str, list[float]] = {k: [] for k in (
            "issue", "activate", "balance", "deactivate", "authorize", "capture", "refund", "revoke")}
        # One card with plenty of money for the payment operations.
        wallet = _code()
        await _timed(session, f"{base}/gift_card/activate", {
            "card_number": wallet, "amount": {"value": 3000, "currency": "USD"}, "customer": {},
            "idempotence_key": str(uuid.uuid4())})
        for _ in range(requests):
            results["issue"].append(await _timed(session, f"{base}/gift_card/issue", {
                "amount": {"value": 10, "currency": "USD"}, "customer": {}, "idempotence_key": str(uuid.uuid4())}))
            code = _code()
            results["activate"].append(await _timed(session, f"{base}/gift_card/activate", {
                "card_number": code, "amount": {"value": 10, "currency": "USD"}, "customer": {},
                "idempotence_key": str(uuid.uuid4())}))
            results["balance"].append(await _timed(session, f"{base}/gift_card/balance", {"identifier": {"number": code}}))
            results["deactivate"].append(await _timed(session, f"{base}/gift_card/deactivate", {
                "card_number": code, "idempotence_key": str(uuid.uuid4())}))
            started = time.perf_counter()
            async with session.post(f"{base}/financial_instruments", headers=HEADERS, json={
                "idempotency_key": str(uuid.uuid4()), "transactions": [],
                "arguments": {"amount": 2, "currency": "USD", "payment_method": "gift_card"},
                "metadata": {"number": wallet}}) as response:
                instrument = (await response.json())[0]["instrument_id"]
            results["authorize"].append((time.perf_counter() - started) * 1000)
            path = f"{base}/financial_instruments/{instrument}"
            for operation, amount in (("capture", 1), ("refund", 1), ("revoke", 1)):
                results[operation].append(await _timed(session, f"{path}/_{operation}", {
                    "idempotency_key": str(uuid.uuid4()), "arguments": {"amount": amount, "currency": "USD"}}))
        return [[op, str(len(s)), f"{percentile(s, 0.5):.2f}", f"{percentile(s, 0.99):.2f}", f"{max(s):.2f}"]
                for op, s in results.items()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.requests))
    print_table("Latency through the adapter against the sandbox (ms, sequential)",
                ["endpoint", "n", "p50", "p99", "max"], rows)


if __name__ == "__main__":
    main()
