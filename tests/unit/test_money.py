from decimal import Decimal

import pytest

from adapter.domain.money import Money, MoneyError, normalise


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Decimal("25.5"), "USD", "25.50"),
        (100, "usd", "100.00"),
        (Decimal("1E+2"), "USD", "100.00"),
        (Decimal("1.10"), "USD", "1.10"),
        (Decimal("500"), "JPY", "500"),
        (Decimal("1.001"), "KWD", "1.001"),
        (Decimal("0.01"), "USD", "0.01"),
        (Decimal("999999999999.99"), "USD", "999999999999.99"),
    ],
)
def test_accepts_exact_amounts_in_the_currency_minor_unit(value, currency, expected):
    money = Money.parse(value, currency)
    assert money.ledger_string() == expected
    assert money.currency == currency.upper()


@pytest.mark.parametrize(
    ("value", "currency", "message"),
    [
        (Decimal("1.001"), "USD", "USD allows at most 2 decimal places"),
        (Decimal("500.5"), "JPY", "JPY allows at most 0 decimal places"),
        (Decimal("1.00000000000000000000000000001"), "USD", "USD allows at most 2 decimal places"),
        (Decimal("0"), "USD", "must be greater than 0"),
        (Decimal("-5"), "USD", "must be greater than 0"),
        (Decimal("NaN"), "USD", "must be a finite number"),
        (Decimal("Infinity"), "USD", "must be a finite number"),
        (Decimal("1e13"), "USD", "at most 12 digits"),
        (Decimal("1e999"), "USD", "at most 12 digits"),
        ("10", "USD", "must be a JSON number"),
        (True, "USD", "must be a JSON number"),
        (None, "USD", "must be a JSON number"),
        (Decimal("10"), "ZZZ", "known ISO-4217"),
        (Decimal("10"), "US", "known ISO-4217"),
        (Decimal("10"), "", "known ISO-4217"),
    ],
)
def test_rejects_what_cannot_be_money(value, currency, message):
    with pytest.raises(MoneyError, match=message):
        Money.parse(value, currency)


def test_ledger_strings_parse_exactly_and_keep_their_sign():
    assert Money.from_ledger("-30.0", "USD") == Money(Decimal("-30.00"), "USD")
    assert Money.from_ledger("3000.0", "CAD").ledger_string() == "3000.00"


def test_json_numbers_are_normalised_without_exponents():
    assert str(normalise(Decimal("100.00"))) == "100"
    assert str(normalise(Decimal("42.50"))) == "42.5"
    assert str(normalise(Decimal("0.00"))) == "0"


def test_arithmetic_refuses_mixed_currencies():
    with pytest.raises(MoneyError):
        Money(Decimal(1), "USD") + Money(Decimal(1), "EUR")
    assert Money(Decimal("1.50"), "USD") + Money(Decimal("2.25"), "USD") == Money(Decimal("3.75"), "USD")


@pytest.mark.parametrize(("units", "currency", "expected"), [
    (1000, "USD", "10.00"), (1, "USD", "0.01"), (-250, "EUR", "-2.50"), (1000, "JPY", "1000"),
    (1234, "KWD", "1.234"), (0, "USD", "0.00"),
])
def test_minor_units_convert_exactly_with_the_currency_exponent(units, currency, expected):
    money = Money.from_minor_units(units, currency)
    assert str(money.amount) == expected
    assert money.minor_units() == units


@pytest.mark.parametrize("units", [10.0, "1000", True, None, Decimal("10")])
def test_minor_units_must_be_an_integer(units):
    with pytest.raises(MoneyError):
        Money.from_minor_units(units, "USD")
