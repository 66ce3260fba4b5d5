"""The gift_card tender end to end: authorize, capture, refund, revoke, on each ledger.

After each test the ledger is checked: every balance equals its initial value plus its
transactions, and (where balance changes carry notes) every transaction we made carries its
marker. Cards "bought online" are made in the ledger directly; on a ledger that can't find a
card by its code (Gift Card Hero) they are registered first, as an operator's import would."""

import asyncio
import re
import uuid
from decimal import Decimal

import pytest

from tests import ledger_view
from tests.conftest import AUTH
from tests.served import wait_for

MARKER = re.compile(r"^gca:v1:(authorize|refund|revoke|reverse):[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
async def ledger_is_consistent(ledger_if_any):
    yield
    ledger = ledger_if_any
    if ledger is None:
        return  # a test that never reaches a ledger
    await ledger.assert_consistent()
    for card in await ledger.cards():
        for transaction in card["transactions"]:
            if transaction.get("note") is not None and transaction["note"].startswith("gca:"):
                assert MARKER.match(transaction["note"]), transaction["note"]


def psp(amount, key, currency="USD", **extra):
    body = {"account_id": "a114c7ee-06c2-5752-ae58-1bc67eaf8e01", "transactions": [], "idempotency_key": key,
            "arguments": {"amount": amount, "currency": currency},
            "metadata": {"order_id": "DEV-2243580", "processed_at": "2026-11-20T15:13:21"}}
    body.update(extra)
    return body


def authorize_body(number, amount, key, currency="USD"):
    body = psp(amount, key, currency)
    body["arguments"]["payment_method"] = "gift_card"
    body["metadata"]["number"] = number
    return body


async def call(client, path, body):
    response = await client.post(path, json=body, headers=AUTH)
    return response.status, await response.json(), response.headers


async def balance(client, number) -> Decimal:
    status, body, _ = await call(client, "/gift_card/balance", {"identifier": {"number": number}})
    assert status == 200, body
    return Decimal(str(body["value"]))


async def new_card(ledger, code, amount="100.00"):
    """A card bought online, that the adapter can serve (registered where it must be).
    `ledger`: a stand-in, or the Shopify sandbox itself (the Shopify-only tests)."""
    if hasattr(ledger, "make_known_card"):
        await ledger.make_known_card(code, amount)
    else:
        await ledger_view.make_card(ledger, code, amount)
    return code


async def authorized(client, ledger, code="paycard00000001", amount=30, card_value="100.00"):
    await new_card(ledger, code, card_value)
    status, body, _ = await call(client, "/financial_instruments", authorize_body(code.upper(), amount, f"auth-{code}"))
    assert status == 200, body
    return body[0]["instrument_id"]


async def test_full_walk_authorize_capture_refund_revoke(adapter, ledger):
    code = await new_card(ledger, "k3v9q2m8x7p4t6w1")
    status, body, _ = await call(adapter, "/financial_instruments", authorize_body("K3V9-Q2M8-X7P4-T6W1", 30, "a-1"))
    assert status == 200 and len(body) == 1
    auth = body[0]
    assert (auth["reason"], auth["capture_amount"], auth["refund_amount"]) == ("authorization", 30, 0)
    assert auth["payment_method"] == "gift_card" and auth["currency"] == "USD"
    assert "number" not in auth["metadata"] and auth["metadata"]["gift_card_last_characters"] == "t6w1"
    assert auth["metadata"]["order_id"] == "DEV-2243580"
    assert auth["metadata"]["ledger_transaction_id"] in await ledger_transaction_ids(ledger, code)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", auth["processed_at"])
    instrument = auth["instrument_id"]
    uuid.UUID(instrument)
    assert await balance(adapter, code) == Decimal("70")

    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(20, "c-1"))
    assert status == 200
    assert (body[0]["reason"], body[0]["capture_amount"], body[0]["refund_amount"]) == ("capture", -20, 20)
    assert "ledger_transaction_id" not in body[0]["metadata"]
    assert await balance(adapter, code) == Decimal("70")

    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_refund", psp(5, "r-1"))
    assert status == 200
    assert (body[0]["reason"], body[0]["capture_amount"], body[0]["refund_amount"]) == ("refund", 0, -5)
    assert body[0]["metadata"]["ledger_transaction_id"] in await ledger_transaction_ids(ledger, code)
    assert await balance(adapter, code) == Decimal("75")

    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_revoke", psp(10, "v-1"))
    assert status == 200
    assert (body[0]["reason"], body[0]["capture_amount"], body[0]["refund_amount"]) == ("revoke", -10, 0)
    assert await balance(adapter, code) == Decimal("85")

    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(11, "c-2"))
    assert (status, body["error_code"]) == (400, "instrument_error")
    assert "0.00 USD available" in body["message"]
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_refund", psp(16, "r-2"))
    assert (status, body["error_code"]) == (400, "instrument_error")
    assert "15.00 USD available" in body["message"]
    assert await balance(adapter, code) == Decimal("85")


async def ledger_transaction_ids(ledger, code) -> set[str]:
    return {t["id"] for t in (await ledger.card_by_code(code))["transactions"]}


async def test_split_tender_two_cards_and_another_method(adapter, ledger):
    await new_card(ledger, "splitcard0000001", "20.00")
    await new_card(ledger, "splitcard0000002", "50.00")
    # An 80.00 order: 20 on the first card, 35 on the second, the rest on another tender.
    first = await call(adapter, "/financial_instruments", authorize_body("splitcard0000001", 20, "split-1"))
    second = await call(adapter, "/financial_instruments", authorize_body("splitcard0000002", 35, "split-2"))
    assert first[0] == second[0] == 200
    assert first[1][0]["instrument_id"] != second[1][0]["instrument_id"]
    for status, body, _ in (first, second):
        capture = await call(adapter, f"/financial_instruments/{body[0]['instrument_id']}/_capture",
                             psp(body[0]["capture_amount"], f"cap-{body[0]['instrument_id']}"))
        assert capture[0] == 200
    assert await balance(adapter, "splitcard0000001") == Decimal("0")
    assert await balance(adapter, "splitcard0000002") == Decimal("15")


async def test_partial_and_multiple_captures_up_to_the_authorized_amount(adapter, ledger):
    instrument = await authorized(adapter, ledger, amount=30)
    for index, amount in enumerate((10, 15, 5)):
        status, _, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(amount, f"pc-{index}"))
        assert status == 200
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(Decimal("0.01"), "pc-over"))
    assert status == 400 and body["error_code"] == "instrument_error"


async def test_partial_and_full_refunds_up_to_the_captured_amount(adapter, ledger):
    instrument = await authorized(adapter, ledger, amount=30)
    await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(30, "cap"))
    assert (await call(adapter, f"/financial_instruments/{instrument}/_refund", psp(10, "rf-1")))[0] == 200
    assert (await call(adapter, f"/financial_instruments/{instrument}/_refund", psp(20, "rf-2")))[0] == 200
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_refund", psp(1, "rf-3"))
    assert (status, body["error_code"]) == (400, "instrument_error")
    assert await balance(adapter, "paycard00000001") == Decimal("100")


async def test_revoke_before_any_capture_releases_everything_once(adapter, ledger):
    instrument = await authorized(adapter, ledger, amount=30)
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_revoke", psp(30, "rv-1"))
    assert status == 200 and body[0]["capture_amount"] == -30
    assert await balance(adapter, "paycard00000001") == Decimal("100")
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_revoke", psp(30, "rv-2"))
    assert (status, body["error_code"]) == (400, "instrument_error")
    assert await balance(adapter, "paycard00000001") == Decimal("100")


async def test_revoke_after_partial_capture_releases_only_the_rest(adapter, ledger):
    instrument = await authorized(adapter, ledger, amount=30)
    await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(12, "cap"))
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_revoke", psp(30, "rv"))
    assert status == 200 and body[0]["capture_amount"] == -18
    assert await balance(adapter, "paycard00000001") == Decimal("88")


async def test_insufficient_funds_debits_nothing(adapter, ledger):
    await new_card(ledger, "poorcard00000001", "10.00")
    status, body, _ = await call(adapter, "/financial_instruments", authorize_body("poorcard00000001", Decimal("10.01"), "poor"))
    assert (status, body["error_code"]) == (400, "instrument_error")
    assert body["message"] == "insufficient funds on the gift card"
    card = await ledger.card_by_code("poorcard00000001")
    assert card["transactions"] == [] and card["balance"] == Decimal("10")


async def test_a_deactivated_card_cannot_pay(adapter, ledger):
    await new_card(ledger, "deadcard00000001", "10.00")
    await call(adapter, "/gift_card/deactivate", {"card_number": "deadcard00000001", "idempotence_key": "dd"})
    status, body, _ = await call(adapter, "/financial_instruments", authorize_body("deadcard00000001", 5, "dead"))
    assert (status, body["message"]) == (400, "gift card is deactivated")
    assert (await ledger.card_by_code("deadcard00000001"))["transactions"] == []


async def test_unknown_card_cannot_pay(adapter, ledger):
    status, body, _ = await call(adapter, "/financial_instruments", authorize_body("nosuchcard000009", 5, "nope"))
    assert (status, body["error_code"]) == (400, "instrument_error")


async def test_currency_mismatch_with_the_card_and_with_the_instrument(adapter, ledger):
    await new_card(ledger, "usdcard000000001", "10.00")
    status, body, _ = await call(adapter, "/financial_instruments", authorize_body("usdcard000000001", 5, "eur", "EUR"))
    assert (status, body["error_code"]) == (400, "instrument_error")
    instrument = await authorized(adapter, ledger, amount=30)
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(5, "cap-eur", "EUR"))
    assert (status, body["error_code"]) == (400, "instrument_error")


async def test_unknown_instrument_is_404(adapter):
    for instrument in (str(uuid.uuid4()), "not-a-uuid"):
        status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(5, f"x-{instrument}"))
        assert (status, body["error_code"]) == (404, "instrument_error")


async def test_authorize_validation_names_the_field(adapter):
    body = authorize_body("paycard00000001", 5, "val")
    body["arguments"]["payment_method"] = "credit_card"
    status, answer, _ = await call(adapter, "/financial_instruments", body)
    assert (status, answer["message"]) == (400, 'arguments.payment_method: must be "gift_card"')
    body = authorize_body("paycard00000001", 5, "val")
    del body["metadata"]["number"]
    status, answer, _ = await call(adapter, "/financial_instruments", body)
    assert (status, answer["message"]) == (400, "metadata.number: is required")
    body = authorize_body("paycard00000001", 5, "val")
    del body["idempotency_key"]
    status, answer, _ = await call(adapter, "/financial_instruments", body)
    assert (status, answer["message"]) == (400, "idempotency_key: is required")


async def test_replay_with_a_changed_body_returns_the_first_answer(adapter, ledger):
    instrument = await authorized(adapter, ledger, amount=30)
    first = await adapter.post(f"/financial_instruments/{instrument}/_capture", json=psp(10, "same"), headers=AUTH)
    second = await adapter.post(f"/financial_instruments/{instrument}/_capture", json=psp(20, "same"), headers=AUTH)
    assert await first.read() == await second.read()
    assert second.headers["Idempotent-Replayed"] == "true"
    status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(20, "other"))
    assert status == 200  # only 10 was captured by "same", so 20 is still capturable


@pytest.mark.parametrize("operation", ["authorize", "capture", "refund", "revoke"])
async def test_twenty_concurrent_duplicates_have_one_ledger_effect(adapter, ledger, operation):
    instrument = await authorized(adapter, ledger, amount=30)
    if operation == "refund":
        await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(30, "cap"))
    if operation == "authorize":
        await new_card(ledger, "dupcard000000001", "100.00")
        path, body = "/financial_instruments", authorize_body("dupcard000000001", 7, "dup")
    else:
        path, body = f"/financial_instruments/{instrument}/_{operation}", psp(7, "dup")
    responses = await asyncio.gather(*(adapter.post(path, json=body, headers=AUTH) for _ in range(20)))
    assert {r.status for r in responses} == {200}
    assert len({await r.read() for r in responses}) == 1
    cards = await ledger.cards()
    transactions = [t for c in cards for t in c["transactions"]]
    expected = {"authorize": 2, "capture": 1, "refund": 2, "revoke": 2}[operation]
    assert len(transactions) == expected


async def test_ten_racing_captures_never_exceed_the_cap(adapter, ledger):
    instrument = await authorized(adapter, ledger, amount=10)
    responses = await asyncio.gather(*(
        adapter.post(f"/financial_instruments/{instrument}/_capture", json=psp(3, f"race-{i}"), headers=AUTH)
        for i in range(10)
    ))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 3 + [400] * 7


async def test_racing_refunds_never_exceed_the_captured_amount(adapter, ledger):
    instrument = await authorized(adapter, ledger, amount=10)
    await call(adapter, f"/financial_instruments/{instrument}/_capture", psp(10, "cap"))
    responses = await asyncio.gather(*(
        adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(3, f"race-{i}"), headers=AUTH)
        for i in range(10)
    ))
    assert sorted(r.status for r in responses) == [200] * 3 + [400] * 7
    assert await balance(adapter, "paycard00000001") == Decimal("99")  # 100 - 10 + 3 x 3



async def test_racing_revokes_release_exactly_the_authorized_amount(adapter, ledger):
    # 10 authorized, ten revokes of 3 at once: 3 + 3 + 3 + the last 1, then nothing is left.
    instrument = await authorized(adapter, ledger, amount=10)
    responses = await asyncio.gather(*(
        adapter.post(f"/financial_instruments/{instrument}/_revoke", json=psp(3, f"race-{i}"), headers=AUTH)
        for i in range(10)
    ))
    bodies = [await r.json() for r in responses if r.status == 200]
    released = sorted(-body[0]["capture_amount"] for body in bodies)
    assert released == [1, 3, 3, 3]
    assert sorted(r.status for r in responses) == [200] * 4 + [400] * 6
    assert await balance(adapter, "paycard00000001") == Decimal("100")


async def test_captures_racing_revokes_never_move_more_than_was_authorized(adapter, ledger):
    instrument = await authorized(adapter, ledger, amount=10)
    responses = await asyncio.gather(*(
        adapter.post(f"/financial_instruments/{instrument}/_{'capture' if i % 2 else 'revoke'}",
                     json=psp(2, f"mix-{i}"), headers=AUTH)
        for i in range(12)
    ))
    bodies = [await r.json() for r in responses if r.status == 200]
    captured = sum(body[0]["refund_amount"] for body in bodies if body[0]["reason"] == "capture")
    revoked = sum(-body[0]["capture_amount"] for body in bodies if body[0]["reason"] == "revoke")
    assert captured + revoked == 10
    assert await balance(adapter, "paycard00000001") == Decimal("100") - captured

async def test_a_lost_debit_response_is_settled_by_the_retry_with_one_debit(adapter, ledger):
    await new_card(ledger, "lostdebit0000001", "50.00")
    await ledger.add_fault("lose_response", "debit", count=1)
    lost = await adapter.post("/financial_instruments", json=authorize_body("lostdebit0000001", 20, "lost"), headers=AUTH)
    assert lost.status == 503 and "Retry-After" in lost.headers
    retried = await adapter.post("/financial_instruments", json=authorize_body("lostdebit0000001", 20, "lost"), headers=AUTH)
    assert retried.status == 200
    card = await ledger.card_by_code("lostdebit0000001")
    assert len(card["transactions"]) == 1 and card["balance"] == Decimal("30")
    assert (await retried.json())[0]["metadata"]["ledger_transaction_id"] == card["transactions"][0]["id"]


async def test_a_5xx_debit_is_resent_only_after_the_ledger_proves_it_absent(make_adapter, ledger):
    adapter = await make_adapter(ledger_resend_after_seconds=0.5)
    await new_card(ledger, "faileddebit00001", "50.00")
    await ledger.add_fault("error_5xx", "debit", count=1)
    failed = await adapter.post("/financial_instruments", json=authorize_body("faileddebit00001", 20, "f5"), headers=AUTH)
    assert failed.status == 503
    # Too early to prove the write absent: still unknown, nothing resent.
    early = await adapter.post("/financial_instruments", json=authorize_body("faileddebit00001", 20, "f5"), headers=AUTH)
    assert early.status == 503
    assert (await ledger.card_by_code("faileddebit00001"))["transactions"] == []

    async def retried() -> int | None:
        response = await adapter.post("/financial_instruments", json=authorize_body("faileddebit00001", 20, "f5"),
                                      headers=AUTH)
        if response.status == 503:  # not yet: and still nothing was resent
            assert (await ledger.card_by_code("faileddebit00001"))["transactions"] == []
            return None
        return response.status

    assert await wait_for(retried, timeout=5, interval=0.1) == 200
    card = await ledger.card_by_code("faileddebit00001")
    assert len(card["transactions"]) == 1 and card["balance"] == Decimal("30")
