"""Pure translation of Shopify GraphQL answers into port results or port exceptions.

No I/O, no clock, no metrics: every function takes the parsed body and returns a value or raises.
The transport (client.py) decides what to do with the two signals defined here, `Throttled` and
`RetryableError`, which never leave the client.

Money stays exact: bodies are parsed with Decimal for floats, and amounts are Shopify's decimal
strings handed to Money.from_ledger. Messages put into exceptions never carry variable values,
because a variable may hold a card code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from adapter.domain.money import Money, MoneyError
from adapter.ports import (
    ChangedCard,
    DeclineReason,
    LedgerCard,
    LedgerConfiguration,
    LedgerConfigurationError,
    LedgerDecline,
    LedgerOutcomeUnknown,
    LedgerSearchWarning,
    LedgerTransaction,
)

Body = dict[str, Any]


# ---- signals for the transport ------------------------------------------------------------

class MalformedResponse(Exception):
    """The answer is not the JSON we expect. A write may still have executed."""


class Throttled(Exception):
    """THROTTLED: not executed (spec §9). `wait` is (requested - available) / restoreRate."""

    def __init__(self, wait: float, requested: float | None) -> None:
        super().__init__(f"throttled, wait {wait:.3f}s")
        self.wait = wait
        self.requested = requested


class RetryableError(Exception):
    """A read that failed on Shopify's side (INTERNAL_SERVER_ERROR): safe to resend."""


# ---- envelope ------------------------------------------------------------------------------

def parse_body(raw: bytes) -> Body:
    """JSON with floats as Decimal: no amount ever passes through a float."""
    try:
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponse("response body is not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedResponse("response body is not a JSON object")
    return body


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    maximum: float
    available: float
    restore_rate: float
    requested: float | None = None
    actual: float | None = None


def throttle_status(body: Body) -> ThrottleStatus | None:
    """`extensions.cost`, with figures as numbers whatever their JSON type (spec §9)."""
    cost = (body.get("extensions") or {}).get("cost")
    if not isinstance(cost, dict):
        return None
    status = cost.get("throttleStatus") or {}
    try:
        return ThrottleStatus(
            maximum=float(status["maximumAvailable"]),
            available=float(status["currentlyAvailable"]),
            restore_rate=float(status["restoreRate"]),
            requested=_number(cost.get("requestedQueryCost")),
            actual=_number(cost.get("actualQueryCost")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def error_codes(body: Body) -> list[str]:
    """`errors[].extensions.code`, "UNKNOWN" where absent. Safe to log (no values)."""
    errors = body.get("errors")
    if not errors:
        return []
    if not isinstance(errors, list):  # REST-style {"errors": "..."} (401 bodies)
        return ["UNKNOWN"]
    return [str(((e or {}).get("extensions") or {}).get("code") or "UNKNOWN") for e in errors]


def _describe(errors: list[Any]) -> str:
    """Codes and messages for an exception, except for variable problems whose messages may
    quote a variable's value (a card code): those keep only the offending paths."""
    parts = []
    for error in errors:
        error = error if isinstance(error, dict) else {"message": str(error)}
        extensions = error.get("extensions") or {}
        code = extensions.get("code") or "UNKNOWN"
        if code == "INVALID_VARIABLE" or "problems" in extensions or "value" in extensions:
            paths = [".".join(map(str, p.get("path") or [])) for p in extensions.get("problems") or []]
            parts.append(f"{code} at {', '.join(paths) or '?'}")
        else:
            parts.append(f"{code}: {error.get('message', '')}")
    return "; ".join(parts)


def raise_for_errors(body: Body, *, root_field: str, write: bool) -> None:
    """Top-level `errors` (spec §9, §10, §11).

    THROTTLED -> Throttled (not executed). INTERNAL_SERVER_ERROR -> unknown on a write,
    RetryableError on a read. Everything else (ACCESS_DENIED, undefinedField, INVALID_VARIABLE,
    MAX_COST_EXCEEDED, RESOURCE_NOT_FOUND, any validation error) is our fault or the shop's
    setup: LedgerConfigurationError.
    """
    errors = body.get("errors")
    if not errors:
        return
    if not isinstance(errors, list):
        raise LedgerConfigurationError(f"Shopify error: {str(errors)[:200]}")
    codes = error_codes(body)
    if "THROTTLED" in codes:
        status = throttle_status(body)
        if status is None or status.restore_rate <= 0:
            raise Throttled(1.0, None)
        requested = status.requested if status.requested is not None else status.available
        wait = max(0.0, (requested - status.available) / status.restore_rate)
        raise Throttled(wait, status.requested)
    description = _describe(errors)
    if "INTERNAL_SERVER_ERROR" in codes:
        if write:
            raise LedgerOutcomeUnknown(f"{root_field}: {description}")
        raise RetryableError(description)
    data = body.get("data")
    if _refused_customer(errors) and isinstance(data, dict) and data.get(root_field) is None:
        raise CustomerRefused(f"{root_field}: the customer id does not exist")
    if write and isinstance(data, dict) and data.get(root_field) is not None:
        # A partial answer: the mutation ran, but a nested selection failed (e.g. a missing
        # scope on the transaction's card). Claiming "not executed" would be false.
        raise LedgerOutcomeUnknown(f"{root_field} executed with errors: {description}")
    raise LedgerConfigurationError(f"{root_field}: {description}")


class CustomerRefused(LedgerConfigurationError):
    """A card's customerId that does not (or no longer) exist: Shopify refuses the whole field
    with a top-level "Invalid id: gid://shopify/Customer/…" and data null for it. Nothing ran."""


def _refused_customer(errors: list[Any]) -> bool:
    return bool(errors) and all(isinstance(e, dict) and str(e.get("message", "")).startswith(
        "Invalid id: gid://shopify/Customer/") for e in errors)


def _payload(body: Body, root_field: str, *, write: bool) -> Any:
    raise_for_errors(body, root_field=root_field, write=write)
    data = body.get("data")
    if not isinstance(data, dict) or root_field not in data:
        if write:
            raise LedgerOutcomeUnknown(f"{root_field}: answer without data")
        raise MalformedResponse(f"{root_field}: answer without data")
    return data[root_field]


def raise_for_user_errors(payload: Any, root_field: str) -> None:
    """One userError means a definite decline, except INTERNAL_ERROR: outcome unknown (spec §11).
    The duplicate-code error has `code: null` (spec §5); decline() tells it apart."""
    errors = (payload or {}).get("userErrors") or []
    if not errors:
        return
    if any(e.get("code") == "INTERNAL_ERROR" for e in errors):
        raise LedgerOutcomeUnknown(f"{root_field}: userError INTERNAL_ERROR")
    first = errors[0]
    raise decline(first.get("code"), list(first.get("field") or []), first.get("message") or "")


_DECLINE_REASONS = {
    "INSUFFICIENT_FUNDS": DeclineReason.INSUFFICIENT_FUNDS,
    "GIFT_CARD_NOT_FOUND": DeclineReason.CARD_NOT_FOUND,
    "MISMATCHING_CURRENCY": DeclineReason.MISMATCHING_CURRENCY,
    "GIFT_CARD_LIMIT_EXCEEDED": DeclineReason.LIMIT_EXCEEDED,
    "TOO_SHORT": DeclineReason.INVALID_AMOUNT,
    "TOO_LONG": DeclineReason.INVALID_AMOUNT,
    "GREATER_THAN": DeclineReason.INVALID_AMOUNT,
    "NEGATIVE_OR_ZERO_AMOUNT": DeclineReason.INVALID_AMOUNT,
}
# Shopify answers INVALID on ["id"] for both states; its message tells them apart.
_INVALID_CARD_MESSAGES = {
    "The gift card has expired.": DeclineReason.EXPIRED,
    "The gift card is deactivated.": DeclineReason.DEACTIVATED,
}


def decline(code: str | None, field: list[str], message: str) -> LedgerDecline:
    """One userError as our decline vocabulary. The duplicate-code error has `code: null`
    (spec §5): it is told by its field and message."""
    detail = f"{code} {'.'.join(field)}: {message}"
    if field[-1:] == ["code"]:
        if message == "Code has already been taken" or code == "TAKEN":
            return LedgerDecline(DeclineReason.CODE_TAKEN, detail)
        return LedgerDecline(DeclineReason.INVALID_CODE, detail)
    if code == "INVALID" and field == ["id"]:
        return LedgerDecline(_INVALID_CARD_MESSAGES.get(message, DeclineReason.UNUSABLE), detail)
    return LedgerDecline(_DECLINE_REASONS.get(code or "", DeclineReason.OTHER), detail)


# ---- values --------------------------------------------------------------------------------

def money(node: Any) -> Money:
    """MoneyV2 -> Money. Shopify trims zeros ("-30.0"); we quantise to the currency."""
    try:
        amount = node["amount"]
        if not isinstance(amount, (str, Decimal, int)) or isinstance(amount, bool):
            raise MalformedResponse("amount is not a decimal string")
        return Money.from_ledger(str(amount), str(node["currencyCode"]))
    except (KeyError, TypeError, MoneyError) as exc:
        raise MalformedResponse("malformed MoneyV2") from exc


def _datetime(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


def card(node: Any) -> LedgerCard:
    try:
        return LedgerCard(
            id=node["id"],
            last_characters=str(node["lastCharacters"]).lower(),
            balance=money(node["balance"]),
            enabled=bool(node["enabled"]),
            expires_on=_date(node.get("expiresOn")),
            deactivated_at=_datetime(node.get("deactivatedAt")),
            note=node.get("note"),
            created_at=_datetime(node.get("createdAt")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse("malformed GiftCard") from exc


def transaction(node: Any, *, card_id: str | None = None) -> LedgerTransaction:
    try:
        gift_card = node.get("giftCard") or {}
        balance = gift_card.get("balance")
        return LedgerTransaction(
            id=node["id"],
            amount=money(node["amount"]),
            note=node.get("note"),
            processed_at=datetime.fromisoformat(node["processedAt"]),
            card_id=gift_card.get("id") or card_id,
            balance_after=money(balance) if balance else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse("malformed GiftCardTransaction") from exc


# ---- one function per document -------------------------------------------------------------

def created_card(body: Body) -> LedgerCard:
    return _write_result(body, "giftCardCreate", "giftCard", card)


def debit_transaction(body: Body) -> LedgerTransaction:
    return _write_result(body, "giftCardDebit", "giftCardDebitTransaction", transaction)


def credit_transaction(body: Body) -> LedgerTransaction:
    return _write_result(body, "giftCardCredit", "giftCardCreditTransaction", transaction)


def customers_found(body: Body) -> list[tuple[str, str | None]]:
    """(id, email) of each customer the search found."""
    connection = _payload(body, "customers", write=False) or {}
    try:
        return [(node["id"], (node.get("defaultEmailAddress") or {}).get("emailAddress"))
                for node in connection.get("nodes") or []]
    except (KeyError, TypeError) as exc:
        raise MalformedResponse("malformed customers") from exc


_EMAIL_TAKEN = "has already been taken"


def created_customer(body: Body) -> tuple[str | None, bool]:
    """(the new customer's id, None) or (None, whether the email was taken: the customer exists).
    CustomerCreatePayload's userErrors have no code: Shopify's message tells "taken" apart."""
    payload = _payload(body, "customerCreate", write=True) or {}
    errors = payload.get("userErrors") or []
    if errors:
        taken = any(list(e.get("field") or []) == ["email"] and _EMAIL_TAKEN in (e.get("message") or "")
                    for e in errors)
        return None, taken
    customer = payload.get("customer") or {}
    if not customer.get("id"):
        raise LedgerOutcomeUnknown("customerCreate: no customer and no userErrors")
    return customer["id"], False


def deactivated_card(body: Body) -> LedgerCard:
    return _write_result(body, "giftCardDeactivate", "giftCard", card)


def _write_result(body: Body, root_field: str, object_field: str, parse: Any) -> Any:
    """A mutation's object, after its userErrors; neither object nor errors means unknown."""
    payload = _payload(body, root_field, write=True)
    raise_for_user_errors(payload, root_field)
    node = (payload or {}).get(object_field)
    if node is None:
        raise LedgerOutcomeUnknown(f"{root_field}: no {object_field} and no userErrors")
    return _written(parse, node, root_field)


def _written(parse: Any, node: Any, root_field: str) -> Any:
    """A write that succeeded but whose answer we can't read has still happened: unknown,
    so it gets settled rather than resent."""
    try:
        return parse(node)
    except MalformedResponse as exc:
        raise LedgerOutcomeUnknown(f"{root_field}: {exc}") from exc


def read_card(body: Body) -> LedgerCard | None:
    """`giftCard(id)`: an unknown id is `null` with no error (spec §4)."""
    node = _payload(body, "giftCard", write=False)
    return None if node is None else card(node)


@dataclass(frozen=True, slots=True)
class TransactionsPage:
    card: LedgerCard | None
    transactions: list[LedgerTransaction]   # in the order received (newest first)
    has_next_page: bool
    end_cursor: str | None


def transactions_page(body: Body) -> TransactionsPage:
    node = _payload(body, "giftCard", write=False)
    if node is None:
        return TransactionsPage(None, [], False, None)
    connection = node.get("transactions")
    if connection is None:  # nullable in the schema; only a missing scope would null it
        raise MalformedResponse("giftCard.transactions is null")
    page_info = connection.get("pageInfo") or {}
    return TransactionsPage(
        card=card(node),
        transactions=[transaction(t, card_id=node.get("id")) for t in connection.get("nodes") or []],
        has_next_page=bool(page_info.get("hasNextPage")),
        end_cursor=page_info.get("endCursor"),
    )


def search_warnings(body: Body) -> list[dict[str, Any]]:
    """`extensions.search[].warnings`, without the query (it may hold a card code)."""
    found = []
    for search in (body.get("extensions") or {}).get("search") or []:
        for warning in (search or {}).get("warnings") or []:
            found.append({k: warning.get(k) for k in ("field", "code", "message")})
    return found


def searched_cards(body: Body) -> list[LedgerCard]:
    """A warning means Shopify ignored part of our filter and the result is unfiltered: never
    trust it (spec §8.1)."""
    connection = _payload(body, "giftCards", write=False)
    warnings = search_warnings(body)
    if warnings:
        summary = "; ".join(f"{w['field']}: {w['code']} {w['message']}" for w in warnings)
        raise LedgerSearchWarning(f"giftCards search ignored a term: {summary}")
    if connection is None:
        raise MalformedResponse("giftCards is null")
    return [card(node) for node in connection.get("nodes") or []]


@dataclass(frozen=True, slots=True)
class OrderCardsPage:
    cards: list[LedgerCard]       # only those whose `order` is the order asked about
    foreign: int                  # hits of another order (or none): the filter did not hold
    has_next_page: bool
    end_cursor: str | None


def order_cards_page(body: Body, order_gid: str) -> OrderCardsPage:
    """`giftCards(query: "order_id:…")`: a warning means the filter was ignored (never trust
    an unfiltered list), and a hit is the order's only if its `order.id` says so."""
    connection = _payload(body, "giftCards", write=False)
    warnings = search_warnings(body)
    if warnings:
        summary = "; ".join(f"{w['field']}: {w['code']} {w['message']}" for w in warnings)
        raise LedgerSearchWarning(f"giftCards search ignored a term: {summary}")
    if connection is None:
        raise MalformedResponse("giftCards is null")
    mine, foreign = [], 0
    for node in connection.get("nodes") or []:
        if ((node or {}).get("order") or {}).get("id") == order_gid:
            mine.append(card(node))
        else:
            foreign += 1
    page_info = connection.get("pageInfo") or {}
    return OrderCardsPage(mine, foreign, bool(page_info.get("hasNextPage")), page_info.get("endCursor"))


@dataclass(frozen=True, slots=True)
class ChangedCardsPage:
    cards: list[ChangedCard]  # newest-updated first
    has_next_page: bool
    end_cursor: str | None


def changed_cards_page(body: Body) -> ChangedCardsPage:
    connection = _payload(body, "giftCards", write=False)
    if connection is None:
        raise MalformedResponse("giftCards is null")
    try:
        cards = [ChangedCard(node["id"], node["lastCharacters"].lower(), datetime.fromisoformat(node["updatedAt"]))
                 for node in connection.get("nodes") or []]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse(f"giftCards: unreadable node ({type(exc).__name__})") from None
    page_info = connection.get("pageInfo") or {}
    return ChangedCardsPage(cards, bool(page_info.get("hasNextPage")), page_info.get("endCursor"))


def configuration(body: Body) -> LedgerConfiguration:
    node = _payload(body, "giftCardConfiguration", write=False)
    if node is None:
        raise MalformedResponse("giftCardConfiguration is null")
    return LedgerConfiguration(issue_limit=money(node["issueLimit"]), purchase_limit=money(node["purchaseLimit"]))
