"""An unknown-card flood next to a known card's balance (issue #10).

    .venv/bin/python -m bench.flood [--flood 2000] [--rate 200] [--known-rate 10]

The sandbox has Shopify's Standard bucket (2000 points, 100/s). First a known card's balance is
asked at `--known-rate` for as long as the flood will last, alone (the baseline); then the same
known-card traffic runs again while `--flood` balance requests for random codes (each one a card
nobody has) arrive open loop at `--rate`. Reported: what the flood's requests were answered,
how many ledger searches reached the sandbox and how low its bucket went, and the known card's
p50/p99 in both phases of this one run, with the flood's p99 as a ratio to the baseline's, and
the CPU the adapter and the whole machine spent in each (the load generator, the adapter, the
sandbox and Postgres share the cores: once they are busy, the known card waits for CPU, not for
Shopify's bucket).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections import Counter

import aiohttp

from adapter import jsonio
from bench.harness import API_KEY, percentile, print_table, running_stack
from bench.procstat import cpu_seconds

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
# The sandbox's own defaults: Shopify's Standard plan.
STANDARD_BUCKET = ("--bucket-size", "2000", "--restore-rate", "100")


async def balance(session: aiohttp.ClientSession, url: str, code: str) -> tuple[int, float]:
    started = time.perf_counter()
    async with session.post(url + "/gift_card/balance", data=jsonio.dumps({"identifier": {"number": code}}),
                            headers=HEADERS) as response:
        await response.read()
        return response.status, (time.perf_counter() - started) * 1000


async def open_loop(count: int, rate: float, call) -> list:
    """`count` calls started on a fixed schedule, whether or not earlier ones have finished."""
    tasks = []
    started = time.perf_counter()
    for index in range(count):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(call()))
    return await asyncio.gather(*tasks)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU time of all cores so far, from /proc/stat, in ticks."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class Usage:
    """CPU over a phase: the adapter's share of one core, the machine's of all cores."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.started = time.perf_counter()
        self.adapter = cpu_seconds(pid)
        self.machine = machine_busy()

    def done(self) -> tuple[float, float]:
        elapsed = time.perf_counter() - self.started
        busy, total = machine_busy()
        adapter = (cpu_seconds(self.pid) - self.adapter) / elapsed
        return adapter, (busy - self.machine[0]) / max(1, total - self.machine[1])


async def sandbox_state(session: aiohttp.ClientSession, sandbox_url: str) -> dict:
    async with session.get(sandbox_url + "/sandbox/state") as response:
        return await response.json()


async def measure(flood: int, rate: float, known_rate: float):
    async with running_stack(sandbox_args=STANDARD_BUCKET) as stack, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as flood_session, \
            aiohttp.ClientSession() as known_session:
        known = secrets.token_hex(8)
        async with known_session.post(stack.sandbox_url + "/sandbox/cards", json={"code": known, "amount": "50.00"}) as r:
            assert r.status == 201, await r.text()
        for _ in range(20):  # warm-up: the adapter finds and registers the card, connections open
            status, _ = await balance(known_session, stack.adapter_url, known)
            assert status == 200, status
        seconds = flood / rate
        known_count = max(1, round(seconds * known_rate))

        def ask_known():
            return balance(known_session, stack.adapter_url, known)

        usage = Usage(stack.adapter_pid)
        alone = await open_loop(known_count, known_rate, ask_known)
        alone_cpu = usage.done()
        async with known_session.post(stack.sandbox_url + "/sandbox/counters/reset") as r:
            assert r.status == 200
        before = await sandbox_state(known_session, stack.sandbox_url)
        usage = Usage(stack.adapter_pid)
        flooded, during = await asyncio.gather(
            open_loop(flood, rate, lambda: balance(flood_session, stack.adapter_url, secrets.token_hex(8))),
            open_loop(known_count, known_rate, ask_known))
        flood_cpu = usage.done()
        after = await sandbox_state(known_session, stack.sandbox_url)
    searches = after["calls"].get("giftCards", 0) - before["calls"].get("giftCards", 0)
    return (alone, flooded, during, searches, after["bucket_minimum"], after["throttleStatus"]["maximumAvailable"],
            alone_cpu, flood_cpu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flood", type=int, default=2000, help="balance requests for random unknown codes")
    parser.add_argument("--rate", type=float, default=200.0, help="flood requests started per second")
    parser.add_argument("--known-rate", type=float, default=10.0, help="known-card balance requests per second")
    args = parser.parse_args()
    alone, flooded, during, searches, minimum, maximum, alone_cpu, flood_cpu = asyncio.run(
        measure(args.flood, args.rate, args.known_rate))

    statuses = Counter(status for status, _ in flooded)
    flood_ms = [ms for _, ms in flooded]
    print_table(f"Unknown-card flood: {args.flood} balance requests for random codes at {args.rate:g}/s "
                f"(sandbox bucket {maximum:g} points)",
                ["requests", "ledger searches", "400 declined", "503 retry", "other", "flood p50 ms", "flood p99 ms",
                 "bucket minimum"],
                [[str(len(flooded)), str(searches), str(statuses.pop(400, 0)), str(statuses.pop(503, 0)),
                  ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())) or "0",
                  f"{percentile(flood_ms, 0.5):.2f}", f"{percentile(flood_ms, 0.99):.2f}", f"{minimum:g}"]])

    alone_ms = [ms for _, ms in alone]
    during_ms = [ms for _, ms in during]
    rows = []
    for phase, samples, (adapter_cpu, machine_cpu) in (("alone", alone, alone_cpu),
                                                       ("during the flood", during, flood_cpu)):
        ms = [m for _, m in samples]
        ok = sum(1 for status, _ in samples if status == 200)
        rows.append([phase, str(len(samples)), str(ok), f"{percentile(ms, 0.5):.2f}", f"{percentile(ms, 0.99):.2f}",
                     f"{max(ms):.2f}", f"{adapter_cpu:.0%}", f"{machine_cpu:.0%}"])
    print_table(f"Known card's balance at {args.known_rate:g}/s (ms)",
                ["phase", "n", "200s", "p50", "p99", "max", "adapter CPU (1 core)", "machine CPU (all cores)"], rows)
    ratio = percentile(during_ms, 0.99) / percentile(alone_ms, 0.99)
    print(f"\nknown-card p99 during the flood / alone: {ratio:.2f}x "
          f"(+{percentile(during_ms, 0.99) - percentile(alone_ms, 0.99):.2f} ms)")


if __name__ == "__main__":
    main()
