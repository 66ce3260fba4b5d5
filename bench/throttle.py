"""Pacing on Shopify's cost bucket: 1,000 debits over 50 cards against a sandbox whose bucket
restores 1,000 points/s. The run must reach >= 90% of the rate the bucket allows, with zero
THROTTLED answers reaching NewStore (every request answers 200).

    .venv/bin/python -m bench.throttle [--debits 1000] [--cards 50]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid

import aiohttp

from adapter import jsonio
from adapter.shopify import documents
from adapter.shopify.pacing import estimated_cost
from bench.harness import API_KEY, SANDBOX_TOKEN, print_table, running_stack

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
BUCKET, RESTORE = 2000, 1000


async def _state(session, stack) -> dict:
    async with session.get(f"{stack.sandbox_url}/sandbox/state") as response:
        return await response.json()


async def measure(debits: int, cards: int) -> list[list[str]]:
    async with running_stack(sandbox_args=("--bucket-size", str(BUCKET), "--restore-rate", str(RESTORE))) as stack, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=cards)) as session:
        codes = []
        for _ in range(cards):
            code = secrets.token_hex(8)
            async with session.post(stack.graphql_url, headers={"X-Shopify-Access-Token": SANDBOX_TOKEN},
                                    data=jsonio.dumps({"query": documents.CREATE_CARD.text,
                                                       "variables": {"input": {"initialAmount": {"amount": "3000.00", "currencyCode": "USD"}, "code": code}}})) as r:
                await r.read()
            async with session.post(f"{stack.adapter_url}/gift_card/balance", headers=HEADERS,
                                    data=jsonio.dumps({"identifier": {"number": code}})) as r:
                assert r.status == 200, await r.text()
            codes.append(code)
        await asyncio.sleep(BUCKET / RESTORE + 0.5)  # a full bucket at the start, as the model assumes
        statuses: dict[int, int] = {}
        failures: list[str] = []
        per_card = debits // cards

        async def card_worker(code: str) -> None:
            for _ in range(per_card):
                async with session.post(f"{stack.adapter_url}/financial_instruments", headers=HEADERS, data=jsonio.dumps({
                        "idempotency_key": str(uuid.uuid4()), "transactions": [],
                        "arguments": {"amount": 1, "currency": "USD", "payment_method": "gift_card"},
                        "metadata": {"number": code}})) as response:
                    raw = await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status != 200:
                        failures.append(raw.decode()[:200])

        started = time.perf_counter()
        await asyncio.gather(*(card_worker(code) for code in codes))
        elapsed = time.perf_counter() - started
        state = await _state(session, stack)
        for text in sorted(set(failures))[:5]:
            print("non-200:", text)
    sent = per_card * cards
    cost = estimated_cost("DebitCard")
    ideal_seconds = max(sent * cost - BUCKET, 0) / RESTORE
    allowed_rate = sent / ideal_seconds if ideal_seconds else float("inf")
    achieved = sent / elapsed
    ledger_debits = sum(len(c["transactions"]) for c in state["cards"])
    throttled_upstream = state.get("faults_fired", {})
    return [[str(sent), f"{elapsed:.2f}", f"{achieved:.1f}", f"{allowed_rate:.1f}", f"{achieved / allowed_rate * 100:.1f}%",
             str(statuses.get(200, 0)), str(sum(v for k, v in statuses.items() if k != 200)), str(ledger_debits),
             "ok" if achieved / allowed_rate >= 0.9 and statuses.get(200, 0) == sent else "MISSED"]], throttled_upstream


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--debits", type=int, default=1000)
    parser.add_argument("--cards", type=int, default=50)
    args = parser.parse_args()
    rows, _ = asyncio.run(measure(args.debits, args.cards))
    print_table(f"Pacing: {args.debits} debits over {args.cards} cards, bucket {BUCKET} points restoring {RESTORE}/s "
                f"(allowed rate = debits / ((debits x cost - bucket) / restore))",
                ["debits", "seconds", "achieved/s", "allowed/s", "of allowed", "200s", "non-200", "ledger debits", "verdict"],
                rows)


if __name__ == "__main__":
    main()
