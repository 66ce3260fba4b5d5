"""Every GraphQL document the client sends to Shopify, and nothing else.

Each is validated against the vendored 2026-07 schema (tests/unit/test_shopify_documents.py) with
the standard rules plus NoDeprecatedCustomRule, so a deprecated or undefined field fails CI
rather than production. Card fields are spelled out inline (no fragments) so every document is
self-contained and easy for the sandbox and for humans to read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Document:
    operation_name: str   # sent as operationName; also the name in logs
    root_field: str       # the single root field: the metric label (SHOPIFY_OPERATIONS)
    is_write: bool        # writes are never resent once they may have reached Shopify
    text: str


_MONEY = "{ amount currencyCode }"

# What LedgerCard needs. Never `code` (it doesn't exist after create) nor `maskedCode`.
_CARD_FIELDS = (
    f"id lastCharacters enabled expiresOn deactivatedAt note createdAt balance {_MONEY}"
)

_USER_ERRORS = "userErrors { field code message }"

# What a debit or credit's answer is read for: its id and amount (and note, processedAt to settle
# it). Not the transaction's `giftCard`: no use case reads the balance after it, it costs one
# point more (11 instead of 10), and API version 2025-01 has no such field (issue #13).
_TRANSACTION_FIELDS = f"id note processedAt amount {_MONEY}"

CREATE_CARD = Document(
    operation_name="CreateCard",
    root_field="giftCardCreate",
    is_write=True,
    # initialAmount (MoneyInput, 2026-07+), never the deprecated initialValue (spec §2).
    text=f"""mutation CreateCard($input: GiftCardCreateInput!) {{
  giftCardCreate(input: $input) {{
    giftCard {{ {_CARD_FIELDS} }}
    giftCardCode
    {_USER_ERRORS}
  }}
}}""",
)

DEBIT_CARD = Document(
    operation_name="DebitCard",
    root_field="giftCardDebit",
    is_write=True,
    text=f"""mutation DebitCard($id: ID!, $input: GiftCardDebitInput!) {{
  giftCardDebit(id: $id, debitInput: $input) {{
    giftCardDebitTransaction {{ {_TRANSACTION_FIELDS} }}
    {_USER_ERRORS}
  }}
}}""",
)

CREDIT_CARD = Document(
    operation_name="CreditCard",
    root_field="giftCardCredit",
    is_write=True,
    text=f"""mutation CreditCard($id: ID!, $input: GiftCardCreditInput!) {{
  giftCardCredit(id: $id, creditInput: $input) {{
    giftCardCreditTransaction {{ {_TRANSACTION_FIELDS} }}
    {_USER_ERRORS}
  }}
}}""",
)

DEACTIVATE_CARD = Document(
    operation_name="DeactivateCard",
    root_field="giftCardDeactivate",
    is_write=True,
    text=f"""mutation DeactivateCard($id: ID!) {{
  giftCardDeactivate(id: $id) {{
    giftCard {{ {_CARD_FIELDS} }}
    {_USER_ERRORS}
  }}
}}""",
)

# The card alone: a balance check must not pay for 50 transactions (~100 cost points).
GET_CARD = Document(
    operation_name="GetCard",
    root_field="giftCard",
    is_write=False,
    text=f"""query GetCard($id: ID!) {{
  giftCard(id: $id) {{ {_CARD_FIELDS} }}
}}""",
)

# The card and one page of its transactions, newest first: settling an unknown debit/credit
# looks for its note marker here (spec §11).
READ_CARD = Document(
    operation_name="ReadCard",
    root_field="giftCard",
    is_write=False,
    text=f"""query ReadCard($id: ID!, $first: Int!, $after: String) {{
  giftCard(id: $id) {{
    {_CARD_FIELDS} updatedAt
    transactions(first: $first, after: $after, reverse: true) {{
      nodes {{ __typename id note processedAt amount {_MONEY} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}""",
)

SEARCH_CARDS = Document(
    operation_name="SearchCards",
    root_field="giftCards",
    is_write=False,
    text=f"""query SearchCards($first: Int!, $query: String!) {{
  giftCards(first: $first, query: $query) {{
    nodes {{ {_CARD_FIELDS} }}
  }}
}}""",
)

# The cards an order sold (issue #12's intake: orders/paid with line_items[].gift_card). The
# `order_id` filter is the Shopify <-> POS thread's, not in the 2026-07 schema's filter table:
# a warning (an ignored filter) fails the read, and every hit's `order` must be the order. Reading
# `order` needs read_orders, which the order webhooks need anyway.
CARDS_OF_ORDER = Document(
    operation_name="CardsOfOrder",
    root_field="giftCards",
    is_write=False,
    text=f"""query CardsOfOrder($first: Int!, $query: String!, $after: String) {{
  giftCards(first: $first, after: $after, query: $query) {{
    nodes {{ {_CARD_FIELDS} order {{ id }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}""",
)

# The poller's change list (issue #12): Shopify has no gift-card webhooks, and its search ignores
# updated_at, so cards are listed newest-updated first down to the poller's watermark.
CHANGED_CARDS = Document(
    operation_name="ChangedCards",
    root_field="giftCards",
    is_write=False,
    text="""query ChangedCards($first: Int!, $after: String) {
  giftCards(first: $first, after: $after, sortKey: UPDATED_AT, reverse: true) {
    nodes { id lastCharacters updatedAt }
    pageInfo { hasNextPage endCursor }
  }
}""",
)

# Linking a card to its customer (adapter/shopify/customers.py): two hits are enough to know
# the email is not unique; the id and email are all that is read (Customer.email is deprecated).
CUSTOMER_BY_EMAIL = Document(
    operation_name="CustomerByEmail",
    root_field="customers",
    is_write=False,
    text="""query CustomerByEmail($query: String!) {
  customers(first: 2, query: $query) { nodes { id defaultEmailAddress { emailAddress } } }
}""",
)

CREATE_CUSTOMER = Document(
    operation_name="CreateCustomer",
    root_field="customerCreate",
    is_write=True,
    text="""mutation CreateCustomer($input: CustomerInput!) {
  customerCreate(input: $input) { customer { id } userErrors { field message } }
}""",
)

CONFIGURATION = Document(
    operation_name="Configuration",
    root_field="giftCardConfiguration",
    is_write=False,
    text=f"""query Configuration {{
  giftCardConfiguration {{
    issueLimit {_MONEY}
    purchaseLimit {_MONEY}
  }}
}}""",
)

ALL_DOCUMENTS: tuple[Document, ...] = (
    CREATE_CARD, DEBIT_CARD, CREDIT_CARD, DEACTIVATE_CARD,
    GET_CARD, READ_CARD, SEARCH_CARDS, CONFIGURATION, CARDS_OF_ORDER, CHANGED_CARDS,
    CUSTOMER_BY_EMAIL, CREATE_CUSTOMER,
)
