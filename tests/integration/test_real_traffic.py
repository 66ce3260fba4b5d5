"""Requests shaped as NewStore's own integrations send them (issue #10, "what real traffic broke").

- An order paid with two gift cards and refunded: one refund call per instrument, under one
  account-level key (`reduction-cancel-<account_id>`, `reduction-revoke-<account_id>`).
- Numbers scanned from Shopify's QR codes (`shopify-giftcard-v1-…`, any case) and from barcodes
  such as `SVS_GC-<15 digits>`.
- An activation retried under a fresh `idempotence_key` (NewStore's NetSuite job).
"""

from decimal import Decimal

import pytest

from tests import ledger_view
from tests.conftest import AUTH
from tests.integration.test_payments import authorize_body, balance, call, new_card, psp

ACCOUNT = "a114c7ee-06c2-5752-ae58-1bc67eaf8e01"


async def ledger_credits(sandbox, code) -> list[Decimal]:
    card = await ledger_view.card_by_code(sandbox, code)
    return [Decimal(str(t["amount"])) for t in card["transactions"] if Decimal(str(t["amount"])) > 0]


async def test_split_tender_refund_and_revoke_under_one_account_key_credit_each_card_once(adapter, sandbox, db):
    await new_card(sandbox, "splitcard0000001", "100.00")
    await new_card(sandbox, "splitcard0000002", "100.00")
    first = (await call(adapter, "/financial_instruments", authorize_body("splitcard0000001", 30, "auth-1")))[1][0]
    second = (await call(adapter, "/financial_instruments", authorize_body("splitcard0000002", 20, "auth-2")))[1][0]
    one, two = first["instrument_id"], second["instrument_id"]
    for instrument, amount in ((one, 10), (two, 5)):
        status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_capture",
                                     psp(amount, f"reduction-capture-{ACCOUNT}"))
        assert status == 200 and body[0]["instrument_id"] == instrument

    refunds = {}
    for instrument, amount in ((one, 10), (two, 5)):
        status, body, headers = await call(adapter, f"/financial_instruments/{instrument}/_refund",
                                           psp(amount, f"reduction-cancel-{ACCOUNT}"))
        assert status == 200, body
        assert "Idempotent-Replayed" not in headers  # the second card is not answered with the first's
        assert (body[0]["instrument_id"], Decimal(str(body[0]["refund_amount"]))) == (instrument, -amount)
        refunds[instrument] = body
    revokes = {}
    for instrument, amount in ((one, 20), (two, 15)):
        status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_revoke",
                                     psp(amount, f"reduction-revoke-{ACCOUNT}"))
        assert status == 200, body
        assert (body[0]["instrument_id"], Decimal(str(body[0]["capture_amount"]))) == (instrument, -amount)
        revokes[instrument] = body

    # Retries, the second with a changed body for the same instrument and key: the first answers.
    for instrument in (one, two):
        for amount in (1, 2):
            status, body, headers = await call(adapter, f"/financial_instruments/{instrument}/_refund",
                                               psp(amount, f"reduction-cancel-{ACCOUNT}"))
            assert (status, body, headers["Idempotent-Replayed"]) == (200, refunds[instrument], "true")
        status, body, _ = await call(adapter, f"/financial_instruments/{instrument}/_revoke",
                                     psp(1, f"reduction-revoke-{ACCOUNT}"))
        assert (status, body) == (200, revokes[instrument])

    # Each card credited once for its refund and once for its revoke, nothing more.
    assert sorted(await ledger_credits(sandbox, "splitcard0000001")) == [Decimal(10), Decimal(20)]
    assert sorted(await ledger_credits(sandbox, "splitcard0000002")) == [Decimal(5), Decimal(15)]
    assert await balance(adapter, "splitcard0000001") == Decimal("100.00") - 30 + 10 + 20
    assert await balance(adapter, "splitcard0000002") == Decimal("100.00") - 20 + 5 + 15
    async with db.acquire() as conn:
        totals = {str(r["id"]): (r["captured"], r["refunded"], r["revoked"]) for r in
                  await conn.fetch("SELECT id, captured, refunded, revoked FROM instruments")}
    assert totals == {one: (10, 10, 20), two: (5, 5, 15)}


async def test_one_key_on_an_unknown_instrument_does_not_answer_for_a_known_one(adapter, sandbox):
    await new_card(sandbox, "splitcard0000003", "100.00")
    auth = (await call(adapter, "/financial_instruments", authorize_body("splitcard0000003", 30, "auth-3")))[1][0]
    unknown = "00000000-0000-4000-8000-000000000000"
    status, _, _ = await call(adapter, f"/financial_instruments/{unknown}/_revoke", psp(5, "shared-key"))
    assert status == 404
    status, body, _ = await call(adapter, f"/financial_instruments/{auth['instrument_id']}/_revoke",
                                 psp(5, "shared-key"))
    assert status == 200 and body[0]["instrument_id"] == auth["instrument_id"]


SCANNED = ["shopify-giftcard-v1-scancard00000001", "SHOPIFY-GIFTCARD-V1-SCANCARD00000001",
           "Shopify-GiftCard-V1-scan-card-0000-0001"]


@pytest.mark.parametrize("scanned", SCANNED)
async def test_scanned_shopify_numbers_reach_the_card_everywhere(adapter, sandbox, scanned):
    await new_card(sandbox, "scancard00000001", "50.00")
    status, body, _ = await call(adapter, "/gift_card/balance", {"identifier": {"number": scanned}})
    assert (status, Decimal(str(body["value"]))) == (200, Decimal("50.00"))
    status, body, _ = await call(adapter, "/financial_instruments", authorize_body(scanned, 5, "scan-auth"))
    assert status == 200 and body[0]["metadata"]["gift_card_last_characters"] == "0001"
    assert "number" not in body[0]["metadata"]
    status, body, _ = await call(adapter, "/gift_card/deactivate", {"card_number": scanned, "idempotence_key": "scan-d"})
    assert (status, body["identifier"]["number"]) == (200, "scancard00000001")
    assert (await ledger_view.card_by_code(sandbox, "scancard00000001"))["enabled"] is False


async def test_a_scanned_number_activates_the_card_under_its_code(adapter, sandbox):
    body = {"card_number": "shopify-giftcard-v1-SCANACTIVATE0001", "amount": {"value": 25, "currency": "USD"},
            "customer": {}, "idempotence_key": "scan-activate"}
    status, answer, _ = await call(adapter, "/gift_card/activate", body)
    assert (status, answer["identifier"]["number"]) == (200, "scanactivate0001")
    card = await ledger_view.card_by_code(sandbox, "scanactivate0001")
    assert ledger_view.balance_of(card) == Decimal("25.00")


async def test_a_configured_barcode_pattern_takes_the_number_out(make_adapter, sandbox):
    adapter = await make_adapter(card_number_pattern=r"SVS_GC-(\d{15})")
    await new_card(sandbox, "123456789012345", "40.00")
    for scanned in ("SVS_GC-123456789012345", "svs_gc-123456789012345", "123456789012345"):
        status, body, _ = await call(adapter, "/gift_card/balance", {"identifier": {"number": scanned}})
        assert (status, Decimal(str(body["value"]))) == (200, Decimal("40.00")), scanned
    status, body, _ = await call(adapter, "/gift_card/balance", {"identifier": {"number": "SVS_GC-1234"}})
    assert (status, body["error_code"]) == (400, "bad_request")
    assert body["message"].startswith("identifier.number:") and "1234" not in body["message"]


def activation(key, value=25, code="retryactivate001"):
    return {"card_number": code, "amount": {"value": value, "currency": "USD"}, "customer": {},
            "idempotence_key": key}


async def test_an_activation_retried_under_a_fresh_key_answers_as_the_first_and_loads_nothing(adapter, sandbox):
    first = await call(adapter, "/gift_card/activate", activation("netsuite-try-1"))
    loaded = await ledger_view.card_by_code(sandbox, "retryactivate001")
    again = await call(adapter, "/gift_card/activate", activation("netsuite-try-2"))
    assert first[0] == again[0] == 200
    assert first[1] == again[1] == {"identifier": {"number": "retryactivate001"}}
    card = await ledger_view.card_by_code(sandbox, "retryactivate001")  # one card with the code
    assert ledger_view.balance_of(card) == Decimal("25.00")
    assert card["transactions"] == loaded["transactions"]  # loaded once
    # The second key's answer is stored too: its own retry replays it.
    replay = await call(adapter, "/gift_card/activate", activation("netsuite-try-2"))
    assert replay[0] == 200 and replay[2]["Idempotent-Replayed"] == "true"


async def test_an_activation_with_another_amount_stays_card_number_in_use(adapter, sandbox):
    assert (await call(adapter, "/gift_card/activate", activation("amount-1", 25, "retryactivate002")))[0] == 200
    status, body, _ = await call(adapter, "/gift_card/activate", activation("amount-2", 30, "retryactivate002"))
    assert (status, body["error_code"], body["message"]) == (400, "instrument_error", "card number already in use")
    card = await ledger_view.card_by_code(sandbox, "retryactivate002")
    assert ledger_view.balance_of(card) == Decimal("25.00") and card["transactions"] == []


async def test_a_card_made_elsewhere_stays_card_number_in_use(adapter, sandbox):
    await new_card(sandbox, "retryactivate003", "25.00")
    status, body, _ = await call(adapter, "/gift_card/activate", activation("elsewhere", 25, "retryactivate003"))
    assert (status, body["message"]) == (400, "card number already in use")
