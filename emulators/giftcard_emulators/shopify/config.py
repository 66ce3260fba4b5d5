"""Knobs of the local Shopify sandbox; all of them can be changed at runtime via /sandbox/config.

The shop settings a test or a demo most often changes, with their defaults:

| setting          | default | CLI flag (`giftcard-adapter sandbox`, `python -m giftcard_emulators.shopify`) | POST /sandbox/config |
|------------------|---------|------------------------------------|------------------|
| shop currency    | USD     | `--currency EUR`                   | `{"currency": "EUR"}` |
| issue limit      | 3000    | `--issue-limit 500`                | `{"issue_limit": "500"}` |
| purchase limit   | 3000    | `--purchase-limit 250`             | `{"purchase_limit": "250"}` |
| answer latency   | 0 ms    | `--latency-ms 120`                 | `{"latency_ms": 120}` |
| latency jitter   | 0 ms    | `--latency-jitter-ms 30`           | `{"latency_jitter_ms": 30}` |

The currency is the shop's: cards created without one (the deprecated `initialValue`) are made in
it, and `giftCardConfiguration`, the issue-limit userError and customers' `amountSpent` show money
in it; cards already issued keep theirs. The issue limit caps `giftCardCreate` (above it: userError
GIFT_CARD_LIMIT_EXCEEDED "can't exceed $3,000.00 USD") and a credit's resulting balance; the
purchase limit is only reported (`giftCardConfiguration.purchaseLimit`), since the sandbox sells
no cards at checkout. Both limits are amounts in the shop currency.

The answer latency stands in for the real Shopify's hundred-odd milliseconds: every GraphQL call
waits a time drawn uniformly from [latency_ms - latency_jitter_ms, latency_ms + latency_jitter_ms]
before its document runs (the write lands, then the answer leaves at once). Other calls wait
meanwhile, never behind it: it is a wait, not work. The /sandbox control routes never wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from adapter.domain.currencies import MINOR_UNITS
from giftcard_emulators.shopify.schema import parse_decimal


@dataclass
class SandboxConfig:
    access_token: str = "sandbox-token"
    currency: str = "USD"
    issue_limit: Decimal = Decimal("3000")
    purchase_limit: Decimal = Decimal("3000")
    # Shopify's Standard plan: 2000 points, refilled at 100 points/s (§9).
    bucket_size: float = 2000.0
    restore_rate: float = 100.0
    # Off: throttles answer 200 THROTTLED like the recorded shop. On: 429 + Retry-After.
    throttle_with_429: bool = False
    # What the order webhooks say of their origin (X-Shopify-Shop-Domain, X-Shopify-API-Version).
    shop_domain: str = "sandbox.myshopify.com"
    webhook_api_version: str = "2026-10"
    # Every GraphQL answer waits latency_ms ± latency_jitter_ms (uniform); 0: at once.
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0


# -- shop settings from flags or the control endpoint --------------------------------------------
# One parse for both entry points, so `--issue-limit 0` and {"issue_limit": "0"} fail alike.

def shop_currency(value: object) -> str:
    if not isinstance(value, str) or value not in MINOR_UNITS:
        raise ValueError("currency must be an ISO-4217 code")
    return value


def shop_limit(value: object, name: str) -> Decimal:
    """A positive, finite amount: Shopify has no shop whose limit is zero or negative."""
    try:
        amount = parse_decimal(value)
    except ValueError:
        raise ValueError(f"{name} must be a finite decimal string") from None
    if amount <= 0:
        raise ValueError(f"{name} must be positive")
    return amount


def latency_settings(latency_ms: object, jitter_ms: object) -> tuple[float, float]:
    """The answer latency and its jitter in ms: finite, not negative, the jitter no more than the
    latency (no answer before it is asked). Raises ValueError."""
    values = []
    for name, value in (("latency_ms", latency_ms), ("latency_jitter_ms", jitter_ms)):
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"{name} must be a number of milliseconds, 0 or more")
        values.append(number)
    if values[1] > values[0]:
        raise ValueError("latency_jitter_ms must not exceed latency_ms")
    return values[0], values[1]


def shop_settings(currency: str | None = None, issue_limit: str | None = None,
                  purchase_limit: str | None = None, **other: object) -> SandboxConfig:
    """A config from command-line values; None keeps the default. Raises ValueError."""
    config = SandboxConfig(**other)  # type: ignore[arg-type]
    config.latency_ms, config.latency_jitter_ms = latency_settings(config.latency_ms, config.latency_jitter_ms)
    if currency is not None:
        config.currency = shop_currency(currency)
    if issue_limit is not None:
        config.issue_limit = shop_limit(issue_limit, "issue_limit")
    if purchase_limit is not None:
        config.purchase_limit = shop_limit(purchase_limit, "purchase_limit")
    return config
