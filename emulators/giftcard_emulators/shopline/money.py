"""Money on SHOPLINE's REST wire: decimal strings in major units, with the currency's exponent."""

from __future__ import annotations

import re
from decimal import Decimal

from giftcard_emulators.shopline.errors import ApiError

_ZERO = set("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split())
_THREE = set("BHD IQD JOD KWD LYD OMR TND".split())
_DECIMAL = re.compile(r"^-?\d{1,15}(\.\d+)?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def exponent(currency: str) -> int:
    if currency in _ZERO:
        return 0
    if currency in _THREE:
        return 3
    return 2


def valid_currency(currency: object) -> bool:
    return isinstance(currency, str) and bool(_CURRENCY.match(currency))


def format_amount(amount: Decimal, currency: str) -> str:
    places = exponent(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-places)):f}"


def parse_amount(value: object, currency: str, name: str) -> Decimal:
    """A decimal string with at most the currency's exponent in places; wrong JSON type → 400."""
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a decimal string")
    text = value.strip()
    if not _DECIMAL.match(text):
        raise ApiError(422, f"{name} is not a valid amount")
    amount = Decimal(text) + 0  # "-0.00" is 0.00
    places = -amount.as_tuple().exponent  # type: ignore[operator]
    if places > exponent(currency):
        raise ApiError(422, f"{name} has more decimal places than {currency} allows ({exponent(currency)})")
    return amount
