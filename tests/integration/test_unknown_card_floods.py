"""Unknown-card floods (issue #10): searches are shared, remembered and rationed, so that they
cannot drain the shop's bucket, and a replayed deactivation never searches at all. Adapter over
real HTTP, real Postgres, the sandbox over real HTTP; searches counted by the sandbox."""

import asyncio
import secrets

from tests import ledger_view
from tests.conftest import AUTH
from tests.integration.test_giftcard_endpoints import activate_body, post


def random_code() -> str:
    return secrets.token_hex(8)


async def searches(sandbox) -> int:
    return await ledger_view.calls(sandbox, "giftCards")


async def ask_balance(client, code):
    return await post(client, "/gift_card/balance", {"identifier": {"number": code}})


async def test_a_flood_of_unknown_codes_spends_only_the_lookup_share_and_known_cards_still_answer(
        adapter, sandbox):
    # A small bucket that hardly refills during the test: what the searches may spend is
    # about the lookup share of it, whatever the machine's speed.
    size, share = 200, 0.5
    await ledger_view.configure(sandbox, bucket_size=size, restore_rate=0.01)
    known = "knowncard0000001"
    await ledger_view.make_card(sandbox, known, "40.00")
    assert (await ask_balance(adapter, known))[0] == 200  # found, registered; the bucket is known
    before = await searches(sandbox)

    # 400 random codes at once, the known card asked after every 20th of them.
    asked = [code for index in range(400) for code in ([random_code(), known] if index % 20 == 19 else [random_code()])]
    answers = await asyncio.gather(*(ask_balance(adapter, code) for code in asked))

    known_answers = [(status, body) for code, (status, body, _) in zip(asked, answers) if code == known]
    flood_answers = [answer for code, answer in zip(asked, answers) if code != known]
    assert known_answers == [(200, {"value": 40, "currency": "USD"})] * 20
    statuses = sorted({status for status, _, _ in flood_answers})
    assert statuses == [400, 503]
    for status, body, headers in flood_answers:
        if status == 503:  # not known to be unknown: honest about it, and retryable
            assert body["error_code"] == "retry_error" and int(headers["Retry-After"]) >= 1
        else:
            assert body["message"] == "unknown gift card"
    searched = await searches(sandbox) - before
    state = await ledger_view.state(sandbox)
    # A search costs 2 points here: the share allows about size * share / 2 of them.
    assert 0 < searched <= size * share / 2
    # The searches never took the bucket below the part kept for money calls; only the known
    # card's reads (1 point each) may have spent from it.
    assert state["bucket_minimum"] >= size * (1 - share) - len(known_answers)


async def test_the_same_unknown_code_asked_again_makes_one_search(adapter, sandbox):
    code = random_code()
    before = await searches(sandbox)
    together = await asyncio.gather(ask_balance(adapter, code), ask_balance(adapter, code))
    again = await ask_balance(adapter, code)
    assert [(status, body["message"]) for status, body, _ in (*together, again)] == [(400, "unknown gift card")] * 3
    assert await searches(sandbox) - before == 1


async def test_a_card_found_by_a_search_is_not_searched_for_again(adapter, sandbox):
    await ledger_view.make_card(sandbox, "webshopcard00001", "15.00")
    before = await searches(sandbox)
    answers = await asyncio.gather(*(ask_balance(adapter, "webshopcard00001") for _ in range(5)))
    assert [status for status, _, _ in answers] == [200] * 5
    assert await searches(sandbox) - before == 1


async def test_replays_of_a_deactivation_key_search_at_most_once(make_adapter, sandbox):
    first_replica, second_replica = await make_adapter(), await make_adapter()
    code = random_code()  # nobody's card: the answer is a stored decline
    body = {"card_number": code, "idempotence_key": "deactivate-replayed"}
    before = await searches(sandbox)
    concurrent = await asyncio.gather(*(post(first_replica, "/gift_card/deactivate", body) for _ in range(50)))
    assert {(status, answer["message"]) for status, answer, _ in concurrent} == {(400, "unknown gift card")}
    # Another replica has no memory of the code: the key's stored answer is found before any search.
    for _ in range(50):
        status, _, headers = await post(second_replica, "/gift_card/deactivate", body)
        assert (status, headers["Idempotent-Replayed"]) == (400, "true")
    assert await searches(sandbox) - before <= 1


async def test_replays_of_a_web_shop_card_deactivation_search_once(make_adapter, sandbox):
    first_replica, second_replica = await make_adapter(), await make_adapter()
    await ledger_view.make_card(sandbox, "webshopcard00002", "5.00")
    body = {"card_number": "webshopcard00002", "idempotence_key": "deactivate-web"}
    before = await searches(sandbox)
    concurrent = await asyncio.gather(*(post(first_replica, "/gift_card/deactivate", body) for _ in range(50)))
    assert {status for status, _, _ in concurrent} == {200}
    for client in (first_replica, second_replica):
        assert (await post(client, "/gift_card/deactivate", body))[0] == 200
    assert await searches(sandbox) - before == 1
    assert (await ledger_view.card_by_code(sandbox, "webshopcard00002"))["enabled"] is False


async def test_a_code_remembered_unknown_is_found_at_once_once_activated_here(adapter, sandbox):
    code = random_code()
    assert (await ask_balance(adapter, code))[0] == 400
    status, _, _ = await post(adapter, "/gift_card/activate", activate_body(code, 25, key="activate-remembered"))
    assert status == 200
    before = await searches(sandbox)
    assert (await ask_balance(adapter, code))[:2] == (200, {"value": 25, "currency": "USD"})
    assert await searches(sandbox) == before


async def test_a_code_remembered_unknown_is_found_at_once_once_another_replica_registered_it(make_adapter, sandbox):
    remembering, other_replica = await make_adapter(), await make_adapter()
    code = random_code()
    assert (await ask_balance(remembering, code))[0] == 400
    activated = await post(other_replica, "/gift_card/activate", activate_body(code, 30, key="activate-elsewhere"))
    assert activated[0] == 200
    # The registry is read before the memory of unknown codes may refuse.
    assert (await ask_balance(remembering, code))[:2] == (200, {"value": 30, "currency": "USD"})


async def test_a_web_shop_card_made_after_its_code_was_remembered_unknown_is_refused_for_the_ttl(
        make_adapter, sandbox):
    remembering, forgetful = await make_adapter(), await make_adapter(unknown_card_ttl_seconds=0)
    code = random_code()
    for client in (remembering, forgetful):
        assert (await ask_balance(client, code))[0] == 400
    await ledger_view.make_card(sandbox, code, "12.00")
    # The documented price of the memory; with the TTL at 0 nothing is remembered.
    assert (await ask_balance(remembering, code))[1]["message"] == "unknown gift card"
    assert (await ask_balance(forgetful, code))[:2] == (200, {"value": 12, "currency": "USD"})


async def test_an_authorization_for_an_unknown_code_is_remembered_too(adapter, sandbox):
    from tests.integration.test_payments import authorize_body

    code = random_code()
    before = await searches(sandbox)
    for key in ("auth-unknown-1", "auth-unknown-2"):
        response = await adapter.post("/financial_instruments", json=authorize_body(code, 5, key), headers=AUTH)
        assert response.status == 400
    assert await searches(sandbox) - before == 1


async def test_a_card_its_search_ahead_found_before_the_claim_committed_is_still_registered(adapter, sandbox, db):
    from adapter.domain.cardcode import CardCode
    from adapter.http.keys import SERVICES

    services = adapter.app[SERVICES]
    digest = services.vault.digest(CardCode("webshopcard00003"))
    await ledger_view.make_card(sandbox, "webshopcard00003", "5.00")
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE idempotency_keys IN EXCLUSIVE MODE")  # the claim waits
        request = asyncio.create_task(adapter.post(
            "/gift_card/deactivate", json={"card_number": "webshopcard00003", "idempotence_key": "d-early"},
            headers=AUTH))
        while services.card_ids.get(digest) is None:  # the search ahead has found it
            await asyncio.sleep(0.01)
    assert (await request).status == 200
    card = await ledger_view.card_by_code(sandbox, "webshopcard00003")
    async with db.acquire() as conn:
        registered = await conn.fetchrow("SELECT shopify_id, origin FROM cards")
    assert dict(registered) == {"shopify_id": card["id"], "origin": "discovered"}
    assert card["enabled"] is False
