"""LedgerPort over Shopify's GraphQL Admin API: transport, cost pacing, retries.

The one rule that shapes this module: a gift-card write has no idempotency on Shopify's side
(spec §11), so a write that may have reached Shopify is NEVER resent here. It surfaces as
LedgerOutcomeUnknown and the caller settles it by reading the ledger (find_write /
find_created). Only answers that prove non-execution (THROTTLED, 429, a failed connect) are
resent, with the same document and note marker. Reads are retried freely within the deadline.

Every call takes `deadline`, an absolute event-loop time; no wait and no attempt runs past it.
Never logged: the access token, and request variables (a search query or a create input holds a
card code).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import aiohttp
import structlog

from adapter.domain.money import Money
from adapter.observability.metrics import (
    LOOKUPS_SHED,
    SEARCH_WARNINGS,
    SHOPIFY_API_VERSION_MISMATCH,
    SHOPIFY_CALL_DURATION,
    SHOPIFY_CALLS,
    SHOPIFY_CUSTOMER_LINKS,
    SHOPIFY_QUERY_COST,
    SHOPIFY_THROTTLE_WAIT,
    child,
)
from adapter.ledgers import exchange
from adapter.ledgers.changes import walk_changes
from adapter.ledgers.exchange import MaybeSent, NotSent
from adapter.ledgers.marker import marker
from adapter.ports import (
    BalanceEntry,
    CardChanges,
    CardHolder,
    CardReading,
    ChangedCard,
    Capabilities,
    CodeRule,
    EntryKind,
    LedgerCard,
    LedgerConfiguration,
    LedgerConfigurationError,
    LedgerDecline,
    LedgerOutcomeUnknown,
    LedgerSearchWarning,
    LedgerTransaction,
    LedgerUnavailable,
    Moves,
    Priority,
    WriteRef,
    is_background_work,
)
from adapter.shopify import documents, mapping
from adapter.shopify.customers import CustomerLinking, customer_for
from adapter.shopify.documents import Document
from adapter.shopify.pacing import CostBucket, LookupBudget, Ticket, estimated_cost

log = structlog.get_logger(__name__)

T = TypeVar("T")

_BACKOFF_BASE = 0.1      # seconds; doubled per retry, full jitter
_BACKOFF_CAP = 2.0
_MAX_CONNECT_RESENDS = 3  # a write whose connect failed: nothing was sent
_MAX_THROTTLE_RESENDS = 20  # THROTTLED/429 loops are bounded by the deadline; this is a backstop
_MIN_THROTTLE_WAIT = 0.05  # a THROTTLED answer whose figures say "no wait" still gets a pause
_ORDER_PAGE = 10  # cards per page of an order's cards: orders rarely sell more
CHANGE_PAGE_SIZE = 50  # the poller's change list: cards per page ...
CHANGE_FIRST_PAGE_SIZE = 10  # ... the top's first page: a quiet pass reads this much
CHANGE_PAGES = 4       # ... and pages per pass, at most
TRANSACTION_PAGE_SIZE = 50  # a card's transactions, newest first: per page ...
REREAD_FIRST_PAGE_SIZE = 10  # ... and the first page of a re-read that knows where it stopped


class _Resend(Exception):
    """Definitely not executed and Shopify asked us to wait (THROTTLED, 429)."""

    def __init__(self, wait: float, reason: str, cost: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait
        self.reason = reason
        self.cost = cost


# Shopify's giftCardCreate rule for a code (spec §5), after our lower-casing.
SHOPIFY_CODE_RULE = CodeRule(8, 20, "a-z0-9", "8 to 20 letters a-z or digits 0-9")


class ShopifyClient:
    """One shop's GraphQL endpoint. Share one instance (and its session) per shop."""

    capabilities = Capabilities("shopify", Moves.DELTA, notes=True, lookup_by_code=True, code_rule=SHOPIFY_CODE_RULE,
                                cards_by_order=True, entry_causes=False)

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        graphql_url: str,
        access_token: str,
        api_version: str,
        read_retries: int = 3,
        bucket: CostBucket | None = None,
        lookups: LookupBudget | None = None,
        customer_linking: CustomerLinking | None = None,
    ) -> None:
        self._session = session
        self._url = graphql_url
        self._api_version = api_version
        self._read_retries = read_retries
        self._headers = {
            "X-Shopify-Access-Token": access_token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.bucket = bucket or CostBucket()
        self.lookups = lookups or LookupBudget()
        self.customer_linking = customer_linking or CustomerLinking()
        self._lookups_in_flight = 0
        self._version_mismatches_logged: set[str] = set()

    def __repr__(self) -> str:  # never the token
        return f"ShopifyClient(url={self._url!r}, api_version={self._api_version!r})"

    @staticmethod
    def graphql_url_for(shop_domain: str, api_version: str) -> str:
        """`mystore`, `mystore.myshopify.com` or `https://mystore.myshopify.com/` -> the Admin
        GraphQL URL for that version."""
        shop = shop_domain.strip().lower()
        for prefix in ("https://", "http://"):
            shop = shop.removeprefix(prefix)
        shop = shop.split("/", 1)[0].removesuffix(".myshopify.com")
        if not shop:
            raise ValueError("empty shop domain")
        return f"https://{shop}.myshopify.com/admin/api/{api_version}/graphql.json"

    # ---- LedgerPort: writes --------------------------------------------------------------

    async def create_card(self, *, code: str, amount: Money, ref: WriteRef, deadline: float,
                          holder: CardHolder | None = None) -> LedgerCard:
        # initialAmount in the shop currency; crossCurrencyRedemptionStrategy left unset (§2).
        card_input: dict[str, Any] = {"initialAmount": _money_input(amount), "code": code, "note": marker(ref)}
        customer_id = await customer_for(holder, self.customer_linking, self._call, deadline)
        if customer_id is not None:
            try:
                return await self._call(documents.CREATE_CARD, {"input": {**card_input, "customerId": customer_id}},
                                        mapping.created_card, deadline)
            except mapping.CustomerRefused:
                # Deleted since we found it: nothing was created (data null), so the card is
                # made unlinked rather than the issue failed.
                SHOPIFY_CUSTOMER_LINKS.labels("refused").inc()
                log.warning("shopify_card_unlinked", reason="customer_refused")
        return await self._call(documents.CREATE_CARD, {"input": card_input}, mapping.created_card, deadline)

    async def find_created(self, *, code: str, ref: WriteRef, deadline: float) -> LedgerCard | None:
        """Codes are unique per shop: the card with this code is ours if it carries our marker."""
        hits = await self._search(code, deadline, lookup=False)
        note = marker(ref)
        for card in hits:
            if card.last_characters == code[-4:].lower() and card.note == note:
                return card
        return None

    async def debit(self, *, card_id: str, amount: Money, ref: WriteRef, deadline: float) -> LedgerTransaction:
        variables = {"id": card_id, "input": {"debitAmount": _money_input(amount), "note": marker(ref)}}
        return await self._call(documents.DEBIT_CARD, variables, mapping.debit_transaction, deadline)

    async def credit(self, *, card_id: str, amount: Money, ref: WriteRef, deadline: float) -> LedgerTransaction:
        variables = {"id": card_id, "input": {"creditAmount": _money_input(amount), "note": marker(ref)}}
        return await self._call(documents.CREDIT_CARD, variables, mapping.credit_transaction, deadline)

    async def deactivate(self, *, card_id: str, deadline: float) -> LedgerCard:
        # Deactivating twice succeeds with the original deactivatedAt (§7.7).
        return await self._call(documents.DEACTIVATE_CARD, {"id": card_id}, mapping.deactivated_card, deadline)

    # ---- LedgerPort: reads ---------------------------------------------------------------

    async def get_card(self, *, card_id: str, deadline: float) -> LedgerCard | None:
        return await self._call(documents.GET_CARD, {"id": card_id}, mapping.read_card, deadline)

    async def find_by_code(self, *, code: str, deadline: float, priority: Priority = Priority.MONEY) -> LedgerCard | None:
        """The free-text search matches more than codes; only the full code identifies a card,
        and a hit can only be checked by its last four: exactly one hit that ends in them."""
        hits = await self._search(code, deadline, lookup=priority is Priority.LOOKUP)
        if len(hits) != 1 or hits[0].last_characters != code[-4:].lower():
            return None
        return hits[0]

    async def _search(self, code: str, deadline: float, *, lookup: bool) -> list[LedgerCard]:
        """A LOOKUP is refused at once (LedgerUnavailable, nothing sent) rather than wait for
        the bucket or spend the part of it kept for money calls (see LookupBudget)."""
        if lookup:
            if self._lookups_in_flight >= self.lookups.max_in_flight:
                LOOKUPS_SHED.labels("in_flight").inc()
                raise LedgerUnavailable("giftCards: too many card lookups in flight", retry_after=1.0)
            self._lookups_in_flight += 1
        try:
            return await self._call(
                documents.SEARCH_CARDS, {"first": 2, "query": code}, mapping.searched_cards, deadline,
                lookup_share=self.lookups.share if lookup else None,
            )
        except LedgerSearchWarning:
            SEARCH_WARNINGS.inc()
            raise
        finally:
            if lookup:
                self._lookups_in_flight -= 1

    async def find_write(
        self, *, card_id: str, ref: WriteRef, not_before: datetime, deadline: float
    ) -> LedgerTransaction | None:
        """Newest first: stop at the marker, at the first transaction older than `not_before`,
        or when the pages run out. An unknown card has no transactions."""
        if not_before.tzinfo is None:  # Shopify's processedAt is always UTC-aware
            not_before = not_before.replace(tzinfo=timezone.utc)
        note = marker(ref)
        after: str | None = None
        while True:
            page = await self._call(
                documents.READ_CARD, {"id": card_id, "first": TRANSACTION_PAGE_SIZE, "after": after},
                mapping.transactions_page, deadline
            )
            for found in page.transactions:
                if found.note == note:
                    return found
                if found.processed_at < not_before:
                    return None
            if not page.has_next_page or not page.end_cursor:
                return None
            after = page.end_cursor

    async def reread_card(self, *, card_id: str, after: str | None, deadline: float) -> CardReading:
        """The card with its transactions, newest first until the entry `after`, returned oldest
        first; the card is the first page's, so its balance is the one after the newest entry
        read (one query: nothing lands between the two). On the lookups' terms, like
        cards_of_order. Shopify's transactions say nothing of who made them: a note that is
        not ours is all there is.

        A re-read that knows its last entry asks a small first page: it mostly finds one or two
        new entries (one re-read follows each write), and Shopify prices the page by its size
        (14 points requested instead of 54) and charges for every transaction it returns (a busy
        card's full page of 50, to find one)."""
        newer: list[BalanceEntry] = []
        card: LedgerCard | None = None
        cursor: str | None = None
        first = REREAD_FIRST_PAGE_SIZE if after is not None else TRANSACTION_PAGE_SIZE
        while True:
            page = await self._call(documents.READ_CARD, {"id": card_id, "first": first, "after": cursor},
                                    mapping.transactions_page, deadline, lookup_share=self.lookups.share)
            first = TRANSACTION_PAGE_SIZE
            if page.card is None:
                return CardReading(None, [])
            card = card or page.card
            for found in page.transactions:
                if found.id == after:
                    return CardReading(card, newer[::-1])
                newer.append(BalanceEntry(found.id, found.amount, EntryKind.OTHER, found.processed_at,
                                          note=found.note))
            if not page.has_next_page or not page.end_cursor:
                return CardReading(card, newer[::-1])
            cursor = page.end_cursor

    async def cards_of_order(self, *, order_id: str, deadline: float) -> list[LedgerCard]:
        """`giftCards(query: "order_id:<id>")`, page by page, keeping the hits whose `order` is
        this order (the filter is not in the schema's table: spec §12). Sent on the lookups'
        terms: a background read never waits for the bucket nor spends the part of it kept for
        money calls; it is refused at once instead (LedgerUnavailable), and asked again later."""
        number = order_id.removeprefix("gid://shopify/Order/")
        if not number.isdigit():
            return []  # not a Shopify order id: no card can be linked to it
        order_gid = f"gid://shopify/Order/{number}"
        found: list[LedgerCard] = []
        after: str | None = None
        while True:
            try:
                page = await self._call(
                    documents.CARDS_OF_ORDER, {"first": _ORDER_PAGE, "query": f"order_id:{number}", "after": after},
                    lambda body: mapping.order_cards_page(body, order_gid), deadline, lookup_share=self.lookups.share)
            except LedgerSearchWarning:
                SEARCH_WARNINGS.inc()
                raise
            if page.foreign:
                log.warning("shopify_order_filter_not_exact", operation="giftCards", hits=page.foreign)
            found += page.cards
            if not page.has_next_page or not page.end_cursor:
                return found
            after = page.end_cursor

    async def changed_cards(self, *, since: str | None, deadline: float) -> CardChanges:
        """giftCards by UPDATED_AT, newest first (adapter.ledgers.changes), at most CHANGE_PAGES
        pages a pass. On the lookups' terms, like cards_of_order."""
        async def read_page(after: str | None) -> tuple[list[ChangedCard], str | None]:
            # The top's first page small: a quiet shop's pass needs a card or two of it, and
            # Shopify charges for every node it returns.
            first = CHANGE_FIRST_PAGE_SIZE if after is None else CHANGE_PAGE_SIZE
            page = await self._call(documents.CHANGED_CARDS, {"first": first, "after": after},
                                    mapping.changed_cards_page, deadline, lookup_share=self.lookups.share)
            return page.cards, page.end_cursor if page.has_next_page and page.end_cursor else None

        return await walk_changes(since, read_page, CHANGE_PAGES, "shopify")

    async def settle_background(self, *, deadline: float) -> int:
        return 0  # deltas with notes: every write is settled by find_write alone

    async def configuration(self, *, deadline: float) -> LedgerConfiguration:
        return await self._call(documents.CONFIGURATION, None, mapping.configuration, deadline)

    # ---- transport -----------------------------------------------------------------------

    async def _call(
        self, document: Document, variables: dict[str, Any] | None,
        parse: Callable[[mapping.Body], T], deadline: float, *, lookup_share: float | None = None,
    ) -> T:
        """Send `document` until it yields an answer, a definite failure, or the deadline.

        `lookup_share`: a lookup's, which never waits for the bucket (see LookupBudget); every call
        made inside ports.background_work() goes on those terms too."""
        loop = asyncio.get_running_loop()
        payload = json.dumps({
            "query": document.text,
            "variables": variables or {},
            "operationName": document.operation_name,
        }).encode()
        cost = estimated_cost(document.operation_name, variables)
        if lookup_share is None and is_background_work():
            lookup_share = self.lookups.share  # the reconciler's calls: never before NewStore's
        transient_retries = 0
        connect_resends = 0
        throttle_resends = 0
        while True:
            if lookup_share is None:
                ticket = await self.bucket.take(cost, deadline)
            else:
                taken = await self.bucket.take_within(cost, lookup_share)
                if not isinstance(taken, Ticket):
                    LOOKUPS_SHED.labels("budget").inc()
                    raise LedgerUnavailable(f"{document.root_field}: the budget left is kept for money calls",
                                            retry_after=taken)
                ticket = taken
            try:
                try:
                    return await self._attempt(document, payload, parse, deadline, ticket)
                finally:
                    # Answered or not, this attempt no longer awaits Shopify's charge.
                    self.bucket.release(ticket.cost, shared=ticket.shared)
            except _Resend as resend:
                throttle_resends += 1
                wait = max(resend.wait, _MIN_THROTTLE_WAIT)
                if lookup_share is not None:
                    # Our model was wrong (another client of the shop spends too): a lookup
                    # does not queue for the bucket, it tells its caller to come back.
                    if resend.cost is None:
                        self.bucket.block_for(wait)
                    LOOKUPS_SHED.labels("throttled").inc()
                    raise LedgerUnavailable(f"{document.root_field}: {resend.reason}", retry_after=wait) from None
                if throttle_resends > _MAX_THROTTLE_RESENDS or loop.time() + wait >= deadline:
                    raise LedgerUnavailable(
                        f"{document.root_field}: {resend.reason}, no time left to wait", retry_after=wait
                    ) from None
                log.info("shopify_resend", operation=document.operation_name, reason=resend.reason,
                         wait=round(wait, 3))
                if resend.cost is None:
                    # 429: the bucket model knows nothing of it; hold every caller of this shop.
                    # The next acquire() does the waiting.
                    self.bucket.block_for(wait)
                else:
                    # THROTTLED: (requested - available) / restoreRate, then resend priced at
                    # Shopify's own figure for this document. Reserved again: on the shared
                    # level, at the back of the replicas' queue (resent at Shopify's wait instead,
                    # on the place it had, it collided with the next caller's turn, that one with
                    # the next: bench.throttle --replicas 3 at 100/s, 2,370 THROTTLED of 3,376).
                    cost = resend.cost
                    SHOPIFY_THROTTLE_WAIT.inc(wait)
                    await asyncio.sleep(wait)
            except NotSent as failure:
                connect_resends += 1
                if connect_resends > _MAX_CONNECT_RESENDS:
                    raise LedgerUnavailable(f"{document.root_field}: {failure}") from None
                await self._backoff(connect_resends, deadline, document, str(failure))
            except MaybeSent as failure:
                if document.is_write:
                    raise LedgerOutcomeUnknown(f"{document.root_field}: {failure}") from None
                transient_retries += 1
                if transient_retries > self._read_retries:
                    raise LedgerUnavailable(f"{document.root_field}: {failure}") from None
                await self._backoff(transient_retries, deadline, document, str(failure))

    async def _backoff(self, retry: int, deadline: float, document: Document, reason: str) -> None:
        delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (retry - 1)))
        if asyncio.get_running_loop().time() + delay >= deadline:
            raise LedgerUnavailable(f"{document.root_field}: {reason}, no time left to retry")
        log.info("shopify_retry", operation=document.operation_name, reason=reason, retry=retry)
        await asyncio.sleep(delay)

    async def _attempt(
        self, document: Document, payload: bytes, parse: Callable[[mapping.Body], T], deadline: float,
        ticket: Ticket,
    ) -> T:
        """One HTTP exchange, counted and timed under one result label (spec §10, §11)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        remaining = deadline - started
        if remaining <= 0:
            raise LedgerUnavailable(f"{document.root_field}: deadline passed before sending")
        result = "disconnected"
        try:
            try:
                async with self._session.post(
                    self._url, data=payload, headers=self._headers,
                    timeout=self._timeout(remaining), allow_redirects=False,
                ) as response:
                    status = response.status
                    served_version = response.headers.get("X-Shopify-API-Version")
                    retry_after = response.headers.get("Retry-After")
                    raw = await response.read()
            except exchange.FAILURES as exc:
                result, failure = exchange.failure_of(exc, what=f"Shopify {document.root_field}")
                raise failure from None

            self._check_version(served_version)
            if status == 429:
                result = "http_429"
                raise _Resend(_retry_after_seconds(retry_after), "HTTP 429")
            if status >= 500:
                result = "http_5xx"
                raise MaybeSent(f"HTTP {status}")
            if status in (402, 423):
                result = "http_4xx"
                raise LedgerUnavailable(f"{document.root_field}: shop unavailable (HTTP {status})")
            if status != 200:
                # 400/401/403/404 and anything unexpected (3xx too): not executed, our setup.
                result = "http_4xx"
                raise LedgerConfigurationError(f"{document.root_field}: HTTP {status}")
            try:
                body = mapping.parse_body(raw)
            except mapping.MalformedResponse as exc:
                raise MaybeSent(str(exc)) from None
            throttle = mapping.throttle_status(body)
            if throttle is not None:
                _count_cost(document.operation_name, throttle)
                await self.bucket.answered(ticket, throttle)

            result = "graphql_error"
            try:
                value = parse(body)
            except mapping.Throttled as throttled:
                result = "throttled"
                raise _Resend(throttled.wait, "THROTTLED", throttled.requested) from None
            except mapping.RetryableError as exc:
                result = "internal_error"
                raise MaybeSent(f"INTERNAL_SERVER_ERROR: {exc}") from None
            except mapping.MalformedResponse as exc:
                result = "unreadable"
                raise MaybeSent(f"malformed answer: {exc}") from None
            except LedgerDecline:
                result = "user_error"
                raise
            except LedgerOutcomeUnknown:
                result = "internal_error"
                raise
            # LedgerConfigurationError, LedgerSearchWarning: graphql_error, as set above.
            result = "ok"
            return value
        finally:
            elapsed = loop.time() - started
            child(SHOPIFY_CALLS, document.root_field, result).inc()
            child(SHOPIFY_CALL_DURATION, document.root_field, result).observe(elapsed)
            if result != "ok":
                log.info("shopify_call", operation=document.operation_name, result=result,
                         seconds=round(elapsed, 3))

    def _timeout(self, remaining: float) -> aiohttp.ClientTimeout:
        """The session's own limits (e.g. connect=3 s, so a dead host is retried in time), with
        the total cut to what is left before the deadline."""
        base = self._session.timeout
        return aiohttp.ClientTimeout(
            total=remaining, connect=base.connect, sock_connect=base.sock_connect,
            sock_read=base.sock_read, ceil_threshold=base.ceil_threshold,
        )

    def _check_version(self, served: str | None) -> None:
        """Shopify serves the oldest supported version for an unsupported one (§2): count every
        mismatch, log each served version once per client."""
        if served is None or served == self._api_version:
            return
        SHOPIFY_API_VERSION_MISMATCH.inc()
        if served not in self._version_mismatches_logged:
            self._version_mismatches_logged.add(served)
            log.warning("shopify_api_version_mismatch", requested=self._api_version, served=served)


def _count_cost(operation: str, throttle: mapping.ThrottleStatus) -> None:
    """What each document costs the shop's bucket: the poller's budget and the points-per-
    operation table are read off this (bench.poller)."""
    if throttle.requested is not None:
        child(SHOPIFY_QUERY_COST, operation, "requested").inc(throttle.requested)
    if throttle.actual is not None:
        child(SHOPIFY_QUERY_COST, operation, "actual").inc(throttle.actual)


def _retry_after_seconds(value: str | None) -> float:
    """Retry-After in seconds; 1 s if absent or not a number (spec §9)."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        return 1.0
    return seconds if seconds >= 0 else 1.0


def _money_input(amount: Money) -> dict[str, str]:
    """The currency's minor-unit places ("30.00", JPY "500"), never a float."""
    return {"amount": amount.ledger_string(), "currencyCode": amount.currency}
