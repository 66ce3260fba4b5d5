"""Translate ledger failures into use-case outcomes without leaking Shopify's wording."""

from __future__ import annotations

import structlog

from adapter.domain.errors import ConfigurationFault, Decline, InvalidInput, RetryLater
from adapter.ports import (
    LedgerConfigurationError,
    LedgerDecline,
    LedgerError,
    LedgerOutcomeUnknown,
    LedgerSearchWarning,
    LedgerUnavailable,
)

log = structlog.get_logger(__name__)

_DECLINE_MESSAGES = {
    "INSUFFICIENT_FUNDS": "insufficient funds on the gift card",
    "GIFT_CARD_NOT_FOUND": "unknown gift card",
    "MISMATCHING_CURRENCY": "currency does not match the gift card's currency",
    "GIFT_CARD_LIMIT_EXCEEDED": "amount exceeds the gift card limit",
}
# Shopify answers INVALID on ["id"] for both states; its message tells them apart.
_INVALID_CARD_MESSAGES = {
    "The gift card has expired.": "gift card has expired",
    "The gift card is deactivated.": "gift card is deactivated",
}
_BAD_REQUEST_CODES = {"TOO_SHORT", "TOO_LONG", "GREATER_THAN", "NEGATIVE_OR_ZERO_AMOUNT"}


def decline_from(error: LedgerDecline, *, amount_field: str = "amount.value", code_field: str = "card_number") -> Exception:
    """A definite ledger decline as the use-case error NewStore should see."""
    if error.code in _DECLINE_MESSAGES:
        return Decline(_DECLINE_MESSAGES[error.code])
    if error.code == "INVALID" and error.field == ["id"]:
        return Decline(_INVALID_CARD_MESSAGES.get(error.message, "gift card cannot be used"))
    if error.code in _BAD_REQUEST_CODES or (error.code == "INVALID" and error.field[-1:] == ["code"]):
        field = code_field if error.field[-1:] == ["code"] else amount_field
        return InvalidInput(field, "rejected by the gift-card ledger")
    log.error("ledger_decline_unmapped", code=error.code, field=error.field)
    return ConfigurationFault("the gift-card ledger refused the request")


def transient_from(error: LedgerError) -> Exception:
    """Unavailability, unknown outcomes and configuration faults."""
    if isinstance(error, LedgerUnavailable):
        return RetryLater("gift-card ledger unavailable, retry with the same key", error.retry_after)
    if isinstance(error, LedgerOutcomeUnknown):
        return RetryLater("outcome not yet known, retry with the same key", 1.0)
    if isinstance(error, (LedgerConfigurationError, LedgerSearchWarning)):
        log.error("ledger_configuration_fault", error_type=type(error).__name__)
        return ConfigurationFault("gift-card ledger configuration fault")
    return ConfigurationFault("unexpected gift-card ledger failure")
