"""Finding a card by its code: our registry first, then the ledger's lookup by code for cards made
elsewhere (where the ledger has one: otherwise a card is known only if we registered it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import structlog

from adapter import keyrotation
from adapter.domain.cardcode import CardCode
from adapter.domain.errors import Decline
from adapter.observability.metrics import LOOKUPS_JOINED, UNKNOWN_CARD_HITS
from adapter.ports import LedgerCard, LedgerError, Priority
from adapter.services.context import Services
from adapter.services.ledger_errors import transient_from
from adapter.store import cards as registry
from adapter.store import writes
from adapter.store.cards import Registration
from adapter.store.writes import Intent, LedgerWrite, RegisteredCardIntent

log = structlog.get_logger(__name__)

UNKNOWN_CARD = "unknown gift card"
NOT_KNOWN_HERE = "card not known to this adapter"


@dataclass(frozen=True)
class Located:
    card_id: str
    # A card the ledger search found and our registry does not hold yet.
    discovered: Registration | None = None
    # The card as that search answered it, moments ago: a fresh read, so a balance needs no other.
    searched: LedgerCard | None = None


async def locate(services: Services, code: CardCode, deadline: float) -> Located:
    """The card with this code (registered now if the search discovered it), or
    Decline("unknown gift card")."""
    located = await find(services, code, deadline, registry_checked=False)
    if located.discovered is not None:
        async with services.pool.acquire() as conn:
            await registry.remember(conn, *located.discovered.values())
    return located


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
    Decline("unknown gift card") if there is none, or if the search found none for this code in
    the last UNKNOWN_CARD_TTL_SECONDS (after the registry was read: a card we registered always
    wins). The search is a lookup: under a flood it may be refused at once, a 503 to retry."""
    if not fits_ledger(services, code):
        raise Decline(unknown_card(services))  # no ledger call for something that can't be a code
    digest = services.vault.digest(code)
    # A search ahead was started because this process did not know the card: when it has found
    # it (and so put it in the cache), its answer, a discovery to register, comes from `ahead`.
    cached = services.card_ids.get(digest) if ahead is None else None
    if cached is not None:
        return Located(cached)
    if not registry_checked:
        async with services.pool.acquire() as conn:
            known = await keyrotation.find_registered(conn, services.vault, code)
        if known is not None:
            remember_known(services, digest, known.shopify_id)
            return Located(known.shopify_id)
    try:
        card = await ahead if ahead is not None else NOT_SEARCHED
        if card is NOT_SEARCHED:
            cached = services.card_ids.get(digest)  # found meanwhile (by the search ahead's check)
            if cached is not None:
                return Located(cached)
            running = _lookup(services, code, digest, deadline)
            card = await asyncio.shield(running) if running is not None else None
    except LedgerError as error:
        raise transient_from(error) from None
    if card is None:
        raise Decline(unknown_card(services))
    assert isinstance(card, LedgerCard)
    return Located(card.id, Registration(digest, services.vault.key_id, services.vault.encrypt_code(code), card.id,
                                         card.last_characters, card.balance.currency, "discovered"), card)


def fits_ledger(services: Services, code: CardCode) -> bool:
    """Whether the ledger could hold a card with this code at all."""
    return services.ledger.capabilities.code_rule.broken_by(code.value) is None


def unknown_card(services: Services) -> str:
    """What NewStore is told of a code we can't find: on a ledger that can't look codes up, a
    card is known only if we issued, activated or imported it (ledgers.md §3.3)."""
    return UNKNOWN_CARD if services.ledger.capabilities.lookup_by_code else NOT_KNOWN_HERE


def remember_known(services: Services, digest: bytes, card_id: str) -> None:
    """This process now knows the card with this code digest (registered or discovered)."""
    services.card_ids.put(digest, card_id)
    services.unknown_codes.discard(digest)


def _lookup(services: Services, code: CardCode, digest: bytes,
            deadline: float) -> asyncio.Future[LedgerCard | None] | None:
    """The ledger search for this code: the one already in flight for it, or a new one; None
    when the code is remembered as unknown (no search)."""
    running = services.lookups.get(digest)
    if running is not None:
        LOOKUPS_JOINED.inc()
        return running
    if digest in services.unknown_codes:
        UNKNOWN_CARD_HITS.inc()
        return None
    search = asyncio.ensure_future(_search(services, code, digest, deadline))
    services.lookups[digest] = search
    search.add_done_callback(_retrieve)
    return search


async def _search(services: Services, code: CardCode, digest: bytes, deadline: float) -> LedgerCard | None:
    """Search the ledger for the one card with this code, and remember the answer, found or
    not, before anyone else can ask (a failure is not remembered)."""
    try:
        card = await services.ledger.find_by_code(code=code.value, deadline=deadline, priority=Priority.LOOKUP)
        if card is None:
            log.info("card_not_found")
            services.unknown_codes.add(digest)
            return None
        # Known to this process at once: the mapping is a fact of the ledger, registered or not.
        remember_known(services, digest, card.id)
        log.info("card_discovered")
        return card
    finally:
        if services.lookups.get(digest) is asyncio.current_task():
            del services.lookups[digest]


def planned_for_card(
    services: Services, code: CardCode, intent_for: Callable[[str | None], Intent], *, even_unregistered: bool = False
) -> Intent | RegisteredCardIntent | None:
    """The intent of a write to the card with this code, to record with the claim: complete when
    this process knows the card's id, else for the claim's statement to complete from our
    registry (`even_unregistered`: recorded without the id if the registry lacks it too). None
    for a code that can't be a card's (the use case declines it)."""
    if not fits_ledger(services, code):
        return None
    digest = services.vault.digest(code)
    card_id = services.card_ids.get(digest)
    if card_id is not None:
        return intent_for(card_id)
    return RegisteredCardIntent(intent_for(None), services.vault.digests(code), even_unregistered)


class _NotSearched:
    def __repr__(self) -> str:
        return "NOT_SEARCHED"


# The answer of a search ahead that chose not to search: find() looks the usual way.
NOT_SEARCHED = _NotSearched()

# The ledger search for a card, already running: the card, None (no such card) or NOT_SEARCHED.
SearchAhead = asyncio.Future["LedgerCard | None | _NotSearched"]


def search_ahead(services: Services, code: CardCode, planned: Intent | RegisteredCardIntent | None,
                 deadline: float, *, operation: str, key: str | None) -> SearchAhead | None:
    """Start the ledger search for a card this process does not know (its plan is a
    RegisteredCardIntent) while the claim's statement runs: at a card's first sight the search
    then costs no time of its own.

    Before it searches it reads, in one query, whether the key already has a record (a replay,
    or a duplicate another process is working on) or our registry knows the card: then it
    does not search at all. The query runs alongside the claim and delays the search by one
    round trip, so a replayed key never spends Shopify's query budget (issue #10: 50 replays
    made 50 searches). A search is still wasted when the key's first request is concurrent
    with it on another replica. Worth it only for rare operations: deactivate uses it;
    authorize, which shares that budget with every payment and often meets cards another
    replica has registered, does not."""
    if not isinstance(planned, RegisteredCardIntent):
        return None
    digest = services.vault.digest(code)
    if digest in services.unknown_codes and digest not in services.lookups:
        return None  # find() answers it, once the claim has read the registry
    ahead = asyncio.ensure_future(_search_unless_answered(services, code, digest, deadline, operation, key))
    ahead.add_done_callback(_retrieve)
    return ahead


async def _search_unless_answered(services: Services, code: CardCode, digest: bytes, deadline: float,
                                  operation: str, key: str | None) -> LedgerCard | None | _NotSearched:
    if key is not None:
        async with services.pool.acquire() as conn:
            seen = await registry.before_search(conn, operation, key, services.vault.digests(code))
        if seen.shopify_id is not None:
            remember_known(services, digest, seen.shopify_id)
            return NOT_SEARCHED
        if seen.key_state == "final" or (seen.key_state is not None and seen.key_holder != services.idempotency.owner):
            # Answered already, or being answered elsewhere. A record held by this process is
            # this very request's claim (or a duplicate of it here, which shares the search).
            return NOT_SEARCHED
    if services.card_ids.get(digest) is not None:
        return NOT_SEARCHED  # found meanwhile, by a search for a duplicate of this request
    running = _lookup(services, code, digest, deadline)
    # Shielded: others may be waiting for the same search.
    return await asyncio.shield(running) if running is not None else None


def _retrieve(search: asyncio.Future) -> None:
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
