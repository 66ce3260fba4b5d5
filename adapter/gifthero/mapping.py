"""Pure translation between Gift Card Hero's JSON and the port's types. No I/O, no clock.

On the wire (001_7954c174efeb907f.txt, model.UNDOCUMENTED in the emulator):
- ids are JSON numbers; ours are their decimal strings ("1063936318").
- money is a decimal string in major units ("100.00"). We send the same: a string with exactly
  the currency's exponent of places (USD "100.00", JPY "500"), never a float. The document's create
  example shows a number (`100.0`), but the vendor answers strings and accepts either; a string
  needs no float-free encoder on anyone's side. Amounts that come back with more places than the
  currency has are refused as malformed rather than rounded.
- A card's transactions come newest first inside each card object of /gift-cards/transactions.

Which history entries are a balance PUT (EntryKind.SET) and which are not (OTHER):
- OTHER when `order_transaction_id` is set: a checkout or a refund against an order.
- OTHER when the note is "Initial gift card creation": the card's creation.
- SET otherwise, including a missing `order_transaction_id` field (the document's transactions
  example omits it): an entry we cannot prove to be a checkout is treated as a set, the kind the
  exactly-once protocol examines; calling one of our PUTs OTHER would hide it.
Admin edits and other apps' balance PUTs are SET too; only the entry id tells ours apart.

Nothing here puts a card code in an exception message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

from adapter.domain.currencies import MINOR_UNITS
from adapter.domain.money import Money, decimal_places
from adapter.gifthero.errors import CodeMismatch
from adapter.ports import BalanceEntry, ChangedCard, EntryKind, LedgerCard

CREATION_NOTE = "initial gift card creation"


class MalformedAnswer(Exception):
    """A success answer we can't read. On a write the write may still have happened."""


# ---- ids -------------------------------------------------------------------------------------

def wire_id(card_id: str) -> int | None:
    """Our card id as the vendor's number, or None if it can't be a Gift Card Hero id."""
    if not isinstance(card_id, str) or not card_id.isascii() or not card_id.isdigit() or len(card_id) > 30:
        return None
    return int(card_id)


def our_id(value: Any) -> str:
    if isinstance(value, bool):
        raise MalformedAnswer("id is not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return str(int(value))
    raise MalformedAnswer("id is not a number")


# ---- money -----------------------------------------------------------------------------------

def exponent(currency: str) -> int:
    return MINOR_UNITS[currency]


def wire_amount(amount: Money) -> str:
    """Major units with the currency's places, as a string: "100.00", JPY "500", KWD "1.250"."""
    places = exponent(amount.currency)
    if not amount.amount.is_finite() or decimal_places(amount.amount) > places:
        raise ValueError(f"{amount.currency} allows at most {places} decimal places")
    return f"{amount.amount.quantize(Decimal(1).scaleb(-places)):f}"


def money(value: Any, currency: str) -> Money:
    """A vendor amount ("100.00", or a number parsed as Decimal) as exact Money."""
    if isinstance(value, bool) or not isinstance(value, (str, Decimal, int)):
        raise MalformedAnswer("amount is not a decimal")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise MalformedAnswer("amount is not a decimal") from None
    places = MINOR_UNITS.get(currency)
    if places is None:
        raise MalformedAnswer("unknown currency")
    if not amount.is_finite() or decimal_places(amount) > places:
        raise MalformedAnswer(f"amount has more places than {currency} allows")
    return Money(amount.quantize(Decimal(1).scaleb(-places)), currency)


# ---- times -----------------------------------------------------------------------------------

def moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedAnswer("timestamp is not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedAnswer("timestamp is not ISO 8601") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def day(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise MalformedAnswer("date is not YYYY-MM-DD") from None


# ---- cards -----------------------------------------------------------------------------------

def changed_card(node: Any) -> ChangedCard:
    """A card object as the poller's change list needs it, with its `updated_at`."""
    if not isinstance(node, Mapping):
        raise MalformedAnswer("card is not an object")
    updated, last = moment(node.get("updated_at")), node.get("last_characters")
    if updated is None or not isinstance(last, str):
        raise MalformedAnswer("updated_at or last_characters is missing")
    return ChangedCard(our_id(node.get("id")), last.lower(), updated)


def card(node: Any, currency: str) -> LedgerCard:
    """A card object. Its own `currency` wins over the configured one when present."""
    if not isinstance(node, Mapping):
        raise MalformedAnswer("card is not an object")
    try:
        own = node.get("currency")
        cur = own.upper() if isinstance(own, str) and own.upper() in MINOR_UNITS else currency
        last = node["last_characters"]
        if not isinstance(last, str):
            raise MalformedAnswer("last_characters is not a string")
        note = node.get("note")
        disabled_at = moment(node.get("disabled_at"))
        return LedgerCard(
            id=our_id(node["id"]),
            last_characters=last.lower(),
            balance=money(node["balance"], cur),
            enabled=disabled_at is None,
            expires_on=day(node.get("expires_on")),
            deactivated_at=disabled_at,
            note=note if isinstance(note, str) else None,
            created_at=moment(node.get("created_at")),
        )
    except KeyError as exc:
        raise MalformedAnswer(f"card lacks {exc.args[0]}") from None


def wrapped_card(body: Any, currency: str) -> LedgerCard:
    """`{"gift_card": {...}}`, the answer of get, create and disable."""
    if not isinstance(body, Mapping) or not isinstance(body.get("gift_card"), Mapping):
        raise MalformedAnswer("answer has no gift_card object")
    return card(body["gift_card"], currency)


def created_card(body: Any, *, sent_code: str, currency: str) -> LedgerCard:
    """Create's answer, whose `code` (normalised by the vendor) must be exactly the one we sent:
    our codes are already in normal form, so any difference means the card at the vendor is not
    the card we will hand out."""
    made = wrapped_card(body, currency)
    answered = body["gift_card"].get("code")
    if not isinstance(answered, str):
        raise CodeMismatch(made.id, "answer carries no code to check")
    if answered != sent_code:
        raise CodeMismatch(made.id, "answered code differs from the one sent")
    return made


def card_nodes(body: Any) -> list[Mapping[str, Any]]:
    """The cards of a list, search or transactions answer: `{"gift_cards": [...]}` or, for
    /gift-cards/transactions, a bare array (both accepted for either)."""
    nodes = body.get("gift_cards") if isinstance(body, Mapping) else body
    if not isinstance(nodes, list) or not all(isinstance(n, Mapping) for n in nodes):
        raise MalformedAnswer("answer has no list of cards")
    return nodes


# ---- history ---------------------------------------------------------------------------------

def entry_kind(node: Mapping[str, Any]) -> EntryKind:
    """See the module docstring for the rule."""
    if node.get("order_transaction_id") is not None:
        return EntryKind.OTHER
    note = node.get("note")
    if isinstance(note, str) and note.strip().lower() == CREATION_NOTE:
        return EntryKind.OTHER
    return EntryKind.SET


def balance_entry(node: Any, currency: str, *, kind: EntryKind | None = None) -> BalanceEntry:
    if not isinstance(node, Mapping):
        raise MalformedAnswer("transaction is not an object")
    try:
        processed = moment(node.get("processed_at") or node.get("created_at"))
        if processed is None:
            raise MalformedAnswer("transaction has no processed_at")
        note = node.get("note")
        order = node.get("order_transaction_id")
        detail = note if isinstance(note, str) and note else (
            f"order_transaction_id={order}" if order is not None else None)
        delta = money(node["amount"], currency)
        entry_kind_ = kind if kind is not None else entry_kind(node)
        return BalanceEntry(
            id=our_id(node["id"]),
            delta=delta,
            kind=entry_kind_,
            processed_at=processed,
            detail=detail,
            note=note if isinstance(note, str) else None,
            cause=_cause(entry_kind_, delta, order),
            order_ref=str(order) if order is not None else None,
        )
    except KeyError as exc:
        raise MalformedAnswer(f"transaction lacks {exc.args[0]}") from None


def _cause(kind: EntryKind, delta: Money, order: Any) -> str:
    """An order's transaction is a checkout (or its refund); a balance set is an app's (Gift
    Card Hero's own admin, or another app); the rest is the card's creation ("creation",
    adapter.services.sync.CREATION)."""
    if order is not None:
        return "online_checkout" if delta.amount < 0 else "order_refund"
    return "other_app" if kind is EntryKind.SET else "creation"


def transactions_of(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    transactions = node.get("transactions")
    if transactions is None:
        return []
    if not isinstance(transactions, list) or not all(isinstance(t, Mapping) for t in transactions):
        raise MalformedAnswer("transactions is not a list of objects")
    return transactions


def set_entry(body: Any, *, card_id: str, currency: str) -> BalanceEntry:
    """The transaction the balance PUT answers: a SET by construction (we just made it)."""
    if not isinstance(body, Mapping):
        raise MalformedAnswer("balance answer is not an object")
    answered_card = body.get("gift_card_id")
    if answered_card is not None and our_id(answered_card) != card_id:
        raise MalformedAnswer("balance answer names another card")
    return balance_entry(body, currency, kind=EntryKind.SET)


# ---- paging ----------------------------------------------------------------------------------

def page_info(next_url: str | None) -> str | None:
    """The cursor of a Link rel="next" URL. We resend it to our own base URL rather than follow
    the URL itself: the document's example Link points at the shop's domain, and our bearer
    token must never go to any host but the configured one."""
    if not next_url:
        return None
    values = parse_qs(urlsplit(next_url).query).get("page_info")
    if not values or not values[0]:
        raise MalformedAnswer("next link carries no page_info")
    return values[0]
