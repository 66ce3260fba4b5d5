"""Exactly once on ledgers that can only set a balance (SHOPLINE, Gift Card Hero), end to end over
real HTTP: the adapter, its Postgres, and each ledger's emulator (ledgers.md §3.2).

Each test names the failure it is about: a foreign change between our read and our PUT, a lost
answer, a failed PUT, an ambiguous history, a second write while one is unsettled, and the race
that the card lock exists to prevent."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from adapter.domain.money import Money
from adapter.http.keys import SERVICES
from adapter.ledgers.absolute import AbsoluteBalanceLedger
from adapter.reviews import format_reviews
from adapter.store import balance_intents, writes
from adapter.store.writes import Intent
from tests.conftest import AUTH, CARD_CODE_KEY

class Emulator:
    """What these tests need of an absolute-balance emulator, in its own vocabulary."""

    ledger: str
    read_op: str
    write_op: str

    def __init__(self, running: Any) -> None:
        self.running = running

    async def _call(self, method: str, path: str, json: Any = None) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.running.base_url + path, json=json) as response:
                assert response.status < 300, (response.status, await response.text())
                return await response.json(content_type=None)

    async def fault(self, **spec: Any) -> None:
        await self._call("POST", "/_emulator/faults", spec)

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/_emulator/faults")

    async def card(self, card_id: str) -> dict:
        cards = (await self._call("GET", "/_emulator/state"))["cards"]
        return next(card for card in cards if str(card["id"]) == card_id)

    async def balance(self, card_id: str) -> Decimal:
        return Decimal(str((await self.card(card_id))["balance"]))

    async def foreign_change_on_read(self, card_id: str, delta: str) -> None:
        """A web-shop checkout (or refund) landing right after our next read of the card."""
        await self.fault(kind="foreign_change", operation=self.read_op, card_id=card_id, delta=delta)


class GiftHero(Emulator):
    ledger, read_op, write_op = "gifthero", "get", "set_balance"

    async def foreign_change_on_read(self, card_id: str, delta: str) -> None:
        await self.fault(kind="foreign_change", operation=self.read_op, card_id=int(card_id), delta=delta)

    def settings(self) -> dict:
        return {"ledger": "gifthero", "gifthero_base_url": self.running.api_url,
                "gifthero_access_token": SecretStr(self.running.config.access_token), "ledger_currency": "USD"}

    async def other_app_sets(self, card_id: str, balance: str) -> None:
        """Another app of the shop setting the balance through the vendor's API."""
        async with aiohttp.ClientSession() as session:
            async with session.put(f"{self.running.api_url}/gift-cards/{card_id}/balance", json={"balance": balance},
                                   headers={"Authorization": f"Bearer {self.running.config.access_token}"}) as answer:
                assert answer.status == 200, await answer.text()


class Shopline(Emulator):
    ledger, read_op, write_op = "shopline", "get_gift_card", "update_gift_card"

    def settings(self) -> dict:
        return {"ledger": "shopline", "shopline_base_url": self.running.api_url + "/",
                "shopline_access_token": SecretStr(self.running.config.access_token),
                "shopline_app_secret": SecretStr("s" * 32), "ledger_currency": "USD"}

    async def other_app_sets(self, card_id: str, balance: str) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.put(f"{self.running.api_url}/gift_cards/{card_id}.json",
                                   json={"gift_card": {"balance": balance}},
                                   headers={"Authorization": f"Bearer {self.running.config.access_token}"}) as answer:
                assert answer.status == 200, await answer.text()


@pytest.fixture(params=["gifthero", "shopline"])
async def emulator(request):
    if request.param == "gifthero":
        from giftcard_emulators.gifthero.server import start_gifthero

        running, standin = await start_gifthero(), GiftHero
    else:
        pytest.importorskip("adapter.shopline.client", reason="the SHOPLINE client has not landed yet")
        from giftcard_emulators.shopline.server import start_shopline

        running, standin = await start_shopline(), Shopline
    yield standin(running)
    await running.close()


@pytest.fixture
def make_absolute(make_adapter, emulator):
    async def make(**overrides):
        return await make_adapter(**emulator.settings(), **overrides)
    return make


async def post(client, path: str, body: dict) -> tuple[int, Any]:
    response = await client.post(path, json=body, headers=AUTH)
    return response.status, await response.json()


async def issue(client, amount: int = 100) -> str:
    status, body = await post(client, "/gift_card/issue", {"amount": {"value": amount, "currency": "USD"},
                                                          "idempotence_key": f"issue-{amount}-{id(client)}",
                                                          "customer": {"id": "c-1"}})
    assert status == 200, body
    return body["identifier"]["number"]


async def card_id_of(db, number: str) -> str:
    async with db.acquire() as conn:
        return await conn.fetchval("SELECT shopify_id FROM cards WHERE last_characters = $1", number[-4:])


def authorize(number: str, amount, key: str) -> dict:
    return {"account_id": "acc-1", "transactions": [], "idempotency_key": key,
            "arguments": {"amount": amount, "currency": "USD", "payment_method": "gift_card"},
            "metadata": {"number": number}}


def psp(amount, key: str) -> dict:
    return {"account_id": "acc-1", "transactions": [], "idempotency_key": key,
            "arguments": {"amount": amount, "currency": "USD"}, "metadata": {}}


async def rows(db, sql: str, *args) -> list[dict]:
    async with db.acquire() as conn:
        return [dict(row) for row in await conn.fetch(sql, *args)]


def counter(name: str, **labels) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_debit_and_credit_set_the_balance_once_and_are_verified(make_absolute, emulator, db):
    adapter = await make_absolute()
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    status, body = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))
    assert status == 200, body
    instrument = body[0]["instrument_id"]
    assert await emulator.balance(card_id) == Decimal("70")
    status, body = await post(adapter, f"/financial_instruments/{instrument}/_capture", psp(30, "c-1"))
    assert status == 200
    status, body = await post(adapter, f"/financial_instruments/{instrument}/_refund", psp(Decimal("12.50"), "r-1"))
    assert status == 200, body
    assert await emulator.balance(card_id) == Decimal("82.50")
    written = await rows(db, "SELECT operation, balance_read, balance_target, verify_state, ledger_transaction_id"
                             " FROM ledger_writes WHERE operation IN ('authorize', 'refund') ORDER BY created_at")
    assert [(w["operation"], w["balance_read"], w["balance_target"], w["verify_state"]) for w in written] == [
        ("authorize", Decimal("100.00"), Decimal("70.00"), "verified"),
        ("refund", Decimal("70.00"), Decimal("82.50"), "verified")]
    assert all(w["ledger_transaction_id"] and not w["ledger_transaction_id"].startswith("unverified") for w in written)
    # A replay answers the same, and moves nothing.
    status, again = await post(adapter, f"/financial_instruments/{instrument}/_refund", psp(Decimal("12.50"), "r-1"))
    assert status == 200 and again == body
    assert await emulator.balance(card_id) == Decimal("82.50")


async def test_a_foreign_change_between_our_read_and_our_put_is_restored(make_absolute, emulator, db, captured_logs):
    adapter = await make_absolute()
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    repaired = counter("giftcard_adapter_foreign_changes_repaired_total", ledger=emulator.ledger)
    await emulator.foreign_change_on_read(card_id, "-30.00")  # a checkout on the web shop
    status, body = await post(adapter, "/financial_instruments", authorize(number, 20, "a-1"))
    assert status == 200, body
    # 100, less the checkout's 30, less our 20: the PUT of 80 wrote over the checkout; repaired.
    assert await emulator.balance(card_id) == Decimal("50")
    assert counter("giftcard_adapter_foreign_changes_repaired_total", ledger=emulator.ledger) == repaired + 1
    repairs = await rows(db, "SELECT amount, balance_read, balance_target, state, entry_id FROM balance_repairs")
    assert [{k: v for k, v in r.items() if k != "entry_id"} for r in repairs] == [
        {"amount": Decimal("-30.00"), "balance_read": Decimal("80.00"), "balance_target": Decimal("50.00"),
         "state": "applied"}]
    assert repairs[0]["entry_id"]  # the correcting PUT's own entry, for the mirror
    logs = captured_logs()
    assert "foreign_change_repaired" in logs and number not in logs and number.upper() not in logs


async def test_a_foreign_change_we_cannot_restore_goes_to_review(make_absolute, emulator, db):
    adapter = await make_absolute()
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.foreign_change_on_read(card_id, "-30.00")
    status, body = await post(adapter, "/financial_instruments", authorize(number, 80, "a-1"))
    # Our debit landed (the customer's 80 is taken); the checkout's 30 no longer fits on the card.
    assert status == 200, body
    assert await emulator.balance(card_id) == Decimal("20")
    reviews = await rows(db, "SELECT reason, ledger_card_id, detail FROM ledger_reviews")
    assert [(r["reason"], r["ledger_card_id"]) for r in reviews] == [("foreign_change_overdraws", card_id)]
    async with db.acquire() as conn:
        listed = "\n".join(format_reviews(await balance_intents.list_reviews(conn)))
    assert "foreign_change_overdraws" in listed and card_id in listed and number not in listed
    # The write itself is settled: a retry replays its answer, and nothing more moves.
    status, again = await post(adapter, "/financial_instruments", authorize(number, 80, "a-1"))
    assert (status, again) == (200, body)
    assert await emulator.balance(card_id) == Decimal("20")


async def test_a_lost_answer_is_settled_from_the_history_and_never_resent(make_absolute, emulator, db):
    adapter = await make_absolute()
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.fault(kind="lose_response", operation=emulator.write_op, stage="after", count=1)
    status, body = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))
    assert status == 503, body
    assert await emulator.balance(card_id) == Decimal("70")  # it landed
    status, body = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))
    assert status == 200, body
    assert await emulator.balance(card_id) == Decimal("70")  # and was not sent again
    written = await rows(db, "SELECT state, verify_state FROM ledger_writes WHERE operation = 'authorize'")
    assert written == [{"state": "applied", "verify_state": "verified"}]


async def test_a_lost_answer_over_a_foreign_change_is_settled_and_the_change_restored(make_absolute, emulator, db):
    adapter = await make_absolute()
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.foreign_change_on_read(card_id, "-30.00")
    await emulator.fault(kind="lose_response", operation=emulator.write_op, stage="after", count=1)
    status, _ = await post(adapter, "/financial_instruments", authorize(number, 20, "a-1"))
    assert status == 503
    assert await emulator.balance(card_id) == Decimal("80")  # our PUT wrote over the checkout
    status, body = await post(adapter, "/financial_instruments", authorize(number, 20, "a-1"))
    assert status == 200, body  # settled from the history: applied, and the checkout put back
    assert await emulator.balance(card_id) == Decimal("50")
    assert await rows(db, "SELECT amount, state FROM balance_repairs") == [
        {"amount": Decimal("-30.00"), "state": "applied"}]


async def test_a_put_that_failed_is_proven_absent_and_sent_again(make_absolute, emulator, db):
    adapter = await make_absolute(ledger_resend_after_seconds=0)
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.fault(kind="error_5xx", operation=emulator.write_op, stage="before", count=1)
    status, body = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))
    assert status == 503, body
    assert await emulator.balance(card_id) == Decimal("100")
    status, body = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))
    assert status == 200, body
    assert await emulator.balance(card_id) == Decimal("70")


async def test_an_ambiguous_history_goes_to_review_and_is_never_resent(make_absolute, emulator, db):
    adapter = await make_absolute(ledger_resend_after_seconds=0)
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.fault(kind="lose_response", operation=emulator.write_op, stage="after", count=1)
    status, _ = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))
    assert status == 503
    # Another app sets the balance back and then to our target again: two entries could be ours.
    await emulator.other_app_sets(card_id, "100.00")
    await emulator.other_app_sets(card_id, "70.00")
    opened = counter("giftcard_adapter_ledger_reviews_opened_total", ledger=emulator.ledger, reason="settle_ambiguous")
    for _ in range(2):
        status, body = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))
        assert status == 503, body
    assert await emulator.balance(card_id) == Decimal("70")  # nothing was resent
    reviews = await rows(db, "SELECT reason FROM ledger_reviews")
    assert reviews == [{"reason": "settle_ambiguous"}]  # opened once, then held
    assert counter("giftcard_adapter_ledger_reviews_opened_total", ledger=emulator.ledger,
                   reason="settle_ambiguous") == opened + 1


async def test_a_card_with_an_unsettled_put_takes_no_other_write(make_absolute, emulator, db):
    adapter = await make_absolute()
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.fault(kind="lose_response", operation=emulator.write_op, stage="after", count=1)
    status, _ = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))
    assert status == 503
    # A second payment on the card must wait: the first PUT could still arrive and overwrite it.
    status, body = await post(adapter, "/financial_instruments", authorize(number, 10, "a-2"))
    assert (status, body["error_code"]) == (503, "retry_error")
    status, _ = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))  # settles the first
    assert status == 200
    status, body = await post(adapter, "/financial_instruments", authorize(number, 10, "a-2"))
    assert status == 200, body
    assert await emulator.balance(card_id) == Decimal("60")


async def test_a_card_made_elsewhere_is_found_by_its_code_only_where_the_ledger_can(make_absolute, emulator, db,
                                                                                   database_url, tmp_path):
    """SHOPLINE: the code filter, one verified hit. Gift Card Hero can't look codes up: a card
    is known only if we issued, activated or imported it."""
    adapter = await make_absolute()
    seeded = await emulator._call("POST", "/_emulator/cards", {"code": "webshopcard000042", "balance": "25.00"})
    status, body = await post(adapter, "/gift_card/balance", {"identifier": {"number": "WEBSHOPCARD000042"}})
    if emulator.ledger == "shopline":
        assert (status, body) == (200, {"value": 25, "currency": "USD"})
        assert await card_id_of(db, "0042") == str(seeded["id"])  # registered on discovery
    else:
        assert (status, body["error_code"], body["message"]) == (400, "instrument_error",
                                                                 "card not known to this adapter")
        # The operator registers it from the vendor's export; then it is known.
        export = tmp_path / "gift_cards_export.csv"
        export.write_text(f"id,code,balance\n{seeded['id']},{seeded['code']},25.00\n")
        done = subprocess.run([sys.executable, "-m", "adapter", "cards", "import", str(export)],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "DATABASE_URL": database_url, "CARD_CODE_KEY": CARD_CODE_KEY,
                                   "LEDGER": "gifthero"})
        assert done.returncode == 0, done.stdout + done.stderr
        assert seeded["code"] not in done.stdout + done.stderr
        status, body = await post(adapter, "/gift_card/balance", {"identifier": {"number": "WEBSHOPCARD000042"}})
        assert (status, body) == (200, {"value": 25, "currency": "USD"})
    status, body = await post(adapter, "/gift_card/balance", {"identifier": {"number": "nosuchcard0000001"}})
    assert (status, body["error_code"]) == (400, "instrument_error")


# ---- the race the card lock prevents ------------------------------------------------------------

class InterleavingClient:
    """The real client, except that a debit's read of the card waits (briefly) for the other
    debit's read: the interleaving two replicas can produce."""

    def __init__(self, client, readers: int) -> None:
        self._client = client
        self.capabilities = client.capabilities
        self._read = asyncio.Barrier(readers)

    def __getattr__(self, name):
        return getattr(self._client, name)

    async def get_card(self, **kwargs):
        card = await self._client.get_card(**kwargs)
        try:
            await asyncio.wait_for(self._read.wait(), timeout=0.5)
        except TimeoutError:
            pass  # the other debit is waiting for the card lock: nothing to interleave with
        return card


@asynccontextmanager
async def no_lock(pool, card_id, deadline):
    async with pool.acquire() as conn:
        yield conn


@pytest.mark.parametrize("locked", [True, False], ids=["with_card_lock", "without_card_lock"])
async def test_the_card_lock_is_what_keeps_two_concurrent_debits_apart(make_absolute, emulator, db, locked):
    """Two debits of 10 on a card of 100, both reading before either writes.

    Different amounts would not show it: the second PUT's entry would then differ from its own
    delta, the verification would take the first debit for a foreign change and repair it. Equal
    amounts fool it: both PUTs set 90, and on SHOPLINE (which records no entry for a PUT that
    changes nothing, and answers it 200) the second finds the first's entry and takes it for its
    own. Gift Card Hero refuses that second PUT ("balance is unchanged", an undocumented rule):
    only the vendor's rule saves the money there."""
    adapter = await make_absolute()
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    real = adapter.server.app[SERVICES].ledger
    ledger = AbsoluteBalanceLedger(InterleavingClient(real.client, readers=2), db,
                                   lock=balance_intents.card_lock if locked else no_lock)
    refs = []
    async with db.acquire() as conn:
        for _ in range(2):
            write = await writes.record_intent(conn, None, Intent("authorize", shopify_card_id=card_id,
                                                                  amount=Decimal("10"), currency="USD"), sending=True)
            refs.append(write.ref)
    deadline = asyncio.get_running_loop().time() + 5
    answered = await asyncio.gather(*(ledger.debit(card_id=card_id, amount=Money(Decimal("10"), "USD"), ref=ref,
                                                   deadline=deadline) for ref in refs), return_exceptions=True)
    acknowledged = [a for a in answered if not isinstance(a, BaseException)]
    balance = await emulator.balance(card_id)
    if locked:
        assert len(acknowledged) == 2 and balance == Decimal("80")  # both debits count
    elif emulator.ledger == "shopline":
        # Both acknowledged, the card moved once: the customer paid 20, the merchant got 10.
        assert len(acknowledged) == 2 and balance == Decimal("90")
    else:
        assert len(acknowledged) == 1 and balance == Decimal("90")
        assert type(next(a for a in answered if isinstance(a, BaseException))).__name__ == "BalanceUnchanged"
