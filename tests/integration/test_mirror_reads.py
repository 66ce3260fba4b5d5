"""A re-read reads what its new entries can name, never the card's whole history (issue #14).

Every applied write starts a re-read of its card, and the re-read once loaded all of the card's
applied writes to tell its new entries apart: on a card with thousands of payments each re-read
read and decoded thousands of rows (bench.throughput's authorizations, all on one card, went
from 412/s to 111/s as the card's history grew)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from adapter.store import mirror
from tests.integration.test_query_plans import Recorder

CARD = "gid://shopify/GiftCard/5150"
OTHER_CARD = "gid://shopify/GiftCard/5151"
HISTORY = 400


def _write_id() -> str:
    return uuid.uuid4().hex


async def _applied(conn, card: str, operation: str, transaction: str | None, state: str = "applied") -> str:
    write_id = _write_id()
    await conn.execute(
        """INSERT INTO ledger_writes (write_id, operation, state, shopify_card_id, amount, currency,
                                      ledger_transaction_id)
           VALUES ($1, $2, $3, $4, 5, 'USD', $5)""",
        write_id, operation, state, card, transaction)
    return write_id


@pytest.fixture
async def history(db):
    """A card with its issue, HISTORY authorizations and a deactivation, and another card."""
    async with db.acquire() as conn:
        issue = await _applied(conn, CARD, "issue", None)
        payments = [await _applied(conn, CARD, "authorize", f"txn-{n}") for n in range(HISTORY)]
        deactivate = await _applied(conn, CARD, "deactivate", None)
        await _applied(conn, CARD, "authorize", "txn-pending", state="pending")
        await _applied(conn, OTHER_CARD, "issue", None)
        await conn.execute("ANALYZE ledger_writes")
    return issue, payments, deactivate


async def test_our_writes_are_those_the_entries_name_and_the_cards_lifecycle(db, history):
    issue, payments, deactivate = history
    async with db.acquire() as conn:
        found = await mirror.our_writes(conn, CARD, write_ids=[payments[7]],
                                        transaction_ids=[f"txn-{HISTORY - 1}", "txn-pending", "foreign-entry"])
    by_id = {write.write_id: write for write in found}
    # The marked write, the one that made an entry, the creation and the deactivation: 4 of the
    # card's 402 applied writes; not the pending one, not the other card's issue.
    assert set(by_id) == {payments[7], payments[HISTORY - 1], issue, deactivate}
    assert by_id[payments[HISTORY - 1]].ledger_transaction_id == f"txn-{HISTORY - 1}"
    assert by_id[issue].operation == "issue" and by_id[deactivate].operation == "deactivate"
    assert by_id[payments[7]].amount == Decimal(5)


async def test_nothing_named_reads_only_the_lifecycle(db, history):
    issue, _, deactivate = history
    async with db.acquire() as conn:
        found = await mirror.our_writes(conn, CARD, write_ids=[], transaction_ids=[])
    assert {write.write_id for write in found} == {issue, deactivate}


async def test_our_writes_finds_them_through_indexes_not_the_cards_history(db, history):
    """The plan on a card with a long history: each branch is found by an index condition, and
    no node reads the card's writes to filter them."""
    _, payments, _ = history
    recorder = Recorder()
    await mirror.our_writes(recorder, CARD, write_ids=[payments[3]], transaction_ids=["txn-9"])
    sql, args = recorder.statements[0]
    async with db.acquire() as conn:
        async with conn.transaction():
            # 400 rows fit in a few pages, where a sequential scan is rightly cheapest; priced
            # out, the planner shows which index path it has (test_query_plans' method).
            await conn.execute("SET LOCAL enable_seqscan = off")
            plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)

    nodes = []

    def walk(node):
        nodes.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan)[0]["Plan"])
    # At most the rows each index condition names are read: the two named writes and the two of
    # the lifecycle, never the 400 payments.
    read = max(node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0) for node in nodes)
    assert read <= 4, [(node["Node Type"], node.get("Actual Rows"), node.get("Rows Removed by Filter")) for node in nodes]


async def test_repairs_and_mirrored_writes_are_looked_up_by_what_is_asked(db):
    async with db.acquire() as conn:
        mirrored_write = _write_id()
        await conn.execute(
            """INSERT INTO ledger_entries (ledger_card_id, entry_id, amount, currency, occurred_at, origin, cause,
                                           write_id, operation)
               VALUES ($1, 'entry-1', 5, 'USD', now(), 'ours', 'pos_sale', $2, 'issue')""",
            CARD, mirrored_write)
        assert await mirror.mirrored_writes(conn, CARD, [mirrored_write, _write_id()]) == {mirrored_write}
        assert await mirror.mirrored_writes(conn, OTHER_CARD, [mirrored_write]) == set()
        assert await mirror.repair_entries(conn, CARD, ["entry-1"]) == {}
