"""Gift Card Hero's error answers -> port failures: one answer per row of adapter.gifthero.errors'
table, shaped as the emulator (model.UNDOCUMENTED: Shopify REST style) or Shopify REST answers."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.gifthero import errors
from adapter.ports import (
    DeclineReason,
    LedgerConfigurationError,
    LedgerDecline,
    LedgerOutcomeUnknown,
    LedgerUnavailable,
)

CODE = "k3v9q2m7x1c8b4n6"

# (row, status, body, operation, write, expected type, expected reason)
ROWS: list[tuple[str, int, Any, str, bool, type, DeclineReason | None]] = [
    ("401 bad token", 401, {"errors": "Unauthorized"}, "get", False, LedgerConfigurationError, None),
    ("403 no access", 403, {"errors": "Forbidden"}, "create", True, LedgerConfigurationError, None),
    ("400 malformed", 400, {"errors": "body must be JSON"}, "create", True, LedgerConfigurationError, None),
    ("404 card write", 404, {"errors": "Not Found"}, "set_balance", True, LedgerDecline, DeclineReason.CARD_NOT_FOUND),
    ("404 disable", 404, {"errors": "Not Found"}, "disable", True, LedgerDecline, DeclineReason.CARD_NOT_FOUND),
    ("404 no endpoint", 404, "404: Not Found", "create", True, LedgerConfigurationError, None),
    ("402 frozen shop", 402, {"errors": "Unavailable Shop"}, "set_balance", True, LedgerUnavailable, None),
    ("423 locked shop", 423, {"errors": "Locked"}, "get", False, LedgerUnavailable, None),
    ("408 request timeout", 408, None, "set_balance", True, LedgerUnavailable, None),
    ("422 code taken", 422, {"errors": {"code": ["has already been taken"]}}, "create", True,
     LedgerDecline, DeclineReason.CODE_TAKEN),
    ("422 code taken, full message", 422, {"errors": ["Code has already been taken"]}, "create", True,
     LedgerDecline, DeclineReason.CODE_TAKEN),
    ("409 code taken", 409, {"errors": {"code": "is already in use"}}, "create", True,
     LedgerDecline, DeclineReason.CODE_TAKEN),
    ("422 code length", 422, {"errors": {"code": ["must be between 8 and 20 characters"]}}, "create", True,
     LedgerDecline, DeclineReason.INVALID_CODE),
    ("422 initial_value", 422, {"errors": {"initial_value": ["must be greater than 0"]}}, "create", True,
     LedgerDecline, DeclineReason.INVALID_AMOUNT),
    ("422 balance places", 422, {"errors": {"balance": ["must have at most 2 decimal places"]}}, "set_balance",
     True, LedgerDecline, DeclineReason.INVALID_AMOUNT),
    ("422 over a limit", 422, {"errors": {"initial_value": ["exceeds the maximum allowed value"]}}, "create", True,
     LedgerDecline, DeclineReason.LIMIT_EXCEEDED),
    ("422 disabled", 422, {"errors": {"base": ["gift card is disabled"]}}, "set_balance", True,
     LedgerDecline, DeclineReason.DEACTIVATED),
    ("422 disabled, message", 422, {"errors": "Gift card is disabled"}, "set_balance", True,
     LedgerDecline, DeclineReason.DEACTIVATED),
    ("422 expired", 422, {"errors": {"base": ["gift card is expired"]}}, "set_balance", True,
     LedgerDecline, DeclineReason.EXPIRED),
    ("422 anything else", 422, {"errors": {"template_suffix": ["can't be changed"]}}, "update", True,
     LedgerDecline, DeclineReason.OTHER),
    ("422 no body", 422, None, "set_balance", True, LedgerDecline, DeclineReason.OTHER),
    ("429 let through", 429, {"errors": "Too Many Requests"}, "get", False, LedgerUnavailable, None),
    ("5xx on a write", 500, {"errors": "Internal Server Error"}, "set_balance", True, LedgerOutcomeUnknown, None),
    ("5xx on a read", 503, {"errors": "Service Unavailable"}, "transactions", False, LedgerUnavailable, None),
    ("other status", 418, {"errors": "I'm a teapot"}, "get", False, LedgerConfigurationError, None),
]


@pytest.mark.parametrize(("status", "body", "operation", "write", "kind", "reason"),
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_each_answer_maps_to_its_failure(status, body, operation, write, kind, reason) -> None:
    failure = errors.failure(status, body, operation=operation, write=write, secrets=[CODE])
    assert type(failure) is kind
    if reason is not None:
        assert failure.reason is reason
    assert CODE not in str(failure)


def test_disabled_wins_over_a_field_error() -> None:
    body = {"errors": {"balance": ["must not be negative"], "base": ["gift card is disabled"]}}
    assert errors.failure(422, body, operation="set_balance", write=True).reason is DeclineReason.DEACTIVATED


def test_code_errors_win_over_amount_errors() -> None:
    body = {"errors": {"initial_value": ["must be greater than 0"], "code": ["has already been taken"]}}
    assert errors.failure(422, body, operation="create", write=True).reason is DeclineReason.CODE_TAKEN


def test_balance_unchanged_is_recognised_and_nothing_else_is() -> None:
    assert errors.is_balance_unchanged(422, {"errors": {"balance": ["is unchanged"]}})
    assert errors.is_balance_unchanged(422, {"errors": "Balance is unchanged"})
    assert errors.is_balance_unchanged(422, {"errors": ["Balance is unchanged"]})
    assert not errors.is_balance_unchanged(422, {"errors": {"balance": ["is unchanged"], "base": ["gift card is disabled"]}})
    assert not errors.is_balance_unchanged(422, {"errors": {"balance": ["must not be negative"]}})
    assert not errors.is_balance_unchanged(422, {"errors": {"code": ["is unchanged"]}})
    assert not errors.is_balance_unchanged(404, {"errors": {"balance": ["is unchanged"]}})
    assert not errors.is_balance_unchanged(422, None)


@pytest.mark.parametrize("body", [
    {"errors": {"code": [f"{CODE} has already been taken"]}},
    {"errors": [f"Code {CODE.upper()} has already been taken"]},
    {"errors": {"base": [f"gift card {CODE[:4]} {CODE[4:8]}-{CODE[8:]} is disabled"]}},
    {"errors": f"unknown field in {CODE}"},
])
def test_no_failure_text_carries_the_code_we_sent(body) -> None:
    for status in (400, 409, 422):
        failure = errors.failure(status, body, operation="create", write=True, secrets=[CODE])
        text = str(failure) + getattr(failure, "detail", "")
        assert CODE not in text.lower() and CODE[4:] not in text.lower()


def test_decline_detail_keeps_the_vendor_wording_for_logs() -> None:
    failure = errors.failure(422, {"errors": {"balance": ["must have at most 2 decimal places"]}},
                             operation="set_balance", write=True)
    assert failure.detail == "HTTP 422: balance: must have at most 2 decimal places"
