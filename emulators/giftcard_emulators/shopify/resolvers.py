"""GraphQL resolvers for the gift-card root fields, installed on the shared schema once.

Resolvers find the shop's state in `info.context`, so one process can host several sandboxes.
Everything is synchronous: a whole document executes without yielding to the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from giftcard_emulators.shopify.formatting import date_string, datetime_string, gid, money
from giftcard_emulators.shopify.pagination import SortKey, connection, decode_cursor, encode_cursor, paginate
from giftcard_emulators.shopify.search import customer_predicate, parse_query
from giftcard_emulators.shopify.state import Card, Customer, Recipient, SandboxState, Transaction, user_error

NOT_FOUND = "The gift card could not be found."


@dataclass
class RequestContext:
    state: SandboxState
    search: list[dict[str, Any]] = field(default_factory=list)


def _state(info: GraphQLResolveInfo) -> SandboxState:
    return info.context.state


def _require_gid(value: str) -> str:
    """A value that is no GID at all is a top-level error on Shopify, not a userError."""
    if not isinstance(value, str) or not value.startswith("gid://shopify/"):
        raise GraphQLError(f"Invalid global id '{value}'", extensions={"code": "RESOURCE_NOT_FOUND"})
    return value


def _known_customer(state: SandboxState, value: str) -> Customer:
    """A customer id in a gift-card input must name an existing customer. Shopify (graphql-ruby
    loading the id argument) refuses anything else before the mutation runs: a top-level error on
    the mutation's path and a null payload, not a userError."""
    customer = state.customer_by_gid(value)
    if customer is None:
        raise GraphQLError(f"Invalid id: {value}", extensions={"code": "RESOURCE_NOT_FOUND"})
    return customer


def _recipient(state: SandboxState, given: dict[str, Any]) -> Recipient:
    return Recipient(_known_customer(state, given["id"]).number, given.get("preferredName"),
                     given.get("message"), given.get("sendNotificationAt"))


# -- object views ----------------------------------------------------------------------------
# graphql-core's default resolver reads attributes and calls methods with (info, **args), so these
# small views map GraphQL field names onto the ledger model.

class TransactionView:
    __slots__ = ("txn", "state")

    def __init__(self, txn: Transaction, state: SandboxState) -> None:
        self.txn = txn
        self.state = state

    @property
    def typename(self) -> str:
        return self.txn.typename

    @property
    def id(self) -> str:
        return self.txn.gid

    @property
    def amount(self) -> dict[str, str]:
        return money(self.txn.amount, self.txn.currency)

    @property
    def note(self) -> str | None:
        return self.txn.note

    @property
    def processedAt(self) -> str:  # noqa: N802 - GraphQL field name
        return datetime_string(self.txn.processed_at)

    @property
    def giftCard(self) -> GiftCardView:  # noqa: N802
        return GiftCardView(self.txn.card, self.state)

    def metafield(self, _info: Any, **_args: Any) -> None:
        return None

    def metafields(self, _info: Any, **_args: Any) -> dict[str, Any]:
        return {"edges": [], "nodes": [], "pageInfo": {"hasNextPage": False, "hasPreviousPage": False,
                                                       "startCursor": None, "endCursor": None}}


class CustomerView:
    """The Customer fields the sandbox models; the rest of the type's non-null fields are not
    resolved (selecting them is an execution error), the nullable ones answer null."""
    # Not "state": that is a Customer field (CustomerState).
    __slots__ = ("customer", "ledger")
    typename = "Customer"

    def __init__(self, customer: Customer, ledger: SandboxState) -> None:
        self.customer = customer
        self.ledger = ledger

    id = property(lambda self: self.customer.gid)
    legacyResourceId = property(lambda self: str(self.customer.number))  # noqa: N815 - UnsignedInt64 is a string
    email = property(lambda self: self.customer.email)
    phone = property(lambda self: self.customer.phone)
    firstName = property(lambda self: self.customer.first_name)  # noqa: N815
    lastName = property(lambda self: self.customer.last_name)  # noqa: N815
    displayName = property(lambda self: self.customer.display_name)  # noqa: N815
    note = property(lambda self: self.customer.note)
    tags = property(lambda self: self.customer.tags)
    createdAt = property(lambda self: datetime_string(self.customer.created_at))  # noqa: N815
    updatedAt = property(lambda self: datetime_string(self.customer.updated_at))  # noqa: N815
    defaultEmailAddress = property(  # noqa: N815
        lambda self: {"emailAddress": self.customer.email, "validFormat": True,
                      "marketingState": "NOT_SUBSCRIBED"} if self.customer.email else None)
    defaultPhoneNumber = property(  # noqa: N815
        lambda self: {"phoneNumber": self.customer.phone} if self.customer.phone else None)
    # What a customer made through the API and with no orders reads as.
    amountSpent = property(lambda self: money(Decimal(0), self.ledger.config.currency))  # noqa: N815
    numberOfOrders = "0"  # noqa: N815
    canDelete = True  # noqa: N815
    locale = "en"
    state = "DISABLED"  # no account invitation sent
    verifiedEmail = True  # noqa: N815
    validEmailAddress = True  # noqa: N815
    taxExempt = False  # noqa: N815
    taxExemptions: list[str] = []  # noqa: N815, RUF012
    dataSaleOptOut = False  # noqa: N815


class GiftCardView:
    __slots__ = ("card", "state")
    typename = "GiftCard"

    def __init__(self, card: Card, state: SandboxState) -> None:
        self.card = card
        self.state = state

    id = property(lambda self: self.card.gid)
    balance = property(lambda self: money(self.card.balance, self.card.currency))
    initialValue = property(lambda self: money(self.card.initial_value, self.card.currency))  # noqa: N815
    enabled = property(lambda self: self.card.enabled)
    deactivatedAt = property(  # noqa: N815
        lambda self: datetime_string(self.card.deactivated_at) if self.card.deactivated_at else None)
    expiresOn = property(lambda self: date_string(self.card.expires_on))  # noqa: N815
    lastCharacters = property(lambda self: self.card.last_characters)  # noqa: N815
    maskedCode = property(lambda self: f"•••• •••• •••• {self.card.last_characters}")  # noqa: N815
    note = property(lambda self: self.card.note)
    templateSuffix = property(lambda self: self.card.template_suffix)  # noqa: N815
    createdAt = property(lambda self: datetime_string(self.card.created_at))  # noqa: N815
    updatedAt = property(lambda self: datetime_string(self.card.updated_at))  # noqa: N815
    crossCurrencyRedemptionStrategy = property(lambda self: self.card.cross_currency)  # noqa: N815
    order = property(lambda self: {"id": gid("Order", self.card.order_id)} if self.card.order_id else None)
    lineItem = None  # noqa: N815

    @property
    def customer(self) -> CustomerView | None:
        # Null for no customer, and for one deleted since (the card keeps the id, see /sandbox/state).
        customer = self.state.customers.get(self.card.customer_id) if self.card.customer_id else None
        return CustomerView(customer, self.state) if customer else None

    @property
    def recipientAttributes(self) -> dict[str, Any] | None:  # noqa: N802
        given = self.card.recipient
        customer = self.state.customers.get(given.customer_id) if given else None
        if given is None or customer is None:
            return None
        return {"recipient": CustomerView(customer, self.state), "preferredName": given.preferred_name,
                "message": given.message,
                "sendNotificationAt": datetime_string(given.send_at) if given.send_at else None}

    @property
    def isRedeemable(self) -> bool:  # noqa: N802
        card = self.card
        return card.enabled and not card.is_expired(self.state.today()) and card.balance > 0

    def transactions(self, _info: Any, first: int | None = None, after: str | None = None,
                     last: int | None = None, before: str | None = None,
                     reverse: bool = False) -> dict[str, Any]:
        # Append-only and numbered in order, so the number alone is a stable keyset.
        ordered = list(reversed(self.card.transactions)) if reverse else self.card.transactions
        page = paginate(ordered, lambda t: (t.number,), descending=bool(reverse),
                        first=first, after=after, last=last, before=before)
        return connection(page, lambda t: TransactionView(t, self.state))


# -- queries ---------------------------------------------------------------------------------

# One entry per GiftCardSortKeys value (a test checks against the schema's enum). Every key ends
# with the card number, so ties are broken by id and a keyset cursor never skips or repeats a card.
# A missing value (never deactivated, never expiring, no customer) sorts as the smallest: first
# ascending, last with reverse, as SQL orders NULLs. The leading 0/1 keeps every key of one sort
# the same shape, so keys compare without None.
SORT_KEYS: dict[str, Any] = {
    "ID": lambda c: (c.number,),
    "CREATED_AT": lambda c: (int(c.created_at.timestamp()), c.number),
    "UPDATED_AT": lambda c: (c.update_seq, c.number),
    # Deactivated cards in the order they were deactivated (the sequence, below one second).
    "DISABLED_AT": lambda c: (1, c.deactivate_seq, c.number) if c.deactivate_seq else (0, 0, c.number),
    "BALANCE": lambda c: (c.balance, c.number),
    "INITIAL_VALUE": lambda c: (c.initial_value, c.number),
    "AMOUNT_SPENT": lambda c: (c.initial_value - c.balance, c.number),
    "EXPIRES_ON": lambda c: (1, c.expires_on.toordinal(), c.number) if c.expires_on else (0, 0, c.number),
    "CODE": lambda c: (c.code, c.number),
    "CUSTOMER_NAME": None,  # needs the shop's customers: _customer_name_key
}


def _customer_name_key(state: SandboxState) -> Any:
    """The customer's displayName (its full name, else email, else phone), case ignored."""
    def key(card: Card) -> tuple[Any, ...]:
        customer = state.customers.get(card.customer_id) if card.customer_id else None
        return (1, customer.display_name.casefold(), card.number) if customer else (0, "", card.number)

    return key


def _parse(info: GraphQLResolveInfo, query: str | None, predicate: Any = None) -> Any:
    """The query parsed, its ignored fields reported under extensions.search as Shopify does."""
    parsed = parse_query(query) if predicate is None else parse_query(query, predicate)
    if parsed.warnings:
        info.context.search.append({"path": list(info.path.as_list()), "query": query,
                                    "parsed": parsed.parsed, "warnings": parsed.warnings})
    return parsed


def _search(info: GraphQLResolveInfo, query: str | None) -> list[Card]:
    state = _state(info)
    parsed = _parse(info, query)
    today = state.today()
    candidates = state.cards.values()
    if parsed.exact_code is not None:
        card = state.codes.get(parsed.exact_code)
        candidates = [card] if card is not None else []
    return [card for card in candidates if parsed.matches(card, today)]


def resolve_gift_card(_root: Any, info: GraphQLResolveInfo, id: str) -> GiftCardView | None:  # noqa: A002
    card = _state(info).card_by_gid(_require_gid(id))
    return GiftCardView(card, _state(info)) if card else None


def _card_cursors(state: SandboxState, key: Any) -> tuple[Any, Any]:
    """A code-keyed cursor would reveal codes; point at the card instead (codes never change)."""

    def cursor_of(card: Card, _key: SortKey) -> str:
        return encode_cursor(("card", card.number))

    def key_of_cursor(cursor: str) -> SortKey:
        marker = decode_cursor(cursor)
        card = state.cards.get(marker[-1]) if marker and isinstance(marker[-1], int) else None
        if card is None:
            raise GraphQLError("Invalid cursor for current pagination sort.")
        return key(card)

    return cursor_of, key_of_cursor


def resolve_gift_cards(_root: Any, info: GraphQLResolveInfo, first: int | None = None,
                       after: str | None = None, last: int | None = None, before: str | None = None,
                       reverse: bool = False, sortKey: str = "ID", query: str | None = None,  # noqa: N803
                       savedSearchId: str | None = None) -> dict[str, Any]:  # noqa: N803
    state = _state(info)
    key = SORT_KEYS.get(sortKey, SORT_KEYS["ID"]) or _customer_name_key(state)
    cards = sorted(_search(info, query), key=key, reverse=bool(reverse))
    cursor_of, key_of_cursor = _card_cursors(state, key) if sortKey == "CODE" else (None, None)
    page = paginate(cards, key, descending=bool(reverse), first=first, after=after, last=last, before=before,
                    cursor_of=cursor_of, key_of_cursor=key_of_cursor)
    return connection(page, lambda c: GiftCardView(c, state))


def resolve_gift_cards_count(_root: Any, info: GraphQLResolveInfo, query: str | None = None,
                             savedSearchId: str | None = None,  # noqa: N803
                             limit: int | None = 10000) -> dict[str, Any]:
    count = len(_search(info, query))
    if limit is not None and count > limit:
        return {"count": limit, "precision": "AT_LEAST"}
    return {"count": count, "precision": "EXACT"}


def resolve_configuration(_root: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    config = _state(info).config
    return {
        "issueLimit": money(config.issue_limit, config.currency),
        "purchaseLimit": money(config.purchase_limit, config.currency),
        "expirationConfiguration": None,
    }


CUSTOMER_SORT_KEYS: dict[str, Any] = {
    "ID": lambda c: (c.number,),
    "CREATED_AT": lambda c: (int(c.created_at.timestamp()), c.number),
    "UPDATED_AT": lambda c: (int(c.updated_at.timestamp()), c.number),
    "NAME": lambda c: (c.display_name.casefold(), c.number),
    # LOCATION and RELEVANCE: the sandbox keeps no addresses and scores nothing; they order by id.
}


def resolve_customer(_root: Any, info: GraphQLResolveInfo, id: str) -> CustomerView | None:  # noqa: A002
    customer = _state(info).customer_by_gid(_require_gid(id))
    return CustomerView(customer, _state(info)) if customer else None


def resolve_customers(_root: Any, info: GraphQLResolveInfo, first: int | None = None,
                      after: str | None = None, last: int | None = None, before: str | None = None,
                      reverse: bool = False, sortKey: str = "ID",  # noqa: N803
                      query: str | None = None) -> dict[str, Any]:
    state = _state(info)
    parsed = _parse(info, query, customer_predicate)
    today = state.today()
    key = CUSTOMER_SORT_KEYS.get(sortKey, CUSTOMER_SORT_KEYS["ID"])
    found = sorted((c for c in state.customers.values() if parsed.matches(c, today)), key=key,
                   reverse=bool(reverse))
    page = paginate(found, key, descending=bool(reverse), first=first, after=after, last=last, before=before)
    return connection(page, lambda c: CustomerView(c, state))


# -- mutations -------------------------------------------------------------------------------

def _shop(state: SandboxState) -> dict[str, Any]:
    config = state.config
    return {"id": "gid://shopify/Shop/1", "name": "Sandbox", "myshopifyDomain": config.shop_domain,
            "currencyCode": config.currency}


def resolve_customer_create(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
    state = _state(info)
    # `tags` may also be one comma-separated string (the schema's description): split both forms.
    tags = [t.strip() for tag in input.get("tags") or [] for t in tag.split(",") if t.strip()]
    customer, errors = state.create_customer(
        email=input.get("email"), phone=input.get("phone"), first_name=input.get("firstName"),
        last_name=input.get("lastName"), note=input.get("note"), tags=tags)
    return {"customer": CustomerView(customer, state) if customer else None, "userErrors": errors}


def resolve_customer_delete(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
    state = _state(info)
    customer = state.customer_by_gid(_require_gid(input["id"]))
    if customer is None:
        return {"deletedCustomerId": None, "shop": _shop(state),
                "userErrors": [{"field": ["id"], "message": "Customer can't be found"}]}
    del state.customers[customer.number]
    return {"deletedCustomerId": customer.gid, "shop": _shop(state), "userErrors": []}


def resolve_create(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
    state = _state(info)
    amount: Decimal | None
    currency: str | None
    if input.get("initialAmount") is not None:
        amount, currency = input["initialAmount"]["amount"], input["initialAmount"]["currencyCode"]
    else:
        amount, currency = input.get("initialValue"), None
    card, error = state.create(
        amount=amount,
        currency=currency,
        code=input.get("code"),
        note=input.get("note"),
        expires_on=input.get("expiresOn"),
        template_suffix=input.get("templateSuffix"),
        customer_id=_known_customer(state, input["customerId"]).number if input.get("customerId") is not None else None,
        cross_currency=input.get("crossCurrencyRedemptionStrategy"),
        recipient=(_recipient(state, input["recipientAttributes"])
                   if input.get("recipientAttributes") is not None else None),
    )
    if card is None:
        return {"giftCard": None, "giftCardCode": None, "userErrors": [error]}
    return {"giftCard": GiftCardView(card, state), "giftCardCode": card.code, "userErrors": []}


def resolve_update(_root: Any, info: GraphQLResolveInfo, id: str, input: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
    state = _state(info)
    changes = dict(input)
    if changes.get("customerId") is not None:
        changes["customerId"] = _known_customer(state, changes["customerId"]).number
    if changes.get("recipientAttributes") is not None:
        changes["recipientAttributes"] = _recipient(state, changes["recipientAttributes"])
    card, error = state.update(_require_gid(id), changes)
    if card is None:
        return {"giftCard": None, "userErrors": [error]}
    return {"giftCard": GiftCardView(card, state), "userErrors": []}


def _post(info: GraphQLResolveInfo, card_id: str, data: dict[str, Any], *, credit: bool) -> dict[str, Any]:
    state = _state(info)
    money_in = data["creditAmount" if credit else "debitAmount"]
    txn, error = state.post_transaction(
        _require_gid(card_id),
        credit=credit,
        amount=money_in["amount"],
        currency=money_in["currencyCode"],
        note=data.get("note"),
        processed_at=data.get("processedAt"),
    )
    key = "giftCardCreditTransaction" if credit else "giftCardDebitTransaction"
    if txn is None:
        return {key: None, "userErrors": [error]}
    return {key: TransactionView(txn, state), "userErrors": []}


def resolve_credit(_root: Any, info: GraphQLResolveInfo, id: str, creditInput: dict[str, Any]) -> dict[str, Any]:  # noqa: A002, N803
    return _post(info, id, creditInput, credit=True)


def resolve_debit(_root: Any, info: GraphQLResolveInfo, id: str, debitInput: dict[str, Any]) -> dict[str, Any]:  # noqa: A002, N803
    return _post(info, id, debitInput, credit=False)


def resolve_deactivate(_root: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:  # noqa: A002
    state = _state(info)
    card = state.card_by_gid(_require_gid(id))
    if card is None:
        return {"giftCard": None, "userErrors": [user_error(["id"], "GIFT_CARD_NOT_FOUND", NOT_FOUND)]}
    state.deactivate(card)
    return {"giftCard": GiftCardView(card, state), "userErrors": []}


def _notify(info: GraphQLResolveInfo, card_id: str, *, customer: bool) -> dict[str, Any]:
    """Unrecorded beyond §6's note: not found, then deactivated/expired as INVALID on ["id"]."""
    state = _state(info)
    card = state.card_by_gid(_require_gid(card_id))
    if card is None:
        return {"giftCard": None, "userErrors": [user_error(["id"], "GIFT_CARD_NOT_FOUND", NOT_FOUND)]}
    if not card.enabled:
        return {"giftCard": None, "userErrors": [user_error(["id"], "INVALID", "The gift card is deactivated.")]}
    if card.is_expired(state.today()):
        return {"giftCard": None, "userErrors": [user_error(["id"], "INVALID", "The gift card has expired.")]}
    if customer and card.customer_id not in state.customers:
        return {"giftCard": None, "userErrors": [
            user_error(["id"], "CUSTOMER_NOT_FOUND", "The customer could not be found.")]}
    if not customer and (card.recipient is None or card.recipient.customer_id not in state.customers):
        return {"giftCard": None, "userErrors": [
            user_error(["id"], "RECIPIENT_NOT_FOUND", "The recipient could not be found.")]}
    card.notify = True  # sent: /sandbox/state shows that someone asked
    return {"giftCard": GiftCardView(card, state), "userErrors": []}


@lru_cache(maxsize=1)
def install(schema: GraphQLSchema) -> GraphQLSchema:
    query, mutation = schema.query_type, schema.mutation_type
    assert query is not None and mutation is not None
    query.fields["giftCard"].resolve = resolve_gift_card
    query.fields["giftCards"].resolve = resolve_gift_cards
    query.fields["giftCardsCount"].resolve = resolve_gift_cards_count
    query.fields["giftCardConfiguration"].resolve = resolve_configuration
    mutation.fields["giftCardCreate"].resolve = resolve_create
    query.fields["customer"].resolve = resolve_customer
    query.fields["customers"].resolve = resolve_customers
    mutation.fields["customerCreate"].resolve = resolve_customer_create
    mutation.fields["customerDelete"].resolve = resolve_customer_delete
    mutation.fields["giftCardUpdate"].resolve = resolve_update
    mutation.fields["giftCardCredit"].resolve = resolve_credit
    mutation.fields["giftCardDebit"].resolve = resolve_debit
    mutation.fields["giftCardDeactivate"].resolve = resolve_deactivate
    mutation.fields["giftCardSendNotificationToCustomer"].resolve = (
        lambda _r, info, id: _notify(info, id, customer=True))  # noqa: A006
    mutation.fields["giftCardSendNotificationToRecipient"].resolve = (
        lambda _r, info, id: _notify(info, id, customer=False))  # noqa: A006
    return schema
