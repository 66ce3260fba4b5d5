"""The card-code registry: keyed code digest -> Shopify card id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RegisteredCard:
    shopify_id: str
    last_characters: str
    currency: str | None
    origin: str


# The registry's columns, in Registration.values() order (also written by other statements).
INSERT_COLUMNS = "code_digest, shopify_id, last_characters, currency, origin, customer_id"


@dataclass(frozen=True, slots=True)
class Registration:
    """A card to add to the registry (stored with another statement's rows, or by remember)."""

    code_digest: bytes
    shopify_id: str
    last_characters: str
    currency: str | None
    origin: str
    customer_id: str | None = None

    def values(self) -> tuple:
        return (self.code_digest, self.shopify_id, self.last_characters, self.currency, self.origin, self.customer_id)


async def find(conn, code_digest: bytes) -> RegisteredCard | None:
    row = await conn.fetchrow(
        "SELECT shopify_id, last_characters, currency, origin FROM cards WHERE code_digest = $1", code_digest
    )
    return RegisteredCard(**dict(row)) if row else None


async def remember(
    conn, code_digest: bytes, shopify_id: str, last_characters: str, currency: str | None,
    origin: str, customer_id: str | None = None,
) -> None:
    await conn.execute(
        f"""INSERT INTO cards ({INSERT_COLUMNS})
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (code_digest) DO NOTHING""",
        code_digest, shopify_id, last_characters, currency, origin, customer_id,
    )


@dataclass(frozen=True, slots=True)
class BeforeSearch:
    """What a search ahead checks first: the key's record, and the card in our registry."""

    key_state: str | None        # None: the key has no record
    key_holder: str | None       # the owner holding an open record's lease
    shopify_id: str | None       # the registered card's id


async def before_search(conn, operation: str, key: str, code_digest: bytes) -> BeforeSearch:
    row = await conn.fetchrow(
        """SELECT (SELECT shopify_id FROM cards WHERE code_digest = $3) AS shopify_id,
                  k.state AS key_state, k.locked_by AS key_holder
             FROM (SELECT 1) AS one
             LEFT JOIN idempotency_keys AS k ON k.operation = $1 AND k.key = $2""",
        operation, key, code_digest,
    )
    return BeforeSearch(row["key_state"], row["key_holder"], row["shopify_id"])
