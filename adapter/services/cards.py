"""Finding a card by its code: our registry first, then Shopify's search for cards made elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import structlog

from adapter import keyrotation
from adapter.domain.cardcode import CardCode
from adapter.domain.errors import Decline
from adapter.ports import LedgerCard, LedgerError
from adapter.services.context import Services
from adapter.services.ledger_errors import transient_from
from adapter.store import cards as registry
from adapter.store import writes
from adapter.store.cards import Registration
from adapter.store.writes import Intent, LedgerWrite, RegisteredCardIntent

log = structlog.get_logger(__name__)

UNKNOWN_CARD = "unknown gift card"


@dataclass(frozen=True)
class Located:
    card_id: str
    # A card the ledger search found and our registry does not hold yet.
    discovered: Registration | None = None


async def locate(services: Services, code: CardCode, deadline: float) -> str:
    """The Shopify id of the card with this code, or Decline("unknown gift card")."""
    located = await find(services, code, deadline, registry_checked=False)
    if located.discovered is not None:
        async with services.pool.acquire() as conn:
            await registry.remember(conn, *located.discovered.values())
    return located.card_id


async def record_card_intent(
    services: Services, code: CardCode, deadline: float, *, record_id: int, registry_checked: bool,
    intent_for: Callable[[str | None], Intent], ahead: SearchAhead | None = None,
) -> LedgerWrite:
    """Find the card (registry, then ledger search) and record the intent of a write to it, with
    its first attempt counted; a card the search discovered is registered in the same statement.

    `registry_checked`: the registry was just read for this code (by the claim's statement)."""
    located = await find(services, code, deadline, registry_checked=registry_checked, ahead=ahead)
    async with services.pool.acquire() as conn:
        return await writes.record_intent(conn, record_id, intent_for(located.card_id), sending=True,
                                          register=located.discovered)


async def find(services: Services, code: CardCode, deadline: float, *, registry_checked: bool,
               ahead: SearchAhead | None = None) -> Located:
    """The card's id (cache, registry unless `registry_checked`, then the ledger search, or the
    one started `ahead`), and its registration when the search discovered it;
    Decline("unknown gift card") if there is none."""
    if not code.is_ledger_valid:
        raise Decline(UNKNOWN_CARD)  # no ledger call for something that can't be a code
    digest = services.vault.digest(code)
    cached = services.card_ids.get(digest)
    if cached is not None:
        return Located(cached)
    if not registry_checked:
        async with services.pool.acquire() as conn:
            known = await keyrotation.find_registered(conn, services.vault, code)
        if known is not None:
            services.card_ids.put(digest, known.shopify_id)
            return Located(known.shopify_id)
    try:
        if ahead is None:
            ahead = services.ledger.search_cards(query=code.value, first=2, deadline=deadline)
        hits = await ahead
    except LedgerError as error:
        raise transient_from(error) from None
    # Only the full code can identify a card, and a hit can only be checked by its last four.
    if len(hits) != 1 or hits[0].last_characters != code.last4:
        log.info("card_not_found", hits=len(hits))
        raise Decline(UNKNOWN_CARD)
    card = hits[0]
    # Known to this process at once: the mapping is a fact of the ledger, registered or not.
    services.card_ids.put(digest, card.id)
    log.info("card_discovered")
    return Located(card.id, Registration(digest, services.vault.key_id, services.vault.encrypt_code(code), card.id,
                                         card.last_characters, card.balance.currency, "discovered"))


def planned_for_card(
    services: Services, code: CardCode, intent_for: Callable[[str | None], Intent], *, even_unregistered: bool = False
) -> Intent | RegisteredCardIntent | None:
    """The intent of a write to the card with this code, to record with the claim: complete when
    this process knows the card's id, else for the claim's statement to complete from our
    registry (`even_unregistered`: recorded without the id if the registry lacks it too). None
    for a code that can't be a card's (the use case declines it)."""
    if not code.is_ledger_valid:
        return None
    digest = services.vault.digest(code)
    card_id = services.card_ids.get(digest)
    if card_id is not None:
        return intent_for(card_id)
    return RegisteredCardIntent(intent_for(None), services.vault.digests(code), even_unregistered)


# The ledger search for a card, already running.
SearchAhead = asyncio.Future[list[LedgerCard]]


def search_ahead(services: Services, code: CardCode, planned: Intent | RegisteredCardIntent | None,
                 deadline: float) -> SearchAhead | None:
    """Start the ledger search for a card this process does not know (its plan is a
    RegisteredCardIntent) while the claim's statement runs: at a card's first sight the search
    then costs no time of its own.

    The price is a wasted search, which spends Shopify's query budget, whenever our registry
    knows the card after all or the key turns out to be answered already. Worth it only for rare
    operations: deactivate uses it; authorize, which shares that budget with every payment and
    often meets cards another replica has registered, does not."""
    if not isinstance(planned, RegisteredCardIntent):
        return None
    search = asyncio.ensure_future(services.ledger.search_cards(query=code.value, first=2, deadline=deadline))
    search.add_done_callback(_retrieve)
    return search


def _retrieve(search: SearchAhead) -> None:
    # An unused search's failure is nobody's business: mark it retrieved, so asyncio does not
    # log it as lost.
    if not search.cancelled():
        search.exception()


async def read_usable(services: Services, card_id: str, deadline: float) -> LedgerCard:
    """The card, fresh from the ledger; Decline when it is unknown, deactivated or expired."""
    try:
        card = await services.ledger.get_card(card_id=card_id, deadline=deadline)
    except LedgerError as error:
        raise transient_from(error) from None
    if card is None:
        raise Decline(UNKNOWN_CARD)
    ensure_usable(card, services.today())
    return card


def ensure_usable(card: LedgerCard, today: date) -> None:
    if not card.enabled:
        raise Decline("gift card is deactivated")
    if card.is_expired(today):
        raise Decline("gift card has expired")
