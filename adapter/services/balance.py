"""Return balance: always read fresh from the ledger; a cached balance is a wrong balance."""

from __future__ import annotations

from adapter.domain.cardcode import CardCode
from adapter.services import cards
from adapter.services.context import Services
from adapter.services.results import BalanceResult


async def balance(services: Services, code: CardCode, deadline: float) -> BalanceResult:
    located = await cards.locate(services, code, deadline)
    if located.searched is not None:  # read by the search that found it: no second read
        cards.ensure_usable(located.searched, services.today())
        return BalanceResult(located.searched.balance)
    card = await cards.read_usable(services, located.card_id, deadline)
    return BalanceResult(card.balance)
