"""Shopify points per NewStore operation (issue #14): what each operation costs the shop's bucket,
requested and actually charged, against the least the API allows for that work.

    .venv/bin/python -m bench.points [--repeat 5]

The adapter and the sandbox run as processes (bench.harness); each operation is sent `--repeat`
times on its own, and the points are read off the adapter's
giftcard_adapter_shopify_query_cost_points_total{operation, kind} before and after (the figures
Shopify's answers carry in extensions.cost). Requested is what Shopify checks against the bucket
before running a document (its static estimate of the selection); actual is what it keeps.

The least the API allows: a gift-card mutation costs 10 whatever it selects; a read costs 1 per
object it returns (MoneyV2 and other scalars' objects are free), 2 per connection plus its
nodes. So a known card's balance is 1 (giftCard); an unknown card's is one search, a connection
with the one card it finds (2 + 1: asked for two, to tell a single hit, and charged for what
came back), whose answer carries the balance; capture moves no money (0). The adapter runs
without its workers: the poller, and the re-read that echoes each write into the feed (one
ReadCard, 4-6 points charged: bench.poller), are background work on the lookups' terms.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import uuid
from collections import defaultdict

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from adapter import jsonio
from adapter.shopify import documents
from bench.harness import API_KEY, SANDBOX_TOKEN, print_table, running_stack

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
# The least each operation's Shopify work can cost (module docstring).
MINIMUM = {"balance (known card)": 1, "balance (unknown card)": 3, "issue": 10, "activate": 10,
           "deactivate": 10, "authorize": 10, "capture": 0, "refund": 10, "revoke": 10}


async def points(session: aiohttp.ClientSession, url: str) -> dict[tuple[str, str], float]:
    async with session.get(url) as response:
        text = await response.text()
    found: dict[tuple[str, str], float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "giftcard_adapter_shopify_query_cost_points_total":
                found[(sample.labels["operation"], sample.labels["kind"])] += sample.value
    return found


async def post(session: aiohttp.ClientSession, url: str, body: dict) -> dict | list:
    async with session.post(url, headers=HEADERS, data=jsonio.dumps(body)) as response:
        answer = await response.json(content_type=None)
        assert response.status == 200, answer
        return answer


def code() -> str:
    return secrets.token_hex(8)


async def measure(repeat: int) -> list[list[str]]:
    # No workers: the poller's passes and each write's echo re-read (the feed's, one ReadCard: see
    # bench.poller) would land in whichever operation is being measured.
    async with running_stack({"WORKERS_ENABLED": "false"}) as stack, aiohttp.ClientSession() as session:
        base = stack.adapter_url

        async def made_elsewhere(amount: str = "100.00") -> str:
            card_code = code()
            async with session.post(stack.graphql_url, headers={"X-Shopify-Access-Token": SANDBOX_TOKEN},
                                    data=jsonio.dumps({"query": documents.CREATE_CARD.text, "variables": {"input": {
                                        "initialAmount": {"amount": amount, "currencyCode": "USD"},
                                        "code": card_code}}})) as response:
                await response.read()
            return card_code

        wallet = await made_elsewhere("3000.00")
        await post(session, f"{base}/gift_card/balance", {"identifier": {"number": wallet}})  # now known
        # What each operation needs made first (outside its measurement), then the operation.
        instruments: list[str] = []

        async def authorize() -> None:
            answer = await post(session, f"{base}/financial_instruments", {
                "idempotency_key": str(uuid.uuid4()), "transactions": [],
                "arguments": {"amount": 3, "currency": "USD", "payment_method": "gift_card"},
                "metadata": {"number": wallet}})
            instruments.append(answer[0]["instrument_id"])

        def psp(step: str):
            async def run() -> None:
                await post(session, f"{base}/financial_instruments/{instruments.pop(0)}/_{step}", {
                    "idempotency_key": str(uuid.uuid4()), "arguments": {"amount": 1, "currency": "USD"}})
            return run

        unknown = [await made_elsewhere() for _ in range(repeat)]
        to_deactivate = []
        for _ in range(repeat):
            card_code = code()
            await post(session, f"{base}/gift_card/activate", {"card_number": card_code, "customer": {},
                                                               "amount": {"value": 10, "currency": "USD"},
                                                               "idempotence_key": str(uuid.uuid4())})
            to_deactivate.append(card_code)
        steps = {
            "balance (known card)": lambda: post(session, f"{base}/gift_card/balance",
                                                 {"identifier": {"number": wallet}}),
            "balance (unknown card)": lambda: post(session, f"{base}/gift_card/balance",
                                                   {"identifier": {"number": unknown.pop()}}),
            "issue": lambda: post(session, f"{base}/gift_card/issue", {
                "amount": {"value": 10, "currency": "USD"}, "customer": {}, "idempotence_key": str(uuid.uuid4())}),
            "activate": lambda: post(session, f"{base}/gift_card/activate", {
                "card_number": code(), "amount": {"value": 10, "currency": "USD"}, "customer": {},
                "idempotence_key": str(uuid.uuid4())}),
            "deactivate": lambda: post(session, f"{base}/gift_card/deactivate", {
                "card_number": to_deactivate.pop(), "idempotence_key": str(uuid.uuid4())}),
            "authorize": authorize,
        }
        rows = []
        for name, step in steps.items():
            rows.append(await _row(session, stack.metrics_url, name, step, repeat))
        instruments.clear()  # the authorize row's: each row below makes its own
        for name in ("capture", "refund", "revoke"):
            for _ in range(repeat):
                await authorize()  # an instrument for each, made outside the measurement
                if name == "refund":  # a refund gives back what was captured
                    instruments.insert(0, instruments[-1])
                    await psp("capture")()
            rows.append(await _row(session, stack.metrics_url, name, psp(name), repeat))
        return rows


async def _row(session, metrics_url: str, name: str, step, repeat: int) -> list[str]:
    before = await points(session, metrics_url)
    for _ in range(repeat):
        await step()
    after = await points(session, metrics_url)
    moved = {key: after.get(key, 0) - before.get(key, 0) for key in after if after.get(key, 0) != before.get(key, 0)}
    requested = sum(v for (_, kind), v in moved.items() if kind == "requested") / repeat
    actual = sum(v for (_, kind), v in moved.items() if kind == "actual") / repeat
    used = ", ".join(sorted({operation for operation, _ in moved}))
    minimum = MINIMUM[name]
    gap = actual - minimum
    return [name, used or "-", f"{requested:g}", f"{actual:g}", str(minimum), f"{gap:+g}" if gap else "0"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.repeat))
    print_table(f"Shopify points per NewStore operation (mean of {args.repeat}; sandbox's extensions.cost)",
                ["operation", "documents", "requested", "charged", "least possible", "charged over least"], rows)


if __name__ == "__main__":
    main()
