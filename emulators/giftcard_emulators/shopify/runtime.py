"""Everything one running sandbox holds: its config, ledger, rate-limit bucket and faults."""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field

from giftcard_emulators.shopify.bucket import LeakyBucket
from giftcard_emulators.shopify.config import SandboxConfig
from giftcard_emulators.faults import FaultRegistry
from giftcard_emulators.shopify.orders import OrderBook, shopify_signer
from giftcard_emulators.shopify.state import SandboxState
from giftcard_emulators.webhooks import WebhookSender


@dataclass
class Sandbox:
    config: SandboxConfig
    state: SandboxState = field(init=False)
    bucket: LeakyBucket = field(init=False)
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    # Documents received, by root field (giftCards, giftCardDebit, ...), throttled ones included:
    # how tests and benchmarks count the calls an adapter made.
    calls: Counter[str] = field(default_factory=Counter)
    # Of those, the ones answered THROTTLED (200 or 429), by root field: what a benchmark holds
    # against the calls made (how often the adapter's model of the bucket overdrew it).
    throttled: Counter[str] = field(default_factory=Counter)
    orders: OrderBook = field(init=False)
    # Order webhooks (spec §12), off until /sandbox/webhooks names a URL and the app secret.
    webhooks: WebhookSender = field(init=False)
    # Draws each answer's latency (SandboxConfig.latency_ms); seeded by tests that need a sequence.
    latency_rng: random.Random = field(default_factory=random.Random)
    # While a latency is set: each answer's wait, with its document's name and the ids it answered
    # (GET /sandbox/latencies). Bounded: a long run keeps the last ones.
    latencies: deque[dict] = field(default_factory=lambda: deque(maxlen=1_000_000))

    def __post_init__(self) -> None:
        self.state = SandboxState(self.config)
        self.bucket = LeakyBucket(self.config)
        self.orders = OrderBook(self.state)
        # A duplicate event is a new delivery: a fresh X-Shopify-Webhook-Id, the same Event-Id.
        self.webhooks = WebhookSender(shopify_signer(self.config.shop_domain, self.config.webhook_api_version),
                                      duplicate_keeps_webhook_id=False)

    def answer_latency(self) -> float:
        """Seconds the next GraphQL answer waits: uniform within latency_ms ± latency_jitter_ms."""
        middle, jitter = self.config.latency_ms, self.config.latency_jitter_ms
        if middle <= 0:
            return 0.0
        return max(0.0, self.latency_rng.uniform(middle - jitter, middle + jitter)) / 1000

    def reset(self) -> None:
        self.state.reset()
        self.orders.reset()
        self.webhooks.clear()
        self.faults.clear()
        # Held calls would otherwise execute against the fresh state; they are failed instead.
        self.faults.release(proceed=False)
        self.bucket.refill_completely()
        self.calls.clear()
        self.latencies.clear()
        self.throttled.clear()

    def reset_counters(self) -> None:
        """Call counts, the latencies kept and the bucket's low-water mark start again; the ledger stays."""
        self.calls.clear()
        self.latencies.clear()
        self.throttled.clear()
        self.bucket.reset_minimum()
