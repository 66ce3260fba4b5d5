"""§14 items 15-16: giftCardDeactivate and giftCardUpdate."""

from __future__ import annotations

from tests.sandbox.conftest import DEACTIVATE, UPDATE


# -- 15. deactivate ------------------------------------------------------------------------------

async def test_deactivate_keeps_balance_bumps_updated_at_and_repeats_with_original_time(shop):
    card = await shop.card("10.00")
    created = await shop.read(card)
    shop.clock.advance(seconds=30)
    first = (await shop.gql(DEACTIVATE, {"id": card}))["data"]["giftCardDeactivate"]
    assert first["userErrors"] == []
    assert first["giftCard"]["enabled"] is False
    assert first["giftCard"]["deactivatedAt"] == "2026-11-20T15:13:52Z"
    assert first["giftCard"]["balance"] == {"amount": "10.0", "currencyCode": "USD"}
    assert first["giftCard"]["updatedAt"] == "2026-11-20T15:13:52Z" != created["updatedAt"]
    shop.clock.advance(seconds=30)
    second = (await shop.gql(DEACTIVATE, {"id": card}))["data"]["giftCardDeactivate"]
    assert second["userErrors"] == []
    assert second["giftCard"]["deactivatedAt"] == "2026-11-20T15:13:52Z"


async def test_deactivate_unknown_card(shop):
    body = (await shop.gql(DEACTIVATE, {"id": "gid://shopify/GiftCard/77"}))["data"]["giftCardDeactivate"]
    assert body == {"giftCard": None, "userErrors": [
        {"field": ["id"], "code": "GIFT_CARD_NOT_FOUND", "message": "The gift card could not be found."}]}


# -- 16. update ----------------------------------------------------------------------------------

async def test_update_is_key_based_and_bumps_updated_at(shop):
    card = await shop.card("10.00", note="old", expiresOn="2030-01-01")
    shop.clock.advance(seconds=5)
    same = (await shop.gql(UPDATE, {"id": card, "input": {"note": "old"}}))["data"]["giftCardUpdate"]
    assert same["userErrors"] == [] and same["giftCard"]["updatedAt"] == "2026-11-20T15:13:27Z"
    cleared = (await shop.gql(UPDATE, {"id": card, "input": {"note": None, "templateSuffix": "gift_card.birthday"}}))
    card_view = cleared["data"]["giftCardUpdate"]["giftCard"]
    assert card_view["note"] is None and card_view["expiresOn"] == "2030-01-01"
    assert card_view["templateSuffix"] == "birthday"
    moved = (await shop.gql(UPDATE, {"id": card, "input": {"expiresOn": None}}))["data"]["giftCardUpdate"]
    assert moved["giftCard"]["expiresOn"] is None


async def test_update_user_errors_have_no_code(shop):
    card = await shop.card("10.00")
    empty = (await shop.gql(UPDATE, {"id": card, "input": {}}))["data"]["giftCardUpdate"]
    assert empty == {"giftCard": None, "userErrors": [
        {"field": ["input"], "message": "At least one argument is required in the input."}]}
    unknown = (await shop.gql(UPDATE, {"id": "gid://shopify/GiftCard/404", "input": {"note": "x"}}))
    assert unknown["data"]["giftCardUpdate"]["userErrors"] == [
        {"field": ["id"], "message": "The gift card could not be found."}]
    await shop.gql(DEACTIVATE, {"id": card})
    # An existing customer: an unknown one is refused before anything else (test_customers_sorting_settings).
    await shop.control("POST", "/sandbox/customers", {"id": 1}, expect=201)
    both = {"customerId": "gid://shopify/Customer/1", "expiresOn": "2030-01-01"}
    dead = (await shop.gql(UPDATE, {"id": card, "input": both}))["data"]["giftCardUpdate"]
    assert dead["userErrors"] == [{"field": ["input", "expiresOn"], "message": "The gift card is deactivated."}]
    customer = (await shop.gql(UPDATE, {"id": card, "input": {"customerId": "gid://shopify/Customer/1"}}))
    assert customer["data"]["giftCardUpdate"]["userErrors"] == [
        {"field": ["input", "customerId"], "message": "The gift card is deactivated."}]
    note = (await shop.gql(UPDATE, {"id": card, "input": {"note": "still allowed"}}))["data"]["giftCardUpdate"]
    assert note["userErrors"] == [] and note["giftCard"]["note"] == "still allowed"
    selected_code = await shop.gql("""mutation($id: ID!) { giftCardUpdate(id: $id, input: {note: "x"}) {
        userErrors { field code message } } }""", {"id": card})
    assert selected_code["errors"][0]["extensions"]["code"] == "undefinedField"
