"""Fill a database with what months of traffic leave behind: finished idempotency records with
their ledger writes and instruments, a card registry, an audit trail.

    .venv/bin/python -m bench.bulkload [--database-url URL] [--records 5000000] [--cards 1000000]
                                       [--audit 2000000] [--expired-fraction 0.1]

The database is DATABASE_URL (or --database-url), migrated here with the adapter's migrations;
without either, an embedded pgserver in a temporary directory (deleted on exit: useful only to
time the load). Every row is made by Postgres itself (INSERT ... SELECT over generate_series,
in chunks of one transaction each), so 5 million records take minutes, not hours.

What the rows look like, so that indexes, pages and plans are those of a real database:
- cards: one per card code, a real keyed digest (HMAC-SHA256 under CARD_CODE_KEY's digest key,
  computed by Postgres from the key's inner and outer pads), the key id, a stand-in for the
  encrypted code of the real length and header (random bytes: the bench never decrypts it),
  Shopify gids, last four, origin mix.
- idempotency_keys: finished ('final') records of the operations' real mix, keys shaped as
  NewStore sends them (a UUID; capture, refund and revoke scoped by their instrument), SHA-256
  fingerprints, the answers as the presenter writes them (JSON for payments, a ciphertext of the
  real length for the card-number answers), about 3% declines. Ids grow with created_at, as a
  bigserial does in production; the oldest `--expired-fraction` are past retention (30 days),
  so the reaper has work.
- ledger_writes: one per record of an operation that writes to the ledger (all but capture),
  settled (applied, or declined), its code's ciphertext cleared as settling does.
- instruments: one per approved authorization.
- audit_log: spread over the records (the audit outlives its records: the reaper keeps it).

Codes, keys and ids are derived from --seed (see card_code, record_key), so a benchmark can
present a loaded card's code or replay a loaded key.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from adapter import crypto
from adapter.crypto import CodeVault
from adapter.domain.cardcode import CardCode
from adapter.observability.logging import configure_logging
from adapter.store.migrations import migrate
from bench.harness import database_or_embedded

# The benchmarks' card-code key (bench/harness.py gives the adapter the same one).
BENCH_CARD_CODE_KEY = "b" * 40
RETENTION_DAYS = 30  # adapter.settings idempotency_retention_days' default
CHUNK = 250_000


@dataclass(frozen=True)
class Sizes:
    records: int = 5_000_000
    cards: int = 1_000_000
    audit: int = 2_000_000
    expired_fraction: float = 0.1
    retention_days: int = RETENTION_DAYS

    @property
    def expired(self) -> int:
        return round(self.records * self.expired_fraction)


# ---- what Python needs to know of the rows -----------------------------------------------------


def card_code(seed: str, n: int) -> str:
    """The code of loaded card n (1-based): 16 hex characters, a valid CardCode."""
    return hashlib.md5(f"{seed}:code:{n}".encode()).hexdigest()[:16]


def card_gid(n: int) -> str:
    return f"gid://shopify/GiftCard/{400_000_000_000 + n}"


def record_key(seed: str, n: int) -> str:
    """The idempotency key of loaded record n, unscoped (capture, refund, revoke prefix theirs)."""
    return str(_uuid(f"{seed}:key:{n}"))


def _uuid(text: str):
    import uuid

    return uuid.UUID(hashlib.md5(text.encode()).hexdigest())


def _pads(secret: str) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer key pads for the vault's digest key: Postgres computes
    sha256(opad || sha256(ipad || code)), which is exactly hmac.new(key, code, sha256)."""
    key = crypto._derive(secret.encode(), b"code-digest:v1").ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    code = card_code("check", 1)
    assert hashlib.sha256(opad + hashlib.sha256(ipad + code.encode()).digest()).digest() == \
        CodeVault(secret).digest(CardCode(code)) == hmac.new(key[:32], code.encode(), hashlib.sha256).digest()
    return ipad, opad


# ---- the SQL: every column a function of the row's number n -----------------------------------
# Parameters shared by every statement: $1 seed, $2 load time (t0), $3 ipad, $4 opad, $5 key id,
# $6 records, $7 expired records, $8 retention days, $9 cards, $10 first record id - 1, $11 from
# n, $12 to n. Each statement is one chunk: n in [$11, $12].


def _h(salt: int, of: str = "n") -> str:
    """A stable pseudo-random non-negative bigint of `of`."""
    return f"abs(hashint8extended({of}, {salt}))"


_CODE = "substr(md5($1::text || ':code:' || {c}), 1, 16)"
_DIGEST = "sha256($4::bytea || sha256($3::bytea || convert_to(" + _CODE + ", 'UTF8')))"
_GID = "'gid://shopify/GiftCard/' || (400000000000 + {c})"

# Per record n: its operation, card, time; in one lateral so each is computed once.
_RECORD = f"""
    CROSS JOIN LATERAL (SELECT
        CASE WHEN {_h(1)} % 100 < 5 THEN 'issue' WHEN {_h(1)} % 100 < 10 THEN 'activate'
             WHEN {_h(1)} % 100 < 12 THEN 'deactivate' WHEN {_h(1)} % 100 < 42 THEN 'authorize'
             WHEN {_h(1)} % 100 < 67 THEN 'capture' WHEN {_h(1)} % 100 < 75 THEN 'refund'
             ELSE 'revoke' END AS op,
        {_h(2)} % 100 < 3 AS declined,
        1 + {_h(3)} % greatest($9::bigint, 1) AS c,
        round((({_h(5)} % 20000) + 100)::numeric / 100, 2) AS amount,
        CASE WHEN n <= $7 THEN
                 $2::timestamptz - make_interval(days => $8::int + 7)
                 + (n::float8 / greatest($7::bigint, 1)) * interval '167 hours'
             ELSE $2::timestamptz - make_interval(days => $8::int) + interval '1 hour'
                 + ((n - $7)::float8 / greatest($6::bigint - $7, 1)) * (make_interval(days => $8::int) - interval '2 hours')
        END AS at
    ) r
    CROSS JOIN LATERAL (SELECT
        {_CODE.format(c='r.c')} AS code,
        md5($1::text || ':instrument:' || CASE WHEN r.op = 'authorize' THEN n ELSE greatest(n - 1 - {_h(4)} % 2000, 1) END)::uuid
            AS instrument,
        md5($1::text || ':write:' || n) AS write_id
    ) d"""

_WRITE_OPS = "('issue', 'activate', 'deactivate', 'authorize', 'refund', 'revoke')"

_RECORDS = f"""
INSERT INTO idempotency_keys (id, operation, key, fingerprint, state, response_status, response_body,
                              response_encrypted, created_at, updated_at, completed_at)
SELECT $10::bigint + n, r.op,
       CASE WHEN r.op IN ('capture', 'refund', 'revoke') THEN d.instrument::text || '/' ELSE '' END
           || md5($1::text || ':key:' || n)::uuid::text,
       sha256(convert_to($1::text || ':fp:' || n, 'UTF8')),
       'final',
       CASE WHEN r.declined AND r.op IN ('authorize', 'refund', 'revoke') THEN 400 ELSE 200 END,
       CASE WHEN r.op IN ('issue', 'activate', 'deactivate') THEN
                -- version 2 | key id | nonce (12) | {{"identifier":{{"number":"<16>"}}}} (38) | tag (16)
                '\\x02'::bytea || $5::bytea
                || substring(sha256(convert_to(d.write_id, 'UTF8')) || sha256(convert_to(d.write_id || 'x', 'UTF8'))
                             || sha256(convert_to(d.write_id || 'y', 'UTF8')) FROM 1 FOR 66)
            WHEN r.declined AND r.op IN ('authorize', 'refund', 'revoke') THEN
                convert_to('{{"error_code":"instrument_error","message":"insufficient funds","request_accepted":false}}', 'UTF8')
            ELSE convert_to(format(
                '[{{"transaction_id":"%s","instrument_id":"%s","capture_amount":%s,"refund_amount":%s,"currency":"USD",'
                '"reason":"%s","payment_method":"gift_card","metadata":{{"order_id":"ORD-%s",'
                '"gift_card_last_characters":"%s","ledger_transaction_id":"gid://shopify/GiftCardTransaction/%s"}},'
                '"processed_at":"%s"}}]',
                md5($1::text || ':tx:' || n)::uuid, d.instrument,
                CASE WHEN r.op IN ('authorize', 'capture', 'revoke') THEN r.amount ELSE 0 END,
                CASE WHEN r.op = 'refund' THEN r.amount ELSE 0 END,
                CASE r.op WHEN 'authorize' THEN 'authorization' ELSE r.op END,
                n, right(d.code, 4), 700000000000 + n,
                to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')), 'UTF8')
       END,
       r.op IN ('issue', 'activate', 'deactivate'),
       r.at, r.at + interval '250 ms', r.at + interval '250 ms'
  FROM generate_series($11::bigint, $12::bigint) AS n {_RECORD}"""

_WRITES = f"""
INSERT INTO ledger_writes (write_id, idempotency_id, operation, state, code_digest, code_key_id, shopify_card_id,
                           amount, currency, ledger_transaction_id, processed_at, context, attempts, first_sent_at,
                           last_sent_at, created_at, updated_at, instrument_id)
SELECT d.write_id, $10::bigint + n, r.op, CASE WHEN r.declined THEN 'declined' ELSE 'applied' END,
       {_DIGEST.format(c='r.c')}, $5::bytea, {_GID.format(c='r.c')}, r.amount, 'USD',
       CASE WHEN NOT r.declined THEN 'gid://shopify/GiftCardTransaction/' || (700000000000 + n) END,
       CASE WHEN NOT r.declined THEN r.at + interval '200 ms' END,
       jsonb_build_object('metadata_json', '{{"order_id":"ORD-' || n || '"}}', 'account_id', 'acct-' || ({_h(6)} % 100000),
                          'last4', right(d.code, 4)),
       1, r.at + interval '10 ms', r.at + interval '10 ms', r.at, r.at + interval '250 ms',
       CASE WHEN r.op IN ('authorize', 'refund', 'revoke') THEN d.instrument END
  FROM generate_series($11::bigint, $12::bigint) AS n {_RECORD}
 WHERE r.op IN {_WRITE_OPS}"""

_INSTRUMENTS = f"""
INSERT INTO instruments (id, code_digest, code_key_id, shopify_card_id, last_characters, currency, account_id,
                         authorized, captured, revoked, created_at, updated_at)
SELECT d.instrument, {_DIGEST.format(c='r.c')}, $5::bytea, {_GID.format(c='r.c')}, right(d.code, 4), 'USD',
       'acct-' || ({_h(6)} % 100000), r.amount,
       CASE WHEN {_h(7)} % 4 = 0 THEN 0 ELSE r.amount END, CASE WHEN {_h(7)} % 4 = 0 THEN r.amount ELSE 0 END,
       r.at, r.at + interval '2 days'
  FROM generate_series($11::bigint, $12::bigint) AS n {_RECORD}
 WHERE r.op = 'authorize' AND NOT r.declined"""

# Audit row j is about record n = 1 + (j - 1) * records / audit (spread evenly over the records).
_AUDIT = f"""
INSERT INTO audit_log (operation, write_id, instrument_id, shopify_card_id, last_characters, amount, currency,
                       ledger_transaction_id, idempotency_key_id, created_at)
SELECT r.op, CASE WHEN r.op <> 'capture' THEN d.write_id END,
       CASE WHEN r.op IN ('authorize', 'capture', 'refund', 'revoke') THEN d.instrument END,
       {_GID.format(c='r.c')}, right(d.code, 4), r.amount, 'USD',
       CASE WHEN r.op <> 'capture' THEN 'gid://shopify/GiftCardTransaction/' || (700000000000 + n) END,
       $10::bigint + n, r.at + interval '250 ms'
  FROM (SELECT 1 + ((j - 1) * greatest($6::bigint, 1)) / $13::bigint AS n
          FROM generate_series($11::bigint, $12::bigint) AS j) AS spread {_RECORD}"""

_CARDS = f"""
INSERT INTO cards (code_digest, code_key_id, code_encrypted, shopify_id, last_characters, currency, origin,
                   customer_id, created_at)
SELECT {_DIGEST.format(c='n')}, $5::bytea,
       -- version 2 | key id | nonce (12) | code (16) | tag (16)
       '\\x02'::bytea || $5::bytea || substring(sha256(convert_to($1::text || ':sealed:' || n, 'UTF8'))
                                               || sha256(convert_to($1::text || ':sealed2:' || n, 'UTF8')) FROM 1 FOR 44),
       {_GID.format(c='n')}, right({_CODE.format(c='n')}, 4), 'USD',
       CASE WHEN {_h(8)} % 100 < 45 THEN 'issue' WHEN {_h(8)} % 100 < 80 THEN 'activate'
            WHEN {_h(8)} % 100 < 95 THEN 'discovered' ELSE 'imported' END,
       CASE WHEN {_h(9)} % 5 = 0 THEN 'gid://shopify/Customer/' || (900000000 + {_h(9)} % 10000000) END,
       $2::timestamptz - interval '400 days' + (n::float8 / greatest($9::bigint, 1)) * interval '400 days'
  FROM generate_series($11::bigint, $12::bigint) AS n"""


# Declares every shared parameter's type (a statement that leaves one unused could not be
# prepared); never read.
_TYPED = """WITH typed AS (SELECT $1::text, $2::timestamptz, $3::bytea, $4::bytea, $5::bytea, $6::bigint, $7::bigint,
                             $8::int, $9::bigint, $10::bigint, $11::bigint, $12::bigint)"""


@dataclass
class LoadReport:
    seed: str
    sizes: Sizes
    first_record_id: int  # loaded record n has id first_record_id + n - 1
    rows: dict[str, int]
    seconds: dict[str, float]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def load(conn: asyncpg.Connection, sizes: Sizes, *, seed: str, card_code_key: str = BENCH_CARD_CODE_KEY,
               chunk: int = CHUNK, say=_say) -> LoadReport:
    """Load `sizes` into the (migrated) database of `conn`, then VACUUM ANALYZE what was loaded."""
    ipad, opad = _pads(card_code_key)
    key_id = CodeVault(card_code_key).key_id
    await conn.execute("SET synchronous_commit = off")  # the load's own commits: nothing waits on them
    base = await conn.fetchval("SELECT coalesce(max(id), 0) FROM idempotency_keys")
    t0 = datetime.now(UTC)
    common = (seed, t0, ipad, opad, key_id, sizes.records, sizes.expired, sizes.retention_days, sizes.cards, base)
    rows: dict[str, int] = {}
    seconds: dict[str, float] = {}

    async def fill(table: str, sql: str, total: int, *extra) -> None:
        started = time.monotonic()
        inserted = 0
        for first in range(1, total + 1, chunk):
            last = min(first + chunk - 1, total)
            result = await conn.execute(_TYPED + sql, *common, first, last, *extra)
            inserted += int(result.split()[-1])
            elapsed = time.monotonic() - started
            say(f"  {table}: {inserted:,} rows ({last:,}/{total:,}), {elapsed:.0f} s")
        rows[table] = inserted
        seconds[table] = time.monotonic() - started

    say(f"loading (seed {seed}): {sizes}")
    await fill("cards", _CARDS, sizes.cards)
    await fill("idempotency_keys", _RECORDS, sizes.records)
    await fill("ledger_writes", _WRITES, sizes.records)
    await fill("instruments", _INSTRUMENTS, sizes.records)
    if sizes.audit:
        await fill("audit_log", _AUDIT, sizes.audit, sizes.audit)
    await conn.execute("SELECT setval(pg_get_serial_sequence('idempotency_keys', 'id'),"
                       " greatest((SELECT max(id) FROM idempotency_keys), 1))")
    started = time.monotonic()
    # Months-old rows have been vacuumed (hint bits set, visibility map complete) and analyzed:
    # without this the first reads of each page would write it, which no steady state does.
    # Only the tables loaded here: VACUUM of a table with no rows would record it as empty (not
    # "never vacuumed"), and the planner would then choose sequential scans for it until the
    # next analyze.
    for table in (table for table, inserted in rows.items() if inserted):
        await conn.execute(f"VACUUM (ANALYZE) {table}")
    seconds["vacuum analyze"] = time.monotonic() - started
    say(f"  vacuum analyze: {seconds['vacuum analyze']:.0f} s")
    if sizes.cards:
        code = card_code(seed, 1)
        found = await conn.fetchval("SELECT shopify_id FROM cards WHERE code_digest = $1",
                                    CodeVault(card_code_key).digest(CardCode(code)))
        assert found == card_gid(1), "the loaded digests are not the vault's"
    return LoadReport(seed, sizes, base + 1, rows, seconds)


async def table_sizes(conn: asyncpg.Connection) -> list[list[str]]:
    rows = await conn.fetch(
        """SELECT relname, reltuples::bigint AS estimated, pg_total_relation_size(oid) AS total,
                  pg_indexes_size(oid) AS indexes
             FROM pg_class WHERE relkind = 'r' AND relname IN
                  ('idempotency_keys', 'cards', 'audit_log', 'ledger_writes', 'instruments')
            ORDER BY relname""")
    return [[r["relname"], f"{max(r['estimated'], 0):,}", f"{r['total'] / 2**20:,.0f}", f"{r['indexes'] / 2**20:,.0f}"]
            for r in rows]


def sizes_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Sizes()
    parser.add_argument("--records", type=int, default=defaults.records, help="finished idempotency records")
    parser.add_argument("--cards", type=int, default=defaults.cards, help="registered cards")
    parser.add_argument("--audit", type=int, default=defaults.audit, help="audit rows")
    parser.add_argument("--expired-fraction", type=float, default=defaults.expired_fraction,
                        help="share of the records past retention (the oldest)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="rows per INSERT (one transaction each)")


def sizes_from(args: argparse.Namespace) -> Sizes:
    if args.records < 0 or args.cards < 0 or args.audit < 0 or not 0 <= args.expired_fraction <= 1:
        raise SystemExit("sizes must be >= 0 and --expired-fraction within [0, 1]")
    return Sizes(args.records, args.cards, args.audit, args.expired_fraction)


async def _main(url: str, sizes: Sizes, seed: str, chunk: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        report = await load(conn, sizes, seed=seed, chunk=chunk)
        sizes_now = await table_sizes(conn)
    finally:
        await conn.close()
    from bench.harness import print_table

    print_table(f"Loaded (seed {report.seed})", ["table", "rows inserted", "seconds"],
                [[t, f"{n:,}", f"{report.seconds[t]:.0f}"] for t, n in report.rows.items()]
                + [["vacuum analyze", "", f"{report.seconds['vacuum analyze']:.0f}"]])
    print_table("Tables now", ["table", "rows (estimated)", "total MiB", "indexes MiB"], sizes_now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--seed", default=None, help="derives codes and keys (default: random)")
    sizes_arguments(parser)
    args = parser.parse_args()
    sizes = sizes_from(args)
    seed = args.seed or secrets.token_hex(4)
    configure_logging("console", "WARNING", stream=sys.stderr)
    with database_or_embedded(args.database_url, "gca-bulkload-") as url:
        asyncio.run(_main(url, sizes, seed, args.chunk))


if __name__ == "__main__":
    main()
