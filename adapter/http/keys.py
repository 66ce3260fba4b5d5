"""Typed application keys for the resources handlers use."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from adapter.http.auth import ApiKeys
from adapter.http.ratelimit import RateLimiter
from adapter.services.context import Services
from adapter.settings import Settings

SERVICES = web.AppKey("services", Services)
SETTINGS = web.AppKey("settings", Settings)
API_KEYS = web.AppKey("api_keys", ApiKeys)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
READINESS = web.AppKey("readiness", object)
WORKERS = web.AppKey("workers", object)
# The one client session for outbound calls (the ledger's, the feed's webhooks).
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
