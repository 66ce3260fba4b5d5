"""GiftHeroClient against the Gift Card Hero emulator over real HTTP: every method of
AbsoluteLedger, what goes on the wire, and the emulator's answers mapped onto the port."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from adapter.domain.money import Money
from adapter.gifthero.client import CODE_RULE, GiftHeroClient
from adapter.gifthero.errors import BalanceUnchanged, CodeMismatch
from adapter.ports import (
    DeclineReason,
    EntryKind,
    LedgerConfigurationError,
    LedgerDecline,
    LedgerNeedsReview,
    LedgerUnavailable,
    Moves,
)
from giftcard_emulators.gifthero import model
from tests.ledgers.gifthero.conftest import TOKEN, usd

CODE = "q7w3e9r1t5y8u2i4"
NOTE = "giftcard-adapter:issue:7b1f0c2e"


async def test_capabilities_say_absolute_without_notes_or_lookup(client: GiftHeroClient) -> None:
    caps = client.capabilities
    assert caps.moves is Moves.ABSOLUTE and caps.notes is False and caps.lookup_by_code is False
    assert caps.code_rule.broken_by(CODE) is None
    for bad in ("short12", "a" * 21, "ABCDEFGH1234", "abcd-efgh-1234", "abcd efgh 1234"):
        assert caps.code_rule.broken_by(bad) == CODE_RULE.description


async def test_repr_never_shows_the_token(client: GiftHeroClient) -> None:
    assert TOKEN not in repr(client) and TOKEN not in str(client)
    assert "GiftHeroClient" in repr(client)


async def test_every_call_carries_the_bearer_token(client, wire, deadline) -> None:
    await client.get_card(card_id="1063936318", deadline=deadline())
    assert wire.headers[-1]["Authorization"] == f"Bearer {TOKEN}"


async def test_a_refused_token_is_a_configuration_error(make_client, hero, deadline) -> None:
    client = make_client(access_token="not-the-token")
    with pytest.raises(LedgerConfigurationError):
        await client.get_card(card_id="1063936318", deadline=deadline())
    with pytest.raises(LedgerConfigurationError):
        await client.create_card(code=CODE, amount=usd("10.00"), note=NOTE, deadline=deadline())
    assert (await hero.state())["cards"] == []


# ---- create_card ---------------------------------------------------------------------------

async def test_create_card_sends_a_decimal_string_and_answers_the_card(client, hero, wire, deadline) -> None:
    card = await client.create_card(code=CODE, amount=usd("100.10"), note=NOTE, deadline=deadline())
    assert wire.requests[-1][:2] == ("POST", "/api/external/gift-cards")
    assert json.loads(wire.bodies("POST")[-1]) == {"initial_value": "100.10", "code": CODE, "note": NOTE}
    assert card.balance == usd("100.10") and card.balance.amount.as_tuple().exponent == -2
    assert card.last_characters == CODE[-4:] and card.enabled and card.note == NOTE
    assert card.expires_on is None and card.created_at is not None
    stored = await hero.card(card.id)
    assert stored["code"] == CODE and stored["initial_value"] == "100.10" and stored["source"] == "api_client"


async def test_create_card_in_a_zero_decimal_currency(make_client, hero, wire, deadline) -> None:
    await hero.configure(currency="JPY")
    client = make_client(currency="JPY")
    card = await client.create_card(code=CODE, amount=Money(Decimal("500"), "JPY"), note=NOTE, deadline=deadline())
    assert json.loads(wire.bodies("POST")[-1])["initial_value"] == "500"
    assert card.balance == Money(Decimal("500"), "JPY")


async def test_create_card_with_a_taken_code_is_declined(client, hero, deadline) -> None:
    await hero.seed(code=CODE, balance="5.00")
    with pytest.raises(LedgerDecline) as caught:
        await client.create_card(code=CODE, amount=usd("10.00"), note=NOTE, deadline=deadline())
    assert caught.value.reason is DeclineReason.CODE_TAKEN
    assert CODE not in str(caught.value)
    assert len((await hero.state())["cards"]) == 1


async def test_create_card_refuses_what_gift_card_hero_would_change_before_any_call(client, hero, deadline) -> None:
    for code in ("Q7W3E9R1T5Y8U2I4", "q7w3 e9r1 t5y8 u2i4", "short", "q7w3-e9r1-t5y8-u2i4"):
        with pytest.raises(LedgerDecline) as caught:
            await client.create_card(code=code, amount=usd("10.00"), note=NOTE, deadline=deadline())
        assert caught.value.reason is DeclineReason.INVALID_CODE
        assert code not in str(caught.value)
    assert await hero.calls("create") == 0


async def test_create_card_amount_refusals(client, hero, deadline) -> None:
    with pytest.raises(LedgerDecline) as caught:
        await client.create_card(code=CODE, amount=usd("0.00"), note=NOTE, deadline=deadline())
    assert caught.value.reason is DeclineReason.INVALID_AMOUNT  # the vendor's 422
    with pytest.raises(LedgerDecline) as caught:
        await client.create_card(code=CODE, amount=Money(Decimal("10"), "EUR"), note=NOTE, deadline=deadline())
    assert caught.value.reason is DeclineReason.MISMATCHING_CURRENCY
    with pytest.raises(LedgerDecline) as caught:
        await client.create_card(code=CODE, amount=usd("10.005"), note=NOTE, deadline=deadline())
    assert caught.value.reason is DeclineReason.INVALID_AMOUNT
    assert await hero.calls("create") == 1  # only the zero reached the vendor
    assert (await hero.state())["cards"] == []


async def test_create_card_whose_answered_code_differs_is_refused_naming_the_card(
        client, hero, deadline, monkeypatch, captured_logs) -> None:
    # The vendor changes its normalisation (here: it would drop the last character).
    monkeypatch.setattr(model, "normalise_code", lambda raw: "".join(raw.split()).lower()[:-1])
    with pytest.raises(CodeMismatch) as caught:
        await client.create_card(code=CODE, amount=usd("10.00"), note=NOTE, deadline=deadline())
    assert isinstance(caught.value, LedgerConfigurationError)
    [stored] = (await hero.state())["cards"]
    assert caught.value.card_id == str(stored["id"])  # it exists: the caller can disable it
    assert CODE[:-1] not in str(caught.value) and CODE[:-1] not in captured_logs()


# ---- find_created --------------------------------------------------------------------------

async def test_find_created_finds_the_card_our_marker_is_on(client, hero, deadline) -> None:
    await hero.seed(code="aaaaaaaaaaaa" + CODE[-4:], note="someone else's card")
    await hero.seed(code="bbbbbbbbbbbb" + CODE[-4:], note=None)
    made = await client.create_card(code=CODE, amount=usd("25.00"), note=NOTE, deadline=deadline())
    await hero.seed(code="cccccccccccc0000", note=NOTE)  # our marker, other last four
    found = await client.find_created(code=CODE, note=NOTE, deadline=deadline())
    assert found is not None and found.id == made.id and found.balance == usd("25.00")


async def test_find_created_answers_none_when_no_card_carries_the_marker(client, hero, wire, deadline) -> None:
    await hero.seed(code="aaaaaaaaaaaa" + CODE[-4:], note="other")
    assert await client.find_created(code=CODE, note=NOTE, deadline=deadline()) is None
    method, path, _ = wire.requests[-1]
    assert method == "GET" and path.startswith("/api/external/gift-cards/search?")
    assert CODE[:-4] not in path  # only the last four go out


async def test_find_created_follows_link_pages(make_client, hero, wire, deadline) -> None:
    for prefix in "abcdefg":
        await hero.seed(code=prefix * 12 + CODE[-4:], note="other")
    made = await make_client().create_card(code=CODE, amount=usd("5.00"), note=NOTE, deadline=deadline())
    client = make_client(page_size=3)
    found = await client.find_created(code=CODE, note=NOTE, deadline=deadline())
    assert found is not None and found.id == made.id
    searches = [path for method, path, _ in wire.requests if "/search" in path]
    assert len(searches) == 3 and all("page_info=" in p for p in searches[1:])


async def test_find_created_with_two_marked_cards_goes_to_review(client, hero, deadline) -> None:
    await hero.seed(code="aaaaaaaaaaaa" + CODE[-4:], note=NOTE)
    await hero.seed(code="bbbbbbbbbbbb" + CODE[-4:], note=NOTE)
    with pytest.raises(LedgerNeedsReview):
        await client.find_created(code=CODE, note=NOTE, deadline=deadline())


# ---- get_card, deactivate, find_by_code, configuration ------------------------------------

async def test_get_card(client, hero, deadline) -> None:
    seeded = await hero.seed(code=CODE, balance="12.34", expires_on="2099-12-31", note="x")
    card = await client.get_card(card_id=str(seeded["id"]), deadline=deadline())
    assert card is not None and card.id == str(seeded["id"]) and card.balance == usd("12.34")
    assert card.expires_on.isoformat() == "2099-12-31" and card.enabled


async def test_get_card_unknown_is_none(client, hero, deadline) -> None:
    assert await client.get_card(card_id="999999999", deadline=deadline()) is None
    assert await hero.calls("get") == 1
    assert await client.get_card(card_id="gid://shopify/GiftCard/1", deadline=deadline()) is None
    assert await hero.calls("get") == 1  # not a Gift Card Hero id: no call


async def test_deactivate_is_final_and_twice_is_fine(client, hero, deadline) -> None:
    seeded = await hero.seed(code=CODE, balance="10.00")
    card_id = str(seeded["id"])
    first = await client.deactivate(card_id=card_id, deadline=deadline())
    assert not first.enabled and first.deactivated_at is not None
    second = await client.deactivate(card_id=card_id, deadline=deadline())
    assert second.deactivated_at == first.deactivated_at
    assert (await client.get_card(card_id=card_id, deadline=deadline())).enabled is False


async def test_deactivate_unknown_card_is_declined(client, deadline) -> None:
    with pytest.raises(LedgerDecline) as caught:
        await client.deactivate(card_id="999999999", deadline=deadline())
    assert caught.value.reason is DeclineReason.CARD_NOT_FOUND


async def test_find_by_code_answers_none_without_a_call(client, hero, deadline) -> None:
    await hero.seed(code=CODE)
    assert await client.find_by_code(code=CODE, deadline=deadline()) is None
    assert (await hero.state())["calls"] == {}


async def test_configuration_is_the_shop_currency_and_no_limit_without_a_call(client, hero, deadline) -> None:
    configuration = await client.configuration(deadline=deadline())
    assert configuration.issue_limit.currency == "USD"
    assert configuration.issue_limit == configuration.purchase_limit
    assert configuration.issue_limit.amount == Decimal("999999999999")
    assert (await hero.state())["calls"] == {}


# ---- set_balance ---------------------------------------------------------------------------

async def test_set_balance_answers_the_transaction_it_made(client, hero, wire, deadline) -> None:
    seeded = await hero.seed(code=CODE, balance="100.00")
    card_id = str(seeded["id"])
    entry = await client.set_balance(card_id=card_id, balance=usd("85.00"), deadline=deadline())
    assert wire.requests[-1][:2] == ("PUT", f"/api/external/gift-cards/{card_id}/balance")
    assert json.loads(wire.bodies("PUT")[-1]) == {"balance": "85.00"}
    stored = await hero.card(card_id)
    assert stored["balance"] == "85.00"
    assert entry is not None and entry.kind is EntryKind.SET and entry.delta == usd("-15.00")
    assert entry.id == str(stored["transactions"][-1]["id"])
    credit = await client.set_balance(card_id=card_id, balance=usd("90.5"), deadline=deadline())
    assert credit.delta == usd("5.50")
    assert await client.set_balance(card_id=card_id, balance=usd("0"), deadline=deadline()) is not None
    assert (await hero.card(card_id))["balance"] == "0.00"


async def test_set_balance_to_the_current_balance_made_nothing_and_is_not_executed(client, hero, deadline) -> None:
    seeded = await hero.seed(code=CODE, balance="40.00")
    card_id = str(seeded["id"])
    with pytest.raises(BalanceUnchanged) as caught:
        await client.set_balance(card_id=card_id, balance=usd("40.00"), deadline=deadline())
    assert isinstance(caught.value, LedgerUnavailable)  # not executed: retried from a fresh read
    assert len((await hero.card(card_id))["transactions"]) == 1


@pytest.mark.parametrize(("seed", "reason"), [
    ({"disabled": True}, DeclineReason.DEACTIVATED),
    ({"expires_on": "2020-01-01"}, DeclineReason.EXPIRED),
])
async def test_set_balance_on_a_dead_card_is_declined(client, hero, deadline, seed, reason) -> None:
    seeded = await hero.seed(code=CODE, balance="40.00", **seed)
    with pytest.raises(LedgerDecline) as caught:
        await client.set_balance(card_id=str(seeded["id"]), balance=usd("30.00"), deadline=deadline())
    assert caught.value.reason is reason
    assert (await hero.card(str(seeded["id"])))["balance"] == "40.00"


async def test_set_balance_refusals(client, hero, deadline) -> None:
    seeded = await hero.seed(code=CODE, balance="40.00")
    card_id = str(seeded["id"])
    cases = [
        ("999999999", usd("1.00"), DeclineReason.CARD_NOT_FOUND),       # the vendor's 404
        ("not-a-number", usd("1.00"), DeclineReason.CARD_NOT_FOUND),    # no call
        (card_id, usd("-1.00"), DeclineReason.INVALID_AMOUNT),          # the vendor's 422
        (card_id, usd("1.001"), DeclineReason.INVALID_AMOUNT),          # no call
        (card_id, Money(Decimal("1"), "EUR"), DeclineReason.MISMATCHING_CURRENCY),  # no call
    ]
    for target, balance, reason in cases:
        with pytest.raises(LedgerDecline) as caught:
            await client.set_balance(card_id=target, balance=balance, deadline=deadline())
        assert caught.value.reason is reason, (target, balance)
    assert await hero.calls("set_balance") == 2
    assert (await hero.card(card_id))["balance"] == "40.00"


# ---- history and newest_entry --------------------------------------------------------------

async def test_history_oldest_first_with_kinds(client, hero, deadline) -> None:
    made = await client.create_card(code=CODE, amount=usd("100.00"), note=NOTE, deadline=deadline())
    put = await client.set_balance(card_id=made.id, balance=usd("80.00"), deadline=deadline())
    # A checkout lands right after our next read (the emulator records it with an order link).
    await hero.fault(kind="foreign_change", operation="get", card_id=int(made.id), delta="-30.00")
    await client.get_card(card_id=made.id, deadline=deadline())
    entries = await client.history(card_id=made.id, after=None, deadline=deadline())
    assert [(e.delta, e.kind) for e in entries] == [
        (usd("100.00"), EntryKind.OTHER), (usd("-20.00"), EntryKind.SET), (usd("-30.00"), EntryKind.OTHER)]
    assert entries[0].detail == "Initial gift card creation"
    assert entries[1].id == put.id and entries[1].processed_at == put.processed_at
    assert entries[2].detail.startswith("order_transaction_id=")
    ids = [int(e.id) for e in entries]
    assert ids == sorted(ids)


async def test_history_after_an_entry_and_newest_entry(client, hero, deadline) -> None:
    made = await client.create_card(code=CODE, amount=usd("100.00"), note=NOTE, deadline=deadline())
    creation = await client.newest_entry(card_id=made.id, deadline=deadline())
    first = await client.set_balance(card_id=made.id, balance=usd("70.00"), deadline=deadline())
    second = await client.set_balance(card_id=made.id, balance=usd("75.00"), deadline=deadline())
    assert await client.newest_entry(card_id=made.id, deadline=deadline()) == second.id
    after_creation = await client.history(card_id=made.id, after=creation, deadline=deadline())
    assert [e.id for e in after_creation] == [first.id, second.id]
    assert [e.id for e in await client.history(card_id=made.id, after=first.id, deadline=deadline())] == [second.id]
    assert await client.history(card_id=made.id, after=second.id, deadline=deadline()) == []


async def test_history_whose_anchor_is_gone_goes_to_review(client, hero, deadline) -> None:
    made = await client.create_card(code=CODE, amount=usd("10.00"), note=NOTE, deadline=deadline())
    with pytest.raises(LedgerNeedsReview):
        await client.history(card_id=made.id, after="1", deadline=deadline())


async def test_history_of_a_card_without_entries_and_of_no_card(client, hero, deadline) -> None:
    seeded = await hero.seed(code=CODE, balance="0.00", initial_value="0.00")
    assert await client.history(card_id=str(seeded["id"]), after=None, deadline=deadline()) == []
    assert await client.newest_entry(card_id=str(seeded["id"]), deadline=deadline()) is None
    for call in (client.history(card_id="999999999", after=None, deadline=deadline()),
                 client.newest_entry(card_id="999999999", deadline=deadline())):
        with pytest.raises(LedgerDecline) as caught:
            await call
        assert caught.value.reason is DeclineReason.CARD_NOT_FOUND


async def test_history_asks_for_the_one_card_by_id(client, hero, wire, deadline) -> None:
    other = await hero.seed(code="zzzzzzzzzzzz9999", balance="5.00")
    made = await client.create_card(code=CODE, amount=usd("10.00"), note=NOTE, deadline=deadline())
    entries = await client.history(card_id=made.id, after=None, deadline=deadline())
    assert [e.delta for e in entries] == [usd("10.00")]
    assert f"query=id:{made.id}" in wire.requests[-1][1] and str(other["id"]) not in wire.requests[-1][1]


# ---- no code anywhere ----------------------------------------------------------------------

async def test_no_code_in_logs_or_failures(client, hero, deadline, captured_logs) -> None:
    made = await client.create_card(code=CODE, amount=usd("10.00"), note=NOTE, deadline=deadline())
    failures = []
    for call in (client.create_card(code=CODE, amount=usd("10.00"), note=NOTE, deadline=deadline()),
                 client.create_card(code=CODE.upper(), amount=usd("10.00"), note=NOTE, deadline=deadline())):
        with pytest.raises(LedgerDecline) as caught:
            await call
        failures.append(caught.value)
    await client.find_created(code=CODE, note=NOTE, deadline=deadline())
    with pytest.raises(BalanceUnchanged):
        await client.set_balance(card_id=made.id, balance=usd("10.00"), deadline=deadline())
    text = captured_logs() + " ".join(str(f) + f.detail for f in failures)
    assert CODE not in text.lower() and CODE[:-4] not in text.lower()
