"""SHOPLINE's error answers mapped onto our failures (adapter.ports).

SHOPLINE answers an error with its status and `{"errors": "<text>"}` (ledgers.md §1). The
statuses are documented; the texts are not (the emulator's are its own), so a 422 is classified
by words any phrasing of the rule would contain, and anything unrecognised is OTHER rather than a
guess. 429 and 5xx never get here: the transport resends or raises for them.

| status | meaning | ours |
|---|---|---|
| 401, 403 | bad or expired token, missing scope | LedgerConfigurationError |
| 402, 423 | store frozen (unpaid) or locked | LedgerUnavailable (retry later) |
| 404 | on a card's path: no such card; elsewhere: no such path (wrong version or base URL) | LedgerDecline(CARD_NOT_FOUND) / LedgerConfigurationError |
| 422 | a write refused for a rule (by its text, see `decline_reason`) | LedgerDecline(reason) |
| 422 on a read | our query's parameters refused (limit, cursor) | LedgerConfigurationError |
| 400, other 4xx, 3xx | our request does not fit the API | LedgerConfigurationError |
| 408 | the request did not arrive whole | LedgerUnavailable |

A vendor's text may quote what we sent, and what we send can hold a card code: every text is
scrubbed (`scrub`) before it goes into an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NoReturn

from adapter.ledgers.rest import RestAnswer
from adapter.ports import DeclineReason, LedgerConfigurationError, LedgerDecline, LedgerUnavailable

STORE_UNAVAILABLE_RETRY_AFTER = 60.0  # a frozen or locked store waits for its owner, not for us
_MAX_DETAIL = 200

# Checked in this order: a card's state first, since its text may also name the code or amount.
_RULES: tuple[tuple[DeclineReason, re.Pattern[str]], ...] = (
    (DeclineReason.DEACTIVATED, re.compile(r"\b(disabled?|deactivated?|inactive)\b")),
    (DeclineReason.EXPIRED, re.compile(r"\bexpired\b")),
    (DeclineReason.CODE_TAKEN, re.compile(r"\bcode\b.*\b(taken|exists?|already|duplicated?|in use|used)\b"
                                          r"|\b(duplicated?)\b.*\bcode\b")),
    (DeclineReason.INVALID_CODE, re.compile(r"\bcode\b")),
    (DeclineReason.INVALID_AMOUNT, re.compile(r"\b(balance|initial_value|value|amount|decimal|negative|zero)\b"
                                              r"|greater than|less than")),
)


def message_of(body: Any) -> str:
    """The error text of a body: `errors` as a string, a list of strings, or Shopify-REST-style
    `{"field": ["problem", ...]}` ("field problem"); "" when there is none."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(str(item) for item in errors if isinstance(item, (str, int)))
    if isinstance(errors, dict):
        parts = []
        for field, problems in errors.items():
            items = problems if isinstance(problems, list) else [problems]
            parts += [f"{field} {problem}" for problem in items if isinstance(problem, (str, int))]
        return "; ".join(parts)
    return ""


def decline_reason(message: str) -> DeclineReason:
    text = message.lower()
    for reason, pattern in _RULES:
        if pattern.search(text):
            return reason
    return DeclineReason.OTHER


# A card code: 8-20 of [a-z0-9] with a digit in it (SHOPLINE's rule; ours are 16 long).
_CODE_LIKE = re.compile(r"\b(?=[a-z]*\d)[a-z0-9]{8,20}\b", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets and anything shaped like a card code, cut short."""
    for secret in secrets:
        if secret:
            text = re.sub(re.escape(secret), "[redacted]", text, flags=re.IGNORECASE)
    text = _CODE_LIKE.sub("[redacted]", text)
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "..."


def raise_for(answer: RestAnswer, *, operation: str, write: bool, card_scoped: bool,
              secrets: Iterable[str] = ()) -> NoReturn:
    """Raise the failure a non-success answer means. `card_scoped`: the path names a card
    (gift_cards/{id}...), so a 404 is about the card, not the path."""
    status = answer.status
    message = message_of(answer.body)
    detail = scrub(message, secrets)
    where = f"{operation}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in (401, 403):
        raise LedgerConfigurationError(f"{where} (access token or its scopes)")
    if status in (402, 423):
        raise LedgerUnavailable(f"{where} (store frozen or locked)", retry_after=STORE_UNAVAILABLE_RETRY_AFTER)
    if status == 404:
        if card_scoped:
            raise LedgerDecline(DeclineReason.CARD_NOT_FOUND, detail or "HTTP 404")
        raise LedgerConfigurationError(f"{where} (API version or base URL)")
    if status == 422 and write:
        raise LedgerDecline(decline_reason(message), detail or "HTTP 422")
    if status == 408:
        raise LedgerUnavailable(where)
    raise LedgerConfigurationError(where)
