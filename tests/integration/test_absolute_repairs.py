"""A change made elsewhere that one of our PUTs overwrote must be restored (ledgers.md §3.2, "lost
update"), on the ledgers that can only set a balance.

Found by the randomized chaos run (tests/chaos/test_randomized_faults.py, `repair_not_started`
reviews): when the correcting PUT could not even start, because a read of the card failed or ran
out of time, adapter.ledgers.absolute sent the write to review at once, although nothing was sent
and everything needed to make the correction later is known (our PUT and what it overwrote are
in the history). The checkout's money stayed lost until an operator acted. Now such a write goes
back to 'pending', as a deferred verification does, and the reconciler's sweep
(settle_background) finds it in the history again and repairs it.

Found the same way (`settle_ambiguous` reviews of writes already settled): every replica's sweep
lists the same deferred writes, and the one that took the card lock second read the history
again, where the first one's correcting PUT made a second candidate for our PUT. Now a settler
looks at the write's state again once it holds the lock.

And (`history_does_not_add_up` reviews of writes whose PUT never ran): settling reads the
history after our read, then the card; a checkout landing between the two reads made the
balance look unexplained. Now the card's newest entry is read again: if it moved, the write is
settled again later instead of going to review.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapter.http.keys import WORKERS
from tests.conftest import AUTH
from tests.integration.test_payments import authorize_body
from tests.served import wait_for

pytestmark = pytest.mark.parametrize("ledger", ["shopline", "gifthero"], indirect=True)


async def _debit_over_a_checkout(adapter, ledger, code: str, fault: str, operation: str, count: int) -> str:
    """An authorization of 30.00 whose PUT overwrote a checkout of 10.00, answered 200; while the
    PUT was in flight, `fault` was armed on the next `count` calls of `operation`, which the
    correction that follows meets. Answers the card's id."""
    card_id = await ledger.make_known_card(code, "100.00")
    await ledger.add_fault("foreign_change", "read", card_id=card_id, delta="-10.00")
    await ledger.add_fault("hold", "write")
    request = asyncio.create_task(adapter.post("/financial_instruments", json=authorize_body(code, 30, f"k-{code}"),
                                               headers=AUTH))
    await ledger.wait_held()
    await ledger.add_fault(fault, operation, count=count)
    await ledger.release_held()
    assert (await request).status == 200  # our debit landed: its answer does not wait for the repair
    await ledger.clear_faults()
    return card_id


async def _debit_whose_correction_is_deferred(adapter, ledger, code: str) -> str:
    """The card cannot be read for a while: the correction is left for the sweep."""
    return await _debit_over_a_checkout(adapter, ledger, code, "error_5xx", "read", 50)


async def test_a_correction_that_could_not_start_is_made_later(make_adapter, ledger, db):
    # A checkout of 10.00 lands right after our read of the card, before our PUT of 70.00, and
    # while the PUT is in flight the card can no longer be read for a while: the correction (read
    # the card, PUT balance + what was overwritten) cannot start.
    adapter = await make_adapter(reconcile_grace_seconds=0)
    card_id = await _debit_whose_correction_is_deferred(adapter, ledger, "repaircard000001")
    async with db.acquire() as conn:
        assert await conn.fetch("SELECT reason FROM ledger_reviews") == []
        # What the PUT overwrote is on the write, so a process dying now loses nothing either.
        assert dict(await conn.fetchrow("SELECT verify_state, unrepaired FROM ledger_writes")) == {
            "verify_state": "repairing", "unrepaired": Decimal("-10.00")}

    # The ledger reads again; the reconciler (every replica runs it) knows what is missing.
    await adapter.server.app[WORKERS].reconciler.run_once()
    card = await ledger.card(card_id)
    assert card["balance"] == Decimal("60.00")  # 100 - 30 (ours) - 10 (the checkout)
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ledger_reviews WHERE resolved_at IS NULL") == 0


async def test_two_replicas_sweeping_at_once_make_the_correction_once(make_adapter, ledger, db):
    # Every replica runs the reconciler, and each sweep lists the same deferred writes: the one
    # that takes the card lock second must find the write settled, not read the correcting PUT
    # the first one just made as a second candidate for ours.
    first, second = await make_adapter(), await make_adapter()
    card_id = await _debit_whose_correction_is_deferred(first, ledger, "repaircard000002")
    # The first sweep to take the card lock waits inside the ledger with it, until the other
    # sweep is waiting for the lock too: then both have listed the write as pending.
    await ledger.add_fault("hold", "history")
    sweeps = asyncio.gather(*(replica.server.app[WORKERS].reconciler.run_once() for replica in (first, second)))
    await ledger.wait_held()

    async def lock_waited_for() -> bool:
        async with db.acquire() as conn:
            return await conn.fetchval(
                """SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""")

    await wait_for(lock_waited_for, timeout=5)
    await ledger.release_held()
    await sweeps
    card = await ledger.card(card_id)
    assert card["balance"] == Decimal("60.00")
    assert [t["amount"] for t in card["transactions"]] == [Decimal("-10.00"), Decimal("-20.00"), Decimal("-10.00")]
    async with db.acquire() as conn:
        assert await conn.fetch("SELECT reason FROM ledger_reviews") == []
        assert await conn.fetchval("SELECT verify_state FROM ledger_writes") == "verified"


async def test_a_change_elsewhere_while_a_write_is_settled_is_no_reason_for_review(make_adapter, ledger, db):
    # Settling a write whose PUT may not have landed reads the history after our read, then the
    # card: a checkout landing between the two reads is someone else's change, not a history
    # that fails to explain the balance.
    adapter = await make_adapter(ledger_resend_after_seconds=0)
    card_id = await ledger.make_known_card("settlecard000001", "100.00")
    await ledger.add_fault("error_5xx", "write", count=1)  # our PUT: a 5xx, so its outcome is unknown
    body = authorize_body("settlecard000001", 30, "settle-1")
    assert (await adapter.post("/financial_instruments", json=body, headers=AUTH)).status == 503
    await ledger.add_fault("foreign_change", "history", card_id=card_id, delta="-5.00")

    async def answered():
        response = await adapter.post("/financial_instruments", json=body, headers=AUTH)
        return None if response.status == 503 else response.status

    assert await wait_for(answered, timeout=10, interval=0.2) == 200
    card = await ledger.card(card_id)
    assert card["balance"] == Decimal("65.00")  # 100 - 5 (the checkout) - 30 (ours, sent once)
    async with db.acquire() as conn:
        assert await conn.fetch("SELECT reason FROM ledger_reviews") == []


async def test_a_correction_whose_answer_was_lost_is_settled_from_the_history(make_adapter, ledger, db):
    # Found by chaos (`repair_unsettled` reviews): a correcting PUT whose answer was lost went to
    # review, although the history tells whether it landed. Now it stays 'sending' (blocking our
    # other writes to the card, which it could overwrite) and the sweep settles it.
    adapter = await make_adapter(reconcile_grace_seconds=0)
    card_id = await _debit_over_a_checkout(adapter, ledger, "repaircard000003", "lose_response", "write", 1)
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT verify_state FROM ledger_writes") == "repairing"
        assert await conn.fetchval("SELECT state FROM balance_repairs") == "sending"
    blocked = await adapter.post("/financial_instruments", json=authorize_body("repaircard000003", 5, "next"),
                                 headers=AUTH)
    assert blocked.status == 503

    await adapter.server.app[WORKERS].reconciler.run_once()
    card = await ledger.card(card_id)
    assert card["balance"] == Decimal("60.00")  # 100 - 10 (the checkout) - 30 (ours), restored once
    assert [t["amount"] for t in card["transactions"]] == [Decimal("-10.00"), Decimal("-20.00"), Decimal("-10.00")]
    async with db.acquire() as conn:
        assert await conn.fetch("SELECT reason FROM ledger_reviews") == []
        assert await conn.fetchval("SELECT verify_state FROM ledger_writes WHERE amount = 30") == "verified"
        assert [r["state"] for r in await conn.fetch("SELECT state FROM balance_repairs")] == ["applied"]
    assert (await adapter.post("/financial_instruments", json=authorize_body("repaircard000003", 5, "next"),
                               headers=AUTH)).status == 200


async def test_a_correction_that_did_not_execute_is_made_again_from_a_fresh_read(make_adapter, ledger, db):
    adapter = await make_adapter(reconcile_grace_seconds=0)
    card_id = await _debit_over_a_checkout(adapter, ledger, "repaircard000004", "error_5xx", "write", 1)
    await ledger.add_fault("foreign_change", "read", card_id=card_id, delta="-4.00")  # another checkout, meanwhile
    await adapter.server.app[WORKERS].reconciler.run_once()
    card = await ledger.card(card_id)
    assert card["balance"] == Decimal("56.00")  # 100 - 10 - 30 - 4: every change kept, ours once
    async with db.acquire() as conn:
        assert await conn.fetch("SELECT reason FROM ledger_reviews") == []
        assert await conn.fetchval("SELECT verify_state FROM ledger_writes") == "verified"
        assert [r["state"] for r in await conn.fetch("SELECT state FROM balance_repairs ORDER BY repair_id")] == [
            "absent", "applied"]



async def test_a_put_that_changed_nothing_puts_our_movement_back_on_top(make_adapter, ledger, db):
    """A checkout of exactly our amount lands between our read and our PUT: the PUT sets the
    balance it already has. SHOPLINE answers it and records nothing; found by the chaos run (a
    `put_not_identified` review and an acknowledged debit missing from the ledger), our debit is
    now put back on top by a correcting PUT whose entry stands for the write. Gift Card Hero
    refuses such a PUT (nothing made: a 503, and the retry starts from a fresh read)."""
    from adapter.http.keys import SERVICES
    from adapter.reconciliation import reconcile
    from adapter.services.sync import resync

    adapter = await make_adapter()
    card_id = await ledger.make_known_card("noopcard00000001", "100.00")
    await ledger.add_fault("foreign_change", "read", card_id=card_id, delta="-30.00")
    body = authorize_body("noopcard00000001", 30, "k-noop")
    response = await adapter.post("/financial_instruments", json=body, headers=AUTH)
    if ledger.name == "gifthero":
        assert response.status == 503
        response = await adapter.post("/financial_instruments", json=body, headers=AUTH)
    assert response.status == 200
    assert (await ledger.card(card_id))["balance"] == Decimal("40.00")  # 100 - 30 (checkout) - 30 (ours)
    async with db.acquire() as conn:
        assert await conn.fetch("SELECT reason FROM ledger_reviews") == []
        write = await conn.fetchrow("SELECT verify_state, ledger_transaction_id FROM ledger_writes"
                                    " WHERE operation = 'authorize'")
        repair = await conn.fetchval("SELECT entry_id FROM balance_repairs WHERE state = 'applied'")
    assert write["verify_state"] == "verified"
    if ledger.name == "shopline":
        assert write["ledger_transaction_id"] == repair is not None
    # The feed and the books: the checkout is foreign, our authorization is ours, once each.
    await resync(adapter.server.app[SERVICES], card_id, asyncio.get_running_loop().time() + 5)
    async with db.acquire() as conn:
        events = [tuple(r) for r in await conn.fetch("SELECT kind, origin_cause, amount FROM (SELECT kind,"
                                                      " cause AS origin_cause, amount, event_id FROM feed_events"
                                                      " WHERE kind = 'debited') e ORDER BY event_id")]
        report = await reconcile(conn, datetime.now(UTC) - timedelta(hours=1))
    assert sorted(events, key=lambda e: e[1]) == [("debited", "online_checkout", Decimal("30.00")),
                                                  ("debited", "pos_redemption", Decimal("30"))]
    assert report.clean, report.findings
