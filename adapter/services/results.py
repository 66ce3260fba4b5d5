"""Use-case results: what the HTTP layer presents to NewStore."""

from __future__ import annotations

from dataclasses import dataclass

from adapter.domain.cardcode import CardCode
from adapter.domain.money import Money


@dataclass(frozen=True)
class BalanceResult:
    balance: Money


@dataclass(frozen=True)
class CardNumberResult:
    """issue, activate and deactivate all answer with the card's (normalised) number."""

    code: CardCode
    correlation_id: str | None = None
