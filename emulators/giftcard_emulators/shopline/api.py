"""The emulated Admin REST API under /admin/openapi/{version}/: SHOPLINE's gift-card endpoints.

Order of checks for every call: version (404), token (401), store frozen/locked (402/423), rate
limit (429), faults, then the endpoint (400 body shape, 404 card, 422 semantics). Endpoint work is
synchronous, so each call is atomic against the ledger.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from giftcard_emulators.shopline import choices
from giftcard_emulators.shopline.errors import ApiError
from giftcard_emulators.shopline.faults import scope
from giftcard_emulators.shopline.ledger import Card, code_problem, format_time, parse_expiry, parse_time, NOTE_MAX
from giftcard_emulators.shopline.money import format_amount, parse_amount
from giftcard_emulators.shopline.pagination import decode_cursor, link_header, paginate, parse_limit
from giftcard_emulators.shopline.runtime import Emulator

BASE = "/admin/openapi/{version}"
UNAUTHORIZED = "Unauthorized: the access token is missing, invalid or expired"
FROZEN = "Payment Required: the store is frozen; the owner must settle the outstanding balance"
LOCKED = "Locked: the store is locked; contact SHOPLINE"
TOO_MANY = "Too many request"  # sic, as documented
CARD_FIELDS = ("id", "api_client_id", "balance", "initial_value", "currency", "last_characters",
               "disabled_at", "expires_on", "note", "customer_id", "created_at", "updated_at")


def dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=dumps(body), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"errors": message}, status=status, headers=headers)


def card_view(card: Card, fields: list[str] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": card.id,
        "api_client_id": card.api_client_id,
        "balance": format_amount(card.balance, card.currency),
        "initial_value": format_amount(card.initial_value, card.currency),
        "currency": card.currency,
        "last_characters": card.last_characters,
        "disabled_at": format_time(card.disabled_at),
        "expires_on": card.expires_on,
        "note": card.note,
        "customer_id": card.customer_id,
        "created_at": format_time(card.created_at),
        "updated_at": format_time(card.updated_at),
    }
    if choices.RETURN_FULL_CODE:
        view["code"] = card.code
    if fields:
        view = {name: value for name, value in view.items() if name in fields}
    return view


@dataclass
class Call:
    emulator: Emulator
    request: web.Request
    operation: str
    version: str
    card_id: str | None
    body: Any


@dataclass
class Answer:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)  # the cards this call read or wrote


# -- endpoints ------------------------------------------------------------------------------------

def _object(body: Any, key: str, *, optional_wrapper: bool = False) -> tuple[dict[str, Any], bool]:
    """The `{"gift_card": {...}}` object of a body (or, where allowed, the bare fields)."""
    if not isinstance(body, dict):
        raise ApiError(400, f"{key} - Required parameter missing or invalid")
    inner = body.get(key)
    if isinstance(inner, dict):
        return inner, True
    if optional_wrapper and key not in body:
        return body, False
    raise ApiError(400, f"{key} - Required parameter missing or invalid")


def _optional_string(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    return value


def _note(fields: dict[str, Any]) -> str | None:
    note = _optional_string(fields, "note")
    if note is not None and len(note) > NOTE_MAX:
        raise ApiError(422, f"note is too long (maximum is {NOTE_MAX} characters)")
    return note


def create_gift_card(call: Call) -> Answer:
    emulator = call.emulator
    fields, _ = _object(call.body, "gift_card")
    currency = emulator.config.currency
    if "initial_value" not in fields or fields["initial_value"] is None:
        raise ApiError(422, "initial_value can't be blank")
    initial = parse_amount(fields["initial_value"], currency, "initial_value")
    if initial <= 0:
        raise ApiError(422, "initial_value must be greater than 0")
    code = _optional_string(fields, "code")
    if code is None:
        code = emulator.ledger.new_code()
    else:
        problem = code_problem(code)
        if problem is not None:
            raise ApiError(422, problem)
        if code in emulator.ledger.codes:
            raise ApiError(422, "code has already been taken")
    customer_id = fields.get("customer_id")
    if customer_id is not None:
        if isinstance(customer_id, int) and not isinstance(customer_id, bool):
            customer_id = str(customer_id)
        if not isinstance(customer_id, str) or not customer_id.isdigit():
            raise ApiError(400, "customer_id must be a customer id")
    card = emulator.ledger.add_card(code=code, balance=initial, initial_value=initial, currency=currency,
                                    note=_note(fields), customer_id=customer_id,
                                    expires_on=parse_expiry(fields.get("expires_on")),
                                    api_client_id=emulator.config.api_client_id)
    return Answer({"gift_card": card_view(card)}, status=choices.CREATE_STATUS, touched=[card.id])


def get_gift_card(call: Call) -> Answer:
    assert call.card_id is not None
    card = call.emulator.ledger.get(call.card_id)
    return Answer({"gift_card": card_view(card)}, touched=[card.id])


def _fields(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [name.strip() for name in raw.split(",") if name.strip()]


def list_gift_cards(call: Call) -> Answer:
    query = call.request.query
    limit = parse_limit(query.get("limit"), choices.CARDS_DEFAULT_LIMIT, choices.CARDS_MAX_LIMIT)
    fields = _fields(query.get("fields"))
    if query.get("page_info"):
        cursor = decode_cursor(query["page_info"])
        if cursor.get("resource") != "gift_cards":
            raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS, "page_info is invalid")
        filters = {k: cursor.get(k) for k in ("resource", "status", "code", "since_id")}
        direction, anchor = cursor["direction"], cursor["anchor"]
    else:
        status = query.get("status") or None
        if status not in (None, "enabled", "disabled"):
            raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS, "status must be enabled or disabled")
        since_id = query.get("since_id") or None
        if since_id is not None and not since_id.isdigit():
            raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS, "since_id must be a gift card id")
        # The code filter is on v20260301's page and later ones; older versions ignore it.
        code = query.get("code") if call.version >= choices.CODE_FILTER_SINCE else None
        filters = {"resource": "gift_cards", "status": status, "code": code, "since_id": since_id}
        direction, anchor = "next", None

    def wanted(card: Card) -> bool:
        if filters["status"] == "enabled" and not card.enabled:
            return False
        if filters["status"] == "disabled" and card.enabled:
            return False
        if filters["code"] is not None and card.code != filters["code"]:
            return False
        return not (filters["since_id"] is not None and int(card.id) <= int(filters["since_id"]))

    cards = [card for card in call.emulator.ledger.sorted_cards() if wanted(card)]
    page = paginate(cards, key=lambda c: int(c.id), anchor_of=lambda c: c.id, parse_anchor=int,
                    descending=False, limit=limit, direction=direction, anchor=anchor)
    headers: dict[str, str] = {}
    link = link_header(call.request.url.with_query(None), limit, filters, page)
    if link:
        headers["Link"] = link
    return Answer({"gift_cards": [card_view(card, fields) for card in page.items]}, headers=headers,
                  touched=[card.id for card in page.items])


def update_gift_card(call: Call) -> Answer:
    assert call.card_id is not None
    emulator = call.emulator
    card = emulator.ledger.get(call.card_id)
    fields, wrapped = _object(call.body, "gift_card", optional_wrapper=True)
    emulator.put_shapes["wrapped" if wrapped else "bare"] += 1
    if not card.enabled:
        raise ApiError(choices.DISABLED_CARD_UPDATE_STATUS, "gift card is disabled and can't be updated")
    balance: Decimal | None = None
    if "balance" in fields:
        balance = parse_amount(fields["balance"], card.currency, "balance")
        if balance < 0:
            raise ApiError(422, "balance must be greater than or equal to 0")
    note = _note(fields) if "note" in fields else None
    expires_on = parse_expiry(fields["expires_on"]) if "expires_on" in fields else None
    # Validated everything first: a rejected PUT changes nothing.
    if "note" in fields:
        card.note = note
        card.updated_at = emulator.ledger.clock()
    if "expires_on" in fields:
        card.expires_on = expires_on
        card.updated_at = emulator.ledger.clock()
    if balance is not None:
        emulator.ledger.set_balance(card, balance)
    return Answer({"gift_card": card_view(card)}, touched=[card.id])


def disable_gift_card(call: Call) -> Answer:
    assert call.card_id is not None
    card = call.emulator.ledger.get(call.card_id)
    call.emulator.ledger.disable(card)
    return Answer({"gift_card": card_view(card)}, touched=[card.id])


def list_operation_records(call: Call) -> Answer:
    assert call.card_id is not None
    emulator = call.emulator
    card = emulator.ledger.get(call.card_id)
    query = call.request.query
    limit = parse_limit(query.get("limit"), choices.RECORDS_DEFAULT_LIMIT, choices.RECORDS_MAX_LIMIT)
    resource = f"operation_records:{card.id}"
    if query.get("page_info"):
        cursor = decode_cursor(query["page_info"])
        if cursor.get("resource") != resource:
            raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS, "page_info is invalid")
        filters = {k: cursor.get(k) for k in ("resource", "types", "min", "max", "sort")}
        direction, anchor = cursor["direction"], cursor["anchor"]
    else:
        types = None
        if query.get("operation_type"):
            types = [t.strip() for t in query["operation_type"].split(",") if t.strip()]
            unknown = [t for t in types if t not in choices.OPERATION_TYPES]
            if unknown:
                raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS,
                               f"operation_type must be among {', '.join(choices.OPERATION_TYPES)}")
        sort = query.get("sort_order") or "desc"
        if sort not in ("asc", "desc"):
            raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS, "sort_order must be asc or desc")
        bounds = {}
        for name, key in (("createtime_at_min", "min"), ("createtime_at_max", "max")):
            bounds[key] = format_time(parse_time(query[name], name)) if query.get(name) else None
        filters = {"resource": resource, "types": types, "sort": sort, **bounds}
        direction, anchor = "next", None

    # Only the last HISTORY_DAYS are ever answered; an earlier minimum is moved up silently.
    window_start = emulator.ledger.clock() - timedelta(days=choices.HISTORY_DAYS)
    low = max(window_start, parse_time(filters["min"], "createtime_at_min")) if filters["min"] else window_start
    high = parse_time(filters["max"], "createtime_at_max") if filters["max"] else None
    records = [r for r in emulator.ledger.records_of(card.id)
               if (filters["types"] is None or r.operation_type in filters["types"])
               and r.created_at >= low and (high is None or r.created_at <= high)]
    descending = filters["sort"] == "desc"
    records.sort(key=lambda r: (r.created_at, int(r.id)), reverse=descending)

    def parse_anchor(text: str) -> tuple[Any, int]:
        moment, _, record_id = text.partition("|")
        try:
            return datetime.fromisoformat(moment), int(record_id)
        except ValueError:
            raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS, "page_info is invalid") from None

    # The anchor keeps the full precision of the sort key: records made within one second (a
    # debit and its check) must not fall between two pages.
    page = paginate(records, key=lambda r: (r.created_at, int(r.id)),
                    anchor_of=lambda r: f"{r.created_at.isoformat()}|{r.id}", parse_anchor=parse_anchor,
                    descending=descending, limit=limit, direction=direction, anchor=anchor)
    headers: dict[str, str] = {}
    link = link_header(call.request.url.with_query(None), limit, filters, page)
    if link:
        headers["Link"] = link
    body = {choices.RECORDS_ENVELOPE: [choices.record_view(r, format_amount, format_time) for r in page.items]}
    return Answer(body, headers=headers, touched=[card.id])


# -- the pipeline ---------------------------------------------------------------------------------

def _valid_card_id(card_id: str | None) -> bool:
    return card_id is None or (card_id.isdigit() and len(card_id) <= 64)


async def _read_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return None
    if request.content_type != "application/json":
        raise ApiError(400, "Content-Type must be application/json; charset=utf-8")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "request body is not valid JSON") from exc


def _drop_connection(request: web.Request) -> None:
    """The answer is lost in transit: the change is applied, the client sees the socket die."""
    if request.transport is not None:
        request.transport.abort()


def endpoint(emulator: Emulator, operation: str, work: Callable[[Call], Answer]) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        config = emulator.config
        version = request.match_info["version"]
        card_id = request.match_info.get("id")
        if version not in config.known_versions or not _valid_card_id(card_id):
            return error_response(404, "Not Found")
        if request.headers.get("Authorization") != f"Bearer {config.access_token}":
            return error_response(401, UNAUTHORIZED)
        if config.store_state == "frozen":
            return error_response(402, FROZEN)
        if config.store_state == "locked":
            return error_response(423, LOCKED)
        emulator.calls[operation] += 1
        if not emulator.bucket.try_take():
            emulator.throttled[operation] += 1
            return error_response(429, TOO_MANY, {"Retry-After": str(emulator.bucket.retry_after_seconds())})

        triggered = emulator.faults.take(scope(operation, card_id))
        fault = triggered.terminal
        if triggered.latency_s:
            await asyncio.sleep(triggered.latency_s)
        kind = fault.kind if fault is not None else None
        stage = fault.stage if fault is not None else None
        if kind == "hold" and stage == "before" and not await emulator.faults.hold(operation):
            return error_response(503, "Service Unavailable")
        if kind == "internal_server_error" or (kind == "error_5xx" and stage == "before"):
            assert fault is not None
            status = 500 if kind == "internal_server_error" else fault.status
            return error_response(status, _reason(status))

        try:
            body = await _read_body(request)
            answer = work(Call(emulator, request, operation, version, card_id, body))
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)

        if 200 <= answer.status < 300:
            for change, target in emulator.faults.foreign_for(operation, answer.touched):
                card = emulator.ledger.cards.get(target)
                if card is None or not card.enabled or card.balance + change.delta < 0:
                    continue
                emulator.ledger.move_balance(card, change.delta, change.operation_type)
                emulator.faults.fire_foreign(change)

        if kind == "error_5xx":  # stage "after": applied, then a 5xx
            assert fault is not None
            return error_response(fault.status, _reason(fault.status))
        if kind == "lose_response":
            _drop_connection(request)
            return web.Response(status=200)
        if kind == "hold" and stage == "after":
            await emulator.faults.hold(operation)
        return json_response(answer.body, status=answer.status, headers=answer.headers)

    return handle


def _reason(status: int) -> str:
    return {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}.get(status, "Server Error")


def routes(emulator: Emulator) -> list[web.RouteDef]:
    card = BASE + "/gift_cards/{id}"
    return [
        web.post(BASE + "/gift_cards.json", endpoint(emulator, "create_gift_card", create_gift_card)),
        web.get(BASE + "/gift_cards.json", endpoint(emulator, "list_gift_cards", list_gift_cards)),
        web.get(card + ".json", endpoint(emulator, "get_gift_card", get_gift_card)),
        web.put(card + ".json", endpoint(emulator, "update_gift_card", update_gift_card)),
        web.post(card + "/disable.json", endpoint(emulator, "disable_gift_card", disable_gift_card)),
        web.get(card + "/operation_records.json",
                endpoint(emulator, "list_operation_records", list_operation_records)),
    ]
