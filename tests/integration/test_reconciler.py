"""The reconciler settles what nobody retries (on each ledger); the reaper expires old keys;
replicas don't collide."""

import asyncio
from decimal import Decimal

from adapter.http.keys import WORKERS
from tests.conftest import AUTH
from tests.integration.test_giftcard_endpoints import activate_body, issue_body
from tests.integration.test_payments import authorize_body, new_card, psp


def workers(adapter):
    return adapter.server.app[WORKERS]


async def record_state(db, key):
    async with db.acquire() as conn:
        # Capture, refund and revoke keys are scoped by their instrument ("<id>/<key>").
        return await conn.fetchval("SELECT state FROM idempotency_keys WHERE key = $1 OR key LIKE '%/' || $1", key)


async def unanswered_debit(adapter, ledger, code, key):
    """An authorization of 25 on a new card of 100 whose answer the ledger lost: the debit
    landed, NewStore got the 503 (returned)."""
    await new_card(ledger, code, "100.00")
    await ledger.add_fault("lose_response", "debit", count=1)
    return await adapter.post("/financial_instruments", json=authorize_body(code, 25, key), headers=AUTH)


async def test_a_lost_refund_nobody_retries_is_completed(make_adapter, ledger, db):
    adapter = await make_adapter(reconcile_grace_seconds=0)
    await new_card(ledger, "reconrefund00001", "100.00")
    auth = await (await adapter.post("/financial_instruments", json=authorize_body("reconrefund00001", 30, "ra"), headers=AUTH)).json()
    instrument = auth[0]["instrument_id"]
    await adapter.post(f"/financial_instruments/{instrument}/_capture", json=psp(30, "rc"), headers=AUTH)
    await ledger.add_fault("lose_response", "credit", count=1)
    lost = await adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(10, "rr"), headers=AUTH)
    assert lost.status == 503
    assert await workers(adapter).reconciler.run_once() == {"completed": 1}
    assert await record_state(db, "rr") == "final"
    # NewStore's late retry gets the success the reconciler stored.
    retried = await adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(10, "rr"), headers=AUTH)
    assert retried.status == 200 and retried.headers["Idempotent-Replayed"] == "true"
    async with db.acquire() as conn:
        row = await conn.fetchrow("SELECT refunded, refund_reserved FROM instruments")
    assert (row["refunded"], row["refund_reserved"]) == (Decimal(10), Decimal(0))
    card = await ledger.card_by_code("reconrefund00001")
    assert card["balance"] == Decimal("80") and len(card["transactions"]) == 2


async def test_a_failed_refund_nobody_retries_is_abandoned_and_its_reservation_released(make_adapter, ledger, db):
    adapter = await make_adapter(reconcile_grace_seconds=0, ledger_resend_after_seconds=0)
    await new_card(ledger, "reconabandon0001", "100.00")
    auth = await (await adapter.post("/financial_instruments", json=authorize_body("reconabandon0001", 30, "aa"), headers=AUTH)).json()
    instrument = auth[0]["instrument_id"]
    await adapter.post(f"/financial_instruments/{instrument}/_capture", json=psp(30, "ac"), headers=AUTH)
    await ledger.add_fault("error_5xx", "credit", count=1)
    failed = await adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(30, "ar"), headers=AUTH)
    assert failed.status == 503
    assert await workers(adapter).reconciler.run_once() == {"abandoned": 1}
    assert await record_state(db, "ar") is None
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT refund_reserved FROM instruments") == 0
    # The whole captured amount is refundable again, and a retry is processed anew.
    retried = await adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(30, "ar"), headers=AUTH)
    assert retried.status == 200 and "Idempotent-Replayed" not in retried.headers
    card = await ledger.card_by_code("reconabandon0001")
    assert card["balance"] == Decimal("100") and len(card["transactions"]) == 2


async def test_an_unanswered_debit_is_reversed_after_the_bound(make_adapter, ledger, db):
    adapter = await make_adapter(reconcile_grace_seconds=0, reverse_unanswered_debit_after_seconds=0)
    lost = await unanswered_debit(adapter, ledger, "reconreverse0001", "rv")
    assert lost.status == 503
    assert await workers(adapter).reconciler.run_once() == {"reversed": 1}
    card = await ledger.card_by_code("reconreverse0001")
    assert card["balance"] == Decimal("100")
    assert [t["amount"] for t in card["transactions"]] == [Decimal(-25), Decimal(25)]
    async with db.acquire() as conn:
        written = await conn.fetch("SELECT operation, state, ledger_transaction_id FROM ledger_writes ORDER BY created_at")
    assert [(w["operation"], w["state"]) for w in written] == [("authorize", "applied"), ("reverse", "applied")]
    assert [w["ledger_transaction_id"] for w in written] == [t["id"] for t in card["transactions"]]
    if ledger.notes:
        notes = [t["note"] for t in card["transactions"]]
        assert notes[0].startswith("gca:v1:authorize:") and notes[1].startswith("gca:v1:reverse:")
    retried = await adapter.post("/financial_instruments", json=authorize_body("reconreverse0001", 25, "rv"), headers=AUTH)
    body = await retried.json()
    assert retried.status == 400 and body["error_code"] == "instrument_error"


async def test_a_retry_that_finds_the_reverse_begun_finishes_it_and_is_declined(make_adapter, ledger, db):
    # The settler's credit-back lost its answer: the key's latest write is the reverse. NewStore's
    # late retry must finish that credit and answer the decline, never 200 for the debit.
    adapter = await make_adapter(reconcile_grace_seconds=0, reverse_unanswered_debit_after_seconds=0)
    await unanswered_debit(adapter, ledger, "reconreverse0002", "rb")
    await ledger.add_fault("lose_response", "credit", count=1)
    assert await workers(adapter).reconciler.run_once() == {"deferred": 1}
    retried = await adapter.post("/financial_instruments", json=authorize_body("reconreverse0002", 25, "rb"), headers=AUTH)
    assert retried.status == 400 and (await retried.json())["error_code"] == "instrument_error"
    card = await ledger.card_by_code("reconreverse0002")
    assert card["balance"] == Decimal("100")
    assert [t["amount"] for t in card["transactions"]] == [Decimal(-25), Decimal(25)]
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM instruments") == 0
        written = await conn.fetch("SELECT operation, state FROM ledger_writes ORDER BY created_at")
    assert [(w["operation"], w["state"]) for w in written] == [("authorize", "applied"), ("reverse", "applied")]


async def test_a_credit_back_recorded_and_never_sent_is_sent_by_the_next_settler(make_adapter, ledger, db,
                                                                                 monkeypatch):
    """The settler recorded the reverse of an unanswered debit, then stopped before sending it
    (its lease ran out, the process died). The next settler must send it: before, it took the
    unsent reverse for a write never sent and forgot the record, leaving the debit unanswered
    and never credited back (found by reconciling after the chaos run)."""
    from adapter.idempotency.coordinator import LeaseLost
    from adapter.services import settlement

    adapter = await make_adapter(reconcile_grace_seconds=0, reverse_unanswered_debit_after_seconds=0)
    lost = await unanswered_debit(adapter, ledger, "reconreverse0003", "rc")
    assert lost.status == 503
    reverse_unanswered = settlement.reverse_unanswered

    async def stops_before_sending(*args, **kwargs):
        raise LeaseLost()

    monkeypatch.setattr(settlement, "reverse_unanswered", stops_before_sending)
    await workers(adapter).reconciler.run_once()
    async with db.acquire() as conn:
        assert [tuple(r) for r in await conn.fetch("SELECT operation, state, attempts FROM ledger_writes"
                                                    " ORDER BY created_at")] == [("authorize", "applied", 1),
                                                                                 ("reverse", "pending", 0)]
    monkeypatch.setattr(settlement, "reverse_unanswered", reverse_unanswered)
    await workers(adapter).reconciler.run_once()
    card = await ledger.card_by_code("reconreverse0003")
    assert card["balance"] == Decimal("100")  # credited back
    async with db.acquire() as conn:
        written = await conn.fetch("SELECT operation, state, idempotency_id FROM ledger_writes ORDER BY created_at")
    assert [(w["operation"], w["state"]) for w in written] == [("authorize", "applied"), ("reverse", "applied")]
    assert all(w["idempotency_id"] is not None for w in written)  # the record kept, answered
    assert await record_state(db, "rc") == "final"


async def test_a_credit_back_the_ledger_refuses_goes_to_review_and_keeps_the_key(make_adapter, ledger, db):
    """The unanswered debit's card was deactivated before the settler could credit it back: the
    ledger refuses the reverse. The money stays taken, so the key must not be forgotten (the
    debit would be left on the ledger with nothing in our books naming it: the chaos run's
    reconcile found such orphans). It is answered with a final decline, and a review names it."""
    from datetime import UTC, datetime, timedelta

    from adapter.http.keys import SERVICES
    from adapter.reconciliation import reconcile
    from adapter.services.payments import REVERSE_REFUSED_MESSAGE
    from adapter.services.reread import reread

    adapter = await make_adapter(reconcile_grace_seconds=0, reverse_unanswered_debit_after_seconds=0)
    assert (await unanswered_debit(adapter, ledger, "reconrefused0004", "rr")).status == 503
    deactivated = await adapter.post("/gift_card/deactivate", json={"card_number": "reconrefused0004",
                                                                    "idempotence_key": "rr-off"}, headers=AUTH)
    assert deactivated.status == 200
    for _ in range(2):  # a second pass finds nothing left to do: the key stays, answered
        await workers(adapter).reconciler.run_once()
    card = await ledger.card_by_code("reconrefused0004")
    assert card["balance"] == Decimal("75")  # not credited back: a person must return it
    async with db.acquire() as conn:
        written = await conn.fetch("SELECT operation, state, idempotency_id, shopify_card_id FROM ledger_writes"
                                   " WHERE operation IN ('authorize', 'reverse') ORDER BY created_at")
        reviews = await conn.fetch("SELECT r.reason, r.detail, w.operation FROM ledger_reviews r"
                                   " JOIN ledger_writes w USING (write_id)")
    assert [(w["operation"], w["state"]) for w in written] == [("authorize", "applied"), ("reverse", "declined")]
    assert all(w["idempotency_id"] is not None for w in written)  # the record kept
    assert [(r["reason"], r["operation"]) for r in reviews] == [("reverse_refused", "reverse")]
    assert '"amount":"25.00"' in reviews[0]["detail"].replace(" ", "")
    assert await record_state(db, "rr") == "final"
    retried = await adapter.post("/financial_instruments", json=authorize_body("reconrefused0004", 25, "rr"),
                                 headers=AUTH)
    assert retried.status == 400 and REVERSE_REFUSED_MESSAGE in await retried.text()
    # The books: the debit is drift (money taken for no operation) and names its review.
    await reread(adapter.server.app[SERVICES], written[0]["shopify_card_id"],
                 asyncio.get_running_loop().time() + 5)
    async with db.acquire() as conn:
        report = await reconcile(conn, datetime.now(UTC) - timedelta(hours=1))
    [orphan] = [f for f in report.findings if f.kind == "orphan_entry"]
    assert orphan.operation == "authorize" and orphan.last_characters == "0004"
    assert "refused its credit-back: review #" in orphan.detail


async def _taken_over_while_settling(monkeypatch, db):
    """While the settler reads the ledger, a caller's retry takes the key over (the settler's
    lease, leased with a batch, has run out)."""
    from adapter.services import settlement
    find_settled = settlement.find_settled

    async def retry_takes_over(services, write, deadline):
        async with db.acquire() as conn:
            await conn.execute("UPDATE idempotency_keys SET locked_by = 'a-retry', locked_until = now() + interval '1 minute'")
        return await find_settled(services, write, deadline)

    monkeypatch.setattr(settlement, "find_settled", retry_takes_over)


async def test_a_settler_whose_key_was_taken_over_does_not_reverse_the_debit(make_adapter, ledger, db, monkeypatch):
    adapter = await make_adapter(reconcile_grace_seconds=0, reverse_unanswered_debit_after_seconds=0)
    await unanswered_debit(adapter, ledger, "reconreverse0003", "rt")
    await _taken_over_while_settling(monkeypatch, db)
    assert await workers(adapter).reconciler.run_once() == {"deferred": 1}
    card = await ledger.card_by_code("reconreverse0003")
    assert card["balance"] == Decimal("75") and len(card["transactions"]) == 1
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ledger_writes WHERE operation = 'reverse'") == 0


async def test_a_settler_whose_key_was_taken_over_keeps_the_reservation(make_adapter, ledger, db, monkeypatch):
    # The retry that holds the key may be crediting this very write: giving its reservation back
    # would let the instrument refund more than was captured.
    adapter = await make_adapter(reconcile_grace_seconds=0, ledger_resend_after_seconds=0)
    await new_card(ledger, "reconabandon0002", "100.00")
    auth = await (await adapter.post("/financial_instruments", json=authorize_body("reconabandon0002", 30, "ta"), headers=AUTH)).json()
    instrument = auth[0]["instrument_id"]
    await adapter.post(f"/financial_instruments/{instrument}/_capture", json=psp(30, "tc"), headers=AUTH)
    await ledger.add_fault("error_5xx", "credit", count=1)
    assert (await adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(30, "tr"), headers=AUTH)).status == 503
    await _taken_over_while_settling(monkeypatch, db)
    assert await workers(adapter).reconciler.run_once() == {"deferred": 1}
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT refund_reserved FROM instruments") == Decimal(30)
        assert await conn.fetchval("SELECT state FROM ledger_writes WHERE operation = 'refund'") != "abandoned"
        assert await record_state(db, "tr") == "open"


async def test_a_record_taken_over_before_its_turn_in_the_batch_is_skipped(make_adapter, ledger, db, monkeypatch):
    adapter = await make_adapter(reconcile_grace_seconds=0, reverse_unanswered_debit_after_seconds=0)
    await unanswered_debit(adapter, ledger, "reconreverse0004", "rs")
    from adapter.store import maintenance
    claim_stale = maintenance.claim_stale

    async def leased_then_taken_over(conn, *args):
        leased = await claim_stale(conn, *args)
        await conn.execute("UPDATE idempotency_keys SET locked_by = 'a-retry'")
        return leased

    monkeypatch.setattr(maintenance, "claim_stale", leased_then_taken_over)
    assert await workers(adapter).reconciler.run_once() == {"taken_over": 1}
    card = await ledger.card_by_code("reconreverse0004")
    assert card["balance"] == Decimal("75") and len(card["transactions"]) == 1


async def test_an_unanswered_debit_waits_for_the_retry_before_the_bound(make_adapter, ledger, db):
    adapter = await make_adapter(reconcile_grace_seconds=0)
    await unanswered_debit(adapter, ledger, "reconwait0000001", "w")
    assert await workers(adapter).reconciler.run_once() == {"awaiting_retry": 1}
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT state FROM ledger_writes") == "applied"
    reads = await ledger.calls("read") + await ledger.calls("history")
    assert await workers(adapter).reconciler.run_once() == {"awaiting_retry": 1}
    # Known now: later passes don't read the card or its history again.
    assert await ledger.calls("read") + await ledger.calls("history") == reads
    retried = await adapter.post("/financial_instruments", json=authorize_body("reconwait0000001", 25, "w"), headers=AUTH)
    assert retried.status == 200
    card = await ledger.card_by_code("reconwait0000001")
    assert card["balance"] == Decimal("75") and len(card["transactions"]) == 1


async def test_an_activation_whose_process_died_is_finished_and_reported(make_adapter, ledger, db):
    adapter = await make_adapter(reconcile_grace_seconds=0)
    await ledger.add_fault("error_5xx", "create", count=1)
    failed = await adapter.post("/gift_card/activate", json=activate_body("reconactivate001", key="ra"), headers=AUTH)
    assert failed.status == 503
    assert await workers(adapter).reconciler.run_once() == {"completed": 1}
    card = await ledger.card_by_code("reconactivate001")
    assert card["balance"] == Decimal("100")
    replay = await adapter.post("/gift_card/activate", json=activate_body("reconactivate001", key="ra"), headers=AUTH)
    assert replay.status == 200 and replay.headers["Idempotent-Replayed"] == "true"



async def test_a_failed_deactivation_of_a_card_found_by_search_is_finished(make_adapter, ledger, db):
    # Its intent was recorded before the card was found: the reconciler finds the card again
    # (on Gift Card Hero, which has no search, in our registry, where the operator put it).
    adapter = await make_adapter(reconcile_grace_seconds=0)
    await new_card(ledger, "recondeact000001", "10.00")
    await ledger.add_fault("error_5xx", "deactivate", count=1)
    body = {"card_number": "recondeact000001", "idempotence_key": "rd"}
    failed = await adapter.post("/gift_card/deactivate", json=body, headers=AUTH)
    assert failed.status == 503
    assert await workers(adapter).reconciler.run_once() == {"completed": 1}
    card = await ledger.card_by_code("recondeact000001")
    assert card["enabled"] is False
    async with db.acquire() as conn:
        write = await conn.fetchrow("SELECT state, shopify_card_id FROM ledger_writes")
    assert dict(write) == {"state": "applied", "shopify_card_id": card["id"]}
    replay = await adapter.post("/gift_card/deactivate", json=body, headers=AUTH)
    assert replay.status == 200 and replay.headers["Idempotent-Replayed"] == "true"

async def test_two_replicas_reconcile_without_stepping_on_each_other(make_adapter, ledger, db):
    first = await make_adapter(reconcile_grace_seconds=0)
    second = await make_adapter(reconcile_grace_seconds=0)
    for index in range(6):
        await ledger.add_fault("lose_response", "create", count=1)
        response = await first.post("/gift_card/issue", json=issue_body(key=f"multi-{index}"), headers=AUTH)
        assert response.status == 503
    results = await asyncio.gather(workers(first).reconciler.run_once(), workers(second).reconciler.run_once())
    assert sum(sum(r.values()) for r in results) == 6
    assert len(await ledger.cards()) == 6
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE state = 'final'") == 6


async def test_the_reaper_deletes_expired_records_in_batches_and_keeps_audit_rows(adapter, db):
    for index in range(3):
        await adapter.post("/gift_card/issue", json=issue_body(key=f"old-{index}"), headers=AUTH)
    async with db.acquire() as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '31 days'")
        audit_rows = await conn.fetchval("SELECT count(*) FROM audit_log")
    reaper = workers(adapter).reaper
    assert await reaper.run_once() == 3
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == audit_rows == 3
    # After retention a reused key is a new request.
    again = await adapter.post("/gift_card/issue", json=issue_body(key="old-0"), headers=AUTH)
    assert again.status == 200 and "Idempotent-Replayed" not in again.headers


async def test_the_reconciler_settles_as_background_work(make_adapter, ledger, db, monkeypatch):
    """Its ledger calls are made inside ports.background_work(): on a ledger that rations its budget
    they never queue in front of NewStore's calls (test_shopify_client_transport shows the terms)."""
    from adapter.ports import is_background_work
    from adapter.services import workers as module

    seen = []
    real = module.settle

    async def spy(*args, **kwargs):
        seen.append(is_background_work())
        return await real(*args, **kwargs)

    monkeypatch.setattr(module, "settle", spy)
    adapter = await make_adapter(reconcile_grace_seconds=0)
    await new_card(ledger, "reconbackgrnd001", "100.00")
    auth = await (await adapter.post("/financial_instruments", json=authorize_body("reconbackgrnd001", 30, "ba"),
                                     headers=AUTH)).json()
    instrument = auth[0]["instrument_id"]
    await adapter.post(f"/financial_instruments/{instrument}/_capture", json=psp(30, "bc"), headers=AUTH)
    await ledger.add_fault("lose_response", "credit", count=1)
    lost = await adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(10, "br"), headers=AUTH)
    assert lost.status == 503
    assert await workers(adapter).reconciler.run_once() == {"completed": 1}
    assert seen == [True] and not is_background_work()
