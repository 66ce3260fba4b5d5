"""Translate ledger failures into use-case outcomes without leaking any vendor's wording."""

from __future__ import annotations

import structlog

from adapter.domain.errors import ConfigurationFault, Decline, InvalidInput, LedgerBusy, RetryLater
from adapter.ports import (
    DeclineReason,
    LedgerConfigurationError,
    LedgerDecline,
    LedgerError,
    LedgerNeedsReview,
    LedgerOutcomeUnknown,
    LedgerSearchWarning,
    LedgerUnavailable,
)

log = structlog.get_logger(__name__)

_DECLINE_MESSAGES = {
    DeclineReason.INSUFFICIENT_FUNDS: "insufficient funds on the gift card",
    DeclineReason.CARD_NOT_FOUND: "unknown gift card",
    DeclineReason.MISMATCHING_CURRENCY: "currency does not match the gift card's currency",
    DeclineReason.LIMIT_EXCEEDED: "amount exceeds the gift card limit",
    DeclineReason.EXPIRED: "gift card has expired",
    DeclineReason.DEACTIVATED: "gift card is deactivated",
    DeclineReason.UNUSABLE: "gift card cannot be used",
}


def decline_from(error: LedgerDecline, *, amount_field: str = "amount.value", code_field: str = "card_number") -> Exception:
    """A definite ledger decline as the use-case error NewStore should see."""
    if error.reason in _DECLINE_MESSAGES:
        return Decline(_DECLINE_MESSAGES[error.reason])
    if error.reason is DeclineReason.INVALID_AMOUNT:
        return InvalidInput(amount_field, "rejected by the gift-card ledger")
    if error.reason in (DeclineReason.INVALID_CODE, DeclineReason.CODE_TAKEN):
        return InvalidInput(code_field, "rejected by the gift-card ledger")
    log.error("ledger_decline_unmapped", reason=error.reason.value, detail=error.detail)
    return ConfigurationFault("the gift-card ledger refused the request")


def transient_from(error: LedgerError) -> Exception:
    """Unavailability, unknown outcomes and configuration faults."""
    if isinstance(error, LedgerUnavailable):
        # Our own wording (a vendor's operation and status at most, never a code): why, for the
        # operator, and for the chaos run's report of what kept a write unsettled.
        log.info("ledger_unavailable", reason=error.reason)
        return LedgerBusy("gift-card ledger unavailable, retry with the same key", error.retry_after)
    if isinstance(error, LedgerOutcomeUnknown):
        return RetryLater("outcome not yet known, retry with the same key", 1.0)
    if isinstance(error, LedgerNeedsReview):
        return RetryLater("outcome under review by an operator, retry with the same key later", 30.0)
    if isinstance(error, (LedgerConfigurationError, LedgerSearchWarning)):
        log.error("ledger_configuration_fault", error_type=type(error).__name__)
        return ConfigurationFault("gift-card ledger configuration fault")
    return ConfigurationFault("unexpected gift-card ledger failure")
