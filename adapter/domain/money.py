"""Money as an exact Decimal bound to its currency's minor-unit exponent.

A float never touches an amount: NewStore's JSON numbers are parsed straight into Decimal (see
adapter.http.jsonbody) and Shopify's decimal strings likewise.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from adapter.domain.currencies import MINOR_UNITS

# NewStore's "sane magnitude": at most 12 digits before the point.
MAX_INTEGER_DIGITS = 12


class MoneyError(ValueError):
    """A value that cannot be money; the message is safe to show to the caller."""


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def parse(cls, value: object, currency: object, *, allow_zero: bool = False) -> Money:
        """Validate NewStore input: an exact, finite, positive amount in a known currency."""
        code = parse_currency(currency)
        amount = check_amount(value, allow_zero=allow_zero)
        places = MINOR_UNITS[code]
        if decimal_places(amount) > places:
            raise MoneyError(f"{code} allows at most {places} decimal places")
        return cls(amount.quantize(Decimal(1).scaleb(-places)), code)

    @classmethod
    def from_ledger(cls, amount: str, currency: str) -> Money:
        """Shopify's decimal string ("5.0", "-30.0"), kept exact and quantised to the currency."""
        try:
            value = Decimal(amount)
        except InvalidOperation as exc:
            raise MoneyError("ledger amount is not a decimal") from exc
        places = MINOR_UNITS.get(currency, 2)
        return cls(value.quantize(Decimal(1).scaleb(-places)), currency)

    @classmethod
    def from_minor_units(cls, units: object, currency: str) -> Money:
        """An integer count of the currency's minor units (SHOPLINE's webhook: 1000 = 10.00 USD,
        1000 = 1000 JPY), exact; anything but an integer is refused (a float never becomes money)."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise MoneyError("minor units must be an integer")
        if currency not in MINOR_UNITS:
            raise MoneyError("unknown currency")
        return cls(Decimal(units).scaleb(-MINOR_UNITS[currency]), currency)

    def minor_units(self) -> int:
        """The amount as an integer count of minor units; exact or MoneyError."""
        units = self.amount.scaleb(MINOR_UNITS.get(self.currency, 2))
        if units != units.to_integral_value():
            raise MoneyError("amount has more places than the currency")
        return int(units)

    def ledger_string(self) -> str:
        """The minor-unit string Shopify expects: "30.00", JPY "500"."""
        return f"{self.amount:f}"

    def json_number(self) -> Decimal:
        """Normalised for NewStore answers: 42.5, 100, 0."""
        return normalise(self.amount)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError("currency mismatch")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __str__(self) -> str:
        return f"{self.ledger_string()} {self.currency}"


def check_amount(value: object, *, allow_zero: bool = False) -> Decimal:
    """The rules that hold whatever the currency: an exact, finite, positive, sane number."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise MoneyError("must be a JSON number")
    amount = Decimal(value)
    if not amount.is_finite():
        raise MoneyError("must be a finite number")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise MoneyError("must be greater than 0")
    if amount != 0 and amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise MoneyError(f"must have at most {MAX_INTEGER_DIGITS} digits before the decimal point")
    return amount


def decimal_places(amount: Decimal) -> int:
    """Significant places after the point, exactly (normalize() would round past 28 digits)."""
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    trailing_zeros = len(text) - len(text.rstrip("0"))
    return max(0, -(exponent + trailing_zeros))


def normalise(amount: Decimal) -> Decimal:
    """Drop trailing zeros without ever switching to exponent notation (100, not 1E+2)."""
    if amount == amount.to_integral_value():
        return amount.quantize(Decimal(1))
    return amount.normalize()


def parse_currency(currency: object) -> str:
    if not isinstance(currency, str):
        raise MoneyError("must be an ISO-4217 currency code")
    code = currency.strip().upper()
    if code not in MINOR_UNITS:
        raise MoneyError("must be a known ISO-4217 currency code")
    return code
