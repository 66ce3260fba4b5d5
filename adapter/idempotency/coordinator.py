"""Exactly-once request handling on Postgres (after Brandur Leach's idempotency keys).

- A final record for (operation, key) is replayed byte for byte, whatever the new body says.
- Otherwise the request claims the key with one arbitrated INSERT ... ON CONFLICT; the winner
  holds a lease and does the work. A ledger-write intent the use case can plan upfront is
  recorded in the claim's own statement (for a refund or revoke, with its reservation). Its
  final answer is stored by the use case with the business rows, in one transaction
  (Claim.finish) or one statement (Claim.finish_applied).
- A concurrent duplicate polls briefly for that answer, then gives up with 503.
- An open record whose lease ran out (its process died, or it gave the lease back after an
  unknown outcome) is taken over, and the use case resumes from what it recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from adapter.crypto import CodeVault
from adapter.domain.errors import RetryLater
from adapter.observability import metrics
from adapter.store import completion
from adapter.store import idempotency as records
from adapter.store import instruments, reservations
from adapter.store.completion import Movement, UseCaseRows
from adapter.store.idempotency import FinalAnswer, IdempotencyRecord
from adapter.store.instruments import InstrumentFacts, ReadInstrument
from adapter.store.reservations import Reservation
from adapter.store.writes import Intent, LedgerWrite, RegisteredCardIntent

log = structlog.get_logger(__name__)

_POLL_SECONDS = (0.01, 0.02, 0.05, 0.1)

# Answers of these operations carry a card number: stored encrypted.
ENCRYPTED_OPERATIONS = frozenset({"issue", "activate", "deactivate"})


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    replayed: bool = False


# Turns a use case's outcome (a result or a final Decline) into NewStore's status and body.
Presenter = Callable[[Any], tuple[int, bytes]]


@dataclass
class Claim:
    """The right to work on one key, held until finish() or the lease ends."""

    record: IdempotencyRecord
    owner: str
    vault: CodeVault
    presenter: Presenter
    encrypt: bool
    # True when this request created the record: nothing of an earlier attempt can exist.
    fresh: bool = False
    # The ledger write recorded with the claim, when the use case could plan it upfront.
    write: LedgerWrite | None = None
    # The claim's statement looked the card up in our registry and found nothing: the use case
    # need not look again before searching the ledger.
    registry_checked: bool = False
    # The instrument the claim's statement read (ReadInstrument): a capture's; None otherwise,
    # and for an instrument that does not exist.
    instrument: InstrumentFacts | None = None
    # Told of each write this claim stored as applied, once its answer is stored, with the
    # re-read of its card queued in the same statement (the feed's prompt re-read of the card:
    # IdempotencyCoordinator.on_applied).
    on_applied: Callable[[Movement, int | None], None] | None = None

    @property
    def record_id(self) -> int:
        return self.record.id

    def answer(self, outcome: Any) -> tuple[FinalAnswer, StoredResponse]:
        """The answer as stored (encrypted where it carries a card number) and as sent."""
        status, body = self.presenter(outcome)
        stored = self.vault.encrypt(body, context=_context(self.record)) if self.encrypt else body
        return FinalAnswer(self.record.id, self.owner, status, stored, self.encrypt), StoredResponse(status, body)

    async def finish(self, conn, outcome: Any) -> StoredResponse:
        """Store the final answer; call inside the transaction that writes the business rows."""
        final, response = self.answer(outcome)
        if not await records.finish(conn, final):
            raise LeaseLost()
        return response

    async def finish_applied(self, conn, outcome: Any, movement: Movement, rows: UseCaseRows | None = None) -> StoredResponse:
        """Store the final answer of a write that landed, with its audit and business rows, in
        one statement."""
        final, response = self.answer(outcome)
        completed = await completion.complete_applied(conn, final, movement, rows,
                                                      queue_reread=self.on_applied is not None)
        if not completed.stored:
            raise LeaseLost()
        if self.on_applied is not None:
            try:
                self.on_applied(movement, completed.reread)  # schedules work in the background, never waits
            except Exception:  # the answer is stored: nothing after it may fail the request
                log.warning("on_applied_failed", exc_info=True)
        return response


class LeaseLost(RetryLater):
    """Our lease was taken over: the new owner's answer wins, and nothing of ours was stored."""

    def __init__(self) -> None:
        super().__init__("the request is being completed by another worker")


def _context(record: IdempotencyRecord) -> bytes:
    return answer_context(record.operation, record.id)


def answer_context(operation: str, record_id: int) -> bytes:
    """The associated data an encrypted answer is bound to: its record (also used by keys rotate)."""
    return f"{operation}:{record_id}".encode()


def fingerprint(operation: str, *parts: object) -> bytes:
    """SHA-256 over the operation and the fields that define the request's effect.

    Card-bearing requests put the code's digest under the writing key in: after the card-code
    key is rotated, a retry of a request answered under the old key has another fingerprint. It
    is still replayed (a final answer always is); the mismatch is only counted and logged."""
    digest = hashlib.sha256(operation.encode())
    for part in parts:
        digest.update(b"\x1f")
        digest.update(part if isinstance(part, bytes) else str(part).encode())
    return digest.digest()


class IdempotencyCoordinator:
    def __init__(
        self, pool, vault: CodeVault, *, lease_seconds: float, wait_seconds: float, owner: str | None = None
    ) -> None:
        self._pool = pool
        self._vault = vault
        self._lease = lease_seconds
        self._wait = wait_seconds
        self.owner = owner or uuid.uuid4().hex
        # Set by the app when its workers run: what to do once a write is answered as applied
        # (with the re-read queued with its answer).
        self.on_applied: Callable[[Movement, int | None], None] | None = None

    async def replay(self, operation: str, key: str, request_fingerprint: bytes | None) -> StoredResponse | None:
        """The stored final answer for this key, if there is one, whatever the new body says.

        `request_fingerprint` is None when the new body does not even validate: that too is a
        changed body, counted and logged (without values)."""
        async with self._pool.acquire() as conn:
            record = await records.fetch(conn, operation, key)
        if record is None or not record.is_final:
            return None
        self._check_mismatch(record, request_fingerprint)
        return self._replay(record)

    def _check_mismatch(self, record: IdempotencyRecord, request_fingerprint: bytes | None) -> None:
        if record.fingerprint != request_fingerprint:
            metrics.IDEMPOTENCY_MISMATCHES.labels(record.operation).inc()
            log.warning("idempotency_body_mismatch", operation=record.operation)

    async def execute(
        self,
        operation: str,
        key: str | None,
        request_fingerprint: bytes,
        work: Callable[[Claim], Awaitable[StoredResponse]],
        *,
        presenter: Presenter,
        deadline: float,
        intent: Intent | RegisteredCardIntent | Reservation | ReadInstrument | None = None,
    ) -> StoredResponse:
        """Run `work` under the key's claim, or replay its answer.

        `intent` saves the round trips of a separate claim when the use case can tell upfront
        what it will write: an Intent is recorded in the claim's own statement (a
        RegisteredCardIntent too, with its card found in the registry there); a Reservation
        reserves a refund's or revoke's amount there too, and when it is refused its decline is
        stored at once as the final answer. Either way a fresh claim's write is Claim.write. A
        ReadInstrument reads the instrument's facts there (Claim.instrument)."""
        if key is None:
            # Not idempotent by the caller's choice; a private key still gives the write its
            # record, so an unknown outcome is settled like any other.
            metrics.NOT_IDEMPOTENT.labels(operation).inc()
            log.warning("request_without_idempotency_key", operation=operation)
            key = f"auto:{uuid.uuid4().hex}"
        loop = asyncio.get_running_loop()
        give_up_at = min(loop.time() + self._wait, deadline)
        polls = 0
        while True:
            async with self._pool.acquire() as conn:
                claimed, write, facts, declined = await self._claim(conn, operation, key, request_fingerprint,
                                                                    intent, presenter)
                if declined is not None:
                    return declined
                fresh = claimed is not None
                if claimed is None:
                    existing = await records.fetch(conn, operation, key)
                    if existing is not None and not existing.is_final and not existing.lease_alive:
                        claimed = await records.take_over(conn, existing.id, self.owner, self._lease)
                        if claimed is not None:
                            log.info("idempotency_takeover", operation=operation)
            if claimed is not None:
                claim = self.claim_for(claimed, presenter, fresh, write)
                claim.instrument = facts
                claim.registry_checked = (fresh and isinstance(intent, RegisteredCardIntent)
                                          and (write is None or write.shopify_card_id is None))
                return await self._run(claim, work)
            if existing is not None and existing.is_final:
                self._check_mismatch(existing, request_fingerprint)
                metrics.IDEMPOTENCY_CONFLICTS.labels(operation, "replayed").inc()
                return self._replay(existing)
            if loop.time() >= give_up_at:
                metrics.IDEMPOTENCY_CONFLICTS.labels(operation, "timed_out").inc()
                raise RetryLater("a request with this idempotency key is still in progress", retry_after=1)
            await asyncio.sleep(min(_POLL_SECONDS[min(polls, len(_POLL_SECONDS) - 1)], max(give_up_at - loop.time(), 0)))
            polls += 1

    async def _claim(
        self, conn, operation: str, key: str, request_fingerprint: bytes,
        intent: Intent | RegisteredCardIntent | Reservation | ReadInstrument | None, presenter: Presenter,
    ) -> tuple[IdempotencyRecord | None, LedgerWrite | None, InstrumentFacts | None, StoredResponse | None]:
        """A fresh claim with the write recorded with it and the instrument it read, or all None if
        the key is taken; or the stored final answer of a refused reservation (the last)."""
        taken = None, None, None, None
        if isinstance(intent, ReadInstrument):
            read = await instruments.claim_and_read(conn, operation, key, request_fingerprint, self.owner, self._lease,
                                                    intent)
            return (read[0], None, read[1], None) if read is not None else taken
        if intent is None:
            claimed = await records.claim(conn, operation, key, request_fingerprint, self.owner, self._lease)
            return claimed, None, None, None
        if isinstance(intent, Intent | RegisteredCardIntent):
            won = await records.claim_with_intent(conn, operation, key, request_fingerprint, self.owner, self._lease,
                                                  intent)
            return (won[0], won[1], None, None) if won is not None else taken
        won = await reservations.claim_and_reserve(conn, operation, key, request_fingerprint, self.owner,
                                                   self._lease, intent)
        if won is None:
            return taken
        claimed, outcome = won
        if isinstance(outcome, LedgerWrite):
            return claimed, outcome, None, None
        # Refused, nothing reserved: the decline is final. Should this process die before storing
        # it, the record holds no write and the reconciler forgets it, so a retry starts anew.
        refused = self.claim_for(claimed, presenter, fresh=True)
        return None, None, None, await refused.finish(conn, intent.refusal(outcome))

    def claim_for(self, record: IdempotencyRecord, presenter: Presenter, fresh: bool = False,
                  write: LedgerWrite | None = None) -> Claim:
        """A claim on a record this owner holds the lease of (also used by the settler)."""
        return Claim(record, self.owner, self._vault, presenter, record.operation in ENCRYPTED_OPERATIONS, fresh,
                     write, on_applied=self.on_applied)

    async def _run(self, claim: Claim, work) -> StoredResponse:
        record = claim.record
        try:
            response = await work(claim)
        except BaseException:
            # Not final: give the lease back so a retry (or the reconciler) can resume at once.
            await asyncio.shield(self.release(record.id))
            raise
        return response

    async def renew(self, conn, claim: Claim, seconds: float | None = None) -> bool:
        """Extend the claim's lease (by the configured lease, or `seconds` if longer); False if
        another worker has taken the record over, so the claim must not act on it any more."""
        return await records.renew(conn, claim.record_id, claim.owner, max(self._lease, seconds or 0))

    async def release(self, record_id: int) -> None:
        try:
            async with self._pool.acquire() as conn:
                await records.release(conn, record_id, self.owner)
        except Exception:  # Postgres gone: the lease simply runs out.
            log.warning("idempotency_release_failed", exc_info=True)

    def _replay(self, record: IdempotencyRecord) -> StoredResponse:
        body = record.response_body or b""
        if record.response_encrypted:
            body = self._vault.decrypt(body, context=_context(record))
        metrics.IDEMPOTENT_REPLAYS.labels(record.operation).inc()
        return StoredResponse(record.response_status or 500, body, replayed=True)
