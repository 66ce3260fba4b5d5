"""One recorded exchange per upstream error code or shape (spec §5, §6, §8.1, §9, §11, §13),
through the pure mapping, to the port result or exception it must become."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from adapter.domain.money import Money
from adapter.ports import (
    DeclineReason,
    LedgerConfigurationError,
    LedgerDecline,
    LedgerOutcomeUnknown,
    LedgerSearchWarning,
)
from adapter.shopify import mapping

COST = {"cost": {"requestedQueryCost": 11, "actualQueryCost": 11,
                 "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1989, "restoreRate": 100.0}}}

CARD = {
    "id": "gid://shopify/GiftCard/663920574770", "lastCharacters": "7369", "enabled": True,
    "expiresOn": None, "deactivatedAt": None, "note": "gca:v1:issue:8d0f7c2b5e3a4f19b6c1d0e2a7f4b931",
    "createdAt": "2026-11-20T15:10:00Z", "balance": {"amount": "100.0", "currencyCode": "USD"},
}


def body(value: dict) -> mapping.Body:
    """Through the real parser: floats become Decimal, as on the wire."""
    return mapping.parse_body(json.dumps(value).encode())


def user_error_body(root: str, object_field: str, field: list[str], code: str | None, message: str) -> mapping.Body:
    return body({"data": {root: {object_field: None, "userErrors": [
        {"field": field, "code": code, "message": message}]}}, "extensions": COST})


# ---- successes -----------------------------------------------------------------------------

def test_debit_answer_recorded_shape() -> None:
    answer = body({"data": {"giftCardDebit": {"giftCardDebitTransaction": {
        "id": "gid://shopify/GiftCardDebitTransaction/247048503602",
        "note": "gca:v1:authorize:5f0c2e7a9b4d4e1f8a3c6d2b1e0f9a87", "processedAt": "2026-11-20T15:13:22Z",
        "amount": {"amount": "-30.0", "currencyCode": "USD"},
        "giftCard": {"id": "gid://shopify/GiftCard/663920574770", "balance": {"amount": "70.0", "currencyCode": "USD"}}},
        "userErrors": []}}, "extensions": COST})
    tx = mapping.debit_transaction(answer)
    assert tx.id == "gid://shopify/GiftCardDebitTransaction/247048503602"
    assert tx.amount == Money(Decimal("-30.00"), "USD")
    assert str(tx.amount.amount) == "-30.00"
    assert tx.note == "gca:v1:authorize:5f0c2e7a9b4d4e1f8a3c6d2b1e0f9a87"
    assert tx.processed_at == datetime(2026, 11, 20, 15, 13, 22, tzinfo=timezone.utc)
    assert tx.card_id == "gid://shopify/GiftCard/663920574770"
    assert tx.balance_after == Money(Decimal("70.00"), "USD")


def test_credit_answer() -> None:
    answer = body({"data": {"giftCardCredit": {"giftCardCreditTransaction": {
        "id": "gid://shopify/GiftCardCreditTransaction/1", "note": None, "processedAt": "2026-11-20T15:13:22+00:00",
        "amount": {"amount": "5.0", "currencyCode": "JPY"},
        "giftCard": {"id": "gid://shopify/GiftCard/2", "balance": {"amount": "505.0", "currencyCode": "JPY"}}},
        "userErrors": []}}})
    tx = mapping.credit_transaction(answer)
    assert tx.amount == Money(Decimal("5"), "JPY") and tx.note is None
    assert tx.balance_after.ledger_string() == "505"


def test_create_answer_with_money_trimmed_and_dates() -> None:
    answer = body({"data": {"giftCardCreate": {
        "giftCard": {**CARD, "expiresOn": "2027-01-31", "balance": {"amount": "3000.0", "currencyCode": "CAD"}},
        "giftCardCode": "k3v9q2m8x7p4t6w1", "userErrors": []}}, "extensions": COST})
    card = mapping.created_card(answer)
    assert card.balance.ledger_string() == "3000.00" and card.balance.currency == "CAD"
    assert card.expires_on == date(2027, 1, 31)
    assert card.created_at == datetime(2026, 11, 20, 15, 10, tzinfo=timezone.utc)
    assert card.last_characters == "7369" and card.enabled


def test_deactivate_answer_keeps_balance() -> None:
    answer = body({"data": {"giftCardDeactivate": {"giftCard": {
        **CARD, "enabled": False, "deactivatedAt": "2026-11-21T09:00:00Z"}, "userErrors": []}}})
    card = mapping.deactivated_card(answer)
    assert not card.enabled and card.deactivated_at == datetime(2026, 11, 21, 9, tzinfo=timezone.utc)
    assert card.balance.ledger_string() == "100.00"


def test_unknown_card_id_reads_as_none() -> None:
    assert mapping.read_card(body({"data": {"giftCard": None}, "extensions": COST})) is None


def test_transactions_page_newest_first_with_cursor() -> None:
    answer = body({"data": {"giftCard": {**CARD, "updatedAt": "2026-11-20T15:13:22Z", "transactions": {
        "nodes": [
            {"__typename": "GiftCardDebitTransaction", "id": "gid://shopify/GiftCardDebitTransaction/2",
             "note": "b", "processedAt": "2026-11-20T15:13:22Z", "amount": {"amount": "-1.0", "currencyCode": "USD"}},
            {"__typename": "GiftCardCreditTransaction", "id": "gid://shopify/GiftCardCreditTransaction/1",
             "note": None, "processedAt": "2026-11-20T15:12:00Z", "amount": {"amount": "41.01", "currencyCode": "USD"}},
        ],
        "pageInfo": {"hasNextPage": True, "endCursor": "opaque=="}}}}})
    page = mapping.transactions_page(answer)
    assert [t.amount.ledger_string() for t in page.transactions] == ["-1.00", "41.01"]
    assert page.transactions[0].card_id == CARD["id"]
    assert page.has_next_page and page.end_cursor == "opaque=="


def test_configuration() -> None:
    answer = body({"data": {"giftCardConfiguration": {
        "issueLimit": {"amount": "3000.0", "currencyCode": "CAD"},
        "purchaseLimit": {"amount": "1000.0", "currencyCode": "CAD"}}}})
    config = mapping.configuration(answer)
    assert config.issue_limit == Money(Decimal("3000.00"), "CAD")
    assert config.purchase_limit == Money(Decimal("1000.00"), "CAD")


def test_search_results() -> None:
    answer = body({"data": {"giftCards": {"nodes": [CARD]}}})
    assert [c.id for c in mapping.searched_cards(answer)] == [CARD["id"]]


def test_throttle_status_figures_are_numbers_even_as_floats() -> None:
    status = mapping.throttle_status(body({"extensions": COST}))
    assert status == mapping.ThrottleStatus(2000.0, 1989.0, 100.0, 11.0, 11.0)


def test_amounts_never_pass_through_float() -> None:
    # A float on the wire (not Shopify's shape, but possible) still parses exactly.
    parsed = mapping.parse_body(b'{"amount": 0.1}')
    assert parsed["amount"] == Decimal("0.1")


# ---- userErrors: spec §6 table ----------------------------------------------------------

DECLINES = [
    ("giftCardCreate", "giftCard", ["input", "initialValue"], "GREATER_THAN", "must be greater than 0"),
    ("giftCardCreate", "giftCard", ["input", "initialValue"], "GIFT_CARD_LIMIT_EXCEEDED", "can't exceed $3,000.00 CAD"),
    ("giftCardCreate", "giftCard", ["input", "code"], "TOO_SHORT", "Code must be at least 8 characters long"),
    ("giftCardCreate", "giftCard", ["input", "code"], "TOO_LONG", "Code must be at most 20 characters long"),
    ("giftCardCreate", "giftCard", ["input", "code"], "INVALID", "Code can only contain letters(a-z) and numbers(0-9)"),
    ("giftCardCreate", "giftCard", ["input", "customerId"], "CUSTOMER_NOT_FOUND", "The customer could not be found."),
    ("giftCardCredit", "giftCardCreditTransaction", ["creditInput", "creditAmount", "amount"],
     "NEGATIVE_OR_ZERO_AMOUNT", "A positive amount must be used."),
    ("giftCardCredit", "giftCardCreditTransaction", ["creditInput", "creditAmount", "currencyCode"],
     "MISMATCHING_CURRENCY", "The currency provided does not match the currency of the gift card."),
    ("giftCardDebit", "giftCardDebitTransaction", ["debitInput", "debitAmount", "currencyCode"],
     "MISMATCHING_CURRENCY", "The currency provided does not match the currency of the gift card."),
    ("giftCardCredit", "giftCardCreditTransaction", ["creditInput", "creditAmount", "amount"],
     "GIFT_CARD_LIMIT_EXCEEDED", "The gift card's value exceeds the allowed limits."),
    ("giftCardDebit", "giftCardDebitTransaction", ["debitInput", "debitAmount", "amount"],
     "INSUFFICIENT_FUNDS", "The gift card does not have sufficient funds to satisfy the request."),
    ("giftCardDebit", "giftCardDebitTransaction", ["id"], "INVALID", "The gift card has expired."),
    ("giftCardCredit", "giftCardCreditTransaction", ["id"], "INVALID", "The gift card is deactivated."),
    ("giftCardDebit", "giftCardDebitTransaction", ["debitInput", "processedAt"], "INVALID",
     "The processed date must not be in the future."),
    ("giftCardCredit", "giftCardCreditTransaction", ["creditInput", "processedAt"], "INVALID",
     "A valid processed date must be used."),
    ("giftCardDebit", "giftCardDebitTransaction", ["id"], "GIFT_CARD_NOT_FOUND", "The gift card could not be found."),
    ("giftCardDebit", "giftCardDebitTransaction", ["debitInput", "debitAmount", "amount"],
     "NEGATIVE_OR_ZERO_AMOUNT", "A positive amount must be used."),
    ("giftCardDeactivate", "giftCard", ["id"], "GIFT_CARD_NOT_FOUND", "The gift card could not be found."),
]

PARSERS = {
    "giftCardCreate": mapping.created_card,
    "giftCardDebit": mapping.debit_transaction,
    "giftCardCredit": mapping.credit_transaction,
    "giftCardDeactivate": mapping.deactivated_card,
}


@pytest.mark.parametrize(("root", "object_field", "field", "code", "message"), DECLINES,
                         ids=[f"{r}-{c}-{'.'.join(f)}" for r, _, f, c, _ in DECLINES])
def test_user_error_is_a_definite_decline(root, object_field, field, code, message) -> None:
    with pytest.raises(LedgerDecline) as caught:
        PARSERS[root](user_error_body(root, object_field, field, code, message))
    assert message in caught.value.detail and (code or "") in caught.value.detail
    assert caught.value.reason is not DeclineReason.CODE_TAKEN


def test_duplicate_code_has_null_code_and_is_spotted() -> None:
    with pytest.raises(LedgerDecline) as caught:
        mapping.created_card(user_error_body(
            "giftCardCreate", "giftCard", ["input", "code"], None, "Code has already been taken"))
    assert caught.value.reason is DeclineReason.CODE_TAKEN


@pytest.mark.parametrize("root", sorted(PARSERS))
def test_user_error_internal_error_is_unknown_on_writes(root: str) -> None:
    object_field = {"giftCardDebit": "giftCardDebitTransaction",
                    "giftCardCredit": "giftCardCreditTransaction"}.get(root, "giftCard")
    with pytest.raises(LedgerOutcomeUnknown):
        PARSERS[root](user_error_body(root, object_field, ["id"], "INTERNAL_ERROR", "Something went wrong"))


# ---- top-level errors ---------------------------------------------------------------------

THROTTLED = {"errors": [{"message": "Throttled", "extensions": {
    "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
    "extensions": {"cost": {"requestedQueryCost": 70, "actualQueryCost": None,
                            "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 66, "restoreRate": 50.0}}}}


@pytest.mark.parametrize("parse", [mapping.debit_transaction, mapping.read_card])
def test_throttled_is_a_resend_signal_with_the_spec_wait(parse) -> None:
    with pytest.raises(mapping.Throttled) as caught:
        parse(body(THROTTLED))
    assert caught.value.wait == pytest.approx((70 - 66) / 50.0)
    assert caught.value.requested == 70


ACCESS_DENIED = {"data": {"giftCard": None}, "errors": [{
    "message": "Access denied for transactions field. Required access: `read_gift_card_transactions` access scope.",
    "locations": [{"line": 3, "column": 5}], "path": ["giftCard", "transactions"],
    "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
                   "requiredAccess": "`read_gift_card_transactions` access scope."}}], "extensions": COST}

UNDEFINED_FIELD = {"errors": [{
    "message": "Field 'giftCard' doesn't exist on type 'GiftCardDebitPayload'",
    "locations": [{"line": 3, "column": 5}], "path": ["mutation DebitCard", "giftCardDebit", "giftCard"],
    "extensions": {"code": "undefinedField", "typeName": "GiftCardDebitPayload", "fieldName": "giftCard"}}]}

INVALID_VARIABLE = {"errors": [{
    "message": "Variable $input of type GiftCardCreateInput! was provided invalid value for code (secretcode123)",
    "locations": [{"line": 1, "column": 20}],
    "extensions": {"code": "INVALID_VARIABLE", "value": {"code": "secretcode123"},
                   "problems": [{"path": ["initialAmount"], "explanation": "Expected value to not be null"}]}}]}

MAX_COST = {"errors": [{"message": "Query cost is 1502, which exceeds the single query max cost limit (1000).",
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 1502, "maxCost": 1000}}],
            "extensions": {"cost": {"requestedQueryCost": 1502, "actualQueryCost": None}}}

MISSING_REQUIRED = {"errors": [{"message": "Argument 'debitAmount' on InputObject 'GiftCardDebitInput' is required.",
                                "extensions": {"code": "missingRequiredInputObjectAttribute"}}]}

RESOURCE_NOT_FOUND = {"data": {"giftCard": None}, "errors": [{"message": "Invalid id: nope",
                                                               "extensions": {"code": "RESOURCE_NOT_FOUND"}}]}


@pytest.mark.parametrize("answer", [ACCESS_DENIED, UNDEFINED_FIELD, INVALID_VARIABLE, MAX_COST,
                                    MISSING_REQUIRED, RESOURCE_NOT_FOUND],
                         ids=["ACCESS_DENIED", "undefinedField", "INVALID_VARIABLE", "MAX_COST_EXCEEDED",
                              "missingRequiredInputObjectAttribute", "RESOURCE_NOT_FOUND"])
@pytest.mark.parametrize("parse", [mapping.debit_transaction, mapping.read_card, mapping.transactions_page],
                         ids=["write", "read", "page"])
def test_validation_and_access_errors_are_configuration_errors(answer, parse) -> None:
    with pytest.raises(LedgerConfigurationError):
        parse(body(answer))


def test_invalid_variable_message_never_quotes_the_value() -> None:
    with pytest.raises(LedgerConfigurationError) as caught:
        mapping.created_card(body(INVALID_VARIABLE))
    assert "secretcode123" not in str(caught.value)
    assert "INVALID_VARIABLE" in str(caught.value) and "initialAmount" in str(caught.value)


INTERNAL = {"errors": [{"message": "Internal error. Looks like something went wrong on our end.\nRequest ID: abc",
                        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "abc"}}]}


@pytest.mark.parametrize("parse", list(PARSERS.values()), ids=list(PARSERS))
def test_internal_server_error_is_unknown_on_writes(parse) -> None:
    with pytest.raises(LedgerOutcomeUnknown):
        parse(body(INTERNAL))


@pytest.mark.parametrize("parse", [mapping.read_card, mapping.transactions_page, mapping.searched_cards,
                                   mapping.configuration])
def test_internal_server_error_is_retryable_on_reads(parse) -> None:
    with pytest.raises(mapping.RetryableError):
        parse(body(INTERNAL))


def test_write_that_ran_but_errored_in_a_nested_field_is_unknown_not_declined() -> None:
    answer = {"data": {"giftCardDebit": {"giftCardDebitTransaction": {"id": "x"}, "userErrors": []}},
              "errors": [{"message": "Access denied", "extensions": {"code": "ACCESS_DENIED"}}]}
    with pytest.raises(LedgerOutcomeUnknown):
        mapping.debit_transaction(body(answer))


def test_write_with_neither_object_nor_user_error_is_unknown() -> None:
    with pytest.raises(LedgerOutcomeUnknown):
        mapping.debit_transaction(body({"data": {"giftCardDebit": {"giftCardDebitTransaction": None, "userErrors": []}}}))


def test_write_with_unreadable_success_is_unknown() -> None:
    answer = {"data": {"giftCardDebit": {"giftCardDebitTransaction": {"id": "x", "amount": {"amount": "abc"}},
                                         "userErrors": []}}}
    with pytest.raises(LedgerOutcomeUnknown):
        mapping.debit_transaction(body(answer))


def test_search_warning_fails_the_search_without_quoting_the_query() -> None:
    answer = body({"data": {"giftCards": {"nodes": [CARD]}}, "extensions": {"search": [{
        "path": ["giftCards"], "query": "a5bh6h64b329j4k7 updated_at:>=2026-07-14",
        "parsed": {"field": "updated_at", "range_gte": "2026-07-14"},
        "warnings": [{"field": "updated_at", "message": "Invalid search field for this query.", "code": "invalid_field"}]}],
        **COST}})
    with pytest.raises(LedgerSearchWarning) as caught:
        mapping.searched_cards(answer)
    assert "updated_at" in str(caught.value) and "a5bh6h64b329j4k7" not in str(caught.value)


def test_rest_style_401_body_maps_to_configuration_error() -> None:
    answer = body({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
    assert mapping.error_codes(answer) == ["UNKNOWN"]
    with pytest.raises(LedgerConfigurationError):
        mapping.read_card(answer)


def test_non_json_body_is_malformed() -> None:
    with pytest.raises(mapping.MalformedResponse):
        mapping.parse_body(b"<html>502 Bad Gateway</html>")
