"""Linking a card to the Shopify customer NewStore names (issue #13), so the card shows in the
customer's account.

With SHOPIFY_LINK_CUSTOMERS the create looks the customer up by email (customers(query:
"email:…"), first 2: exactly one hit whose email is that email counts) and, with
SHOPIFY_CREATE_CUSTOMERS, creates one when there is none. One extra read per issue; the create
only for a customer Shopify does not know yet. Retried, it finds the customer the first attempt
created (Shopify refuses a second customer with the same email: "Email has already been taken",
then the lookup is asked once more), so a retried issue never makes two customers.

Nothing here may fail the issue: a lookup that fails, finds two, or is refused leaves the card
unlinked, logged (never the email) and counted. Shopify is never asked to notify anyone: no
recipientAttributes (their sendNotificationAt mails the recipient) and no
giftCardSendNotificationToCustomer; NewStore sends its own email.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from adapter.observability.metrics import SHOPIFY_CUSTOMER_LINKS
from adapter.ports import CardHolder, LedgerError
from adapter.shopify import documents, mapping
from adapter.shopify.documents import Document

log = structlog.get_logger(__name__)

# What Shopify's customer search can be asked for without escaping: an email with anything else
# in it (quotes, spaces, a colon) is left unlinked rather than risk a filter that matches others.
_SEARCHABLE_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")

Call = Callable[[Document, dict[str, Any], Callable[[mapping.Body], Any], float], Awaitable[Any]]


@dataclass(frozen=True)
class CustomerLinking:
    link: bool = False     # SHOPIFY_LINK_CUSTOMERS
    create: bool = False   # SHOPIFY_CREATE_CUSTOMERS


async def customer_for(holder: CardHolder | None, linking: CustomerLinking, call: Call,
                       deadline: float) -> str | None:
    """The customer's GID to put on the card, or None (unlinked, counted by why)."""
    if not linking.link or holder is None:
        return None
    email = (holder.email or "").strip()
    if not _SEARCHABLE_EMAIL.match(email):
        return _unlinked("no_email")
    try:
        found = await _lookup(email, call, deadline)
        if len(found) == 0 and linking.create:
            created, taken = await call(documents.CREATE_CUSTOMER, {"input": _customer_input(email, holder.name)},
                                        mapping.created_customer, deadline)
            if created is not None:
                return _linked(created, "created")
            if not taken:
                return _unlinked("refused")
            found = await _lookup(email, call, deadline)  # made meanwhile (a retry, another replica)
    except LedgerError as error:
        log.warning("shopify_customer_link_failed", reason=type(error).__name__)
        return _unlinked("failed")
    if len(found) > 1:
        return _unlinked("ambiguous")
    return _linked(found[0], "linked") if found else _unlinked("not_found")


async def _lookup(email: str, call: Call, deadline: float) -> list[str]:
    """The customers whose email is this one (Shopify's search may match more loosely)."""
    hits = await call(documents.CUSTOMER_BY_EMAIL, {"query": f"email:{email}"}, mapping.customers_found, deadline)
    return [customer_id for customer_id, hit_email in hits if (hit_email or "").lower() == email.lower()]


def _customer_input(email: str, name: str | None) -> dict[str, str]:
    first, _, last = (name or "").strip().partition(" ")
    fields = {"email": email, "firstName": first, "lastName": last.strip()}
    return {key: value for key, value in fields.items() if value}


def _linked(customer_id: str, result: str) -> str:
    SHOPIFY_CUSTOMER_LINKS.labels(result).inc()
    return customer_id


def _unlinked(reason: str) -> None:
    SHOPIFY_CUSTOMER_LINKS.labels(reason).inc()
    log.info("shopify_card_unlinked", reason=reason)
    return None
