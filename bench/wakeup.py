"""What one Postgres round trip, and one HTTP round trip to another process, cost when the
machine is busy versus when it idles in between: the reason the overhead benchmark's figures
depend on its request rate.

    .venv/bin/python -m bench.wakeup [--samples 200]

A request sent right after the previous answer finds both processes running; one sent after an
idle pause has to wake them first. The adapter pays that at least twice per mutating request in
Postgres (the claim with its intent, then the final answer), and once for its own HTTP hop.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
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
