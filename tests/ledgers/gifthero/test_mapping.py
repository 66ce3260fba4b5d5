"""Gift Card Hero JSON <-> port types, without HTTP: money, ids, cards, entry kinds, cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from adapter.domain.money import Money
from adapter.gifthero import mapping
from adapter.gifthero.errors import CodeMismatch
from adapter.ports import EntryKind

CODE = "k3v9q2m7x1c8b4n6"
CARD = {  # the document's create answer, with our code
    "id": 1063936318, "balance": "100.00", "created_at": "2020-01-14T10:32:53-05:00",
    "updated_at": "2020-01-14T10:32:53-05:00", "currency": "USD", "initial_value": "100.00",
    "disabled_at": None, "line_item_id": None, "api_client_id": 755357713, "user_id": None,
    "customer_id": None, "note": "This is a note", "expires_on": None, "template_suffix": None,
    "last_characters": "b4n6", "order_id": None, "code": CODE,
}
PUT_ANSWER = {  # the document's balance PUT answer
    "id": 204959973622, "gift_card_id": 564744552694, "api_client_id": 5469899, "user_id": None,
    "order_transaction_id": None, "number": 1, "amount": "-15.00",
    "processed_at": "2023-06-16T13:06:03+03:00", "created_at": "2023-06-16T13:06:03+03:00",
    "updated_at": "2023-06-16T13:06:03+03:00", "note": None, "remote_transaction_ref": None,
    "remote_transaction_url": None,
}


@pytest.mark.parametrize(("amount", "currency", "wire"), [
    ("100", "USD", "100.00"), ("0.5", "USD", "0.50"), ("0", "USD", "0.00"), ("500", "JPY", "500"),
    ("1.25", "KWD", "1.250"), ("123456789012.34", "EUR", "123456789012.34"),
])
def test_amounts_go_out_as_strings_with_the_currency_places(amount, currency, wire) -> None:
    assert mapping.wire_amount(Money(Decimal(amount), currency)) == wire


def test_an_amount_finer_than_the_currency_is_refused_not_rounded() -> None:
    with pytest.raises(ValueError):
        mapping.wire_amount(Money(Decimal("1.005"), "USD"))
    with pytest.raises(ValueError):
        mapping.wire_amount(Money(Decimal("1.5"), "JPY"))


def test_amounts_come_in_exact() -> None:
    assert mapping.money("-30.00", "USD") == Money(Decimal("-30.00"), "USD")
    assert mapping.money(Decimal("100.0"), "USD") == Money(Decimal("100.00"), "USD")
    assert mapping.money("500", "JPY").amount.as_tuple().exponent == 0
    for bad in ("10.005", "NaN", "ten", 1.5, True, None):
        with pytest.raises(mapping.MalformedAnswer):
            mapping.money(bad, "USD")


def test_ids_are_numbers_on_the_wire_and_strings_here() -> None:
    assert mapping.wire_id("1063936318") == 1063936318
    for bad in ("", "gid://x/1", "12a", "-1", "١٢", "1" * 31):
        assert mapping.wire_id(bad) is None
    assert mapping.our_id(204959973622) == "204959973622"
    assert mapping.our_id("42") == "42"
    for bad in (True, 1.0, "x", None):
        with pytest.raises(mapping.MalformedAnswer):
            mapping.our_id(bad)


def test_card_object() -> None:
    card = mapping.card({**CARD, "expires_on": "2027-01-01", "last_characters": "B4N6"}, "EUR")
    assert card.id == "1063936318" and card.last_characters == "b4n6"
    assert card.balance == Money(Decimal("100.00"), "USD")  # the card's own currency
    assert card.enabled and card.deactivated_at is None and card.expires_on == date(2027, 1, 1)
    assert card.note == "This is a note"
    assert card.created_at == datetime(2020, 1, 14, 15, 32, 53, tzinfo=UTC)
    disabled = mapping.card({**CARD, "disabled_at": "2020-01-14T10:32:55-05:00"}, "USD")
    assert not disabled.enabled and disabled.deactivated_at is not None
    with pytest.raises(mapping.MalformedAnswer):
        mapping.card({k: v for k, v in CARD.items() if k != "balance"}, "USD")


def test_created_card_must_carry_the_code_we_sent() -> None:
    made = mapping.created_card({"gift_card": CARD}, sent_code=CODE, currency="USD")
    assert made.id == "1063936318"
    for answered in ({**CARD, "code": CODE[:-1] + "x"}, {k: v for k, v in CARD.items() if k != "code"}):
        with pytest.raises(CodeMismatch) as caught:
            mapping.created_card({"gift_card": answered}, sent_code=CODE, currency="USD")
        assert caught.value.card_id == "1063936318"
        assert CODE not in str(caught.value) and CODE[:-1] not in str(caught.value)


def test_put_answer_is_a_set_entry_with_its_signed_delta() -> None:
    entry = mapping.set_entry(PUT_ANSWER, card_id="564744552694", currency="USD")
    assert entry.id == "204959973622" and entry.kind is EntryKind.SET
    assert entry.delta == Money(Decimal("-15.00"), "USD")
    assert entry.processed_at == datetime(2023, 6, 16, 10, 6, 3, tzinfo=UTC)
    with pytest.raises(mapping.MalformedAnswer):
        mapping.set_entry(PUT_ANSWER, card_id="1", currency="USD")


@pytest.mark.parametrize(("transaction", "kind"), [
    ({"note": "Initial gift card creation", "order_transaction_id": None}, EntryKind.OTHER),
    ({"note": "Initial gift card creation"}, EntryKind.OTHER),  # the document's list omits the field
    ({"note": None, "order_transaction_id": 5000000123}, EntryKind.OTHER),  # a checkout
    ({"note": "Purchase at store", "order_transaction_id": 77}, EntryKind.OTHER),
    ({"note": None, "order_transaction_id": None, "api_client_id": 755357713}, EntryKind.SET),  # a PUT
    ({"note": "Purchase at store"}, EntryKind.SET),  # can't be proven a checkout: examined as a set
])
def test_entry_kind_rule(transaction, kind) -> None:
    node = {"id": 1, "amount": "-1.00", "processed_at": "2025-01-02T15:30:00+03:00", **transaction}
    assert mapping.balance_entry(node, "USD").kind is kind


def test_entry_detail_is_the_note_or_the_order_link() -> None:
    base = {"id": 1, "amount": "-1.00", "processed_at": "2025-01-02T15:30:00+03:00"}
    assert mapping.balance_entry({**base, "note": "Purchase at store"}, "USD").detail == "Purchase at store"
    assert mapping.balance_entry({**base, "order_transaction_id": 9}, "USD").detail == "order_transaction_id=9"
    assert mapping.balance_entry(base, "USD").detail is None


def test_card_lists_bare_or_wrapped() -> None:
    assert mapping.card_nodes([CARD]) == [CARD]
    assert mapping.card_nodes({"gift_cards": [CARD]}) == [CARD]
    for bad in ({"gift_card": CARD}, None, [1]):
        with pytest.raises(mapping.MalformedAnswer):
            mapping.card_nodes(bad)


def test_page_info_is_taken_from_the_next_link_whatever_its_host() -> None:
    link = "https://yourstore.myshopify.com/external/gift-cards/transactions?page_info=eyJsYXN0X2lkIjo1NzJ9&limit=50"
    assert mapping.page_info(link) == "eyJsYXN0X2lkIjo1NzJ9"
    assert mapping.page_info(None) is None
    with pytest.raises(mapping.MalformedAnswer):
        mapping.page_info("https://gifthero.syncu.be/api/external/gift-cards?limit=50")
