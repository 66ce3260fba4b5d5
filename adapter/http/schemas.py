"""NewStore request models. They validate requests and generate /openapi.json.

Unknown fields are accepted and ignored everywhere (extra="ignore"). Amounts arrive already
parsed as Decimal (adapter.http.jsonio) and are checked against the currency's minor unit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

from adapter.domain.money import Money, MoneyError, check_amount, parse_currency
from adapter.http import bounds


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise PydanticCustomError("number", "must be a JSON number")
    return Decimal(value)


def _string(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError("string", "must be a string")
    return value


JsonNumber = Annotated[Decimal, BeforeValidator(_json_number), WithJsonSchema({"type": "number"})]
Str = Annotated[str, BeforeValidator(_string)]
IdempotencyKey = Annotated[str, BeforeValidator(_string), Field(min_length=1, max_length=255)]
# Free-form parts: kept with the write's intent and echoed, so bounded (adapter.http.bounds).
Metadata = Annotated[dict[str, Any], AfterValidator(bounds.bounded(bounds.METADATA_MAX_BYTES))]
Transactions = Annotated[list[Any], AfterValidator(bounds.bounded(bounds.TRANSACTIONS_MAX_BYTES))]
Ignored = Annotated[Any, AfterValidator(bounds.bounded(bounds.METADATA_MAX_BYTES))]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)


def _known_currency(currency: str) -> str:
    try:
        return parse_currency(currency)
    except MoneyError as error:
        raise PydanticCustomError("currency", str(error)) from None


def _money_rules(value: Decimal, currency: str | None) -> Decimal:
    """Currency-dependent rules; with an invalid currency, only the rules that don't need it."""
    try:
        if currency is None:
            check_amount(value)
        else:
            Money.parse(value, currency)
    except MoneyError as error:
        raise PydanticCustomError("money", str(error)) from None
    return value


class Amount(_Model):
    """Major units: 25.5 means 25.50. Currency is checked first so the value can use it."""

    currency: Str
    value: JsonNumber

    _currency = field_validator("currency")(_known_currency)

    @field_validator("value")
    @classmethod
    def _money_rules(cls, value: Decimal, info) -> Decimal:
        return _money_rules(value, info.data.get("currency"))

    def money(self) -> Money:
        return Money.parse(self.value, self.currency)


class Identifier(_Model):
    number: Str
    pin: Str | None = None


class Customer(_Model):
    id: Str | None = None
    email: Str | None = None
    name: Str | None = None


class BalanceRequest(_Model):
    identifier: Identifier
    metadata: Metadata | None = None


class IssueRequest(_Model):
    amount: Amount
    customer: Customer
    metadata: Metadata | None = None
    idempotence_key: IdempotencyKey | None = None
    correlation_id: IdempotencyKey | None = None


class ActivateRequest(_Model):
    card_number: Str
    amount: Amount
    customer: Customer
    metadata: Metadata | None = None
    idempotence_key: IdempotencyKey | None = None


class DeactivateRequest(_Model):
    card_number: Str
    pin: Str | None = None
    store_id: Str | None = None
    idempotence_key: IdempotencyKey | None = None


class PspArguments(_Model):
    """PSP amounts arrive as arguments.amount + arguments.currency (major units)."""

    currency: Str
    amount: JsonNumber
    payment_method: Str | None = None
    instrument: Ignored = None

    _currency = field_validator("currency")(_known_currency)

    @field_validator("amount")
    @classmethod
    def _money_rules(cls, value: Decimal, info) -> Decimal:
        return _money_rules(value, info.data.get("currency"))

    def money(self) -> Money:
        return Money.parse(self.amount, self.currency)


class PspRequest(_Model):
    account_id: Str | None = None
    transactions: Transactions | None = None  # read, never trusted: our own totals decide
    idempotency_key: IdempotencyKey
    arguments: PspArguments
    metadata: Metadata | None = None


class AuthorizeArguments(PspArguments):
    payment_method: Str

    @field_validator("payment_method")
    @classmethod
    def _gift_card_only(cls, method: str) -> str:
        if method != "gift_card":
            raise PydanticCustomError("payment_method", 'must be "gift_card"')
        return method


class AuthorizeMetadata(BaseModel):
    """The card number arrives here; every other key is kept and echoed back (minus number)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    number: Str

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        if isinstance(value, dict):
            bounds.check_free_form(value, max_bytes=bounds.METADATA_MAX_BYTES)
        return value


class AuthorizeRequest(PspRequest):
    arguments: AuthorizeArguments
    metadata: AuthorizeMetadata


class PspTransaction(_Model):
    transaction_id: str
    instrument_id: str
    capture_amount: Decimal
    refund_amount: Decimal
    currency: str
    reason: str
    payment_method: str
    metadata: dict[str, Any]
    processed_at: str


class CardNumberAnswer(_Model):
    identifier: Identifier
    correlation_id: str | None = None


class BalanceAnswer(_Model):
    value: Decimal
    currency: str


class ErrorAnswer(_Model):
    error_code: str
    message: str
    request_accepted: bool = False
