"""Cost as the data grows (issue #14): claim and replay on an empty database against one holding
months of rows (bench.bulkload), and claims during a reaper pass, in one run.

    .venv/bin/python -m bench.growth [--samples 3000] [--records 5000000 --cards 1000000 --audit 2000000]

One run, on one Postgres server (BENCH_DATABASE_URL or --database-url: a server the run creates
two databases on and drops them after; default: an embedded pgserver in a temporary directory):

1. Two databases, migrated: `empty` (only the 1,000 cards the requests use) and `loaded`.
2. Empty, before the load: the hot path's steps on the empty database alone.
3. The load (bench.bulkload: 5M finished records with their writes and instruments, 1M cards,
   2M audit rows; VACUUM ANALYZE, then a CHECKPOINT so the load's dirty pages are not written
   during the measurements).
4. Empty against loaded: requests alternate between the two databases one by one, so both see
   the same moments of this shared VM (a slow second lands on both). The verdict compares these.
5. The reaper: its real pass (adapter.services.workers.Reaper) over the loaded database's expired
   records, on the same pool and event loop as the requests, as in the adapter; and the same code
   as it ran before issue #14 (batches of 500, back to back), one after the other. Blocks of
   requests to the empty database (nothing reaps there) alternate with blocks to the loaded one
   while the reaper runs, for --reaper-seconds each or until nothing is left to reap. The
   adapter's reaper needs many minutes for 500,000 records: the table shows how far each got,
   and at what rate.

What is measured, and why here rather than through HTTP: the steps go through the code the
adapter's handlers run (IdempotencyCoordinator.execute, its claim with the ledger-write intent
and the registry lookup in one statement, then the authorization's completion: answer, write,
audit row and instrument in one statement; a replay is the claim's conflict and the fetch of the
stored answer), on the adapter's own pool. What grows with the data is Postgres' part; the HTTP
hop, aiohttp and the sandbox add 2-3 ms that does not grow and would only dilute the ratio (a
claim twice as slow would read as ~1.3x end to end) and add the noise of two more processes.

- claim: an authorization's claim for a card this process does not know (RegisteredCardIntent):
  idempotency insert, registry lookup by digest, ledger-write insert; one statement and commit.
- finish: its completion (store.completion via payments.complete_authorize): one statement.
- replay, recent key: the claim of a key answered moments ago (ON CONFLICT) and the fetch of
  its answer, as a retry arrives.
- replay, old key: the same for a key of any age: on `loaded`, a random one of the loaded
  authorizations (weeks old, its pages likely out of shared_buffers); on `empty`, a random one
  of the keys this run made there.

Targets: loaded within 1.2x of empty at p50 and p99; claims during the reaper pass within 1.5x
of empty (held here at p50 as well as p99). Ratios, never absolute times, carry the verdict on
this noisy VM; next to each p99 ratio, its 95% bootstrap range says how far chance alone moves
it at these sample sizes. Before the reaper phase, one reaper batch of each size is run under
EXPLAIN ANALYZE and rolled back: its time, the share of it spent in ledger_writes' foreign key,
and the WAL it writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from adapter.crypto import CodeVault
from adapter.domain.cardcode import CardCode
from adapter.domain.money import Money
from adapter.http.presenter import present
from adapter.observability.logging import configure_logging
from adapter.idempotency.coordinator import IdempotencyCoordinator, fingerprint
from adapter.ports import LedgerTransaction
from adapter.services.payments import complete_authorize
from adapter.services.workers import Reaper, WorkerSettings
from adapter.store.database import create_pool
from adapter.store import maintenance
from adapter.store.migrations import migrate
from adapter.store.writes import Intent, RegisteredCardIntent
from bench import bulkload
from bench.bulkload import BENCH_CARD_CODE_KEY, Sizes
from bench.harness import database_or_embedded, percentile, print_table

STEPS = ("claim", "finish", "replay, recent key", "replay, old key")
EMPTY_CARDS = 1000
LOAD_TARGET = 1.2
REAPER_TARGET = 1.5
# The reaper as the adapter runs it, and as it ran before issue #14 (the same code, no pause).
REAPERS = {
    "adapter's": WorkerSettings(),
    "before: 500, back to back": WorkerSettings(reap_batch=500, reap_duty=1.0),
}
WARMUP = 200


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Side:
    """One database under test, with the adapter's pool and coordinator on it."""

    name: str
    pool: object
    coordinator: IdempotencyCoordinator
    vault: CodeVault
    seed: str
    cards: int                                    # loaded cards 1..cards are registered
    old_keys: list[tuple[str, bytes]] = field(default_factory=list)  # (key, fingerprint) to replay
    recent: list[tuple[str, bytes, RegisteredCardIntent]] = field(default_factory=list)
    made: list[tuple[str, bytes]] = field(default_factory=list)

    def samples(self) -> dict[str, list[float]]:
        return {step: [] for step in STEPS}


class Steps:
    """The hot path's steps on one side, each sample appended to `into` (ms)."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.loop = asyncio.get_running_loop()
        self.rng = random.Random(side.name)

    def _intent(self) -> tuple[RegisteredCardIntent, bytes, Decimal]:
        side = self.side
        code = CardCode(bulkload.card_code(side.seed, self.rng.randint(1, side.cards)))
        digest = side.vault.digest(code)
        amount = Decimal(self.rng.randint(100, 5000)) / 100
        intent = Intent("authorize", code_digest=digest, code_key_id=side.vault.key_id, amount=amount, currency="USD",
                        instrument_id=uuid.uuid4(),
                        context={"metadata_json": '{"order_id":"BENCH"}', "account_id": "acct-bench",
                                 "last4": code.last4})
        return RegisteredCardIntent(intent, side.vault.digests(code)), fingerprint("authorize", digest, amount, "USD"), amount

    async def claim_and_finish(self, into: dict[str, list[float]] | None) -> None:
        side = self.side
        intent, request_fingerprint, amount = self._intent()
        key = str(uuid.uuid4())
        times = {}

        async def work(claim):
            times["claimed"] = time.perf_counter()
            assert claim.fresh and claim.write is not None and claim.write.shopify_card_id is not None
            transaction = LedgerTransaction(f"gid://shopify/GiftCardTransaction/{secrets.randbits(40)}",
                                            Money(-amount, "USD"), None, datetime.now(UTC))
            async with side.pool.acquire() as conn:
                response = await complete_authorize(conn, claim, claim.write, transaction)
            times["finished"] = time.perf_counter()
            return response

        started = time.perf_counter()
        response = await side.coordinator.execute("authorize", key, request_fingerprint, work, presenter=present,
                                                  deadline=self.loop.time() + 30, intent=intent)
        assert response.status == 200 and not response.replayed
        if into is not None:
            into["claim"].append((times["claimed"] - started) * 1000)
            into["finish"].append((times["finished"] - times["claimed"]) * 1000)
        side.recent.append((key, request_fingerprint, intent))
        del side.recent[:-50]
        side.made.append((key, request_fingerprint))

    async def replay(self, key: str, request_fingerprint: bytes, intent) -> float:
        async def work(claim):
            raise AssertionError("a replay must not run the use case")

        started = time.perf_counter()
        response = await self.side.coordinator.execute("authorize", key, request_fingerprint, work, presenter=present,
                                                       deadline=self.loop.time() + 30, intent=intent)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.replayed
        return elapsed

    async def replay_recent(self, into: dict[str, list[float]] | None) -> None:
        key, request_fingerprint, intent = self.rng.choice(self.side.recent)
        elapsed = await self.replay(key, request_fingerprint, intent)
        if into is not None:
            into["replay, recent key"].append(elapsed)

    async def replay_old(self, into: dict[str, list[float]] | None) -> None:
        keys = self.side.old_keys or self.side.made
        key, request_fingerprint = self.rng.choice(keys)
        intent, _, _ = self._intent()
        elapsed = await self.replay(key, request_fingerprint, intent)
        if into is not None:
            into["replay, old key"].append(elapsed)

    async def one(self, into: dict[str, list[float]] | None) -> None:
        await self.claim_and_finish(into)
        await self.replay_recent(into)
        await self.replay_old(into)


async def _side(name: str, url: str, seed: str, cards: int) -> Side:
    vault = CodeVault(BENCH_CARD_CODE_KEY)
    pool = await create_pool(url)  # the adapter's pool (min 2, max 10, its release hook)
    coordinator = IdempotencyCoordinator(pool, vault, lease_seconds=20, wait_seconds=2)
    return Side(name, pool, coordinator, vault, seed, cards)


async def _old_keys(side: Side, url: str, report: bulkload.LoadReport, count: int = 3000) -> None:
    """Random loaded authorizations' keys and fingerprints (read before the timing starts)."""
    rng = random.Random(1)
    ids = [report.first_record_id - 1 + rng.randint(1, report.sizes.records) for _ in range(count * 4)]
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """SELECT key, fingerprint FROM idempotency_keys
                WHERE id = ANY($1::bigint[]) AND operation = 'authorize' AND response_status = 200
                  AND created_at >= now() - interval '29 days'""", ids)
    finally:
        await conn.close()
    side.old_keys = [(r["key"], r["fingerprint"]) for r in rows][:count]


def _p99_range(base: list[float], other: list[float], rounds: int = 500) -> tuple[float, float]:
    """The p99 ratio's 95% bootstrap interval: how far chance alone moves it, at these sample sizes."""
    rng = random.Random(99)
    ratios = sorted(
        percentile(rng.choices(other, k=len(other)), 0.99) / percentile(rng.choices(base, k=len(base)), 0.99)
        for _ in range(rounds))
    return ratios[int(0.025 * rounds)], ratios[int(0.975 * rounds) - 1]


def _row(step: str, base: list[float], other: list[float], target: float) -> list[str]:
    if not base or not other:
        # At small --records the reaper can be done before the first request of its block (or
        # the first variant leaves nothing for the second to reap): nothing to compare.
        return [step, "0", *["-"] * 7, f"<= {target}", "no samples"]
    b50, b99, o50, o99 = (percentile(base, 0.5), percentile(base, 0.99), percentile(other, 0.5),
                          percentile(other, 0.99))
    r50, r99 = o50 / b50, o99 / b99
    low, high = _p99_range(base, other)
    verdict = "ok" if r50 <= target and r99 <= target else "MISSED"
    return [step, str(min(len(base), len(other))), f"{b50:.2f}", f"{b99:.2f}", f"{o50:.2f}", f"{o99:.2f}",
            f"{r50:.2f}", f"{r99:.2f}", f"{low:.2f}-{high:.2f}", f"<= {target}", verdict]


async def _statement_of(store_function, *args) -> str:
    """The statement a store function sends (it is given a connection that only keeps it)."""
    sent = []

    class Keeper:
        async def execute(self, sql, *_):
            sent.append(sql)
            return "DELETE 0"

    await store_function(Keeper(), *args)
    return sent[0]


async def _batch_plan(url: str, batch: int) -> list[str]:
    """EXPLAIN ANALYZE of one reaper batch, rolled back: where its time goes, and its WAL."""
    conn = await asyncpg.connect(url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        try:
            sql = await _statement_of(maintenance.reap_expired, bulkload.RETENTION_DAYS, batch)
            wal_before = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
            plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}",
                                                  bulkload.RETENTION_DAYS, batch))[0]
            # All the WAL written meanwhile, the foreign key's included (a plan's own WAL figures
            # leave out what its triggers wrote).
            wal = await conn.fetchval("SELECT pg_current_wal_insert_lsn() - $1::pg_lsn", wal_before)
        finally:
            await transaction.rollback()
    finally:
        await conn.close()
    triggers = sum(t["Time"] for t in plan.get("Triggers", []))
    return [str(batch), f"{plan['Execution Time']:.1f}", f"{triggers:.1f}", f"{float(wal) / 1024:,.0f}"]


async def _expired(side: Side) -> int:
    async with side.pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE state = 'final' AND created_at < now() - make_interval(days => $1)",
            bulkload.RETENTION_DAYS)


async def run(server_url: str, sizes: Sizes, samples: int, block: int, reaper_seconds: float, seed: str,
              chunk: int) -> None:
    tag = secrets.token_hex(3)
    names = {"empty": f"gca_growth_{tag}_empty", "loaded": f"gca_growth_{tag}_loaded"}
    admin = await asyncpg.connect(server_url)
    for database in names.values():
        await admin.execute(f'CREATE DATABASE "{database}"')
    urls = {side: _with_database(server_url, database) for side, database in names.items()}
    sides: dict[str, Side] = {}
    try:
        for side_name, url in urls.items():
            conn = await asyncpg.connect(url)
            try:
                await migrate(conn)
                if side_name == "empty":
                    await bulkload.load(conn, Sizes(records=0, cards=EMPTY_CARDS, audit=0), seed=seed, say=lambda _: None)
            finally:
                await conn.close()
        empty = sides["empty"] = await _side("empty", urls["empty"], seed, EMPTY_CARDS)
        steps = {"empty": Steps(empty)}

        # 2. The empty database alone, before the load.
        _say(f"empty database, before the load: {samples} requests of each step")
        for _ in range(WARMUP):
            await steps["empty"].one(None)
        async with empty.pool.acquire() as conn:
            await conn.execute("ANALYZE")  # what autovacuum does once 50 rows have changed
        before = empty.samples()
        for _ in range(samples):
            await steps["empty"].one(before)

        # 3. The load.
        _say("bulk load")
        conn = await asyncpg.connect(urls["loaded"])
        try:
            started = time.monotonic()
            report = await bulkload.load(conn, sizes, seed=seed, chunk=chunk)
            await conn.execute("CHECKPOINT")
            load_seconds = time.monotonic() - started
            loaded_tables = await bulkload.table_sizes(conn)
        finally:
            await conn.close()
        loaded = sides["loaded"] = await _side("loaded", urls["loaded"], seed, max(sizes.cards, 1))
        steps["loaded"] = Steps(loaded)
        await _old_keys(loaded, urls["loaded"], report)
        if not loaded.old_keys:
            raise SystemExit("the load holds no authorization to replay: load more records")

        # 4. Empty against loaded, alternating request by request.
        _say(f"empty against loaded, alternating: {samples} requests of each step on each")
        for _ in range(WARMUP):
            await steps["empty"].one(None)
            await steps["loaded"].one(None)
        alternating = {"empty": empty.samples(), "loaded": loaded.samples()}
        for i in range(samples):
            order = ("empty", "loaded") if i % 2 == 0 else ("loaded", "empty")
            for side_name in order:
                await steps[side_name].one(alternating[side_name])

        # 5. Reaper passes on the loaded database: the adapter's, then the one it had before (batches
        # of 500 back to back), each in blocks alternating with blocks of requests to the empty
        # database, each for its own time (the old one's WAL and checkpoints stay out of the first).
        expired_before = expired_left = await _expired(loaded)
        batch_plans = [await _batch_plan(urls["loaded"], batch) for batch in (WorkerSettings().reap_batch, 500)]
        reaping = {variant: {"empty": empty.samples(), "loaded": loaded.samples()} for variant in REAPERS}
        reaped = {variant: 0 for variant in REAPERS}
        busy = {variant: 0.0 for variant in REAPERS}
        for variant, settings in REAPERS.items():
            _say(f"reaper ({variant}) over {expired_left:,} expired records for {reaper_seconds:.0f} s,"
                 f" in blocks of {block} requests")
            phase_ends = time.monotonic() + reaper_seconds
            while time.monotonic() < phase_ends and expired_left > 0:
                for _ in range(block):
                    await steps["empty"].one(reaping[variant]["empty"])
                reaper = Reaper(SimpleNamespace(pool=loaded.pool), settings)
                stopping = asyncio.Event()
                started = time.monotonic()
                task = asyncio.create_task(reaper.run_once(stopping))
                for _ in range(block):
                    if task.done():
                        break
                    await steps["loaded"].one(reaping[variant]["loaded"])
                stopping.set()
                reaped[variant] += await task
                busy[variant] += time.monotonic() - started
                expired_left = await _expired(loaded)
            _say(f"  reaped {reaped[variant]:,} in {busy[variant]:.0f} s, {expired_left:,} expired left")
    finally:
        for side in sides.values():
            await side.pool.close()
        for database in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()

    header = ["step", "n", "empty p50", "empty p99", "loaded p50", "loaded p99", "p50 ratio", "p99 ratio",
              "p99 ratio 95% range", "target", "verdict"]
    print_table(f"Loaded in {load_seconds:.0f} s (seed {seed}; VACUUM ANALYZE and CHECKPOINT included)",
                ["table", "rows inserted", "seconds"],
                [[t, f"{n:,}", f"{report.seconds[t]:.0f}"] for t, n in report.rows.items()]
                + [["vacuum analyze", "", f"{report.seconds['vacuum analyze']:.0f}"]])
    print_table("The loaded database", ["table", "rows (estimated)", "total MiB", "indexes MiB"], loaded_tables)
    print_table("Empty against loaded, requests alternating between them (ms)", header,
                [_row(step, alternating["empty"][step], alternating["loaded"][step], LOAD_TARGET) for step in STEPS])
    print_table("Requests during reaper passes over the loaded database's expired records, in blocks alternating"
                " with blocks of requests to the empty database (ms)",
                ["reaper", "step", "n", "empty p50", "empty p99", "reaping p50", "reaping p99", "p50 ratio",
                 "p99 ratio", "p99 ratio 95% range", "target", "verdict"],
                [[variant, *_row(step, reaping[variant]["empty"][step], reaping[variant]["loaded"][step], REAPER_TARGET)]
                 for variant in REAPERS for step in ("claim", "finish")])
    print_table("The reaper passes", ["reaper", "batch", "pause after a batch", "reaped", "seconds reaping",
                                      "records/s"],
                [[variant, str(settings.reap_batch),
                  f"{(1 - settings.reap_duty) / settings.reap_duty:g}x its time" if settings.reap_duty < 1 else "none",
                  f"{reaped[variant]:,}", f"{busy[variant]:.1f}",
                  f"{reaped[variant] / busy[variant]:,.0f}" if busy[variant] else "-"]
                 for variant, settings in REAPERS.items()]
                + [["expired records", "", "", f"{expired_before:,} before", f"{expired_left:,} left", ""]])
    print_table("One reaper batch on the loaded database, EXPLAIN ANALYZE, rolled back",
                ["batch", "ms", "of which ledger_writes' foreign key (ON DELETE SET NULL)", "WAL KiB"], batch_plans)
    print_table("The empty database before the load against the same in the alternating run (the machine's drift, ms)",
                ["step", "before p50", "before p99", "alternating p50", "alternating p99"],
                [[step, f"{percentile(before[step], 0.5):.2f}", f"{percentile(before[step], 0.99):.2f}",
                  f"{percentile(alternating['empty'][step], 0.5):.2f}",
                  f"{percentile(alternating['empty'][step], 0.99):.2f}"] for step in STEPS])


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="a server to create the run's two databases on (default: an embedded pgserver)")
    parser.add_argument("--samples", type=int, default=3000, help="requests of each step per database")
    parser.add_argument("--block", type=int, default=200, help="requests per block in the reaper phase")
    parser.add_argument("--reaper-seconds", type=float, default=120, help="how long the reaper phase runs at most")
    parser.add_argument("--seed", default=None)
    bulkload.sizes_arguments(parser)
    args = parser.parse_args()
    sizes = bulkload.sizes_from(args)
    seed = args.seed or secrets.token_hex(4)
    configure_logging("console", "WARNING", stream=sys.stderr)
    with database_or_embedded(args.database_url, "gca-growth-") as url:
        try:
            import uvloop  # the loop the adapter runs on
        except ImportError:
            asyncio.run(run(url, sizes, args.samples, args.block, args.reaper_seconds, seed, args.chunk))
        else:
            uvloop.run(run(url, sizes, args.samples, args.block, args.reaper_seconds, seed, args.chunk))


if __name__ == "__main__":
    main()
