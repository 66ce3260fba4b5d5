"""Every Shopify outcome the spec lists maps, through our decline vocabulary, onto the NewStore
answer it prescribes (§4)."""

import pytest

from adapter.domain.errors import ConfigurationFault, Decline, InvalidInput, RetryLater
from adapter.http.errors import from_use_case
from adapter.ports import (
    DeclineReason,
    LedgerConfigurationError,
    LedgerOutcomeUnknown,
    LedgerSearchWarning,
    LedgerUnavailable,
)
from adapter.services.ledger_errors import decline_from, transient_from
from adapter.shopify.mapping import decline


@pytest.mark.parametrize(("code", "field", "message", "status", "error_code", "ours"), [
    ("INSUFFICIENT_FUNDS", ["debitInput", "debitAmount", "amount"],
     "The gift card does not have sufficient funds to satisfy the request.", 400, "instrument_error",
     "insufficient funds on the gift card"),
    ("INVALID", ["id"], "The gift card has expired.", 400, "instrument_error", "gift card has expired"),
    ("INVALID", ["id"], "The gift card is deactivated.", 400, "instrument_error", "gift card is deactivated"),
    ("GIFT_CARD_NOT_FOUND", ["id"], "The gift card could not be found.", 400, "instrument_error", "unknown gift card"),
    ("MISMATCHING_CURRENCY", ["debitInput", "debitAmount", "currencyCode"],
     "The currency provided does not match the currency of the gift card.", 400, "instrument_error",
     "currency does not match the gift card's currency"),
    ("GIFT_CARD_LIMIT_EXCEEDED", ["creditInput", "creditAmount", "amount"],
     "The gift card's value exceeds the allowed limits.", 400, "instrument_error", "amount exceeds the gift card limit"),
    ("GIFT_CARD_LIMIT_EXCEEDED", ["input", "initialValue"], "can't exceed $3,000.00 CAD", 400, "instrument_error",
     "amount exceeds the gift card limit"),
    ("TOO_SHORT", ["input", "code"], "Code must be at least 8 characters long", 400, "bad_request", "card_number:"),
    ("TOO_LONG", ["input", "code"], "Code must be at most 20 characters long", 400, "bad_request", "card_number:"),
    ("INVALID", ["input", "code"], "Code can only contain letters(a-z) and numbers(0-9)", 400, "bad_request", "card_number:"),
    ("GREATER_THAN", ["input", "initialValue"], "must be greater than 0", 400, "bad_request", "amount.value:"),
    ("NEGATIVE_OR_ZERO_AMOUNT", ["creditInput", "creditAmount", "amount"], "A positive amount must be used.", 400,
     "bad_request", "amount.value:"),
])
def test_user_errors(code, field, message, status, error_code, ours):
    answer = from_use_case(decline_from(decline(code, field, message)))
    assert (answer.status, answer.error_code) == (status, error_code)
    assert answer.message.startswith(ours)
    assert message not in answer.message or message == ours  # Shopify's wording stays inside


def test_code_taken_is_recognised_by_its_null_code():
    assert decline(None, ["input", "code"], "Code has already been taken").reason is DeclineReason.CODE_TAKEN
    invalid = decline("INVALID", ["input", "code"], "Code can only contain letters(a-z) and numbers(0-9)")
    assert invalid.reason is DeclineReason.INVALID_CODE


@pytest.mark.parametrize(("error", "status", "error_code"), [
    (LedgerUnavailable("throttled past the deadline", 2.0), 503, "retry_error"),
    (LedgerUnavailable("shop frozen (402)"), 503, "retry_error"),
    (LedgerOutcomeUnknown("read timeout after sending"), 503, "retry_error"),
    (LedgerConfigurationError("ACCESS_DENIED"), 500, "internal_error"),
    (LedgerConfigurationError("undefinedField"), 500, "internal_error"),
    (LedgerSearchWarning("invalid_field"), 500, "internal_error"),
])
def test_transport_outcomes(error, status, error_code):
    answer = from_use_case(transient_from(error))
    assert (answer.status, answer.error_code) == (status, error_code)
    if status == 503:
        assert answer.retry_after is not None and answer.retry_after >= 1
    assert "ACCESS_DENIED" not in answer.message and "undefinedField" not in answer.message


def test_use_case_errors_map_to_the_error_table():
    assert from_use_case(Decline("x")).status == 400
    assert from_use_case(InvalidInput("amount.value", "bad")).message == "amount.value: bad"
    assert from_use_case(RetryLater("later", 3)).retry_after == 3
    assert from_use_case(ConfigurationFault("secret detail")).message == "internal error"
