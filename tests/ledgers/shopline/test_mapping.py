"""mapping.py on shapes the emulator never answers: the *[unverified]* record fields, times,
ids and amounts that must fail loudly instead of being guessed."""

from __future__ import annotations

from datetime import date, timezone
from decimal import Decimal

import pytest

from adapter.domain.money import Money
from adapter.ports import EntryKind
from adapter.shopline import mapping

RECORD = {"id": "16057590153890829521110001", "gift_card_id": "1", "operation_type": "OPERATE_ACTION_DEDUCT",
          "balance_before": "30.00", "balance_after": "25.50", "change_amount": "-4.50", "currency": "USD",
          "created_at": "2026-11-20T23:13:22+08:00"}


def test_a_record_with_every_field():
    entry = mapping.entry(RECORD, "USD")
    assert (entry.id, entry.delta, entry.kind, entry.detail) == (
        RECORD["id"], Money(Decimal("-4.50"), "USD"), EntryKind.OTHER, "OPERATE_ACTION_DEDUCT")
    assert entry.processed_at.astimezone(timezone.utc).hour == 15


def test_a_record_without_change_amount_uses_the_balances_and_one_without_either_is_unreadable():
    partial = {k: v for k, v in RECORD.items() if k != "change_amount"}
    assert mapping.entry(partial, "USD").delta == Money(Decimal("-4.50"), "USD")
    only_change = {k: v for k, v in RECORD.items() if k not in ("balance_before", "balance_after")}
    assert mapping.entry(only_change, "USD").delta == Money(Decimal("-4.50"), "USD")
    with pytest.raises(mapping.Unreadable, match="neither"):
        mapping.entry({k: v for k, v in partial.items() if k != "balance_after"}, "USD")


@pytest.mark.parametrize("change, problem", [
    ({"change_amount": "4.50"}, "disagrees"),             # unsigned: would turn a deduction into a credit
    ({"operation_type": "OPERATE_ACTION_TOPUP"}, "operation_type"),
    ({"operation_type": "drop table; --"}, r"operation_type \?"),  # an odd value is not echoed
    ({"created_at": "2026-11-20T15:13:22"}, "offset"),
    ({"created_at": 1763651602000}, "time"),
    ({"change_amount": 4.5}, "decimal"),                  # never a float
    ({"change_amount": "-4.505"}, "places"),
    ({"currency": "XXX1"}, "currency"),
    ({"id": "12a"}, "id"),
])
def test_records_we_cannot_read_fail_loudly(change, problem):
    with pytest.raises(mapping.Unreadable, match=problem):
        mapping.entry({**RECORD, **change}, "USD")


def test_a_card_and_its_optional_fields():
    card = mapping.card({"id": 30157043359245339231360001, "balance": Decimal("5"), "currency": "JPY",
                         "last_characters": "AB12", "disabled_at": "2026-11-20T15:13:22Z",
                         "expires_on": "2027-01-31T23:59:59+08:00", "note": None}, "USD")
    assert card.id == "30157043359245339231360001" and card.balance == Money(Decimal("5"), "JPY")
    assert card.last_characters == "ab12" and not card.enabled and card.expires_on == date(2027, 1, 31)
    with pytest.raises(mapping.Unreadable, match="last_characters"):
        mapping.card({"id": "1", "balance": "5.00"}, "USD")
    with pytest.raises(mapping.Unreadable, match="balance"):
        mapping.card({"id": "1", "balance": None, "last_characters": "ab12"}, "USD")


def test_amounts_go_out_in_the_currencys_exponent_and_are_never_rounded():
    assert mapping.amount_string(Money(Decimal("50"), "USD")) == "50.00"
    assert mapping.amount_string(Money(Decimal("500"), "JPY")) == "500"
    assert mapping.amount_string(Money(Decimal("1.5"), "KWD")) == "1.500"
    for amount, currency in (("0.001", "USD"), ("1.5", "JPY")):
        with pytest.raises(ValueError):
            mapping.amount_string(Money(Decimal(amount), currency))
