"""How many events per second the balance-change feed delivers, and the lag it reaches at that rate
(issue #12): the real delivery worker (adapter.feed.delivery) posting signed webhooks to a local
subscriber while a producer appends events open loop at a fixed rate.

    .venv/bin/python -m bench.feed [--rates 50,100,200,400,800] [--seconds 10] [--backlog 4000]

The worker runs in a process of its own, as in production, built as app.py builds it
(FEED_CONCURRENCY 8, a batch of 4x that, FEED_POLL_INTERVAL_SECONDS 1), so the producer's CPU
does not hide its own. This process appends (one card's 1-3 events per transaction, as a re-read
does, over --cards cards), samples the queue depth every 100 ms, and runs the subscriber on
127.0.0.1, which verifies every signature and records the lag: receive time minus occurred_at,
set as the append transaction starts. Postgres: BENCH_DATABASE_URL if set (an empty database),
else an embedded pgserver in a temporary directory. All on one machine, sharing its cores.

Offered: events appended / the producer's run ("producer-bound" when 5% short of the target: this
process is the limit, not the feed). Delivered: events delivered / first append to last delivery,
less 1.2 poll intervals (the longest the idle worker sleeps: a fixed delay, which would otherwise
charge up to a tenth of a 10 s run to throughput at random), never less than the producer's run.
"Sustained": delivered >= 95% of offered and the last delivery within 2 s of the producer's stop.
Events still queued DRAIN_LIMIT s after the stop are "late" and dropped from the queue; "lost"
(neither delivered nor queued), "out of order" (a card's sequence going down at the subscriber)
and "twice" must be 0.

Last, the delivery capacity with no producer competing for the CPU: --backlog events appended while
the worker is stopped (SIGSTOP), then delivered; delivered = events / time to deliver them all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
from aiohttp import web

from adapter.feed import signature
from adapter.observability.logging import configure_logging
from adapter.store import feed
from adapter.store.migrations import migrate
from bench.harness import free_port, percentile, print_table
from bench.procstat import cpu_seconds

SUBSCRIBER = "bench"
SECRET = "bench-feed-secret-" + "s" * 32
DRAIN_LIMIT = 15.0
SUSTAINED_DRAIN = 2.0


async def run_worker(dsn: str, url: str, poll: float, concurrency: int) -> None:
    """The worker process: FeedDelivery with the adapter's pool and HTTP session, until SIGTERM."""
    import aiohttp
    from pydantic import SecretStr

    from adapter.feed.delivery import FeedDelivery, FeedSettings
    from adapter.feed.subscribers import Subscriber
    from adapter.store.database import create_pool

    configure_logging("json", "WARNING", stream=sys.stderr)
    pool = await create_pool(dsn)  # DB_POOL_MIN/MAX defaults: 2..10
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=3),
                                    connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30))
    settings = FeedSettings(poll_interval=poll, concurrency=concurrency, batch=4 * concurrency)  # feed_settings()
    worker = FeedDelivery(pool, session, (Subscriber(SUBSCRIBER, url, (SecretStr(SECRET),)),), settings)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    print("ready", flush=True)
    await worker.run(stopping)
    await session.close()
    await pool.close()


class Recorder:
    """The subscriber: 200 to a correctly signed event; receive lag per sequence, order per card."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.lag_ms: dict[int, float] = {}
        self.received_at: dict[int, float] = {}
        self.newest: dict[str, int] = {}
        self.out_of_order = self.twice = self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        now = time.time()
        if not signature.verify(request.headers.get(signature.HEADER), raw, [SECRET]):
            self.refused += 1
            return web.Response(status=401)
        body = json.loads(raw)
        sequence, card = body["sequence"], body["card"]["ledger_id"]
        if sequence in self.lag_ms:
            self.twice += 1
        else:
            self.lag_ms[sequence] = (now - datetime.fromisoformat(body["occurred_at"]).timestamp()) * 1000
            self.received_at[sequence] = now
        if sequence < self.newest.get(card, 0):
            self.out_of_order += 1
        self.newest[card] = max(sequence, self.newest.get(card, 0))
        return web.Response(status=200)


async def append_card(pool, card: int, count: int, appended: list[int]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        occurred_at = datetime.now(UTC)  # with the connection: a producer behind is not feed lag
        events = [feed.NewEvent(ledger_card_id=f"gid://shopify/GiftCard/{800000 + card}",
                                last_characters=f"{card:04d}", kind="debited", cause="online_checkout",
                                amount=Decimal("1.00"), balance_after=Decimal("99.00"), currency="USD",
                                occurred_at=occurred_at) for _ in range(count)]
        appended += await feed.append(conn, events, (SUBSCRIBER,))


async def produce(pool, total: int, rate: float, cards: int, rng: random.Random) -> list[int]:
    """Open loop: the n-th event is due at n / rate, whether earlier appends have finished or not."""
    appended: list[int] = []
    sent, tasks = 0, []
    started = time.perf_counter()
    while sent < total:
        delay = started + sent / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        count = min(rng.randint(1, 3), total - sent)
        tasks.append(asyncio.create_task(append_card(pool, rng.randrange(cards), count, appended)))
        sent += count
    await asyncio.gather(*tasks)
    return appended


async def run_rate(pool, recorder: Recorder, worker_pid: int, rate: float, total: int, cards: int, poll: float,
                   backlog: bool = False) -> dict:
    """`total` events at `rate`; with `backlog`, appended as fast as possible while the worker is
    stopped (SIGSTOP), then timed as it drains them."""
    recorder.reset()
    max_depth = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal max_depth
        async with pool.acquire() as conn:
            while not done.is_set():
                pending = "SELECT count(*) FROM feed_deliveries WHERE state = 'pending'"
                max_depth = max(max_depth, await conn.fetchval(pending))
                await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    if backlog:
        os.kill(worker_pid, signal.SIGSTOP)
    cpu_before = cpu_seconds(worker_pid)  # a stopped worker uses none
    first_append = time.time()
    appended = await produce(pool, total, rate, cards, random.Random(total))
    stopped = time.time()
    if backlog:
        os.kill(worker_pid, signal.SIGCONT)
    while time.time() - stopped < DRAIN_LIMIT and not all(s in recorder.lag_ms for s in appended):
        await asyncio.sleep(0.05)
    done.set()
    await sampler
    cpu = cpu_seconds(worker_pid) - cpu_before
    async with pool.acquire() as conn:
        queued = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM feed_deliveries")}
        mine = [s for s in appended if s in recorder.lag_ms]   # read after the queue: none falls between
        await conn.execute("DELETE FROM feed_deliveries")       # the late ones: the next rate starts empty
    late = [s for s in appended if s not in recorder.lag_ms and s in queued]
    last = max((recorder.received_at[s] for s in mine), default=stopped)
    lags = [recorder.lag_ms[s] for s in mine] or [0.0]
    offered, drain = len(appended) / (stopped - first_append), last - stopped
    # The longest the worker sleeps is not throughput: with the producer's run as the floor.
    window = drain if backlog else max(last - first_append - 1.2 * poll, stopped - first_append)
    delivered = len(mine) / max(window, 1e-3)
    kept_up = delivered >= 0.95 * offered and not late and drain <= SUSTAINED_DRAIN
    verdict = ("capacity" if backlog else "producer-bound" if offered < 0.95 * rate
               else "sustained" if kept_up else "not sustained")
    return {"rate": rate, "offered": offered, "delivered": delivered, "p50": percentile(lags, 0.5),
            "p99": percentile(lags, 0.99), "max": max(lags), "depth": max_depth, "drain": drain, "late": len(late),
            "lost": len(appended) - len(mine) - len(late), "out_of_order": recorder.out_of_order,
            "twice": recorder.twice, "refused": recorder.refused, "cpu_ms": cpu * 1000 / max(len(mine), 1),
            "verdict": verdict, "backlog": backlog, "total": len(appended)}


async def measure(dsn: str, rates: list[float], seconds: float, cards: int, backlog: int, poll: float,
                  concurrency: int) -> list[dict]:
    configure_logging("json", "WARNING", stream=sys.stderr)
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await conn.close()
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/hooks/giftcards", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.feed", "--worker", dsn, f"http://127.0.0.1:{port}/hooks/giftcards",
        "--poll", str(poll), "--concurrency", str(concurrency), stdout=asyncio.subprocess.PIPE)
    # Four connections append (as four replicas' re-reads would), one samples the queue.
    pool = await asyncpg.create_pool(dsn, min_size=5, max_size=5)
    try:
        assert (await asyncio.wait_for(worker.stdout.readline(), 30)).strip() == b"ready"
        await run_rate(pool, recorder, worker.pid, 20, 20, cards, poll)  # warm-up: connections, caches
        results = []
        for rate in rates:
            await asyncio.sleep(2)  # the worker goes idle between rates, as a quiet feed does
            results.append(await run_rate(pool, recorder, worker.pid, rate, int(rate * seconds), cards, poll))
        if backlog:
            results.append(await run_rate(pool, recorder, worker.pid, math.inf, backlog, cards, poll, backlog=True))
        return results
    finally:
        await pool.close()
        worker.send_signal(signal.SIGCONT)  # were it left stopped, SIGTERM would wait for it
        worker.terminate()
        await worker.wait()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", nargs="+", default=["50,100,200,400,800"], help="events/s: 50 200 or 50,200")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=4000, help="events queued with the worker stopped (0: none)")
    parser.add_argument("--poll", type=float, default=1.0, help="FEED_POLL_INTERVAL_SECONDS")
    parser.add_argument("--concurrency", type=int, default=8, help="FEED_CONCURRENCY")
    parser.add_argument("--worker", nargs=2, metavar=("DSN", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        import uvloop  # the loop the adapter runs on
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    if args.worker:
        run(run_worker(*args.worker, args.poll, args.concurrency))
        return
    rates = [float(x) for x in " ".join(args.rates).replace(",", " ").split()]
    dsn, server = os.environ.get("BENCH_DATABASE_URL"), None
    if not dsn:
        import pgserver

        server = pgserver.get_server(tempfile.mkdtemp(prefix="gca-feed-"), cleanup_mode="delete")
        dsn = server.get_uri()
    try:
        results = run(measure(dsn, rates, args.seconds, args.cards, args.backlog, args.poll, args.concurrency))
    finally:
        if server is not None:
            server.cleanup()
    rows = [[f"backlog {r['total']}" if r["backlog"] else f"{r['rate']:.0f}",
             "-" if r["backlog"] else f"{r['offered']:.0f}", f"{r['delivered']:.0f}",
             *(["-"] * 3 if r["backlog"] else [f"{r[k]:.0f}" for k in ("p50", "p99", "max")]),
             str(r["depth"]), f"{r['drain']:.2f}", f"{r['cpu_ms']:.2f}", r["verdict"]] for r in results]
    print_table(f"Feed delivery: {args.seconds:g} s per rate, {args.cards} cards, FEED_CONCURRENCY {args.concurrency},"
                f" poll {args.poll:g} s, worker in its own process",
                ["target ev/s", "offered ev/s", "delivered ev/s", "lag p50 ms", "lag p99 ms", "lag max ms",
                 "max queue", "drain s", "worker CPU ms/ev", "verdict"], rows)
    print_table("Correctness (each must be 0)", ["target ev/s", "late (dropped)", "lost", "out of order", "twice",
                                                 "bad signature"],
                [[rows[i][0], str(r["late"]), str(r["lost"]), str(r["out_of_order"]), str(r["twice"]),
                  str(r["refused"])] for i, r in enumerate(results)])
    best = max((r for r in results if r["verdict"] == "sustained"), key=lambda r: r["offered"], default=None)
    if best is None:
        print("\nNo rate was sustained.")
    else:
        print(f"\nHighest sustained: {best['offered']:.0f} events/s, lag p50 {best['p50']:.0f} ms,"
              f" p99 {best['p99']:.0f} ms, max {best['max']:.0f} ms.")


if __name__ == "__main__":
    main()
