"""The ports use cases depend on: the ledger (Shopify) and its result types.

Services know these types only; adapter.shopify implements LedgerPort over GraphQL. Nothing here
knows aiohttp, GraphQL or NewStore JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Protocol

from adapter.domain.money import Money


# ---- results -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LedgerCard:
    id: str                      # gid://shopify/GiftCard/<n>
    last_characters: str         # lower-case last four
    balance: Money
    enabled: bool
    expires_on: date | None
    deactivated_at: datetime | None = None
    note: str | None = None
    created_at: datetime | None = None

    def is_expired(self, today: date) -> bool:
        """Shopify keeps expired cards "enabled": expiry is ours to check (UTC date)."""
        return self.expires_on is not None and self.expires_on < today


@dataclass(frozen=True, slots=True)
class LedgerTransaction:
    id: str                      # gid://shopify/GiftCard{Debit,Credit}Transaction/<n>
    amount: Money                # debits negative, credits positive
    note: str | None
    processed_at: datetime
    card_id: str | None = None
    balance_after: Money | None = None


@dataclass(frozen=True, slots=True)
class LedgerConfiguration:
    issue_limit: Money
    purchase_limit: Money


# ---- failures ----------------------------------------------------------------------------
# Messages of these exceptions never carry a card code: the code is not even passed in.

class LedgerError(Exception):
    """Base of every ledger failure."""


class LedgerDecline(LedgerError):
    """A definite userError: the write did not happen. `code` is Shopify's (may be None)."""

    def __init__(self, code: str | None, field: list[str] | None, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.field = field or []
        self.message = message

    @property
    def code_taken(self) -> bool:
        """The duplicate-code userError: `code` is null, not TAKEN (recorded)."""
        return self.field[-1:] == ["code"] and self.message == "Code has already been taken"


class LedgerUnavailable(LedgerError):
    """Definitely not executed, but no answer now: throttled past the deadline, 402/423, connect
    failure, read exhausted its retries. Safe to retry later."""

    def __init__(self, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class LedgerOutcomeUnknown(LedgerError):
    """A write that may or may not have happened (timeout or reset after sending, 5xx,
    INTERNAL_ERROR). Must be settled by reading the ledger before any resend."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LedgerConfigurationError(LedgerError):
    """Our fault or the shop's setup: 401/403, ACCESS_DENIED, GraphQL validation, MAX_COST."""


class LedgerSearchWarning(LedgerError):
    """giftCards answered with extensions.search warnings: the filter was ignored (a bug)."""


# ---- the port ----------------------------------------------------------------------------

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


class LedgerPort(Protocol):
    """`deadline` is an absolute asyncio loop time; nothing waits past it."""

    async def create_card(self, *, code: str, amount: Money, note: str, deadline: float) -> LedgerCard: ...

    async def debit(self, *, card_id: str, amount: Money, note: str, deadline: float) -> LedgerTransaction: ...

    async def credit(self, *, card_id: str, amount: Money, note: str, deadline: float) -> LedgerTransaction: ...

    async def deactivate(self, *, card_id: str, deadline: float) -> LedgerCard: ...

    async def get_card(self, *, card_id: str, deadline: float) -> LedgerCard | None: ...

    async def search_cards(
        self, *, query: str, first: int, deadline: float, priority: Priority = Priority.MONEY
    ) -> list[LedgerCard]: ...

    async def find_transaction(
        self, *, card_id: str, note: str, not_before: datetime, deadline: float
    ) -> LedgerTransaction | None: ...

    async def configuration(self, *, deadline: float) -> LedgerConfiguration: ...
