"""Sandbox-only routes under /sandbox (never under /admin): faults, state, latencies, reset, config,
seeding cards "created elsewhere", orders (giftcard_emulators.shopify.orders) and the order
webhooks' subscription (giftcard_emulators.webhooks). Only tests, demos and benchmarks call these."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import web

from adapter.domain.currencies import MINOR_UNITS
from giftcard_emulators import control
from giftcard_emulators.control import BadInput, control_body
from giftcard_emulators.shopify import orders
from giftcard_emulators.shopify.config import latency_settings, shop_currency, shop_limit
from giftcard_emulators.webhooks import webhook_routes
from giftcard_emulators.shopify.formatting import decimal_string, gid
from giftcard_emulators.shopify.graphql_endpoint import dumps
from giftcard_emulators.shopify.runtime import Sandbox
from giftcard_emulators.shopify.schema import parse_decimal
from giftcard_emulators.shopify.state import code_error, normalise_code


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json")


def _decimal(value: Any, name: str) -> Decimal:
    """The same strict parse as GraphQL Decimal inputs, reported as a control-endpoint 400."""
    try:
        return parse_decimal(value)
    except ValueError as exc:
        raise BadInput(f"{name} must be a finite decimal string") from exc


def _customer(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value).removeprefix("gid://shopify/Customer/")
    if not text.isdigit():
        raise BadInput("customer_id must be a number or a Customer GID")
    return int(text)


def _config_view(sandbox: Sandbox) -> dict[str, Any]:
    view = asdict(sandbox.config)
    view.pop("access_token")
    return view


def routes(sandbox: Sandbox) -> list[web.RouteDef]:
    guarded = control.guarded(_json)

    async def state(_request: web.Request) -> web.Response:
        return _json({"cards": sandbox.state.snapshot(), "customers": sandbox.state.customers_snapshot(),
                      "held": len(sandbox.faults.held),
                      "faults_fired": sandbox.faults.fired,
                      "throttleStatus": sandbox.bucket.status(),
                      "calls": dict(sandbox.calls), "calls_total": sum(sandbox.calls.values()),
                      "throttled": dict(sandbox.throttled), "throttled_total": sum(sandbox.throttled.values()),
                      "bucket_minimum": sandbox.bucket.minimum,
                      "faults": sandbox.faults.describe(), "config": _config_view(sandbox)})

    async def latencies(_request: web.Request) -> web.Response:
        """The waits of the answers since the last reset, oldest first (while a latency is set)."""
        return _json({"calls": list(sandbox.latencies)})

    async def reset(_request: web.Request) -> web.Response:
        sandbox.reset()
        return _json({"reset": True})

    async def reset_counters(_request: web.Request) -> web.Response:
        sandbox.reset_counters()
        return _json({"reset": True})

    async def configure(request: web.Request) -> web.Response:
        body = await control_body(request)
        config = sandbox.config
        known = {"issue_limit", "purchase_limit", "currency", "bucket_size", "restore_rate",
                 "throttle_with_429", "access_token", "latency_ms", "latency_jitter_ms"}
        unknown = set(body) - known
        if unknown:
            raise BadInput(f"unknown settings: {', '.join(sorted(unknown))}")
        # Checked all together before any is set: a refused request changes nothing.
        try:
            shop: dict[str, Any] = {name: shop_limit(body[name], name)
                                    for name in ("issue_limit", "purchase_limit") if name in body}
            if "currency" in body:
                shop["currency"] = shop_currency(body["currency"])
            if "latency_ms" in body or "latency_jitter_ms" in body:
                shop["latency_ms"], shop["latency_jitter_ms"] = latency_settings(
                    body.get("latency_ms", config.latency_ms), body.get("latency_jitter_ms", config.latency_jitter_ms))
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
        for name, value in shop.items():
            setattr(config, name, value)
        for name in ("bucket_size", "restore_rate"):
            if name in body:
                value = float(body[name])
                if value <= 0:
                    raise BadInput(f"{name} must be positive")
                setattr(config, name, value)
        if "bucket_size" in body:
            sandbox.bucket.refill_completely()
        if "throttle_with_429" in body:
            config.throttle_with_429 = bool(body["throttle_with_429"])
        if "access_token" in body:
            config.access_token = str(body["access_token"])
        return _json(_config_view(sandbox))

    async def add_card(request: web.Request) -> web.Response:
        body = await control_body(request)
        ledger = sandbox.state
        amount = _decimal(body.get("amount"), "amount")
        if amount < 0:
            raise BadInput("amount must not be negative")
        currency = body.get("currency") or sandbox.config.currency
        if currency not in MINOR_UNITS:
            raise BadInput("currency must be an ISO-4217 code")
        raw_code = body.get("code")
        if raw_code is None:
            code = ledger.new_code()
        else:
            code = normalise_code(str(raw_code))
            problem = code_error(code)
            if problem is not None:
                raise BadInput(problem["message"])
            if code in ledger.codes:
                return _json({"error": "Code has already been taken"}, status=409)
        expires_on = body.get("expires_on")
        try:
            expiry = date.fromisoformat(expires_on) if expires_on else None
        except (TypeError, ValueError) as exc:
            raise BadInput("expires_on must be YYYY-MM-DD or null") from exc
        customer_id = _customer(body.get("customer_id"))
        if customer_id is not None:
            ledger.ensure_customer(customer_id)
        source = body.get("source", "purchased")
        if source not in ("manual", "purchased", "api_client"):
            raise BadInput("source must be manual, purchased or api_client")
        card = ledger.add_card(code=code, amount=amount, currency=currency, source=source,
                               note=body.get("note"), expires_on=expiry, customer_id=customer_id,
                               enabled=bool(body.get("enabled", True)))
        return _json({"id": card.gid, "code": card.code, "lastCharacters": card.last_characters,
                      "balance": decimal_string(card.balance)}, status=201)

    async def add_customer(request: web.Request) -> web.Response:
        """A customer "created elsewhere": an id (else the next one) and optionally email, phone,
        first_name, last_name, checked as customerCreate checks them but with no identity needed.
        An id that exists already is answered as it is (200)."""
        body = await control_body(request)
        for name in ("email", "phone", "first_name", "last_name"):
            if body.get(name) is not None and not isinstance(body[name], str):
                raise BadInput(f"{name} must be a string")
        number = _customer(body.get("id"))
        if number is not None and number in sandbox.state.customers:
            return _json({"id": gid("Customer", number)})
        customer, errors = sandbox.state.create_customer(
            email=body.get("email"), phone=body.get("phone"), first_name=body.get("first_name"),
            last_name=body.get("last_name"), number=number, require_identity=False)
        if customer is None:
            raise BadInput(errors[0]["message"])
        return _json({"id": customer.gid}, status=201)

    return [
        *control.fault_routes("/sandbox", sandbox.faults, _json, guarded),
        *webhook_routes("/sandbox", sandbox.webhooks, _json, guarded),
        *orders.routes(sandbox.orders, sandbox.webhooks, _json, guarded),
        web.get("/sandbox/state", guarded(state)),
        web.get("/sandbox/latencies", guarded(latencies)),
        web.post("/sandbox/reset", guarded(reset)),
        web.post("/sandbox/counters/reset", guarded(reset_counters)),
        web.post("/sandbox/config", guarded(configure)),
        web.post("/sandbox/cards", guarded(add_card)),
        web.post("/sandbox/customers", guarded(add_customer)),
    ]
