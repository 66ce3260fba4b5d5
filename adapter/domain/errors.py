"""What a use case can end in besides success. The HTTP layer maps these onto NewStore's shape.

Decline and NotFound are final business answers and are stored for replay; the others never are.
"""

from __future__ import annotations


class UseCaseError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Decline(UseCaseError):
    """A definite business decline: 400 instrument_error. Final, stored, replayed."""

    status = 400


class NotFound(Decline):
    """An unknown instrument id: 404 instrument_error. Final."""

    status = 404


class InvalidInput(UseCaseError):
    """400 bad_request naming the field. Never stored: a corrected retry is processed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class RetryLater(UseCaseError):
    """503 retry_error with Retry-After. Never stored; the same key may be retried."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LedgerBusy(RetryLater):
    """The ledger did not take the call now (its budget kept for NewStore's calls, throttled, or
    down): nothing was sent. 503 retry to a caller; background work stops its batch."""


class DependencyUnavailable(RetryLater):
    """Our own database is unreachable, restarting or out of connections: 503, retry. Raised by
    the store (adapter.store.database), so nothing above it knows the driver's exceptions."""

    def __init__(self, reason: str) -> None:
        super().__init__("temporarily unavailable, retry with the same key", retry_after=1.0)
        self.reason = reason


class ConfigurationFault(UseCaseError):
    """500 internal_error: our bug or the shop's set-up (missing scope). Never stored."""
