"""Return balance: always read fresh from the ledger; a cached balance is a wrong balance."""

from __future__ import annotations

from adapter.domain.cardcode import CardCode
from adapter.services import cards
from adapter.services.context import Services
from adapter.services.results import BalanceResult


async def balance(services: Services, code: CardCode, deadline: float) -> BalanceResult:
    card_id = await cards.locate(services, code, deadline)
    card = await cards.read_usable(services, card_id, deadline)
    return BalanceResult(card.balance)
