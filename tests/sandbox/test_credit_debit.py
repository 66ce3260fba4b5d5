"""§14 items 10-14, 18, 27, 28: credit/debit userErrors, signs, notes, processedAt, limits,
the ledger invariant, serialised and non-idempotent writes."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest

from giftcard_emulators.shopify.config import SandboxConfig
from tests.sandbox.conftest import CREATE, CREDIT, DEBIT, DEACTIVATE

AMOUNT = ["debitInput", "debitAmount", "amount"]
CREDIT_AMOUNT = ["creditInput", "creditAmount", "amount"]


# -- 10. credit/debit userErrors -----------------------------------------------------------------

async def _one_error(result: dict, key: str) -> dict:
    assert result[key] is None
    [error] = result["userErrors"]
    return error


async def test_debit_and_credit_decline_rows(shop):
    card = await shop.card("10.00")
    expect = {
        "insufficient": ({"field": AMOUNT, "code": "INSUFFICIENT_FUNDS",
                          "message": "The gift card does not have sufficient funds to satisfy the request."},
                         await shop.debit(card, "10.01"), "giftCardDebitTransaction"),
        "debit zero": ({"field": AMOUNT, "code": "NEGATIVE_OR_ZERO_AMOUNT", "message": "A positive amount must be used."},
                       await shop.debit(card, "0"), "giftCardDebitTransaction"),
        "debit negative": ({"field": AMOUNT, "code": "NEGATIVE_OR_ZERO_AMOUNT", "message": "A positive amount must be used."},
                           await shop.debit(card, "-1.00"), "giftCardDebitTransaction"),
        "credit zero": ({"field": CREDIT_AMOUNT, "code": "NEGATIVE_OR_ZERO_AMOUNT",
                         "message": "A positive amount must be used."},
                        await shop.credit(card, "0.00"), "giftCardCreditTransaction"),
        "debit currency": ({"field": ["debitInput", "debitAmount", "currencyCode"], "code": "MISMATCHING_CURRENCY",
                            "message": "The currency provided does not match the currency of the gift card."},
                           await shop.debit(card, "1.00", "CAD"), "giftCardDebitTransaction"),
        "credit currency": ({"field": ["creditInput", "creditAmount", "currencyCode"], "code": "MISMATCHING_CURRENCY",
                             "message": "The currency provided does not match the currency of the gift card."},
                            await shop.credit(card, "1.00", "EUR"), "giftCardCreditTransaction"),
        "credit limit": ({"field": CREDIT_AMOUNT, "code": "GIFT_CARD_LIMIT_EXCEEDED",
                          "message": "The gift card's value exceeds the allowed limits."},
                         await shop.credit(card, "2990.01"), "giftCardCreditTransaction"),
        "debit future": ({"field": ["debitInput", "processedAt"], "code": "INVALID",
                          "message": "The processed date must not be in the future."},
                         await shop.debit(card, "1.00", processedAt="2026-11-20T15:13:23Z"), "giftCardDebitTransaction"),
        "credit future": ({"field": ["creditInput", "processedAt"], "code": "INVALID",
                           "message": "The processed date must not be in the future."},
                          await shop.credit(card, "1.00", processedAt="2999-01-01T00:00:00Z"), "giftCardCreditTransaction"),
        "debit 1969": ({"field": ["debitInput", "processedAt"], "code": "INVALID",
                        "message": "A valid processed date must be used."},
                       await shop.debit(card, "1.00", processedAt="1969-12-31T23:59:59Z"), "giftCardDebitTransaction"),
        "credit 1960": ({"field": ["creditInput", "processedAt"], "code": "INVALID",
                         "message": "A valid processed date must be used."},
                        await shop.credit(card, "1.00", processedAt="1960-01-01T00:00:00Z"), "giftCardCreditTransaction"),
    }
    for name, (error, result, key) in expect.items():
        assert await _one_error(result, key) == error, name
    assert (await shop.state_card(card))["transactions"] == []


@pytest.mark.parametrize("operation", ["debit", "credit"])
async def test_expired_deactivated_and_unknown_cards(shop, operation):
    post = shop.debit if operation == "debit" else shop.credit
    key = "giftCardDebitTransaction" if operation == "debit" else "giftCardCreditTransaction"
    expired = await shop.card("10.00", expiresOn="2020-01-01")
    assert await _one_error(await post(expired, "1.00"), key) == {
        "field": ["id"], "code": "INVALID", "message": "The gift card has expired."}
    dead = await shop.card("10.00")
    await shop.gql(DEACTIVATE, {"id": dead})
    assert await _one_error(await post(dead, "1.00"), key) == {
        "field": ["id"], "code": "INVALID", "message": "The gift card is deactivated."}
    assert await _one_error(await post("gid://shopify/GiftCard/999999", "1.00"), key) == {
        "field": ["id"], "code": "GIFT_CARD_NOT_FOUND", "message": "The gift card could not be found."}


async def test_expiry_is_checked_against_todays_utc_date(shop):
    card = await shop.card("10.00", expiresOn="2026-11-20")  # the fake clock's today
    assert (await shop.debit(card, "1.00"))["userErrors"] == []
    shop.clock.advance(days=1)
    assert (await shop.debit(card, "1.00"))["userErrors"][0]["message"] == "The gift card has expired."


async def test_malformed_gid_is_a_top_level_resource_not_found(shop):
    body = await shop.gql(DEBIT, {"id": "12345", "input": {"debitAmount": {"amount": "1", "currencyCode": "USD"}}})
    assert body["data"] == {"giftCardDebit": None}
    assert body["errors"][0]["extensions"]["code"] == "RESOURCE_NOT_FOUND"


# -- 11, 12. signs, notes, processedAt -----------------------------------------------------------

async def test_debits_read_negative_credits_positive_notes_verbatim(shop):
    card = await shop.card("100.00")
    spent = (await shop.debit(card, "30.00", note="gca:v1:authorize:5f0c2e7a9b4d4e1f8a3c6d2b1e0f9a87"))
    txn = spent["giftCardDebitTransaction"]
    assert txn["amount"] == {"amount": "-30.0", "currencyCode": "USD"}
    assert txn["note"] == "gca:v1:authorize:5f0c2e7a9b4d4e1f8a3c6d2b1e0f9a87"
    assert txn["giftCard"] == {"id": card, "balance": {"amount": "70.0", "currencyCode": "USD"}}
    assert re.fullmatch(r"gid://shopify/GiftCardDebitTransaction/\d+", txn["id"])
    back = (await shop.credit(card, "5.25"))["giftCardCreditTransaction"]
    assert back["amount"] == {"amount": "5.25", "currencyCode": "USD"} and back["note"] is None
    assert re.fullmatch(r"gid://shopify/GiftCardCreditTransaction/\d+", back["id"])
    assert back["giftCard"]["balance"]["amount"] == "75.25"


async def test_processed_at_defaults_to_now_and_is_normalised_to_utc(shop):
    card = await shop.card("100.00")
    now = (await shop.debit(card, "1.00"))["giftCardDebitTransaction"]
    assert now["processedAt"] == "2026-11-20T15:13:22Z"
    dated = (await shop.debit(card, "1.00", processedAt="2026-01-01T10:00:00+02:00"))["giftCardDebitTransaction"]
    assert dated["processedAt"] == "2026-01-01T08:00:00Z"
    epoch = (await shop.credit(card, "1.00", processedAt="1970-01-01T00:00:00Z"))["giftCardCreditTransaction"]
    assert epoch["processedAt"] == "1970-01-01T00:00:00Z"
    assert [t["processedAt"] for t in (await shop.state_card(card))["transactions"]] == [
        "2026-11-20T15:13:22Z", "2026-01-01T08:00:00Z", "1970-01-01T00:00:00Z"]


# -- 13. limits ----------------------------------------------------------------------------------

async def test_credit_capped_on_resulting_balance_debit_only_by_balance(shop):
    card = await shop.card("2990.00")
    assert (await shop.credit(card, "10.00"))["userErrors"] == []  # exactly the limit
    assert (await shop.credit(card, "0.01"))["userErrors"][0]["code"] == "GIFT_CARD_LIMIT_EXCEEDED"
    assert (await shop.debit(card, "3000.00"))["userErrors"] == []
    assert (await shop.debit(card, "0.01"))["userErrors"][0]["code"] == "INSUFFICIENT_FUNDS"
    state = await shop.state_card(card)
    assert state["balance"] == "0.0" and len(state["transactions"]) == 2


async def test_purchase_limit_caps_nothing(make_shop):
    shop = await make_shop(SandboxConfig(purchase_limit=Decimal("10")))
    card = await shop.card("100.00")
    assert (await shop.credit(card, "50.00"))["userErrors"] == []
    assert (await shop.debit(card, "150.00"))["userErrors"] == []


# -- 14. no giftCard on credit/debit payloads ----------------------------------------------------

@pytest.mark.parametrize(("field", "argument", "payload"), [
    ("giftCardDebit", "debitInput: {debitAmount: {amount: \"1\", currencyCode: USD}}", "GiftCardDebitPayload"),
    ("giftCardCredit", "creditInput: {creditAmount: {amount: \"1\", currencyCode: USD}}", "GiftCardCreditPayload"),
])
async def test_selecting_gift_card_on_credit_or_debit_payload_is_undefined_field(shop, field, argument, payload):
    card = await shop.card("10.00")
    body = await shop.gql(f"mutation($id: ID!) {{ {field}(id: $id, {argument}) {{ giftCard {{ id }} }} }}", {"id": card})
    assert "data" not in body
    assert body["errors"][0]["extensions"] == {"code": "undefinedField", "typeName": payload, "fieldName": "giftCard"}
    assert (await shop.state_card(card))["transactions"] == []


# -- 18. balance invariant -----------------------------------------------------------------------

async def test_balance_equals_initial_value_plus_transactions(shop):
    card = await shop.card("41.01")
    for amount in ("0.01", "12.00"):
        await shop.debit(card, amount)
    await shop.credit(card, "3.33")
    await shop.debit(card, "100.00")  # declined
    state = await shop.state_card(card)
    total = Decimal(state["initialValue"]) + sum(Decimal(t["amount"]) for t in state["transactions"])
    assert Decimal(state["balance"]) == total == Decimal("32.33")
    assert (await shop.read(card))["balance"]["amount"] == "32.33"


# -- 27, 28. serialised and not idempotent -------------------------------------------------------

async def test_concurrent_debits_never_overdraw(shop):
    card = await shop.card("100.00")
    results = await asyncio.gather(*(shop.debit(card, "10.00") for _ in range(25)))
    ok = [r for r in results if r["userErrors"] == []]
    declined = [r for r in results if r["userErrors"]]
    assert len(ok) == 10 and len(declined) == 15
    assert all(r["userErrors"][0]["code"] == "INSUFFICIENT_FUNDS" for r in declined)
    balances = sorted(Decimal(r["giftCardDebitTransaction"]["giftCard"]["balance"]["amount"]) for r in ok)
    assert balances == [Decimal(n * 10) for n in range(10)]  # each debit saw its own balance
    assert (await shop.state_card(card))["balance"] == "0.0"


async def test_same_mutation_twice_applies_twice(shop):
    card = await shop.card("100.00")
    variables = {"id": card, "input": {"debitAmount": {"amount": "10.00", "currencyCode": "USD"}, "note": "gca:v1:x"}}
    first = await shop.gql(DEBIT, variables)
    second = await shop.gql(DEBIT, variables)
    ids = {b["data"]["giftCardDebit"]["giftCardDebitTransaction"]["id"] for b in (first, second)}
    assert len(ids) == 2
    state = await shop.state_card(card)
    assert state["balance"] == "80.0" and [t["note"] for t in state["transactions"]] == ["gca:v1:x", "gca:v1:x"]
    created = [await shop.gql(CREATE, {"input": {"initialValue": "5", "note": "same"}}) for _ in range(2)]
    assert len({c["data"]["giftCardCreate"]["giftCard"]["id"] for c in created}) == 2


async def test_credit_document_shape(shop):
    card = await shop.card("10.00")
    body = await shop.gql(CREDIT, {"id": card, "input": {"creditAmount": {"amount": "5.00", "currencyCode": "USD"}}})
    assert body["data"]["giftCardCredit"]["giftCardCreditTransaction"]["giftCard"]["balance"]["amount"] == "15.0"
    assert body["extensions"]["cost"]["requestedQueryCost"] == 11


async def test_twenty_concurrent_debits_of_one_card_never_overdraw_it(shop):
    card = await shop.card("100.00")
    amounts = ["7.00", "3.50", "12.25", "9.99", "15.00"] * 4  # 190.96 asked of 100.00
    results = await asyncio.gather(*(shop.debit(card, amount, note=f"gca:v1:authorize:{n:032x}")
                                     for n, amount in enumerate(amounts)))
    applied = [r["giftCardDebitTransaction"] for r in results if r["userErrors"] == []]
    declined = [r for r in results if r["userErrors"]]
    assert applied and declined and len(applied) + len(declined) == 20
    assert all(r["userErrors"] == [{"field": AMOUNT, "code": "INSUFFICIENT_FUNDS", "message":
               "The gift card does not have sufficient funds to satisfy the request."}] for r in declined)
    state = await shop.state_card(card)
    spent = sum(-Decimal(t["amount"]) for t in state["transactions"])
    assert Decimal(state["balance"]) == Decimal("100.00") - spent >= 0
    assert len(state["transactions"]) == len(applied)
    # Each applied debit saw the balance the previous one left: the answers form one chain.
    after = sorted((Decimal(t["giftCard"]["balance"]["amount"]) for t in applied), reverse=True)
    assert after[-1] == Decimal(state["balance"])
    assert len(set(after)) == len(after)


async def test_credit_sent_twice_applies_twice(shop):
    card = await shop.card("10.00")
    variables = {"id": card, "input": {"creditAmount": {"amount": "2.50", "currencyCode": "USD"},
                                       "note": "gca:v1:refund:00000000000000000000000000000001"}}
    first = (await shop.gql(CREDIT, variables))["data"]["giftCardCredit"]["giftCardCreditTransaction"]
    second = (await shop.gql(CREDIT, variables))["data"]["giftCardCredit"]["giftCardCreditTransaction"]
    assert first["id"] != second["id"]
    assert second["giftCard"]["balance"]["amount"] == "15.0"
    assert [t["note"] for t in (await shop.state_card(card))["transactions"]] == [variables["input"]["note"]] * 2
