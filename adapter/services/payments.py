"""The gift_card tender: authorize (debit at once), capture (bookkeeping), refund and revoke
(credit the same card back), with per-instrument totals that no duplicate or race can break.

Refund and revoke reserve their amount under the instrument's row lock, in the statement that
records the ledger-write intent (store/reservations); the reservation becomes a total, or is
given back, in the transaction that stores the final answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import structlog

from adapter import jsonio
from adapter.domain.cardcode import CardCode
from adapter.domain.errors import Decline, NotFound
from adapter.domain.money import Money
from adapter.idempotency.coordinator import Claim, StoredResponse, fingerprint
from adapter.jsonio import RawJson
from adapter.observability import metrics
from adapter.ports import LedgerTransaction
from adapter.services import cards
from adapter.services.context import Services
from adapter.services.finishing import earlier_write, finish_declined
from adapter.services.money_writes import credit_once, debit_once
from adapter.services.plan import Plan
from adapter.store import audit, balance_intents, instruments, reservations, writes
from adapter.store.completion import Movement, OpenInstrument, SettleReservation
from adapter.store.instruments import Instrument
from adapter.store.reservations import InstrumentRoom, Reservation
from adapter.store.writes import Intent, RegisteredCardIntent

log = structlog.get_logger(__name__)

UNKNOWN_INSTRUMENT = "unknown instrument"
REVERSED_MESSAGE = "authorization could not be confirmed in time; the amount was returned to the gift card"
REVERSE_REFUSED = "reverse_refused"
REVERSE_REFUSED_MESSAGE = ("authorization could not be confirmed in time, and the gift card refused the amount back;"
                           " it is held for manual review")
CURRENCY_MISMATCH = "currency does not match the instrument's currency"


@dataclass(frozen=True)
class PaymentResult:
    """One NewStore transaction: the deltas, and what the ledger confirmed."""

    reason: str                      # authorization | capture | refund | revoke
    instrument_id: UUID
    capture_delta: Decimal
    refund_delta: Decimal
    currency: str
    last_characters: str
    metadata: RawJson                # the caller's metadata, encoded before the ledger write
    processed_at: datetime
    ledger_transaction_id: str | None = None
    transaction_id: UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class PaymentCommand:
    amount: Money
    # Encoded when the request was validated: after the ledger write the answer is only put
    # together from pieces that are known to encode, and nothing about the metadata can fail.
    metadata: RawJson
    account_id: str | None = None


def stored_metadata(context: dict[str, Any]) -> RawJson:
    """The metadata an intent recorded, as encoded before the write."""
    if "metadata_json" in context:
        return RawJson(context["metadata_json"])
    return RawJson(jsonio.dumps(context.get("metadata") or {}).decode())  # recorded before 004


# ---- authorize -------------------------------------------------------------------------------

async def authorize(services: Services, claim: Claim, code: CardCode, command: PaymentCommand,
                    deadline: float) -> StoredResponse:
    write = await earlier_write(services, claim)
    if write is not None and write.operation == "reverse":
        # The settler gave this debit back (nobody retried in time): the key's answer is that
        # decline, whichever worker finishes the credit.
        return await reverse_unanswered(services, claim, write, deadline)
    try:
        if write is None:
            write = await cards.record_card_intent(
                services, code, deadline, record_id=claim.record_id, registry_checked=claim.registry_checked,
                intent_for=lambda card_id: _authorize_intent(services, code, command, card_id))
        transaction = await debit_once(services, write, deadline)
    except Decline as decline:
        return await finish_declined(services, claim, decline, write.write_id if write else None)
    async with services.pool.acquire() as conn:
        return await complete_authorize(conn, claim, write, transaction)


def plan_authorize(services: Services, code: CardCode, command: PaymentCommand, deadline: float) -> Plan:
    """Its effect: the card and the amount (metadata is echoed, it moves nothing)."""
    fp = fingerprint("authorize", services.vault.digest(code), command.amount.amount, command.amount.currency)
    return Plan(fp, lambda claim: authorize(services, claim, code, command, deadline),
                planned_authorize_intent(services, code, command))


def plan_capture(services: Services, instrument_id: UUID | None, command: PaymentCommand) -> Plan:
    fp = fingerprint("capture", instrument_id, command.amount.amount, command.amount.currency)
    return Plan(fp, lambda claim: capture(services, claim, instrument_id, command))


def plan_credit_back(services: Services, operation: str, instrument_id: UUID | None, command: PaymentCommand,
                     deadline: float) -> Plan:
    """Refund or revoke: the instrument and the amount."""
    use_case = refund if operation == "refund" else revoke
    fp = fingerprint(operation, instrument_id, command.amount.amount, command.amount.currency)
    return Plan(fp, lambda claim: use_case(services, claim, instrument_id, command, deadline),
                planned_credit_back(operation, instrument_id, command))


def planned_authorize_intent(
    services: Services, code: CardCode, command: PaymentCommand
) -> Intent | RegisteredCardIntent | None:
    """The debit's intent, to record with the claim (see cards.planned_for_card)."""
    return cards.planned_for_card(services, code, lambda card_id: _authorize_intent(services, code, command, card_id))


def _authorize_intent(services: Services, code: CardCode, command: PaymentCommand, card_id: str | None) -> Intent:
    return Intent(
        "authorize", code_digest=services.vault.digest(code), code_key_id=services.vault.key_id,
        shopify_card_id=card_id, amount=command.amount.amount,
        currency=command.amount.currency, instrument_id=uuid.uuid4(),
        context={"metadata_json": str(command.metadata), "account_id": command.account_id, "last4": code.last4},
    )


async def complete_authorize(conn, claim: Claim, write: writes.LedgerWrite, transaction: LedgerTransaction) -> StoredResponse:
    """The debit landed: open the instrument and store the answer (also used by the settler)."""
    context = write.context
    opened = OpenInstrument(write.instrument_id, write.code_digest, write.shopify_card_id, context["last4"],
                            write.currency, context.get("account_id"), authorized=write.amount,
                            code_key_id=write.code_key_id)
    result = PaymentResult("authorization", write.instrument_id, write.amount, Decimal(0), write.currency,
                           context["last4"], stored_metadata(context), transaction.processed_at, transaction.id)
    return await _applied(conn, claim, write, result, transaction, opened)


async def reverse_unanswered(services: Services, claim: Claim, write: writes.LedgerWrite,
                             deadline: float) -> StoredResponse:
    """Credit an unanswered debit back (its `reverse` write), then answer the key with a final
    decline. Used by the settler, and by a retry that finds the reverse begun."""
    if write.state is writes.WriteState.DECLINED:
        return await _reverse_refused(services, claim, write, None)  # refused before: never resent
    try:
        transaction = await credit_once(services, write, deadline)
    except Decline as refusal:
        return await _reverse_refused(services, claim, write, refusal.message)
    movement = Movement("reverse", write.write_id, write.shopify_card_id, write.context.get("last4"), write.amount,
                        write.currency, transaction.id, transaction.processed_at)
    async with services.pool.acquire() as conn:
        return await claim.finish_applied(conn, Decline(REVERSED_MESSAGE), movement)


async def _reverse_refused(services: Services, claim: Claim, write: writes.LedgerWrite,
                           refusal: str | None) -> StoredResponse:
    """The ledger refused to take the unanswered debit back (the card was deactivated or expired
    meanwhile): the customer's money stays taken, and only a person can return it. The key is
    answered with a final decline that says so, and a review names the card and the amount, in
    one transaction. Forgetting the key instead (as for a write that moved nothing) would leave
    that debit on the ledger with nothing in our books pointing at it."""
    log.error("reverse_refused_manual_review", write_id=write.write_id)
    metrics.LEDGER_REVIEWS.labels(services.ledger.capabilities.name, REVERSE_REFUSED).inc()
    async with services.pool.acquire() as conn, conn.transaction():
        await balance_intents.open_review(conn, write.write_id, write.shopify_card_id, REVERSE_REFUSED, {
            "amount": str(write.amount), "currency": write.currency, "last4": write.context.get("last4"),
            "refusal": refusal}, applied=True)
        return await claim.finish(conn, Decline(REVERSE_REFUSED_MESSAGE))


# ---- capture -----------------------------------------------------------------------------------

async def capture(services: Services, claim: Claim, instrument_id: UUID | None, command: PaymentCommand) -> StoredResponse:
    async with services.pool.acquire() as conn, conn.transaction():
        try:
            instrument = await _locked(conn, instrument_id, command.amount)
            if command.amount.amount > instrument.capturable:
                left = _left(instrument.capturable, instrument.currency)
                raise Decline(f"capture exceeds what is left to capture ({left} available)")
        except Decline as decline:
            return await claim.finish(conn, decline)
        await instruments.add_capture(conn, instrument.id, command.amount.amount)
        result = PaymentResult("capture", instrument.id, -command.amount.amount, command.amount.amount,
                               instrument.currency, instrument.last_characters, command.metadata, datetime.now(UTC))
        await audit.record(conn, operation="capture", write_id=None, shopify_card_id=instrument.shopify_card_id,
                           last_characters=instrument.last_characters, amount=command.amount.amount,
                           currency=instrument.currency, instrument_id=instrument.id, idempotency_key_id=claim.record_id)
        return await claim.finish(conn, result)


# ---- refund and revoke -------------------------------------------------------------------------

async def refund(services: Services, claim: Claim, instrument_id: UUID | None, command: PaymentCommand,
                 deadline: float) -> StoredResponse:
    return await _credit_back(services, claim, "refund", instrument_id, command, deadline)


async def revoke(services: Services, claim: Claim, instrument_id: UUID | None, command: PaymentCommand,
                 deadline: float) -> StoredResponse:
    return await _credit_back(services, claim, "revoke", instrument_id, command, deadline)


async def _credit_back(services: Services, claim: Claim, operation: str, instrument_id: UUID | None,
                       command: PaymentCommand, deadline: float) -> StoredResponse:
    write = await earlier_write(services, claim)
    if write is None:
        try:
            write = await _reserve(services, claim, operation, instrument_id, command)
        except Decline as decline:
            return await finish_declined(services, claim, decline)
    try:
        transaction = await credit_once(services, write, deadline)
    except Decline as decline:
        async with services.pool.acquire() as conn, conn.transaction():
            await instruments.release_reservation(conn, write.instrument_id, operation, write.amount)
            return await claim.finish(conn, decline)
    async with services.pool.acquire() as conn:
        return await complete_credit_back(conn, claim, write, transaction)


async def complete_credit_back(conn, claim: Claim, write: writes.LedgerWrite,
                               transaction: LedgerTransaction) -> StoredResponse:
    """The credit landed: the reservation becomes the total, and the answer is stored."""
    last4 = write.context.get("last4")
    if last4 is None:  # recorded before intents carried it
        last4 = (await instruments.get(conn, write.instrument_id)).last_characters
    capture_delta, refund_delta = (
        (-write.amount, Decimal(0)) if write.operation == "revoke" else (Decimal(0), -write.amount)
    )
    result = PaymentResult(write.operation, write.instrument_id, capture_delta, refund_delta, write.currency,
                           last4, stored_metadata(write.context), transaction.processed_at, transaction.id)
    settled = SettleReservation(write.instrument_id, write.operation, write.amount)
    return await _applied(conn, claim, write, result, transaction, settled)


def planned_credit_back(operation: str, instrument_id: UUID | None, command: PaymentCommand) -> Reservation | None:
    """A refund or revoke checks its cap and reserves its amount in the claim's own statement;
    a refusal (unknown instrument, other currency, over the cap) is stored with the claim."""
    if instrument_id is None:
        return None  # no such instrument can exist: the use case answers 404 itself
    return _reservation(operation, instrument_id, command)


def _reservation(operation: str, instrument_id: UUID, command: PaymentCommand) -> Reservation:
    return Reservation(operation, instrument_id, command.amount.amount, command.amount.currency, command.metadata,
                       refusal=lambda room: _refusal(operation, command.amount, room))


def _refusal(operation: str, asked: Money, room: InstrumentRoom | None) -> Decline:
    """Why nothing was reserved, worded for NewStore."""
    if room is None:
        return NotFound(UNKNOWN_INSTRUMENT)
    if asked.currency != room.currency:
        return Decline(CURRENCY_MISMATCH)
    if operation == "refund":
        return Decline(f"refund exceeds what is left to refund ({_left(room.refundable, room.currency)} available)")
    return Decline(f"nothing left to revoke ({_left(Decimal(0), room.currency)} available)")


async def _reserve(services: Services, claim: Claim, operation: str, instrument_id: UUID | None,
                   command: PaymentCommand) -> writes.LedgerWrite:
    """For a claim that recorded no reservation (taken over, or an id we could never have
    minted): check the cap, reserve and record the write in one statement."""
    if instrument_id is None:
        raise NotFound(UNKNOWN_INSTRUMENT)
    async with services.pool.acquire() as conn:
        return await reservations.reserve(conn, claim.record_id, _reservation(operation, instrument_id, command))


# ---- shared ------------------------------------------------------------------------------------

async def _locked(conn, instrument_id: UUID | None, amount: Money) -> Instrument:
    instrument = await instruments.lock(conn, instrument_id) if instrument_id is not None else None
    if instrument is None:
        raise NotFound(UNKNOWN_INSTRUMENT)
    if amount.currency != instrument.currency:
        raise Decline(CURRENCY_MISMATCH)
    return instrument


def _left(amount: Decimal, currency: str) -> str:
    return str(Money.from_ledger(str(amount), currency))


async def _applied(conn, claim: Claim, write: writes.LedgerWrite, result: PaymentResult,
                   transaction: LedgerTransaction, rows: OpenInstrument | SettleReservation) -> StoredResponse:
    """Mark the write applied, audit the movement, write the instrument's rows and store the
    answer: one statement."""
    movement = Movement(write.operation, write.write_id, write.shopify_card_id, result.last_characters,
                        abs(transaction.amount.amount), result.currency, transaction.id, transaction.processed_at,
                        result.instrument_id)
    return await claim.finish_applied(conn, result, movement, rows)
