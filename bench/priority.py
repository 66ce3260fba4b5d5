"""NewStore's calls before background work (issue #14): authorize latency on a small bucket, alone
and while the poller sweeps known cards that keep changing elsewhere.

    .venv/bin/python -m bench.priority [--bucket 2000] [--restore 100] [--rate 5] [--seconds 30]
        [--sweep-cards 500] [--batch 50] [--interval 0.5] [--rounds 2] [--replicas 1]

Three conditions, each phase on a fresh stack (bench.harness) with the same sandbox bucket
(default Shopify Standard: 2,000 points restoring 100/s) and the same traffic:
- `--rate` authorizations per second, open loop (started on a fixed schedule whatever the
  earlier ones do), over 20 cards the adapter knows, for `--seconds`; each is a debit (10
  points) and the re-read that echoes it into the feed (background, on the lookups' terms);
- `--sweep-cards` cards made in the sandbox and paid with elsewhere (an order's checkout, 20 a
  second, which costs the adapter's bucket nothing), so every re-read of one finds new entries.
"alone": the poller off. "with sweep": the poller every `--interval` s re-reading `--batch`
cards a pass (POLL_INTERVAL_SECONDS, POLL_BATCH; SYNC_HOLD_SECONDS 0), asking far more than the
bucket restores; background work spends only the top half of the bucket (SEARCH_BUCKET_SHARE
0.5). "sweep, no priority": the same with SEARCH_BUCKET_SHARE 1, background work may take all
of the bucket but the margin NewStore's calls wait above (the control: what the share buys). The conditions run in turn, `--rounds` times
(the machine is shared: a slow spell then touches each condition alike); a sweep's window opens
once the poller has led 3 passes.

Reported per phase, then per condition over its rounds: authorize p50/p99/max and non-200s, the
poller's passes, cards re-read and deferred (refused by the bucket, tried again later), the
points background reads were charged (ReadCard: the poller's re-reads and each write's echo;
ChangedCards: the poller's change list), the bucket's lowest level (the sandbox's), the calls
made on the replicas' shared level, and CPU (the adapter's share of a core, the machine's of all
cores). The verdict compares authorize p99 with the sweep to p99 alone.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import secrets
import time
import uuid
from collections import Counter

import aiohttp

from adapter import jsonio
from bench.flood import Usage, open_loop
from bench.harness import API_KEY, percentile, print_table, running_stack
from bench.poller import delta, scrape

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
# The background's documents: a card's re-read (the poller's, and the one that echoes each write of
# ours into the feed, in both phases) and the change list (the poller's).
SWEEP_DOCUMENTS = ("ReadCard", "ChangedCards")
AUTHORIZE_CARDS = 20
FOREIGN_PER_SECOND = 20  # checkouts elsewhere, paid with sweep cards
SWEEP_STARTED_PASSES = 3


async def _post(session: aiohttp.ClientSession, url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    async with session.post(url, data=jsonio.dumps(body), headers=headers or {"Content-Type": "application/json"}) as r:
        return r.status, await r.json(content_type=None)


async def _checkouts_elsewhere(session: aiohttp.ClientSession, sandbox_url: str, cards: list[str],
                               stop: asyncio.Event) -> int:
    """Orders paid with sweep cards, FOREIGN_PER_SECOND of them, until `stop`."""
    rng = random.Random(14)
    placed = 0
    while not stop.is_set():
        status, _ = await _post(session, f"{sandbox_url}/sandbox/orders", {
            "line_items": [{"title": "Shirt", "price": "1.00"}],
            "gift_card_payments": [{"card_id": rng.choice(cards), "amount": "0.01"}]})
        assert status == 201, status
        placed += 1
        try:
            await asyncio.wait_for(stop.wait(), 1 / FOREIGN_PER_SECOND)
        except TimeoutError:
            pass
    return placed


CONDITIONS = {  # name: (poller on, SEARCH_BUCKET_SHARE)
    "alone": (False, "0.5"),
    "with sweep": (True, "0.5"),
    "sweep, no priority": (True, "1"),
}


async def phase(name: str, args: argparse.Namespace) -> dict:
    sweep, share = CONDITIONS[name]
    env = {"POLL_ENABLED": "true" if sweep else "false", "SYNC_HOLD_SECONDS": "0", "SEARCH_BUCKET_SHARE": share,
           "POLL_INTERVAL_SECONDS": str(args.interval), "POLL_BATCH": str(args.batch)}
    sandbox_args = ("--bucket-size", f"{args.bucket:g}", "--restore-rate", f"{args.restore:g}")
    async with running_stack(env, sandbox_args=sandbox_args, replicas=args.replicas) as stack, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        codes = [secrets.token_hex(8) for _ in range(AUTHORIZE_CARDS)]
        for code in codes:
            status, _ = await _post(session, f"{stack.sandbox_url}/sandbox/cards", {"code": code, "amount": "3000.00"})
            assert status == 201
            for url in stack.adapter_urls:  # each replica meets the card (a search, then its cache)
                status, body = await _post(session, f"{url}/gift_card/balance", {"identifier": {"number": code}}, HEADERS)
                assert status == 200, body
        sweep_cards = []
        for _ in range(args.sweep_cards):
            status, made = await _post(session, f"{stack.sandbox_url}/sandbox/cards", {"amount": "100.00"})
            assert status == 201
            sweep_cards.append(made["id"])
        await asyncio.sleep(args.bucket / args.restore + 0.5)  # the bucket full again
        stop = asyncio.Event()
        foreign = asyncio.create_task(_checkouts_elsewhere(session, stack.sandbox_url, sweep_cards, stop))
        if sweep:  # the sweep under way before the window opens
            started = time.monotonic()
            while sum([(await scrape(session, url)).get(("passes", "led"), 0)
                       for url in stack.metrics_urls]) < SWEEP_STARTED_PASSES:
                assert time.monotonic() - started < 120, "the poller did not start"
                await asyncio.sleep(0.2)
        async with session.post(f"{stack.sandbox_url}/sandbox/counters/reset") as r:
            assert r.status == 200
        metrics_before = [await scrape(session, url) for url in stack.metrics_urls]
        usage = [Usage(pid) for pid in stack.adapter_pids]
        turn = itertools.cycle(stack.adapter_urls)
        card = itertools.cycle(codes)

        async def authorize() -> tuple[int, float]:
            url, code = next(turn), next(card)
            started = time.perf_counter()
            status, _ = await _post(session, f"{url}/financial_instruments", {
                "idempotency_key": str(uuid.uuid4()), "transactions": [],
                "arguments": {"amount": 1, "currency": "USD", "payment_method": "gift_card"},
                "metadata": {"number": code}}, HEADERS)
            return status, (time.perf_counter() - started) * 1000

        answers = await open_loop(round(args.rate * args.seconds), args.rate, authorize)
        cpu = [u.done() for u in usage]
        moved: dict = {}
        for url, before in zip(stack.metrics_urls, metrics_before):
            for key, value in delta(await scrape(session, url), before).items():
                moved[key] = moved.get(key, 0.0) + value
        async with session.get(f"{stack.sandbox_url}/sandbox/state") as r:
            state = await r.json()
        stop.set()
        placed = await foreign
    latencies = [ms for _, ms in answers]
    return {
        "name": name, "latencies": latencies, "n": len(answers), "statuses": Counter(status for status, _ in answers),
        "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99), "max": max(latencies),
        "passes": moved.get(("passes", "led"), 0), "reread": moved.get(("cards", "reread"), 0),
        "deferred": moved.get(("cards", "deferred"), 0),
        "actual": {d: moved.get(("points", d, "actual"), 0.0) for d in SWEEP_DOCUMENTS},
        "requested": {d: moved.get(("points", d, "requested"), 0.0) for d in SWEEP_DOCUMENTS},
        "shared": {k[1]: v for k, v in moved.items() if k[0] == "shared"},
        "debit_points": sum(v for k, v in moved.items() if k[0] == "points" and k[1] == "DebitCard" and k[2] == "actual"),
        "throttled": state["throttled_total"], "calls": state["calls_total"], "minimum": state["bucket_minimum"],
        "adapter_cpu": sum(a for a, _ in cpu), "machine_cpu": cpu[0][1], "foreign": placed,
    }


def _row(name: str, results: list[dict], seconds: float) -> list[str]:
    """One phase, or a condition's phases pooled."""
    latencies = [ms for r in results for ms in r["latencies"]]
    statuses: Counter = sum((r["statuses"] for r in results), Counter())
    total = lambda key: sum(r[key] for r in results)  # noqa: E731
    per_doc = lambda key, doc: sum(r[key][doc] for r in results)  # noqa: E731
    window = seconds * len(results)
    shared = Counter()
    for r in results:
        shared.update(r["shared"])
    return [name, str(len(latencies)), str(statuses.get(200, 0)), str(sum(n for s, n in statuses.items() if s != 200)),
            f"{percentile(latencies, 0.5):.1f}", f"{percentile(latencies, 0.99):.1f}", f"{max(latencies):.1f}",
            f"{total('passes'):.0f}", f"{total('reread'):.0f}", f"{total('deferred'):.0f}",
            f"{per_doc('actual', 'ReadCard'):.0f} / {per_doc('actual', 'ChangedCards'):.0f}",
            f"{sum(per_doc('actual', d) for d in SWEEP_DOCUMENTS) / window:.1f}",
            f"{min(r['minimum'] for r in results):.0f}",
            f"{total('throttled'):.0f}/{total('calls'):.0f}",
            "/".join(f"{shared.get(k, 0):.0f}" for k in ("reserved", "refused", "unavailable")),
            f"{sum(r['adapter_cpu'] for r in results) / len(results) * 100:.0f}%",
            f"{sum(r['machine_cpu'] for r in results) / len(results) * 100:.0f}%"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bucket", type=float, default=2000)
    parser.add_argument("--restore", type=float, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="authorizations per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="each phase's window")
    parser.add_argument("--sweep-cards", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50, help="POLL_BATCH: cards re-read per pass")
    parser.add_argument("--interval", type=float, default=0.5, help="POLL_INTERVAL_SECONDS")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    args = parser.parse_args()
    results: dict[str, list[dict]] = {name: [] for name in args.conditions}
    rows = []
    for round_ in range(1, args.rounds + 1):
        for name in args.conditions:
            result = asyncio.run(phase(name, args))
            results[name].append(result)
            rows.append(_row(f"{name} ({round_})", [result], args.seconds))
            print(" | ".join(rows[-1]), flush=True)
    pooled = [_row(f"{name}, {args.rounds} rounds", results[name], args.seconds) for name in args.conditions]
    header = ["phase", "authorize", "200s", "non-200", "p50 ms", "p99 ms", "max ms", "poller passes",
              "cards re-read", "deferred", "background points charged (ReadCard / ChangedCards)", "charged/s",
              "bucket minimum", "THROTTLED/calls", "shared level reserved/refused/unavailable", "adapter CPU",
              "machine CPU"]
    print_table(f"Authorize at {args.rate:g}/s for {args.seconds:g} s a phase on a {args.bucket:g}-point bucket restoring "
                f"{args.restore:g}/s ({args.replicas} replica(s)); the sweep: {args.sweep_cards} cards changing elsewhere, "
                f"POLL_BATCH {args.batch} every {args.interval:g} s", header, rows + pooled)

    def p(name: str, fraction: float) -> float:
        return percentile([ms for r in results[name] for ms in r["latencies"]], fraction)

    if "alone" in results:
        for name in args.conditions[1:]:
            print(f"{name} / alone: p50 {p(name, 0.5) / p('alone', 0.5):.2f}x, p99 {p(name, 0.99) / p('alone', 0.99):.2f}x "
                  f"(+{p(name, 0.99) - p('alone', 0.99):.1f} ms); the poller re-read "
                  f"{sum(r['reread'] for r in results[name]):.0f} cards in {args.seconds * args.rounds:g} s")


if __name__ == "__main__":
    main()
