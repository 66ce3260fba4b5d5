"""Gift Card Hero's ledger: cards, transactions and the choices the vendor's document leaves open.

Source: /work/shared/seeds/001_7954c174efeb907f.txt (Gift Card Hero REST API). Where it is silent,
the choice made here is the likeliest shape for a Shopify app passing Shopify REST objects through,
and every such choice is listed in `UNDOCUMENTED` so it stays in one place:
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

UNDOCUMENTED = """
- Error bodies: Shopify REST style, the status plus {"errors": "<message>"} or, for field errors,
  {"errors": {"<field>": ["<message>"]}}. 401 for a missing or wrong token, 404 unknown card,
  400 malformed body, 422 semantic (duplicate code, bad amount, disabled card, forbidden field).
- 429: {"errors": "Too Many Requests"} with Retry-After in whole seconds (off unless configured).
- Ids: numeric, increasing (cards from 1063936318, transactions from 204959973622).
- Codes: normalised (spaces removed, lowercased), then 8-20 characters (Shopify's rule); absent code
  -> 16 random lowercase a-z0-9 characters. A duplicate normalised code -> 422 {"code": [...]}.
- Statuses: create answers 201 (Shopify REST's), every other success 200.
- initial_value: a JSON number or decimal string, > 0, at most 2 decimal places; answered "100.00".
- Creating a card records an initial transaction (amount = initial_value, note
  "Initial gift card creation"), as the document's transactions example shows.
- PUT balance: decimal string (a number is accepted too), >= 0, at most 2 places; disabled or
  expired card -> 422; balance equal to the current one -> 422 "balance is unchanged" (no
  transaction of 0.00 is made).
- PUT /gift-cards/{id}: flat body (as documented) or wrapped in {"gift_card": {...}}; any field
  other than id/expires_on/note/template_suffix -> 422 and nothing changes.
- Disable twice: 200 with the card as it is (disabled_at unchanged).
- amount_spent: not in the documented card objects, so not answered; it is indexed by search
  (sum of the negative transaction amounts).
- Lists order by id ascending; a card's transactions newest first. page_info is an opaque
  base64 cursor carrying the filters; with page_info, every other parameter except limit and
  fields is ignored (as in Shopify REST).
- Search query: whitespace-separated terms, ANDed. "field:value" with optional >=, <=, >, <, on the
  indexed fields only (a term naming any other field, e.g. code:..., matches nothing); a bare term
  matches last_characters exactly or a money field's value. Default order disabled_at DESC (nulls
  last), then id.
- /gift-cards/transactions query: id:N (with >=, <=), last4:xxxx, and the filters the document
  lists; the answer is a bare JSON array of cards, each with "transactions".
- assign-to-order: orders exist only when seeded via /_emulator/orders; no card is created (the
  vendor queues a job); the linkage is visible in /_emulator/state.
- Order of checks per call: token (401), faults, rate limit (429), then the endpoint. Call counters
  count every request that reached a route, 401s and 429s included.
- Emulator-only (not vendor behaviour): foreign_change moves the balance by its delta, clamped at
  0.00, recorded as a transaction with note null (or the spec's note) and, for a debit, a
  non-null order_transaction_id as a checkout would have.
- Timestamps are UTC, ISO 8601 with seconds and "+00:00".
"""

FIRST_CARD_ID = 1063936318
FIRST_TRANSACTION_ID = 204959973622
CENT = Decimal("0.01")


class Invalid(ValueError):
    """A request the vendor would refuse; `errors` is the body's errors value."""

    def __init__(self, errors: Any, status: int = 422) -> None:
        super().__init__(str(errors))
        self.errors = errors
        self.status = status


def timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def parse_money(value: Any, name: str, *, allow_zero: bool) -> Decimal:
    """Exact: numbers arrive as Decimal (json parse_float=Decimal), strings are parsed as decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise Invalid({name: ["must be a decimal amount"]})
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise Invalid({name: ["must be a decimal amount"]}) from exc
    if not amount.is_finite():
        raise Invalid({name: ["must be a decimal amount"]})
    if amount < 0 or (amount == 0 and not allow_zero):
        raise Invalid({name: ["must be greater than 0" if not allow_zero else "must not be negative"]})
    if amount != amount.quantize(CENT):
        raise Invalid({name: ["must have at most 2 decimal places"]})
    return amount.quantize(CENT)


def normalise_code(code: str) -> str:
    return "".join(code.split()).lower()


@dataclass
class Transaction:
    id: int
    gift_card_id: int
    number: int
    amount: Decimal
    processed_at: datetime
    note: str | None = None
    api_client_id: int | None = None
    order_transaction_id: int | None = None

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "gift_card_id": self.gift_card_id, "api_client_id": self.api_client_id,
                "user_id": None, "order_transaction_id": self.order_transaction_id,
                "number": self.number, "amount": money(self.amount),
                "processed_at": timestamp(self.processed_at), "created_at": timestamp(self.processed_at),
                "updated_at": timestamp(self.processed_at), "note": self.note,
                "remote_transaction_ref": None, "remote_transaction_url": None}


@dataclass
class Card:
    id: int
    code: str
    balance: Decimal
    initial_value: Decimal
    currency: str
    created_at: datetime
    updated_at: datetime
    source: str = "api_client"
    api_client_id: int | None = None
    note: str | None = None
    expires_on: date | None = None
    template_suffix: str | None = None
    disabled_at: datetime | None = None
    customer_id: int | None = None
    order_id: int | None = None
    line_item_id: int | None = None
    transactions: list[Transaction] = field(default_factory=list)

    @property
    def last_characters(self) -> str:
        return self.code[-4:]

    @property
    def amount_spent(self) -> Decimal:
        return -sum((t.amount for t in self.transactions if t.amount < 0), Decimal(0))

    def view(self) -> dict[str, Any]:
        """The documented card object; never the code (only the create answer adds it)."""
        return {"id": self.id, "balance": money(self.balance), "created_at": timestamp(self.created_at),
                "updated_at": timestamp(self.updated_at), "currency": self.currency,
                "initial_value": money(self.initial_value), "disabled_at": timestamp(self.disabled_at),
                "line_item_id": self.line_item_id, "api_client_id": self.api_client_id, "user_id": None,
                "customer_id": self.customer_id, "note": self.note,
                "expires_on": self.expires_on.isoformat() if self.expires_on else None,
                "template_suffix": self.template_suffix, "last_characters": self.last_characters,
                "order_id": self.order_id}


API_CLIENT_ID = 755357713


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Ledger:
    clock: Any = _now
    cards: dict[int, Card] = field(default_factory=dict)
    orders: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    _next_card: int = FIRST_CARD_ID
    _next_tx: int = FIRST_TRANSACTION_ID

    def reset(self) -> None:
        self.cards.clear()
        self.orders.clear()
        self.assignments.clear()
        self._next_card, self._next_tx = FIRST_CARD_ID, FIRST_TRANSACTION_ID

    def codes(self) -> set[str]:
        return {card.code for card in self.cards.values()}

    def new_code(self) -> str:
        alphabet = string.ascii_lowercase + string.digits
        while True:
            code = "".join(secrets.choice(alphabet) for _ in range(16))
            if code not in self.codes():
                return code

    def check_code(self, raw: Any) -> str:
        if not isinstance(raw, str):
            raise Invalid({"code": ["must be a string"]})
        code = normalise_code(raw)
        if not 8 <= len(code) <= 20:
            raise Invalid({"code": ["must be between 8 and 20 characters"]})
        if code in self.codes():
            raise Invalid({"code": ["has already been taken"]})
        return code

    def add(self, *, code: str, value: Decimal, balance: Decimal, currency: str, source: str,
            note: str | None = None, expires_on: date | None = None, template_suffix: str | None = None,
            api_client_id: int | None = None, customer_id: int | None = None) -> Card:
        now = self.clock()
        card = Card(self._next_card, code, balance, value, currency, now, now, source=source,
                    api_client_id=api_client_id, note=note, expires_on=expires_on,
                    template_suffix=template_suffix, customer_id=customer_id)
        self._next_card += 1
        self.cards[card.id] = card
        if value:
            self.record(card, value, note="Initial gift card creation", api_client_id=api_client_id)
        if balance != value:
            self.record(card, balance - value)
        card.updated_at = now
        return card

    def record(self, card: Card, amount: Decimal, *, note: str | None = None,
               api_client_id: int | None = None, order_transaction_id: int | None = None) -> Transaction:
        now = self.clock()
        tx = Transaction(self._next_tx, card.id, len(card.transactions) + 1, amount, now, note=note,
                         api_client_id=api_client_id, order_transaction_id=order_transaction_id)
        self._next_tx += 1
        card.transactions.append(tx)
        card.updated_at = now
        return tx

    def set_balance(self, card: Card, target: Decimal) -> Transaction:
        if card.disabled_at is not None:
            raise Invalid({"base": ["gift card is disabled"]})
        if card.expires_on is not None and card.expires_on < self.clock().date():
            raise Invalid({"base": ["gift card is expired"]})
        if target == card.balance:
            raise Invalid({"balance": ["is unchanged"]})
        delta = target - card.balance
        card.balance = target
        return self.record(card, delta, api_client_id=API_CLIENT_ID)

    def move(self, card: Card, delta: Decimal, note: str | None = None) -> Transaction | None:
        """A change made elsewhere (a Shopify checkout, an admin edit); never below zero."""
        target = max(card.balance + delta, Decimal(0))
        if target == card.balance:
            return None
        actual = target - card.balance
        card.balance = target
        return self.record(card, actual, note=note, order_transaction_id=(
            5_000_000_000 + self._next_tx if actual < 0 else None))

    def disable(self, card: Card) -> None:
        if card.disabled_at is None:
            card.disabled_at = self.clock()
            card.updated_at = card.disabled_at

    def status(self, card: Card) -> str:
        today = self.clock().date()
        if card.disabled_at is not None:
            return "disabled"
        if card.expires_on is not None and card.expires_on < today:
            return "expired"
        return "enabled"

    def snapshot(self) -> list[dict[str, Any]]:
        return [{**card.view(), "code": card.code, "source": card.source,
                 "amount_spent": money(card.amount_spent),
                 "transactions": [t.view() for t in card.transactions]} for card in self.cards.values()]
