"""The latency the adapter adds: each endpoint through the adapter versus the same Shopify calls
made directly to the sandbox, interleaved in one run at a fixed request rate.

    .venv/bin/python -m bench.overhead [--rate 20] [--requests 300] [--only refund revoke]

Open loop: requests start on a fixed schedule whether or not earlier ones finished, so a slow
response cannot hide queueing. The rate counts the pairs of all endpoints together, taken in
turn. Targets (issue #5): balance adds <= 2 ms p50 / 8 ms p99; the mutating endpoints <= 4 ms /
15 ms.
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
from bench.harness import API_KEY, SANDBOX_TOKEN, percentile, print_table, running_stack

TARGETS = {"balance": (2.0, 8.0)}
MUTATION_TARGET = (4.0, 15.0)
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


class Bench:
    def __init__(self, session: aiohttp.ClientSession, stack) -> None:
        self.session = session
        self.stack = stack

    async def adapter(self, path: str, body: dict) -> tuple[float, object]:
        started = time.perf_counter()
        async with self.session.post(self.stack.adapter_url + path, data=jsonio.dumps(body), headers=HEADERS) as r:
            payload = jsonio.loads(await r.read())
            if r.status != 200:
                raise RuntimeError(f"{path}: {r.status} {payload}")
        return (time.perf_counter() - started) * 1000, payload

    async def shopify(self, document, variables: dict) -> tuple[float, dict]:
        started = time.perf_counter()
        async with self.session.post(self.stack.graphql_url, data=jsonio.dumps({
                "query": document.text, "operationName": document.operation_name, "variables": variables}),
                headers={"X-Shopify-Access-Token": SANDBOX_TOKEN, "Content-Type": "application/json"}) as r:
            payload = jsonio.loads(await r.read())
        return (time.perf_counter() - started) * 1000, payload


async def _wallet(bench: Bench) -> dict:
    """A card of the endpoint's own, known to the adapter, with room for all its debits."""
    code = secrets.token_hex(8)
    _, created = await bench.shopify(documents.CREATE_CARD, {"input": {"initialAmount": money("3000.00"), "code": code}})
    await bench.adapter("/gift_card/balance", {"identifier": {"number": code}})
    return {"code": code, "id": created["data"]["giftCardCreate"]["giftCard"]["id"]}


def money(value: str) -> dict:
    return {"amount": value, "currencyCode": "USD"}


async def pair(calls, results: list, adapter_first: bool) -> None:
    """One adapter request and the Shopify call(s) it makes, sent one after the other.

    Whichever goes second finds the sandbox (and the machine) warmed by the first: the order
    alternates between pairs so neither side always gets that advantage."""
    adapter_call, direct_call = calls
    if adapter_first:
        adapter_ms, direct_ms = await adapter_call(), await direct_call()
    else:
        direct_ms, adapter_ms = await direct_call(), await adapter_call()
    results.append((adapter_ms, direct_ms))


async def _calls(bench: Bench, endpoint: str, wallet: dict):
    """The measured adapter request and its direct equivalent, after any set-up they need (done
    before the timed run, so that only the measured calls follow the fixed rate)."""
    code = secrets.token_hex(8)

    async def timed_adapter(path: str, body: dict) -> float:
        return (await bench.adapter(path, body))[0]

    async def timed_shopify(*calls) -> float:
        return sum([(await bench.shopify(document, variables))[0] for document, variables in calls])

    if endpoint == "balance":
        return (lambda: timed_adapter("/gift_card/balance", {"identifier": {"number": wallet["code"]}}),
                lambda: timed_shopify((documents.GET_CARD, {"id": wallet["id"]})))
    if endpoint in ("issue", "activate"):
        body = {"amount": {"value": 10, "currency": "USD"}, "customer": {}, "idempotence_key": str(uuid.uuid4())}
        if endpoint == "activate":
            body["card_number"] = code
        create = {"input": {"initialAmount": money("10.00"), "code": secrets.token_hex(8),
                            "note": f"gca:v1:{endpoint}:{uuid.uuid4().hex}"}}
        return (lambda: timed_adapter(f"/gift_card/{endpoint}", body),
                lambda: timed_shopify((documents.CREATE_CARD, create)))
    if endpoint == "deactivate":
        await bench.shopify(documents.CREATE_CARD, {"input": {"initialAmount": money("1.00"), "code": code}})
        _, other = await bench.shopify(documents.CREATE_CARD, {"input": {"initialAmount": money("1.00")}})
        other_id = other["data"]["giftCardCreate"]["giftCard"]["id"]
        # The adapter knows the card only after a lookup; give the direct side the same search.
        return (lambda: timed_adapter("/gift_card/deactivate", {"card_number": code, "idempotence_key": str(uuid.uuid4())}),
                lambda: timed_shopify((documents.SEARCH_CARDS, {"first": 2, "query": secrets.token_hex(8)}),
                                      (documents.DEACTIVATE_CARD, {"id": other_id})))
    # authorize, refund, revoke (capture touches no ledger)
    note = f"gca:v1:{endpoint}:{uuid.uuid4().hex}"
    authorize_body = {"idempotency_key": str(uuid.uuid4()), "transactions": [],
                      "arguments": {"amount": 2, "currency": "USD", "payment_method": "gift_card"},
                      "metadata": {"number": wallet["code"]}}
    if endpoint == "authorize":
        return (lambda: timed_adapter("/financial_instruments", authorize_body),
                lambda: timed_shopify((documents.DEBIT_CARD, {"id": wallet["id"], "input": {
                    "debitAmount": money("2.00"), "note": note}})))
    _, auth = await bench.adapter("/financial_instruments", authorize_body)
    path = f"/financial_instruments/{auth[0]['instrument_id']}"
    if endpoint == "refund":
        await bench.adapter(f"{path}/_capture", {"idempotency_key": str(uuid.uuid4()), "arguments": {"amount": 1, "currency": "USD"}})
    return (lambda: timed_adapter(f"{path}/_{endpoint}", {"idempotency_key": str(uuid.uuid4()),
                                                          "arguments": {"amount": 1, "currency": "USD"}}),
            lambda: timed_shopify((documents.CREDIT_CARD, {"id": wallet["id"], "input": {
                "creditAmount": money("1.00"), "note": note}})))


ENDPOINTS = ("balance", "issue", "activate", "deactivate", "authorize", "refund", "revoke")


async def measure(rate: float, requests: int, endpoints: list[str]) -> list[list[str]]:
    async with running_stack() as stack, aiohttp.ClientSession() as session:
        bench = Bench(session, stack)
        wallets = {endpoint: await _wallet(bench) for endpoint in endpoints}
        for index in range(20):  # warm-up, discarded
            for endpoint in endpoints:
                await pair(await _calls(bench, endpoint, wallets[endpoint]), [], index % 2 == 0)
        # Round-robin over the endpoints: a slow spell of the machine (a neighbour on the host,
        # a checkpoint) then touches every endpoint alike instead of the one measured during it.
        rounds = [[(endpoint, await _calls(bench, endpoint, wallets[endpoint])) for endpoint in endpoints]
                  for _ in range(requests)]
        measured: dict[str, list] = {endpoint: [] for endpoint in endpoints}
        tasks = []
        started = time.perf_counter()
        schedule = [(number, endpoint, calls) for number, of_round in enumerate(rounds) for endpoint, calls in of_round]
        for index, (round_index, endpoint, calls) in enumerate(schedule):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(pair(calls, measured[endpoint], round_index % 2 == 0)))
        await asyncio.gather(*tasks)
        results = {endpoint: ([a for a, _ in pairs], [d for _, d in pairs]) for endpoint, pairs in measured.items()}
    rows = []
    for endpoint in endpoints:
        through, direct = results[endpoint]
        added50 = percentile(through, 0.5) - percentile(direct, 0.5)
        added99 = percentile(through, 0.99) - percentile(direct, 0.99)
        target = TARGETS.get(endpoint, MUTATION_TARGET)
        verdict = "ok" if added50 <= target[0] and added99 <= target[1] else "MISSED"
        rows.append([endpoint, str(len(through)), f"{percentile(direct, 0.5):.2f}", f"{percentile(through, 0.5):.2f}",
                     f"{added50:.2f}", f"{percentile(direct, 0.99):.2f}", f"{percentile(through, 0.99):.2f}",
                     f"{added99:.2f}", f"<= {target[0]:g} / {target[1]:g}", verdict])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20.0, help="request pairs started per second (all endpoints)")
    parser.add_argument("--requests", type=int, default=300, help="pairs per endpoint")
    parser.add_argument("--only", nargs="+", choices=ENDPOINTS, default=list(ENDPOINTS), help="endpoints to measure")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.rate, args.requests, args.only))
    print_table(f"Adapter overhead at {args.rate:g} pairs/s (ms; direct = the same Shopify calls straight to the sandbox)",
                ["endpoint", "n", "direct p50", "adapter p50", "added p50", "direct p99", "adapter p99",
                 "added p99", "target p50/p99", "verdict"], rows)


if __name__ == "__main__":
    main()
