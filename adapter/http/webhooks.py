"""Thin handlers for the ledgers' webhooks (issue #12's intake): verify, parse, accept, answer.

Never behind NewStore's API key (adapter.http.admission lets these paths through): a vendor
authenticates with its HMAC over the raw body, checked before anything is parsed or stored. A bad
or missing signature is answered 401 in NewStore's error shape and changes nothing. A verified
webhook is answered 200 once its receipt and what it asks to re-read are committed (within
ANSWER_SECONDS: the vendors give us 5 s); the re-reads run after, in the background.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import structlog
from aiohttp import web

from adapter import jsonio
from adapter.http import webhook_auth, webhook_payloads
from adapter.http.errors import ApiError
from adapter.http.keys import SERVICES, SETTINGS
from adapter.http.requests import read_body
from adapter.observability.metrics import WEBHOOK_TOPICS, WEBHOOKS_RECEIVED
from adapter.services import intake
from adapter.services.intake import Intake, Signal

log = structlog.get_logger(__name__)

INTAKE = web.AppKey("intake", Intake)
ANSWER_SECONDS = 4.0
BAD_SIGNATURE = "webhook signature missing or invalid"
_UNCONFIGURED_LOGGED: set[str] = set()


async def shopify(request: web.Request) -> web.Response:
    secrets = request.app[SETTINGS].shopify_webhook_secret_list
    raw = await _verified(request, "shopify", request.headers.get("X-Shopify-Topic"), secrets,
                          lambda body: webhook_auth.valid_base64(body, request.headers.get("X-Shopify-Hmac-Sha256"),
                                                                 secrets))
    topic = request.headers.get("X-Shopify-Topic", "")
    # X-Shopify-Event-Id repeats for a duplicate event; the webhook id only across one delivery's retries.
    event_id = _event_id(request, raw, "X-Shopify-Event-Id", "X-Shopify-Webhook-Id")
    return await _accept(request, "shopify", topic, raw,
                         lambda body: webhook_payloads.shopify_signal(topic, event_id, body))


async def shopline(request: web.Request) -> web.Response:
    secret = request.app[SETTINGS].shopline_app_secret
    secrets = (secret.get_secret_value(),) if secret is not None else ()
    raw = await _verified(request, "shopline", request.headers.get("X-Shopline-Topic"), secrets,
                          lambda body: webhook_auth.valid_hex_or_base64(
                              body, request.headers.get("X-Shopline-Hmac-Sha256"), secrets))
    topic = request.headers.get("X-Shopline-Topic", "")
    event_id = _event_id(request, raw, "X-Shopline-Webhook-Id")  # the same on every resend of one event
    return await _accept(request, "shopline", topic, raw,
                         lambda body: webhook_payloads.shopline_signal(topic, event_id, body))


async def _verified(request: web.Request, source: str, topic: str | None, secrets: tuple[str, ...],
                    valid) -> bytes:
    """The raw body, once its signature checks out; else 401 and nothing else happens."""
    raw = await read_body(request)
    if not secrets and source not in _UNCONFIGURED_LOGGED:
        _UNCONFIGURED_LOGGED.add(source)  # once per process: every such webhook is refused
        log.warning("webhook_secret_not_configured", source=source)
    if not secrets or not valid(raw):
        _count(source, topic, "bad_signature")
        log.info("webhook_refused", source=source, topic=_label(source, topic))
        raise ApiError(401, "unauthorized", BAD_SIGNATURE)
    return raw


async def _accept(request: web.Request, source: str, topic: str, raw: bytes, read) -> web.Response:
    if topic not in WEBHOOK_TOPICS[source]:
        _count(source, topic, "ignored")
        return _ok({"received": True, "ignored": True})
    try:
        body = jsonio.loads(raw)
    except jsonio.BadJson:
        body = None
    if not isinstance(body, dict):
        _count(source, topic, "invalid")
        raise ApiError(400, "bad_request", "body: must be a JSON object")
    signal: Signal = read(body)
    try:
        async with asyncio.timeout(ANSWER_SECONDS):
            accepted = await intake.accept(request.app[SERVICES], signal)
    except TimeoutError:
        # Not known to be written: the vendor resends, and a written receipt makes that a duplicate.
        raise ApiError(503, "retry_error", "temporarily unavailable", retry_after=1) from None
    _count(source, topic, "duplicate" if accepted.duplicate else "accepted")
    request.app[INTAKE].kick(accepted.item_ids)
    return _ok({"received": True, "duplicate": accepted.duplicate})


def _event_id(request: web.Request, raw: bytes, *headers: str) -> str:
    for name in headers:
        value = request.headers.get(name, "").strip()
        if 0 < len(value) <= 200:
            return value
    return "sha256:" + hashlib.sha256(raw).hexdigest()  # no id sent: the body is the event


def _label(source: str, topic: str | None) -> str:
    return topic if topic in WEBHOOK_TOPICS[source] else "other"


def _count(source: str, topic: str | None, result: str) -> None:
    WEBHOOKS_RECEIVED.labels(source, _label(source, topic), result).inc()


def _ok(body: dict[str, Any]) -> web.Response:
    return web.Response(status=200, body=jsonio.dumps(body), content_type="application/json")
