"""What one Postgres round trip costs when the machine is busy versus when it idles in between:
the reason the overhead benchmark's figures depend on its request rate.

    .venv/bin/python -m bench.wakeup [--samples 200]

A statement sent right after the previous answer finds both processes running; one sent after
an idle pause has to wake them first. The adapter pays that at least twice per mutating request
(the claim with its intent, then the final answer), on top of its own HTTP hop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

import asyncpg

from bench.harness import percentile, print_table

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
            for pause_ms in (0, 5, 50):
                times = []
                for _ in range(samples):
                    started = time.perf_counter()
                    await conn.execute(sql)
                    times.append((time.perf_counter() - started) * 1000)
                    if pause_ms:
                        await asyncio.sleep(pause_ms / 1000)
                rows.append([label, "back to back" if not pause_ms else f"{pause_ms} ms idle before each",
                             f"{percentile(times, 0.5):.3f}", f"{percentile(times, 0.9):.3f}"])
        return rows
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_wakeup")
        await conn.close()


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
            rows = asyncio.run(measure(url, args.samples))
        else:
            rows = uvloop.run(measure(url, args.samples))
    finally:
        if server is not None:
            server.cleanup()
    print_table("One Postgres round trip (ms)", ["statement", "sent", "p50", "p90"], rows)


if __name__ == "__main__":
    main()
