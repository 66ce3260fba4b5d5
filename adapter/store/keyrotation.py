"""SQL of `giftcard-adapter keys status | rotate`: which key every stored digest and ciphertext
depends on, and moving rows, a small batch at a time, to the key that writes now.

Each batch is one short transaction: its rows are read FOR UPDATE SKIP LOCKED (a row the service
is changing right now is left for the next pass), walked in primary-key order from where the
previous batch stopped. Statement texts are constants; every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

# The key id a ciphertext names: version 2 is 0x02 | key id (4) | ...; NULL for version 1.
_CIPHERTEXT_KEY = "CASE WHEN substring({0} FROM 1 FOR 1) = '\\x02'::bytea THEN substring({0} FROM 2 FOR 4) END"
_NOT_CURRENT = "substring({0} FROM 1 FOR 5) <> $2::bytea"  # $2: vault.header (version and writing key id)


def _ct(column: str) -> str:
    return _CIPHERTEXT_KEY.format(column)


@dataclass(frozen=True, slots=True)
class KeyUse:
    """How many rows of a table keep a digest or a ciphertext under one key id (None: a
    ciphertext of format version 1, or a digest from before key ids: the key is not recorded)."""

    table: str
    stored: str  # "digest" | "ciphertext"
    key_id: bytes | None
    rows: int


_STATUS = f"""
SELECT 'cards' AS table_name, 'digest' AS stored, code_key_id AS key_id, count(*) AS rows
  FROM cards GROUP BY 3
UNION ALL
SELECT 'cards', 'ciphertext', {_ct('code_encrypted')}, count(*)
  FROM cards WHERE code_encrypted IS NOT NULL GROUP BY 3
UNION ALL
SELECT 'ledger_writes', 'digest', code_key_id, count(*)
  FROM ledger_writes WHERE code_digest IS NOT NULL GROUP BY 3
UNION ALL
SELECT 'ledger_writes', 'ciphertext', {_ct('code_encrypted')}, count(*)
  FROM ledger_writes WHERE code_encrypted IS NOT NULL GROUP BY 3
UNION ALL
SELECT 'instruments', 'digest', code_key_id, count(*)
  FROM instruments GROUP BY 3
UNION ALL
SELECT 'idempotency_keys', 'ciphertext', {_ct('response_body')}, count(*)
  FROM idempotency_keys WHERE response_encrypted AND response_body IS NOT NULL GROUP BY 3
ORDER BY 1, 2, 4 DESC"""


async def key_uses(conn) -> list[KeyUse]:
    return [KeyUse(r["table_name"], r["stored"], r["key_id"], r["rows"]) for r in await conn.fetch(_STATUS)]


# ---- what still depends on an older key -----------------------------------------------------------
# $1 the writing key's id, $2 its ciphertext header. "with_code": the code (or answer) is stored
# encrypted with the row, or for a row with a digest only, with its card's registry row: `keys
# rotate` moves it (if the key it is under is still configured, and for a digest, if it is the
# registry code's). "digest_only": no code anywhere to re-digest from.

_REGISTRY_CODE = """EXISTS (SELECT FROM cards c WHERE c.shopify_id = {0} AND c.code_encrypted IS NOT NULL)"""

_OLD_CARDS = f"""code_encrypted IS NOT NULL
    AND (code_key_id IS DISTINCT FROM $1::bytea OR {_NOT_CURRENT.format('code_encrypted')})"""
_OLD_WRITE_CODES = f"""code_encrypted IS NOT NULL
    AND ({_NOT_CURRENT.format('code_encrypted')}
         OR (code_digest IS NOT NULL AND code_key_id IS DISTINCT FROM $1::bytea))"""
_OLD_WRITE_DIGESTS = "code_encrypted IS NULL AND code_digest IS NOT NULL AND code_key_id IS DISTINCT FROM $1::bytea"
_OLD_INSTRUMENT_DIGESTS = "code_key_id IS DISTINCT FROM $1::bytea"
_OLD_ANSWERS = f"response_encrypted AND response_body IS NOT NULL AND {_NOT_CURRENT.format('response_body')}"

_REMAINING = f"""
SELECT 'idempotency_keys' AS table_name,
       count(*) FILTER (WHERE {_OLD_ANSWERS}) AS with_code, 0::bigint AS digest_only
  FROM idempotency_keys
UNION ALL
SELECT 'ledger_writes',
       count(*) FILTER (WHERE {_OLD_WRITE_CODES}
                           OR ({_OLD_WRITE_DIGESTS} AND {_REGISTRY_CODE.format('ledger_writes.shopify_card_id')})),
       count(*) FILTER (WHERE {_OLD_WRITE_DIGESTS} AND NOT {_REGISTRY_CODE.format('ledger_writes.shopify_card_id')})
  FROM ledger_writes
UNION ALL
SELECT 'cards',
       count(*) FILTER (WHERE {_OLD_CARDS}),
       count(*) FILTER (WHERE code_encrypted IS NULL AND code_key_id IS DISTINCT FROM $1::bytea)
  FROM cards
UNION ALL
SELECT 'instruments',
       count(*) FILTER (WHERE {_OLD_INSTRUMENT_DIGESTS} AND {_REGISTRY_CODE.format('instruments.shopify_card_id')}),
       count(*) FILTER (WHERE {_OLD_INSTRUMENT_DIGESTS} AND NOT {_REGISTRY_CODE.format('instruments.shopify_card_id')})
  FROM instruments"""


@dataclass(frozen=True, slots=True)
class Remaining:
    """Rows of a table that still depend on a key other than the writing one."""

    table: str
    with_code: int    # the code is stored: `keys rotate` moves them (see above)
    digest_only: int  # no stored code to re-digest from: they keep needing their key listed

    @property
    def rows(self) -> int:
        return self.with_code + self.digest_only


async def remaining(conn, key_id: bytes, header: bytes) -> list[Remaining]:
    return [Remaining(r["table_name"], r["with_code"], r["digest_only"])
            for r in await conn.fetch(_REMAINING, key_id, header)]


# ---- encrypted answers (idempotency_keys.response_body) -----------------------------------------

async def lock_answers(conn, after: int, header: bytes, limit: int) -> list:
    return await conn.fetch(
        f"""SELECT id, operation, response_body AS sealed FROM idempotency_keys
             WHERE id > $1 AND {_OLD_ANSWERS}
             ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED""",
        after, header, limit,
    )


async def store_answers(conn, ids: list[int], bodies: list[bytes]) -> None:
    await conn.execute(
        """UPDATE idempotency_keys k SET response_body = v.body
             FROM unnest($1::bigint[], $2::bytea[]) AS v(id, body) WHERE k.id = v.id""",
        ids, bodies,
    )


# ---- ledger writes that keep their code (encrypted) ---------------------------------------------

async def lock_write_codes(conn, after: str, key_id: bytes, header: bytes, limit: int) -> list:
    return await conn.fetch(
        f"""SELECT write_id, code_encrypted AS sealed FROM ledger_writes
             WHERE write_id > $3 AND {_OLD_WRITE_CODES}
             ORDER BY write_id LIMIT $4 FOR UPDATE SKIP LOCKED""",
        key_id, header, after, limit,
    )


async def store_write_codes(conn, write_ids: list[str], digests: list[bytes], sealed: list[bytes],
                            key_id: bytes) -> None:
    await conn.execute(
        """UPDATE ledger_writes w SET code_digest = v.digest, code_encrypted = v.sealed, code_key_id = $4
             FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS v(write_id, digest, sealed)
            WHERE w.write_id = v.write_id""",
        write_ids, digests, sealed, key_id,
    )


# ---- the registry -------------------------------------------------------------------------------

async def lock_cards(conn, after: bytes, key_id: bytes, header: bytes, limit: int) -> list:
    return await conn.fetch(
        f"""SELECT code_digest, code_encrypted AS sealed FROM cards
             WHERE code_digest > $3 AND {_OLD_CARDS}
             ORDER BY code_digest LIMIT $4 FOR UPDATE SKIP LOCKED""",
        key_id, header, after, limit,
    )


async def store_cards(conn, old_digests: list[bytes], new_digests: list[bytes], sealed: list[bytes],
                      key_id: bytes) -> None:
    """Rows whose digest is already the writing key's get their new ciphertext in place; the
    others move to their new digest (the primary key): a copy under it, unless the card is
    already registered under it, and the old row deleted, in the batch's transaction."""
    values = "unnest($1::bytea[], $2::bytea[], $3::bytea[]) AS v(old, new, sealed)"
    await conn.execute(
        f"""UPDATE cards c SET code_encrypted = v.sealed, code_key_id = $4::bytea
              FROM {values} WHERE c.code_digest = v.old AND v.old = v.new""",
        old_digests, new_digests, sealed, key_id,
    )
    await conn.execute(
        f"""INSERT INTO cards (code_digest, code_key_id, code_encrypted, shopify_id, last_characters, currency,
                               origin, customer_id, created_at)
            SELECT v.new, $4::bytea, v.sealed, c.shopify_id, c.last_characters, c.currency, c.origin,
                   c.customer_id, c.created_at
              FROM {values} JOIN cards c ON c.code_digest = v.old
             WHERE v.old <> v.new
            ON CONFLICT (code_digest) DO NOTHING""",
        old_digests, new_digests, sealed, key_id,
    )
    await conn.execute(
        f"DELETE FROM cards c USING {values} WHERE c.code_digest = v.old AND v.old <> v.new",
        old_digests, new_digests, sealed,
    )


# ---- digest-only rows, re-digested from their card's registry row -------------------------------
# A ledger write that no longer keeps its code, and an instrument, have only the digest; the
# registry row of the same Shopify card keeps the code (encrypted). The rotation re-digests the
# row only if its digest is the registry code's under one of the configured keys.

async def lock_write_digests(conn, after: str, key_id: bytes, limit: int) -> list:
    return await conn.fetch(
        """SELECT w.write_id AS row_id, w.code_digest, c.code_encrypted AS sealed
              FROM ledger_writes w
              JOIN LATERAL (SELECT code_encrypted FROM cards
                             WHERE shopify_id = w.shopify_card_id AND code_encrypted IS NOT NULL LIMIT 1) c ON true
             WHERE w.write_id > $2 AND w.code_encrypted IS NULL AND w.code_digest IS NOT NULL
               AND w.code_key_id IS DISTINCT FROM $1::bytea
             ORDER BY w.write_id LIMIT $3 FOR UPDATE OF w SKIP LOCKED""",
        key_id, after, limit,
    )


async def store_write_digests(conn, write_ids: list[str], digests: list[bytes], key_id: bytes) -> None:
    await conn.execute(
        """UPDATE ledger_writes w SET code_digest = v.digest, code_key_id = $3
             FROM unnest($1::text[], $2::bytea[]) AS v(write_id, digest) WHERE w.write_id = v.write_id""",
        write_ids, digests, key_id,
    )


async def lock_instrument_digests(conn, after: UUID, key_id: bytes, limit: int) -> list:
    return await conn.fetch(
        """SELECT i.id AS row_id, i.code_digest, c.code_encrypted AS sealed
              FROM instruments i
              JOIN LATERAL (SELECT code_encrypted FROM cards
                             WHERE shopify_id = i.shopify_card_id AND code_encrypted IS NOT NULL LIMIT 1) c ON true
             WHERE i.id > $2 AND i.code_key_id IS DISTINCT FROM $1::bytea
             ORDER BY i.id LIMIT $3 FOR UPDATE OF i SKIP LOCKED""",
        key_id, after, limit,
    )


async def store_instrument_digests(conn, ids: list[UUID], digests: list[bytes], key_id: bytes) -> None:
    await conn.execute(
        """UPDATE instruments i SET code_digest = v.digest, code_key_id = $3
             FROM unnest($1::uuid[], $2::bytea[]) AS v(id, digest) WHERE i.id = v.id""",
        ids, digests, key_id,
    )
