"""Filters, search and cursors for the list endpoints (the choices are in model.UNDOCUMENTED)."""

from __future__ import annotations

import base64
import json
import operator
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from giftcard_emulators.gifthero.model import Card, Invalid, Ledger, money

SEARCH_INDEX = ("created_at", "updated_at", "disabled_at", "balance", "initial_value", "amount_spent",
                "last_characters")
_MONEY = ("balance", "initial_value", "amount_spent")
_OPS = ((">=", operator.ge), ("<=", operator.le), (">", operator.gt), ("<", operator.lt))


def limit_of(params: Any) -> int:
    raw = params.get("limit", "50")
    try:
        value = int(raw)
    except ValueError as exc:
        raise Invalid({"limit": ["must be an integer"]}, 400) from exc
    if not 1 <= value <= 250:
        raise Invalid({"limit": ["must be between 1 and 250"]}, 400)
    return value


def encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError as exc:
        raise Invalid({"page_info": ["is invalid"]}, 400) from exc
    if not isinstance(data, dict):
        raise Invalid({"page_info": ["is invalid"]}, 400)
    return data


def _split(term: str) -> tuple[Any, str]:
    for symbol, fn in _OPS:
        if term.startswith(symbol):
            return fn, term[len(symbol):]
    return operator.eq, term


def _field_value(card: Card, name: str) -> Any:
    if name in _MONEY:
        return getattr(card, name)
    if name in ("created_at", "updated_at", "disabled_at"):
        return getattr(card, name)
    if name == "last_characters":
        return card.last_characters
    if name == "id":
        return card.id
    return None


def _compare(value: Any, fn: Any, raw: str) -> bool:
    if value is None:
        return raw.lower() == "null" and fn is operator.eq
    try:
        if isinstance(value, Decimal):
            return fn(value, Decimal(raw))
        if isinstance(value, datetime):
            other = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if other.tzinfo is None:
                other = other.replace(tzinfo=value.tzinfo)
            return fn(value, other)
        if isinstance(value, date):
            return fn(value, date.fromisoformat(raw))
        if isinstance(value, int):
            return fn(value, int(raw))
    except (ValueError, InvalidOperation):
        return False
    return fn(value.lower(), raw.lower())


def search_matches(card: Card, query: str) -> bool:
    """Only the indexed fields: a term naming the code (or any other field) matches nothing."""
    for term in query.split():
        if ":" in term:
            name, raw = term.split(":", 1)
            if name not in SEARCH_INDEX:
                return False
            fn, raw = _split(raw)
            if not _compare(_field_value(card, name), fn, raw):
                return False
        else:
            bare = term.lower()
            if bare != card.last_characters and bare not in {money(getattr(card, m)) for m in _MONEY}:
                return False
    return True


def search_order(cards: list[Card], order: str) -> list[Card]:
    parts = order.split()
    name = parts[0] if parts else "disabled_at"
    descending = len(parts) < 2 or parts[1].upper() == "DESC"
    if name not in SEARCH_INDEX + ("id",):
        raise Invalid({"order": ["is not a sortable field"]}, 400)
    present = [c for c in cards if _field_value(c, name) is not None]
    absent = [c for c in cards if _field_value(c, name) is None]
    present.sort(key=lambda c: (_field_value(c, name), c.id), reverse=descending)
    return present + sorted(absent, key=lambda c: c.id)


def transactions_matches(ledger: Ledger, card: Card, params: dict[str, str]) -> bool:
    """The filters /gift-cards/transactions documents, ANDed."""
    today = ledger.clock().date()
    status = params.get("status")
    if status:
        actual = ledger.status(card)
        if status == "expiring":
            if actual != "enabled" or card.expires_on is None or card.expires_on > today + timedelta(days=30):
                return False
        elif status != actual:
            return False
    balance_status = params.get("balance_status")
    if balance_status:
        kind = ("empty" if card.balance == 0 else "full" if card.balance >= card.initial_value else "partial")
        if balance_status == "full_or_partial":
            if kind == "empty":
                return False
        elif balance_status != kind:
            return False
    source = params.get("source")
    if source and card.source != source:
        return False
    terms: list[str] = params.get("query", "").split()
    # Filters written as bare parameters, as in the document's examples (initial_value:>=50=...).
    for key in params:
        if ":" in key and key.split(":", 1)[0] in ("created_at", "expires_on", "initial_value", "id"):
            terms.append(key)
    for key in ("created_at", "expires_on", "initial_value", "id"):
        if params.get(key):
            terms.append(f"{key}:{params[key]}")
    for term in terms:
        if ":" not in term:
            if term.lower() not in ((card.note or "").lower(), card.last_characters):
                return False
            continue
        name, raw = term.split(":", 1)
        fn, raw = _split(raw)
        if name == "last4" or name == "last_characters":
            if card.last_characters != raw.lower():
                return False
        elif name == "expires_on":
            if card.expires_on is None or not _compare(card.expires_on, fn, raw):
                return False
        elif name in ("id", "created_at", "initial_value", "balance"):
            if not _compare(_field_value(card, name), fn, raw):
                return False
        else:
            return False
    return True


def select_fields(view: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return view
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    return {k: view[k] for k in wanted if k in view}
