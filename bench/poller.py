"""The poller's Shopify points (issue #12): what re-reading cards made and changed elsewhere costs
the shop's bucket, per pass and per hour, at a stated number of cards.

    .venv/bin/python -m bench.poller [--cards 1000] [--passes 30] [--batch 20] [--interval 30]

The adapter and the sandbox run as processes (bench.harness); `--cards` cards are made straight
in the sandbox (sold elsewhere: the poller meets them through its change list). The poller runs
every 0.5 s here so the run is short; a pass spends the same points whatever its interval, so
the hourly figure is points per pass x 3600 / `--interval` (the default POLL_INTERVAL_SECONDS).
Points are what the sandbox reported in `extensions.cost` and the adapter counted in
giftcard_adapter_shopify_query_cost_points_total{operation, kind}: requested (what Shopify
checks against the bucket before running a query) and actual (what it keeps).

Three phases: the first round (every card new, each registered and read once); a busy one in
which a tenth of the cards is debited elsewhere between passes (a checkout, an admin), as many
times as there are passes; and a quiet one, after nothing has moved for longer than the change
list's margin (2 min), when the list's walk stops at its first page.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import time
from collections import defaultdict

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from adapter import jsonio
from adapter.ledgers.changes import CHANGE_MARGIN
from adapter.shopify import documents
from bench.harness import SANDBOX_TOKEN, print_table, running_stack

POLL_EVERY = 0.5  # seconds between passes in this run; the figures are per pass


async def graphql(session: aiohttp.ClientSession, url: str, document, variables: dict) -> dict:
    async with session.post(url, headers={"X-Shopify-Access-Token": SANDBOX_TOKEN}, data=jsonio.dumps(
            {"query": document.text, "variables": variables, "operationName": document.operation_name})) as r:
        body = await r.json(content_type=None)
    assert not body.get("errors"), body["errors"]
    return body["data"]


async def scrape(session: aiohttp.ClientSession, url: str) -> dict[tuple[str, ...], float]:
    async with session.get(url) as response:
        text = await response.text()
    found: dict[tuple[str, ...], float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "giftcard_adapter_shopify_query_cost_points_total":
                found[("points", sample.labels["operation"], sample.labels["kind"])] += sample.value
            elif sample.name == "giftcard_adapter_poller_passes_total":
                found[("passes", sample.labels["result"])] += sample.value
            elif sample.name == "giftcard_adapter_poller_cards_total":
                found[("cards", sample.labels["result"])] += sample.value
            elif sample.name == "giftcard_adapter_shopify_shared_bucket_reservations_total":
                found[("shared", sample.labels["result"])] += sample.value
    return found


def delta(after: dict, before: dict) -> dict:
    return {key: after.get(key, 0.0) - before.get(key, 0.0) for key in set(after) | set(before)}


async def wait_passes(session, url: str, passes: int, *, at_least_cards: float = 0, timeout: float = 600) -> dict:
    start = await scrape(session, url)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        now = await scrape(session, url)
        moved = delta(now, start)
        if moved.get(("passes", "led"), 0) >= passes and moved.get(("cards", "reread"), 0) >= at_least_cards:
            return now
        await asyncio.sleep(0.2)
    raise RuntimeError("the poller did not make its passes in time")


def rows_for(phase: str, moved: dict, interval: float) -> list[list[str]]:
    passes = moved.get(("passes", "led"), 0)
    rows = []
    operations = sorted({key[1] for key in moved if key[0] == "points" and moved[key]})
    for operation in [*operations, "all"]:
        requested = sum(v for k, v in moved.items() if k[0] == "points" and k[2] == "requested"
                        and operation in (k[1], "all"))
        actual = sum(v for k, v in moved.items() if k[0] == "points" and k[2] == "actual"
                     and operation in (k[1], "all"))
        rows.append([phase, operation, f"{passes:.0f}", f"{moved.get(('cards', 'reread'), 0):.0f}",
                     f"{moved.get(('cards', 'deferred'), 0):.0f}", f"{requested / passes:.1f}",
                     f"{actual / passes:.1f}", f"{actual / passes * 3600 / interval:,.0f}"])
    return rows


async def measure(cards: int, passes: int, batch: int, interval: float) -> None:
    # No hold: a debit made here has no webhook, and would otherwise wait SYNC_HOLD_SECONDS (one
    # re-read when it is over: the cost per change is the same, only later).
    env = {"POLL_INTERVAL_SECONDS": str(POLL_EVERY), "POLL_BATCH": str(batch), "POLL_ENABLED": "true",
           "SYNC_HOLD_SECONDS": "0"}
    async with running_stack(env) as stack, aiohttp.ClientSession() as session:
        ids = []
        for _ in range(cards):
            made = await graphql(session, stack.graphql_url, documents.CREATE_CARD, {"input": {
                "initialAmount": {"amount": "100.00", "currencyCode": "USD"}, "code": secrets.token_hex(8)}})
            ids.append(made["giftCardCreate"]["giftCard"]["id"])
        before = await scrape(session, stack.metrics_url)
        first_round = await wait_passes(session, stack.metrics_url, 1, at_least_cards=cards)
        rows = rows_for(f"first round ({cards} new cards)", delta(first_round, before), interval)
        # Steady: a tenth of the cards moves between passes.
        rng = random.Random(7)
        steady_start = await scrape(session, stack.metrics_url)
        for _ in range(passes):
            for card_id in rng.sample(ids, max(1, cards // 10)):
                await graphql(session, stack.graphql_url, documents.DEBIT_CARD, {
                    "id": card_id, "input": {"debitAmount": {"amount": "0.01", "currencyCode": "USD"},
                                                  "note": "checkout elsewhere"}})
            await wait_passes(session, stack.metrics_url, 1)
        steady = delta(await scrape(session, stack.metrics_url), steady_start)
        rows += rows_for(f"steady ({cards // 10} cards moved per pass)", steady, interval)
        # Quiet: nothing moved for longer than the change list's margin, so its walk stops at
        # the first page; the round over the known cards goes on. First the list catches up on
        # what the busy phase left unfinished (the pages a pass had no room for).
        await asyncio.sleep(CHANGE_MARGIN.total_seconds() + 5)
        catch_up = 0
        for catch_up in range(3, 300, 3):  # until passes read one page of the list each at most
            before = await scrape(session, stack.metrics_url)
            moved = delta(await wait_passes(session, stack.metrics_url, 3), before)
            if moved.get(("points", "ChangedCards", "requested"), 0) / moved.get(("passes", "led"), 1) <= 60:
                break
        print(f"the change list caught up in {catch_up} passes")
        quiet_start = await scrape(session, stack.metrics_url)
        await wait_passes(session, stack.metrics_url, max(5, passes // 3))
        rows += rows_for("quiet (nothing moved for 2 min, caught up)", delta(await scrape(session, stack.metrics_url),
                                                                    quiet_start), interval)
    print_table(f"Poller points, {cards} cards, POLL_BATCH={batch}; per hour at POLL_INTERVAL_SECONDS={interval:g}",
                ["phase", "document", "passes", "cards re-read", "deferred", "requested/pass",
                 "actual/pass", "actual/hour"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=30)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--interval", type=float, default=30.0, help="the production poll interval (s)")
    args = parser.parse_args()
    asyncio.run(measure(args.cards, args.passes, args.batch, args.interval))


if __name__ == "__main__":
    main()
