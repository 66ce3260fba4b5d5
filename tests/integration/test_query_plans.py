"""No statement of the hot path reads a table without an index (issue #14, cost as the data grows).

Every statement is taken from the store function itself: each function runs against a
connection that records what it sends (Recorder), with the arguments the adapter gives it, and
each recorded statement is then EXPLAINed on the migrated test database, with those arguments
(the custom plan) and without them (the generic plan, which a pooled connection settles on
after five executions), and its plan walked.

How a plan can be judged on near-empty tables: with `enable_seqscan = off`. On a table of a few
rows the planner rightly prefers a sequential scan, so a plain EXPLAIN would flag everything (or,
loading rows until it does not, make the test slow and its verdict depend on statistics). With
sequential scans priced out, the planner still picks one when nothing else can answer the
statement: a Seq Scan left in the plan means no index serves it. With them off it may also walk
a whole index it cannot search (an Index Scan with no Index Cond, for its order or a column it
covers), which reads as much: that is flagged too, unless the index is partial (it then holds
only the rows its predicate names, e.g. the open records). What the planner chooses on real
sizes is bench.growth's part; this test says an index exists for each statement to use.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from adapter.domain.errors import Decline
from adapter.jsonio import RawJson
from adapter.store import (announcements, audit, balance_intents, buckets, cards, completion, feed, idempotency,
                           instruments, intake, maintenance, mirror, reservations, writes)
from adapter.store.cards import Registration
from adapter.store.completion import Movement, OpenInstrument, RegisterCard, SettleReservation
from adapter.store.feed import NewEvent
from adapter.store.idempotency import FinalAnswer
from adapter.store.intake import Want
from adapter.store.mirror import MirrorRow
from adapter.store.reservations import Reservation
from adapter.store.writes import Intent, RegisteredCardIntent


class Recorder:
    """A connection that records each statement and its arguments instead of running it."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple]] = []

    def _record(self, sql: str, args: tuple) -> None:
        self.statements.append((sql, args))

    async def fetch(self, sql, *args):
        self._record(sql, args)
        return []

    async def fetchrow(self, sql, *args):
        self._record(sql, args)
        return None

    async def fetchval(self, sql, *args):
        self._record(sql, args)
        return 1

    async def execute(self, sql, *args):
        self._record(sql, args)
        return "UPDATE 0"

    async def executemany(self, sql, args):
        self._record(sql, tuple(list(args)[0]))

    @contextlib.asynccontextmanager
    async def transaction(self):
        yield


# ---- what the adapter passes ---------------------------------------------------------------

NOW = datetime.now(UTC)
DIGEST, OTHER_DIGEST = b"\x11" * 32, b"\x22" * 32
KEY_ID = b"\x0a\x0b\x0c\x0d"
SEALED = b"\x02" + KEY_ID + b"\x00" * 44
CARD = "gid://shopify/GiftCard/400000000001"
INSTRUMENT = uuid.UUID("2ef0e6ff-ebd8-4165-70a9-a6963e370605")
WRITE_ID = "20ee246828db221b94cea8d5291f8399"
INTENT = Intent("authorize", code_digest=DIGEST, code_key_id=KEY_ID, shopify_card_id=CARD, amount=Decimal("12.50"),
                currency="USD", instrument_id=INSTRUMENT, context={"metadata_json": "{}", "last4": "abcd"})
UNPLACED = Intent("authorize", code_digest=DIGEST, code_key_id=KEY_ID, amount=Decimal("12.50"), currency="USD",
                  instrument_id=INSTRUMENT, context={"last4": "abcd"})
ANSWER = FinalAnswer(1, "owner", 200, b"[]", False)
MOVEMENT = Movement("authorize", WRITE_ID, CARD, "abcd", Decimal("12.50"), "USD", "gid://shopify/GiftCardTransaction/1",
                    NOW, INSTRUMENT)
REGISTRATION = Registration(DIGEST, KEY_ID, SEALED, CARD, "abcd", "USD", "issue")
RESERVATION = Reservation("refund", INSTRUMENT, Decimal("5.00"), "USD", RawJson("{}"),
                          refusal=lambda room: Decline("nothing left to refund"))
ROW = MirrorRow("entry-1", Decimal("-12.50"), "USD", Decimal("37.50"), NOW, "ours", "pos_redemption", WRITE_ID,
                "authorize")
EVENT = NewEvent(CARD, "abcd", "debited", "pos_redemption", Decimal("12.50"), Decimal("37.50"), "USD", NOW,
                 "authorize")

Call = Callable[[Recorder], Awaitable[object]]

# Every statement a NewStore-facing request can run, by the store function that sends it.
HOT_PATH: dict[str, Call] = {
    # The idempotency record: claim (alone, with its intent, with the registry lookup), replay,
    # take-over, answer, lease.
    "idempotency.fetch": lambda c: idempotency.fetch(c, "authorize", "key-1"),
    "idempotency.claim": lambda c: idempotency.claim(c, "capture", f"{INSTRUMENT}/key-1", b"fp", "owner", 20),
    "idempotency.claim_with_intent": lambda c: idempotency.claim_with_intent(
        c, "authorize", "key-1", b"fp", "owner", 20, INTENT),
    "idempotency.claim_with_intent, registry lookup": lambda c: idempotency.claim_with_intent(
        c, "authorize", "key-1", b"fp", "owner", 20, RegisteredCardIntent(UNPLACED, (DIGEST, OTHER_DIGEST))),
    "idempotency.take_over": lambda c: idempotency.take_over(c, 1, "owner", 20),
    "idempotency.finish": lambda c: idempotency.finish(c, ANSWER),
    "idempotency.release": lambda c: idempotency.release(c, 1, "owner"),
    "idempotency.forget": lambda c: idempotency.forget(c, 1, "owner"),
    "idempotency.renew": lambda c: idempotency.renew(c, 1, "owner", 20),
    # Refund and revoke: claim, instrument lock, cap check, reservation and intent in one.
    "reservations.claim_and_reserve": lambda c: reservations.claim_and_reserve(
        c, "refund", f"{INSTRUMENT}/key-1", b"fp", "owner", 20, RESERVATION),
    "reservations.reserve": lambda c: reservations.reserve(c, 1, RESERVATION),
    # The final statement of a write that landed, with each use case's own rows.
    "completion.complete_applied": lambda c: completion.complete_applied(c, ANSWER, MOVEMENT),
    "completion.complete_applied, card registered": lambda c: completion.complete_applied(
        c, ANSWER, MOVEMENT, RegisterCard(*REGISTRATION.values())),
    "completion.complete_applied, instrument opened": lambda c: completion.complete_applied(
        c, ANSWER, MOVEMENT, OpenInstrument(INSTRUMENT, DIGEST, CARD, "abcd", "USD", "acct-1", Decimal("12.50"), KEY_ID)),
    "completion.complete_applied, reservation settled": lambda c: completion.complete_applied(
        c, ANSWER, MOVEMENT, SettleReservation(INSTRUMENT, "refund", Decimal("5.00"))),
    # The card registry: by digest (every configured key's), a row moved to the writing key.
    "cards.find": lambda c: cards.find(c, (DIGEST, OTHER_DIGEST)),
    "cards.move_to_key, same digest": lambda c: cards.move_to_key(c, DIGEST, DIGEST, KEY_ID, SEALED),
    "cards.move_to_key, new digest": lambda c: cards.move_to_key(c, OTHER_DIGEST, DIGEST, KEY_ID, SEALED),
    "cards.remember": lambda c: cards.remember(c, *REGISTRATION.values()),
    "cards.before_search": lambda c: cards.before_search(c, "deactivate", "key-1", (DIGEST, OTHER_DIGEST)),
    # Ledger-write intents and their settling within the request.
    "writes.record_intent": lambda c: writes.record_intent(c, 1, INTENT),
    "writes.record_intent, card registered": lambda c: writes.record_intent(c, 1, INTENT, register=REGISTRATION),
    "writes.for_idempotency": lambda c: writes.for_idempotency(c, 1),
    "writes.mark_sending": lambda c: writes.mark_sending(c, WRITE_ID),
    "writes.mark_unknown": lambda c: writes.mark_unknown(c, WRITE_ID),
    "writes.mark_not_sent": lambda c: writes.mark_not_sent(c, WRITE_ID),
    "writes.mark_declined": lambda c: writes.mark_declined(c, WRITE_ID),
    "writes.replace_code": lambda c: writes.replace_code(c, WRITE_ID, DIGEST, SEALED, KEY_ID),
    "writes.mark_abandoned": lambda c: writes.mark_abandoned(c, WRITE_ID),
    "writes.mark_found": lambda c: writes.mark_found(c, WRITE_ID, "gid://shopify/GiftCardTransaction/1", NOW),
    "writes.other_activation_state": lambda c: writes.other_activation_state(
        c, (DIGEST, OTHER_DIGEST), Decimal("25.00"), "USD", WRITE_ID),
    # Instruments (capture; a declined credit's reservation given back) and the audit row.
    "instruments.lock": lambda c: instruments.lock(c, INSTRUMENT),
    "instruments.get": lambda c: instruments.get(c, INSTRUMENT),
    "instruments.add_capture": lambda c: instruments.add_capture(c, INSTRUMENT, Decimal("5.00")),
    "instruments.release_reservation": lambda c: instruments.release_reservation(c, INSTRUMENT, "revoke", Decimal("5")),
    "audit.record": lambda c: audit.record(c, operation="capture", write_id=None, shopify_card_id=CARD,
                                           last_characters="abcd", amount=Decimal("5.00"), currency="USD",
                                           instrument_id=INSTRUMENT, idempotency_key_id=1),
    # The absolute-balance protocol (SHOPLINE, Gift Card Hero) under the card lock.
    "balance_intents.intent_of": lambda c: balance_intents.intent_of(c, WRITE_ID),
    "balance_intents.record_put": lambda c: balance_intents.record_put(c, WRITE_ID, Decimal(50), Decimal(40), "e-1"),
    "balance_intents.forget_put": lambda c: balance_intents.forget_put(c, WRITE_ID),
    "balance_intents.unsettled_put_on": lambda c: balance_intents.unsettled_put_on(c, CARD, WRITE_ID),
    "balance_intents.mark_verify": lambda c: balance_intents.mark_verify(c, WRITE_ID, "verified", "e-2"),
    "balance_intents.start_repair": lambda c: balance_intents.start_repair(
        c, WRITE_ID, CARD, Decimal(-3), "USD", Decimal(40), Decimal(37), "e-2"),
    "balance_intents.repairs_of": lambda c: balance_intents.repairs_of(c, WRITE_ID),
    "balance_intents.finish_repair": lambda c: balance_intents.finish_repair(c, 1, "applied", "e-3",
                                                                             unrepaired=Decimal(0)),
    "balance_intents.open_review": lambda c: balance_intents.open_review(c, WRITE_ID, CARD, "ambiguous", {},
                                                                         applied=False),
    # The re-read each applied write starts right after its answer (IdempotencyCoordinator.on_applied:
    # queued as intake work, drained at once, services.sync.resync), and the guard before it.
    "intake.enqueue": lambda c: intake.enqueue(c, "own_writes", WRITE_ID, [Want("card", ledger_card_id=CARD)]),
    "intake.lease, these items": lambda c: intake.lease(c, 30, 10, [1]),
    "intake.done": lambda c: intake.done(c, 1),
    "intake.later": lambda c: intake.later(c, 1, 5, "busy"),
    "intake.write_in_flight": lambda c: intake.write_in_flight(c, CARD),
    # The shop's bucket level the replicas share, once it runs low (a money call, a lookup).
    "buckets.reserve": lambda c: buckets.reserve(c, "shop.myshopify.com", 10, floor_share=None, margin_share=0.01,
                                                 margin_points=10, seconds_left=8, ceiling=1200.0),
    "buckets.reserve, a lookup": lambda c: buckets.reserve(c, "shop.myshopify.com", 54, floor_share=0.5,
                                                           margin_share=0.01, margin_points=10, seconds_left=0,
                                                           ceiling=None),
    "buckets.make_level": lambda c: buckets.make_level(c, "shop.myshopify.com", 700, 2000, 100),
    "buckets.settle": lambda c: buckets.settle(c, "shop.myshopify.com", figure=650, maximum=2000, restore_rate=100,
                                               refund=0),
    "mirror.sync_state": lambda c: mirror.sync_state(c, CARD),
    "mirror.our_writes": lambda c: mirror.our_writes(c, CARD, write_ids=["w" * 32], transaction_ids=["entry-1"]),
    "mirror.repair_entries": lambda c: mirror.repair_entries(c, CARD, ["entry-1"]),
    "mirror.mirrored_writes": lambda c: mirror.mirrored_writes(c, CARD, ["w" * 32]),
    "mirror.insert_new": lambda c: mirror.insert_new(c, CARD, [ROW]),
    "mirror.record_position": lambda c: mirror.record_position(c, CARD, "entry-1", Decimal("37.50"), "USD", True,
                                                               "abcd"),
    "announcements.open_for": lambda c: announcements.open_for(c, CARD),
    "announcements.explained": lambda c: announcements.explained(c, {1: "entry-1"}),
    "feed.append": lambda c: feed.append(c, [EVENT], ("erp",)),
    # The feed's pull API.
    "feed.after": lambda c: feed.after(c, 100, 50),
}

# What every replica runs over the big tables every few seconds (the reconciler) or every minute
# (the reaper), with what Postgres itself runs for each record the reaper deletes: the foreign key
# ledger_writes.idempotency_id's ON DELETE SET NULL (this is the statement its trigger runs).
BACKGROUND: dict[str, Call] = {
    "maintenance.claim_stale": lambda c: maintenance.claim_stale(c, "owner", 20, 5, 20),
    "maintenance.reap_expired": lambda c: maintenance.reap_expired(c, 30, 500),
    "writes.oldest_unsettled_age": lambda c: writes.oldest_unsettled_age(c),
    "writes.open_reviews": lambda c: writes.open_reviews(c),
    "balance_intents.pending_verifications": lambda c: balance_intents.pending_verifications(c, 20),
    "reaper's foreign-key action": lambda c: c.execute(
        "UPDATE ONLY ledger_writes SET idempotency_id = NULL WHERE $1 OPERATOR(pg_catalog.=) idempotency_id", 1),
}


async def recorded(call: Call) -> list[tuple[str, tuple]]:
    recorder = Recorder()
    # A function may choke on what the recorder answers (no row) after it has sent its statement.
    with contextlib.suppress(Exception):
        await call(recorder)
    assert recorder.statements, "the call sent no statement"
    return recorder.statements


# ---- reading plans -------------------------------------------------------------------------


async def partial_indexes(conn) -> set[str]:
    return {r["name"] for r in await conn.fetch(
        """SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indpred IS NOT NULL""")}


def unindexed_reads(plan: dict, partial: set[str]) -> list[str]:
    """Each node of the plan that reads a table, or a whole index, without an index condition."""
    found = []
    node_type = plan["Node Type"]
    if node_type in ("Seq Scan", "Sample Scan", "Tid Range Scan"):
        found.append(f"{node_type} on {plan['Relation Name']}")
    elif node_type in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        if "Index Cond" not in plan and plan["Index Name"] not in partial:
            found.append(f"{node_type} of all of {plan['Index Name']} (no index condition)")
    for child in plan.get("Plans", ()):
        found += unindexed_reads(child, partial)
    return found


async def plans(conn, sql: str, args: tuple) -> dict[str, dict]:
    """The statement's custom plan (its arguments bound) and its generic plan."""
    custom = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))[0]["Plan"]
    await conn.execute(f"PREPARE gca_plan_check AS {sql}")
    try:
        count = await conn.fetchval(
            "SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = 'gca_plan_check'")
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        nulls = ", ".join(["NULL"] * count)
        generic = json.loads(await conn.fetchval(
            f"EXPLAIN (FORMAT JSON) EXECUTE gca_plan_check{f'({nulls})' if count else ''}"))[0]["Plan"]
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute("DEALLOCATE gca_plan_check")
    return {"custom": custom, "generic": generic}


async def problems_of(conn, call: Call) -> list[str]:
    partial = await partial_indexes(conn)
    found = []
    for sql, args in await recorded(call):
        for kind, plan in (await plans(conn, sql, args)).items():
            found += [f"{kind} plan: {problem}\n{' '.join(sql.split())[:300]}" for problem in
                      unindexed_reads(plan, partial)]
    return found


@pytest.fixture
async def conn(database_url):
    connection = await asyncpg.connect(database_url)
    await connection.execute("SET enable_seqscan = off")
    try:
        yield connection
    finally:
        await connection.close()


@pytest.mark.parametrize("name", [*HOT_PATH, *BACKGROUND])
async def test_no_statement_reads_a_table_without_an_index(conn, name):
    call = HOT_PATH.get(name) or BACKGROUND[name]
    assert await problems_of(conn, call) == []


@contextlib.asynccontextmanager
async def rolled_back(conn):
    transaction = conn.transaction()
    await transaction.start()
    try:
        yield
    finally:
        await transaction.rollback()


async def test_the_check_finds_a_missing_index(conn):
    """The test can fail: without the index behind a lookup, its statement is flagged (the index
    is dropped inside a transaction that is rolled back)."""
    async with rolled_back(conn):
        await conn.execute("DROP INDEX ledger_writes_idempotency")
        assert any("on ledger_writes" in p for p in await problems_of(conn, HOT_PATH["writes.for_idempotency"]))
    async with rolled_back(conn):
        await conn.execute("ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_operation_key_key")
        assert any("on idempotency_keys" in p for p in await problems_of(conn, HOT_PATH["idempotency.fetch"]))
    assert await problems_of(conn, HOT_PATH["idempotency.fetch"]) == []
