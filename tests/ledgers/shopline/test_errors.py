"""errors.py, one row of its table per case: an answer shaped as SHOPLINE documents its errors
(the status, JSON `{"errors": "<text>"}`, a traceId header), and the failure it must become.

The texts are the emulator's (SHOPLINE documents none but 429's); the second test shows the
matching does not hang on their exact wording."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from adapter.ledgers.rest import RestAnswer
from adapter.ports import (
    DeclineReason,
    LedgerConfigurationError,
    LedgerDecline,
    LedgerUnavailable,
)
from adapter.shopline.errors import decline_reason, raise_for, scrub


def recorded(status: int, errors: object) -> RestAnswer:
    headers = CIMultiDict({"Content-Type": "application/json; charset=utf-8",
                           "traceId": "0b4e8d2f6a1c4e0f9d3b7a5c1e2f4d6a"})
    return RestAnswer(status, {"errors": errors}, headers, headers["traceId"])


UNAUTHORIZED = "Unauthorized: the access token is missing, invalid or expired"

# (status, errors, write, card_scoped) -> (exception, reason or None)
ROWS = [
    pytest.param(401, UNAUTHORIZED, False, False, LedgerConfigurationError, None, id="401 bad token"),
    pytest.param(403, "Forbidden: the access token lacks the scope write_gift_card", True, True,
                 LedgerConfigurationError, None, id="403 missing scope"),
    pytest.param(402, "Payment Required: the store is frozen; the owner must settle the outstanding balance",
                 True, True, LedgerUnavailable, None, id="402 frozen store"),
    pytest.param(423, "Locked: the store is locked; contact SHOPLINE", False, True, LedgerUnavailable, None,
                 id="423 locked store"),
    pytest.param(404, "gift card not found", True, True, LedgerDecline, DeclineReason.CARD_NOT_FOUND,
                 id="404 on a card"),
    pytest.param(404, "Not Found", True, False, LedgerConfigurationError, None, id="404 on a path (version)"),
    pytest.param(422, "code has already been taken", True, False, LedgerDecline, DeclineReason.CODE_TAKEN,
                 id="422 code taken"),
    pytest.param(422, "code may only contain lowercase letters a-z and digits 0-9", True, False, LedgerDecline,
                 DeclineReason.INVALID_CODE, id="422 code rule"),
    pytest.param(422, "balance must be greater than or equal to 0", True, True, LedgerDecline,
                 DeclineReason.INVALID_AMOUNT, id="422 amount"),
    pytest.param(422, "gift card is disabled and can't be updated", True, True, LedgerDecline,
                 DeclineReason.DEACTIVATED, id="422 disabled card"),
    pytest.param(422, "gift card has expired", True, True, LedgerDecline, DeclineReason.EXPIRED, id="422 expired"),
    pytest.param(422, "note is too long (maximum is 500 characters)", True, False, LedgerDecline,
                 DeclineReason.OTHER, id="422 other"),
    pytest.param(422, "limit must be between 1 and 100", False, True, LedgerConfigurationError, None,
                 id="422 on a read"),
    pytest.param(400, "gift_card - Required parameter missing or invalid", True, False, LedgerConfigurationError,
                 None, id="400 our request"),
    pytest.param(405, "Method Not Allowed", True, True, LedgerConfigurationError, None, id="other 4xx"),
    pytest.param(408, "Request Timeout", True, True, LedgerUnavailable, None, id="408"),
]


@pytest.mark.parametrize("status, errors, write, card_scoped, failure, reason", ROWS)
def test_each_documented_answer_maps_to_its_failure(status, errors, write, card_scoped, failure, reason):
    with pytest.raises(failure) as raised:
        raise_for(recorded(status, errors), operation="op", write=write, card_scoped=card_scoped)
    assert type(raised.value) is failure
    if reason is not None:
        assert raised.value.reason is reason
    if failure is LedgerUnavailable and status in (402, 423):
        assert raised.value.retry_after >= 30  # the owner must act; no point in hammering


@pytest.mark.parametrize("text, reason", [
    ("code must be 8 to 20 characters long", DeclineReason.INVALID_CODE),
    ("This gift card code already exists", DeclineReason.CODE_TAKEN),
    ("Duplicate code", DeclineReason.CODE_TAKEN),
    ("Gift card is inactive", DeclineReason.DEACTIVATED),
    ("gift card is already disabled", DeclineReason.DEACTIVATED),
    ("The gift card is expired", DeclineReason.EXPIRED),
    ("expires_on must be an ISO 8601 time", DeclineReason.OTHER),  # about a field, not an expired card
    ("initial_value has more decimal places than USD allows (2)", DeclineReason.INVALID_AMOUNT),
    ("Amount is invalid", DeclineReason.INVALID_AMOUNT),
    ("Something unexpected", DeclineReason.OTHER),
    ("", DeclineReason.OTHER),
])
def test_422_texts_are_matched_by_their_words_not_their_wording(text, reason):
    assert decline_reason(text) is reason


def test_errors_as_a_list_or_per_field_are_read_too():
    with pytest.raises(LedgerDecline) as declined:
        raise_for(recorded(422, {"code": ["has already been taken"]}), operation="op", write=True, card_scoped=False)
    assert declined.value.reason is DeclineReason.CODE_TAKEN
    with pytest.raises(LedgerDecline) as declined:
        raise_for(recorded(422, ["gift card has expired"]), operation="op", write=True, card_scoped=True)
    assert declined.value.reason is DeclineReason.EXPIRED
    no_body = RestAnswer(422, None, {}, None)
    with pytest.raises(LedgerDecline) as declined:
        raise_for(no_body, operation="op", write=True, card_scoped=True)
    assert declined.value.reason is DeclineReason.OTHER


def test_a_code_quoted_by_the_vendor_never_reaches_the_exception():
    for code in ("mycode0123456789", "abcdefghijklmnop"):
        with pytest.raises(LedgerDecline) as declined:
            raise_for(recorded(422, f"code {code} has already been taken"), operation="op", write=True,
                      card_scoped=False, secrets=(code,))
        assert declined.value.reason is DeclineReason.CODE_TAKEN
        assert code not in str(declined.value) and code not in declined.value.detail
    assert scrub("code 7c9f2k1m8q0z3x5v is taken") == "code [redacted] is taken"
    assert len(scrub("x " * 500)) <= 203
