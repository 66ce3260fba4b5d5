"""The latency the adapter adds: each endpoint through the adapter versus the same Shopify calls
made directly to the sandbox, interleaved in one run at a fixed request rate.

    .venv/bin/python -m bench.overhead [--rate 20] [--requests 300] [--only refund revoke]
    .venv/bin/python -m bench.overhead --ledger-latency 120 [--ledger-jitter 30] [--rates 20 100]

Open loop: requests start on a fixed schedule whether or not earlier ones finished, so a slow
response cannot hide queueing. The rate counts the pairs of all endpoints together, taken in
turn. Each payment (authorize, and the instrument a capture, refund or revoke works on) is made
on a card of its own, as a store's payments spread over many cards (--shared-cards: one card per
endpoint, as before issue #14). Targets (issue #5): balance adds <= 2 ms p50 / 8 ms p99; the
mutating endpoints <= 4 ms / 15 ms.

--ledger-latency (issue #14): the sandbox answers every call in MS ± the jitter (uniform), as a
real ledger does, and the run is made at each of --rates on a fresh stack. Target: the added p50
is at most 3% of the adapter's end-to-end p50, and nothing queues on the Postgres pool or the
adapter's connections to the ledger. The jitter (60 ms wide at ± 30) would drown a few
milliseconds added in noise, so the sandbox says how long it made each call wait
(X-Sandbox-Latency-Ms to the direct calls, GET /sandbox/latencies for the adapter's, found by
the ids in the adapter's answer), and each side's own waits are taken out before the p50s are
compared; the p50s as measured, waits included, are shown too. The run's table shows the
peaks: NewStore requests in flight at the adapter, its open connections to the sandbox (sampled
every 0.25 s), its Postgres pool (open, most in use at once) and its peak RSS, and whether
anything waited for a pool connection or a connector slot (the adapter's own metrics).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import asyncpg

from adapter import jsonio
from adapter.shopify import documents
from bench.harness import API_KEY, SANDBOX_TOKEN, UNLIMITED, percentile, print_table, running_stack, scrape
from bench.procstat import cpu_seconds, machine_busy_ticks, memory_kib, tcp_connections

TARGETS = {"balance": (2.0, 8.0)}
MUTATION_TARGET = (4.0, 15.0)
SHARE_TARGET = 0.03  # added p50 / end-to-end p50, with a real ledger's latency
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
METRIC = "giftcard_adapter_"


@dataclass
class Pair:
    adapter_ms: float
    direct_ms: float
    # The sandbox's wait on each direct call, and the adapter's ledger calls as (document, id)
    # keys: how its waits are found in GET /sandbox/latencies.
    direct_waits: list[float] = field(default_factory=list)
    keys: list[tuple[str, object]] = field(default_factory=list)
    adapter_wait_ms: float | None = None  # None: not found (or no latency set)
    error: str | None = None  # the adapter answered other than 200 (not in the latency figures)

    @property
    def direct_wait_ms(self) -> float:
        return sum(self.direct_waits)


class AdapterRefused(RuntimeError):
    """The adapter answered other than 200 (a 503 to retry, under load)."""


class Bench:
    def __init__(self, session: aiohttp.ClientSession, stack) -> None:
        self.session = session
        self.stack = stack

    async def adapter(self, path: str, body: dict) -> tuple[float, object]:
        started = time.perf_counter()
        async with self.session.post(self.stack.adapter_url + path, data=jsonio.dumps(body), headers=HEADERS) as r:
            payload = jsonio.loads(await r.read())
            if r.status != 200:
                raise AdapterRefused(f"{r.status} {payload.get('message') if isinstance(payload, dict) else payload}")
        return (time.perf_counter() - started) * 1000, payload

    async def shopify(self, document, variables: dict) -> tuple[float, dict, float]:
        """(ms, answer, the sandbox's wait in ms)."""
        started = time.perf_counter()
        async with self.session.post(self.stack.graphql_url, data=jsonio.dumps({
                "query": document.text, "operationName": document.operation_name, "variables": variables}),
                headers={"X-Shopify-Access-Token": SANDBOX_TOKEN, "Content-Type": "application/json"}) as r:
            payload = jsonio.loads(await r.read())
            wait = float(r.headers.get("X-Sandbox-Latency-Ms", 0))
        return (time.perf_counter() - started) * 1000, payload, wait

    async def sandbox(self, method: str, path: str, body: dict | None = None) -> dict:
        async with self.session.request(method, self.stack.sandbox_url + path, json=body) as r:
            if r.status >= 300:
                raise RuntimeError(f"{path}: {r.status} {await r.text()}")
            return jsonio.loads(await r.read())


async def _wallet(bench: Bench) -> dict:
    """A card of the endpoint's own, known to the adapter, with room for all its debits."""
    code = secrets.token_hex(8)
    _, created, _ = await bench.shopify(documents.CREATE_CARD, {"input": {"initialAmount": money("3000.00"), "code": code}})
    await bench.adapter("/gift_card/balance", {"identifier": {"number": code}})
    return {"code": code, "id": created["data"]["giftCardCreate"]["giftCard"]["id"]}


def money(value: str) -> dict:
    return {"amount": value, "currencyCode": "USD"}


@dataclass
class Calls:
    """One measured adapter request and its direct equivalent."""

    adapter: Callable[[], Awaitable[tuple[float, object]]]
    direct: Callable[[], Awaitable[tuple[float, list[float]]]]
    # The adapter's ledger calls, from its answer: (document name, the id its answer holds).
    keys: Callable[[object], list[tuple[str, object]]] = lambda _answer: []


async def pair(calls: Calls, results: list, adapter_first: bool) -> None:
    """One adapter request and the Shopify call(s) it makes, sent one after the other.

    Whichever goes second finds the sandbox (and the machine) warmed by the first: the order
    alternates between pairs so neither side always gets that advantage."""
    try:
        if adapter_first:
            (adapter_ms, answer), (direct_ms, waits) = await calls.adapter(), await calls.direct()
        else:
            (direct_ms, waits), (adapter_ms, answer) = await calls.direct(), await calls.adapter()
    except AdapterRefused as refused:
        results.append(Pair(0.0, 0.0, error=str(refused)))
        return
    results.append(Pair(adapter_ms, direct_ms, waits, calls.keys(answer)))


def _transaction(answer) -> str:
    return answer[0]["metadata"]["ledger_transaction_id"]


async def _calls(bench: Bench, endpoint: str, wallet: dict | None) -> Calls:
    """The measured adapter request and its direct equivalent, after any set-up they need (done
    before the timed run, so that only the measured calls follow the fixed rate). Without a
    shared `wallet`, a payment's card is its own (made directly, known to the adapter)."""
    code = secrets.token_hex(8)
    if wallet is None and endpoint in ("authorize", "capture", "refund", "revoke"):
        wallet = await _wallet(bench)

    async def timed_shopify(*calls) -> tuple[float, list[float]]:
        total, waits = 0.0, []
        for document, variables in calls:
            ms, _, wait = await bench.shopify(document, variables)
            total += ms
            waits.append(wait)
        return total, waits

    if endpoint == "balance":
        # A card of its own per request (known to the adapter): the ledger's wait of each read is
        # then found by the card's id.
        _, created, _ = await bench.shopify(documents.CREATE_CARD, {"input": {"initialAmount": money("5.00"), "code": code}})
        card_id = created["data"]["giftCardCreate"]["giftCard"]["id"]
        await bench.adapter("/gift_card/balance", {"identifier": {"number": code}})
        return Calls(lambda: bench.adapter("/gift_card/balance", {"identifier": {"number": code}}),
                     lambda: timed_shopify((documents.GET_CARD, {"id": card_id})),
                     lambda _answer: [("GetCard", card_id)])
    if endpoint in ("issue", "activate"):
        body = {"amount": {"value": 10, "currency": "USD"}, "customer": {}, "idempotence_key": str(uuid.uuid4())}
        if endpoint == "activate":
            body["card_number"] = code
        create = {"input": {"initialAmount": money("10.00"), "code": secrets.token_hex(8),
                            "note": f"gca:v1:{endpoint}:{uuid.uuid4().hex}"}}
        return Calls(lambda: bench.adapter(f"/gift_card/{endpoint}", body),
                     lambda: timed_shopify((documents.CREATE_CARD, create)),
                     lambda answer: [("CreateCard", ("code", answer["identifier"]["number"]))])
    if endpoint == "deactivate":
        _, made, _ = await bench.shopify(documents.CREATE_CARD, {"input": {"initialAmount": money("1.00"), "code": code}})
        card_id = made["data"]["giftCardCreate"]["giftCard"]["id"]
        _, other, _ = await bench.shopify(documents.CREATE_CARD, {"input": {"initialAmount": money("1.00")}})
        other_id = other["data"]["giftCardCreate"]["giftCard"]["id"]
        # The adapter knows the card only after a lookup; give the direct side the same search.
        return Calls(lambda: bench.adapter("/gift_card/deactivate", {"card_number": code,
                                                                     "idempotence_key": str(uuid.uuid4())}),
                     lambda: timed_shopify((documents.SEARCH_CARDS, {"first": 2, "query": secrets.token_hex(8)}),
                                           (documents.DEACTIVATE_CARD, {"id": other_id})),
                     lambda _answer: [("SearchCards", card_id), ("DeactivateCard", card_id)])
    # authorize, capture, refund, revoke
    note = f"gca:v1:{endpoint}:{uuid.uuid4().hex}"
    authorize_body = {"idempotency_key": str(uuid.uuid4()), "transactions": [],
                      "arguments": {"amount": 2, "currency": "USD", "payment_method": "gift_card"},
                      "metadata": {"number": wallet["code"]}}
    if endpoint == "authorize":
        return Calls(lambda: bench.adapter("/financial_instruments", authorize_body),
                     lambda: timed_shopify((documents.DEBIT_CARD, {"id": wallet["id"], "input": {
                         "debitAmount": money("2.00"), "note": note}})),
                     lambda answer: [("DebitCard", _transaction(answer))])
    _, auth = await bench.adapter("/financial_instruments", authorize_body)
    path = f"/financial_instruments/{auth[0]['instrument_id']}"
    psp = {"arguments": {"amount": 1, "currency": "USD"}}
    if endpoint == "capture":  # bookkeeping only: no ledger call, so nothing to make directly

        async def nothing() -> tuple[float, list[float]]:
            return 0.0, []

        return Calls(lambda: bench.adapter(f"{path}/_capture", {"idempotency_key": str(uuid.uuid4()), **psp}), nothing)
    if endpoint == "refund":
        await bench.adapter(f"{path}/_capture", {"idempotency_key": str(uuid.uuid4()), **psp})
    return Calls(lambda: bench.adapter(f"{path}/_{endpoint}", {"idempotency_key": str(uuid.uuid4()), **psp}),
                 lambda: timed_shopify((documents.CREDIT_CARD, {"id": wallet["id"], "input": {
                     "creditAmount": money("1.00"), "note": note}})),
                 lambda answer: [("CreditCard", _transaction(answer))])


ENDPOINTS = ("balance", "issue", "activate", "deactivate", "authorize", "refund", "revoke")
CHOICES = (*ENDPOINTS, "capture")


async def run_pairs(bench: Bench, rate: float, requests: int, endpoints: list[str], *,
                    before_timed_run: Callable[[], Awaitable[None]] | None = None,
                    shared_cards: bool = False) -> dict[str, list[Pair]]:
    """Warm up, set up every pair's calls, then send the pairs open loop at `rate` (all
    endpoints together, in turn). `before_timed_run` runs between set-up and the timed run.

    Each payment is made on a card of its own, as a store's traffic spreads over many cards;
    `shared_cards`: each endpoint's payments all on one card (the design before issue #14: one
    card then collects hundreds of writes, and each write's background re-read of it costs more
    as they pile up)."""
    wallets = {endpoint: await _wallet(bench) if shared_cards else None for endpoint in endpoints}
    for index in range(20):  # warm-up, discarded
        for endpoint in endpoints:
            await pair(await _calls(bench, endpoint, wallets[endpoint]), [], index % 2 == 0)
    # Round-robin over the endpoints: a slow spell of the machine (a neighbour on the host,
    # a checkpoint) then touches every endpoint alike instead of the one measured during it.
    rounds = [[(endpoint, await _calls(bench, endpoint, wallets[endpoint])) for endpoint in endpoints]
              for _ in range(requests)]
    if before_timed_run is not None:
        await before_timed_run()
    measured: dict[str, list[Pair]] = {endpoint: [] for endpoint in endpoints}
    tasks = []
    started = time.perf_counter()
    schedule = [(number, endpoint, calls) for number, of_round in enumerate(rounds) for endpoint, calls in of_round]
    for index, (round_index, endpoint, calls) in enumerate(schedule):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(pair(calls, measured[endpoint], round_index % 2 == 0)))
    await asyncio.gather(*tasks)
    return measured


def answered(pairs: list[Pair]) -> list[Pair]:
    return [p for p in pairs if p.error is None]


def refusals(measured: dict[str, list[Pair]]) -> str:
    """What the adapter refused during the run, by answer: '' when nothing."""
    counts: dict[str, int] = defaultdict(int)
    for pairs in measured.values():
        for p in pairs:
            if p.error is not None:
                counts[p.error] += 1
    return "; ".join(f"{n} x {error}" for error, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def added_p50(pairs: list[Pair]) -> float:
    pairs = answered(pairs)
    return percentile([p.adapter_ms for p in pairs], 0.5) - percentile([p.direct_ms for p in pairs], 0.5)


# ---- the plain run (no ledger latency) ---------------------------------------------------------

async def measure(rate: float, requests: int, endpoints: list[str], shared_cards: bool = False) -> list[list[str]]:
    async with running_stack() as stack, aiohttp.ClientSession() as session:
        measured = await run_pairs(Bench(session, stack), rate, requests, endpoints, shared_cards=shared_cards)
    failed = refusals(measured)
    if failed:
        print(f"refused during the run: {failed}")
    rows = []
    for endpoint in endpoints:
        pairs = answered(measured[endpoint])
        through, direct = [p.adapter_ms for p in pairs], [p.direct_ms for p in pairs]
        added50 = percentile(through, 0.5) - percentile(direct, 0.5)
        added99 = percentile(through, 0.99) - percentile(direct, 0.99)
        target = TARGETS.get(endpoint, MUTATION_TARGET)
        verdict = "ok" if added50 <= target[0] and added99 <= target[1] else "MISSED"
        rows.append([endpoint, str(len(through)), f"{percentile(direct, 0.5):.2f}", f"{percentile(through, 0.5):.2f}",
                     f"{added50:.2f}", f"{percentile(direct, 0.99):.2f}", f"{percentile(through, 0.99):.2f}",
                     f"{added99:.2f}", f"<= {target[0]:g} / {target[1]:g}", verdict])
    return rows


# ---- with a real ledger's latency --------------------------------------------------------------

class ConnectionSampler:
    """The adapter's open TCP connections to one port, counted every `every` seconds in a thread
    (psutil reads /proc: it must not stall the event loop that times the requests)."""

    def __init__(self, pid: int, port: int, every: float = 0.25) -> None:
        self.pid, self.port, self.every = pid, port, every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, tcp_connections(self.pid, self.port))

    def __enter__(self) -> ConnectionSampler:
        self.peak = tcp_connections(self.pid, self.port)
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tcp_connections(self.pid, self.port))


async def _find_adapter_waits(bench: Bench, measured: dict[str, list[Pair]]) -> None:
    """Each adapter request's ledger wait: the sandbox's kept waits, found by the document and
    an id the adapter's answer gave (a direct call that shares the key is told apart by its
    own wait, which its answer's header gave)."""
    calls = (await bench.sandbox("GET", "/sandbox/latencies"))["calls"]
    index: dict[tuple[str, str], list[float]] = defaultdict(list)
    for call in calls:
        for ident in set(call["ids"]):
            index[(call["operation"], ident)].append(float(call["latency_ms"]))
    by_code: dict[str, str] = {}
    if any(isinstance(ident, tuple) for pairs in measured.values() for p in pairs for _, ident in p.keys):
        by_code = {card["code"]: card["id"] for card in (await bench.sandbox("GET", "/sandbox/state"))["cards"]}
    for pairs in measured.values():
        for p in answered(pairs):
            total, found = 0.0, True
            for operation, ident in p.keys:
                if isinstance(ident, tuple):  # ("code", a code as the adapter answered it)
                    ident = by_code.get(ident[1].replace("-", "").replace(" ", "").lower())
                hits = list(index.get((operation, ident), []))
                for own in p.direct_waits:
                    if own in hits and len(hits) > 1:
                        hits.remove(own)
                if len(hits) != 1:
                    found = False
                    break
                total += hits[0]
            p.adapter_wait_ms = total if found else None


def _metric(samples: dict[str, float], name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # as prometheus_client prints them
    return samples.get(METRIC + name + (f"{{{label_text}}}" if labels else ""), 0.0)


@dataclass
class RunFigures:
    rate: float
    measured: dict[str, list[Pair]]
    metrics_before: dict[str, float]
    metrics_after: dict[str, float]
    peak_sandbox_connections: int
    rss_kib: dict[str, int]
    reread_backlog: int
    # CPU during the timed run, in % of one core: the adapter, the sandbox, the whole machine
    # (all its cores: 200% is two cores busy; other work on the machine counts too).
    cpu: dict[str, float] = field(default_factory=dict)


class CpuWindow:
    """CPU time of the adapter, the sandbox and the machine between start() and stop()."""

    def __init__(self, stack) -> None:
        self.stack = stack

    def _read(self) -> tuple[float, float, float, tuple[int, int]]:
        return (time.perf_counter(), cpu_seconds(self.stack.adapter_pid), cpu_seconds(self.stack.sandbox_pid),
                machine_busy_ticks())

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        wall = after[0] - self.before[0]
        busy, total = after[3][0] - self.before[3][0], after[3][1] - self.before[3][1]
        cores = os.cpu_count() or 1
        return {"adapter": 100 * (after[1] - self.before[1]) / wall, "sandbox": 100 * (after[2] - self.before[2]) / wall,
                "machine": 100 * cores * busy / max(total, 1)}


async def measure_with_latency(rate: float, requests: int, endpoints: list[str], latency_ms: float,
                               jitter_ms: float, shared_cards: bool = False) -> RunFigures:
    async with running_stack(sandbox_args=UNLIMITED) as stack, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        bench = Bench(session, stack)
        figures: dict = {}

        async def latency_on() -> None:
            # Set-up ran at full speed; from here on the sandbox answers as a real ledger.
            await bench.sandbox("POST", "/sandbox/config", {"latency_ms": latency_ms, "latency_jitter_ms": jitter_ms})
            await bench.sandbox("POST", "/sandbox/counters/reset")
            figures["before"] = await scrape(stack.metrics_url)
            figures["sampler"] = ConnectionSampler(stack.adapter_pid, int(stack.sandbox_url.rsplit(":", 1)[1])).__enter__()
            figures["cpu"] = CpuWindow(stack)
            figures["cpu"].start()

        measured = await run_pairs(bench, rate, requests, endpoints, before_timed_run=latency_on,
                                   shared_cards=shared_cards)
        cpu = figures["cpu"].stop()
        figures["sampler"].__exit__()
        after = await scrape(stack.metrics_url)
        rss = memory_kib(stack.adapter_pid)
        await _find_adapter_waits(bench, measured)
        conn = await asyncpg.connect(stack.database_url)
        try:
            backlog = await conn.fetchval("SELECT count(*) FROM intake_queue")
        finally:
            await conn.close()
    return RunFigures(rate, measured, figures["before"], after, figures["sampler"].peak, rss, backlog, cpu)


def latency_rows(figures: RunFigures, endpoints: list[str]) -> list[list[str]]:
    rows = []
    for endpoint in endpoints:
        pairs = answered(figures.measured[endpoint])
        found = [p for p in pairs if p.adapter_wait_ms is not None]
        through = percentile([p.adapter_ms for p in pairs], 0.5)
        direct = percentile([p.direct_ms for p in pairs], 0.5)
        if found:
            net = (percentile([p.adapter_ms - p.adapter_wait_ms for p in found], 0.5)
                   - percentile([p.direct_ms - p.direct_wait_ms for p in found], 0.5))
            share = net / through
            verdict = "ok" if share <= SHARE_TARGET else "MISSED"
            net_text, share_text = f"{net:.2f}", f"{share * 100:.2f}%"
        else:
            net_text, share_text, verdict = "-", "-", "no waits found"
        refused = len(figures.measured[endpoint]) - len(pairs)
        if refused:
            verdict += f" ({refused} refused)"
        rows.append([endpoint, str(len(pairs)), f"{len(found)}", f"{direct:.2f}", f"{through:.2f}",
                     f"{through - direct:.2f}", net_text, share_text, f"<= {SHARE_TARGET * 100:g}%", verdict])
    return rows


def queue_row(figures: RunFigures) -> list[str]:
    before, after = figures.metrics_before, figures.metrics_after

    def delta(name: str, **labels: str) -> float:
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    takes = delta("db_pool_acquire_wait_seconds_count", work="request")
    over_1ms = takes - delta("db_pool_acquire_wait_seconds_bucket", le="0.001", work="request")
    queued = delta("db_pool_acquires_queued_total", work="request")
    background_queued = delta("db_pool_acquires_queued_total", work="background")
    connector_waits = delta("http_client_connection_queue_wait_seconds_count")
    nothing_queued = queued == 0 and connector_waits == 0
    return [f"{figures.rate:g}/s",
            f"{_metric(after, 'requests_in_flight_peak'):.0f}",
            str(figures.peak_sandbox_connections),
            f"{_metric(after, 'db_pool_connections', state='total'):.0f} / "
            f"{_metric(after, 'db_pool_connections', state='peak_in_use'):.0f} / "
            f"{_metric(after, 'db_pool_connections', state='max'):.0f}",
            f"{takes:.0f}", f"{queued:.0f}", f"{over_1ms:.0f}",
            f"{delta('db_pool_acquire_wait_seconds_sum', work='request') * 1000:.1f}",
            f"{background_queued:.0f} / {delta('db_pool_acquire_wait_seconds_sum', work='background') * 1000:.0f}",
            f"{connector_waits:.0f}",
            f"{figures.rss_kib['VmHWM'] / 1024:.1f}",
            str(figures.reread_backlog),
            f"{figures.cpu['adapter']:.0f}% / {figures.cpu['sandbox']:.0f}% / {figures.cpu['machine']:.0f}%",
            "ok" if nothing_queued else "MISSED"]


QUEUE_HEADER = ["rate", "peak in flight", "peak conns to sandbox", "pool open / peak in use / max",
                "request pool takes", "queued (pool full)", "> 1 ms", "wait total ms",
                "background queued / wait ms",
                "connector slot waits", "peak RSS MiB", "re-reads pending at end",
                "CPU adapter / sandbox / machine", "nothing queued"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20.0, help="request pairs started per second (all endpoints)")
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 100.0],
                        help="with --ledger-latency: the rates to run at, each on a fresh stack")
    parser.add_argument("--requests", type=int, default=300, help="pairs per endpoint")
    parser.add_argument("--only", nargs="+", choices=CHOICES, default=list(ENDPOINTS), help="endpoints to measure")
    parser.add_argument("--ledger-latency", type=float, metavar="MS",
                        help="the sandbox answers in MS ± --ledger-jitter (issue #14)")
    parser.add_argument("--ledger-jitter", type=float, default=30.0, metavar="MS")
    parser.add_argument("--shared-cards", action="store_true",
                        help="each endpoint's payments on one card (before issue #14), not a card each")
    args = parser.parse_args()
    if args.ledger_latency is None:
        rows = asyncio.run(measure(args.rate, args.requests, args.only, args.shared_cards))
        print_table(f"Adapter overhead at {args.rate:g} pairs/s (ms; direct = the same Shopify calls straight to the sandbox)",
                    ["endpoint", "n", "direct p50", "adapter p50", "added p50", "direct p99", "adapter p99",
                     "added p99", "target p50/p99", "verdict"], rows)
        return
    endpoints = [e for e in args.only if e != "capture"]  # no ledger call: no share of one
    try:  # a lighter load generator: at 100 pairs/s it shares the two cores with all it measures
        import uvloop
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    runs = [run(measure_with_latency(rate, args.requests, endpoints, args.ledger_latency, args.ledger_jitter,
                                     args.shared_cards))
            for rate in args.rates]
    for figures in runs:
        print_table(f"Ledger latency {args.ledger_latency:g} ± {args.ledger_jitter:g} ms, {figures.rate:g} pairs/s (ms; "
                    "net: each side's ledger waits taken out)",
                    ["endpoint", "n", "waits found", "direct e2e p50", "adapter e2e p50", "added p50 as measured",
                     "added p50 net", "added share of e2e p50", "target", "verdict"], latency_rows(figures, endpoints))
    print_table("Peaks and queueing during the timed runs (adapter process)", QUEUE_HEADER,
                [queue_row(figures) for figures in runs])
    for figures in runs:
        failed = refusals(figures.measured)
        if failed:
            print(f"{figures.rate:g}/s: refused during the run: {failed}")


if __name__ == "__main__":
    main()
