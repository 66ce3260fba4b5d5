"""Knobs of the SHOPLINE emulator; the mutable ones change at runtime through /_emulator/config."""

from __future__ import annotations

from dataclasses import dataclass, field

# API versions listed on developer.shopline.com (vYYYYMMDD); anything else under
# /admin/openapi/ answers 404, as an unknown path does.
KNOWN_VERSIONS: tuple[str, ...] = (
    "v20220901", "v20230301", "v20230901", "v20231201", "v20240301", "v20240601", "v20241201",
    "v20250301", "v20250601", "v20251201", "v20260301", "v20260601",
)
DEFAULT_API_VERSION = "v20260601"

STORE_STATES = ("active", "frozen", "locked")  # frozen: 402, locked: 423


@dataclass
class ShoplineConfig:
    handle: str = "emulator"
    access_token: str = "shopline-emulator-token"
    api_version: str = DEFAULT_API_VERSION  # what clients are told to use; every known one is served
    currency: str = "USD"
    api_client_id: str = "36d2bc4e97af056677b61c529d9e3a3f7396040d"
    # Leaky bucket, per app per store: 40 requests held, 4 leaking out per second.
    bucket_size: float = 40.0
    leak_rate: float = 4.0
    store_state: str = "active"
    # What the webhooks say of the store (X-Shopline-Shop-Id, X-Shopline-Merchant-Id, store_id).
    shop_id: str = "1610418123456"
    merchant_id: str = "2000001234"
    known_versions: tuple[str, ...] = field(default=KNOWN_VERSIONS)

    @property
    def shop_domain(self) -> str:
        return f"{self.handle}.myshopline.com"
