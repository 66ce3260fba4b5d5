"""Randomized operations under injected faults, retried like NewStore would; then the ledger is
checked for exactly-once effects and no lost acknowledgements.

Bounded: OPERATIONS operations, at most MAX_ATTEMPTS tries each, and a time budget. The seed
comes from CHAOS_SEED (printed), so a failing run can be replayed.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections import Counter
from decimal import Decimal

import pytest

from tests import ledger_view
from tests.chaos.invariants import assert_exactly_once, assert_instrument_totals_match_ledger
from tests.conftest import AUTH

pytestmark = pytest.mark.chaos

OPERATIONS = int(os.environ.get("CHAOS_OPERATIONS", "320"))
MAX_ATTEMPTS = 16
GIVE_UP = 0.3  # share of callers that never retry a 503
TIME_BUDGET_SECONDS = 150
FAULTS = [
    {"kind": "error_5xx", "probability": 0.08},
    {"kind": "lose_response", "probability": 0.08},
    {"kind": "internal_server_error", "probability": 0.04},
    {"kind": "latency", "probability": 0.05, "latency_ms": 1500},  # past the 1 s deadline below
]


class Run:
    def __init__(self, adapter, seed: int) -> None:
        self.adapter = adapter
        self.random = random.Random(seed)
        self.statuses: Counter[int] = Counter()
        self.retries = 0
        self.abandoned = 0
        self.acknowledged: list[tuple[str, dict]] = []
        self.cards: list[str] = []          # codes with money on them
        self.instruments: list[dict] = []    # {"id", "authorized", "captured", "refunded"}

    async def send(self, path: str, body: dict) -> tuple[int, object]:
        """POST like NewStore: retry the same key on 503 until a final answer; now and then give
        up after the first 503, leaving the key to the reconciler."""
        gives_up = self.random.random() < GIVE_UP
        for attempt in range(MAX_ATTEMPTS):
            response = await self.adapter.post(path, json=body, headers=AUTH)
            self.statuses[response.status] += 1
            payload = await response.json()
            assert response.status in (200, 400, 404, 503), (response.status, payload)
            if response.status != 503:
                return response.status, payload
            if gives_up:
                self.abandoned += 1
                return 503, None
            self.retries += 1
            await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
        return 503, None

    def key(self) -> str:
        return f"chaos-{self.random.getrandbits(64):016x}"

    def code(self) -> str:
        return "".join(self.random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))

    async def one(self) -> None:
        choice = self.random.random()
        if choice < 0.12 or not self.cards:
            status, body = await self.send("/gift_card/activate", {
                "card_number": (code := self.code()), "amount": {"value": 200, "currency": "USD"}, "customer": {},
                "idempotence_key": self.key()})
            if status == 200:
                self.cards.append(code)
                self.acknowledged.append(("activate", body))
        elif choice < 0.2:
            status, body = await self.send("/gift_card/issue", {
                "amount": {"value": 25, "currency": "USD"}, "customer": {}, "idempotence_key": self.key()})
            if status == 200:
                self.acknowledged.append(("issue", body))
        elif choice < 0.45:
            amount = Decimal(self.random.randint(1, 3000)) / 100
            status, body = await self.send("/financial_instruments", {
                "idempotency_key": self.key(), "transactions": [],
                "arguments": {"amount": amount, "currency": "USD", "payment_method": "gift_card"},
                "metadata": {"number": self.random.choice(self.cards)}})
            if status == 200:
                self.instruments.append({"id": body[0]["instrument_id"], "authorized": amount})
                self.acknowledged.append(("authorize", body[0]))
        elif choice < 0.97 and self.instruments:
            instrument = self.random.choice(self.instruments)
            operation = self.random.choice(["capture", "capture", "refund", "revoke"])
            amount = Decimal(self.random.randint(1, 1500)) / 100
            status, body = await self.send(f"/financial_instruments/{instrument['id']}/_{operation}", {
                "idempotency_key": self.key(), "arguments": {"amount": amount, "currency": "USD"}})
            if status == 200:
                self.acknowledged.append((operation, body[0]))
        elif self.cards:
            status, body = await self.send("/gift_card/deactivate", {
                "card_number": self.cards.pop(self.random.randrange(len(self.cards))), "idempotence_key": self.key()})
            if status == 200:
                self.acknowledged.append(("deactivate", body))


async def test_randomized_faults_never_move_money_twice_or_lose_an_acknowledgement(make_adapter, sandbox, db):
    seed = int(os.environ.get("CHAOS_SEED") or secrets.randbelow(2**32))
    print(f"\nCHAOS_SEED={seed}")
    # A resend is allowed only once an earlier attempt can no longer be executing: here the
    # slowest injected server-side delay is 1.5 s, so 2 s.
    adapter = await make_adapter(request_deadline_seconds=1.0, ledger_resend_after_seconds=2.0,
                                 reconcile_grace_seconds=0, idempotency_lease_seconds=3,
                                 reverse_unanswered_debit_after_seconds=0,
                                 idempotency_wait_seconds=0.5)
    run = Run(adapter, seed)
    settled_before = _metric_total("giftcard_adapter_ledger_settlements_total")
    unknown_before = _metric_total("giftcard_adapter_ledger_unknown_outcomes_total")
    for fault in FAULTS:
        await ledger_view.add_fault(sandbox, **fault, seed=seed)
    started = time.monotonic()
    done = 0
    # A few requests in flight at once, as several tills would send them.
    while done < OPERATIONS and time.monotonic() - started < TIME_BUDGET_SECONDS:
        batch = min(4, OPERATIONS - done)
        await asyncio.gather(*(run.one() for _ in range(batch)))
        done += batch
    await ledger_view.clear_faults(sandbox)

    # Faults over: the reconciler settles everything nobody retried.
    from adapter.http.keys import WORKERS

    reconciler = adapter.server.app[WORKERS].reconciler
    settle_started = time.monotonic()
    settled: Counter[str] = Counter()
    for _ in range(60):
        async with db.acquire() as conn:
            open_records = await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE state = 'open'")
        if open_records == 0:
            break
        await asyncio.sleep(0.35)
        settled.update(await reconciler.run_once())
    settle_seconds = time.monotonic() - settle_started
    async with db.acquire() as conn:
        unsettled = await conn.fetchval(
            "SELECT count(*) FROM ledger_writes WHERE state = 'unknown' OR (state = 'pending' AND attempts > 0)")

    faults_fired = (await ledger_view.state(sandbox)).get("faults_fired", {})
    unknowns = _metric_total("giftcard_adapter_ledger_unknown_outcomes_total") - unknown_before
    settlements = _metric_total("giftcard_adapter_ledger_settlements_total") - settled_before
    figures = await assert_exactly_once(sandbox, db)
    await assert_instrument_totals_match_ledger(sandbox, db)
    lost = await _lost_acknowledgements(sandbox, run.acknowledged)
    print(f"operations={done} faults_injected={dict(faults_fired)} unknown_outcomes={unknowns:.0f} "
          f"settlements={settlements:.0f} answers={dict(run.statuses)} retries={run.retries} given_up={run.abandoned} "
          f"settled={dict(settled)} settle_seconds={settle_seconds:.2f} unsettled_left={unsettled} "
          f"ledger_effects={figures['ledger_effects']} double_effects={figures['double_effects']} "
          f"lost_acknowledgements={lost}")
    assert done >= min(OPERATIONS, 300)
    assert set(run.statuses) <= {200, 400, 404, 503}
    assert unsettled == 0
    assert open_records == 0, "records left open after the reconciler ran"
    assert lost == 0
    assert run.statuses[200] > done // 2, "the run should mostly succeed despite the faults"


async def _lost_acknowledgements(sandbox, acknowledged) -> int:
    """Every 200 we sent must be backed by the ledger."""
    cards = await ledger_view.cards(sandbox)
    codes = {card["code"]: card for card in cards}
    transactions = {t["id"] for card in cards for t in card["transactions"]}
    lost = 0
    for operation, body in acknowledged:
        if operation in ("issue", "activate"):
            lost += body["identifier"]["number"] not in codes
        elif operation == "deactivate":
            lost += codes[body["identifier"]["number"]]["enabled"] is not False
        elif operation != "capture":
            lost += body["metadata"]["ledger_transaction_id"] not in transactions
    return lost


def _metric_total(name: str) -> float:
    from prometheus_client import REGISTRY

    return sum(sample.value for metric in REGISTRY.collect() for sample in metric.samples if sample.name == name)
