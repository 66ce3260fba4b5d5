"""The intake (issue #12): what the ledgers' webhooks announce, turned into re-reads of the cards
concerned. A webhook is a hint ("go re-read"), never data: nothing it says reaches the mirror or
the feed except through sync.resync, which reads the card from the ledger.

Two halves, so a webhook is answered fast and nothing it asked for is lost:

- `accept` runs inside the webhook's request, after its signature was verified: in one
  transaction it writes the receipt (the sender's event id: a resend changes nothing) and what
  must be re-read (rows of the durable queue). The sender gets its 200 once that is committed.
- `Intake` drains the queue: at once, in a background task started for the rows just written,
  and every INTAKE_INTERVAL_SECONDS on every replica for what is left (a crash after the
  answer, a re-read that must be retried). A row is leased while worked on and deleted when done;
  a failed one waits with exponential backoff, and is given up after MAX_ATTEMPTS (the poller
  still re-reads every known card).

What a webhook may name, and how each becomes re-reads:
- a card by its ledger id (a gift-card payment's `receipt.gift_card_id`): re-read it, and add it
  to the cards known by ledger id (store ledger_cards; the poller reads them too);
- an order that sold cards (`line_items[].gift_card`): ask the ledger for the order's cards
  (LedgerPort.cards_of_order) until as many as the order sold have appeared, then as above;
- a card's full code (SHOPLINE): our registry, else the ledger's lookup by code (services.cards,
  which registers what it finds); waiting in the queue, the code is kept as the registry keeps
  one (digest and ciphertext), never in plaintext;
- a masked code: every card we know with those last characters.

A card code never appears in a log line, a row in plaintext, an exception's text or a metric.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from adapter import after_answer, keyrotation
from adapter.domain.cardcode import CardCode, InvalidCardNumber
from adapter.domain.errors import Decline, UseCaseError
from adapter.domain.money import Money, MoneyError
from adapter.observability.metrics import INTAKE_ITEMS, INTAKE_QUEUE
from adapter.ports import LedgerError
from adapter.services import cards
from adapter.services.context import Services
from adapter.services.ledger_errors import transient_from
from adapter.services.reread import reread
from adapter.services.sync import HeldBack
from adapter.store import announcements
from adapter.store import intake as store
from adapter.store.completion import Movement
from adapter.store.intake import Item, Want

log = structlog.get_logger(__name__)

# How long a receipt is kept: past every vendor's retries (Shopify 48 h, SHOPLINE 48 h).
RECEIPT_RETENTION_SECONDS = 7 * 24 * 3600
# The queue's `source` for the re-read that follows one of our own writes (note_applied).
OWN_WRITES = "adapter"

_MASK_FREE = re.compile(r"[\s\-]+")
_VISIBLE_TAIL = re.compile(r"[A-Za-z0-9]+$")


class PresentedCode:
    """A card code as a webhook sent it, full or masked. A bearer secret: its repr and str show
    nothing of it."""

    __slots__ = ("_raw",)

    def __init__(self, raw: str) -> None:
        self._raw = raw

    def __repr__(self) -> str:
        return "PresentedCode(<hidden>)"

    __str__ = __repr__

    def full(self, services: Services) -> CardCode | None:
        """The code, if it can be a whole code of this ledger (nothing masked)."""
        try:
            code = CardCode(self._raw)
        except InvalidCardNumber:
            return None
        return code if cards.fits_ledger(services, code) else None

    def last_characters(self) -> str | None:
        """What a masked code shows at its end, as the registry keeps last characters."""
        tail = _VISIBLE_TAIL.search(_MASK_FREE.sub("", self._raw))
        return tail[0][-4:].lower() if tail is not None and len(tail[0]) >= 4 else None


@dataclass(frozen=True)
class Signal:
    """What one verified webhook announces. `source` names the sender (receipts, logs)."""

    source: str
    event_id: str
    topic: str
    card_ids: tuple[str, ...] = ()                   # cards by ledger id
    orders: tuple[tuple[str, int], ...] = ()         # (order id, cards it sold; 0: however many)
    code: PresentedCode | None = None
    cause: str | None = None                         # the feed's cause for what it announces
    order_ref: str | None = None
    balance_hint: int | None = None                  # minor units, as SHOPLINE sends them
    # The movements it announces on a card, where it says what they did to the balance
    # (Shopify's gift-card payments and refunds: card, signed amount, cause): kept until a
    # re-read finds the entry each explains, and only those entries take their cause and order.
    movements: tuple[tuple[str, Decimal, str], ...] = ()


@dataclass(frozen=True)
class Accepted:
    duplicate: bool
    item_ids: list[int] = field(default_factory=list)


async def accept(services: Services, signal: Signal) -> Accepted:
    """Write the receipt and what must be re-read, in one transaction; Accepted(duplicate=True)
    for an event already received (nothing written)."""
    announced = {card for card, _, _ in signal.movements}
    # A card whose movements are announced: only entries matching them take the signal's word.
    wants = [Want("card", ledger_card_id=card_id, cause=None if card_id in announced else signal.cause,
                  order_ref=None if card_id in announced else signal.order_ref, register=True)
             for card_id in dict.fromkeys(signal.card_ids)]
    if services.ledger.capabilities.cards_by_order:
        wants += [Want("order", order_id=order_id, expected_cards=expected, cause=signal.cause,
                       order_ref=signal.order_ref, register=True) for order_id, expected in dict(signal.orders).items()]
    async with services.pool.acquire() as conn:
        if signal.code is not None:
            wants += await _code_wants(services, conn, signal)
        async with conn.transaction():
            if not await store.record_receipt(conn, signal.source, signal.event_id, signal.topic):
                return Accepted(duplicate=True)
            await announcements.record(conn, signal.source, signal.event_id, signal.movements, signal.order_ref)
            ids = await store.enqueue(conn, signal.source, signal.event_id, wants)
    log.info("webhook_accepted", source=signal.source, topic=signal.topic, items=len(ids),
             balance_hint=_hint(services, signal.balance_hint))
    return Accepted(duplicate=False, item_ids=ids)


async def _code_wants(services: Services, conn, signal: Signal) -> list[Want]:
    assert signal.code is not None
    code = signal.code.full(services)
    if code is None:
        last = signal.code.last_characters()
        if last is None:
            log.info("webhook_code_unusable", source=signal.source)
            return []
        return [Want("last_characters", last_characters=last, cause=signal.cause, order_ref=signal.order_ref)]
    digest = services.vault.digest(code)
    card_id = services.card_ids.get(digest)
    if card_id is None:
        known = await keyrotation.find_registered(conn, services.vault, code)
        card_id = known.shopify_id if known is not None else None
    if card_id is not None:
        cards.remember_known(services, digest, card_id)
        return [Want("card", ledger_card_id=card_id, cause=signal.cause, order_ref=signal.order_ref)]
    # Not registered: the ledger's lookup by code runs after the answer, from the queue.
    return [Want("code", code_digest=digest, code_key_id=services.vault.key_id,
                 code_encrypted=services.vault.encrypt_code(code), cause=signal.cause, order_ref=signal.order_ref)]


def _hint(services: Services, units: int | None) -> str | None:
    """A balance a webhook announced: a hint for the logs, never a balance we keep."""
    currency = services.shop_currency.known
    if units is None or currency is None:
        return None
    try:
        return str(Money.from_minor_units(units, currency).amount)
    except MoneyError:
        return None


# ---- draining the queue ---------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeSettings:
    interval: float = 5.0        # seconds between passes over what is left
    deadline: float = 8.0        # per item, all its ledger calls together
    batch: int = 10              # items leased at once, worked one after the other
    concurrency: int = 4         # batches worked at once per process: the ledger's budget is NewStore's first
    max_attempts: int = 30       # about 4 h of backoff, capped at backoff_cap
    backoff_base: float = 1.0
    backoff_cap: float = 600.0

    @property
    def lease(self) -> float:
        """How long leased items are this worker's: a whole batch, with room to spare."""
        return self.batch * self.deadline * 1.5 + 30


class _NotYet(Exception):
    """The ledger does not show everything yet (an order's cards): ask again later."""


class Intake:
    """Drains the durable queue: `kick` right after a webhook's answer, `run` for the rest."""

    def __init__(self, services: Services, settings: IntakeSettings) -> None:
        self._services = services
        self._settings = settings
        self._tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(settings.concurrency)

    def kick(self, item_ids: list[int]) -> None:
        """Work on these items now, in the background, once the webhook's answer is written."""
        if not item_ids:
            return
        after_answer.defer(lambda: self._start(self._drain_quietly(item_ids)))

    def note_applied(self, movement: Movement, queued: int | None = None) -> None:
        """One of our writes was answered as applied: re-read its card soon, so the feed has the
        event within seconds rather than at the poller's next turn. Queued like a webhook's
        re-read (durably, retried while the write is still being verified): `queued`, the item
        the answer's own statement queued (store.completion), else queued here; if even the
        queue cannot be written, the poller's round still finds the change.

        Worked once the answer is written (in a request), so it never delays that answer, and
        only when one of the `concurrency` slots is free: background work never holds more of
        the pool than that, and under a burst a queued item waits for the next pass
        (INTAKE_INTERVAL_SECONDS) rather than in memory."""
        if movement.shopify_card_id is None:
            return
        if queued is not None:
            after_answer.defer(lambda: self._start_if_free(self._drain_quietly([queued])))
            return
        card_id, write_id = movement.shopify_card_id, movement.write_id
        after_answer.defer(lambda: self._start(self._queue_own(card_id, write_id)))

    def _start_if_free(self, work) -> None:  # type: ignore[no-untyped-def]
        if self._slots.locked():
            work.close()  # durable: the next pass takes it
            return
        self._start(work)

    def _start(self, work) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _queue_own(self, card_id: str, write_id: str) -> None:
        try:
            async with self._services.pool.acquire() as conn:
                item_ids = await store.enqueue(conn, OWN_WRITES, write_id, [Want("card", ledger_card_id=card_id)])
            await self.drain_once(item_ids)
        except Exception:
            log.warning("own_write_reread_failed", exc_info=True)

    async def idle(self) -> None:
        """Wait for the background work started by kick (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, timeout: float = 5.0) -> None:
        """Let the background work finish for a moment, then cancel it: a cancelled item's lease
        runs out and another pass (here or on another replica) takes it again."""
        if not self._tasks:
            return
        _done, running = await asyncio.wait(list(self._tasks), timeout=timeout)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _drain_quietly(self, item_ids: list[int]) -> None:
        try:
            await self.drain_once(item_ids)
        except Exception:
            log.warning("intake_drain_failed", exc_info=True)  # the periodic pass takes them again

    async def drain_once(self, item_ids: list[int] | None = None) -> dict[str, int]:
        """Lease the due items (only `item_ids`, if given) and work on each; counts by result.
        At most `concurrency` batches at once: a burst of webhooks waits its turn (unleased, so
        any replica's pass may take it) rather than crowd the ledger."""
        results = {"done": 0, "dropped": 0, "retried": 0, "given_up": 0}
        async with self._slots:
            async with self._services.pool.acquire() as conn:
                limit = self._settings.batch if item_ids is None else len(item_ids)
                items = await store.lease(conn, self._settings.lease, limit, item_ids)
            for item in items:
                result = await self._work(item)
                results[result] += 1
                INTAKE_ITEMS.labels(item.kind, result).inc()
        return results

    async def run(self, stopping: asyncio.Event) -> None:
        passes = 0
        while not stopping.is_set():
            try:
                # A full batch: there may be more due right now.
                while sum((await self.drain_once()).values()) >= self._settings.batch and not stopping.is_set():
                    pass
                async with self._services.pool.acquire() as conn:
                    INTAKE_QUEUE.set(await store.pending(conn))
                    if passes % 100 == 0:
                        await store.forget_receipts(conn, RECEIPT_RETENTION_SECONDS)
                        await announcements.forget(conn, RECEIPT_RETENTION_SECONDS)
            except Exception:
                log.warning("intake_pass_failed", exc_info=True)
            passes += 1
            try:
                await asyncio.wait_for(stopping.wait(), self._settings.interval * random.uniform(0.8, 1.2))
            except TimeoutError:
                pass

    # ---- one item ---------------------------------------------------------------------------

    async def _work(self, item: Item) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.deadline
        try:
            await self._reread_for(item, deadline)
        except Decline as decline:
            log.info("intake_card_unknown", source=item.source, kind=item.kind, reason=decline.message)
            return await self._finish(item, "dropped")
        except HeldBack as held:  # not a failure: come back when the hold is over
            return await self._retry(item, held.message, wait=held.retry_after)
        except (UseCaseError, _NotYet) as failure:
            return await self._retry(item, failure.message if isinstance(failure, UseCaseError) else str(failure))
        except LedgerError as error:
            return await self._retry(item, str(transient_from(error)))
        except Exception as error:  # a bug or an outage: never lose the item for it
            log.warning("intake_item_failed", source=item.source, kind=item.kind, error_type=type(error).__name__,
                        exc_info=True)
            return await self._retry(item, type(error).__name__)
        return await self._finish(item, "done")

    async def _reread_for(self, item: Item, deadline: float) -> None:
        services = self._services
        if item.kind == "card":
            assert item.ledger_card_id is not None
            await self._reread(item, item.ledger_card_id, deadline)
        elif item.kind == "order":
            assert item.order_id is not None
            try:
                sold = await services.ledger.cards_of_order(order_id=item.order_id, deadline=deadline)
            except LedgerError as error:
                raise transient_from(error) from None
            for card in sold:
                await self._reread(item, card.id, deadline, last_characters=card.last_characters,
                                   sold_by=item.order_ref)
            if len(sold) < (item.expected_cards or 0):
                raise _NotYet(f"{len(sold)} of the order's {item.expected_cards} cards found so far")
        elif item.kind == "code":
            assert item.code_encrypted is not None
            try:
                code = services.vault.decrypt_code(item.code_encrypted)
            except Exception:  # its key is no longer configured: the code is lost to us
                raise Decline("the code's key is not configured") from None
            card_id = (await cards.locate(services, code, deadline)).card_id  # registers a card it discovers
            await self._reread(item, card_id, deadline)
        elif item.kind == "last_characters":
            assert item.last_characters is not None
            async with services.pool.acquire() as conn:
                known = await store.known_ending(conn, item.last_characters)
            if not known:
                raise Decline("no known card with these last characters")
            for card_id in known:
                await self._reread(item, card_id, deadline)
        else:
            raise Decline(f"unknown intake item kind {item.kind!r}")

    async def _reread(self, item: Item, card_id: str, deadline: float, *, last_characters: str | None = None,
                      sold_by: str | None = None) -> None:
        events = await reread(self._services, card_id, deadline, cause=item.cause, order_ref=item.order_ref,
                              sold_by=sold_by)
        if item.register:
            async with self._services.pool.acquire() as conn:
                last = last_characters or await conn.fetchval(
                    "SELECT last_characters FROM card_sync WHERE ledger_card_id = $1", card_id)
                await store.register(conn, card_id, last or "", f"{item.source}:{item.kind}")
        log.info("intake_reread", source=item.source, kind=item.kind, card_id=card_id, events=events)

    async def _finish(self, item: Item, result: str) -> str:
        async with self._services.pool.acquire() as conn:
            await store.done(conn, item.item_id)
        return result

    async def _retry(self, item: Item, reason: str, *, wait: float | None = None) -> str:
        settings = self._settings
        if item.attempts >= settings.max_attempts:
            log.warning("intake_item_given_up", source=item.source, kind=item.kind, attempts=item.attempts,
                        reason=reason)
            await self._finish(item, "given_up")
            return "given_up"
        if wait is None:
            wait = min(settings.backoff_cap, settings.backoff_base * 2 ** (item.attempts - 1)) * random.uniform(0.5, 1.0)
        async with self._services.pool.acquire() as conn:
            await store.later(conn, item.item_id, wait, reason)
        log.info("intake_item_retried", source=item.source, kind=item.kind, attempts=item.attempts,
                 wait=round(wait, 2), reason=reason)
        return "retried"
