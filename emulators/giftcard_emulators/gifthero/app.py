"""Gift Card Hero's REST API under /api/external, plus the emulator's control routes under /_emulator/.

Operations (names for faults and call counters): list, get, transactions, create, set_balance,
update, disable, search, assign_to_order. Undocumented choices: model.UNDOCUMENTED.

Control routes (tests and local runs only; the SHOPLINE emulator uses the same names):
  GET    /_emulator/state    cards (with full codes and transactions), transactions, orders,
                             assignments, faults, held, faults_fired, calls by operation, config
  POST   /_emulator/cards    seed a card made elsewhere: {code?, balance?, initial_value?, currency?,
                             note?, expires_on?, source?, customer_id?, disabled?} -> 201 card + code
  POST   /_emulator/orders   {id, line_items: [{id, gift_card: bool}]} for assign-to-order
  POST   /_emulator/faults   a FaultRegistry spec {kind: latency|error_5xx|internal_server_error|
                             lose_response|hold, operation?, count?|probability+seed?, latency_ms?,
                             status?, stage?: before|after}, or {kind: foreign_change, operation?
                             (a read: list|get|transactions|search), card_id? (required unless
                             operation is get), delta: "-30.00", count?, note?}
  GET    /_emulator/faults   DELETE /_emulator/faults (clears, releases held calls)
  POST   /_emulator/release  POST /_emulator/reset  POST /_emulator/config {access_token, currency,
                             rate_limit (int|null), rate_window_s}
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import web

from giftcard_emulators.faults import FaultRegistry, FaultSpecError
from giftcard_emulators.gifthero.model import API_CLIENT_ID, Card, Invalid, Ledger, money, parse_money
from giftcard_emulators.gifthero import queries

BASE = "/api/external"
CONTROL = "/_emulator"
READS = ("list", "get", "transactions", "search")


@dataclass
class GiftHeroConfig:
    access_token: str = "gifthero-token"
    currency: str = "USD"
    # Optional limiter (the vendor documents none): at most rate_limit calls per rate_window_s.
    rate_limit: int | None = None
    rate_window_s: float = 1.0


@dataclass
class ForeignChange:
    """Moves a card's balance by `delta` right after the next matching read has been answered
    from the old state: the change lands between our read and our PUT."""
    id: str
    operation: str | None
    card_id: int | None
    delta: Decimal
    remaining: int
    note: str | None
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": "foreign_change", "operation": self.operation, "card_id": self.card_id,
                "delta": money(self.delta), "remaining": self.remaining, "note": self.note, "fired": self.fired}


@dataclass
class GiftHero:
    config: GiftHeroConfig
    ledger: Ledger = field(default_factory=Ledger)
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    foreign: list[ForeignChange] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    window_start: float | None = None
    window_calls: int = 0
    _foreign_ids: int = 0

    def reset(self) -> None:
        self.ledger.reset()
        self.faults.clear()
        self.foreign.clear()
        self.faults.release(proceed=False)
        self.faults.fired.clear()
        self.calls.clear()
        self.window_start, self.window_calls = None, 0

    def throttled(self) -> int | None:
        """Retry-After seconds when over the configured limit, else None (fixed window, ledger clock)."""
        limit = self.config.rate_limit
        if limit is None:
            return None
        now = self.ledger.clock().timestamp()
        if self.window_start is None or now >= self.window_start + self.config.rate_window_s:
            self.window_start, self.window_calls = now, 0
        if self.window_calls >= limit:
            return max(1, math.ceil(self.window_start + self.config.rate_window_s - now))
        self.window_calls += 1
        return None

    def add_foreign(self, spec: dict[str, Any]) -> ForeignChange:
        operation = spec.get("operation")
        if operation is not None and operation not in READS:
            raise FaultSpecError(f"foreign_change follows a read: operation must be one of {', '.join(READS)}")
        card_id = spec.get("card_id")
        if card_id is not None and (not isinstance(card_id, int) or isinstance(card_id, bool)):
            raise FaultSpecError("card_id must be a number")
        if card_id is None and operation != "get":
            raise FaultSpecError("foreign_change needs a card_id unless operation is 'get'")
        try:
            delta = parse_money_signed(spec.get("delta"))
        except Invalid as exc:
            raise FaultSpecError("delta must be a non-zero decimal string") from exc
        count = spec.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise FaultSpecError("count must be a positive integer")
        self._foreign_ids += 1
        change = ForeignChange(f"foreign-{self._foreign_ids}", operation, card_id, delta, count, spec.get("note"))
        self.foreign.append(change)
        return change

    def after_read(self, operation: str, card_ids: list[int]) -> None:
        for change in list(self.foreign):
            if change.operation is not None and change.operation != operation:
                continue
            target = change.card_id
            if target is None:
                target = card_ids[0] if card_ids else None
            if target is None or target not in card_ids or target not in self.ledger.cards:
                continue
            self.ledger.move(self.ledger.cards[target], change.delta, change.note)
            change.fired += 1
            change.remaining -= 1
            self.faults.fired["foreign_change"] = self.faults.fired.get("foreign_change", 0) + 1
            if change.remaining <= 0:
                self.foreign.remove(change)


def parse_money_signed(value: Any) -> Decimal:
    if isinstance(value, str) and value.strip().startswith("-"):
        return -parse_money(value.strip()[1:], "delta", allow_zero=False)
    return parse_money(value, "delta", allow_zero=False)


def dumps(body: Any) -> str:
    return json.dumps(body, default=lambda o: str(o) if isinstance(o, Decimal) else o.isoformat())


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json", headers=headers)


def error(errors: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    """The one place the (undocumented) error body shape is made: {"errors": ...}."""
    return _json({"errors": errors}, status, headers)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise Invalid("body must be JSON", 400) from exc
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object", 400)
    return body


def _date(value: Any, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise Invalid({name: ["must be YYYY-MM-DD or null"]}) from exc


def _link(request: web.Request, cursor: dict[str, Any] | None, limit: int) -> dict[str, str]:
    if cursor is None:
        return {}
    url = request.url.with_query({"page_info": queries.encode_cursor(cursor), "limit": str(limit)})
    return {"Link": f'<{url}>; rel="next"'}


def _drop_connection(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


def create_gifthero_app(config: GiftHeroConfig | None = None) -> web.Application:
    hero = GiftHero(config or GiftHeroConfig())
    ledger = hero.ledger
    app = web.Application()
    app[GIFTHERO] = hero

    def card_of(request: web.Request) -> Card:
        text = request.match_info["card_id"]
        card = ledger.cards.get(int(text)) if text.isdigit() else None
        if card is None:
            raise Invalid("Not Found", 404)
        return card

    def api(operation: str, handler: Any) -> Any:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            hero.calls[operation] += 1
            if request.headers.get("Authorization") != f"Bearer {hero.config.access_token}":
                return error("Unauthorized", 401)
            triggered = hero.faults.take([operation])
            fault = triggered.terminal
            if triggered.latency_s:
                await asyncio.sleep(triggered.latency_s)
            if fault is not None and fault.kind == "hold" and fault.stage == "before":
                if not await hero.faults.hold(operation):
                    return error("Service Unavailable", 503)
            if fault is not None and fault.kind == "error_5xx":
                return error("Bad Gateway" if fault.status == 502 else "Service Unavailable", fault.status)
            if fault is not None and fault.kind == "internal_server_error":
                return error("Internal Server Error", 500)
            retry = hero.throttled()
            if retry is not None:
                return error("Too Many Requests", 429, {"Retry-After": str(retry)})
            try:
                body, status, headers, read_ids = await handler(request)
            except Invalid as exc:
                return error(exc.errors, exc.status)
            response = _json(body, status, headers)
            if operation in READS:
                hero.after_read(operation, read_ids)
            if fault is not None and fault.kind == "lose_response":
                _drop_connection(request)
                return web.Response(status=200)
            if fault is not None and fault.kind == "hold" and fault.stage == "after":
                await hero.faults.hold(operation)
            return response

        return wrapper

    def page(request: web.Request, cards: list[Card], filters: dict[str, Any],
             limit: int) -> tuple[list[Card], dict[str, str]]:
        after = filters.get("after_id")
        if after is not None:
            cards = [c for c in cards if c.id > after]
        chosen = cards[:limit]
        more = len(cards) > limit
        cursor = {**filters, "after_id": chosen[-1].id} if more else None
        return chosen, _link(request, cursor, limit)

    def filters_of(request: web.Request, keep: tuple[str, ...]) -> dict[str, Any]:
        params = request.query
        if "page_info" in params:
            return queries.decode_cursor(params["page_info"])
        return {k: v for k, v in params.items() if k not in keep}

    async def list_cards(request: web.Request) -> Any:
        limit = queries.limit_of(request.query)
        filters = filters_of(request, ("limit", "fields"))
        cards = sorted(ledger.cards.values(), key=lambda c: c.id)
        if filters.get("since_id"):
            since = int(filters["since_id"])
            cards = [c for c in cards if c.id > since]
        status = filters.get("status")
        if status:
            cards = [c for c in cards if ledger.status(c) == status]
        chosen, headers = page(request, cards, filters, limit)
        fields = request.query.get("fields")
        return ({"gift_cards": [queries.select_fields(c.view(), fields) for c in chosen]}, 200, headers,
                [c.id for c in chosen])

    async def get_card(request: web.Request) -> Any:
        card = card_of(request)
        return {"gift_card": card.view()}, 200, {}, [card.id]

    async def transactions(request: web.Request) -> Any:
        limit = queries.limit_of(request.query)
        filters = filters_of(request, ("limit",))
        params = {k: v for k, v in filters.items() if k != "after_id"}
        cards = [c for c in sorted(ledger.cards.values(), key=lambda c: c.id)
                 if queries.transactions_matches(ledger, c, params)]
        chosen, headers = page(request, cards, filters, limit)
        body = [{**c.view(), "transactions": [t.view() for t in reversed(c.transactions)]} for c in chosen]
        return body, 200, headers, [c.id for c in chosen]

    async def search(request: web.Request) -> Any:
        limit = queries.limit_of(request.query)
        filters = filters_of(request, ("limit", "fields"))
        query = filters.get("query", "")
        matched = [c for c in ledger.cards.values() if queries.search_matches(c, query)]
        ordered = queries.search_order(matched, filters.get("order", "disabled_at DESC"))
        offset = int(filters.get("offset", 0))
        chosen = ordered[offset:offset + limit]
        cursor = {**filters, "offset": offset + limit} if len(ordered) > offset + limit else None
        fields = request.query.get("fields")
        return ({"gift_cards": [queries.select_fields(c.view(), fields) for c in chosen]}, 200,
                _link(request, cursor, limit), [c.id for c in chosen])

    async def create(request: web.Request) -> Any:
        body = await _body(request)
        if isinstance(body.get("gift_card"), dict):
            body = body["gift_card"]
        value = parse_money(body.get("initial_value"), "initial_value", allow_zero=False)
        code = ledger.check_code(body["code"]) if body.get("code") is not None else ledger.new_code()
        card = ledger.add(code=code, value=value, balance=value, currency=hero.config.currency,
                          source="api_client", note=body.get("note"), expires_on=_date(body.get("expires_on"), "expires_on"),
                          template_suffix=body.get("template_suffix"), api_client_id=API_CLIENT_ID)
        return {"gift_card": {**card.view(), "code": card.code}}, 201, {}, []

    async def set_balance(request: web.Request) -> Any:
        card = card_of(request)
        body = await _body(request)
        if "balance" not in body:
            raise Invalid({"balance": ["is required"]})
        tx = ledger.set_balance(card, parse_money(body["balance"], "balance", allow_zero=True))
        return tx.view(), 200, {}, []

    async def update(request: web.Request) -> Any:
        card = card_of(request)
        body = await _body(request)
        if isinstance(body.get("gift_card"), dict):
            body = body["gift_card"]
        if "id" in body and body["id"] != card.id:
            raise Invalid({"id": ["does not match the gift card"]})
        forbidden = sorted(set(body) - {"id", "expires_on", "note", "template_suffix"})
        if forbidden:
            raise Invalid({name: ["can't be changed"] for name in forbidden})
        expires_on = _date(body["expires_on"], "expires_on") if "expires_on" in body else card.expires_on
        card.expires_on = expires_on
        if "note" in body:
            card.note = body["note"]
        if "template_suffix" in body:
            card.template_suffix = body["template_suffix"]
        card.updated_at = ledger.clock()
        return {"gift_card": card.view()}, 200, {}, []

    async def disable(request: web.Request) -> Any:
        card = card_of(request)
        ledger.disable(card)
        return {"gift_card": card.view()}, 200, {}, []

    async def assign(request: web.Request) -> Any:
        body = await _body(request)
        order_id = body.get("orderId")
        if not isinstance(order_id, int) or isinstance(order_id, bool):
            raise Invalid("orderId must be a number", 400)
        pairs: list[tuple[int | None, str]] = []
        if isinstance(body.get("giftCodes"), list) and body["giftCodes"]:
            for entry in body["giftCodes"]:
                if (not isinstance(entry, dict) or not isinstance(entry.get("lineItemId"), int)
                        or not isinstance(entry.get("code"), str) or not entry["code"].strip()):
                    raise Invalid("giftCodes entries need a numeric lineItemId and a code", 400)
                pairs.append((entry["lineItemId"], entry["code"]))
        elif isinstance(body.get("giftCode"), str) and body["giftCode"].strip():
            pairs.append((None, body["giftCode"]))
        else:
            raise Invalid("giftCode or giftCodes is required", 400)
        items = ledger.orders.get(order_id)
        if items is None:
            raise Invalid("Not Found", 404)
        gift_items = [item for item in items if item.get("gift_card")]
        if not gift_items:
            return {"scheduled": False}, 200, {}, []
        used: Counter[int] = Counter()
        for line_item, raw in pairs:
            target = line_item if line_item is not None else gift_items[0]["id"]
            code = "".join(raw.split()).lower()
            ledger.assignments.append({"order_id": order_id, "line_item_id": target, "index": used[target],
                                       "code": code, "last_characters": code[-4:]})
            used[target] += 1
        return {"scheduled": True}, 200, {}, []

    def guard(handler: Any) -> Any:
        async def wrapper(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except (Invalid, FaultSpecError) as exc:
                return _json({"error": str(exc.errors if isinstance(exc, Invalid) else exc)}, 400)
        return wrapper

    async def c_state(_request: web.Request) -> web.Response:
        all_tx = [t.view() for c in ledger.cards.values() for t in c.transactions]
        return _json({"cards": ledger.snapshot(), "transactions": sorted(all_tx, key=lambda t: t["id"]),
                      "orders": ledger.orders, "assignments": ledger.assignments,
                      "faults": hero.faults.describe()["faults"] + [f.describe() for f in hero.foreign],
                      "held": len(hero.faults.held), "held_operations": [h.operation for h in hero.faults.held],
                      "faults_fired": hero.faults.fired, "calls": dict(hero.calls), "config": _config_view()})

    def _config_view() -> dict[str, Any]:
        view = asdict(hero.config)
        view.pop("access_token")
        return view

    async def c_cards(request: web.Request) -> web.Response:
        body = await _body(request)
        balance = parse_money(body.get("balance", "25.00"), "balance", allow_zero=True)
        value = parse_money(body.get("initial_value", money(balance)), "initial_value", allow_zero=True)
        code = ledger.check_code(body["code"]) if body.get("code") is not None else ledger.new_code()
        source = body.get("source", "manual")
        if source not in ("manual", "purchased", "api_client"):
            raise Invalid("source must be manual, purchased or api_client", 400)
        card = ledger.add(code=code, value=value, balance=balance, currency=body.get("currency") or hero.config.currency,
                          source=source, note=body.get("note"), expires_on=_date(body.get("expires_on"), "expires_on"),
                          customer_id=body.get("customer_id"))
        if body.get("disabled"):
            ledger.disable(card)
        return _json({**card.view(), "code": card.code}, 201)

    async def c_orders(request: web.Request) -> web.Response:
        body = await _body(request)
        order_id = body.get("id")
        items = body.get("line_items", [])
        if not isinstance(order_id, int) or not isinstance(items, list):
            raise Invalid("id (number) and line_items (list of {id, gift_card}) are required", 400)
        ledger.orders[order_id] = items
        return _json({"id": order_id, "line_items": items}, 201)

    async def c_add_fault(request: web.Request) -> web.Response:
        spec = await _body(request)
        if spec.get("kind") == "foreign_change":
            change = hero.add_foreign(spec)
            return _json({"id": change.id, "fault": change.describe()})
        fault = hero.faults.add(spec)
        return _json({"id": fault.id, "fault": fault.describe()})

    async def c_list_faults(_request: web.Request) -> web.Response:
        return _json({**hero.faults.describe(), "foreign_changes": [f.describe() for f in hero.foreign]})

    async def c_clear_faults(_request: web.Request) -> web.Response:
        hero.faults.clear()
        hero.foreign.clear()
        return _json({"cleared": True, "released": hero.faults.release(proceed=True)})

    async def c_release(_request: web.Request) -> web.Response:
        return _json({"released": hero.faults.release(proceed=True)})

    async def c_reset(_request: web.Request) -> web.Response:
        hero.reset()
        return _json({"reset": True})

    async def c_config(request: web.Request) -> web.Response:
        body = await _body(request)
        unknown = set(body) - {"access_token", "currency", "rate_limit", "rate_window_s"}
        if unknown:
            raise Invalid(f"unknown settings: {', '.join(sorted(unknown))}", 400)
        if "access_token" in body:
            hero.config.access_token = str(body["access_token"])
        if "currency" in body:
            if not (isinstance(body["currency"], str) and len(body["currency"]) == 3):
                raise Invalid("currency must be an ISO-4217 code", 400)
            hero.config.currency = body["currency"].upper()
        if "rate_limit" in body:
            limit = body["rate_limit"]
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                raise Invalid("rate_limit must be a positive integer or null", 400)
            hero.config.rate_limit = limit
        if "rate_window_s" in body:
            window = float(body["rate_window_s"])
            if window <= 0:
                raise Invalid("rate_window_s must be positive", 400)
            hero.config.rate_window_s = window
        hero.window_start, hero.window_calls = None, 0
        return _json(_config_view())

    card_path = BASE + r"/gift-cards/{card_id:\d+}"
    app.router.add_routes([
        web.get(BASE + "/gift-cards", api("list", list_cards)),
        web.post(BASE + "/gift-cards", api("create", create)),
        web.get(BASE + "/gift-cards/transactions", api("transactions", transactions)),
        web.get(BASE + "/gift-cards/search", api("search", search)),
        web.post(BASE + "/gift-cards/assign-to-order", api("assign_to_order", assign)),
        web.get(card_path, api("get", get_card)),
        web.put(card_path, api("update", update)),
        web.put(card_path + "/balance", api("set_balance", set_balance)),
        web.post(card_path + "/disable", api("disable", disable)),
        web.get(CONTROL + "/state", guard(c_state)),
        web.post(CONTROL + "/cards", guard(c_cards)),
        web.post(CONTROL + "/orders", guard(c_orders)),
        web.post(CONTROL + "/faults", guard(c_add_fault)),
        web.get(CONTROL + "/faults", guard(c_list_faults)),
        web.delete(CONTROL + "/faults", guard(c_clear_faults)),
        web.post(CONTROL + "/release", guard(c_release)),
        web.post(CONTROL + "/reset", guard(c_reset)),
        web.post(CONTROL + "/config", guard(c_config)),
    ])

    async def release_held(_app: web.Application) -> None:
        hero.faults.release(proceed=False)

    app.on_shutdown.append(release_held)
    return app


GIFTHERO: web.AppKey[GiftHero] = web.AppKey("gifthero", GiftHero)
