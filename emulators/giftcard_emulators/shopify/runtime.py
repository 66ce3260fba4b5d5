"""Everything one running sandbox holds: its config, ledger, rate-limit bucket and faults."""

from __future__ import annotations

from collections import Counter
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

    def __post_init__(self) -> None:
        self.state = SandboxState(self.config)
        self.bucket = LeakyBucket(self.config)
        self.orders = OrderBook(self.state)
        # A duplicate event is a new delivery: a fresh X-Shopify-Webhook-Id, the same Event-Id.
        self.webhooks = WebhookSender(shopify_signer(self.config.shop_domain, self.config.webhook_api_version),
                                      duplicate_keeps_webhook_id=False)

    def reset(self) -> None:
        self.state.reset()
        self.orders.reset()
        self.webhooks.clear()
        self.faults.clear()
        # Held calls would otherwise execute against the fresh state; they are failed instead.
        self.faults.release(proceed=False)
        self.bucket.refill_completely()
        self.calls.clear()
        self.throttled.clear()

    def reset_counters(self) -> None:
        """Call counts and the bucket's low-water mark start again; the ledger stays."""
        self.calls.clear()
        self.throttled.clear()
        self.bucket.reset_minimum()
