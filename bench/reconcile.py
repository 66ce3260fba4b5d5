"""How long `giftcard-adapter reconcile` takes over N NewStore operations (issue #12).

    .venv/bin/python -m bench.reconcile [--operations 100000]

Bulk-loads (COPY, no ledger emulator) a clean dataset into a fresh, migrated database
(BENCH_DATABASE_URL's server if set, else an embedded pgserver in a temporary directory), runs
VACUUM ANALYZE, then times reconcile(conn, since) in-process three times, the CLI end to end once
(`giftcard-adapter reconcile --format json`, non-embedded: DATABASE_URL), and a run with injected
drift (one of each kind, rolled back afterwards). Prints markdown tables, and the per-query
EXPLAIN (ANALYZE, BUFFERS) figures with the slowest query's plan.

The dataset, over the last 12 hours, as the adapter leaves it on Shopify:
- N operations (audit_log rows) on N/5 cards (75% USD, 25% EUR), five per card: an issue (70%) or
  activate (30%) of 25-200, then authorize -> capture (80%) or revoke (20%) of the whole hold,
  a capture followed by a partial refund 30% of the time: about 20% creates, 40% authorize,
  28% capture, 7% revoke, 5% refund (the table prints the actual mix).
- One mirror row (ledger_entries, origin 'ours', same write_id) per applied operation except
  captures (they move no money: write_id NULL, no entry); creates as "<op>:<write_id>" rows, as
  Shopify makes no ledger entry for a card's creation.
- Foreign movements: online checkouts, order refunds and admin adjustments on ~5% of idle steps,
  and N/100 cards made elsewhere (a foreign 'creation' row and one checkout).
- card_sync: one row per card, balance = the sum of its entries, synced after all of it.
No balance_repairs (no absolute ledger), so the journal's repair sub-select finds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from adapter import reconciliation
from adapter.observability.logging import configure_logging
from adapter.store.migrations import migrate
from bench.harness import print_table

CAUSES = {"issue": "pos_sale", "activate": "pos_sale", "authorize": "pos_redemption", "refund": "pos_refund",
          "revoke": "reversal"}
AUDIT = ("operation", "write_id", "instrument_id", "shopify_card_id", "last_characters", "amount", "currency",
         "ledger_transaction_id", "created_at")
ENTRIES = ("ledger_card_id", "entry_id", "amount", "currency", "balance_after", "occurred_at", "origin", "cause",
           "write_id", "operation", "detail")
SYNC = ("ledger_card_id", "last_entry_id", "balance", "currency", "enabled", "last_characters", "synced_at")
SPAN = timedelta(hours=12)
CLI = Path(sys.executable).with_name("giftcard-adapter")


def money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def generate(n: int, seed: int = 12):
    """(audit rows, entry rows, card_sync rows, operation mix, card count, since)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    since = now - SPAN - timedelta(minutes=1)
    audit, entries, sync, mix = [], [], [], Counter()
    cards = max(1, n // 5)
    entry_seq = 0

    def add_card(i: int, steps: list[tuple]) -> None:
        nonlocal entry_seq
        card, last4 = f"gid://shopify/GiftCard/{500000 + i}", f"{i % 10000:04d}"
        currency = "EUR" if i % 4 == 3 else "USD"
        times = sorted(now - SPAN + rng.random() * (SPAN - timedelta(minutes=1)) for _ in steps)
        balance, last_entry = 0, None
        for (op, cents, write_id, instrument, origin, cause), at in zip(steps, times):
            if op is not None:
                mix[op] += 1
            if op == "capture":
                audit.append((op, None, instrument, card, last4, money(cents), currency, None,
                              at + timedelta(milliseconds=200)))
                continue
            if op in ("issue", "activate") or cause == "other_app":
                entry_id, detail, after = (f"{op}:{write_id}", "no ledger entry for a creation", None) if op else (
                    f"creation:{card}", "creation", money(cents))
            else:
                entry_seq += 1
                entry_id, detail, after = f"gid://shopify/GiftCardTransaction/{entry_seq}", None, money(balance + cents)
                last_entry = entry_id
            balance += cents
            entries.append((card, entry_id, money(cents), currency, after, at, origin, cause, write_id, op, detail))
            if op is not None:
                audit.append((op, write_id, instrument, card, last4, money(abs(cents)), currency,
                              None if detail else entry_id, at + timedelta(milliseconds=200)))
        sync.append((card, last_entry, money(balance), currency, True, last4, now))

    def ours(op: str, cents: int, instrument=None) -> tuple:
        return (op, cents, f"{rng.getrandbits(128):032x}", instrument, "ours", CAUSES[op])

    for i in range(cards):
        budget = n // cards + (1 if i < n % cards else 0)
        create = rng.choice((2500, 5000, 10000, 15000, 20000))
        steps, balance, state, held = [ours("issue" if rng.random() < 0.7 else "activate", create)], create, "idle", 0
        instrument = None
        while sum(1 for s in steps if s[0]) < budget:
            if state == "idle":
                if rng.random() < 0.05:  # a foreign movement between our operations
                    cause = rng.choice(("online_checkout", "online_checkout", "order_refund", "admin_adjustment"))
                    cents = rng.randint(100, 2000) if cause == "order_refund" else -rng.randint(1, max(1, balance // 3))
                    steps.append((None, cents, None, None, "foreign", cause))
                    balance += cents
                    continue
                held = rng.randint(1, max(1, balance // 3))
                instrument = uuid.UUID(bytes=rng.randbytes(16))
                steps.append(ours("authorize", -held, instrument))
                balance -= held
                state = "held"
            elif state == "held":
                if rng.random() < 0.8:
                    steps.append(("capture", held, None, instrument, None, None))
                    state = "captured"
                else:
                    steps.append(ours("revoke", held, instrument))
                    balance += held
                    state = "idle"
            else:
                if rng.random() < 0.3:
                    refunded = rng.randint(1, held)
                    steps.append(ours("refund", refunded, instrument))
                    balance += refunded
                state = "idle"
        add_card(i, steps)
    for j in range(n // 100):  # cards made elsewhere: a creation and a checkout, no operation of ours
        start = rng.choice((2500, 5000))
        add_card(cards + j, [(None, start, None, None, "foreign", "other_app"),
                             (None, -rng.randint(100, 2000), None, None, "foreign", "online_checkout")])
    return audit, entries, sync, mix, cards, since


class Explaining:
    """A connection for reconcile that EXPLAINs (ANALYZE, BUFFERS) each query it runs, by caller."""

    def __init__(self, conn):
        self.conn, self.plans = conn, {}

    async def fetch(self, sql: str, *args):
        caller = sys._getframe(1).f_code.co_name  # adapter.store.reconciliation.<query>
        plan = [row[0] for row in await self.conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)]
        self.plans[caller] = plan
        return await self.conn.fetch(sql, *args)


async def inject_drift(conn, audit: list[tuple]) -> None:
    """One drift of each kind, each on a card of its own."""
    picked, cards = [], set()
    for row in audit:
        if row[0] == "authorize" and row[3] not in cards:
            picked.append(row)
            cards.add(row[3])
        if len(picked) == 4:
            break
    mismatch, unmatched, orphan, unbalanced = picked
    await conn.execute("UPDATE audit_log SET amount = amount + 1 WHERE write_id = $1", mismatch[1])
    gone = await conn.fetchval("DELETE FROM ledger_entries WHERE write_id = $1 RETURNING amount", unmatched[1])
    await conn.execute("UPDATE card_sync SET balance = balance - $2 WHERE ledger_card_id = $1", unmatched[3], gone)
    await conn.execute(
        """INSERT INTO ledger_entries (ledger_card_id, entry_id, amount, currency, occurred_at, origin, cause,
                                       write_id, operation)
           VALUES ($1, 'gid://shopify/GiftCardTransaction/orphan', -4, $2, now(), 'ours', 'pos_redemption',
                   $3, 'authorize')""", orphan[3], orphan[6], "f" * 32)
    await conn.execute("UPDATE card_sync SET balance = balance - 4 WHERE ledger_card_id = $1", orphan[3])
    await conn.execute("UPDATE card_sync SET balance = balance + 1 WHERE ledger_card_id = $1", unbalanced[3])


@contextlib.asynccontextmanager
async def fresh_database():
    server_url, pg_server = os.environ.get("BENCH_DATABASE_URL"), None
    if not server_url:
        import pgserver

        pg_server = pgserver.get_server(os.path.join(tempfile.mkdtemp(prefix="gca-bench-"), "pg"),
                                        cleanup_mode="delete")
        server_url = pg_server.get_uri()
    name = f"gca_bench_reconcile_{os.getpid()}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if pg_server is not None:
            pg_server.cleanup()


def run_cli(database_url: str, since: datetime) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if k != "EMBEDDED"}
    env.update(DATABASE_URL=database_url, CARD_CODE_KEY="b" * 40, LOG_LEVEL="WARNING")
    started = time.perf_counter()
    done = subprocess.run([str(CLI), "reconcile", "--format", "json", "--since", since.isoformat()],
                          capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"reconcile exited {done.returncode}: {done.stderr}")
    return elapsed, json.loads(done.stdout)


def drift_text(drift: dict[str, int]) -> str:
    found = {k: v for k, v in drift.items() if v}
    return "none" if not found else ", ".join(f"{k} {v}" for k, v in found.items())


async def main(n: int) -> None:
    configure_logging("console", "WARNING", stream=sys.stderr)
    started = time.perf_counter()
    audit, entries, sync, mix, cards, since = generate(n)
    generated = time.perf_counter() - started
    async with fresh_database() as url:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
            started = time.perf_counter()
            await conn.copy_records_to_table("audit_log", records=audit, columns=AUDIT)
            await conn.copy_records_to_table("ledger_entries", records=entries, columns=ENTRIES)
            await conn.copy_records_to_table("card_sync", records=sync, columns=SYNC)
            loaded = time.perf_counter() - started
            started = time.perf_counter()
            await conn.execute("VACUUM ANALYZE")
            analyzed = time.perf_counter() - started

            runs, report = [], None
            for _ in range(3):
                started = time.perf_counter()
                report = await reconciliation.reconcile(conn, since)
                runs.append(time.perf_counter() - started)
            if not report.clean or report.not_yet_mirrored:
                raise SystemExit(f"the dataset is not clean: {report.drift}, {report.findings[:5]}")
            cli_seconds, cli_report = run_cli(url, since)
            explaining = Explaining(conn)
            await reconciliation.reconcile(explaining, since)
            await reconciliation.shift_summary(explaining, datetime.now(UTC))

            tx = conn.transaction()
            await tx.start()
            await inject_drift(conn, audit)
            started = time.perf_counter()
            drifted = await reconciliation.reconcile(conn, since)
            drift_seconds = time.perf_counter() - started
            await tx.rollback()
        finally:
            await conn.close()

    foreign = len(entries) - sum(mix[op] for op in CAUSES)
    print_table(f"reconcile over {n:,} operations", ["measure", "value"], [
        ["operations (audit_log)", f"{len(audit):,}"],
        ["mix", ", ".join(f"{op} {count:,}" for op, count in mix.most_common())],
        ["cards (card_sync)", f"{len(sync):,} ({cards:,} with our operations)"],
        ["mirror rows (ledger_entries)", f"{len(entries):,} ({len(entries) - foreign:,} ours, {foreign:,} foreign)"],
        ["generate s", f"{generated:.2f}"],
        ["load s (COPY)", f"{loaded:.2f}"],
        ["VACUUM ANALYZE s", f"{analyzed:.2f}"],
        ["reconcile s, in-process (3 runs)", " / ".join(f"{r:.2f}" for r in runs)],
        ["reconcile s, in-process median", f"{statistics.median(runs):.2f}"],
        ["CLI s, end to end (`reconcile --format json`)", f"{cli_seconds:.2f}"],
        ["checked / not yet mirrored", f"{report.checked:,} / {report.not_yet_mirrored}"],
        ["drift, clean run (in-process / CLI)", f"{drift_text(report.drift)} / {drift_text(cli_report['drift'])}"
                                                f"{'' if cli_report['clean'] else ' (CLI: DRIFT)'}"],
        ["drift, injected run", drift_text(drifted.drift)],
        ["reconcile s, injected run", f"{drift_seconds:.2f}"],
    ])
    rows = []
    for query, plan in explaining.plans.items():
        ms = next(line.split(":")[1].strip() for line in plan if line.startswith("Execution Time"))
        rows.append([query, ms, plan[0].split("  (cost=")[0].strip()])
    print_table("EXPLAIN (ANALYZE, BUFFERS) per query", ["query", "execution time", "top plan node"], rows)
    slowest = max(explaining.plans.items(), key=lambda item: float(
        next(line for line in item[1] if line.startswith("Execution Time")).split()[2]))
    print(f"\nslowest: {slowest[0]}\n```\n" + "\n".join(slowest[1]) + "\n```")
    expected = dict.fromkeys(reconciliation.DRIFT_KINDS, 1)
    if not cli_report["clean"] or drifted.drift != expected:
        raise SystemExit(f"unexpected: CLI clean={cli_report['clean']}, injected drift {drifted.drift}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="bench.reconcile")
    parser.add_argument("--operations", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().operations))
