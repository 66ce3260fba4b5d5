"""NewStore request models. They validate requests and generate /openapi.json.

Unknown fields are accepted and ignored everywhere (extra="ignore"). Amounts arrive already
parsed as Decimal (adapter.http.jsonio) and are checked against the currency's minor unit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from adapter.domain.cardcode import CardCode
from adapter.domain.money import Money, MoneyError, check_amount, parse_currency


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)


class Amount(_Model):
    """Major units: 25.5 means 25.50. Currency is checked first so the value can use it."""

    currency: Str
    value: JsonNumber

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        try:
            return parse_currency(currency)
        except MoneyError as error:
            raise PydanticCustomError("currency", str(error)) from None

    @field_validator("value")
    @classmethod
    def _money_rules(cls, value: Decimal, info) -> Decimal:
        currency = info.data.get("currency")
        try:
            if currency is None:
                check_amount(value)  # the currency is itself invalid: check what doesn't depend on it
            else:
                Money.parse(value, currency)
        except MoneyError as error:
            raise PydanticCustomError("money", str(error)) from None
        return value

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
    metadata: dict[str, Any] | None = None


class IssueRequest(_Model):
    amount: Amount
    customer: Customer
    metadata: dict[str, Any] | None = None
    idempotence_key: IdempotencyKey | None = None
    correlation_id: IdempotencyKey | None = None


class ActivateRequest(_Model):
    card_number: Str
    amount: Amount
    customer: Customer
    metadata: dict[str, Any] | None = None
    idempotence_key: IdempotencyKey | None = None

    @field_validator("card_number")
    @classmethod
    def _ledger_code(cls, number: str) -> str:
        if not CardCode(number).is_ledger_valid:
            raise PydanticCustomError("card_number", "must be 8 to 20 letters a-z or digits 0-9 (spaces and dashes ignored)")
        return number


class DeactivateRequest(_Model):
    card_number: Str
    pin: Str | None = None
    store_id: Str | None = None
    idempotence_key: IdempotencyKey | None = None


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
