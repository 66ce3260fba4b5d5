"""Every ShoplineClient method against the emulator: what it sends, what it answers, and what it
refuses without a call."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from adapter.domain.money import Money
from adapter.ledgers.rest import LeakyBucket
from adapter.ports import (
    DeclineReason,
    EntryKind,
    LedgerDecline,
    LedgerUnavailable,
    Moves,
    Priority,
)
from adapter.shopline.client import ShoplineClient
from giftcard_emulators.shopline.ledger import OperationRecord
from tests.ledgers.shopline.conftest import TOKEN, deadline

CODE = "ourcode0123456789"
OLD = "v20250601"  # before the code filter (v20260301)


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


# ---- construction -------------------------------------------------------------------------------


@pytest.mark.parametrize("handle", ["mystore", "MyStore.myshopline.com", "https://mystore.myshopline.com/",
                                    "http://mystore.myshopline.com/admin"])
def test_base_url_for_accepts_a_handle_a_domain_or_a_url(handle):
    assert ShoplineClient.base_url_for(handle, "v20260301") == "https://mystore.myshopline.com/admin/openapi/v20260301/"


@pytest.mark.parametrize("handle", ["", "https://", "my store", "mystore.example.com/x?y"])
def test_base_url_for_refuses_what_is_no_handle(handle):
    with pytest.raises(ValueError):
        ShoplineClient.base_url_for(handle)


async def test_capabilities_follow_the_api_version(make_client):
    new, old = make_client(), make_client(version=OLD)
    assert new.capabilities.moves is Moves.ABSOLUTE and new.capabilities.notes is False
    assert new.capabilities.lookup_by_code is True and old.capabilities.lookup_by_code is False
    rule = new.capabilities.code_rule
    assert rule.broken_by("abcd1234") is None and rule.broken_by("a" * 20) is None
    assert rule.broken_by("abc1234") == rule.broken_by("ABCD1234") == "8 to 20 lowercase letters a-z and digits 0-9"


async def test_the_token_is_never_in_the_repr(client):
    assert TOKEN not in repr(client) and TOKEN not in repr(client._transport)


async def test_the_default_pacing_is_shoplines_bucket(client):
    assert (client.bucket.size, client.bucket.leak_per_second) == (40, 4)


async def test_a_base_url_of_another_version_is_refused(session, shop):
    with pytest.raises(ValueError, match="version"):
        ShoplineClient(session, base_url=shop.api_url("v20260301"), access_token=TOKEN, api_version="v20260601",
                       currency="USD")


# ---- create_card / find_created -----------------------------------------------------------------


async def test_create_card_sends_our_code_value_and_note(shop, client):
    card = await client.create_card(code=CODE, amount=usd("50.00"), note="write:w1", deadline=deadline())
    assert card.last_characters == "6789" and card.note == "write:w1" and card.enabled
    assert card.balance == usd("50.00") and isinstance(card.balance.amount, Decimal)
    assert card.id.isdigit() and card.created_at is not None and card.expires_on is None
    stored = shop.card(card.id)
    assert (stored.code, stored.initial_value, stored.note) == (CODE, Decimal("50.00"), "write:w1")


@pytest.mark.parametrize("status", [200, 201])
async def test_create_card_accepts_200_and_201(shop, client, monkeypatch, status):
    monkeypatch.setattr("giftcard_emulators.shopline.choices.CREATE_STATUS", status)
    card = await client.create_card(code=CODE, amount=usd("5.00"), note="n", deadline=deadline())
    assert card.id in shop.emulator.ledger.cards


async def test_create_card_in_zero_and_three_decimal_currencies(shop, make_client):
    for currency, amount, expected in (("JPY", "500", Decimal("500")), ("KWD", "1.234", Decimal("1.234"))):
        shop.emulator.config.currency = currency
        client = make_client(currency=currency)
        code = f"code{currency.lower()}12345"
        card = await client.create_card(code=code, amount=Money(Decimal(amount), currency), note="n", deadline=deadline())
        assert card.balance == Money(expected, currency) and shop.card(card.id).initial_value == expected


async def test_create_card_never_rounds_an_amount(shop, make_client):
    shop.emulator.config.currency = "JPY"
    with pytest.raises(LedgerDecline) as declined:
        await make_client(currency="JPY").create_card(code=CODE, amount=Money(Decimal("500.5"), "JPY"), note="n",
                                                      deadline=deadline())
    assert declined.value.reason is DeclineReason.INVALID_AMOUNT
    assert shop.calls("create_gift_card") == 0


async def test_create_with_a_taken_code_is_code_taken_without_the_code_in_the_error(shop, client):
    shop.seed(code=CODE)
    with pytest.raises(LedgerDecline) as declined:
        await client.create_card(code=CODE, amount=usd("5.00"), note="n", deadline=deadline())
    assert declined.value.reason is DeclineReason.CODE_TAKEN
    assert CODE not in str(declined.value)


@pytest.mark.parametrize("code", ["short12", "UPPERCASE123", "with-dash-123", "a" * 21])
async def test_create_refuses_a_code_against_the_rule_without_a_call(shop, client, code):
    with pytest.raises(LedgerDecline) as declined:
        await client.create_card(code=code, amount=usd("5.00"), note="n", deadline=deadline())
    assert declined.value.reason is DeclineReason.INVALID_CODE
    assert shop.calls("create_gift_card") == 0


async def test_create_in_another_currency_than_the_stores_is_declined(shop, client):
    with pytest.raises(LedgerDecline) as declined:
        await client.create_card(code=CODE, amount=Money(Decimal("5.00"), "EUR"), note="n", deadline=deadline())
    assert declined.value.reason is DeclineReason.MISMATCHING_CURRENCY
    assert shop.calls("create_gift_card") == 0


async def test_find_created_uses_the_code_filter_and_checks_the_note(shop, client):
    created = await client.create_card(code=CODE, amount=usd("5.00"), note="write:w1", deadline=deadline())
    shop.seed(code="othercode0006789", note="write:w1")  # same last four and note, another code
    found = await client.find_created(code=CODE, note="write:w1", deadline=deadline())
    assert found is not None and found.id == created.id
    assert await client.find_created(code=CODE, note="write:w2", deadline=deadline()) is None
    assert await client.find_created(code="absentcode123", note="write:w1", deadline=deadline()) is None
    assert shop.calls("list_gift_cards") == 3


async def test_find_created_pages_through_every_card_before_the_code_filter(shop, make_client):
    client = make_client(version=OLD)
    for _ in range(300):
        shop.seed()
    shop.seed(code="decoy0000006789", note="write:other")   # same last four, another write
    ours = shop.seed(code=CODE, note="write:w1")             # the newest: on the last page
    found = await client.find_created(code=CODE, note="write:w1", deadline=deadline())
    assert found is not None and found.id == ours.id
    assert shop.calls("list_gift_cards") == 2  # 250 + 52, following Link rel="next"
    assert await client.find_created(code=CODE, note="write:w2", deadline=deadline()) is None


async def test_find_created_on_an_old_version_is_bounded_by_the_deadline(shop, make_client):
    client = make_client(version=OLD)
    for _ in range(260):
        shop.seed()
    shop.fault(kind="latency", operation="list_gift_cards", latency_ms=300, count=5)
    with pytest.raises(LedgerUnavailable):
        await client.find_created(code=CODE, note="write:w1", deadline=deadline(0.5))


# ---- set_balance ----------------------------------------------------------------------------------


async def test_set_balance_puts_the_absolute_balance_wrapped(shop, client):
    card = shop.seed(balance="25.00")
    assert await client.set_balance(card_id=card.id, balance=usd("17.50"), deadline=deadline()) is None
    assert shop.card(card.id).balance == Decimal("17.50")
    assert dict(shop.emulator.put_shapes) == {"wrapped": 1}  # client.balance_body's choice, pinned
    [record] = shop.emulator.ledger.records_of(card.id)
    assert (record.operation_type, record.balance_before, record.balance_after) == (
        "OPERATE_ACTION_ADJUST_BALANCE", Decimal("25.00"), Decimal("17.50"))


async def test_set_balance_declines(shop, client):
    disabled = shop.seed(disabled=True)
    for card_id, reason in ((disabled.id, DeclineReason.DEACTIVATED),
                            ("30157043359245339231399999", DeclineReason.CARD_NOT_FOUND)):
        with pytest.raises(LedgerDecline) as declined:
            await client.set_balance(card_id=card_id, balance=usd("1.00"), deadline=deadline())
        assert declined.value.reason is reason
    assert shop.calls("update_gift_card") == 2


@pytest.mark.parametrize("card_id, balance, reason", [
    ("../gift_cards", "1.00", DeclineReason.CARD_NOT_FOUND),
    ("1" * 65, "1.00", DeclineReason.CARD_NOT_FOUND),
    ("123", "-1.00", DeclineReason.INVALID_AMOUNT),
    ("123", "1.001", DeclineReason.INVALID_AMOUNT),
])
async def test_set_balance_refuses_without_a_call(shop, client, card_id, balance, reason):
    with pytest.raises(LedgerDecline) as declined:
        await client.set_balance(card_id=card_id, balance=usd(balance), deadline=deadline())
    assert declined.value.reason is reason
    assert shop.calls("update_gift_card") == 0


# ---- history / newest_entry ---------------------------------------------------------------------


async def test_history_is_oldest_first_with_kinds_and_signed_deltas(shop, client):
    card = shop.seed(balance="100.00")
    assert await client.newest_entry(card_id=card.id, deadline=deadline()) is None
    assert await client.history(card_id=card.id, after=None, deadline=deadline()) == []
    await client.set_balance(card_id=card.id, balance=usd("90.00"), deadline=deadline())
    shop.change(card, "-20.00")   # a checkout elsewhere: DEDUCT
    shop.change(card, "5.00")     # a refund elsewhere: REFUND
    await client.set_balance(card_id=card.id, balance=usd("80.00"), deadline=deadline())
    entries = await client.history(card_id=card.id, after=None, deadline=deadline())
    assert [(e.kind, e.delta, e.detail) for e in entries] == [
        (EntryKind.SET, usd("-10.00"), "OPERATE_ACTION_ADJUST_BALANCE"),
        (EntryKind.OTHER, usd("-20.00"), "OPERATE_ACTION_DEDUCT"),
        (EntryKind.OTHER, usd("5.00"), "OPERATE_ACTION_REFUND"),
        (EntryKind.SET, usd("5.00"), "OPERATE_ACTION_ADJUST_BALANCE"),
    ]
    assert all(e.processed_at.tzinfo is not None for e in entries)
    assert await client.newest_entry(card_id=card.id, deadline=deadline()) == entries[-1].id
    newer = await client.history(card_id=card.id, after=entries[1].id, deadline=deadline())
    assert [e.id for e in newer] == [e.id for e in entries[2:]]
    assert await client.history(card_id=card.id, after=entries[-1].id, deadline=deadline()) == []


async def test_history_follows_link_pages_and_stops_at_the_entry_it_was_given(shop, client):
    card = shop.seed(balance="1000.00")
    for _ in range(250):
        shop.change(card, "-1.00")
    everything = await client.history(card_id=card.id, after=None, deadline=deadline())
    assert shop.calls("list_operation_records") == 3  # 100 + 100 + 50, newest first
    assert len(everything) == 250 and len({e.id for e in everything}) == 250
    ids = [int(e.id) for e in everything]
    assert ids == sorted(ids)  # oldest first
    recent = await client.history(card_id=card.id, after=everything[-3].id, deadline=deadline())
    assert [e.id for e in recent] == [e.id for e in everything[-2:]]
    assert shop.calls("list_operation_records") == 4  # found on the first page: no more pages read
    assert await client.newest_entry(card_id=card.id, deadline=deadline()) == everything[-1].id
    assert shop.calls("list_operation_records") == 5


async def test_history_with_an_anchor_no_longer_answered_answers_what_there_is(shop, client):
    card = shop.seed(balance="10.00")
    shop.change(card, "-1.00")
    entries = await client.history(card_id=card.id, after="16057590153890829521100000", deadline=deadline())
    assert len(entries) == 1


async def test_history_fails_loudly_on_a_record_it_cannot_read(shop, client, captured_logs):
    card = shop.seed(balance="10.00")
    shop.emulator.ledger.records.append(OperationRecord(
        id="16057590153890829521199999", gift_card_id=card.id, operation_type="OPERATE_ACTION_TOPUP",
        balance_before=Decimal("10.00"), balance_after=Decimal("20.00"), currency="USD",
        created_at=shop.emulator.ledger.clock(), source="seeded"))
    with pytest.raises(LedgerUnavailable, match="operation_type"):
        await client.history(card_id=card.id, after=None, deadline=deadline())
    assert '"shopline_unreadable_answer"' in captured_logs() and '"level": "error"' in captured_logs()


async def test_history_of_a_card_that_is_not_there(shop, client):
    for card_id in ("30157043359245339231399999", "not-an-id"):
        with pytest.raises(LedgerDecline) as declined:
            await client.history(card_id=card_id, after=None, deadline=deadline())
        assert declined.value.reason is DeclineReason.CARD_NOT_FOUND
    assert shop.calls("list_operation_records") == 1


# ---- get_card / find_by_code --------------------------------------------------------------------


async def test_get_card(shop, client):
    card = shop.seed(balance="12.34", note="elsewhere")
    card.expires_on = "2027-03-31"
    read = await client.get_card(card_id=card.id, deadline=deadline())
    assert read is not None and read.id == card.id and read.balance == usd("12.34")
    assert read.last_characters == card.code[-4:] and read.expires_on == date(2027, 3, 31) and read.note == "elsewhere"
    assert await client.get_card(card_id="30157043359245339231399999", deadline=deadline()) is None
    assert await client.get_card(card_id="12/../34", deadline=deadline()) is None
    assert shop.calls("get_gift_card") == 2


async def test_get_card_of_a_disabled_card(shop, client):
    card = shop.seed(disabled=True)
    read = await client.get_card(card_id=card.id, deadline=deadline())
    assert read is not None and not read.enabled and read.deactivated_at is not None


async def test_find_by_code_answers_the_one_exact_card(shop, client):
    ours = shop.seed(code=CODE)
    shop.seed(code=CODE + "0")
    found = await client.find_by_code(code=CODE, deadline=deadline())
    assert found is not None and found.id == ours.id
    assert await client.find_by_code(code="absentcode123", deadline=deadline()) is None
    assert shop.calls("list_gift_cards") == 2


async def test_find_by_code_makes_no_call_when_it_cannot_find_anything(shop, client, make_client):
    shop.seed(code=CODE)
    assert await client.find_by_code(code="NOT-A-CODE", deadline=deadline()) is None
    assert await make_client(version=OLD).find_by_code(code=CODE, deadline=deadline()) is None
    assert shop.calls("list_gift_cards") == 0


async def test_a_lookup_is_refused_at_once_while_the_bucket_is_more_than_half_used(shop, make_client):
    client = make_client(bucket=LeakyBucket(40, 0.001))
    card = shop.seed(code=CODE)
    for _ in range(21):
        await client.bucket.take(deadline())
    with pytest.raises(LedgerUnavailable, match="kept for money calls"):
        await client.find_by_code(code=CODE, deadline=deadline(), priority=Priority.LOOKUP)
    assert shop.calls("list_gift_cards") == 0
    # A money call still goes, and so does a lookup with MONEY priority (a known card's).
    assert (await client.get_card(card_id=card.id, deadline=deadline())) is not None
    assert (await client.find_by_code(code=CODE, deadline=deadline())) is not None


async def test_a_card_reread_is_refused_at_once_while_the_bucket_is_more_than_half_used(shop, make_client):
    client = make_client(bucket=LeakyBucket(40, 0.001))
    card = shop.seed(code=CODE)
    reading = await client.reread(card_id=card.id, after=None, deadline=deadline())
    assert reading.card is not None and reading.card.id == card.id
    for _ in range(20):
        await client.bucket.take(deadline())
    records, cards = shop.calls("list_operation_records"), shop.calls("get_gift_card")
    with pytest.raises(LedgerUnavailable, match="kept for money calls"):
        await client.reread(card_id=card.id, after=None, deadline=deadline())
    assert (shop.calls("list_operation_records"), shop.calls("get_gift_card")) == (records, cards)
    assert (await client.get_card(card_id=card.id, deadline=deadline())) is not None  # money still goes


# ---- deactivate / configuration -----------------------------------------------------------------


async def test_deactivate_and_deactivate_again(shop, client):
    card = shop.seed()
    first = await client.deactivate(card_id=card.id, deadline=deadline())
    assert not first.enabled and first.deactivated_at is not None
    again = await client.deactivate(card_id=card.id, deadline=deadline())
    assert not again.enabled and again.deactivated_at == first.deactivated_at
    assert shop.calls("disable_gift_card") == 2 and shop.calls("get_gift_card") == 1
    with pytest.raises(LedgerDecline) as declined:
        await client.deactivate(card_id="30157043359245339231399999", deadline=deadline())
    assert declined.value.reason is DeclineReason.CARD_NOT_FOUND


async def test_configuration_is_the_stores_currency_without_a_limit_and_without_a_call(shop, make_client):
    configuration = await make_client(currency="EUR").configuration(deadline=deadline())
    assert configuration.issue_limit.currency == configuration.purchase_limit.currency == "EUR"
    assert configuration.issue_limit.amount >= Decimal("999999999999")
    assert sum(shop.emulator.calls.values()) == 0


def test_the_client_has_every_primitive_of_the_port_with_its_signature():
    """AbsoluteLedger is a Protocol (not checked at runtime): the protocol above calls these by
    keyword, so names and kinds of every parameter must match."""
    import inspect

    from adapter.ports import AbsoluteLedger

    for name, declared in inspect.getmembers(AbsoluteLedger, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(ShoplineClient, name)
        assert inspect.iscoroutinefunction(ours), name
        expected = [(p.name, p.kind, p.default) for p in inspect.signature(declared).parameters.values()]
        actual = [(p.name, p.kind, p.default) for p in inspect.signature(ours).parameters.values()]
        assert actual == expected, name
