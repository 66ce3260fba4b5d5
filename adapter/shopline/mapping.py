"""Pure translation between SHOPLINE's REST JSON and the port's types. No I/O.

Money on SHOPLINE's REST wire is a decimal string in major units ("299.99", JPY "500"), with the
currency's minor-unit exponent (adapter.domain.currencies). Bodies arrive parsed by adapter.jsonio,
so a number the vendor sends unquoted is a Decimal (or an int), never a float. An amount with more
places than its currency has is refused, never rounded.

What cannot be read raises `Unreadable`, whose message names the field and never a value (a value
may be a card code or a note); the client turns it into LedgerUnavailable on a read and
LedgerOutcomeUnknown on a write.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from adapter.domain.currencies import MINOR_UNITS
from adapter.domain.money import Money
from adapter.ports import BalanceEntry, EntryKind, LedgerCard

# The operation-record types of ledgers.md §1. Only a balance PUT makes ADJUST_BALANCE ("balance
# adjustment by third-party applications"), ours or another app's; checkouts and refunds elsewhere
# make DEDUCT and REFUND. A type not listed here is unreadable: guessing whether it could be one
# of our PUTs is what the protocol above must never be made to do.
ENTRY_KINDS = {
    "OPERATE_ACTION_ADJUST_BALANCE": EntryKind.SET,
    "OPERATE_ACTION_DEDUCT": EntryKind.OTHER,
    "OPERATE_ACTION_REFUND": EntryKind.OTHER,
}
# What each type says of its origin, in the feed's words (issue #12).
ENTRY_CAUSES = {
    "OPERATE_ACTION_ADJUST_BALANCE": "other_app",     # "by third-party applications"
    "OPERATE_ACTION_DEDUCT": "online_checkout",       # "deduction from gift card payment"
    "OPERATE_ACTION_REFUND": "order_refund",          # "refund returned to gift card"
}

_ID = re.compile(r"[0-9]{1,64}")
_ENUM = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


class Unreadable(ValueError):
    """An answer whose shape we can't read. The message names a field, never its value."""


def valid_id(card_id: str) -> bool:
    """SHOPLINE ids are strings of up to 64 digits; anything else can't name a card (and must
    not reach a URL path)."""
    return isinstance(card_id, str) and _ID.fullmatch(card_id) is not None


def places(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unknown currency {currency!r}") from None


def amount_string(money: Money) -> str:
    """Money as SHOPLINE wants it: "50.00", JPY "500". Refuses (ValueError) rather than round."""
    quantum = Decimal(1).scaleb(-places(money.currency))
    try:
        exact = money.amount.quantize(quantum)
    except InvalidOperation:
        raise ValueError("amount out of range") from None
    if exact != money.amount or not exact.is_finite():
        raise ValueError(f"amount has more decimal places than {money.currency} allows")
    return f"{exact:f}"


def money(value: Any, currency: str, field: str) -> Money:
    if isinstance(value, bool) or not isinstance(value, (str, Decimal, int)):
        raise Unreadable(f"{field} is not a decimal string")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
        exact = amount.quantize(Decimal(1).scaleb(-places(currency)))
    except (InvalidOperation, ValueError):
        raise Unreadable(f"{field} is not a decimal amount in {currency}") from None
    if not exact.is_finite() or exact != amount:
        raise Unreadable(f"{field} has more decimal places than {currency} allows")
    return Money(exact + 0, currency)  # + 0: "-0.00" is 0.00


def _optional_money(record: dict[str, Any], name: str, currency: str, where: str) -> Money | None:
    value = record.get(name)
    return None if value is None else money(value, currency, f"{where}.{name}")


def card_id(value: Any, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not valid_id(value):
        raise Unreadable(f"{field} is not an id of digits")
    return value


def moment(value: Any, field: str) -> datetime:
    """ISO 8601 with an offset, as SHOPLINE writes times ("2023-08-16T23:59:59+08:00"). A time
    without one is refused: the store's zone is not ours to guess."""
    if not isinstance(value, str):
        raise Unreadable(f"{field} is not a time")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Unreadable(f"{field} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise Unreadable(f"{field} has no UTC offset")
    return parsed


def _optional_moment(value: Any, field: str) -> datetime | None:
    return None if value is None or value == "" else moment(value, field)


def expiry(value: Any, field: str) -> date | None:
    """`expires_on`: null, a date, or a time (whose calendar date, as the store wrote it, is the
    expiry day: LedgerCard keeps a date)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Unreadable(f"{field} is not a date")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return moment(value, field).date()


def _currency(obj: dict[str, Any], default: str, where: str) -> str:
    currency = obj.get("currency")
    if currency is None:
        return default
    if not isinstance(currency, str) or currency not in MINOR_UNITS:
        raise Unreadable(f"{where}.currency is not a known currency")
    return currency


def card(obj: Any, default_currency: str) -> LedgerCard:
    """A `gift_card` object. Its `code` is never read: SHOPLINE answers `last_characters`."""
    if not isinstance(obj, dict):
        raise Unreadable("gift_card is not an object")
    currency = _currency(obj, default_currency, "gift_card")
    last = obj.get("last_characters")
    if not isinstance(last, str) or not last:
        raise Unreadable("gift_card.last_characters is missing")
    note = obj.get("note")
    if note is not None and not isinstance(note, str):
        raise Unreadable("gift_card.note is not a string")
    disabled_at = _optional_moment(obj.get("disabled_at"), "gift_card.disabled_at")
    return LedgerCard(
        id=card_id(obj.get("id"), "gift_card.id"),
        last_characters=last.lower(),
        balance=money(obj.get("balance"), currency, "gift_card.balance"),
        enabled=disabled_at is None,
        expires_on=expiry(obj.get("expires_on"), "gift_card.expires_on"),
        deactivated_at=disabled_at,
        note=note,
        created_at=_optional_moment(obj.get("created_at"), "gift_card.created_at"),
    )


def envelope(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise Unreadable(f"the answer has no {key}")
    return body[key]


def cards(body: Any, default_currency: str) -> list[LedgerCard]:
    listed = envelope(body, "gift_cards")
    if not isinstance(listed, list):
        raise Unreadable("gift_cards is not a list")
    return [card(item, default_currency) for item in listed]


def entry(record: Any, default_currency: str) -> BalanceEntry:
    """One operation record. Its fields are *[unverified]* (ledgers.md §1): the signed
    `change_amount` if present, else balance_after - balance_before; when both are there they
    must agree, since an unsigned change_amount would otherwise turn a deduction into a credit."""
    where = "operation_record"
    if not isinstance(record, dict):
        raise Unreadable(f"{where} is not an object")
    operation_type = record.get("operation_type")
    if not isinstance(operation_type, str) or operation_type not in ENTRY_KINDS:
        shown = operation_type if isinstance(operation_type, str) and _ENUM.fullmatch(operation_type) else "?"
        raise Unreadable(f"{where}.operation_type {shown} is not one we know")
    currency = _currency(record, default_currency, where)
    change = _optional_money(record, "change_amount", currency, where)
    before = _optional_money(record, "balance_before", currency, where)
    after = _optional_money(record, "balance_after", currency, where)
    if before is not None and after is not None:
        moved = after - before
        if change is not None and change != moved:
            raise Unreadable(f"{where}.change_amount disagrees with balance_after - balance_before")
        change = moved
    if change is None:
        raise Unreadable(f"{where} has neither change_amount nor balance_before and balance_after")
    return BalanceEntry(
        id=card_id(record.get("id"), f"{where}.id"),
        delta=change,
        kind=ENTRY_KINDS[operation_type],
        processed_at=moment(record.get("created_at"), f"{where}.created_at"),
        detail=operation_type,
        cause=ENTRY_CAUSES[operation_type],
    )


def entries(body: Any, default_currency: str) -> list[BalanceEntry]:
    records = envelope(body, "operation_records")
    if not isinstance(records, list):
        raise Unreadable("operation_records is not a list")
    return [entry(record, default_currency) for record in records]
