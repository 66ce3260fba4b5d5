"""One typed settings object, read from the environment. Secrets are SecretStr: never printed.

Two modes follow from what is configured:
- production: a shop is configured (SHOPIFY_SHOP_DOMAIN or SHOPIFY_GRAPHQL_URL). Everything a real
  deployment needs must then be present and consistent, or start-up fails with one message.
- embedded: no shop. The built-in sandbox stands in for Shopify, an embedded Postgres for the
  database when DATABASE_URL is unset, and development secrets are derived locally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_CARD_CODE_KEY_LENGTH = 32


class SettingsError(ValueError):
    """Missing or contradictory settings: the one clear message start-up prints."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: SecretStr | None = None
    shopify_shop_domain: str | None = None
    shopify_access_token: SecretStr | None = None
    shopify_api_version: str = Field(default="2026-10", pattern=r"^\d{4}-(01|04|07|10)$")
    shopify_graphql_url: str | None = None
    newstore_api_keys: SecretStr | None = None
    card_code_key: SecretStr | None = None
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    data_dir: Path = Path(".data")
    request_deadline_seconds: float = Field(default=8.0, gt=0, le=60)
    idempotency_wait_seconds: float = Field(default=3.0, ge=0, le=30)
    idempotency_lease_seconds: float = Field(default=20.0, gt=0)
    idempotency_retention_days: int = Field(default=30, ge=1)
    # An unknown write is resent only once the ledger shows it absent this long after the attempt
    # was sent: longer than Shopify may still be executing a request our client gave up on.
    ledger_resend_after_seconds: float = Field(default=20.0, ge=0)
    # Unknown-card floods (issue #10). A code the ledger search found no card for is answered
    # "unknown" without another search for this long (0: never remembered); a card created on
    # the web shop in that window is refused until it passes, ours (registered) never are.
    unknown_card_ttl_seconds: float = Field(default=30.0, ge=0, le=300)
    # Card searches may spend only this share of Shopify's bucket (never taking it below the
    # rest, kept for known cards' calls) and run at most this many at once; beyond, a lookup is
    # answered 503 at once.
    search_bucket_share: float = Field(default=0.5, gt=0, le=1)
    search_max_in_flight: int = Field(default=16, ge=1)
    # Background workers (every replica runs them).
    workers_enabled: bool = True
    reconcile_interval_seconds: float = Field(default=5.0, gt=0)
    reconcile_grace_seconds: float = Field(default=5.0, ge=0)
    reverse_unanswered_debit_after_seconds: float = Field(default=1800.0, ge=0)
    reap_interval_seconds: float = Field(default=60.0, gt=0)
    # Graceful shutdown: readiness turns false, new requests are still served for the drain
    # window (the load balancer notices), then in-flight requests get shutdown_timeout to finish.
    shutdown_drain_seconds: float = Field(default=5.0, ge=0)
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values: dict) -> dict:
        # An exported-but-empty variable (FOO=) means "not configured", not "configured as ''".
        return {k: v for k, v in values.items() if not (isinstance(v, str) and v.strip() == "")}

    # ---- derived ------------------------------------------------------------------------

    @property
    def shop_configured(self) -> bool:
        return bool(self.shopify_shop_domain or self.shopify_graphql_url)

    @property
    def api_keys(self) -> tuple[str, ...]:
        if self.newstore_api_keys is None:
            return ()
        raw = self.newstore_api_keys.get_secret_value()
        return tuple(k.strip() for k in raw.split(",") if k.strip())

    def check(self) -> None:
        """Fail with one message listing every problem, before anything starts."""
        problems: list[str] = []
        if self.db_pool_min > self.db_pool_max:
            problems.append("DB_POOL_MIN must not exceed DB_POOL_MAX")
        if self.shopify_access_token and not self.shop_configured:
            problems.append("SHOPIFY_ACCESS_TOKEN is set but no shop: set SHOPIFY_SHOP_DOMAIN or SHOPIFY_GRAPHQL_URL")
        if self.shop_configured:
            if not self.shopify_access_token:
                problems.append("a shop is configured but SHOPIFY_ACCESS_TOKEN is missing")
            if not self.api_keys:
                problems.append("a shop is configured but NEWSTORE_API_KEYS is empty: refusing to serve unauthenticated")
            if not self.card_code_key:
                problems.append("a shop is configured but CARD_CODE_KEY is missing")
            if self.database_url is None:
                problems.append("a shop is configured but DATABASE_URL is missing: the embedded Postgres is for local runs only")
        if self.card_code_key and len(self.card_code_key.get_secret_value()) < MIN_CARD_CODE_KEY_LENGTH:
            problems.append(f"CARD_CODE_KEY must be at least {MIN_CARD_CODE_KEY_LENGTH} characters")
        if problems:
            raise SettingsError("invalid configuration: " + "; ".join(problems))


def load_settings(**overrides: object) -> Settings:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.check()
    return settings
