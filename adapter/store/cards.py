"""The card-code registry: keyed code digest -> Shopify card id.

A row is found by the code's digest under any configured card-code key (vault.digests): written
under the key that wrote at the time, it stays found while that key is listed. New rows carry
the writing key's id and the code encrypted, so `keys rotate` can re-digest them under a newer key;
a row found under an older key (or registered before key ids, without its code) is moved to the
writing key by the lookup itself (keyrotation.find_registered, move_to_key).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RegisteredCard:
    shopify_id: str
    last_characters: str
    currency: str | None
    origin: str
    # Which row matched, the key id of its digest (None: registered before key ids) and how its
    # stored code begins (None: none stored): enough to tell a row not on the writing key yet.
    code_digest: bytes | None = None
    code_key_id: bytes | None = None
    code_header: bytes | None = None


# The registry's columns, in Registration.values() order (also written by other statements).
INSERT_COLUMNS = "code_digest, code_key_id, code_encrypted, shopify_id, last_characters, currency, origin, customer_id"
INSERT_COUNT = 8


@dataclass(frozen=True, slots=True)
class Registration:
    """A card to add to the registry (stored with another statement's rows, or by remember)."""

    code_digest: bytes
    code_key_id: bytes       # the id of the key that made the digest and the ciphertext
    code_encrypted: bytes    # vault.encrypt_code: lets a key rotation re-digest the row
    shopify_id: str
    last_characters: str
    currency: str | None
    origin: str
    customer_id: str | None = None

    def values(self) -> tuple:
        return (self.code_digest, self.code_key_id, self.code_encrypted, self.shopify_id, self.last_characters,
                self.currency, self.origin, self.customer_id)


async def find(conn, code_digests: tuple[bytes, ...]) -> RegisteredCard | None:
    """The card whose digest is any of the code's digests (one per configured key, the writing
    key's first: its row is preferred when the card has one under several keys)."""
    row = await conn.fetchrow(
        """SELECT shopify_id, last_characters, currency, origin, code_digest, code_key_id,
                  substring(code_encrypted FROM 1 FOR 5) AS code_header
             FROM cards WHERE code_digest = ANY($1::bytea[])
            ORDER BY code_digest = ($1::bytea[])[1] DESC LIMIT 1""",
        code_digests,
    )
    return RegisteredCard(**dict(row)) if row else None


async def move_to_key(conn, found_digest: bytes, code_digest: bytes, code_key_id: bytes, code_encrypted: bytes) -> None:
    """Put a row found under `found_digest` on the writing key: its digest `code_digest`, key id
    and code (encrypted). One statement, harmless to repeat or to race with `keys rotate`: a row
    already moved is simply not found again."""
    if found_digest == code_digest:
        await conn.execute(
            """UPDATE cards SET code_key_id = $2::bytea, code_encrypted = $3::bytea
                WHERE code_digest = $1
                  AND (code_key_id IS DISTINCT FROM $2::bytea OR code_encrypted IS NULL
                       OR substring(code_encrypted FROM 1 FOR 5) <> substring($3::bytea FROM 1 FOR 5))""",
            found_digest, code_key_id, code_encrypted,
        )
        return
    await conn.execute(
        f"""WITH old AS (DELETE FROM cards WHERE code_digest = $1 RETURNING *)
            INSERT INTO cards ({INSERT_COLUMNS}, created_at)
            SELECT $2, $3, $4, shopify_id, last_characters, currency, origin, customer_id, created_at FROM old
            ON CONFLICT (code_digest) DO NOTHING""",
        found_digest, code_digest, code_key_id, code_encrypted,
    )


async def remember(
    conn, code_digest: bytes, code_key_id: bytes, code_encrypted: bytes, shopify_id: str, last_characters: str,
    currency: str | None, origin: str, customer_id: str | None = None,
) -> None:
    """Register a card (Registration.values() order)."""
    await conn.execute(
        f"""INSERT INTO cards ({INSERT_COLUMNS})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (code_digest) DO NOTHING""",
        code_digest, code_key_id, code_encrypted, shopify_id, last_characters, currency, origin, customer_id,
    )


@dataclass(frozen=True, slots=True)
class BeforeSearch:
    """What a search ahead checks first: the key's record, and the card in our registry."""

    key_state: str | None        # None: the key has no record
    key_holder: str | None       # the owner holding an open record's lease
    shopify_id: str | None       # the registered card's id


async def before_search(conn, operation: str, key: str, code_digests: tuple[bytes, ...]) -> BeforeSearch:
    """`code_digests`: the code's digest under every configured card-code key."""
    row = await conn.fetchrow(
        """SELECT (SELECT shopify_id FROM cards WHERE code_digest = ANY($3::bytea[]) LIMIT 1) AS shopify_id,
                  k.state AS key_state, k.locked_by AS key_holder
             FROM (SELECT 1) AS one
             LEFT JOIN idempotency_keys AS k ON k.operation = $1 AND k.key = $2""",
        operation, key, list(code_digests),
    )
    return BeforeSearch(row["key_state"], row["key_holder"], row["shopify_id"])
