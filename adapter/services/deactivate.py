"""Deactivate: permanent in the ledger, and harmless to repeat (Shopify answers success)."""

from __future__ import annotations

from adapter.domain.cardcode import CardCode
from adapter.domain.errors import Decline
from adapter.idempotency.coordinator import Claim, StoredResponse, fingerprint
from adapter.ports import LedgerDecline, LedgerError
from adapter.services import cards
from adapter.services.context import Services
from adapter.services.finishing import earlier_write, finish_declined
from adapter.services.ledger_errors import decline_from, transient_from
from adapter.services.plan import Plan
from adapter.services.results import CardNumberResult
from adapter.store import writes
from adapter.store.completion import Movement, RegisterCard
from adapter.store.writes import Intent, RegisteredCardIntent


async def deactivate(services: Services, claim: Claim, code: CardCode, deadline: float,
                     ahead: cards.SearchAhead | None = None) -> StoredResponse:
    write = await earlier_write(services, claim)
    try:
        if write is None:
            write = await cards.record_card_intent(
                services, code, deadline, record_id=claim.record_id, registry_checked=claim.registry_checked,
                intent_for=lambda card_id: _intent(services, code, card_id), ahead=ahead)
        elif not write.counted_now:
            async with services.pool.acquire() as conn:
                await writes.mark_sending(conn, write.write_id)
        card_id, discovered = write.shopify_card_id, None
        if card_id is None:
            # Recorded with the claim before the card was found: a deactivation moves no money,
            # and its encrypted code is all a resumption needs to find the card again.
            located = await cards.find(services, code, deadline, registry_checked=claim.registry_checked,
                                      ahead=ahead)
            card_id, discovered = located.card_id, located.discovered
    except Decline as decline:
        return await finish_declined(services, claim, decline, write.write_id if write is not None else None)
    try:
        card = await services.ledger.deactivate(card_id=card_id, deadline=deadline)
    except LedgerDecline as declined:
        return await finish_declined(services, claim, _as_decline(declined), write.write_id)
    except LedgerError as error:
        # Unknown or unavailable alike: resending a deactivate is harmless, so the retry simply
        # sends it again.
        raise transient_from(error) from None
    movement = Movement("deactivate", write.write_id, card.id, card.last_characters, amount=None, currency=None)
    registered = RegisterCard(*discovered.values()) if discovered is not None else None
    async with services.pool.acquire() as conn:
        return await claim.finish_applied(conn, CardNumberResult(code), movement, registered)


def plan(services: Services, code: CardCode, key: str | None, deadline: float) -> Plan:
    """Its effect is the card. A card this process does not know is searched for while the
    claim's statement runs (cards.search_ahead)."""
    planned = planned_intent(services, code)
    ahead = cards.search_ahead(services, code, planned, deadline, operation="deactivate", key=key)
    return Plan(fingerprint("deactivate", services.vault.digest(code)),
                lambda claim: deactivate(services, claim, code, deadline, ahead), planned)


def planned_intent(services: Services, code: CardCode) -> Intent | RegisteredCardIntent | None:
    """The deactivation's intent, to record with the claim even before its card is found (see
    cards.planned_for_card)."""
    return cards.planned_for_card(services, code, lambda card_id: _intent(services, code, card_id),
                                  even_unregistered=True)


def _intent(services: Services, code: CardCode, card_id: str | None) -> Intent:
    # The code is kept (encrypted) until the write is settled: the answer carries it.
    return Intent("deactivate", shopify_card_id=card_id, code_digest=services.vault.digest(code),
                  code_encrypted=services.vault.encrypt_code(code), code_key_id=services.vault.key_id)


def _as_decline(declined: LedgerDecline) -> Decline:
    error = decline_from(declined)
    return error if isinstance(error, Decline) else Decline(cards.UNKNOWN_CARD)
