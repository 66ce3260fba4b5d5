"""Metrics of the REST ledgers (SHOPLINE, Gift Card Hero), labelled by ledger name.

Kept apart from adapter.observability.metrics (Shopify's and the service's) so each ledger
client can land without touching that module; the namespace is the same. Labels come from small
fixed sets: the ledger's name, our operation names (the vendor's route names) and the results
below, never a card, a code or a URL.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from adapter.observability.metrics import NAMESPACE

# One per HTTP attempt:
# ok (2xx) | http_3xx | http_4xx | http_429 | http_5xx | unreadable (a 2xx we could not parse)
# | timeout | disconnected (lost after sending) | connect_failed (nothing sent) | invalid_url
# | cancelled (our caller gave up waiting)
RESULTS = ("ok", "http_3xx", "http_4xx", "http_429", "http_5xx", "unreadable", "timeout",
           "disconnected", "connect_failed", "invalid_url", "cancelled")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 15.0)

LEDGER_CALLS = Counter(
    "ledger_calls", "HTTP attempts to a REST ledger by operation and result",
    ["ledger", "operation", "result"], namespace=NAMESPACE,
)
LEDGER_CALL_DURATION = Histogram(
    "ledger_call_duration_seconds", "Duration of one HTTP attempt to a REST ledger",
    ["ledger"], namespace=NAMESPACE, buckets=_LATENCY_BUCKETS,
)
LEDGER_RATE_LIMITED = Counter(
    "ledger_rate_limited", "429 answers from a REST ledger (each one was not executed)",
    ["ledger"], namespace=NAMESPACE,
)
LEDGER_PACING_WAIT = Counter(
    "ledger_pacing_wait_seconds",
    "Seconds spent waiting before sending: the client-side bucket's pacing and 429 Retry-After",
    ["ledger"], namespace=NAMESPACE,
)


def initialise(ledger: str) -> None:
    """Create a ledger's unlabelled-by-operation series, so rate() sees their first increment."""
    LEDGER_CALL_DURATION.labels(ledger)
    LEDGER_RATE_LIMITED.labels(ledger)
    LEDGER_PACING_WAIT.labels(ledger)
