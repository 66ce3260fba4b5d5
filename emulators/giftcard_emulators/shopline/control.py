"""Emulator-only routes under /_emulator/ (never under /admin): what tests, demos and other
engineers' suites use to seed, inspect and break the emulated store.

  GET    /_emulator/state            cards (with full code), operation records, faults, calls...
  POST   /_emulator/cards            seed a card made "elsewhere" (admin UI, another app)
  POST   /_emulator/cards/{id}/changes  a balance change made elsewhere, recorded now or at `created_at`
  GET    /_emulator/faults           the armed faults and held calls
  POST   /_emulator/faults           arm a fault (see faults.py for the specs)
  DELETE /_emulator/faults           disarm all faults; held calls go on
  POST   /_emulator/release          let held calls go on
  POST   /_emulator/reset            empty store, no faults, counters and bucket reset (config stays)
  POST   /_emulator/counters/reset   call counters only
  POST   /_emulator/config           bucket_size, leak_rate, store_state, access_token, currency
  POST   /_emulator/clock            {"now": ISO time} freezes the store clock, {"advance_seconds": n}
                                     moves it
  GET|POST|DELETE /_emulator/webhooks, POST /_emulator/webhooks/{faults,release,N/resend}
                                     the gift-card webhook's subscription {url, secret, signature:
                                     hex|base64, code: full|masked, hold, retry_delays} and its
                                     deliveries (giftcard_emulators.webhooks, shopline.webhooks)

Bad bodies answer 400 `{"error": "..."}` (not SHOPLINE's `errors`: these are not SHOPLINE's routes).
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from aiohttp import web

from giftcard_emulators import control
from giftcard_emulators.control import BadInput, control_body

from giftcard_emulators.shopline import choices
from giftcard_emulators.shopline.api import card_view, dumps
from giftcard_emulators.shopline.config import STORE_STATES
from giftcard_emulators.shopline.errors import ApiError
from giftcard_emulators.shopline.ledger import Card, Clock, code_problem, format_time, parse_expiry, parse_time
from giftcard_emulators.shopline.money import format_amount, parse_amount, valid_currency
from giftcard_emulators.shopline.runtime import Emulator
from giftcard_emulators.shopline.webhooks import OWN_KEYS
from giftcard_emulators.webhooks import webhook_routes


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json")


def _amount(value: Any, currency: str, name: str) -> Any:
    try:
        return parse_amount(value if not isinstance(value, (int, Decimal)) else str(value), currency, name)
    except ApiError as exc:
        raise BadInput(exc.message) from exc


def full_card(card: Card) -> dict[str, Any]:
    return {**card_view(card), "code": card.code, "enabled": card.enabled}


def record_state(record: Any) -> dict[str, Any]:
    return {**choices.record_view(record, format_amount, format_time), "source": record.source}


def config_view(emulator: Emulator) -> dict[str, Any]:
    view = asdict(emulator.config)
    view.pop("access_token")
    view["known_versions"] = list(view["known_versions"])
    view["shop_domain"] = emulator.config.shop_domain
    return view


def routes(emulator: Emulator) -> list[web.RouteDef]:
    guarded = control.guarded(_json)

    async def state(_request: web.Request) -> web.Response:
        ledger = emulator.ledger
        return _json({
            "cards": [full_card(card) for card in ledger.sorted_cards()],
            "operation_records": [record_state(r) for r in ledger.records],
            "faults_fired": dict(emulator.faults.fired),
            "faults": emulator.faults.describe()["faults"],
            "held": len(emulator.faults.held),
            "held_operations": [h.operation for h in emulator.faults.held],
            "calls": dict(emulator.calls),
            "throttled": dict(emulator.throttled),
            "put_shapes": dict(emulator.put_shapes),
            "bucket": emulator.bucket.status(),
            "now": format_time(ledger.clock()),
            "config": config_view(emulator),
        })

    async def add_card(request: web.Request) -> web.Response:
        body = await control_body(request)
        ledger = emulator.ledger
        currency = body.get("currency") or emulator.config.currency
        if not valid_currency(currency):
            raise BadInput("currency must be an ISO 4217 code")
        if body.get("balance") is None and body.get("initial_value") is None:
            raise BadInput("balance (or initial_value) is required")
        balance = _amount(body.get("balance", body.get("initial_value")), currency, "balance")
        initial = _amount(body.get("initial_value", body.get("balance")), currency, "initial_value")
        if balance < 0 or initial <= 0:
            raise BadInput("balance must not be negative and initial_value must be positive")
        code = body.get("code")
        if code is None:
            code = ledger.new_code()
        elif not isinstance(code, str) or (problem := code_problem(code)) is not None:
            raise BadInput(problem if isinstance(code, str) else "code must be a string")
        elif code in ledger.codes:
            return _json({"error": "code has already been taken"}, status=409)
        try:
            expires_on = parse_expiry(body.get("expires_on"))
        except ApiError as exc:
            raise BadInput(exc.message) from exc
        customer_id = body.get("customer_id")
        card = ledger.add_card(code=code, balance=balance, initial_value=initial, currency=currency,
                               note=body.get("note"), customer_id=None if customer_id is None else str(customer_id),
                               expires_on=expires_on, api_client_id=body.get("api_client_id"),
                               disabled=bool(body.get("disabled", False)))
        return _json(full_card(card), status=201)

    async def add_change(request: web.Request) -> web.Response:
        card = emulator.ledger.cards.get(request.match_info["id"])
        if card is None:
            return _json({"error": "no such card"}, status=404)
        body = await control_body(request)
        delta = _amount(body.get("delta"), card.currency, "delta")
        if delta == 0:
            raise BadInput("delta must not be zero")
        kind = body.get("operation_type")
        if kind is not None and kind not in choices.OPERATION_TYPES:
            raise BadInput(f"operation_type must be one of {', '.join(choices.OPERATION_TYPES)}")
        try:
            at = parse_time(body["created_at"], "created_at") if body.get("created_at") else None
            record = emulator.ledger.move_balance(card, delta, kind, source="seeded", at=at)
        except ApiError as exc:
            raise BadInput(exc.message) from exc
        return _json({"card": full_card(card), "record": record_state(record)}, status=201)

    async def reset(_request: web.Request) -> web.Response:
        emulator.reset()
        return _json({"reset": True})

    async def reset_counters(_request: web.Request) -> web.Response:
        emulator.reset_counters()
        return _json({"reset": True})

    async def configure(request: web.Request) -> web.Response:
        body = await control_body(request)
        config = emulator.config
        known = {"bucket_size", "leak_rate", "store_state", "access_token", "currency"}
        unknown = set(body) - known
        if unknown:
            raise BadInput(f"unknown settings: {', '.join(sorted(unknown))}")
        for name in ("bucket_size", "leak_rate"):
            if name in body:
                value = body[name]
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                    raise BadInput(f"{name} must be a positive number")
        if "store_state" in body and body["store_state"] not in STORE_STATES:
            raise BadInput(f"store_state must be one of {', '.join(STORE_STATES)}")
        if "currency" in body and not valid_currency(body["currency"]):
            raise BadInput("currency must be an ISO 4217 code")
        if "access_token" in body and not (isinstance(body["access_token"], str) and body["access_token"]):
            raise BadInput("access_token must be a non-empty string")
        for name in ("bucket_size", "leak_rate"):
            if name in body:
                setattr(config, name, float(body[name]))
        for name in ("store_state", "access_token", "currency"):
            if name in body:
                setattr(config, name, body[name])
        if "bucket_size" in body:
            emulator.bucket.drain()
        return _json(config_view(emulator))

    async def clock(request: web.Request) -> web.Response:
        body = await control_body(request)
        store_clock = emulator.clock
        if not isinstance(store_clock, Clock):
            raise BadInput("this emulator's clock is not adjustable (a test injected its own)")
        if body.get("now") is not None:
            try:
                store_clock.set(parse_time(str(body["now"]), "now"))
            except ApiError as exc:
                raise BadInput(exc.message) from exc
        if body.get("advance_seconds") is not None:
            seconds = body["advance_seconds"]
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
                raise BadInput("advance_seconds must be a number")
            store_clock.advance(float(seconds))
        return _json({"now": format_time(store_clock())})

    return [
        web.get("/_emulator/state", guarded(state)),
        web.post("/_emulator/cards", guarded(add_card)),
        web.post("/_emulator/cards/{id}/changes", guarded(add_change)),
        *control.fault_routes("/_emulator", emulator.faults, _json, guarded),
        *webhook_routes("/_emulator", emulator.webhooks, _json, guarded, own_keys=OWN_KEYS,
                        configure_own=emulator.webhook_options.configure,
                        describe_own=emulator.webhook_options.describe),
        web.post("/_emulator/reset", guarded(reset)),
        web.post("/_emulator/counters/reset", guarded(reset_counters)),
        web.post("/_emulator/config", guarded(configure)),
        web.post("/_emulator/clock", guarded(clock)),
    ]
