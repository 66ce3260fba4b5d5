"""The one ledger port: what use cases may ask of a gift-card ledger, and what each ledger can do.

Use cases know only the types in this module. `LedgerPort` is what they call; every ledger
serves it:

- Shopify natively (adapter.shopify): its debits and credits are deltas, atomic at Shopify, and
  each carries a note we read back to prove a write landed.
- SHOPLINE and Gift Card Hero (adapter.shopline, adapter.gifthero) can only *set* a balance and
  carry no note on a balance change. Their clients implement `AbsoluteLedger`, and
  adapter.ledgers.absolute turns one into a `LedgerPort` with the exactly-once protocol of
  ledgers.md §3.2 (a card lock in Postgres, the intent recorded with the balance read and the
  target, the PUT, and its verification).

A ledger says what it can do in `Capabilities`. A use case may read them (for instance: no lookup
by code means "card not known to this adapter"), but never asks which ledger it has. Nothing here
knows aiohttp, HTTP, GraphQL or NewStore JSON, and no message of these exceptions carries a code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Protocol

from adapter.domain.money import Money

# ---- what a ledger can do --------------------------------------------------------------------


class Moves(Enum):
    DELTA = "delta"          # debit/credit by an amount, atomic at the ledger
    ABSOLUTE = "absolute"    # only "set the balance to T"


@dataclass(frozen=True, slots=True)
class CodeRule:
    """The codes a ledger accepts, after our normalisation (spaces and dashes removed)."""

    min_length: int
    max_length: int
    alphabet: str              # a regex character class, e.g. "a-z0-9"
    description: str           # the rule in words, for the error that names it

    def broken_by(self, code: str) -> str | None:
        """None if `code` satisfies the rule, else the rule's description."""
        if self.min_length <= len(code) <= self.max_length and re.fullmatch(f"[{self.alphabet}]+", code):
            return None
        return self.description


@dataclass(frozen=True, slots=True)
class Capabilities:
    name: str                  # for logs and metric labels only; never to branch on
    moves: Moves
    notes: bool                # a balance change carries a note we can read back
    lookup_by_code: bool       # the ledger can find a card by its full code
    code_rule: CodeRule
    # The ledger can list the cards an order sold (Shopify: giftCards(query: "order_id:…")), so
    # a sale at the web shop announced by its order reaches the mirror (issue #12's intake).
    cards_by_order: bool = False
    # Its history says what made each entry (a checkout, an admin, another app). Where it does
    # not (Shopify), a foreign entry's cause comes from a webhook that announced it, if any.
    entry_causes: bool = True


# ---- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerCard:
    id: str                      # the ledger's own id (a Shopify gid, a SHOPLINE or GCH number)
    last_characters: str         # lower-case last four
    balance: Money
    enabled: bool
    expires_on: date | None
    deactivated_at: datetime | None = None
    note: str | None = None
    created_at: datetime | None = None

    def is_expired(self, today: date) -> bool:
        """Ledgers keep expired cards "enabled": expiry is ours to check (UTC date)."""
        return self.expires_on is not None and self.expires_on < today


@dataclass(frozen=True, slots=True)
class LedgerTransaction:
    id: str
    amount: Money                # debits negative, credits positive
    note: str | None
    processed_at: datetime
    card_id: str | None = None
    balance_after: Money | None = None


@dataclass(frozen=True, slots=True)
class LedgerConfiguration:
    issue_limit: Money           # its currency is the shop's: new cards are made in it
    purchase_limit: Money


@dataclass(frozen=True, slots=True)
class WriteRef:
    """Which of our recorded writes a ledger call performs: the identity a ledger may carry
    with the write (Shopify: a note) or that the absolute protocol keys its intent on."""

    operation: str               # issue, activate, authorize, refund, revoke, reverse, ...
    write_id: str                # ledger_writes.write_id


# ---- failures ---------------------------------------------------------------------------------


class LedgerError(Exception):
    """Base of every ledger failure."""


class DeclineReason(Enum):
    """Our vocabulary for a ledger's definite refusals; each client maps its vendor's errors
    onto it (adapter/<ledger>/errors.py)."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    CARD_NOT_FOUND = "card_not_found"
    MISMATCHING_CURRENCY = "mismatching_currency"
    LIMIT_EXCEEDED = "limit_exceeded"
    EXPIRED = "expired"
    DEACTIVATED = "deactivated"
    UNUSABLE = "unusable"              # refused for the card's state, no reason given
    CODE_TAKEN = "code_taken"
    INVALID_CODE = "invalid_code"
    INVALID_AMOUNT = "invalid_amount"
    OTHER = "other"


class LedgerDecline(LedgerError):
    """A definite refusal: the write did not happen. `detail` is the vendor's code or wording,
    for our logs only (it never reaches NewStore)."""

    def __init__(self, reason: DeclineReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class LedgerUnavailable(LedgerError):
    """Definitely not executed, but no answer now: throttled past the deadline, a frozen store,
    a connect failure, a read that exhausted its retries. Safe to retry later."""

    def __init__(self, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class LedgerOutcomeUnknown(LedgerError):
    """A write that may or may not have happened (timeout or reset after sending, 5xx).
    Must be settled by reading the ledger before any resend."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LedgerNeedsReview(LedgerError):
    """The ledger's state cannot tell whether a write landed (ledgers.md §3.2, "anything else
    is ambiguous"): it went to review and is never resent blindly; an operator decides."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LedgerConfigurationError(LedgerError):
    """Our fault or the shop's setup: a bad token, missing scopes, a document the API refuses."""


class LedgerSearchWarning(LedgerError):
    """A search answered with a warning that its filter was ignored (a bug of ours)."""


# ---- the port ---------------------------------------------------------------------------------


class Priority(Enum):
    """What a call is for, when the ledger must ration what it can take (a rate budget shared by
    every replica of this shop):

    - MONEY: a call for a card already known (its balance, a debit, credit, deactivation) or
      settling a write. Always sent, waiting for the budget if it must.
    - LOOKUP: finding a card by a code someone presented, which may be nobody's. Never allowed
      to crowd out MONEY: a ledger may refuse it at once with LedgerUnavailable (retry later)
      rather than queue it or let it spend the share of the budget MONEY calls need."""

    MONEY = "money"
    LOOKUP = "lookup"


_BACKGROUND: ContextVar[bool] = ContextVar("ledger_background_work", default=False)


@contextmanager
def background_work() -> Iterator[None]:
    """Ledger calls made inside are background work (the reconciler settling what nobody waits
    for): a ledger that rations its budget sends them on LOOKUP's terms, never queued in front of
    NewStore's calls nor spending the share kept for them. Refused, a call raises
    LedgerUnavailable with nothing sent, and the work is tried again at its next pass."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


def is_background_work() -> bool:
    return _BACKGROUND.get()


@dataclass(frozen=True, slots=True)
class CardHolder:
    """Who NewStore says the card is for (its `customer`), for a ledger that can link a card to
    its customer account (Shopify, when configured). Never a card code."""

    email: str | None = None
    name: str | None = None


class LedgerPort(Protocol):
    """What every use case calls. `deadline` is an absolute asyncio loop time; nothing waits
    past it. Writes name the recorded write they perform (`ref`), so the ledger can prove later
    whether it landed (`find_write`, `find_created`)."""

    capabilities: Capabilities

    async def create_card(self, *, code: str, amount: Money, ref: WriteRef, deadline: float,
                          holder: CardHolder | None = None) -> LedgerCard:
        """`holder`: whom to link the card to, where the ledger links cards to customers; a
        link that cannot be made never fails the create (the card is made unlinked)."""

    async def find_created(self, *, code: str, ref: WriteRef, deadline: float) -> LedgerCard | None:
        """The card with this code if `ref` created it, else None (settles a create whose
        outcome was unknown, or whose code the ledger says is taken)."""

    async def debit(self, *, card_id: str, amount: Money, ref: WriteRef, deadline: float) -> LedgerTransaction: ...

    async def credit(self, *, card_id: str, amount: Money, ref: WriteRef, deadline: float) -> LedgerTransaction: ...

    async def find_write(
        self, *, card_id: str, ref: WriteRef, not_before: datetime, deadline: float
    ) -> LedgerTransaction | None:
        """The transaction `ref` made, or None when the ledger proves it absent. May raise
        LedgerNeedsReview when the ledger's state is ambiguous."""

    async def deactivate(self, *, card_id: str, deadline: float) -> LedgerCard: ...

    async def get_card(self, *, card_id: str, deadline: float) -> LedgerCard | None: ...

    async def find_by_code(self, *, code: str, deadline: float, priority: Priority = Priority.MONEY) -> LedgerCard | None:
        """The one card with exactly this code, verified, or None. Only for a ledger whose
        capabilities say lookup_by_code; the others answer None without a call."""

    async def configuration(self, *, deadline: float) -> LedgerConfiguration: ...

    async def settle_background(self, *, deadline: float) -> int:
        """Finish what this ledger's adapter left open (the reconciler calls it every pass);
        answers how many items it finished. Nothing to do for most ledgers."""

    async def reread_card(self, *, card_id: str, after: str | None, deadline: float) -> CardReading:
        """The card and its entries newer than the entry `after` (all it keeps for None), oldest
        first: what the mirror re-reads on every signal (issue #12). A background read, as
        cards_of_order: it may be refused at once (LedgerUnavailable) rather than wait for, or
        spend, the budget NewStore's calls need."""

    async def cards_of_order(self, *, order_id: str, deadline: float) -> list[LedgerCard]:
        """The cards the order `order_id` (the ledger's own order id) sold, each verified to
        belong to it; [] without a call on a ledger whose capabilities lack cards_by_order. A
        background read: it may be refused at once (LedgerUnavailable) rather than wait for,
        or spend, the budget NewStore's calls need."""

    async def changed_cards(self, *, since: str | None, deadline: float) -> CardChanges:
        """The poller's change list (issue #12): cards the ledger shows as changed or made since
        the watermark `since` (None: the first pass), and the watermark to ask from next time.
        Bounded per call; a ledger without such a list answers no cards, without a call. A
        background read, as cards_of_order."""


@dataclass(frozen=True, slots=True)
class CardReading:
    """One re-read of a card. Where the ledger answers the card with its entries (Shopify's
    giftCard with its transactions, Gift Card Hero's transactions list) the balance is the one
    after the newest entry read; elsewhere (SHOPLINE) the card is read right after its entries."""

    card: LedgerCard | None      # None: the ledger has no such card
    entries: list[BalanceEntry]  # oldest first


@dataclass(frozen=True, slots=True)
class ChangedCard:
    card_id: str
    last_characters: str
    updated_at: datetime | None = None  # the ledger's last update, where its list tells it


@dataclass(frozen=True, slots=True)
class CardChanges:
    """What LedgerPort.changed_cards found: the cards, and the next watermark, an opaque string
    only the ledger's own adapter reads."""

    cards: list[ChangedCard]
    watermark: str | None


# ---- ledgers that can only set a balance ------------------------------------------------------


class EntryKind(Enum):
    SET = "set"        # made by a balance PUT: ours, or another app's or an admin's set
    OTHER = "other"    # a checkout, a refund, the creation: never one of our PUTs


@dataclass(frozen=True, slots=True)
class BalanceEntry:
    """One entry of a card's history on an absolute ledger."""

    id: str
    delta: Money                 # signed: what the entry did to the balance
    kind: EntryKind
    processed_at: datetime
    detail: str | None = None    # the vendor's type, for the feed and the logs
    note: str | None = None      # where the ledger keeps one (Shopify: our marker, on our writes)
    # What the ledger says made it, in the feed's words where it can tell (online_checkout,
    # order_refund, admin_adjustment, other_app); None: it does not say.
    cause: str | None = None
    order_ref: str | None = None


class AbsoluteLedger(Protocol):
    """What a SHOPLINE or Gift Card Hero client gives adapter.ledgers.absolute. No method here
    is exactly-once by itself: the protocol around it is."""

    capabilities: Capabilities

    async def create_card(self, *, code: str, amount: Money, note: str, deadline: float) -> LedgerCard: ...

    async def find_created(self, *, code: str, note: str, deadline: float) -> LedgerCard | None: ...

    async def set_balance(self, *, card_id: str, balance: Money, deadline: float) -> BalanceEntry | None:
        """PUT the balance. Answers the entry it made when the ledger says (Gift Card Hero
        answers the transaction), else None (SHOPLINE answers the card)."""

    async def history(self, *, card_id: str, after: str | None, deadline: float) -> list[BalanceEntry]:
        """The card's entries newer than the entry `after` (all of them for None), oldest first."""

    async def reread(self, *, card_id: str, after: str | None, deadline: float) -> CardReading:
        """LedgerPort.reread_card: the card and history(after), on the lookups' terms."""

    async def newest_entry(self, *, card_id: str, deadline: float) -> str | None:
        """The id of the card's newest history entry, None if it has none."""

    async def deactivate(self, *, card_id: str, deadline: float) -> LedgerCard: ...

    async def get_card(self, *, card_id: str, deadline: float) -> LedgerCard | None: ...

    async def find_by_code(self, *, code: str, deadline: float, priority: Priority = Priority.MONEY) -> LedgerCard | None: ...

    async def configuration(self, *, deadline: float) -> LedgerConfiguration: ...
