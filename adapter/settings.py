"""One typed settings object, read from the environment. Secrets are SecretStr: never printed.

Two modes, and the lax one must be asked for by name:
- production (the default): everything a real deployment needs must be present and consistent,
  or start-up fails with one message naming every missing or wrong setting. Nothing is filled in
  quietly: a forgotten variable must never turn into a sandbox ledger or an open endpoint.
- embedded (EMBEDDED=true or `serve --embedded`): the built-in sandbox stands in for Shopify when
  no shop is configured, an embedded Postgres when DATABASE_URL is unset, development secrets are
  derived locally, NEWSTORE_API_KEYS may be empty, and the listener binds to 127.0.0.1 unless
  HTTP_HOST says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import json

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapter.domain.cardnumbers import compile_pattern
from adapter.loopback import is_loopback
from adapter.feed import subscribers as feed_subscribers

MIN_CARD_CODE_KEY_LENGTH = 32
MIN_API_KEY_LENGTH = 32
MIN_WEBHOOK_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """Missing or contradictory settings: the one clear message start-up prints."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: SecretStr | None = None
    # Which ledger holds the cards; each has its own typed settings below.
    ledger: Literal["shopify", "shopline", "gifthero"] = "shopify"
    shopify_shop_domain: str | None = None
    shopify_access_token: SecretStr | None = None
    shopify_api_version: str = Field(default="2026-10", pattern=r"^\d{4}-(01|04|07|10)$")
    shopify_graphql_url: str | None = None
    # Issue and activate link the card to the Shopify customer with NewStore's customer email
    # (one extra read); with SHOPIFY_CREATE_CUSTOMERS a customer Shopify lacks is created.
    # Needs the read_customers (and write_customers) access scope.
    shopify_link_customers: bool = False
    shopify_create_customers: bool = False
    # SHOPLINE (REST Admin API): the store's handle, a private app's token, and the app secret
    # that signs its webhooks. SHOPLINE_BASE_URL replaces the derived endpoint (an emulator).
    shopline_shop_handle: str | None = None
    shopline_access_token: SecretStr | None = None
    shopline_api_version: str = Field(default="v20260601", pattern=r"^v\d{8}$")
    shopline_app_secret: SecretStr | None = None
    shopline_base_url: str | None = None
    # Shopify's order webhooks (issue #12's intake) are signed with the app's client secret; during
    # a rotation Shopify may sign with either for up to an hour: comma-separated, both accepted.
    shopify_webhook_secrets: SecretStr | None = None
    # Gift Card Hero (REST): the store's static token. GIFTHERO_BASE_URL replaces the vendor's.
    gifthero_access_token: SecretStr | None = None
    gifthero_base_url: str | None = None
    # Neither REST ledger can tell us the shop's currency (no configuration endpoint), so the
    # operator states it; new cards are made in it and NewStore's amounts are checked against it.
    ledger_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    newstore_api_keys: SecretStr | None = None
    card_code_key: SecretStr | None = None  # one key, taken whole: the same as a one-key CARD_CODE_KEYS
    card_code_keys: SecretStr | None = None  # comma-separated; the first writes, all read
    # Scanner prefixes taken off a card number before it is normalised (comma-separated, any
    # case), and one optional pattern whose single capture group is the number.
    card_number_prefixes: str = "shopify-giftcard-v1-"
    card_number_pattern: str | None = None
    embedded: bool = False
    # None: 0.0.0.0 in production, 127.0.0.1 in embedded mode (see bind_host).
    http_host: str | None = None
    http_port: int = Field(default=8080, ge=0, le=65535)
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    data_dir: Path = Path(".data")
    request_deadline_seconds: float = Field(default=8.0, gt=0, le=60)
    # Slow clients: a request line and headers must arrive within this of the connection opening
    # (or of the first byte of a further request on a kept-alive connection), the body within
    # http_body_timeout, capped by what is left of the request deadline. Idle kept-alive
    # connections are closed after http_keepalive_timeout: longer than a load balancer's idle
    # timeout (60 s usually), so the balancer closes first and never sends on a closing one.
    http_header_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    http_body_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    http_keepalive_timeout_seconds: float = Field(default=75.0, gt=0, le=3600)
    # Per API key token bucket (0 disables): a key flooding us gets 429 before any work is done.
    rate_limit_per_key_per_second: float = Field(default=200.0, ge=0)
    rate_limit_burst: int = Field(default=400, ge=0)
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
    # The poller (issue #12): one replica at a time re-reads POLL_BATCH known cards per pass.
    poll_enabled: bool = True
    poll_interval_seconds: float = Field(default=30.0, gt=0)
    poll_batch: int = Field(default=20, ge=1, le=1000)
    # The intake (issue #12): webhooks' re-reads run at once after the answer; what is left (a
    # crash, a retry) is drained by every replica this often.
    intake_interval_seconds: float = Field(default=5.0, gt=0)
    # On a ledger whose history does not say what made an entry (Shopify), a foreign entry that
    # no webhook has explained yet is held back from the mirror and the feed this long after it
    # happened, waiting for the order webhook that may explain it; then it is an admin_adjustment.
    sync_hold_seconds: float = Field(default=120.0, ge=0, le=3600)
    # Graceful shutdown: readiness turns false, new requests are still served for the drain
    # window (the load balancer notices), then in-flight requests get shutdown_timeout to finish.
    shutdown_drain_seconds: float = Field(default=5.0, ge=0)
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    # The balance-change feed's webhooks (adapter.feed). FEED_SUBSCRIBERS is a JSON list of
    # {"name", "url", "secrets": [signing secret, previous ...]}, held as a secret as a whole.
    # A failed delivery is retried after a backoff with full jitter, uniform in
    # [0, min(cap, base * 2^(n-1))) after the n-th attempt, and dead after FEED_MAX_ATTEMPTS.
    feed_subscribers: SecretStr | None = None
    feed_max_attempts: int = Field(default=12, ge=1, le=1000)
    feed_backoff_base_seconds: float = Field(default=10.0, gt=0)
    feed_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    feed_delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    feed_poll_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    feed_concurrency: int = Field(default=8, ge=1, le=64)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values: dict) -> dict:
        # An exported-but-empty variable (FOO=) means "not configured", not "configured as ''".
        return {k: v for k, v in values.items() if not (isinstance(v, str) and v.strip() == "")}

    @field_validator("feed_subscribers", mode="before")
    @classmethod
    def _subscribers_as_json(cls, value: object) -> object:
        # Given as a list (a test, a caller in Python): the same JSON the environment carries.
        if isinstance(value, (list, tuple)):
            return json.dumps(list(value))
        return value

    # ---- derived ------------------------------------------------------------------------

    @property
    def feed_subscriber_list(self) -> tuple[feed_subscribers.Subscriber, ...]:
        """The configured subscribers (empty while FEED_SUBSCRIBERS is unset or invalid: check()
        refuses an invalid one)."""
        raw = self.feed_subscribers.get_secret_value() if self.feed_subscribers is not None else None
        return feed_subscribers.parse(raw, embedded=self.embedded)[0]

    @property
    def feed_subscriber_names(self) -> tuple[str, ...]:
        return tuple(subscriber.name for subscriber in self.feed_subscriber_list)

    @property
    def shop_configured(self) -> bool:
        """The chosen ledger has an endpoint configured (else, in embedded mode, its emulator)."""
        if self.ledger == "shopline":
            return bool(self.shopline_shop_handle or self.shopline_base_url)
        if self.ledger == "gifthero":
            return bool(self.gifthero_base_url or self.gifthero_access_token)
        return bool(self.shopify_shop_domain or self.shopify_graphql_url)

    @property
    def bind_host(self) -> str:
        if self.http_host:
            return self.http_host
        return "127.0.0.1" if self.embedded else "0.0.0.0"

    @property
    def api_keys(self) -> tuple[str, ...]:
        if self.newstore_api_keys is None:
            return ()
        raw = self.newstore_api_keys.get_secret_value()
        return tuple(k.strip() for k in raw.split(",") if k.strip())

    @property
    def shopify_webhook_secret_list(self) -> tuple[str, ...]:
        if self.shopify_webhook_secrets is None:
            return ()
        raw = self.shopify_webhook_secrets.get_secret_value()
        return tuple(k.strip() for k in raw.split(",") if k.strip())

    @property
    def card_number_prefix_list(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.card_number_prefixes.split(",") if p.strip())

    @property
    def card_code_secrets(self) -> tuple[str, ...]:
        """The card-code keys, the one that writes first (CARD_CODE_KEYS, else CARD_CODE_KEY)."""
        if self.card_code_keys is not None:
            raw = self.card_code_keys.get_secret_value()
            return tuple(k.strip() for k in raw.split(",") if k.strip())
        if self.card_code_key is not None:
            return (self.card_code_key.get_secret_value(),)
        return ()

    def _card_code_key_problems(self) -> list[str]:
        if self.card_code_key is not None and self.card_code_keys is not None:
            return ["CARD_CODE_KEY and CARD_CODE_KEYS are both set: set only CARD_CODE_KEYS (the first key writes)"]
        keys = self.card_code_secrets
        if self.card_code_keys is None:
            if keys and len(keys[0]) < MIN_CARD_CODE_KEY_LENGTH:
                return [f"CARD_CODE_KEY must be at least {MIN_CARD_CODE_KEY_LENGTH} characters"]
            return []
        if not keys:
            return ["CARD_CODE_KEYS is set but lists no key"]
        problems = []
        short = [str(n) for n, key in enumerate(keys, 1) if len(key) < MIN_CARD_CODE_KEY_LENGTH]
        if short:
            problems.append(f"CARD_CODE_KEYS: every key must be at least {MIN_CARD_CODE_KEY_LENGTH} characters"
                            f" (not key {', '.join(short)})")
        if len(set(keys)) != len(keys):
            problems.append("CARD_CODE_KEYS lists the same key twice")
        return problems

    def check(self, *, serve: bool = True) -> None:
        """Fail with one message listing every problem, before anything starts.

        `serve=False` (migrate) needs only the database.
        """
        problems: list[str] = []
        if not self.embedded:
            missing = self._missing_for_production() if serve else (["DATABASE_URL"] if self.database_url is None else [])
            if missing:
                problems.append("missing " + ", ".join(missing)
                                + " (or set EMBEDDED=true for a local run on the built-in sandbox and an embedded Postgres)")
        if self.db_pool_min > self.db_pool_max:
            problems.append("DB_POOL_MIN must not exceed DB_POOL_MAX")
        if self.ledger == "shopify" and self.shopify_access_token and not self.shop_configured and self.embedded:
            problems.append("SHOPIFY_ACCESS_TOKEN is set but no shop: set SHOPIFY_SHOP_DOMAIN or SHOPIFY_GRAPHQL_URL")
        if self.ledger == "shopline" and self.shopline_access_token and not self.shop_configured and self.embedded:
            problems.append("SHOPLINE_ACCESS_TOKEN is set but no store: set SHOPLINE_SHOP_HANDLE or SHOPLINE_BASE_URL")
        for name in ("shopify_graphql_url", "shopline_base_url", "gifthero_base_url"):
            if getattr(self, name):
                problems += self._ledger_url_problems(name.upper(), getattr(self, name))
        for index, key in enumerate(self.api_keys, start=1):
            if len(key) < MIN_API_KEY_LENGTH:
                # The position only: the key itself (or its length) is no business of a log.
                problems.append(f"NEWSTORE_API_KEYS: key #{index} is shorter than {MIN_API_KEY_LENGTH} characters")
        problems += self._card_code_key_problems()
        problems += self._webhook_secret_problems()
        if self.card_number_pattern:
            try:
                compile_pattern(self.card_number_pattern)
            except ValueError as error:
                problems.append(f"CARD_NUMBER_PATTERN {error}")
        if self.feed_subscribers is not None:
            problems += feed_subscribers.parse(self.feed_subscribers.get_secret_value(), embedded=self.embedded)[1]
        if self.feed_backoff_base_seconds > self.feed_backoff_cap_seconds:
            problems.append("FEED_BACKOFF_BASE_SECONDS must not exceed FEED_BACKOFF_CAP_SECONDS")
        if self.rate_limit_per_key_per_second > 0 and self.rate_limit_burst < 1:
            problems.append("RATE_LIMIT_BURST must be at least 1 while RATE_LIMIT_PER_KEY_PER_SECOND is set (0 disables both)")
        if problems:
            raise SettingsError("invalid configuration: " + "; ".join(problems))

    def _webhook_secret_problems(self) -> list[str]:
        if self.embedded:
            return []
        problems = []
        short = [str(n) for n, key in enumerate(self.shopify_webhook_secret_list, 1)
                 if len(key) < MIN_WEBHOOK_SECRET_LENGTH]
        if short:  # positions only, never a secret or its length
            problems.append(f"SHOPIFY_WEBHOOK_SECRETS: every secret must be at least {MIN_WEBHOOK_SECRET_LENGTH}"
                            f" characters (not secret {', '.join(short)})")
        return problems

    def _missing_for_production(self) -> list[str]:
        missing = []
        if self.database_url is None:
            missing.append("DATABASE_URL")
        missing += self._missing_ledger_settings()
        if not self.api_keys:
            missing.append("NEWSTORE_API_KEYS")
        if not self.card_code_secrets:
            missing.append("CARD_CODE_KEYS (or CARD_CODE_KEY)")
        return missing

    def _missing_ledger_settings(self) -> list[str]:
        """What the chosen ledger needs in production (the others' settings are ignored)."""
        missing = []
        if self.ledger == "shopify":
            if not self.shop_configured:
                missing.append("SHOPIFY_SHOP_DOMAIN or SHOPIFY_GRAPHQL_URL")
            if not self.shopify_access_token:
                missing.append("SHOPIFY_ACCESS_TOKEN")
            return missing
        if self.ledger == "shopline":
            if not self.shop_configured:
                missing.append("SHOPLINE_SHOP_HANDLE or SHOPLINE_BASE_URL")
            if not self.shopline_access_token:
                missing.append("SHOPLINE_ACCESS_TOKEN")
            if not self.shopline_app_secret:
                missing.append("SHOPLINE_APP_SECRET")
        if self.ledger == "gifthero" and not self.gifthero_access_token:
            missing.append("GIFTHERO_ACCESS_TOKEN")
        if self.ledger_currency is None:
            missing.append("LEDGER_CURRENCY")
        return missing

    def _ledger_url_problems(self, name: str, url: str) -> list[str]:
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return []
        # A local emulator speaks plain http on loopback; nothing else may carry the token in clear.
        if self.embedded and parts.scheme == "http" and is_loopback(parts.hostname):
            return []
        if self.embedded:
            return [f"{name} must be https (http only to a loopback emulator)"]
        return [f"{name} must be https"]


def load_settings(*, serve: bool = True, **overrides: object) -> Settings:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.check(serve=serve)
    return settings
