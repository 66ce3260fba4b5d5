"""§14 items 6-9: giftCardCreate, initial value limits, code rules, masked code, expiry."""

from __future__ import annotations

import re

import pytest

from giftcard_emulators.shopify.config import SandboxConfig
from tests.sandbox.conftest import CREATE


# -- 6. initial value ----------------------------------------------------------------------------

async def test_initial_amount_and_deprecated_initial_value_both_create(shop):
    modern = await shop.create("50.00")
    assert modern["userErrors"] == []
    assert modern["giftCard"]["balance"] == {"amount": "50.0", "currencyCode": "USD"}
    legacy = (await shop.gql(CREATE, {"input": {"initialValue": "7.50"}}))["data"]["giftCardCreate"]
    assert legacy["userErrors"] == []
    assert legacy["giftCard"]["initialValue"] == {"amount": "7.5", "currencyCode": "USD"}


@pytest.mark.parametrize("amount", ["0", "0.00", "-5.00"])
async def test_non_positive_initial_value_is_greater_than(shop, amount):
    result = await shop.create(amount)
    assert result == {"giftCard": None, "giftCardCode": None, "userErrors": [
        {"field": ["input", "initialValue"], "code": "GREATER_THAN", "message": "must be greater than 0"}]}


async def test_issue_limit_caps_create_and_exactly_the_limit_succeeds(make_shop):
    shop = await make_shop(SandboxConfig(currency="CAD"))
    over = await shop.create("3000.01", "CAD")
    assert over["userErrors"] == [{"field": ["input", "initialValue"], "code": "GIFT_CARD_LIMIT_EXCEEDED",
                                   "message": "can't exceed $3,000.00 CAD"}]
    exact = await shop.create("3000.00", "CAD")
    assert exact["userErrors"] == []
    assert exact["giftCard"]["balance"]["amount"] == "3000.0"
    legacy = (await shop.gql(CREATE, {"input": {"initialValue": "3001"}}))["data"]["giftCardCreate"]
    assert legacy["userErrors"][0]["code"] == "GIFT_CARD_LIMIT_EXCEEDED"
    assert len((await shop.state())["cards"]) == 1


async def test_issue_limit_follows_runtime_config(shop):
    await shop.control("POST", "/sandbox/config", {"issue_limit": "500"})
    over = await shop.create("500.01")
    assert over["userErrors"][0]["message"] == "can't exceed $500.00 USD"
    assert (await shop.create("500"))["userErrors"] == []


# -- 7. codes ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "error_code", "message"), [
    ("abc1234", "TOO_SHORT", "Code must be at least 8 characters long"),
    ("a" * 21, "TOO_LONG", "Code must be at most 20 characters long"),
    ("abcd_1234", "INVALID", "Code can only contain letters(a-z) and numbers(0-9)"),
    ("abcd 1234", "INVALID", "Code can only contain letters(a-z) and numbers(0-9)"),
])
async def test_code_rules_have_exact_messages(shop, code, error_code, message):
    result = await shop.create(code=code)
    assert result["userErrors"] == [{"field": ["input", "code"], "code": error_code, "message": message}]
    assert result["giftCard"] is None and result["giftCardCode"] is None


async def test_codes_of_8_and_20_characters_are_accepted(shop):
    assert (await shop.create(code="abcd1234"))["giftCardCode"] == "abcd1234"
    assert (await shop.create(code="x" * 20))["giftCardCode"] == "x" * 20


async def test_code_is_lower_cased_and_duplicates_are_refused_with_null_code(shop):
    made = await shop.create(code="MUEmrkp4zsy")
    assert made["giftCardCode"] == "muemrkp4zsy"
    for again in ("muemrkp4zsy", "MUEMRKP4ZSY"):
        result = await shop.create(code=again)
        assert result["userErrors"] == [{"field": ["input", "code"], "code": None,
                                         "message": "Code has already been taken"}]
    assert [card["code"] for card in (await shop.state())["cards"]] == ["muemrkp4zsy"]


async def test_code_of_a_seeded_card_counts_as_taken(shop):
    await shop.seed(code="boughtonline0001")
    result = await shop.create(code="BOUGHTONLINE0001")
    assert result["userErrors"][0]["message"] == "Code has already been taken"


async def test_omitted_code_is_16_generated_characters(shop):
    codes = {(await shop.create())["giftCardCode"] for _ in range(5)}
    assert len(codes) == 5
    assert all(re.fullmatch(r"[a-z0-9]{16}", code) for code in codes)


async def test_full_code_is_only_in_the_create_payload(shop):
    made = await shop.create(code="secretcode123456")
    card_id = made["giftCard"]["id"]
    assert "secretcode123456" not in str(made["giftCard"])
    await shop.debit(card_id, "1.00")
    everything = """query($id: ID!) { giftCard(id: $id) { id lastCharacters maskedCode note templateSuffix
        transactions(first: 5) { nodes { id note giftCard { lastCharacters maskedCode } } } }
        giftCards(first: 5) { nodes { id lastCharacters maskedCode } edges { cursor } } }"""
    body = await shop.gql(everything, {"id": card_id})
    assert "secretcode123456" not in str(body)
    assert "3456" in str(body)


# -- 8, 9. last characters, mask, expiry, no transaction -----------------------------------------

async def test_last_characters_and_masked_code(shop):
    card = (await shop.create(code="ABCDEFGH7369"))["giftCard"]
    assert card["lastCharacters"] == "7369"
    assert card["maskedCode"] == "•••• •••• •••• 7369"
    upper = (await shop.create(code="ZZZZZZZZBH4D"))["giftCard"]
    assert upper["lastCharacters"] == "bh4d"


async def test_past_expiry_is_accepted_and_create_makes_no_transaction(shop):
    made = await shop.create("20.00", expiresOn="2020-01-01", note="gca:v1:issue:abc")
    card = made["giftCard"]
    assert made["userErrors"] == []
    assert card["expiresOn"] == "2020-01-01" and card["enabled"] is True
    assert card["note"] == "gca:v1:issue:abc"
    state = await shop.state_card(card["id"])
    assert state["transactions"] == [] and state["balance"] == state["initialValue"] == "20.0"


async def test_omitted_optional_inputs_read_back_null(shop):
    card = (await shop.create())["giftCard"]
    assert card["note"] is None and card["expiresOn"] is None


async def test_generated_code_is_masked_by_its_own_last_four(shop):
    made = await shop.create()
    code = made["giftCardCode"]
    assert made["giftCard"]["lastCharacters"] == code[-4:]
    assert made["giftCard"]["maskedCode"] == "•••• •••• •••• " + code[-4:]
    read = await shop.gql("query($id: ID!) { giftCard(id: $id) { lastCharacters maskedCode } }",
                          {"id": made["giftCard"]["id"]})
    assert read["data"]["giftCard"] == {"lastCharacters": code[-4:], "maskedCode": "•••• •••• •••• " + code[-4:]}
    assert code not in str(read)
