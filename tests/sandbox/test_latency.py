"""The sandbox's answer latency (issue #14): a real ledger answers in a hundred-odd milliseconds,
so `bench.overhead --ledger-latency` asks the sandbox to wait that long before every GraphQL
answer, set by flags or /sandbox/config."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time

import pytest

from giftcard_emulators.shopify.config import SandboxConfig
from giftcard_emulators.shopify.runtime import Sandbox
from tests.sandbox.conftest import CREATE, DEBIT, sandbox_process

BALANCE = "query($id: ID!) { giftCard(id: $id) { balance { amount } } }"


def test_latency_is_drawn_uniformly_within_its_jitter():
    sandbox = Sandbox(SandboxConfig(latency_ms=120, latency_jitter_ms=30), latency_rng=random.Random(14))
    draws = [sandbox.answer_latency() for _ in range(5000)]
    assert all(0.090 <= draw <= 0.150 for draw in draws)
    # Spread over the whole interval, centred on 120 ms: not a constant, not one end of it.
    assert min(draws) < 0.092 and max(draws) > 0.148
    assert 0.118 < sum(draws) / len(draws) < 0.122
    assert sum(draw < 0.120 for draw in draws) == pytest.approx(2500, abs=150)


def test_no_latency_by_default_and_none_without_jitter_to_spread():
    assert Sandbox(SandboxConfig()).answer_latency() == 0.0
    fixed = Sandbox(SandboxConfig(latency_ms=40))
    assert {fixed.answer_latency() for _ in range(50)} == {0.040}


async def _timed_call(shop, query: str, variables: dict) -> float:
    started = time.perf_counter()
    await shop.gql(query, variables)
    return time.perf_counter() - started


async def test_every_graphql_answer_waits_and_calls_wait_side_by_side(make_shop):
    shop = await make_shop(SandboxConfig(latency_ms=120, latency_jitter_ms=30))
    card = await shop.card("10.00")
    started = time.perf_counter()
    elapsed = await asyncio.gather(*[_timed_call(shop, BALANCE, {"id": card}) for _ in range(8)])
    together = time.perf_counter() - started
    assert min(elapsed) >= 0.090
    # Eight calls at once take about as long as one: the wait holds no lock and burns no CPU.
    assert together < 8 * 0.090
    # The control routes answer at once.
    started = time.perf_counter()
    await shop.state()
    assert time.perf_counter() - started < 0.090


async def test_config_endpoint_sets_and_clears_the_latency(shop):
    card = await shop.card("10.00")
    config = await shop.control("POST", "/sandbox/config", {"latency_ms": 200, "latency_jitter_ms": 0})
    assert (config["latency_ms"], config["latency_jitter_ms"]) == (200.0, 0.0)
    assert await _timed_call(shop, BALANCE, {"id": card}) >= 0.200
    # The jitter alone may change; the latency stays.
    config = await shop.control("POST", "/sandbox/config", {"latency_jitter_ms": "50"})
    assert (config["latency_ms"], config["latency_jitter_ms"]) == (200.0, 50.0)
    assert await _timed_call(shop, BALANCE, {"id": card}) >= 0.150
    await shop.control("POST", "/sandbox/config", {"latency_ms": 0, "latency_jitter_ms": 0})
    assert (await shop.state())["config"]["latency_ms"] == 0.0


@pytest.mark.parametrize(("body", "error"), [
    ({"latency_ms": -1}, "latency_ms must be a number of milliseconds, 0 or more"),
    ({"latency_ms": "soon"}, "latency_ms must be a number of milliseconds, 0 or more"),
    ({"latency_ms": True}, "latency_ms must be a number of milliseconds, 0 or more"),
    ({"latency_ms": "NaN"}, "latency_ms must be a number of milliseconds, 0 or more"),
    ({"latency_ms": 10, "latency_jitter_ms": 20}, "latency_jitter_ms must not exceed latency_ms"),
    ({"latency_jitter_ms": 5}, "latency_jitter_ms must not exceed latency_ms"),
    ({"latency_ms": 100, "issue_limit": "0"}, "issue_limit must be positive"),
])
async def test_config_endpoint_refuses_a_bad_latency_and_changes_nothing(shop, body, error):
    assert await shop.control("POST", "/sandbox/config", body, expect=400) == {"error": error}
    config = (await shop.state())["config"]
    assert (config["latency_ms"], config["latency_jitter_ms"], config["issue_limit"]) == (0.0, 0.0, "3000")


@pytest.mark.parametrize("command", [["adapter", "sandbox"], ["giftcard_emulators.shopify"]])
async def test_command_line_flags_set_the_latency(command):
    async with sandbox_process(*command, "--latency-ms", "120", "--latency-jitter-ms", "30") as (session, url):
        async with session.get(url.split("/admin/")[0] + "/sandbox/state") as response:
            config = (await response.json())["config"]
        assert (config["latency_ms"], config["latency_jitter_ms"]) == (120.0, 30.0)
        create = {"query": CREATE, "variables": {"input": {"initialAmount": {"amount": "1.00", "currencyCode": "USD"}}}}
        for _ in range(3):
            started = time.perf_counter()
            async with session.post(url, json=create) as response:
                assert (await response.json())["data"]["giftCardCreate"]["userErrors"] == []
            assert time.perf_counter() - started >= 0.090


def test_a_jitter_above_the_latency_stops_the_process():
    done = subprocess.run([sys.executable, "-m", "adapter", "sandbox", "--latency-ms", "10", "--latency-jitter-ms", "20"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        "giftcard-adapter sandbox: error: latency_jitter_ms must not exceed latency_ms"


async def test_each_answer_tells_its_wait_and_the_sandbox_keeps_it_with_the_ids_answered(make_shop):
    shop = await make_shop(SandboxConfig(latency_ms=60, latency_jitter_ms=20))
    card = await shop.card("10.00")
    debit = {"id": card, "input": {"debitAmount": {"amount": "1.00", "currencyCode": "USD"}}}
    response, body = await shop.raw(DEBIT, debit, operation_name="DebitCard")
    told = float(response.headers["X-Sandbox-Latency-Ms"])
    assert 40.0 <= told <= 80.0
    transaction = body["data"]["giftCardDebit"]["giftCardDebitTransaction"]["id"]
    calls = (await shop.control("GET", "/sandbox/latencies"))["calls"]
    assert [call["operation"] for call in calls] == ["CreateCard", "DebitCard"]
    assert calls[0]["ids"] == [card]
    assert calls[1] == {"operation": "DebitCard", "ids": [transaction, card], "latency_ms": told}
    # Kept until the counters start again; nothing is kept while no latency is set.
    await shop.control("POST", "/sandbox/counters/reset")
    await shop.control("POST", "/sandbox/config", {"latency_ms": 0, "latency_jitter_ms": 0})
    response, _ = await shop.raw(BALANCE, {"id": card})
    assert "X-Sandbox-Latency-Ms" not in response.headers
    assert (await shop.control("GET", "/sandbox/latencies"))["calls"] == []
