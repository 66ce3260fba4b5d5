"""The emulated store's gift cards and their operation records.

Every method is synchronous: a handler never awaits inside one, so each call is atomic against
the ledger, as SHOPLINE's own writes are to a caller.
"""

from __future__ import annotations

import itertools
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from giftcard_emulators.shopline import choices
from giftcard_emulators.shopline.errors import ApiError

CODE_RULE = re.compile(r"^[a-z0-9]{8,20}$")
CODE_ALPHABET = string.ascii_lowercase + string.digits
GENERATED_CODE_LENGTH = 16
NOTE_MAX = 500
# Ids look like the pages' examples (26 digits, e.g. 30157043359245339231360282) and grow, so
# since_id and cursors can order by them.
_CARD_ID_BASE = 30157043359245339231360000
_RECORD_ID_BASE = 16057590153890829521110000


class Clock:
    """The store's wall clock: real time, or frozen and moved by hand (/_emulator/clock, tests)."""

    def __init__(self, frozen: datetime | None = None) -> None:
        self.frozen = frozen
        self.offset = timedelta()

    def __call__(self) -> datetime:
        base = self.frozen if self.frozen is not None else datetime.now(UTC)
        return base + self.offset

    def set(self, moment: datetime) -> None:
        self.frozen = moment
        self.offset = timedelta()

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def format_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(value: str, name: str) -> datetime:
    """ISO 8601; a time without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(422, f"{name} must be an ISO 8601 time") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_expiry(value: object) -> str | None:
    """`expires_on`: null (never), a date or an ISO 8601 time; answered back as given, normalised."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "expires_on must be a string")
    text = value.strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    return format_time(parse_time(text, "expires_on"))


def code_problem(code: str) -> str | None:
    if not 8 <= len(code) <= 20:
        return "code must be 8 to 20 characters long"
    if not CODE_RULE.match(code):
        return "code may only contain lowercase letters a-z and digits 0-9"
    return None


@dataclass
class Card:
    id: str
    code: str
    balance: Decimal
    initial_value: Decimal
    currency: str
    created_at: datetime
    updated_at: datetime
    note: str | None = None
    customer_id: str | None = None
    expires_on: str | None = None
    disabled_at: datetime | None = None
    api_client_id: str | None = None

    @property
    def last_characters(self) -> str:
        return self.code[-4:]

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


@dataclass
class OperationRecord:
    id: str
    gift_card_id: str
    operation_type: str
    balance_before: Decimal
    balance_after: Decimal
    currency: str
    created_at: datetime
    source: str  # "api" (a PUT), "foreign" (a checkout/refund elsewhere), "seeded"


# Told of every change of a card's balance or state: (card, delta, why), `why` being put,
# foreign (a checkout or a refund elsewhere) or disable. The store's webhooks listen.
ChangeListener = Callable[["Card", Decimal, str], None]


@dataclass
class Ledger:
    clock: Callable[[], datetime] = field(default_factory=Clock)
    cards: dict[str, Card] = field(default_factory=dict)
    records: list[OperationRecord] = field(default_factory=list)
    on_change: ChangeListener | None = None
    _card_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _record_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        self.cards.clear()
        self.records.clear()
        # Ids keep growing across resets, so a stale id from before a reset never names a new card.

    @property
    def codes(self) -> set[str]:
        return {card.code for card in self.cards.values()}

    def new_code(self) -> str:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))
            if code not in self.codes:
                return code

    def add_card(self, *, code: str, balance: Decimal, initial_value: Decimal, currency: str,
                 note: str | None = None, customer_id: str | None = None, expires_on: str | None = None,
                 api_client_id: str | None = None, disabled: bool = False) -> Card:
        now = self.clock()
        card = Card(id=str(_CARD_ID_BASE + next(self._card_ids)), code=code, balance=balance,
                    initial_value=initial_value, currency=currency, created_at=now, updated_at=now,
                    note=note, customer_id=customer_id, expires_on=expires_on,
                    disabled_at=now if disabled else None, api_client_id=api_client_id)
        self.cards[card.id] = card
        return card

    def get(self, card_id: str) -> Card:
        card = self.cards.get(card_id)
        if card is None:
            raise ApiError(404, "gift card not found")
        return card

    def sorted_cards(self) -> list[Card]:
        return sorted(self.cards.values(), key=lambda c: int(c.id))

    def record(self, card: Card, operation_type: str, before: Decimal, after: Decimal, source: str,
               at: datetime | None = None) -> OperationRecord:
        entry = OperationRecord(id=str(_RECORD_ID_BASE + next(self._record_ids)), gift_card_id=card.id,
                                operation_type=operation_type, balance_before=before, balance_after=after,
                                currency=card.currency, created_at=at or self.clock(), source=source)
        self.records.append(entry)
        return entry

    def set_balance(self, card: Card, balance: Decimal) -> OperationRecord | None:
        """`PUT` with balance: absolute, no precondition."""
        before = card.balance
        card.balance = balance
        card.updated_at = self.clock()
        if balance == before and not choices.RECORD_UNCHANGED_PUT:
            return None
        entry = self.record(card, choices.PUT_OPERATION_TYPE, before, balance, "api")
        self._changed(card, balance - before, "put")
        return entry

    def move_balance(self, card: Card, delta: Decimal, operation_type: str | None = None,
                     source: str = "foreign", at: datetime | None = None) -> OperationRecord:
        """A change made elsewhere (a web-shop checkout, a refund): DEDUCT when down, REFUND when up."""
        before = card.balance
        after = before + delta
        if after < 0:
            raise ApiError(422, "balance would go below zero")
        card.balance = after
        card.updated_at = self.clock()
        kind = operation_type or (choices.DEDUCT if delta < 0 else choices.REFUND)
        entry = self.record(card, kind, before, after, source, at=at)
        self._changed(card, delta, "put" if kind == choices.ADJUST_BALANCE else "foreign")
        return entry

    def disable(self, card: Card) -> None:
        if card.disabled_at is not None:
            raise ApiError(choices.SECOND_DISABLE_STATUS, "gift card is already disabled")
        now = self.clock()
        card.disabled_at = now
        card.updated_at = now
        self._changed(card, Decimal(0), "disable")

    def _changed(self, card: Card, delta: Decimal, why: str) -> None:
        if self.on_change is not None:
            self.on_change(card, delta, why)

    def records_of(self, card_id: str) -> list[OperationRecord]:
        return [r for r in self.records if r.gift_card_id == card_id]
