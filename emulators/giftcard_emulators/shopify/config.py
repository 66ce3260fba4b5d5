"""Knobs of the local Shopify sandbox; all of them can be changed at runtime via /sandbox/config."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


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
