"""A fresh claim records its ledger-write intent with it, in its own statement (the card's id
read from the registry there when this process doesn't know it; refund and revoke with their
reservation, see test_reservations): the write it hands back is exactly the row in Postgres, a
losing claim records nothing, and a decline found while planning is stored with the claim."""

import asyncio
import dataclasses
import uuid
from decimal import Decimal

from adapter.store import idempotency as records
from adapter.store import writes
from adapter.store import cards as registry
from adapter.store.writes import Intent, RegisteredCardIntent
from tests import ledger_view
from tests.conftest import AUTH
from tests.integration.test_payments import authorize_body, authorized, call, psp

INTENT = Intent("authorize", code_digest=b"\x01" * 32, shopify_card_id="gid://shopify/GiftCard/7",
                amount=Decimal("12.50"), currency="EUR", instrument_id=uuid.uuid4(),
                context={"metadata": {"order_id": "DEV-1"}, "last4": "4321"})


async def test_the_write_a_winning_claim_returns_is_the_row_it_recorded(db):
    async with db.acquire() as conn:
        record, write = await records.claim_with_intent(conn, "authorize", "k1", b"fp", "owner-a", 20, INTENT)
        stored = await writes.for_idempotency(conn, record.id)
    assert write.counted_now and not stored.counted_now
    assert dataclasses.replace(write, counted_now=False) == stored
    assert stored.attempts == 1 and stored.state == "pending" and stored.may_have_been_sent
    assert record.locked_by == "owner-a" and not record.is_final


async def test_a_losing_claim_records_no_write(db):
    async with db.acquire() as conn:
        first = await records.claim_with_intent(conn, "authorize", "k2", b"fp", "owner-a", 20, INTENT)
        second = await records.claim_with_intent(conn, "authorize", "k2", b"fp", "owner-b", 20, INTENT)
        count = await conn.fetchval("SELECT count(*) FROM ledger_writes")
    assert first is not None and second is None
    assert count == 1


async def test_an_intent_for_a_registered_card_takes_its_id_from_the_registry(db):
    unplaced = dataclasses.replace(INTENT, shopify_card_id=None)
    async with db.acquire() as conn:
        await registry.remember(conn, b"\x02" * 32, "gid://shopify/GiftCard/99", "9999", "EUR", "discovered")
        record, write = await records.claim_with_intent(conn, "authorize", "k3", b"fp", "owner-a", 20,
                                                        RegisteredCardIntent(unplaced, b"\x02" * 32))
        stored = await writes.for_idempotency(conn, record.id)
    assert write.shopify_card_id == stored.shopify_card_id == "gid://shopify/GiftCard/99"
    assert dataclasses.replace(write, counted_now=False) == stored


async def test_an_intent_for_an_unregistered_card_claims_the_key_and_records_nothing(db):
    unplaced = dataclasses.replace(INTENT, shopify_card_id=None)
    async with db.acquire() as conn:
        record, write = await records.claim_with_intent(conn, "authorize", "k4", b"fp", "owner-a", 20,
                                                        RegisteredCardIntent(unplaced, b"\x03" * 32))
        count = await conn.fetchval("SELECT count(*) FROM ledger_writes")
    assert write is None and count == 0
    assert record.locked_by == "owner-a" and not record.is_final


# ---- through the webhooks: what the claim's transaction records -------------------------------


def searches() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("giftcard_adapter_shopify_calls_total",
                                     {"operation": "giftCards", "result": "ok"}) or 0.0


async def test_a_refund_over_the_cap_is_declined_and_stored_with_its_claim(adapter, sandbox, db):
    instrument = await authorized(adapter, sandbox, code="capcard000000001", amount=30)
    await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(10, "cap"))
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_refund", psp(11, "over"))
    assert (status, body["error_code"]) == (400, "instrument_error")
    async with db.acquire() as conn:
        record = await conn.fetchrow("SELECT state, response_status FROM idempotency_keys WHERE key = $1",
                                     f"{instrument}/over")  # refund keys are scoped by instrument
        totals = await conn.fetchrow("SELECT refunded, refund_reserved FROM instruments")
        refund_writes = await conn.fetchval("SELECT count(*) FROM ledger_writes WHERE operation = 'refund'")
    assert dict(record) == {"state": "final", "response_status": 400}
    assert (totals["refunded"], totals["refund_reserved"], refund_writes) == (0, 0, 0)
    again = await adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(11, "over"), headers=AUTH)
    assert again.status == 400 and again.headers["Idempotent-Replayed"] == "true"


async def test_a_refund_under_the_cap_reserves_and_records_its_write_with_the_claim(adapter, sandbox, db):
    instrument = await authorized(adapter, sandbox, code="capcard000000002", amount=30)
    await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(10, "cap"))
    await ledger_view.add_fault(sandbox, kind="hold", operation="giftCardCredit")
    request = asyncio.create_task(
        adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(4, "under"), headers=AUTH))
    for _ in range(200):  # while the credit is held at Shopify: the claim's transaction is committed
        if (await ledger_view.state(sandbox)).get("held", 0):
            break
        await asyncio.sleep(0.01)
    async with db.acquire() as conn:
        reserved = await conn.fetchval("SELECT refund_reserved FROM instruments")
        write = await conn.fetchrow("SELECT state, attempts, amount FROM ledger_writes WHERE operation = 'refund'")
    assert reserved == Decimal(4)
    assert dict(write) == {"state": "pending", "attempts": 1, "amount": Decimal(4)}
    await ledger_view.release_held(sandbox)
    assert (await request).status == 200


async def test_a_replica_that_never_saw_the_card_plans_its_debit_from_the_registry(make_adapter, sandbox, db):
    first = await make_adapter()
    await ledger_view.make_card(sandbox, "registrycard0001", "50.00")
    assert (await call(first, "/gift_card/balance", {"identifier": {"number": "registrycard0001"}}))[0] == 200
    other_replica = await make_adapter()  # its in-process card cache is empty
    searches_before = searches()
    status, body, _ = await call(other_replica, "/financial_instruments", authorize_body("registrycard0001", 20, "reg"))
    assert status == 200, body
    card = await ledger_view.card_by_code(sandbox, "registrycard0001")
    assert ledger_view.balance_of(card) == Decimal(30)
    async with db.acquire() as conn:
        write = await conn.fetchrow("SELECT state, attempts, shopify_card_id FROM ledger_writes")
    assert dict(write) == {"state": "applied", "attempts": 1, "shopify_card_id": card["id"]}
    assert searches() == searches_before  # found in the registry, not by a ledger search


async def test_a_card_found_by_the_ledger_search_is_registered_with_the_intent(adapter, sandbox, db):
    await ledger_view.make_card(sandbox, "onlineonly000001", "20.00")  # bought online: unknown to us
    await ledger_view.add_fault(sandbox, kind="hold", operation="giftCardDebit")
    request = asyncio.create_task(adapter.post(
        "/financial_instruments", json=authorize_body("onlineonly000001", 5, "found"), headers=AUTH))
    await held_at_shopify(sandbox)  # the debit is held: what was committed before it?
    card = await ledger_view.card_by_code(sandbox, "onlineonly000001")
    async with db.acquire() as conn:
        registered = await conn.fetchrow("SELECT shopify_id, last_characters, origin FROM cards")
        write = await conn.fetchrow("SELECT operation, state, attempts, shopify_card_id FROM ledger_writes")
    assert dict(registered) == {"shopify_id": card["id"], "last_characters": "0001", "origin": "discovered"}
    assert dict(write) == {"operation": "authorize", "state": "pending", "attempts": 1, "shopify_card_id": card["id"]}
    await ledger_view.release_held(sandbox)
    assert (await request).status == 200


async def test_a_deactivation_records_its_intent_with_the_claim_before_its_card_is_found(adapter, sandbox, db):
    await ledger_view.make_card(sandbox, "onlineonly000002", "20.00")
    await ledger_view.add_fault(sandbox, kind="hold", operation="giftCardDeactivate")
    searches_before = searches()
    request = asyncio.create_task(adapter.post(
        "/gift_card/deactivate", json={"card_number": "onlineonly000002", "idempotence_key": "d"}, headers=AUTH))
    await held_at_shopify(sandbox)
    async with db.acquire() as conn:
        registered = await conn.fetchval("SELECT count(*) FROM cards")
        write = await conn.fetchrow(
            "SELECT operation, state, attempts, shopify_card_id, code_encrypted IS NOT NULL AS resumable FROM ledger_writes")
    # Everything a resumption needs (the encrypted code) is committed before the deactivation is sent.
    assert dict(write) == {"operation": "deactivate", "state": "pending", "attempts": 1, "shopify_card_id": None,
                           "resumable": True}
    assert registered == 0
    await ledger_view.release_held(sandbox)
    assert (await request).status == 200
    card = await ledger_view.card_by_code(sandbox, "onlineonly000002")
    async with db.acquire() as conn:
        registered = await conn.fetchrow("SELECT shopify_id, origin FROM cards")
        write = await conn.fetchrow("SELECT state, shopify_card_id, code_encrypted FROM ledger_writes")
    assert dict(registered) == {"shopify_id": card["id"], "origin": "discovered"}
    assert dict(write) == {"state": "applied", "shopify_card_id": card["id"], "code_encrypted": None}
    assert card["enabled"] is False and searches() == searches_before + 1


async def test_a_first_sight_deactivation_searches_while_its_claim_is_being_recorded(adapter, sandbox, db):
    await ledger_view.make_card(sandbox, "onlineonly000003", "20.00")
    await ledger_view.add_fault(sandbox, kind="hold", operation="giftCards")
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE idempotency_keys IN EXCLUSIVE MODE")  # every claim waits
        request = asyncio.create_task(adapter.post(
            "/gift_card/deactivate", json={"card_number": "onlineonly000003", "idempotence_key": "d3"}, headers=AUTH))
        await held_at_shopify(sandbox)  # the search reached Shopify while the claim could not commit
    await ledger_view.release_held(sandbox)
    assert (await request).status == 200
    assert (await ledger_view.card_by_code(sandbox, "onlineonly000003"))["enabled"] is False


async def test_a_deactivation_of_a_registered_card_new_to_this_replica_uses_the_registry(make_adapter, sandbox, db):
    # The search started ahead is wasted then; the deactivation follows the registry's id.
    first = await make_adapter()
    await ledger_view.make_card(sandbox, "registrycard0002", "5.00")
    assert (await call(first, "/gift_card/balance", {"identifier": {"number": "registrycard0002"}}))[0] == 200
    other_replica = await make_adapter()
    status, body, _ = await call(other_replica, "/gift_card/deactivate",
                                 {"card_number": "registrycard0002", "idempotence_key": "d4"})
    assert status == 200, body
    card = await ledger_view.card_by_code(sandbox, "registrycard0002")
    async with db.acquire() as conn:
        write = await conn.fetchrow("SELECT state, shopify_card_id FROM ledger_writes")
    assert card["enabled"] is False and dict(write) == {"state": "applied", "shopify_card_id": card["id"]}

async def held_at_shopify(sandbox) -> None:
    for _ in range(200):
        if (await ledger_view.state(sandbox)).get("held", 0):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no call was held")
