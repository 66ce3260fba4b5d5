"""Who may call, and how often: the API key, then that key's token bucket."""

from __future__ import annotations

import math

from aiohttp import web

from adapter.http.errors import ApiError
from adapter.http.keys import API_KEYS, RATE_LIMITER
from adapter.observability import metrics

UNAUTHENTICATED_PATHS = frozenset({"/health/live", "/health/ready", "/openapi.json"})
# The ledgers' webhooks authenticate with their vendor's HMAC (adapter.http.webhooks), never with
# NewStore's API key, and are not NewStore's to rate-limit.
UNAUTHENTICATED_PATHS = UNAUTHENTICATED_PATHS | {"/webhooks/shopify", "/webhooks/shopline"}


@web.middleware
async def admit(request: web.Request, handler) -> web.StreamResponse:
    """Authenticate, then spend a token of the matched key's bucket (health is never limited)."""
    if request.path not in UNAUTHENTICATED_PATHS:
        _admit(request)
    return await handler(request)


def _admit(request: web.Request) -> None:
    keys = request.app[API_KEYS]
    key = None
    if keys.enabled:
        key = keys.match(request)
        if key is None:
            raise ApiError(401, "unauthorized", "missing or invalid API key",
                           headers={"WWW-Authenticate": "Bearer"})
    limiter = request.app[RATE_LIMITER]
    wait = limiter.take(key)
    if wait:
        metrics.RATE_LIMITED.labels("none" if key is None else str(key + 1)).inc()
        raise ApiError(429, "rate_limit",
                       f"more than {limiter.per_second:g} requests per second with this API key "
                       f"(RATE_LIMIT_PER_KEY_PER_SECOND, bursts up to RATE_LIMIT_BURST={limiter.burst})",
                       retry_after=math.ceil(wait))
