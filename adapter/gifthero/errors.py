"""Gift Card Hero's error answers mapped onto the port's failures.

The vendor documents no error bodies (ledgers.md §2: "error bodies ... are undocumented"). It is a
Shopify app passing Shopify REST objects through, so we expect Shopify REST's shapes and match
them loosely:

    {"errors": "Not Found"}                                  a message
    {"errors": {"code": ["has already been taken"]}}          field -> messages (or one message)
    {"errors": ["Code has already been taken"]}               Rails' full messages
    {"error": "..."} / a bare string / no body                tolerated, matched on the text

The transport (adapter.ledgers.rest) has already handled 429 and, for writes, timeouts and 5xx;
whatever status it hands back that is not a success comes here:

    401, 403                  LedgerConfigurationError (token refused or lacking access)
    400                       LedgerConfigurationError (a request the API calls malformed: ours)
    404 on a card's write     LedgerDecline(CARD_NOT_FOUND)
    404 anywhere else         LedgerConfigurationError (no such endpoint: a wrong base URL)
    402, 423                  LedgerUnavailable (Shopify's frozen / locked shop)
    408                       LedgerUnavailable (the server gave up waiting for our request)
    422 (and 409)             a LedgerDecline by what the errors say, in this order:
                                card disabled        DEACTIVATED
                                card expired         EXPIRED
                                code duplicate       CODE_TAKEN
                                any other code error INVALID_CODE
                                amount over a limit  LIMIT_EXCEEDED
                                other amount error   INVALID_AMOUNT (balance, initial_value, ...)
                                anything else        OTHER
    429                       LedgerUnavailable (only if the transport let one through)
    5xx                       LedgerOutcomeUnknown on a write, LedgerUnavailable on a read
    any other status          LedgerConfigurationError

"balance is unchanged" (422 on the balance PUT when the target equals the balance): nothing was
made. `is_balance_unchanged` spots it and the client raises `BalanceUnchanged`, a
LedgerUnavailable: "not executed, retry from a fresh read" (see adapter.gifthero.client).

No exception text carries a card code: messages of the `code` field are reduced to what they
mean ("taken", "invalid"), and every other message has the code we sent blanked out before it
is kept (a vendor message may quote the value it refused).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from adapter.ports import (
    DeclineReason,
    LedgerConfigurationError,
    LedgerDecline,
    LedgerError,
    LedgerOutcomeUnknown,
    LedgerUnavailable,
)

VENDOR = "Gift Card Hero"

# Operations (the transport's `operation` labels) that address one card by id in the path.
CARD_WRITES = frozenset({"set_balance", "disable", "update"})

_CODE_FIELDS = frozenset({"code", "gift_card_code", "giftcode", "gift_code"})
_AMOUNT_FIELDS = frozenset({"balance", "initial_value", "amount", "value"})

_DISABLED = re.compile(r"\b(disabled|deactivated|inactive)\b", re.IGNORECASE)
_EXPIRED = re.compile(r"\bexpired\b", re.IGNORECASE)
_TAKEN = re.compile(r"\b(taken|already|exists?|duplicate[sd]?|unique|in use)\b", re.IGNORECASE)
_LIMIT = re.compile(r"\b(limit|exceeds?|exceeded|maximum|too (large|high|big))\b", re.IGNORECASE)
_UNCHANGED = re.compile(r"\bunchanged\b|\bnot changed\b|\bsame as\b", re.IGNORECASE)

_MAX_DETAIL = 300


class BalanceUnchanged(LedgerUnavailable):
    """The balance PUT was refused because the card's balance already is the target: no
    transaction was made. Under the card lock that means someone else moved the balance to our
    target after we read it, so the write must start again from a fresh read (not be declined,
    and not be counted as applied: the entry that made the balance T is not ours)."""

    def __init__(self) -> None:
        super().__init__(f"{VENDOR} set_balance: the balance already is the target; nothing was made",
                         retry_after=0.0)


class CodeMismatch(LedgerConfigurationError):
    """Create answered a card whose (normalised) code is not the one we sent, or no code at all.
    The card exists at Gift Card Hero: `card_id` names it so it can be disabled. Never the code."""

    def __init__(self, card_id: str | None, reason: str) -> None:
        super().__init__(f"{VENDOR} create: {reason} (card {card_id or 'unknown'})")
        self.card_id = card_id
        self.reason = reason


def field_errors(body: Any) -> list[tuple[str | None, str]]:
    """(field, message) pairs from any of the shapes above; field None when the body names none.
    Rails full messages ("Code has already been taken") get their field from the first word."""
    if isinstance(body, dict):
        errors = body.get("errors", body.get("error", body.get("message")))
    else:
        errors = body
    pairs: list[tuple[str | None, str]] = []
    if isinstance(errors, dict):
        for name, messages in errors.items():
            for message in _messages(messages):
                pairs.append((str(name).lower(), message))
    elif isinstance(errors, (list, tuple)):
        for item in errors:
            if isinstance(item, dict):
                pairs.extend(field_errors({"errors": item}))
            else:
                pairs.append(_full_message(str(item)))
    elif isinstance(errors, str) and errors.strip():
        pairs.append(_full_message(errors))
    return pairs


def _messages(value: Any) -> Iterable[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)] if value is not None else [""]


def _full_message(text: str) -> tuple[str | None, str]:
    first, _, rest = text.strip().partition(" ")
    name = first.lower().replace("-", "_")
    if name in _CODE_FIELDS or name in _AMOUNT_FIELDS:
        return name, rest
    lowered = text.lower()
    if lowered.startswith("initial value "):
        return "initial_value", text.strip()[len("initial value "):]
    if lowered.startswith("gift card code "):
        return "code", text.strip()[len("gift card code "):]
    return None, text.strip()


def is_balance_unchanged(status: int, body: Any) -> bool:
    """The 422 the balance PUT answers when the target is the current balance (model.UNDOCUMENTED):
    nothing was made. Only a balance error saying so, and no other error, counts."""
    if status != 422:
        return False
    pairs = field_errors(body)

    def says_unchanged(name: str | None, message: str) -> bool:
        about_balance = name == "balance" or (name is None and "balance" in message.lower())
        return about_balance and _UNCHANGED.search(message) is not None

    return bool(pairs) and all(says_unchanged(name, message) for name, message in pairs)


def failure(status: int, body: Any, *, operation: str, write: bool, secrets: Iterable[str] = ()) -> LedgerError:
    """The port failure for a non-success answer. `secrets` (the code we sent) are blanked out of
    any vendor text kept in the exception."""
    where = f"{VENDOR} {operation}"
    if status in (401, 403):
        return LedgerConfigurationError(f"{where}: HTTP {status}: the access token was refused")
    if status == 400:
        return LedgerConfigurationError(f"{where}: HTTP 400: {_detail(body, secrets)}")
    if status == 404:
        if write and operation in CARD_WRITES:
            return LedgerDecline(DeclineReason.CARD_NOT_FOUND, "HTTP 404")
        return LedgerConfigurationError(f"{where}: HTTP 404: no such endpoint (check the base URL)")
    if status in (402, 423):
        return LedgerUnavailable(f"{where}: HTTP {status}: the shop is frozen or locked", retry_after=60.0)
    if status == 408:
        return LedgerUnavailable(f"{where}: HTTP 408")
    if status in (409, 422):
        reason, detail = classify(body, secrets)
        return LedgerDecline(reason, f"HTTP {status}: {detail}" if detail else f"HTTP {status}")
    if status == 429:
        return LedgerUnavailable(f"{where}: HTTP 429")
    if 500 <= status <= 599:
        if write:
            return LedgerOutcomeUnknown(f"{where}: HTTP {status}")
        return LedgerUnavailable(f"{where}: HTTP {status}")
    return LedgerConfigurationError(f"{where}: unexpected HTTP {status}")


def classify(body: Any, secrets: Iterable[str] = ()) -> tuple[DeclineReason, str]:
    """A 422's decline reason and a detail safe to log."""
    pairs = field_errors(body)
    detail = "; ".join(_shown(name, message, secrets) for name, message in pairs)[:_MAX_DETAIL]
    texts = [message for _, message in pairs]
    if any(_DISABLED.search(t) for t in texts):
        return DeclineReason.DEACTIVATED, detail
    if any(_EXPIRED.search(t) for t in texts):
        return DeclineReason.EXPIRED, detail
    code_messages = [m for name, m in pairs if name in _CODE_FIELDS]
    if code_messages:
        if any(_TAKEN.search(m) for m in code_messages):
            return DeclineReason.CODE_TAKEN, detail
        return DeclineReason.INVALID_CODE, detail
    amount_messages = [m for name, m in pairs if name in _AMOUNT_FIELDS]
    if amount_messages:
        if any(_LIMIT.search(m) for m in amount_messages):
            return DeclineReason.LIMIT_EXCEEDED, detail
        return DeclineReason.INVALID_AMOUNT, detail
    return DeclineReason.OTHER, detail


def _shown(name: str | None, message: str, secrets: Iterable[str]) -> str:
    if name in _CODE_FIELDS:
        meaning = "taken" if _TAKEN.search(message) else "invalid"
        return f"{name}: {meaning}"
    text = redact(message, secrets)
    return f"{name}: {text}" if name else text


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret blanked, matched ignoring case, spaces and dashes (the vendor
    normalises codes, so it may quote them in another spelling)."""
    for secret in secrets:
        bare = re.sub(r"[\s-]", "", secret)
        if len(bare) < 4:
            continue
        pattern = r"[\s-]*".join(re.escape(ch) for ch in bare)
        text = re.sub(pattern, "[redacted]", text, flags=re.IGNORECASE)
    return text


def _detail(body: Any, secrets: Iterable[str]) -> str:
    pairs = field_errors(body)
    if not pairs:
        return "no error body"
    return "; ".join(_shown(name, message, secrets) for name, message in pairs)[:_MAX_DETAIL]
