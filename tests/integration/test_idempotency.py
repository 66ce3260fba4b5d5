"""Same key, same answer: replays, changed bodies, concurrent duplicates, transient failures, on
each ledger."""

import asyncio
from decimal import Decimal

from prometheus_client import REGISTRY

from tests.conftest import AUTH
from tests.integration.test_giftcard_endpoints import activate_body, issue_body


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_replay_with_a_changed_body_returns_the_stored_answer_byte_for_byte(adapter, ledger):
    first = await adapter.post("/gift_card/issue", json=issue_body(value=50, key="same"), headers=AUTH)
    first_raw = await first.read()
    mismatches = metric("giftcard_adapter_idempotency_mismatches_total", operation="issue")
    second = await adapter.post("/gift_card/issue", json=issue_body(value=75, key="same"), headers=AUTH)
    assert second.status == first.status == 200
    assert await second.read() == first_raw
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert metric("giftcard_adapter_idempotency_mismatches_total", operation="issue") == mismatches + 1
    [card] = await ledger.cards()
    assert card["balance"] == Decimal("50")


async def test_an_invalid_body_under_a_used_key_still_replays(adapter, ledger):
    first = await adapter.post("/gift_card/activate", json=activate_body("replayinvalid001", key="k-inv"), headers=AUTH)
    assert first.status == 200
    again = await adapter.post("/gift_card/activate", json={"idempotence_key": "k-inv"}, headers=AUTH)
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == {"identifier": {"number": "replayinvalid001"}}


async def test_keys_are_scoped_by_operation(adapter, ledger):
    await adapter.post("/gift_card/activate", json=activate_body("scopedkey0000001", key="shared"), headers=AUTH)
    response = await adapter.post("/gift_card/deactivate", json={"card_number": "scopedkey0000001", "idempotence_key": "shared"},
                                  headers=AUTH)
    assert response.status == 200 and "Idempotent-Replayed" not in response.headers
    card = await ledger.card_by_code("scopedkey0000001")
    assert card["enabled"] is False


async def test_twenty_concurrent_duplicates_make_exactly_one_ledger_mutation(adapter, ledger):
    body = issue_body(value=20, key="twenty")
    responses = await asyncio.gather(*(adapter.post("/gift_card/issue", json=body, headers=AUTH) for _ in range(20)))
    bodies = {await r.read() for r in responses}
    assert [r.status for r in responses] == [200] * 20
    assert len(bodies) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert len(await ledger.cards()) == 1


async def test_twenty_concurrent_activations_make_one_card(adapter, ledger):
    body = activate_body("concurrentact001", key="twenty-act")
    responses = await asyncio.gather(*(adapter.post("/gift_card/activate", json=body, headers=AUTH) for _ in range(20)))
    assert {r.status for r in responses} == {200}
    [card] = await ledger.cards()
    assert card["balance"] == Decimal("100")


async def test_a_duplicate_waits_then_gets_503_while_the_first_is_still_running(make_adapter, ledger):
    adapter = await make_adapter(idempotency_wait_seconds=0.3)
    await ledger.add_fault("hold", "create")
    first = asyncio.create_task(adapter.post("/gift_card/activate", json=activate_body("heldcard00000001", key="held"), headers=AUTH))
    await ledger.wait_held()  # the first request's create is inside the ledger
    duplicate = await adapter.post("/gift_card/activate", json=activate_body("heldcard00000001", key="held"), headers=AUTH)
    assert duplicate.status == 503
    assert duplicate.headers["Retry-After"] == "1"
    assert (await duplicate.json())["error_code"] == "retry_error"
    await ledger.release_held()
    assert (await first).status == 200
    replay = await adapter.post("/gift_card/activate", json=activate_body("heldcard00000001", key="held"), headers=AUTH)
    assert replay.status == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert len(await ledger.cards()) == 1


async def test_a_transient_failure_is_not_stored_and_the_retry_succeeds(adapter, ledger, db):
    await ledger.add_fault("error_5xx", "create", count=1)
    failed = await adapter.post("/gift_card/activate", json=activate_body("transient0000001", key="t-1"), headers=AUTH)
    assert failed.status == 503 and (await failed.json())["error_code"] == "retry_error"
    assert "Retry-After" in failed.headers
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT state FROM idempotency_keys") == "open"
    retried = await adapter.post("/gift_card/activate", json=activate_body("transient0000001", key="t-1"), headers=AUTH)
    assert retried.status == 200 and "Idempotent-Replayed" not in retried.headers
    assert len(await ledger.cards()) == 1


async def test_a_lost_create_response_is_settled_by_the_retry_without_a_second_card(adapter, ledger):
    await ledger.add_fault("lose_response", "create", count=1)
    lost = await adapter.post("/gift_card/issue", json=issue_body(value=40, key="lost"), headers=AUTH)
    assert lost.status == 503
    assert len(await ledger.cards()) == 1  # it did land
    retried = await adapter.post("/gift_card/issue", json=issue_body(value=40, key="lost"), headers=AUTH)
    assert retried.status == 200
    [card] = await ledger.cards()
    assert card["code"] == (await retried.json())["identifier"]["number"]


async def test_a_lost_activation_response_is_settled_by_the_retry(adapter, ledger):
    await ledger.add_fault("lose_response", "create", count=1)
    lost = await adapter.post("/gift_card/activate", json=activate_body("lostactivation01", key="la"), headers=AUTH)
    assert lost.status == 503
    retried = await adapter.post("/gift_card/activate", json=activate_body("lostactivation01", key="la"), headers=AUTH)
    assert (retried.status, await retried.json()) == (200, {"identifier": {"number": "lostactivation01"}})
    assert len(await ledger.cards()) == 1


async def test_stored_answers_with_a_card_number_are_encrypted_at_rest(adapter, db):
    response = await adapter.post("/gift_card/activate", json=activate_body("encryptedcard001", key="enc"), headers=AUTH)
    assert response.status == 200
    async with db.acquire() as conn:
        row = await conn.fetchrow("SELECT response_body, response_encrypted FROM idempotency_keys")
    assert row["response_encrypted"] is True and b"encryptedcard001" not in row["response_body"]
