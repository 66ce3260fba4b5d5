"""How Shopify renders money, ids and times (spec §7.1, §7.12)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from adapter.domain.currencies import MINOR_UNITS
from adapter.domain.money import normalise

_SYMBOLS = {
    "USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "HKD": "$", "SGD": "$", "MXN": "$",
    "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹", "KRW": "₩",
}


def decimal_string(amount: Decimal) -> str:
    """Trailing zeros trimmed but one decimal place kept: "5.0", "41.01", "-30.0"."""
    text = f"{normalise(amount):f}"
    return text if "." in text else f"{text}.0"


def money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": decimal_string(amount), "currencyCode": currency}


def limit_phrase(amount: Decimal, currency: str) -> str:
    """The shop's limit as the create userError shows it: "$3,000.00 CAD"."""
    places = MINOR_UNITS.get(currency, 2)
    return f"{_SYMBOLS.get(currency, '')}{amount:,.{places}f} {currency}"


def datetime_string(moment: datetime) -> str:
    """UTC, whole seconds, "Z": the only DateTime form Shopify answers with."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_string(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"
