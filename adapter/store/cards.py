"""The card-code registry: keyed code digest -> Shopify card id.

A row is found by the code's digest under any configured card-code key (vault.digests): written
under the key that wrote at the time, it stays found while that key is listed. New rows carry
the writing key's id and the code encrypted, so `keys rotate` can re-digest them under a newer key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RegisteredCard:
    shopify_id: str
    last_characters: str
    currency: str | None
    origin: str


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
    """The card whose digest is any of the code's digests (one per configured key)."""
    row = await conn.fetchrow(
        "SELECT shopify_id, last_characters, currency, origin FROM cards WHERE code_digest = ANY($1::bytea[]) LIMIT 1",
        code_digests,
    )
    return RegisteredCard(**dict(row)) if row else None


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
