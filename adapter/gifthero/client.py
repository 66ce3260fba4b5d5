"""Gift Card Hero (a Shopify app's REST API, 001_7954c174efeb907f.txt) as an `AbsoluteLedger`.

Thin and faithful: one vendor call per primitive (plus pages), the answer translated by
mapping.py, failures by errors.py, HTTP, 429/Retry-After, retries and timeouts by the shared
transport (adapter.ledgers.rest). Exactly-once is not ours: adapter.ledgers.absolute wraps this
client in the card lock, intent, verification and repair of ledgers.md §3.2.

Decisions where the vendor is silent (ledgers.md §2, the emulator's model.UNDOCUMENTED):

- Codes (`CODE_RULE`): Gift Card Hero removes spaces and lowercases a code, then every card is a
  Shopify gift card, 8-20 characters. We only send codes already in that normal form (lowercase
  a-z0-9, 8-20), so the code the create answer echoes must be exactly ours; a code outside the
  rule is refused before any call. Codes can't be read back or searched: lookup_by_code=False.
- `create_card` sends `initial_value` as a decimal string; the vendor parses numbers and
  strings alike (no float anywhere).
- `find_created` searches `last_characters:<last 4>` and keeps the cards whose note is our
  marker: the full code can't be checked, so the marker is what proves the card is the one
  this create made. Several such cards -> LedgerNeedsReview (nothing tells which has the code).
- `set_balance` answers the transaction it made (kind SET), so it never answers None. The vendor
  refuses a target equal to the balance (422 "balance is unchanged") and makes no transaction:
  we raise `errors.BalanceUnchanged`, a LedgerUnavailable ("not executed, retry later"). Under
  the protocol's card lock the target differs from the balance read, so "unchanged" means a
  foreign change moved the balance to exactly our target in between. Answering None instead
  would send adapter.ledgers.absolute looking for our entry in the history, where that foreign
  entry could be taken for ours (if it is a set) and our debit or credit silently lost; retried
  from a fresh read, the write is simply done again on top of the foreign change.
- `history` reads /gift-cards/transactions with `query=id:<id>`, whose cards carry their
  transactions newest first, following Link pages (a card's transactions may continue on the
  next page). If `after` is never met the history can't be ordered against it: LedgerNeedsReview.
  A card the endpoint doesn't return -> LedgerDecline(CARD_NOT_FOUND).
- `configuration`: Gift Card Hero has no configuration endpoint and documents no limits, so we
  answer the configured currency and a limit no amount reaches (12 integer digits, NewStore's
  ceiling); a limit Shopify enforces shows up as the create's 422 (LIMIT_EXCEEDED).
- Paging: the next page is asked of our own base URL with the Link's page_info, never by
  following the Link's URL (the document's example points at another host; the token must not).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from decimal import Decimal
from typing import Any

import aiohttp
import structlog

from adapter.domain.money import MAX_INTEGER_DIGITS, Money, parse_currency
from adapter.gifthero import errors, mapping
from adapter.ledgers.changes import walk_changes
from adapter.ledgers.rest import RestAnswer, RestTransport
from adapter.ports import (
    BalanceEntry,
    CardChanges,
    Capabilities,
    CardReading,
    ChangedCard,
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

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://gifthero.syncu.be/api/external"
VENDOR = "gifthero"
PAGE_SIZE = 250          # the documented maximum of every list endpoint
CHANGE_PAGES = 4         # the poller's change list: pages per pass, at most
MAX_PAGES = 1000         # a cursor that never ends is a vendor bug, not a history

CODE_RULE = CodeRule(
    min_length=8,
    max_length=20,
    alphabet="a-z0-9",
    description="8 to 20 characters, lowercase letters a-z and digits 0-9 only",
)

CAPABILITIES = Capabilities(
    name="gifthero",
    moves=Moves.ABSOLUTE,
    notes=False,
    lookup_by_code=False,
    code_rule=CODE_RULE,
)


class GiftHeroClient:
    capabilities: Capabilities = CAPABILITIES

    def __init__(self, session: aiohttp.ClientSession, *, base_url: str = DEFAULT_BASE_URL, access_token: str,
                 currency: str, page_size: int = PAGE_SIZE) -> None:
        if not access_token:
            raise ValueError("access_token is required")
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}")
        self._base_url = base_url.rstrip("/")
        self._currency = parse_currency(currency)
        self._page_size = page_size
        self._transport = RestTransport(
            session,
            base_url=self._base_url,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json",
                     "Content-Type": "application/json"},
            vendor=VENDOR,
        )

    def __repr__(self) -> str:
        return f"GiftHeroClient(base_url={self._base_url!r}, currency={self._currency!r})"

    # ---- cards -------------------------------------------------------------------------------

    async def create_card(self, *, code: str, amount: Money, note: str, deadline: float) -> LedgerCard:
        broken = CODE_RULE.broken_by(code)
        if broken is not None:
            raise LedgerDecline(DeclineReason.INVALID_CODE, f"code must be {broken}")
        value = self._amount(amount)
        answer = await self._call("POST", "/gift-cards", json={"initial_value": value, "code": code, "note": note},
                                  deadline=deadline, write=True, operation="create", secrets=(code,))
        try:
            card = mapping.created_card(answer.body, sent_code=code, currency=self._currency)
        except errors.CodeMismatch as exc:
            log.error("gifthero_created_code_mismatch", card_id=exc.card_id, reason=exc.reason,
                      trace_id=answer.trace_id)
            raise
        except mapping.MalformedAnswer as exc:
            raise LedgerOutcomeUnknown(f"Gift Card Hero create: unreadable answer: {exc}") from None
        if card.note != note:
            log.warning("gifthero_create_note_not_kept", card_id=card.id)
        return card

    async def find_created(self, *, code: str, note: str, deadline: float) -> LedgerCard | None:
        if CODE_RULE.broken_by(code) is not None:
            return None  # create_card refuses such a code before any call: it made nothing
        last4 = code[-4:]
        found: list[LedgerCard] = []
        pages = self._pages("/gift-cards/search", {"query": f"last_characters:{last4}"}, deadline=deadline,
                            operation="search")
        async with aclosing(pages):
            async for nodes in pages:
                for node in nodes:
                    card = self._read(mapping.card, node, self._currency, operation="search")
                    if card.last_characters == last4 and card.note == note:
                        found.append(card)
        if len(found) > 1:
            log.error("gifthero_created_card_ambiguous", card_ids=[c.id for c in found])
            raise LedgerNeedsReview(f"Gift Card Hero: {len(found)} cards carry this create's marker")
        return found[0] if found else None

    async def get_card(self, *, card_id: str, deadline: float) -> LedgerCard | None:
        number = mapping.wire_id(card_id)
        if number is None:
            return None
        answer = await self._transport.call("GET", f"/gift-cards/{number}", deadline=deadline, write=False,
                                            operation="get")
        if answer.status == 404:
            return None
        self._raise_unless_ok(answer, operation="get", write=False)
        card = self._read(mapping.wrapped_card, answer.body, self._currency, operation="get")
        if card.id != card_id:
            raise LedgerUnavailable("Gift Card Hero get: answered another card")
        return card

    async def deactivate(self, *, card_id: str, deadline: float) -> LedgerCard:
        number = self._card_number(card_id)
        answer = await self._call("POST", f"/gift-cards/{number}/disable", json={"id": number},
                                  deadline=deadline, write=True, operation="disable")
        try:
            card = mapping.wrapped_card(answer.body, self._currency)
        except mapping.MalformedAnswer as exc:
            raise LedgerOutcomeUnknown(f"Gift Card Hero disable: unreadable answer: {exc}") from None
        if card.id != card_id or card.enabled:
            raise LedgerOutcomeUnknown("Gift Card Hero disable: answered a card that is not this one disabled")
        return card

    async def find_by_code(self, *, code: str, deadline: float, priority: Priority = Priority.MONEY) -> LedgerCard | None:
        """Codes can't be read back or searched (capabilities.lookup_by_code is False): None, no call."""
        return None

    async def changed_cards(self, *, since: str | None, deadline: float) -> CardChanges:
        """/gift-cards/search ordered by updated_at, newest first (adapter.ledgers.changes), at
        most CHANGE_PAGES pages a pass: a balance PUT, a checkout or a disable updates a card."""
        async def read_page(page_info: str | None) -> tuple[list[ChangedCard], str | None]:
            nodes, next_page = await self._page("/gift-cards/search", {"order": "updated_at DESC"}, page_info,
                                                deadline=deadline, operation="search", lookup=True)
            return [self._read(mapping.changed_card, node, operation="search") for node in nodes], next_page

        return await walk_changes(since, read_page, CHANGE_PAGES, VENDOR)

    async def configuration(self, *, deadline: float) -> LedgerConfiguration:
        """No such endpoint (see the module docstring): no call."""
        limit = Money(Decimal(10) ** MAX_INTEGER_DIGITS - 1, self._currency)
        return LedgerConfiguration(issue_limit=limit, purchase_limit=limit)

    # ---- balance and history -----------------------------------------------------------------

    async def set_balance(self, *, card_id: str, balance: Money, deadline: float) -> BalanceEntry:
        number = self._card_number(card_id)
        value = self._amount(balance)
        answer = await self._transport.call("PUT", f"/gift-cards/{number}/balance", json={"balance": value},
                                            deadline=deadline, write=True, operation="set_balance")
        if errors.is_balance_unchanged(answer.status, answer.body):
            log.warning("gifthero_balance_unchanged", card_id=card_id, trace_id=answer.trace_id)
            raise errors.BalanceUnchanged()
        self._raise_unless_ok(answer, operation="set_balance", write=True)
        try:
            return mapping.set_entry(answer.body, card_id=card_id, currency=balance.currency)
        except mapping.MalformedAnswer as exc:
            raise LedgerOutcomeUnknown(f"Gift Card Hero set_balance: unreadable answer: {exc}") from None

    async def history(self, *, card_id: str, after: str | None, deadline: float) -> list[BalanceEntry]:
        return (await self._read_history(card_id, after, deadline, lookup=False)).entries

    async def reread(self, *, card_id: str, after: str | None, deadline: float) -> CardReading:
        """One list: /gift-cards/transactions answers the card with its transactions, so the
        balance is the one after the newest entry read. On the lookups' terms."""
        try:
            return await self._read_history(card_id, after, deadline, lookup=True)
        except LedgerDecline as decline:
            if decline.reason is DeclineReason.CARD_NOT_FOUND:
                return CardReading(None, [])
            raise

    async def _read_history(self, card_id: str, after: str | None, deadline: float, *, lookup: bool) -> CardReading:
        newer: list[BalanceEntry] = []
        cards: list[LedgerCard] = []
        async with aclosing(self._entries(card_id, deadline=deadline, lookup=lookup, cards=cards)) as entries:
            async for entry in entries:
                if after is not None and entry.id == after:
                    newer.reverse()
                    return CardReading(cards[0], newer)
                newer.append(entry)
        if after is not None:
            log.error("gifthero_history_anchor_missing", card_id=card_id, after=after, entries=len(newer))
            raise LedgerNeedsReview(f"Gift Card Hero: entry {after} is not in card {card_id}'s history")
        newer.reverse()
        return CardReading(cards[0] if cards else None, newer)

    async def newest_entry(self, *, card_id: str, deadline: float) -> str | None:
        async with aclosing(self._entries(card_id, deadline=deadline)) as entries:
            async for entry in entries:
                return entry.id
        return None

    async def _entries(self, card_id: str, *, deadline: float, lookup: bool = False,
                       cards: list[LedgerCard] | None = None) -> AsyncIterator[BalanceEntry]:
        """The card's entries, newest first, across pages. CARD_NOT_FOUND if no page has it.
        `cards` gets the card as the first page showed it."""
        number = self._card_number(card_id)
        seen_card = False
        seen: set[str] = set()
        pages = self._pages("/gift-cards/transactions", {"query": f"id:{number}"}, deadline=deadline,
                            operation="transactions", lookup=lookup)
        async with aclosing(pages):
            async for nodes in pages:
                for node in nodes:
                    if self._read(mapping.our_id, node.get("id"), operation="transactions") != card_id:
                        continue  # a filter the vendor reads more loosely than we do
                    seen_card = True
                    card = self._read(mapping.card, node, self._currency, operation="transactions")
                    if cards is not None and not cards:
                        cards.append(card)
                    for transaction in self._read(mapping.transactions_of, node, operation="transactions"):
                        entry = self._read(mapping.balance_entry, transaction, card.balance.currency,
                                           operation="transactions")
                        if entry.id not in seen:  # an entry a page boundary showed twice
                            seen.add(entry.id)
                            yield entry
        if not seen_card:
            raise LedgerDecline(DeclineReason.CARD_NOT_FOUND, "not in /gift-cards/transactions")

    # ---- plumbing ----------------------------------------------------------------------------

    async def _pages(self, path: str, params: dict[str, str], *, deadline: float,
                     operation: str, lookup: bool = False) -> AsyncIterator[list[Mapping[str, Any]]]:
        """Each page's card objects, following Link rel="next" by its page_info (see the docstring)."""
        cursors: set[str] = set()
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            nodes, cursor = await self._page(path, params, cursor, deadline=deadline, operation=operation,
                                             lookup=lookup)
            yield nodes
            if cursor is None:
                return
            if cursor in cursors:
                raise LedgerUnavailable(f"Gift Card Hero {operation}: the next page repeats a cursor")
            cursors.add(cursor)
        raise LedgerUnavailable(f"Gift Card Hero {operation}: more than {MAX_PAGES} pages")

    async def _page(self, path: str, params: dict[str, str], page_info: str | None, *, deadline: float,
                    operation: str, lookup: bool) -> tuple[list[Mapping[str, Any]], str | None]:
        """One page's card objects (the first with `params`, a later one by its page_info alone)
        and the next page's page_info, None after the last."""
        query = {"page_info": page_info} if page_info else params
        answer = await self._call("GET", path, params={**query, "limit": str(self._page_size)}, deadline=deadline,
                                  write=False, operation=operation, lookup=lookup)
        return (self._read(mapping.card_nodes, answer.body, operation=operation),
                self._read(mapping.page_info, answer.link("next"), operation=operation))

    async def _call(self, method: str, path: str, *, deadline: float, write: bool, operation: str,
                    params: dict[str, str] | None = None, json: Any = None, secrets: tuple[str, ...] = (),
                    lookup: bool = False) -> RestAnswer:
        answer = await self._transport.call(method, path, params=params, json=json, deadline=deadline, write=write,
                                            operation=operation, lookup=lookup)
        self._raise_unless_ok(answer, operation=operation, write=write, secrets=secrets)
        return answer

    def _raise_unless_ok(self, answer: RestAnswer, *, operation: str, write: bool, secrets: tuple[str, ...] = ()) -> None:
        if 200 <= answer.status < 300:
            return
        failure = errors.failure(answer.status, answer.body, operation=operation, write=write, secrets=secrets)
        log.info("gifthero_refused", operation=operation, status=answer.status, failure=type(failure).__name__,
                 reason=getattr(getattr(failure, "reason", None), "value", None), trace_id=answer.trace_id)
        raise failure

    @staticmethod
    def _read(parse: Any, *args: Any, operation: str) -> Any:
        """A read's answer we can't parse: nothing was changed, try again later."""
        try:
            return parse(*args)
        except mapping.MalformedAnswer as exc:
            raise LedgerUnavailable(f"Gift Card Hero {operation}: unreadable answer: {exc}") from None

    def _amount(self, amount: Money) -> str:
        if amount.currency != self._currency:
            raise LedgerDecline(DeclineReason.MISMATCHING_CURRENCY, f"the shop's currency is {self._currency}")
        try:
            return mapping.wire_amount(amount)
        except ValueError as exc:
            raise LedgerDecline(DeclineReason.INVALID_AMOUNT, str(exc)) from None

    @staticmethod
    def _card_number(card_id: str) -> int:
        number = mapping.wire_id(card_id)
        if number is None:
            raise LedgerDecline(DeclineReason.CARD_NOT_FOUND, "not a Gift Card Hero card id")
        return number

