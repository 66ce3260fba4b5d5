"""SHOPLINE's gift-card REST Admin API as an AbsoluteLedger (adapter.ports).

A thin client: each method is one documented call (or a bounded walk through pages of one), its
answer mapped (mapping.py) or its error mapped (errors.py). Nothing here is exactly-once: the
protocol in adapter.ledgers.absolute takes the card lock, records the intent and verifies. What
this client guarantees is what that protocol leans on: a write is never sent twice by us or by
aiohttp (adapter.ledgers.rest), a write that may have happened says so (LedgerOutcomeUnknown), and
an answer we can't read is a loud failure, never a guess.

Facts and choices: ledgers.md §1 and the emulator's choices.py. Card codes appear only in the
bodies and query strings we send; never in logs or exception messages.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, NoReturn

import aiohttp
import structlog

from adapter.domain.money import Money
from adapter.ledgers.rest import LeakyBucket, RestAnswer, RestTransport
from adapter.ports import (
    BalanceEntry,
    CardChanges,
    ChangedCard,
    Capabilities,
    CardReading,
    CodeRule,
    DeclineReason,
    LedgerCard,
    LedgerConfiguration,
    LedgerDecline,
    LedgerNeedsReview,
    LedgerOutcomeUnknown,
    LedgerUnavailable,
    Moves,
    Priority,
)
from adapter.shopline import errors, mapping

log = structlog.get_logger(__name__)

VENDOR = "shopline"
TRACE_HEADER = "traceId"
DEFAULT_API_VERSION = "v20260601"
CODE_FILTER_SINCE = "v20260301"   # `GET gift_cards.json?code=` exists from this version on [doc]
CODE_RULE = CodeRule(8, 20, "a-z0-9", "8 to 20 lowercase letters a-z and digits 0-9")
# SHOPLINE's documented rate limit: a leaky bucket per app per store, 40 held, 4 leaking per second.
BUCKET_SIZE = 40
LEAK_PER_SECOND = 4
CARDS_PAGE = 250                  # gift_cards.json: limit <= 250
CHANGE_PAGES = 4                  # the poller's list of new cards: pages per pass, at most
RECORDS_PAGE = 100                # operation_records.json: limit "can not exceed 100" (the stricter page)

# SHOPLINE documents no issue or purchase limit and has no endpoint to read one (Shopify's
# giftCardConfiguration has no counterpart). A limit of our own invention would refuse cards the
# store accepts, so the only bound left is NewStore's own sane magnitude (at most 12 digits before
# the point, adapter.domain.money.MAX_INTEGER_DIGITS), which every amount has passed already.
NO_LIMIT = "999999999999"

_VERSION = re.compile(r"v\d{8}")
_HANDLE = re.compile(r"[a-z0-9][a-z0-9-]*")
_BASE_VERSION = re.compile(r"/admin/openapi/(v\d{8})/?$")


def balance_body(balance: str) -> dict[str, Any]:
    """The body of `PUT gift_cards/{id}.json`, the one place its shape lives.

    The update page lists `balance` at the top level, the create page wraps its fields in
    `gift_card`; which the live API wants is *[unverified]* (ledgers.md §1, emulator choices.py
    PUT_BODY_WRAPPED). Wrapped, because:
    - ledgers.md §1 decides so, and it is create's shape and that of the Shopify REST API whose
      resources SHOPLINE's mirror;
    - a wrong guess either way fails the same visible way: a 400 (nothing changed), or an ignored
      field (200, balance unchanged), which the protocol's read-back after every PUT sees as "B
      still there, no new entry: not applied". It shows as writes that never land, not as wrong
      money, so a live check settles it and this function is the one line to change.
    """
    return {"gift_card": {"balance": balance}}


class ShoplineClient:
    """One SHOPLINE store. Share one instance (its session and its bucket) per store."""

    def __init__(self, session: aiohttp.ClientSession, *, base_url: str, access_token: str,
                 api_version: str = DEFAULT_API_VERSION, currency: str, bucket: LeakyBucket | None = None,
                 read_retries: int = 3, connect_timeout: float = 2.0, request_timeout: float = 10.0) -> None:
        if not _VERSION.fullmatch(api_version):
            raise ValueError("api_version must look like v20260601")
        in_url = _BASE_VERSION.search(base_url.split("?", 1)[0])
        if in_url is not None and in_url.group(1) != api_version:
            # The version decides the capabilities (the code filter): they must not disagree.
            raise ValueError("base_url names another API version than api_version")
        if not access_token:
            raise ValueError("access_token is required")
        mapping.places(currency)  # a currency we know the exponent of, or ValueError
        self.api_version = api_version
        self.currency = currency
        self.bucket = bucket or LeakyBucket(BUCKET_SIZE, LEAK_PER_SECOND)
        self.capabilities = Capabilities(
            name=VENDOR, moves=Moves.ABSOLUTE, notes=False,
            lookup_by_code=api_version >= CODE_FILTER_SINCE, code_rule=CODE_RULE,
        )
        self._base_url = base_url
        self._transport = RestTransport(
            session, base_url=base_url, vendor=VENDOR, trace_header=TRACE_HEADER, bucket=self.bucket,
            headers={"Authorization": f"Bearer {access_token}",
                     "Content-Type": "application/json; charset=utf-8",
                     "Accept": "application/json"},
            read_retries=read_retries, connect_timeout=connect_timeout, request_timeout=request_timeout,
        )

    def __repr__(self) -> str:  # never the token
        return f"ShoplineClient(base_url={self._base_url!r}, api_version={self.api_version!r})"

    @staticmethod
    def base_url_for(handle: str, api_version: str = DEFAULT_API_VERSION) -> str:
        """`mystore`, `mystore.myshopline.com` or `https://mystore.myshopline.com/` -> the Admin
        REST base for that version."""
        shop = handle.strip().lower()
        for prefix in ("https://", "http://"):
            shop = shop.removeprefix(prefix)
        shop = shop.split("/", 1)[0].removesuffix(".myshopline.com")
        if not _HANDLE.fullmatch(shop):
            raise ValueError("not a SHOPLINE store handle")
        if not _VERSION.fullmatch(api_version):
            raise ValueError("api_version must look like v20260601")
        return f"https://{shop}.myshopline.com/admin/openapi/{api_version}/"

    # ---- writes -------------------------------------------------------------------------------

    async def create_card(self, *, code: str, amount: Money, note: str, deadline: float) -> LedgerCard:
        # Our own code, so the full code never has to come back (SHOPLINE answers last_characters).
        broken = CODE_RULE.broken_by(code)
        if broken is not None:
            raise LedgerDecline(DeclineReason.INVALID_CODE, broken)
        if amount.currency != self.currency:
            # A card is made in the store's currency; create has no currency field.
            raise LedgerDecline(DeclineReason.MISMATCHING_CURRENCY, f"the store's currency is {self.currency}")
        body = {"gift_card": {"code": code, "initial_value": self._amount(amount), "note": note}}
        operation = "create_gift_card"
        answer = await self._transport.call("POST", "gift_cards.json", json=body, deadline=deadline,
                                            write=True, operation=operation)
        if not 200 <= answer.status < 300:  # 200 or 201 (the emulator's pick): undocumented
            self._fail(answer, operation, write=True, card_scoped=False, secrets=(code,))
        card = self._read(answer, operation, write=True,
                          parse=lambda body: mapping.card(mapping.envelope(body, "gift_card"), self.currency))
        if card.last_characters != code[-4:]:
            # Answered, but not with the card we asked for: whether ours exists is for
            # find_created to say, not for us to assume.
            log.error("shopline_created_card_mismatch", operation=operation, trace_id=answer.trace_id)
            raise LedgerOutcomeUnknown(f"{operation}: the answered card's last characters are not our code's")
        return card

    async def set_balance(self, *, card_id: str, balance: Money, deadline: float) -> BalanceEntry | None:
        """Absolute and without precondition. SHOPLINE answers the card, not the record the PUT
        made, so this answers None; the protocol reads the history."""
        self._known_id(card_id)
        if balance.amount < 0:
            raise LedgerDecline(DeclineReason.INVALID_AMOUNT, "a balance can't be negative")
        operation = "update_gift_card"
        answer = await self._transport.call("PUT", f"gift_cards/{card_id}.json",
                                            json=balance_body(self._amount(balance)),
                                            deadline=deadline, write=True, operation=operation)
        if not 200 <= answer.status < 300:
            self._fail(answer, operation, write=True, card_scoped=True)
        return None

    async def deactivate(self, *, card_id: str, deadline: float) -> LedgerCard:
        """Final. A card already disabled is answered as it is: deactivating twice is harmless
        to us, and SHOPLINE refuses the second disable (422)."""
        self._known_id(card_id)
        operation = "disable_gift_card"
        answer = await self._transport.call("POST", f"gift_cards/{card_id}/disable.json", deadline=deadline,
                                            write=True, operation=operation)
        if 200 <= answer.status < 300:
            return self._read(answer, operation, write=True,
                              parse=lambda body: mapping.card(mapping.envelope(body, "gift_card"), self.currency))
        try:
            self._fail(answer, operation, write=True, card_scoped=True)
        except LedgerDecline as decline:
            if decline.reason is not DeclineReason.DEACTIVATED:
                raise
            card = await self.get_card(card_id=card_id, deadline=deadline)
            if card is None:
                raise LedgerDecline(DeclineReason.CARD_NOT_FOUND, "gone after a refused disable") from None
            if card.enabled:
                raise decline  # "disabled" in the refusal, yet enabled: not ours to paper over
            return card

    # ---- reads --------------------------------------------------------------------------------

    async def get_card(self, *, card_id: str, deadline: float) -> LedgerCard | None:
        return await self._card(card_id, deadline, lookup=False)

    async def _card(self, card_id: str, deadline: float, *, lookup: bool) -> LedgerCard | None:
        if not mapping.valid_id(card_id):
            return None
        operation = "get_gift_card"
        answer = await self._transport.call("GET", f"gift_cards/{card_id}.json", deadline=deadline,
                                            write=False, operation=operation, lookup=lookup)
        if answer.status == 404:
            return None
        if answer.status != 200:
            self._fail(answer, operation, write=False, card_scoped=True)
        return self._read(answer, operation, write=False,
                          parse=lambda body: mapping.card(mapping.envelope(body, "gift_card"), self.currency))

    async def find_by_code(self, *, code: str, deadline: float, priority: Priority = Priority.MONEY) -> LedgerCard | None:
        """The one card with exactly this code, or None. None without a call when this version
        has no code filter or the code breaks SHOPLINE's rule (no card can have it). A LOOKUP is
        refused at once (LedgerUnavailable) while the request bucket is more than half used."""
        if not self.capabilities.lookup_by_code or CODE_RULE.broken_by(code) is not None:
            return None
        hits = await self._cards_by_code(code, deadline, lookup=priority is Priority.LOOKUP)
        if len(hits) == 1 and hits[0].last_characters == code[-4:]:
            return hits[0]
        if len(hits) > 1:
            log.warning("shopline_code_filter_not_exact", operation="list_gift_cards", hits=len(hits))
        return None

    async def find_created(self, *, code: str, note: str, deadline: float) -> LedgerCard | None:
        """The card with this code if it carries `note` (the create's ref), else None."""
        if CODE_RULE.broken_by(code) is not None:
            return None
        if self.capabilities.lookup_by_code:
            hits = await self._cards_by_code(code, deadline, lookup=False)
            if len(hits) <= 1:
                # Codes are unique in a store: one hit is the card with this code (or, were the
                # filter ignored, the store's only card); none means there is none.
                match = [card for card in hits if card.last_characters == code[-4:] and card.note == note]
                return match[0] if match else None
            # More than one: the filter did not narrow as documented. Fall back to the scan.
            log.warning("shopline_code_filter_not_exact", operation="list_gift_cards", hits=len(hits))
        return await self._scan_for(code[-4:], note, deadline)

    async def history(self, *, card_id: str, after: str | None, deadline: float) -> list[BalanceEntry]:
        return await self._history(card_id, after, deadline, lookup=False)

    async def _history(self, card_id: str, after: str | None, deadline: float, *, lookup: bool) -> list[BalanceEntry]:
        """The entries newer than `after` (all of them for None), oldest first. Read newest first
        and stopped at `after`; if the pages run out first (it aged out of SHOPLINE's 180 days,
        and with it everything older), what was read is the answer."""
        newest_first: list[BalanceEntry] = []
        seen: set[str] = set()
        async with aclosing(self._record_pages(card_id, RECORDS_PAGE, deadline, lookup=lookup)) as pages:
            async for page in pages:
                for entry in page:
                    if entry.id == after:
                        return newest_first[::-1]
                    if entry.id not in seen:  # an entry a page boundary showed twice
                        seen.add(entry.id)
                        newest_first.append(entry)
        if after is not None:
            log.info("shopline_history_anchor_not_found", operation="list_operation_records", entries=len(seen))
        return newest_first[::-1]

    async def reread(self, *, card_id: str, after: str | None, deadline: float) -> CardReading:
        """The entries, then the card: SHOPLINE answers them apart. Both on the lookups' terms
        (refused at once while the bucket is more than half used)."""
        if not mapping.valid_id(card_id):
            return CardReading(None, [])
        entries = await self._history(card_id, after, deadline, lookup=True)
        return CardReading(await self._card(card_id, deadline, lookup=True), entries)

    async def newest_entry(self, *, card_id: str, deadline: float) -> str | None:
        async with aclosing(self._record_pages(card_id, 1, deadline)) as pages:
            async for page in pages:
                return page[0].id if page else None
        return None

    async def changed_cards(self, *, since: str | None, deadline: float) -> CardChanges:
        """Cards made since the watermark (`since_id`: the list is by id, oldest first), at most
        CHANGE_PAGES pages a pass, then the next pass goes on from the last id seen. Balance
        changes of cards we know come from their operation records (the poller's round) and
        the webhook. On the lookups' terms: refused at once rather than spend the bucket."""
        operation = "list_gift_cards"
        found: list[ChangedCard] = []
        url: str | None = None
        visited: set[str] = set()
        params = {"limit": str(CARDS_PAGE), **({"since_id": since} if since else {})}
        for _ in range(CHANGE_PAGES):
            answer = await self._transport.call("GET", "gift_cards.json", params=None if url else params, url=url,
                                                deadline=deadline, write=False, operation=operation, lookup=True)
            if answer.status != 200:
                self._fail(answer, operation, write=False, card_scoped=False)
            found += [ChangedCard(card.id, card.last_characters) for card in self._read(
                answer, operation, write=False, parse=lambda body: mapping.cards(body, self.currency))]
            url = self._next(answer, visited, operation)
            if url is None:
                break
        newest = max((card.card_id for card in found), key=int, default=None)
        return CardChanges(found, newest if newest is not None and (since is None or int(newest) > int(since))
                           else since)

    async def configuration(self, *, deadline: float) -> LedgerConfiguration:
        """No call: SHOPLINE has no configuration endpoint (see NO_LIMIT)."""
        limit = Money.from_ledger(NO_LIMIT, self.currency)
        return LedgerConfiguration(issue_limit=limit, purchase_limit=limit)

    # ---- helpers ------------------------------------------------------------------------------

    async def _cards_by_code(self, code: str, deadline: float, *, lookup: bool) -> list[LedgerCard]:
        operation = "list_gift_cards"
        # limit 2: enough to see that the filter answered more than the one card it should.
        answer = await self._transport.call("GET", "gift_cards.json", params={"code": code, "limit": "2"},
                                            deadline=deadline, write=False, operation=operation, lookup=lookup)
        if answer.status != 200:
            self._fail(answer, operation, write=False, card_scoped=False, secrets=(code,))
        return self._read(answer, operation, write=False, parse=lambda body: mapping.cards(body, self.currency))

    async def _scan_for(self, last_characters: str, note: str, deadline: float) -> LedgerCard | None:
        """Every card of the store, page by page, for the one with these last characters and
        note (versions without the code filter). Bounded by the deadline: a store too large to
        read in time answers LedgerUnavailable, never None."""
        operation = "list_gift_cards"
        found: list[LedgerCard] = []
        url: str | None = None
        visited: set[str] = set()
        while True:
            answer = await self._transport.call(
                "GET", "gift_cards.json", params=None if url else {"limit": str(CARDS_PAGE)}, url=url,
                deadline=deadline, write=False, operation=operation)
            if answer.status != 200:
                self._fail(answer, operation, write=False, card_scoped=False)
            page = self._read(answer, operation, write=False, parse=lambda body: mapping.cards(body, self.currency))
            found += [card for card in page if card.last_characters == last_characters and card.note == note]
            url = self._next(answer, visited, operation)
            if url is None:
                break
        if len(found) > 1:
            # Two cards with one create's note: only a double create could make that.
            log.error("shopline_created_card_ambiguous", operation=operation, matches=len(found))
            raise LedgerNeedsReview(f"{operation}: {len(found)} cards carry the same create note")
        return found[0] if found else None

    async def _record_pages(self, card_id: str, limit: int, deadline: float, *,
                            lookup: bool = False) -> AsyncIterator[list[BalanceEntry]]:
        if not mapping.valid_id(card_id):
            raise LedgerDecline(DeclineReason.CARD_NOT_FOUND, "not a SHOPLINE card id")
        operation = "list_operation_records"
        url: str | None = None
        visited: set[str] = set()
        while True:
            answer = await self._transport.call(
                "GET", f"gift_cards/{card_id}/operation_records.json",
                params=None if url else {"sort_order": "desc", "limit": str(limit)}, url=url,
                deadline=deadline, write=False, operation=operation, lookup=lookup)
            if answer.status != 200:
                self._fail(answer, operation, write=False, card_scoped=True)
            yield self._read(answer, operation, write=False, parse=lambda body: mapping.entries(body, self.currency))
            url = self._next(answer, visited, operation)
            if url is None:
                return

    @staticmethod
    def _next(answer: RestAnswer, visited: set[str], operation: str) -> str | None:
        url = answer.link("next")
        if url is None:
            return None
        if url in visited:  # a cursor that leads back: the walk would never end
            log.error("shopline_paging_loop", operation=operation, trace_id=answer.trace_id)
            raise LedgerUnavailable(f"{operation}: the next page's link repeats an earlier one")
        visited.add(url)
        return url

    def _amount(self, money: Money) -> str:
        try:
            return mapping.amount_string(money)
        except ValueError as exc:
            raise LedgerDecline(DeclineReason.INVALID_AMOUNT, str(exc)) from None

    @staticmethod
    def _known_id(card_id: str) -> None:
        if not mapping.valid_id(card_id):
            raise LedgerDecline(DeclineReason.CARD_NOT_FOUND, "not a SHOPLINE card id")

    @staticmethod
    def _fail(answer: RestAnswer, operation: str, *, write: bool, card_scoped: bool,
              secrets: tuple[str, ...] = ()) -> NoReturn:
        log.info("shopline_refused", operation=operation, status=answer.status, trace_id=answer.trace_id)
        errors.raise_for(answer, operation=operation, write=write, card_scoped=card_scoped, secrets=secrets)

    @staticmethod
    def _read(answer: RestAnswer, operation: str, *, write: bool, parse: Any) -> Any:
        """Parse a success; a shape we can't read fails loudly: LedgerOutcomeUnknown for a write
        (it happened, we can't tell what it made), LedgerUnavailable for a read."""
        try:
            return parse(answer.body)
        except mapping.Unreadable as exc:
            log.error("shopline_unreadable_answer", operation=operation, status=answer.status,
                      problem=str(exc), trace_id=answer.trace_id)
            if write:
                raise LedgerOutcomeUnknown(f"{operation}: unreadable answer ({exc})") from None
            raise LedgerUnavailable(f"{operation}: unreadable answer ({exc})") from None


__all__ = ["ShoplineClient", "balance_body"]
