"""NewStore request models. They validate requests and generate /openapi.json.

Unknown fields are accepted and ignored everywhere (extra="ignore"). Amounts arrive already
parsed as Decimal (adapter.http.jsonio) and are checked against the currency's minor unit.

The document states each constraint that is enforced, here or where the number is read (card
numbers: adapter.domain.cardnumbers): in JSON Schema's words where it has them, otherwise in the
description and an x- extension (currency-dependent decimal places, nesting depth, encoded size).
The answer models at the end only describe what the presenter writes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

from adapter.domain.cardnumbers import MAX_RAW_LENGTH, SHOPIFY_QR_PREFIX
from adapter.domain.money import MAX_INTEGER_DIGITS, Money, MoneyError, check_amount, parse_currency
from adapter.http import bounds
from adapter.ports import CardHolder


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise PydanticCustomError("number", "must be a JSON number")
    return Decimal(value)


def _string(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError("string", "must be a string")
    return value


def free_form_bounds(max_bytes: int, what: str = "Free-form") -> dict[str, Any]:
    """The JSON Schema words for adapter.http.bounds: width per object and array where JSON
    Schema can say it of this level, every bound as an x- extension and in the description."""
    return {
        "description": (
            f"{what}: at most {bounds.MAX_KEYS} keys in every object and {bounds.MAX_ITEMS} items in "
            f"every array at any level, nested at most {bounds.MAX_DEPTH} levels deep (this value is "
            f"level 1; each object or array inside adds one), at most {max_bytes} bytes encoded as "
            "UTF-8 JSON. Beyond any of these: 400 bad_request naming the field."),
        "x-max-properties-per-object": bounds.MAX_KEYS,
        "x-max-items-per-array": bounds.MAX_ITEMS,
        "x-max-depth": bounds.MAX_DEPTH,
        "x-max-bytes": max_bytes,
    }


_METADATA = "Free-form, recorded (and echoed by the PSP answers), never interpreted"
_AMOUNT_SCHEMA = {
    "type": "number",
    "exclusiveMinimum": 0,
    "exclusiveMaximum": 10 ** MAX_INTEGER_DIGITS,
    "description": (
        f"Major units (25.5 means 25.50), an exact JSON number: greater than 0, at most "
        f"{MAX_INTEGER_DIGITS} digits before the decimal point, and a multiple of the currency's "
        "minor unit (ISO 4217): 0.01 for USD or EUR, 1 for JPY, 0.001 for KWD. Strings, NaN and "
        "Infinity are refused."),
    "x-multiple-of": "the currency's minor unit (ISO 4217 exponent)",
}
_CURRENCY_SCHEMA = {
    "type": "string",
    "pattern": "^[A-Z]{3}$",
    "description": ("A known ISO 4217 alpha-3 code. Surrounding spaces are stripped and lower case "
                    "is upper-cased before the check, so \"usd\" is accepted too."),
}
_CARD_NUMBER_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_RAW_LENGTH,
    "description": (
        "The gift-card number as typed or scanned, in any case, possibly with spaces, dashes and a "
        f"scanner prefix (\"{SHOPIFY_QR_PREFIX}\", or one configured in CARD_NUMBER_PREFIXES or "
        f"CARD_NUMBER_PATTERN), at most {MAX_RAW_LENGTH} characters. After the prefix, spaces and "
        "dashes come off, only ASCII letters and digits may remain (else 400 bad_request naming the "
        "field); a card's code is 8 to 20 of them: on activate anything else is 400 bad_request, on "
        "lookups an unknown card (400 instrument_error)."),
}
_KEY_DESCRIPTION = "The idempotency key: any string of 1 to 255 characters."

JsonNumber = Annotated[Decimal, BeforeValidator(_json_number), WithJsonSchema({"type": "number"})]
AmountNumber = Annotated[Decimal, BeforeValidator(_json_number), WithJsonSchema(_AMOUNT_SCHEMA)]
Str = Annotated[str, BeforeValidator(_string)]
Currency = Annotated[str, BeforeValidator(_string), WithJsonSchema(_CURRENCY_SCHEMA)]
# Read (prefix off, length, ASCII) by adapter.domain.cardnumbers where the handler uses it.
CardNumber = Annotated[str, BeforeValidator(_string), WithJsonSchema(_CARD_NUMBER_SCHEMA)]
IdempotencyKey = Annotated[str, BeforeValidator(_string), Field(min_length=1, max_length=255),
                           Field(description=_KEY_DESCRIPTION)]
# Free-form parts: kept with the write's intent and echoed, so bounded (adapter.http.bounds).
Metadata = Annotated[dict[str, Any], AfterValidator(bounds.bounded(bounds.METADATA_MAX_BYTES)),
                     WithJsonSchema({"type": "object", "additionalProperties": True, "maxProperties": bounds.MAX_KEYS,
                                     **free_form_bounds(bounds.METADATA_MAX_BYTES, _METADATA)})]
Transactions = Annotated[list[Any], AfterValidator(bounds.bounded(bounds.TRANSACTIONS_MAX_BYTES)),
                         WithJsonSchema({"type": "array", "maxItems": bounds.MAX_ITEMS,
                                         **free_form_bounds(bounds.TRANSACTIONS_MAX_BYTES,
                                                            "This instrument's earlier transactions, read, never trusted")})]
Ignored = Annotated[Any, AfterValidator(bounds.bounded(bounds.METADATA_MAX_BYTES)),
                    WithJsonSchema(free_form_bounds(bounds.METADATA_MAX_BYTES, "Ignored"))]


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

    currency: Currency
    value: AmountNumber

    _currency = field_validator("currency")(_known_currency)

    @field_validator("value")
    @classmethod
    def _money_rules(cls, value: Decimal, info) -> Decimal:
        return _money_rules(value, info.data.get("currency"))

    def money(self) -> Money:
        return Money.parse(self.value, self.currency)


class Identifier(_Model):
    number: CardNumber
    pin: Str | None = None


class Customer(_Model):
    id: Str | None = None
    email: Str | None = None
    name: Str | None = None

    def holder(self) -> CardHolder:
        return CardHolder(email=self.email, name=self.name)


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
    card_number: CardNumber
    amount: Amount
    customer: Customer
    metadata: Metadata | None = None
    idempotence_key: IdempotencyKey | None = None


class DeactivateRequest(_Model):
    card_number: CardNumber
    pin: Str | None = None
    store_id: Str | None = None
    idempotence_key: IdempotencyKey | None = None


class PspArguments(_Model):
    """PSP amounts arrive as arguments.amount + arguments.currency (major units)."""

    currency: Currency
    amount: AmountNumber
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

    model_config = ConfigDict(extra="allow", frozen=True, json_schema_extra={
        "maxProperties": bounds.MAX_KEYS,
        **free_form_bounds(bounds.METADATA_MAX_BYTES, f"The card number arrives in number. {_METADATA}")})
    number: CardNumber

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        if isinstance(value, dict):
            bounds.check_free_form(value, max_bytes=bounds.METADATA_MAX_BYTES)
        return value


class AuthorizeRequest(PspRequest):
    arguments: AuthorizeArguments
    metadata: AuthorizeMetadata


# Answers: written by adapter.http.presenter, described here for /openapi.json only.

AnswerNumber = Annotated[Decimal, WithJsonSchema({"type": "number"})]
_CODE_SCHEMA = {"type": "string", "pattern": "^[a-z0-9]{8,20}$",
                "description": "The normalised card number: spaces and dashes removed, lower case."}
_UUID_SCHEMA = {"type": "string", "format": "uuid"}
_TIME_SCHEMA = {"type": "string", "format": "date-time", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
                "description": "RFC 3339, UTC, whole seconds."}


def _optional(schema: dict[str, Any]) -> None:
    """An answer field that is absent rather than null: no null default in the document."""
    schema.pop("default", None)


class TransactionMetadata(BaseModel):
    """The request's metadata minus number, plus these two keys."""

    model_config = ConfigDict(extra="allow", frozen=True)
    gift_card_last_characters: Annotated[str, Field(min_length=1, max_length=4)]
    ledger_transaction_id: str = Field(None, description="The ledger transaction's id; absent on capture",  # type: ignore[assignment]
                                       json_schema_extra=_optional)


class PspTransaction(_Model):
    transaction_id: Annotated[str, WithJsonSchema(_UUID_SCHEMA)]
    instrument_id: Annotated[str, WithJsonSchema(_UUID_SCHEMA)]
    capture_amount: AnswerNumber
    refund_amount: AnswerNumber
    currency: Annotated[str, WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$"})]
    reason: Literal["authorization", "capture", "refund", "revoke"]
    payment_method: Literal["gift_card"]
    metadata: TransactionMetadata
    processed_at: Annotated[str, WithJsonSchema(_TIME_SCHEMA)]


class CardNumberIdentifier(_Model):
    number: Annotated[str, WithJsonSchema(_CODE_SCHEMA)]


class CardNumberAnswer(_Model):
    identifier: CardNumberIdentifier
    correlation_id: str = Field(None, min_length=1, max_length=255,  # type: ignore[assignment]
                                description="Echoed when the request had one", json_schema_extra=_optional)


class BalanceAnswer(_Model):
    value: Annotated[Decimal, WithJsonSchema({"type": "number", "minimum": 0})]
    currency: Annotated[str, WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$"})]


class ErrorAnswer(_Model):
    """NewStore's one error shape (spec section 4); the message names the field on bad_request."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    error_code: Literal["bad_request", "instrument_error", "unauthorized", "rate_limit", "retry_error",
                        "internal_error"]
    message: str
    request_accepted: Literal[False] = False
