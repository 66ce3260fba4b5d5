"""Pacing on Shopify's cost bucket, by one adapter process and by replicas sharing one shop's bucket
(issue #14): debits over 50 cards against a sandbox whose bucket is the shop's, sent round-robin
over the replicas (a load balancer's spread), with a 1-replica baseline on the same bucket.

    .venv/bin/python -m bench.throttle [--replicas 3] [--cards 50]
        [--config RESTORE:BUCKET:DEBITS ...]

The default configurations (restore points/s : bucket points : debits):
- 100:2000:1000   Shopify Standard: 100/s, the 2,000-point bucket recorded (spec §9).
- 1000:20000:10000 Shopify Plus: 1,000/s; its bucket size is not documented (spec §9), taken as
                  20,000 (the Standard's 20 s of restore). 1,000 debits (10,000 points) would
                  never drain it, so the run has 10,000: 80 s of restore after the bucket,
                  125/s allowed (with 5,000, 167/s: more than the two cores serve through three
                  adapters, so the bucket never ran dry and the run measured the machine).
- 1000:2000:1000  Plus's rate on a 2,000-point bucket: this benchmark's figure before replicas.

Per row: the rate achieved against the rate the bucket allows (debits / ((debits x 10 - bucket) /
restore): the bucket full at the start, every point after it spent on debits), the calls the
sandbox served during the run and how many it answered THROTTLED (its /sandbox/state counters,
reset when the run starts: set-up calls excluded), and what NewStore got (non-200 answers, the
p99 of its answers), and the bucket's lowest level (near 0: the bucket, not the machine, set the
pace). Targets: >= 90% of the allowed rate, 0 non-200, THROTTLED on <= 2% of the
calls made. The adapters run with their background workers (the poller, the re-read that echoes
each write into the feed): their calls are in the counts, by document.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from adapter import jsonio
from adapter.shopify import documents
from adapter.shopify.pacing import estimated_cost
from bench.harness import API_KEY, SANDBOX_TOKEN, percentile, print_table, running_stack

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
TARGET_OF_ALLOWED = 0.9
TARGET_THROTTLED = 0.02


@dataclass(frozen=True)
class Config:
    restore: float
    bucket: float
    debits: int

    @classmethod
    def parse(cls, text: str) -> Config:
        restore, bucket, debits = text.split(":")
        return cls(float(restore), float(bucket), int(debits))


DEFAULT_CONFIGS = (Config(100, 2000, 1000), Config(1000, 20000, 10000), Config(1000, 2000, 1000))


@dataclass
class Result:
    config: Config
    replicas: int
    sent: int
    seconds: float
    statuses: dict[int, int]
    p50: float
    p99: float
    calls: dict[str, int]
    throttled: dict[str, int]
    ledger_debits: int
    replica_p99: list[float]  # each replica's answers' p99: how evenly the bucket is shared
    shared: dict[str, float]  # the replicas' reservations on the shared level, by result
    minimum: float  # the bucket's lowest level during the run

    @property
    def allowed(self) -> float:
        ideal = max(self.sent * estimated_cost("DebitCard") - self.config.bucket, 0) / self.config.restore
        return self.sent / ideal if ideal else float("inf")

    @property
    def achieved(self) -> float:
        """Debits NewStore got a 200 for, per second."""
        return self.statuses.get(200, 0) / self.seconds

    @property
    def non_200(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != 200)

    @property
    def throttled_share(self) -> float:
        total = sum(self.calls.values())
        return sum(self.throttled.values()) / total if total else 0.0

    @property
    def ok(self) -> bool:
        return (self.achieved / self.allowed >= TARGET_OF_ALLOWED and self.non_200 == 0
                and self.throttled_share <= TARGET_THROTTLED and self.ledger_debits == self.sent)

    def row(self) -> list[str]:
        total_calls = sum(self.calls.values())
        others = {k: v for k, v in self.calls.items() if k != "giftCardDebit"}
        return [f"{self.config.restore:g}", f"{self.config.bucket:g}", str(self.replicas), str(self.sent),
                f"{self.seconds:.2f}", f"{self.achieved:.1f}", f"{self.allowed:.1f}",
                f"{self.achieved / self.allowed * 100:.1f}%", str(total_calls),
                " ".join(f"{k} {v}" for k, v in sorted(others.items())) or "-",
                " ".join(f"{k} {v}" for k, v in sorted(self.throttled.items())) or "0",
                f"{self.throttled_share * 100:.2f}%", str(self.non_200),
                f"{self.p50 * 1000:.0f}", f"{self.p99 * 1000:.0f}", f"{self.minimum:.0f}",
                "/".join(f"{p * 1000:.0f}" for p in self.replica_p99),
                "/".join(f"{self.shared.get(k, 0):.0f}" for k in ("reserved", "refused", "unavailable")),
                str(self.ledger_debits),
                "ok" if self.ok else "MISSED"]


HEADER = ["restore/s", "bucket", "replicas", "debits", "seconds", "achieved/s", "allowed/s", "of allowed",
          "sandbox calls", "of which not debits", "THROTTLED", "THROTTLED %", "non-200", "p50 ms", "p99 ms", "bucket minimum",
          "p99 ms by replica", "shared level reserved/refused/unavailable", "ledger debits", "verdict"]


async def _json(session: aiohttp.ClientSession, method: str, url: str, body: dict | None = None) -> dict:
    async with session.request(method, url, data=jsonio.dumps(body) if body is not None else None,
                               headers={"X-Shopify-Access-Token": SANDBOX_TOKEN}) as response:
        return await response.json(content_type=None)


async def _shared_reservations(session: aiohttp.ClientSession, metrics_url: str) -> dict[str, float]:
    async with session.get(metrics_url) as response:
        text = await response.text()
    return {sample.labels["result"]: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "giftcard_adapter_shopify_shared_bucket_reservations_total"}


async def measure(config: Config, replicas: int, cards: int, extra_env: dict[str, str] | None = None) -> Result:
    sandbox_args = ("--bucket-size", f"{config.bucket:g}", "--restore-rate", f"{config.restore:g}")
    async with running_stack(extra_env, sandbox_args=sandbox_args, replicas=replicas) as stack, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=cards * 2)) as session:
        codes = []
        for _ in range(cards):
            code = secrets.token_hex(8)
            await _json(session, "POST", stack.graphql_url, {
                "query": documents.CREATE_CARD.text,
                "variables": {"input": {"initialAmount": {"amount": "3000.00", "currencyCode": "USD"}, "code": code}}})
            codes.append(code)
        # Every replica meets every card (the registry, its card cache) and has Shopify's figures
        # for the bucket before the run, as replicas that have been serving do.
        for url in stack.adapter_urls:
            for code in codes:
                async with session.post(f"{url}/gift_card/balance", headers=HEADERS,
                                        data=jsonio.dumps({"identifier": {"number": code}})) as r:
                    assert r.status == 200, await r.text()
        await asyncio.sleep(config.bucket / config.restore + 0.5)  # a full bucket at the start
        await _json(session, "POST", f"{stack.sandbox_url}/sandbox/counters/reset")
        shared_before = [await _shared_reservations(session, url) for url in stack.metrics_urls]
        statuses: dict[int, int] = {}
        failures: list[str] = []
        latencies: list[float] = []
        by_replica: dict[str, list[float]] = {url: [] for url in stack.adapter_urls}
        per_card = config.debits // cards
        turn = itertools.cycle(stack.adapter_urls)  # round-robin, one request after another

        async def card_worker(code: str) -> None:
            for _ in range(per_card):
                url = next(turn)
                started = time.perf_counter()
                async with session.post(f"{url}/financial_instruments", headers=HEADERS, data=jsonio.dumps({
                        "idempotency_key": str(uuid.uuid4()), "transactions": [],
                        "arguments": {"amount": 1, "currency": "USD", "payment_method": "gift_card"},
                        "metadata": {"number": code}})) as response:
                    raw = await response.read()
                latencies.append(time.perf_counter() - started)
                by_replica[url].append(latencies[-1])
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status != 200:
                    failures.append(raw.decode()[:200])

        started = time.perf_counter()
        await asyncio.gather(*(card_worker(code) for code in codes))
        elapsed = time.perf_counter() - started
        state = await _json(session, "GET", f"{stack.sandbox_url}/sandbox/state")
        shared: dict[str, float] = {}
        for url, before in zip(stack.metrics_urls, shared_before):
            for result, value in (await _shared_reservations(session, url)).items():
                shared[result] = shared.get(result, 0.0) + value - before.get(result, 0.0)
        for text in sorted(set(failures))[:5]:
            print("non-200:", text)
    ledger_debits = sum(1 for card in state["cards"] for t in card["transactions"] if Decimal(str(t["amount"])) < 0)
    return Result(config, replicas, per_card * cards, elapsed, statuses, percentile(latencies, 0.5),
                  percentile(latencies, 0.99), state["calls"], state["throttled"], ledger_debits,
                  [percentile(samples, 0.99) for samples in by_replica.values()], shared, state["bucket_minimum"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=3, help="adapter processes on the one bucket (with a 1-replica baseline)")
    parser.add_argument("--cards", type=int, default=50)
    parser.add_argument("--config", action="append", type=Config.parse, metavar="RESTORE:BUCKET:DEBITS",
                        help="restore points/s, bucket points and debits (repeatable; default: the three above)")
    parser.add_argument("--no-baseline", action="store_true", help="only the --replicas rows")
    args = parser.parse_args()
    counts = [args.replicas] if args.no_baseline or args.replicas == 1 else [1, args.replicas]
    rows = []
    for config in args.config or DEFAULT_CONFIGS:
        for replicas in counts:
            result = asyncio.run(measure(config, replicas, args.cards))
            rows.append(result.row())
            print(" | ".join(result.row()), flush=True)
    print_table(f"Pacing: debits over {args.cards} cards, round-robin over the replicas, one sandbox bucket "
                f"(allowed = debits / ((debits x 10 - bucket) / restore); targets: >= 90% of allowed, "
                f"THROTTLED <= 2% of the calls, 0 non-200)", HEADER, rows)


if __name__ == "__main__":
    main()
