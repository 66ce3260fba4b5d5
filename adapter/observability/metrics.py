"""Every Prometheus metric the service exports, defined once.

Labels come only from small fixed sets (operation, outcome, result, error code): never a card,
a key or a store id. Labelled series are pre-initialised so rate() sees the first increment.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

NAMESPACE = "giftcard_adapter"

OPERATIONS = (
    "balance", "issue", "activate", "deactivate",
    "authorize", "capture", "refund", "revoke",
    "feed_events",  # GET /v1/gift_cards/events, the feed's pull API
)
# success: 2xx; decline: 4xx instrument_error; invalid: other 4xx; retry: 503; error: 500.
OUTCOMES = ("success", "decline", "invalid", "unauthorized", "retry", "error")

SHOPIFY_OPERATIONS = (
    "giftCardCreate", "giftCardDebit", "giftCardCredit", "giftCardDeactivate",
    "giftCard", "giftCards", "giftCardConfiguration", "customers", "customerCreate",
)
SHOPIFY_RESULTS = (
    "ok", "user_error", "throttled", "http_429", "http_5xx", "http_4xx", "timeout",
    "connect_failed", "disconnected", "unreadable", "invalid_url", "graphql_error", "internal_error",
)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 15.0)

REQUESTS = Counter(
    "requests", "NewStore-facing requests by operation and outcome",
    ["operation", "outcome"], namespace=NAMESPACE,
)
REQUEST_DURATION = Histogram(
    "request_duration_seconds", "NewStore-facing request latency",
    ["operation", "outcome"], namespace=NAMESPACE, buckets=_LATENCY_BUCKETS,
)
SHOPIFY_CALLS = Counter(
    "shopify_calls", "GraphQL calls to Shopify by operation and result",
    ["operation", "result"], namespace=NAMESPACE,
)
SHOPIFY_CALL_DURATION = Histogram(
    "shopify_call_duration_seconds", "GraphQL call latency to Shopify",
    ["operation", "result"], namespace=NAMESPACE, buckets=_LATENCY_BUCKETS,
)
SHOPIFY_QUERY_COST = Counter(
    "shopify_query_cost_points", "Shopify cost points per document (its operation name): requested, and actually charged",
    ["operation", "kind"], namespace=NAMESPACE,
)
SHOPIFY_CUSTOMER_LINKS = Counter(
    "shopify_customer_links", "Cards created linked to a customer (linked, created) or unlinked, by why",
    ["result"], namespace=NAMESPACE,
)
SHOPIFY_THROTTLE_AVAILABLE = Gauge(
    "shopify_throttle_points_available", "Cost points available in Shopify's bucket, last seen",
    namespace=NAMESPACE,
)
SHOPIFY_THROTTLE_WAIT = Counter(
    "shopify_throttle_wait_seconds", "Time spent pacing or waiting out THROTTLED/429",
    namespace=NAMESPACE,
)
SHOPIFY_SHARED_BUCKET = Counter(
    "shopify_shared_bucket_reservations", "Reservations on the bucket level the replicas share, by result "
    "(reserved; refused: a lookup's floor or a deadline; unavailable: Postgres did not answer, own model used)",
    ["result"], namespace=NAMESPACE,
)
SHOPIFY_API_VERSION_MISMATCH = Counter(
    "shopify_api_version_mismatches", "Responses served by another API version than requested",
    namespace=NAMESPACE,
)
IDEMPOTENT_REPLAYS = Counter(
    "idempotency_replays", "Stored answers replayed for a repeated key",
    ["operation"], namespace=NAMESPACE,
)
IDEMPOTENCY_CONFLICTS = Counter(
    "idempotency_conflicts", "Concurrent duplicates that found the key in progress",
    ["operation", "result"], namespace=NAMESPACE,
)
IDEMPOTENCY_MISMATCHES = Counter(
    "idempotency_mismatches", "Replays whose request body differed from the original",
    ["operation"], namespace=NAMESPACE,
)
NOT_IDEMPOTENT = Counter(
    "requests_without_idempotency_key", "Mutating requests processed without a key",
    ["operation"], namespace=NAMESPACE,
)
UNKNOWN_OUTCOMES = Counter(
    "ledger_unknown_outcomes", "Ledger writes whose outcome was not known when they ended",
    ["operation"], namespace=NAMESPACE,
)
SETTLEMENTS = Counter(
    "ledger_settlements", "Unknown ledger writes settled by reading the ledger",
    ["operation", "result"], namespace=NAMESPACE,
)
REPEATED_ACTIVATIONS = Counter(
    "repeated_activations",
    "Activations retried under a fresh key for a card we activated with that amount: answered, nothing loaded",
    namespace=NAMESPACE,
)
CODE_COLLISIONS = Counter(
    "issue_code_collisions", "Generated codes the ledger already had", namespace=NAMESPACE,
)
SEARCH_WARNINGS = Counter(
    "shopify_search_warnings", "giftCards searches Shopify answered with a warning", namespace=NAMESPACE,
)
# Finding cards by a presented code (issue #10): answered from memory, or refused at once.
LOOKUPS_SHED = Counter(
    "ledger_lookups_shed", "Card lookups refused at once (503) to keep Shopify's budget for money calls",
    ["reason"], namespace=NAMESPACE,
)
LOOKUP_SHED_REASONS = ("budget", "in_flight", "throttled")
UNKNOWN_CARD_HITS = Counter(
    "unknown_card_cache_hits", "Lookups answered 'unknown gift card' from the recent-unknown memory, without a search",
    namespace=NAMESPACE,
)
LOOKUPS_JOINED = Counter(
    "ledger_lookups_joined", "Lookups that waited for the same code's search already in flight instead of sending one",
    namespace=NAMESPACE,
)

# Ledgers that can only set a balance (adapter.ledgers.absolute).
ABSOLUTE_VERIFICATIONS = Counter(
    "absolute_put_verifications", "Balance PUTs checked for foreign changes they overwrote, by result",
    ["ledger", "result"], namespace=NAMESPACE,
)
FOREIGN_CHANGES_REPAIRED = Counter(
    "foreign_changes_repaired", "Foreign balance changes a PUT of ours overwrote, restored by a correcting PUT",
    ["ledger"], namespace=NAMESPACE,
)
LEDGER_REVIEWS = Counter(
    "ledger_reviews_opened", "Writes the ledger's state could not settle, sent to an operator (never resent)",
    ["ledger", "reason"], namespace=NAMESPACE,
)

CAP_GUARD_REFUSALS = Counter(
    "instrument_cap_refusals", "Reservations Postgres refused at an instrument's cap constraint (answered 503)",
    namespace=NAMESPACE,
)
POLLER_PASSES = Counter(
    "poller_passes", "Poller passes by this replica: led (it held the lease) or not_leader",
    ["result"], namespace=NAMESPACE,
)
POLLER_CARDS = Counter(
    "poller_cards", "Cards the poller re-read (reread) or put off to a later pass (deferred: the ledger's budget, a failure)",
    ["result"], namespace=NAMESPACE,
)
RECONCILIATION_DRIFT = Gauge(
    "reconciliation_drift", "Journal movements and ledger entries that do not agree (last 24 h), by kind",
    ["kind"], namespace=NAMESPACE,
)
OPEN_REVIEWS = Gauge(
    "ledger_reviews_open", "Writes in review, waiting for an operator's decision", namespace=NAMESPACE,
)

OLDEST_UNSETTLED = Gauge(
    "oldest_unsettled_operation_seconds", "Age of the oldest ledger write whose outcome is not known",
    namespace=NAMESPACE,
)
RECONCILER_RUNS = Counter(
    "reconciler_runs", "Reconciler passes by result", ["result"], namespace=NAMESPACE,
)
REAPED_KEYS = Counter(
    "idempotency_keys_reaped", "Idempotency records deleted after retention", namespace=NAMESPACE,
)
UNACKNOWLEDGED_CARDS = Counter(
    "cards_created_without_acknowledgement",
    "Cards the reconciler found or finished creating after the caller was told to retry (manual review)",
    namespace=NAMESPACE,
)
SLOW_CLIENTS = Counter(
    "slow_clients", "Requests cut short because headers or body did not arrive in time (phase: headers, body)",
    ["phase"], namespace=NAMESPACE,
)
# key: the position of the matched key in NEWSTORE_API_KEYS (1, 2, ...) or "none" (no keys
# configured, embedded mode): never the key or a digest of it.
RATE_LIMITED = Counter(
    "rate_limited_requests", "Requests answered 429 by the per-API-key limit, by key position",
    ["key"], namespace=NAMESPACE,
)

# The intake (issue #12): the ledgers' webhooks and the re-reads they leave. `topic` is one of
# WEBHOOK_TOPICS[source] or "other" (a header is never a label as sent: it may be forged).
WEBHOOK_TOPICS = {
    "shopify": ("orders/paid", "orders/cancelled", "refunds/create", "order_transactions/create"),
    "shopline": ("app_memberSystem_giftCard/challenged",),
}
WEBHOOK_RESULTS = ("accepted", "duplicate", "bad_signature", "ignored", "invalid")
WEBHOOKS_RECEIVED = Counter(
    "webhooks_received", "Ledger webhooks by source, topic and result",
    ["source", "topic", "result"], namespace=NAMESPACE,
)
INTAKE_KINDS = ("card", "order", "code", "last_characters")
INTAKE_RESULTS = ("done", "dropped", "retried", "given_up")
INTAKE_ITEMS = Counter(
    "intake_items", "Re-reads the webhooks asked for, by what named the card and result",
    ["kind", "result"], namespace=NAMESPACE,
)
INTAKE_QUEUE = Gauge(
    "intake_queue_items", "Re-reads the webhooks asked for and not done yet (durable queue)", namespace=NAMESPACE,
)

EVENT_LOOP_LAG = Histogram(
    "event_loop_lag_seconds", "How late the event loop ran a timer (saturation)",
    namespace=NAMESPACE, buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
DB_POOL_SIZE = Gauge("db_pool_connections", "Postgres pool connections (peak_in_use: the most in use at once)",
                     ["state"], namespace=NAMESPACE)
# Queueing (issue #14): does anything wait for a Postgres connection or a connection to the ledger?
_WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# work: request (a NewStore request's), background (everything else: it holds at most half the
# pool, and its wait includes waiting for that share).
DB_POOL_ACQUIRE_WAIT = Histogram(
    "db_pool_acquire_wait_seconds", "Time to take a Postgres pool connection (connecting, or queued), by work",
    ["work"], namespace=NAMESPACE, buckets=_WAIT_BUCKETS,
)
DB_POOL_ACQUIRES_QUEUED = Counter(
    "db_pool_acquires_queued", "Takes of a Postgres pool connection that found all DB_POOL_MAX of them taken, by work",
    ["work"], namespace=NAMESPACE,
)
HTTP_CLIENT_QUEUE_WAIT = Histogram(
    "http_client_connection_queue_wait_seconds",
    "Outbound calls (the ledger's, the feed's webhooks) that waited for a connection slot, and how long (its count: how many waited)",
    namespace=NAMESPACE, buckets=_WAIT_BUCKETS,
)
REQUESTS_IN_FLIGHT = Gauge(
    "requests_in_flight", "NewStore-facing requests being answered now", namespace=NAMESPACE,
)
REQUESTS_IN_FLIGHT_PEAK = Gauge(
    "requests_in_flight_peak", "The most NewStore-facing requests answered at once since the process started",
    namespace=NAMESPACE,
)
READY = Gauge("ready", "1 while /health/ready would answer 200", namespace=NAMESPACE)

# The balance-change feed's webhooks (adapter.feed.delivery). subscriber: a name from
# FEED_SUBSCRIBERS (a small configured set). Gauges are read from Postgres by every replica
# every few seconds, so they are the same on each: aggregate with max(), not sum().
FEED_DELIVERY_RESULTS = ("delivered", "failed", "dead")
FEED_DELIVERIES = Counter(
    "feed_deliveries", "Feed webhook attempts by subscriber and result (failed: retried later; dead: the last attempt)",
    ["subscriber", "result"], namespace=NAMESPACE,
)
FEED_EVENT_LAG = Gauge(
    "feed_event_lag_seconds", "Now minus occurred_at of the oldest event not yet delivered to the subscriber (0: none)",
    ["subscriber"], namespace=NAMESPACE,
)
FEED_PENDING = Gauge(
    "feed_deliveries_pending", "Feed events waiting to be delivered to the subscriber", ["subscriber"],
    namespace=NAMESPACE,
)
FEED_DEAD = Gauge(
    "feed_deliveries_dead", "Feed deliveries given up on after FEED_MAX_ATTEMPTS (each blocks its card's later events)",
    ["subscriber"], namespace=NAMESPACE,
)

SETTLEMENT_RESULTS = (
    "applied", "absent_resent", "declined", "still_unknown",   # inside a request (retry)
    "completed", "abandoned", "awaiting_retry", "reversed",    # by the reconciler
)
CONFLICT_RESULTS = ("replayed", "timed_out")
# A card linked to an existing customer or one created for it, or unlinked and why.
CUSTOMER_LINK_RESULTS = ("linked", "created", "not_found", "no_email", "ambiguous", "refused", "failed")


_CHILDREN: dict[tuple[int, tuple[str, ...]], object] = {}


def child(metric, *values: str):
    """metric.labels(*values), found in a dict after the first time: labels() validates and
    locks on every call, and the hot path (each request, each ledger call) asks for the same few
    series again and again. The label values come from fixed sets, so this stays small."""
    key = (id(metric), values)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*values)
    return found


def preinitialise_feed(subscribers: tuple[str, ...]) -> None:
    for subscriber in subscribers:
        for result in FEED_DELIVERY_RESULTS:
            FEED_DELIVERIES.labels(subscriber, result)
        FEED_EVENT_LAG.labels(subscriber)
        FEED_PENDING.labels(subscriber)
        FEED_DEAD.labels(subscriber)


def preinitialise(feed_subscribers: tuple[str, ...] = ()) -> None:
    """Touch every labelled series once so dashboards see zeros rather than gaps."""
    from adapter.reconciliation import DRIFT_KINDS

    preinitialise_feed(feed_subscribers)
    for kind in DRIFT_KINDS:
        RECONCILIATION_DRIFT.labels(kind)
    for operation in (*OPERATIONS, "reverse"):
        for result in SETTLEMENT_RESULTS:
            SETTLEMENTS.labels(operation, result)
    for operation in OPERATIONS:
        for outcome in OUTCOMES:
            REQUESTS.labels(operation, outcome)
            REQUEST_DURATION.labels(operation, outcome)
        IDEMPOTENT_REPLAYS.labels(operation)
        IDEMPOTENCY_MISMATCHES.labels(operation)
        NOT_IDEMPOTENT.labels(operation)
        UNKNOWN_OUTCOMES.labels(operation)
        for result in CONFLICT_RESULTS:
            IDEMPOTENCY_CONFLICTS.labels(operation, result)
    for result in ("ok", "error"):
        RECONCILER_RUNS.labels(result)
    for result in ("led", "not_leader"):
        POLLER_PASSES.labels(result)
    for result in CUSTOMER_LINK_RESULTS:
        SHOPIFY_CUSTOMER_LINKS.labels(result)
    for result in ("reread", "deferred"):
        POLLER_CARDS.labels(result)
    for reason in LOOKUP_SHED_REASONS:
        LOOKUPS_SHED.labels(reason)
    for result in ("reserved", "refused", "unavailable"):
        SHOPIFY_SHARED_BUCKET.labels(result)
    for phase in ("headers", "body"):
        SLOW_CLIENTS.labels(phase)
    for state in ("total", "idle", "max", "in_use", "peak_in_use"):
        DB_POOL_SIZE.labels(state)
    for work in ("request", "background"):
        DB_POOL_ACQUIRE_WAIT.labels(work)
        DB_POOL_ACQUIRES_QUEUED.labels(work)
    for operation in SHOPIFY_OPERATIONS:
        for result in SHOPIFY_RESULTS:
            SHOPIFY_CALLS.labels(operation, result)
            SHOPIFY_CALL_DURATION.labels(operation, result)
    for source, topics in WEBHOOK_TOPICS.items():
        for topic in (*topics, "other"):
            for result in WEBHOOK_RESULTS:
                WEBHOOKS_RECEIVED.labels(source, topic, result)
    for kind in INTAKE_KINDS:
        for result in INTAKE_RESULTS:
            INTAKE_ITEMS.labels(kind, result)
