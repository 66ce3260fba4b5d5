"""What one Postgres round trip, and one HTTP round trip to another process, cost when the
machine is busy versus when it idles in between: the reason the overhead benchmark's figures
depend on its request rate.

    .venv/bin/python -m bench.wakeup [--samples 200]
    .venv/bin/python -m bench.wakeup --floor [--rates 20 100] [--requests 300] [--samples 200]

A request sent right after the previous answer finds both processes running; one sent after an
idle pause has to wake them first. The adapter pays that at least twice per mutating request in
Postgres (the claim with its intent, then the final answer), and once for its own HTTP hop.

--floor (issue #14) settles what that means for the adapter: at each rate, on one stack (the
adapter's own Postgres, its sandbox as the other process), it measures the floor, two durable
INSERT + commit round trips and one HTTP round trip to another process, each after the idle gap
the rate leaves between requests (1000 / rate ms: 50 ms at 20/s, 10 ms at 100/s), just before and
just after bench.overhead's run of the mutating endpoints at that rate; then it prints each
endpoint's added p50 over the mean floor. Target: at most 1.5x.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time

import aiohttp
import asyncpg

from bench.harness import free_port, percentile, print_table, wait_ready

PAUSES_MS = (0, 5, 50)

STATEMENTS = {
    "SELECT 1": "SELECT 1",
    "INSERT + commit": "INSERT INTO bench_wakeup VALUES (1)",
}


async def measure(url: str, samples: int) -> list[list[str]]:
    conn = await asyncpg.connect(url)
    try:
        # A real table, not a temporary one: its commits flush the WAL as the adapter's do.
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_wakeup (x int)")
        rows = []
        for label, sql in STATEMENTS.items():
            rows += await _timed(label, samples, lambda sql=sql: conn.execute(sql))
        return rows
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_wakeup")
        await conn.close()


async def measure_http(samples: int) -> list[list[str]]:
    """GET of the standalone sandbox's state: an HTTP hop like the one the adapter adds."""
    port = free_port()
    sandbox = subprocess.Popen([sys.executable, "-m", "adapter", "sandbox", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/sandbox/state"
    try:
        await wait_ready(url)
        async with aiohttp.ClientSession() as session:
            async def get() -> None:
                async with session.get(url) as response:
                    await response.read()
            return await _timed("HTTP GET, another process", samples, get)
    finally:
        sandbox.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            sandbox.wait(timeout=10)


async def _timed(label: str, samples: int, call) -> list[list[str]]:
    rows = []
    for pause_ms in PAUSES_MS:
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            await call()
            times.append((time.perf_counter() - started) * 1000)
            if pause_ms:
                await asyncio.sleep(pause_ms / 1000)
        rows.append([label, "back to back" if not pause_ms else f"{pause_ms} ms idle before each",
                     f"{percentile(times, 0.5):.3f}", f"{percentile(times, 0.9):.3f}"])
    return rows


async def measure_all(url: str, samples: int) -> list[list[str]]:
    return await measure(url, samples) + await measure_http(samples)


# ---- the floor of a mutating request, and the adapter against it ------------------------------

MUTATING = ("issue", "activate", "deactivate", "authorize", "capture", "refund", "revoke")
FLOOR_TARGET = 1.5


async def floor(database_url: str, hop_url: str, gap_ms: float, samples: int) -> dict[str, float]:
    """p50s of one durable INSERT + commit and one HTTP GET to another process, each sent after
    `gap_ms` of idling (taken in turn, so both see the machine alike); the floor is the hop and
    two commits."""
    conn = await asyncpg.connect(database_url)
    commits, hops = [], []
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (x int)")  # real: its commits flush the WAL
        async with aiohttp.ClientSession() as session:
            for _ in range(samples):
                await asyncio.sleep(gap_ms / 1000)
                started = time.perf_counter()
                await conn.execute("INSERT INTO bench_floor VALUES (1)")
                commits.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(gap_ms / 1000)
                started = time.perf_counter()
                async with session.get(hop_url) as response:
                    await response.read()
                hops.append((time.perf_counter() - started) * 1000)
        await conn.execute("DROP TABLE bench_floor")
    finally:
        await conn.close()
    commit, hop = percentile(commits, 0.5), percentile(hops, 0.5)
    return {"commit": commit, "hop": hop, "floor": 2 * commit + hop}


async def floor_and_overhead(rate: float, requests: int, samples: int, shared_cards: bool = False) -> dict:
    """One stack: the floor, bench.overhead's pairs of the mutating endpoints, the floor again."""
    from bench.harness import running_stack
    from bench.overhead import Bench, added_p50, answered, refusals, run_pairs
    from bench.procstat import machine_busy_ticks

    gap_ms = 1000 / rate
    async with running_stack() as stack, aiohttp.ClientSession() as session:
        hop_url = stack.sandbox_url + "/sandbox/faults"  # a small answer from another aiohttp process
        before = await floor(stack.database_url, hop_url, gap_ms, samples)
        busy_before = machine_busy_ticks()
        measured = await run_pairs(Bench(session, stack), rate, requests, list(MUTATING), shared_cards=shared_cards)
        busy_after = machine_busy_ticks()
        after = await floor(stack.database_url, hop_url, gap_ms, samples)
    busy = (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1) * 100 * (os.cpu_count() or 1)
    return {"rate": rate, "gap_ms": gap_ms, "before": before, "after": after, "machine_busy": busy,
            "refused": refusals(measured),
            "added": {endpoint: added_p50(pairs) for endpoint, pairs in measured.items()},
            "n": {endpoint: len(answered(pairs)) for endpoint, pairs in measured.items()}}


def floor_tables(results: list[dict]) -> None:
    rows = []
    for result in results:
        for when in ("before", "after"):
            figures = result[when]
            rows.append([f"{result['rate']:g}/s", f"{result['gap_ms']:g} ms", when, f"{figures['commit']:.3f}",
                         f"{figures['hop']:.3f}", f"{figures['floor']:.3f}"])
    print_table("The floor: two durable commits and one hop, each after the rate's idle gap (p50, ms)",
                ["rate", "idle gap", "measured", "INSERT + commit", "HTTP hop", "floor (2 commits + hop)"], rows)
    rows = []
    for result in results:
        floor_ms = (result["before"]["floor"] + result["after"]["floor"]) / 2
        for endpoint in MUTATING:
            added = result["added"][endpoint]
            ratio = added / floor_ms
            rows.append([endpoint, f"{result['rate']:g}/s", str(result["n"][endpoint]), f"{floor_ms:.2f}",
                         f"{added:.2f}", f"{ratio:.2f}x", f"<= {FLOOR_TARGET:g}x",
                         "ok" if ratio <= FLOOR_TARGET else "MISSED"])
    print_table("Added p50 (bench.overhead, same run) over the floor (ms)",
                ["endpoint", "rate", "n", "floor", "added p50", "added / floor", "target", "verdict"], rows)
    for result in results:
        # The whole machine during the timed run, the measured stack included (200%: both cores).
        print(f"{result['rate']:g}/s: machine busy {result['machine_busy']:.0f}% of {100 * (os.cpu_count() or 1)}%"
              + (f"; refused: {result['refused']}" if result["refused"] else ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--floor", action="store_true",
                        help="the floor at each rate and bench.overhead's added p50 against it (issue #14)")
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 100.0])
    parser.add_argument("--requests", type=int, default=300, help="with --floor: pairs per endpoint")
    parser.add_argument("--shared-cards", action="store_true", help="with --floor: as bench.overhead --shared-cards")
    args = parser.parse_args()
    if args.floor:
        results = []
        for rate in args.rates:
            job = floor_and_overhead(rate, args.requests, args.samples, args.shared_cards)
            try:
                import uvloop  # the loop the adapter runs on: the floor's client stands in for it
            except ImportError:
                results.append(asyncio.run(job))
            else:
                results.append(uvloop.run(job))
        floor_tables(results)
        return
    url = os.environ.get("BENCH_DATABASE_URL")
    server = None
    if not url:
        import pgserver

        server = pgserver.get_server(tempfile.mkdtemp(prefix="gca-wakeup-"), cleanup_mode="delete")
        url = server.get_uri()
    try:
        try:
            import uvloop  # the loop the adapter runs on
        except ImportError:
            rows = asyncio.run(measure_all(url, args.samples))
        else:
            rows = uvloop.run(measure_all(url, args.samples))
    finally:
        if server is not None:
            server.cleanup()
    print_table("One round trip (ms)", ["request", "sent", "p50", "p90"], rows)


if __name__ == "__main__":
    main()
