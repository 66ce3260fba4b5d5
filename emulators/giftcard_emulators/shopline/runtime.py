"""Everything one running SHOPLINE emulator holds: config, ledger, bucket, faults and counters."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from giftcard_emulators.shopline.bucket import RequestBucket
from giftcard_emulators.shopline.config import ShoplineConfig
from giftcard_emulators.shopline.faults import ShoplineFaults
from giftcard_emulators.shopline import webhooks
from giftcard_emulators.shopline.ledger import Card, Clock, Ledger
from giftcard_emulators.webhooks import WebhookSender


@dataclass
class Emulator:
    config: ShoplineConfig = field(default_factory=ShoplineConfig)
    clock: Callable[[], datetime] = field(default_factory=Clock)
    monotonic: Callable[[], float] = time.monotonic
    ledger: Ledger = field(init=False)
    bucket: RequestBucket = field(init=False)
    faults: ShoplineFaults = field(default_factory=ShoplineFaults)
    # Authenticated calls by route name, throttled ones included: how tests count a client's calls.
    calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    # Which body shape each PUT used ("wrapped" / "bare"), see choices.PUT_BODY_WRAPPED.
    put_shapes: Counter[str] = field(default_factory=Counter)
    # app_memberSystem_giftCard/challenged on every change (shopline.webhooks), off until configured.
    webhook_options: webhooks.WebhookOptions = field(default_factory=webhooks.WebhookOptions)
    webhooks: WebhookSender = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = Ledger(clock=self._now, on_change=self._announce)
        self.bucket = RequestBucket(self.config, clock=self._monotonic)
        self.webhooks = webhooks.sender(self.config, self.webhook_options)

    def _announce(self, card: Card, delta: Decimal, why: str) -> None:
        webhooks.announce(self.webhooks, self.config, self.webhook_options, card, delta, why)

    # Indirections, so tests can swap `clock` / `monotonic` after construction.
    def _now(self) -> datetime:
        return self.clock()

    def _monotonic(self) -> float:
        return self.monotonic()

    def reset(self) -> None:
        """Cards, records, faults, counters and the bucket start again; the config stays."""
        self.ledger.reset()
        self.faults.clear()
        # Calls held before executing must not run against the fresh ledger: they fail (503).
        self.faults.release(proceed=False)
        self.faults.fired.clear()
        self.bucket.drain()
        self.reset_counters()
        self.webhooks.clear()

    def reset_counters(self) -> None:
        self.calls.clear()
        self.throttled.clear()
        self.put_shapes.clear()
