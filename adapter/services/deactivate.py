"""Deactivate: permanent in the ledger, and harmless to repeat (Shopify answers success)."""

from __future__ import annotations

from adapter.domain.cardcode import CardCode
from adapter.domain.errors import Decline
from adapter.idempotency.coordinator import Claim, StoredResponse
from adapter.ports import LedgerDecline, LedgerError
from adapter.services import cards
from adapter.services.context import Services
from adapter.services.finishing import earlier_write, finish_declined
from adapter.services.ledger_errors import decline_from, transient_from
from adapter.services.results import CardNumberResult
from adapter.store import audit, writes


async def deactivate(services: Services, claim: Claim, code: CardCode, deadline: float) -> StoredResponse:
    try:
        card_id = await cards.locate(services, code, deadline)
    except Decline as decline:
        return await finish_declined(services, claim, decline)
    write = await earlier_write(services, claim)
    async with services.pool.acquire() as conn:
        if write is None:
            # The code is kept (encrypted) until the write is settled: the answer carries it.
            write = await writes.record_intent(conn, idempotency_id=claim.record_id, operation="deactivate",
                                               shopify_card_id=card_id, code_digest=services.vault.digest(code),
                                               code_encrypted=services.vault.encrypt_code(code), sending=True)
        else:
            await writes.mark_sending(conn, write.write_id)
    try:
        card = await services.ledger.deactivate(card_id=card_id, deadline=deadline)
    except LedgerDecline as declined:
        return await finish_declined(services, claim, _as_decline(declined), write.write_id)
    except LedgerError as error:
        # Unknown or unavailable alike: resending a deactivate is harmless, so the retry simply
        # sends it again.
        raise transient_from(error) from None
    async with services.pool.acquire() as conn, conn.transaction():
        await writes.mark_applied(conn, write.write_id)
        await audit.record(conn, operation="deactivate", write_id=write.write_id, shopify_card_id=card.id,
                           last_characters=card.last_characters, amount=None, currency=None,
                           idempotency_key_id=claim.record_id)
        return await claim.finish(conn, CardNumberResult(code))


def _as_decline(declined: LedgerDecline) -> Decline:
    error = decline_from(declined)
    return error if isinstance(error, Decline) else Decline(cards.UNKNOWN_CARD)
