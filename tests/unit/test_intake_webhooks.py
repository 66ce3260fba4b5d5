"""The intake's pure parts (issue #12): webhook signatures, what a webhook body names, how a
presented code is read, the order's cards from Shopify's answer, and the webhook settings."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from adapter.http.webhook_auth import valid_base64, valid_hex_or_base64
from adapter.http.webhook_payloads import shopify_signal, shopline_signal
from adapter.ports import LedgerSearchWarning
from adapter.services.intake import PresentedCode
from adapter.settings import Settings, SettingsError
from adapter.shopify.mapping import order_cards_page

BODY = b'{"id": 1, "note": "caf\xc3\xa9"}'
SECRET, OTHER = "s" * 32, "o" * 32


def digest(secret: str, body: bytes = BODY) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def test_shopify_signature_is_base64_under_any_accepted_secret():
    signature = base64.b64encode(digest(SECRET)).decode()
    assert valid_base64(BODY, signature, (SECRET,))
    assert valid_base64(BODY, signature, (OTHER, SECRET))  # a rotation: either secret
    assert not valid_base64(BODY, signature, (OTHER,))
    assert not valid_base64(BODY + b" ", signature, (SECRET,))
    assert not valid_base64(BODY, digest(SECRET).hex(), (SECRET,))  # Shopify's is base64 only
    for bad in (None, "", "not base64!", "é", base64.b64encode(b"short").decode()):
        assert not valid_base64(BODY, bad, (SECRET,))
    assert not valid_base64(BODY, signature, ())


def test_shopline_signature_is_hex_or_base64():
    raw = digest(SECRET)
    for signature in (raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(), f" {raw.hex()} "):
        assert valid_hex_or_base64(BODY, signature, (SECRET,)), signature
    for signature in (digest(OTHER).hex(), raw.hex()[:-2], "", None, "zz" * 32):
        assert not valid_hex_or_base64(BODY, signature, (SECRET,)), signature


def test_an_order_payload_names_the_cards_it_sold_and_the_cards_that_paid():
    order = {"id": 5601000000001, "admin_graphql_api_id": "gid://shopify/Order/5601000000001",
             "line_items": [{"gift_card": True, "quantity": 2}, {"gift_card": False, "quantity": 3},
                            {"gift_card": True}],
             "refunds": [{"transactions": [{"gateway": "gift_card", "status": "success", "kind": "refund",
                                            "receipt": {"gift_card_id": 12}}]}],
             "transactions": [{"gateway": "gift_card", "status": "failure", "receipt": {"gift_card_id": 13}},
                              {"gateway": "shopify_payments", "status": "success", "receipt": {"gift_card_id": 14}}]}
    paid = shopify_signal("orders/paid", "e-1", order)
    assert paid.orders == (("5601000000001", 3),)
    assert paid.card_ids == ("gid://shopify/GiftCard/12",)
    assert paid.cause == "online_checkout" and paid.order_ref == "gid://shopify/Order/5601000000001"
    assert shopify_signal("orders/cancelled", "e-2", order).cause == "order_refund"
    assert shopify_signal("orders/paid", "e-3", {"id": "x", "line_items": "nonsense"}).orders == ()


def test_a_transaction_payload_names_its_gift_card():
    sale = {"order_id": 7, "kind": "sale", "gateway": "gift_card", "status": "success",
            "receipt": {"gift_card_id": "gid://shopify/GiftCard/99", "gift_card_last_characters": "abcd"}}
    signal = shopify_signal("order_transactions/create", "e-1", sale)
    assert signal.card_ids == ("gid://shopify/GiftCard/99",) and signal.cause == "online_checkout"
    assert signal.order_ref == "gid://shopify/Order/7"
    assert shopify_signal("order_transactions/create", "e-2", {**sale, "kind": "refund"}).cause == "order_refund"
    for odd in ({**sale, "gateway": "manual"}, {**sale, "receipt": {"gift_card_id": True}},
                {**sale, "receipt": {"gift_card_id": "gid://shopify/Order/99"}}, {**sale, "receipt": None}):
        assert shopify_signal("order_transactions/create", "e-3", odd).card_ids == ()


def test_a_refund_payload_names_its_cards_and_a_refunded_gift_card_sale():
    refund = {"order_id": 7, "transactions": [{"gateway": "gift_card", "kind": "refund", "status": "success",
                                               "receipt": {"gift_card_id": 5}}],
              "refund_line_items": [{"line_item": {"gift_card": True}}]}
    signal = shopify_signal("refunds/create", "e-1", refund)
    assert signal.card_ids == ("gid://shopify/GiftCard/5",) and signal.orders == (("7", 0),)
    assert signal.cause == "order_refund"


def test_shopline_payload_hints_and_cause():
    signal = shopline_signal("t", "w-1", {"gift_card_code": "abcdefgh1234", "current_balance": 1000,
                                          "scene_type": "PURCHASE_PAYMENT"})
    assert signal.cause == "online_checkout" and signal.balance_hint == 1000 and signal.code is not None
    assert shopline_signal("t", "w-2", {"scene_type": "RETURN_INCREASE"}).cause == "order_refund"
    odd = shopline_signal("t", "w-3", {"gift_card_code": 5, "current_balance": 10.5, "scene_type": "CARD_DIABLED"})
    assert odd.code is None and odd.balance_hint is None and odd.cause is None


def test_a_presented_code_hides_itself_and_shows_only_what_a_mask_leaves():
    code = PresentedCode("secretcode001234")
    assert "secret" not in repr(code) and "1234" not in str(code)
    assert PresentedCode("************0042").last_characters() == "0042"
    assert PresentedCode("•••• •••• •••• AB12").last_characters() == "ab12"
    assert PresentedCode("240acd").last_characters() == "0acd"
    assert PresentedCode("****12").last_characters() is None


def node(card_id: int, order: str | None) -> dict:
    return {"id": f"gid://shopify/GiftCard/{card_id}", "lastCharacters": "abcd", "enabled": True,
            "balance": {"amount": "5.0", "currencyCode": "USD"}, "order": {"id": order} if order else None}


def test_an_orders_cards_are_only_those_whose_order_is_it():
    order = "gid://shopify/Order/7"
    body = {"data": {"giftCards": {"nodes": [node(1, order), node(2, "gid://shopify/Order/8"), node(3, None)],
                                   "pageInfo": {"hasNextPage": True, "endCursor": "c1"}}}}
    page = order_cards_page(body, order)
    assert [c.id for c in page.cards] == ["gid://shopify/GiftCard/1"] and page.foreign == 2
    assert page.has_next_page and page.end_cursor == "c1"
    warned = {**body, "extensions": {"search": [{"warnings": [{"field": "order_id", "code": "invalid_field",
                                                               "message": "Invalid search field for this query."}]}]}}
    with pytest.raises(LedgerSearchWarning):
        order_cards_page(warned, order)  # an ignored filter: the list is unfiltered, never trusted


def production(**values) -> Settings:
    return Settings(database_url="postgresql://u@db/gca", shopify_shop_domain="example", shopify_access_token="t",
                    newstore_api_keys="k" * 32, card_code_key="c" * 40, **values)


def test_webhook_secrets_are_listed_for_rotation_and_must_be_long_in_production():
    settings = production(shopify_webhook_secrets=f" {SECRET}, {OTHER} ")
    settings.check()
    assert settings.shopify_webhook_secret_list == (SECRET, OTHER)
    with pytest.raises(SettingsError) as error:
        production(shopify_webhook_secrets=f"{SECRET},short").check()
    assert "SHOPIFY_WEBHOOK_SECRETS" in str(error.value) and "secret 2" in str(error.value)
    assert "short" not in str(error.value)
    production().check()  # optional: without it Shopify's webhooks are refused and the poller remains


def test_odd_shapes_in_a_signed_body_are_skipped_not_failed():
    refund = {"order_id": "7", "transactions": ["x", {"gateway": "gift_card", "receipt": "y"}],
              "refund_line_items": [{"line_item": "z"}, "w"]}
    signal = shopify_signal("refunds/create", "e-1", refund)
    assert signal.card_ids == () and signal.orders == ()
    order = {"id": True, "line_items": [{"gift_card": True, "quantity": "2"}], "refunds": "r", "transactions": {}}
    assert shopify_signal("orders/paid", "e-2", order).orders == ()
