"""Start the sandbox and the adapter as separate processes for benchmarks.

The adapter runs `giftcard-adapter serve` against a sandbox in its own process and a Postgres:
BENCH_DATABASE_URL if set, else an embedded pgserver in a temporary directory. `replicas=N`
starts N adapter processes on that one Postgres and that one sandbox (one shop, one cost bucket),
each on its own port, as a deployment's replicas behind a load balancer.

The processes run from the repository's root with this process's environment (PYTHONPATH
included), so they import the same `adapter` and emulators as the benchmark. BENCH_LOG_DIR: the
adapters' output goes to adapter-<n>.log there (with LOG_LEVEL set in the environment, e.g.
INFO). Without it, their output goes to the stack's temporary directory, and is kept under
.data/bench-logs/ only if an adapter logged an error: a 500 seen once in a benchmark is then
diagnosable (its traceback is logged at any LOG_LEVEL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import aiohttp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_KEY = "bench-key-0123456789abcdef0123456789"
SANDBOX_TOKEN = "sandbox-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    adapter_url: str   # the first replica's (the only one by default)
    sandbox_url: str
    graphql_url: str
    adapter_pid: int
    metrics_url: str = ""
    database_url: str = ""
    sandbox_pid: int = 0
    # Every replica's, the first's first.
    adapter_urls: tuple[str, ...] = ()
    adapter_pids: tuple[int, ...] = ()
    metrics_urls: tuple[str, ...] = ()


async def wait_ready(url: str, timeout: float = 60.0) -> None:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < timeout:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def database_or_embedded(url: str | None, prefix: str):
    """`url`, or an embedded pgserver in a temporary directory (deleted afterwards): the benches
    that talk to Postgres alone run where no Postgres does."""
    if url:
        yield url
        return
    import pgserver

    server = pgserver.get_server(tempfile.mkdtemp(prefix=prefix), cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


# A bucket that never runs dry: latency and throughput runs measure the adapter, not Shopify's
# rate limit (bench/throttle measures that on its own).
UNLIMITED = ("--bucket-size", "1000000", "--restore-rate", "1000000")


@contextlib.asynccontextmanager
async def running_stack(extra_env: dict[str, str] | None = None, sandbox_args: tuple[str, ...] = UNLIMITED,
                        replicas: int = 1):
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    workdir = tempfile.mkdtemp(prefix="gca-bench-")
    pg_server = None
    database_url = os.environ.get("BENCH_DATABASE_URL")
    if not database_url:
        import pgserver

        pg_server = pgserver.get_server(os.path.join(workdir, "pg"), cleanup_mode="delete")
        database_url = pg_server.get_uri()
    sandbox_port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "adapter", "sandbox", "--port", str(sandbox_port), *sandbox_args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    graphql_url = f"http://127.0.0.1:{sandbox_port}/admin/api/2026-10/graphql.json"
    processes = [sandbox]
    adapter_urls, metrics_urls, pids = [], [], []
    try:
        for _ in range(replicas):
            adapter_port, metrics_port = free_port(), free_port()
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "SHOPIFY_GRAPHQL_URL": graphql_url,
                "SHOPIFY_ACCESS_TOKEN": SANDBOX_TOKEN,
                "NEWSTORE_API_KEYS": API_KEY,
                "CARD_CODE_KEY": "b" * 40,
                "EMBEDDED": "true",  # the ledger is the sandbox over http; all else is configured
                "RATE_LIMIT_PER_KEY_PER_SECOND": "0",  # the benchmarks measure the adapter, not the limiter
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(adapter_port),
                "METRICS_PORT": str(metrics_port),
                "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
                **(extra_env or {}),
            }
            log_dir = os.environ.get("BENCH_LOG_DIR") or workdir
            output = open(os.path.join(log_dir, f"adapter-{len(pids)}.log"), "ab")  # noqa: SIM115
            adapter = subprocess.Popen([sys.executable, "-m", "adapter", "serve"], env=env, cwd=ROOT,
                                       stdout=output, stderr=subprocess.STDOUT)
            output.close()  # the child has its own copy
            processes.append(adapter)
            pids.append(adapter.pid)
            adapter_urls.append(f"http://127.0.0.1:{adapter_port}")
            metrics_urls.append(f"http://127.0.0.1:{metrics_port}/metrics")
            if len(adapter_urls) == 1:
                # The first replica migrates the database; the others start on it migrated.
                await wait_ready(f"http://127.0.0.1:{sandbox_port}/sandbox/state")
                await wait_ready(f"{adapter_urls[0]}/health/ready")
        for url in adapter_urls:
            await wait_ready(f"{url}/health/ready")
        yield Stack(adapter_urls[0], f"http://127.0.0.1:{sandbox_port}", graphql_url, pids[0], metrics_urls[0],
                    database_url, sandbox.pid, tuple(adapter_urls), tuple(pids), tuple(metrics_urls))
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            if process.poll() is None:
                process.kill()
        if pg_server is not None:
            pg_server.cleanup()
        _keep_logs_with_errors(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def _keep_logs_with_errors(workdir: str) -> None:
    """Copy the adapters' logs that hold an error (a traceback) to .data/bench-logs/, and say so."""
    for name in sorted(os.listdir(workdir)):
        if not name.endswith(".log"):
            continue
        path = os.path.join(workdir, name)
        with open(path, "rb") as log:
            text = log.read()
        if b'"level": "error"' not in text and b"Traceback" not in text:
            continue
        kept = os.path.join(ROOT, ".data", "bench-logs", f"{time.strftime('%Y%m%d-%H%M%S')}-{name}")
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        shutil.copyfile(path, kept)
        print(f"!!! an adapter logged an error during this run: {kept}", file=sys.stderr)


async def scrape(url: str) -> dict[str, float]:
    """A Prometheus text page as {'name{labels}': value} (labels as printed)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
