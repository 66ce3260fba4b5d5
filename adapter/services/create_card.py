"""Issue and activate: create a card in the ledger, exactly once.

The intent (code digest, encrypted code, write id) is in Postgres before the create is sent.
Resending a create with the same code can never make a second card, because codes are unique
per shop: "code taken" after an attempt that may have landed means "find it", and the ledger
proves the card ours (ledger.find_created).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from adapter.domain.cardcode import CardCode
from adapter.domain.errors import Decline, InvalidInput, RetryLater
from adapter.domain.money import Money
from adapter.idempotency.coordinator import Claim, StoredResponse, fingerprint
from adapter.observability import metrics
from adapter.ports import CardHolder, DeclineReason, LedgerCard, LedgerDecline, LedgerError
from adapter.services import cards, sending
from adapter.services.context import Services
from adapter.services.finishing import earlier_write, finish_declined
from adapter.services.ledger_errors import decline_from, transient_from
from adapter.services.plan import Plan
from adapter.services.results import CardNumberResult
from adapter.store import writes
from adapter.store.completion import Movement, RegisterCard
from adapter.store.writes import Intent, LedgerWrite, WriteState

log = structlog.get_logger(__name__)

MAX_CODE_COLLISIONS = 5


class CodeInUse(Decline):
    """The ledger already has a card with the code an activation asked for."""

    def __init__(self) -> None:
        super().__init__("card number already in use")


@dataclass(frozen=True)
class CreateCommand:
    operation: str                # "issue" or "activate"
    amount: Money
    code: CardCode | None         # None for issue: we generate it
    customer_id: str | None
    correlation_id: str | None = None
    holder: CardHolder | None = None  # for a ledger that links cards to customers; never stored


async def create_card(services: Services, claim: Claim, command: CreateCommand, deadline: float) -> StoredResponse:
    write = await earlier_write(services, claim)
    try:
        if write is None:
            await _ensure_shop_currency(services, command.amount, deadline)
            write = await _record_intent(services, claim, command)
        card, code = await _create_once(services, command, write, deadline)
    except CodeInUse as in_use:
        return await _code_in_use(services, claim, command, write, in_use)
    except Decline as decline:
        return await finish_declined(services, claim, decline, write.write_id if write else None)
    movement = Movement(command.operation, write.write_id, card.id, card.last_characters, command.amount.amount,
                        command.amount.currency)
    registration = RegisterCard(services.vault.digest(code), services.vault.key_id, services.vault.encrypt_code(code),
                                card.id, card.last_characters, card.balance.currency, command.operation,
                                write.context.get("customer_id"))
    async with services.pool.acquire() as conn:
        answer = await claim.finish_applied(conn, CardNumberResult(code, write.context.get("correlation_id")),
                                            movement, registration)
    # Registered: a code remembered as unknown here (asked before it was activated) is known now.
    cards.remember_known(services, registration.code_digest, card.id)
    return answer


async def _ensure_shop_currency(services: Services, amount: Money, deadline: float) -> None:
    try:
        currency = await services.shop_currency.get(deadline)
    except LedgerError as error:
        raise transient_from(error) from None
    if amount.currency != currency:
        raise Decline("currency does not match the shop's gift-card currency")


def plan(services: Services, command: CreateCommand, deadline: float) -> Plan:
    """Issue: its effect is the amount. Activate: the card and the amount; a code the ledger
    could never hold is refused before anything is recorded (InvalidInput naming the rule)."""
    if command.code is None:
        fp = fingerprint("issue", command.amount.amount, command.amount.currency)
    else:
        broken_rule = services.ledger.capabilities.code_rule.broken_by(command.code.value)
        if broken_rule is not None:
            raise InvalidInput("card_number", f"must be {broken_rule} (spaces and dashes ignored)")
        fp = fingerprint("activate", services.vault.digest(command.code), command.amount.amount,
                         command.amount.currency)
    return Plan(fp, lambda claim: create_card(services, claim, command, deadline), planned_intent(services, command))


def planned_intent(services: Services, command: CreateCommand) -> Intent | None:
    """The create's intent, to record with the claim, when it is known without I/O: the shop's
    currency is already known and matches (otherwise the use case checks it first)."""
    if services.shop_currency.known != command.amount.currency:
        return None
    return _intent(services, command)


def _intent(services: Services, command: CreateCommand) -> Intent:
    code = command.code or CardCode.generate()
    return Intent(
        command.operation, code_digest=services.vault.digest(code), code_encrypted=services.vault.encrypt_code(code),
        code_key_id=services.vault.key_id,
        amount=command.amount.amount, currency=command.amount.currency,
        context={"customer_id": command.customer_id, "correlation_id": command.correlation_id},
    )


async def _record_intent(services: Services, claim: Claim, command: CreateCommand) -> LedgerWrite:
    async with services.pool.acquire() as conn:
        return await writes.record_intent(conn, claim.record_id, _intent(services, command), sending=True)


async def _create_once(
    services: Services, command: CreateCommand, write: LedgerWrite, deadline: float
) -> tuple[LedgerCard, CardCode]:
    if write.state is WriteState.DECLINED:
        raise Decline("the gift card could not be created")
    code = services.vault.decrypt_code(write.code_encrypted)
    previously_sent = write.may_have_been_sent and not write.counted_now
    counted = write.counted_now
    for _ in range(MAX_CODE_COLLISIONS):
        try:
            card = await sending.attempt(
                services, write,
                lambda: services.ledger.create_card(code=code.value, amount=command.amount, ref=write.ref,
                                                    deadline=deadline, holder=command.holder),
                counted=counted)
            return card, code
        except LedgerDecline as declined:
            if declined.reason is not DeclineReason.CODE_TAKEN:
                raise decline_from(declined) from None
            if previously_sent:
                found = await _find_our_card(services, code, write, deadline)
                if found is not None:
                    metrics.SETTLEMENTS.labels(command.operation, "applied").inc()
                    return found, code
            if command.operation == "activate":
                if previously_sent:
                    # Taken, but our own earlier attempt may not be searchable yet.
                    raise RetryLater("card creation not yet confirmed, retry with the same key") from None
                raise CodeInUse() from None
            if previously_sent:
                raise RetryLater("card creation not yet confirmed, retry with the same key") from None
            code = await _replace_code(services, write)
        finally:
            counted = False
    raise RetryLater("could not find a free card code, retry with the same key")


async def _code_in_use(services: Services, claim: Claim, command: CreateCommand, write: LedgerWrite,
                       in_use: CodeInUse) -> StoredResponse:
    """The ledger refused this key's activation: the code is taken. Some integrations (NewStore's
    NetSuite job among them) retry an activation under a fresh key: when one of our own
    activations loaded this card with this amount and currency, answer as it did, 200 with the
    number, and load nothing. While such an activation is still unsettled, retry later. Any
    other card with this code stays "card number already in use"."""
    async with services.pool.acquire() as conn:
        earlier = await writes.other_activation_state(conn, services.vault.digests(command.code),
                                                      command.amount.amount, command.amount.currency, write.write_id)
        if earlier is None:
            return await finish_declined(services, claim, in_use, write.write_id)
        if earlier is not WriteState.APPLIED:
            await writes.mark_not_sent(conn, write.write_id)  # refused by the ledger: nothing landed
            raise RetryLater("an earlier activation of this card is not settled yet, retry", retry_after=1)
        metrics.REPEATED_ACTIVATIONS.inc()
        log.info("activation_repeated_under_new_key")
        async with conn.transaction():
            await writes.mark_declined(conn, write.write_id)
            return await claim.finish(conn, CardNumberResult(command.code, write.context.get("correlation_id")))


async def _replace_code(services: Services, write: LedgerWrite) -> CardCode:
    metrics.CODE_COLLISIONS.inc()
    log.warning("generated_code_collision")
    code = CardCode.generate()
    async with services.pool.acquire() as conn:
        await writes.replace_code(conn, write.write_id, services.vault.digest(code), services.vault.encrypt_code(code),
                                  services.vault.key_id)
    return code


async def _find_our_card(services: Services, code: CardCode, write: LedgerWrite, deadline: float) -> LedgerCard | None:
    """The card with this code, if the ledger proves this write created it."""
    try:
        return await services.ledger.find_created(code=code.value, ref=write.ref, deadline=deadline)
    except LedgerError as error:
        raise transient_from(error) from None
