"""SQL of `giftcard-adapter cards import`: the file's rows staged, then registered in batches.

Every row of the file goes first into a temporary table of the import's own session
(`card_import`), read or refused: the code only as its digests and encrypted, as in the registry.
Checks across the whole file (a code with two ids, an id with two codes) are then one statement
each, and nothing is registered unless the whole file could be read. The registry is written a
batch at a time, each batch its own short transaction that only inserts new rows (ON CONFLICT
DO NOTHING: a card the service registers meanwhile is never overwritten, it is classified on the
next round). Statement texts are constants; every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from adapter.store.cards import INSERT_COLUMNS

TABLE = "card_import"
# A staged row's status: CANDIDATE until the batch that registers it decides; then one of the
# outcomes below or a refusal reason (adapter.cardimport.REASONS).
CANDIDATE = "candidate"
IMPORTED = "imported"
ALREADY_REGISTERED = "already_registered"
REPEATED = "repeated"  # the same code with the same id (and currency) on an earlier line
OUTCOMES = (IMPORTED, ALREADY_REGISTERED, REPEATED)
ORIGIN = "imported"  # cards.origin of the rows an import registers (migration 006)

# `line`: the file's line the row starts on. `code_digest`: under the writing key;
# `code_digests`: under every configured key, the writer's first (a card registered under an
# older key is found as the service finds it). `related`: other lines of the file it conflicts
# with or repeats. `registered_id` / `registered_last4`: the registry row it conflicts with.
STAGE_COLUMNS = ("line", "status", "code_digest", "code_digests", "code_encrypted", "shopify_id",
                 "last_characters", "currency", "detail")

_CREATE = f"""
CREATE TEMPORARY TABLE {TABLE} (
    line             bigint PRIMARY KEY,
    status           text   NOT NULL,
    code_digest      bytea,
    code_digests     bytea[],
    code_encrypted   bytea,
    shopify_id       text,
    last_characters  text,
    currency         text,
    detail           text,
    related          bigint[],
    registered_id    text,
    registered_last4 text
)"""

# Long statements over the whole staged file (a million rows): not the pool's 10 s.
_LONG = 3600.0


async def create_stage(conn) -> None:
    try:  # room for the stage in memory; only possible before the session's first temporary table
        await conn.execute("SET temp_buffers = '128MB'")
    except asyncpg.PostgresError:
        pass
    await conn.execute(f"DROP TABLE IF EXISTS pg_temp.{TABLE}")
    await conn.execute(_CREATE)


async def drop_stage(conn) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS pg_temp.{TABLE}")


async def stage(conn, records: list[tuple]) -> None:
    """Rows in STAGE_COLUMNS order."""
    await conn.copy_records_to_table(TABLE, records=records, columns=STAGE_COLUMNS, timeout=_LONG)


# ---- checks across the file ---------------------------------------------------------------------
# A code on several lines with different ids (or currencies): every one of those lines is
# refused, the first included: which of them is right is not ours to guess. An id on several
# lines with different codes: likewise. The same code with the same id again: the first line is
# the one registered, the others are counted as repeated (not refused).

# Only codes and ids on more than one line are looked at further (one hashed pass each first).
_CODE_GROUPS = f"""
CREATE TEMPORARY TABLE {TABLE}_codes AS
SELECT code_digest, min(line) AS first_line,
       count(DISTINCT shopify_id) > 1 OR count(DISTINCT currency) > 1 AS conflicting,
       (array_agg(line ORDER BY line))[1:6] AS lines
  FROM {TABLE}
 WHERE code_digest IN (SELECT code_digest FROM {TABLE} WHERE code_digest IS NOT NULL
                        GROUP BY code_digest HAVING count(*) > 1)
 GROUP BY code_digest"""

_ID_GROUPS = f"""
SELECT shopify_id, (array_agg(line ORDER BY line))[1:6] AS lines
  FROM {TABLE}
 WHERE code_digest IS NOT NULL
   AND shopify_id IN (SELECT shopify_id FROM {TABLE} WHERE code_digest IS NOT NULL
                       GROUP BY shopify_id HAVING count(*) > 1)
 GROUP BY shopify_id HAVING count(DISTINCT code_digest) > 1"""


async def mark_in_file(conn) -> None:
    await conn.execute(f"ANALYZE {TABLE}", timeout=_LONG)  # no autovacuum for temporary tables
    await conn.execute(f"DROP TABLE IF EXISTS pg_temp.{TABLE}_codes")
    await conn.execute(_CODE_GROUPS, timeout=_LONG)
    await conn.execute(
        f"""UPDATE {TABLE} s SET status = 'conflicting_ids_in_file', related = g.lines
              FROM {TABLE}_codes g
             WHERE s.code_digest = g.code_digest AND g.conflicting AND s.status = '{CANDIDATE}'""",
        timeout=_LONG)
    await conn.execute(
        f"""UPDATE {TABLE} s SET status = 'conflicting_codes_in_file', related = g.lines
              FROM ({_ID_GROUPS}) g
             WHERE s.shopify_id = g.shopify_id AND s.status = '{CANDIDATE}'""",
        timeout=_LONG)
    await conn.execute(
        f"""UPDATE {TABLE} s SET status = '{REPEATED}', related = ARRAY[g.first_line]
              FROM {TABLE}_codes g
             WHERE s.code_digest = g.code_digest AND NOT g.conflicting AND s.line <> g.first_line
               AND s.status = '{CANDIDATE}'""",
        timeout=_LONG)
    await conn.execute(f"DROP TABLE pg_temp.{TABLE}_codes")


# ---- registering, a batch at a time -----------------------------------------------------------

async def batch_end(conn, after: int, limit: int) -> int | None:
    """The last line of the next batch of candidates after line `after` (None: none left)."""
    return await conn.fetchval(
        f"""SELECT max(line) FROM (SELECT line FROM {TABLE} WHERE line > $1 AND status = '{CANDIDATE}'
                                    ORDER BY line LIMIT $2) AS batch""",
        after, limit)


# Each batch row looks up the registry by index (a LATERAL probe per row: never a scan of the
# registry, which may hold millions of cards).
_BATCH = f"FROM {TABLE} b"
_IN_BATCH = f"s.line = b.line AND b.line > $1 AND b.line <= $2 AND b.status = '{CANDIDATE}'"

# The code already registered, under any configured key (the writing key's row first): the same
# card (and, where both say, the same currency) is already registered; another card is a
# conflict, reported, never changed.
_CLASSIFY_CODES = f"""
UPDATE {TABLE} s
   SET status = CASE WHEN c.shopify_id <> s.shopify_id THEN 'registered_to_other_id'
                     WHEN c.currency IS NOT NULL AND s.currency IS NOT NULL AND c.currency <> s.currency
                          THEN 'registered_with_other_currency'
                     ELSE '{ALREADY_REGISTERED}' END,
       registered_id = c.shopify_id
  {_BATCH}
  CROSS JOIN LATERAL (SELECT shopify_id, currency FROM cards WHERE code_digest = ANY(b.code_digests)
                       ORDER BY code_digest = b.code_digest DESC LIMIT 1) c
 WHERE {_IN_BATCH}"""

# The id already registered with a code that is not this one (under no configured key).
_CLASSIFY_IDS = f"""
UPDATE {TABLE} s SET status = 'id_registered_to_other_code', registered_id = c.shopify_id,
                     registered_last4 = c.last_characters
  {_BATCH}
  CROSS JOIN LATERAL (SELECT shopify_id, last_characters FROM cards
                       WHERE shopify_id = b.shopify_id AND code_digest <> ALL(b.code_digests) LIMIT 1) c
 WHERE {_IN_BATCH}"""

_INSERT = f"""
WITH inserted AS (
    INSERT INTO cards ({INSERT_COLUMNS})
    SELECT code_digest, $3::bytea, code_encrypted, shopify_id, last_characters, currency, '{ORIGIN}', NULL
      FROM {TABLE} WHERE line > $1 AND line <= $2 AND status = '{CANDIDATE}' ORDER BY line
    ON CONFLICT (code_digest) DO NOTHING
    RETURNING code_digest)
UPDATE {TABLE} s SET status = '{IMPORTED}' FROM inserted i
 WHERE s.code_digest = i.code_digest AND s.line > $1 AND s.line <= $2 AND s.status = '{CANDIDATE}'"""

_LEFT = f"SELECT count(*) FROM {TABLE} WHERE line > $1 AND line <= $2 AND status = '{CANDIDATE}'"


async def register_batch(conn, after: int, upto: int, key_id: bytes) -> int:
    """Classify and register the candidates on lines (after, upto], in one transaction; returns
    how many are still candidates (a card registered by the service between this batch's check
    and its insert: the caller runs the batch again, which classifies it)."""
    async with conn.transaction():
        await conn.execute(_CLASSIFY_CODES, after, upto)
        await conn.execute(_CLASSIFY_IDS, after, upto)
        await conn.execute(_INSERT, after, upto, key_id)
        return await conn.fetchval(_LEFT, after, upto)


async def give_up(conn, after: int, upto: int) -> None:
    await conn.execute(
        f"UPDATE {TABLE} SET status = 'not_registered' WHERE line > $1 AND line <= $2 AND status = '{CANDIDATE}'",
        after, upto)


# ---- the report ----------------------------------------------------------------------------------

async def counts(conn) -> dict[str, int]:
    rows = await conn.fetch(f"SELECT status, count(*) AS n FROM {TABLE} GROUP BY status", timeout=_LONG)
    return {r["status"]: r["n"] for r in rows}


@dataclass(frozen=True, slots=True)
class Refused:
    line: int
    reason: str
    last4: str | None              # the code's last four, when the code could be read
    detail: str | None             # a fixed text (never a value from the file)
    related: list[int] | None      # other lines of the file
    registered_id: str | None      # the registry row it conflicts with
    registered_last4: str | None


async def refused(conn, chunk: int = 1000):
    """The refused rows in line order, streamed (there may be as many as the file has)."""
    statement = f"""SELECT line, status, last_characters, detail, related, registered_id, registered_last4
                      FROM {TABLE} WHERE status <> ALL($1::text[]) ORDER BY line"""
    async with conn.transaction():
        async for r in conn.cursor(statement, list(OUTCOMES), prefetch=chunk):
            yield Refused(r["line"], r["status"], r["last_characters"], r["detail"], r["related"],
                          r["registered_id"], r["registered_last4"])
