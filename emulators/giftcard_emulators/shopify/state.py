"""The in-memory gift-card ledger and the business rules Shopify applies to it (spec §5-§7).

Every operation here is synchronous on purpose: the aiohttp handler runs a whole GraphQL document
without awaiting, so a balance is read and written with no chance for another request to
interleave. That is what makes concurrent debits on one card serialised (§14 item 27).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from giftcard_emulators.shopify.config import SandboxConfig
from giftcard_emulators.shopify.formatting import decimal_string, gid, limit_phrase

CODE_PATTERN = re.compile(r"^[a-z0-9]+$")
# Shopify's email check is looser than RFC 5322 and stricter than "has an @": a local part, a
# domain with at least one dot, no spaces.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
CUSTOMER_IDENTITY_MESSAGE = "Customer must have a name, phone number or email address"
_ALPHABET = string.ascii_lowercase + string.digits
GENERATED_CODE_LENGTH = 16
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

UserError = dict[str, Any]


def user_error(field_path: list[str] | None, code: str | None, message: str) -> UserError:
    return {"field": field_path, "code": code, "message": message}


@dataclass
class Transaction:
    number: int
    credit: bool
    amount: Decimal  # signed: debits are stored negative, as Shopify reads them back
    currency: str
    note: str | None
    processed_at: datetime
    card: Card

    @property
    def typename(self) -> str:
        return "GiftCardCreditTransaction" if self.credit else "GiftCardDebitTransaction"

    @property
    def gid(self) -> str:
        return gid(self.typename, self.number)


@dataclass(eq=False)
class Card:
    number: int
    code: str
    currency: str
    initial_value: Decimal
    created_at: datetime
    updated_at: datetime
    update_seq: int
    source: str = "api_client"
    note: str | None = None
    expires_on: date | None = None
    template_suffix: str | None = None
    customer_id: int | None = None
    cross_currency: str = "MARKET_FX"
    enabled: bool = True
    deactivated_at: datetime | None = None
    deactivate_seq: int | None = None
    transactions: list[Transaction] = field(default_factory=list)
    balance: Decimal = Decimal(0)
    order_id: int | None = None  # the order that sold it (giftcard_emulators.shopify.orders)
    recipient: Recipient | None = None
    # Whether anyone asked Shopify to send this card to someone (recipientAttributes, or a
    # giftCardSendNotificationTo* that went through): the adapter must never (see /sandbox/state).
    notify: bool = False

    @property
    def gid(self) -> str:
        return gid("GiftCard", self.number)

    @property
    def last_characters(self) -> str:
        return self.code[-4:]

    def is_expired(self, today: date) -> bool:
        return self.expires_on is not None and self.expires_on < today


@dataclass(eq=False)
class Customer:
    number: int
    created_at: datetime
    updated_at: datetime
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    note: str | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return gid("Customer", self.number)

    @property
    def display_name(self) -> str:
        """The schema's rule: the full name, else the email address, else the phone number."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or self.email or self.phone or ""


@dataclass
class Recipient:
    """GiftCardRecipientInput as stored: Shopify emails this customer the card (at `send_at`)."""
    customer_id: int
    preferred_name: str | None = None
    message: str | None = None
    send_at: datetime | None = None


def normalise_phone(raw: str) -> str | None:
    """E.164 ("+" and 8-15 digits, no leading 0) or None when it isn't a phone number. Spaces,
    dots, dashes and brackets are ignored. Without "+", ten digits (or eleven starting with 1) are
    read as a North American number: Shopify reads them in the shop's country, here the US."""
    text = _PHONE_PUNCTUATION.sub("", raw)
    if text.startswith("+"):
        digits = text[1:]
    elif len(text) == 10:
        digits = "1" + text
    elif len(text) == 11 and text.startswith("1"):
        digits = text
    else:
        return None
    if not digits.isdigit() or not 8 <= len(digits) <= 15 or digits.startswith("0"):
        return None
    return "+" + digits


def normalise_code(raw: str) -> str:
    return raw.lower()


def code_error(code: str) -> UserError | None:
    path = ["input", "code"]
    if len(code) < 8:
        return user_error(path, "TOO_SHORT", "Code must be at least 8 characters long")
    if len(code) > 20:
        return user_error(path, "TOO_LONG", "Code must be at most 20 characters long")
    if not CODE_PATTERN.match(code):
        return user_error(path, "INVALID", "Code can only contain letters(a-z) and numbers(0-9)")
    return None


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


class SandboxState:
    """Cards, transactions and customers of one emulated shop."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        # Tests may swap the clock to move "today" for expiry checks.
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.reset()

    def reset(self) -> None:
        self.cards: dict[int, Card] = {}
        self.codes: dict[str, Card] = {}
        self.customers: dict[int, Customer] = {}
        self._customer_seq = 1000  # customers seeded or created get 1001, 1002, ...
        self._card_seq = 0
        self._txn_seq = 0
        # Orders UPDATED_AT/DISABLED_AT sorts below the one-second resolution of timestamps.
        self._event_seq = 0

    # -- helpers ---------------------------------------------------------------------------

    def now(self) -> datetime:
        return _whole_seconds(self.clock())

    def today(self) -> date:
        return self.clock().astimezone(UTC).date()

    def _next_event(self) -> int:
        self._event_seq += 1
        return self._event_seq

    def _touch(self, card: Card) -> None:
        card.updated_at = self.now()
        card.update_seq = self._next_event()

    def card_by_gid(self, value: str) -> Card | None:
        prefix = "gid://shopify/GiftCard/"
        if not value.startswith(prefix) or not value[len(prefix):].isdigit():
            return None
        return self.cards.get(int(value[len(prefix):]))

    def customer_by_gid(self, value: str | None) -> Customer | None:
        prefix = "gid://shopify/Customer/"
        if not isinstance(value, str) or not value.startswith(prefix) or not value[len(prefix):].isdigit():
            return None
        return self.customers.get(int(value[len(prefix):]))

    def new_code(self) -> str:
        while True:
            code = "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))
            if code not in self.codes:
                return code

    def add_card(
        self,
        *,
        code: str,
        amount: Decimal,
        currency: str,
        source: str,
        note: str | None = None,
        expires_on: date | None = None,
        template_suffix: str | None = None,
        customer_id: int | None = None,
        cross_currency: str | None = None,
        enabled: bool = True,
    ) -> Card:
        """Store a card whose inputs were already checked."""
        self._card_seq += 1
        now = self.now()
        card = Card(
            number=self._card_seq,
            code=code,
            currency=currency,
            initial_value=amount,
            balance=amount,
            created_at=now,
            updated_at=now,
            update_seq=self._next_event(),
            source=source,
            note=note,
            expires_on=expires_on,
            template_suffix=template_suffix,
            customer_id=customer_id,
            cross_currency=cross_currency or "MARKET_FX",
        )
        self.cards[card.number] = card
        self.codes[code] = card
        if not enabled:
            self.deactivate(card)
        return card

    # -- mutations -------------------------------------------------------------------------

    def create(
        self,
        *,
        amount: Decimal | None,
        currency: str | None,
        code: str | None,
        note: str | None,
        expires_on: date | None,
        template_suffix: str | None,
        customer_id: int | None,
        cross_currency: str | None,
        recipient: Recipient | None = None,
    ) -> tuple[Card | None, UserError | None]:
        """Customer ids are already known to exist: an unknown one is a top-level error (resolvers)."""
        value_path = ["input", "initialValue"]
        if amount is None:
            # Never recorded; MISSING_ARGUMENT is the enum's closest member.
            return None, user_error(value_path, "MISSING_ARGUMENT", "must be present")
        if amount <= 0:
            return None, user_error(value_path, "GREATER_THAN", "must be greater than 0")
        limit = self.config.issue_limit
        if amount > limit:
            return None, user_error(value_path, "GIFT_CARD_LIMIT_EXCEEDED",
                                    f"can't exceed {limit_phrase(limit, self.config.currency)}")
        if code is None:
            code = self.new_code()
        else:
            code = normalise_code(code)
            problem = code_error(code)
            if problem is not None:
                return None, problem
            if code in self.codes:
                return None, user_error(["input", "code"], None, "Code has already been taken")
        if template_suffix is not None:
            template_suffix = template_suffix.removeprefix("gift_card.")
        card = self.add_card(
            code=code,
            amount=amount,
            currency=currency or self.config.currency,
            source="api_client",
            note=note,
            expires_on=expires_on,
            template_suffix=template_suffix,
            customer_id=customer_id,
            cross_currency=cross_currency,
        )
        if recipient is not None:
            card.recipient = recipient
            card.notify = True  # Shopify sends it to the recipient, now or at send_at
        return card, None

    def post_transaction(
        self,
        card_gid: str,
        *,
        credit: bool,
        amount: Decimal,
        currency: str,
        note: str | None,
        processed_at: datetime | None,
    ) -> tuple[Transaction | None, UserError | None]:
        """A credit or debit: every check, then the balance change, with no await in between."""
        root = "creditInput" if credit else "debitInput"
        amount_key = "creditAmount" if credit else "debitAmount"
        amount_path = [root, amount_key, "amount"]
        card = self.card_by_gid(card_gid)
        if card is None:
            return None, user_error(["id"], "GIFT_CARD_NOT_FOUND", "The gift card could not be found.")
        if not card.enabled:
            return None, user_error(["id"], "INVALID", "The gift card is deactivated.")
        if card.is_expired(self.today()):
            return None, user_error(["id"], "INVALID", "The gift card has expired.")
        if amount <= 0:
            return None, user_error(amount_path, "NEGATIVE_OR_ZERO_AMOUNT", "A positive amount must be used.")
        if currency != card.currency:
            return None, user_error(
                [root, amount_key, "currencyCode"], "MISMATCHING_CURRENCY",
                "The currency provided does not match the currency of the gift card.",
            )
        now = self.now()
        if processed_at is None:
            processed_at = now
        else:
            processed_at = _whole_seconds(processed_at)
            if processed_at < EPOCH:
                return None, user_error([root, "processedAt"], "INVALID", "A valid processed date must be used.")
            if processed_at > now:
                return None, user_error([root, "processedAt"], "INVALID",
                                        "The processed date must not be in the future.")
        if credit and card.balance + amount > self.config.issue_limit:
            return None, user_error(amount_path, "GIFT_CARD_LIMIT_EXCEEDED",
                                    "The gift card's value exceeds the allowed limits.")
        if not credit and amount > card.balance:
            return None, user_error(
                amount_path, "INSUFFICIENT_FUNDS",
                "The gift card does not have sufficient funds to satisfy the request.",
            )
        self._txn_seq += 1
        signed = amount if credit else -amount
        txn = Transaction(self._txn_seq, credit, signed, card.currency, note, processed_at, card)
        card.transactions.append(txn)
        card.balance += signed
        return txn, None

    def deactivate(self, card: Card) -> None:
        if card.enabled:
            card.enabled = False
            card.deactivated_at = self.now()
            card.deactivate_seq = self._next_event()
            self._touch(card)

    def update(self, card_gid: str, changes: dict[str, Any]) -> tuple[Card | None, UserError | None]:
        """Key-based: a present key is applied even if unchanged or null (§7.11)."""
        card = self.card_by_gid(card_gid)
        if card is None:
            return None, {"field": ["id"], "message": "The gift card could not be found."}
        if not changes:
            return None, {"field": ["input"], "message": "At least one argument is required in the input."}
        if not card.enabled:
            for key in ("expiresOn", "customerId"):
                if key in changes:
                    return None, {"field": ["input", key], "message": "The gift card is deactivated."}
        if "note" in changes:
            card.note = changes["note"]
        if "expiresOn" in changes:
            card.expires_on = changes["expiresOn"]
        if "customerId" in changes:
            card.customer_id = changes["customerId"]
        if "templateSuffix" in changes:
            suffix = changes["templateSuffix"]
            card.template_suffix = suffix.removeprefix("gift_card.") if suffix is not None else None
        if changes.get("crossCurrencyRedemptionStrategy") is not None:
            card.cross_currency = changes["crossCurrencyRedemptionStrategy"]
        if changes.get("recipientAttributes") is not None:
            card.recipient = changes["recipientAttributes"]
            card.notify = True
        self._touch(card)
        return card, None

    # -- customers -------------------------------------------------------------------------

    def create_customer(self, *, email: str | None = None, phone: str | None = None,
                        first_name: str | None = None, last_name: str | None = None,
                        note: str | None = None, tags: list[str] | None = None,
                        number: int | None = None, require_identity: bool = True,
                        ) -> tuple[Customer | None, list[UserError]]:
        """customerCreate's checks, every failing one reported (as Shopify lists them all).
        Its userErrors are `UserError`s: field and message, no code. Emails are kept lower-cased,
        so uniqueness and the `email:` filter ignore case; phones are kept in E.164."""
        errors: list[UserError] = []
        email = (email or "").strip().lower() or None
        if email is not None:
            if not EMAIL_PATTERN.match(email):
                errors.append({"field": ["email"], "message": "Email is invalid"})
            elif any(c.email == email for c in self.customers.values()):
                errors.append({"field": ["email"], "message": "Email has already been taken"})
        if phone is not None and phone.strip():
            normalised = normalise_phone(phone)
            if normalised is None:
                errors.append({"field": ["phone"], "message": "Phone is invalid"})
            elif any(c.phone == normalised for c in self.customers.values()):
                errors.append({"field": ["phone"], "message": "Phone has already been taken"})
            phone = normalised
        else:
            phone = None
        first_name = (first_name or "").strip() or None
        last_name = (last_name or "").strip() or None
        if not errors and require_identity and not (email or phone or first_name or last_name):
            errors.append({"field": None, "message": CUSTOMER_IDENTITY_MESSAGE})
        if errors:
            return None, errors
        if number is None:
            number = self._customer_seq + 1
        self._customer_seq = max(self._customer_seq, number)
        now = self.now()
        customer = Customer(number, now, now, email, phone, first_name, last_name, note, list(tags or []))
        self.customers[number] = customer
        return customer, []

    def ensure_customer(self, number: int) -> Customer:
        """A customer "created elsewhere" (seeding): no identity needed, an existing one is kept."""
        existing = self.customers.get(number)
        if existing is not None:
            return existing
        customer, _errors = self.create_customer(number=number, require_identity=False)
        assert customer is not None
        return customer

    # -- inspection ------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Everything a test may assert on, including the codes /admin never reveals."""
        def fmt(moment: datetime | None) -> str | None:
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None

        return [
            {
                "id": card.gid,
                "code": card.code,
                "currencyCode": card.currency,
                "balance": decimal_string(card.balance),
                "initialValue": decimal_string(card.initial_value),
                "enabled": card.enabled,
                "expiresOn": card.expires_on.isoformat() if card.expires_on else None,
                "deactivatedAt": fmt(card.deactivated_at),
                "createdAt": fmt(card.created_at),
                "updatedAt": fmt(card.updated_at),
                "note": card.note,
                "source": card.source,
                "customerId": gid("Customer", card.customer_id) if card.customer_id else None,
                "orderId": gid("Order", card.order_id) if card.order_id else None,
                "recipientId": gid("Customer", card.recipient.customer_id) if card.recipient else None,
                "notify": card.notify,
                "transactions": [
                    {
                        "id": txn.gid,
                        "typename": txn.typename,
                        "amount": decimal_string(txn.amount),
                        "note": txn.note,
                        "processedAt": fmt(txn.processed_at),
                    }
                    for txn in card.transactions
                ],
            }
            for card in self.cards.values()
        ]

    def customers_snapshot(self) -> list[dict[str, Any]]:
        return [
            {"id": c.gid, "email": c.email, "phone": c.phone, "firstName": c.first_name,
             "lastName": c.last_name, "displayName": c.display_name}
            for c in self.customers.values()
        ]
