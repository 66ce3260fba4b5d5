"""`giftcard-adapter reconcile` (issue #12): clean after real traffic on each ledger, and every
injected drift reported with the card's last four and the operation."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from adapter import reconciliation
from adapter.http.keys import SERVICES
from adapter.services.sync import resync
from tests import ledger_view
from tests.conftest import AUTH, CARD_CODE_KEY
from tests.integration.test_absolute_balance import (  # noqa: F401 - fixtures
    authorize, card_id_of, emulator, issue, make_absolute, post, psp)


def deadline() -> float:
    return asyncio.get_running_loop().time() + 5


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adapter", "reconcile", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "DATABASE_URL": database_url, "CARD_CODE_KEY": CARD_CODE_KEY})


async def report(db):
    async with db.acquire() as conn:
        return await reconciliation.reconcile(conn, datetime.now(UTC) - timedelta(hours=1))


async def walk(adapter, number: str) -> None:
    status, body = await post(adapter, "/financial_instruments", authorize(number, 30, "a-1"))
    assert status == 200, body
    instrument = body[0]["instrument_id"]
    for path, key in (("_capture", "c-1"), ("_refund", "r-1")):
        status, _ = await post(adapter, f"/financial_instruments/{instrument}/{path}", psp(10, key))
        assert status == 200


async def test_clean_after_traffic_and_changes_elsewhere_on_an_absolute_ledger(make_absolute, emulator, db,
                                                                              database_url):
    adapter = await make_absolute()
    number = await issue(adapter)
    card_id = await card_id_of(db, number)
    await emulator.foreign_change_on_read(card_id, "-15.00")  # a checkout our PUT writes over, repaired
    await walk(adapter, number)
    await resync(adapter.server.app[SERVICES], card_id, deadline())
    found = await report(db)
    assert found.clean, found.findings
    assert found.checked == 3 and found.not_yet_mirrored == 0
    assert [(r["cause"], r["total"]) for r in found.foreign] == [("online_checkout", -15)]
    done = cli(database_url, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert body["clean"] and body["drift"] == dict.fromkeys(reconciliation.DRIFT_KINDS, 0)
    sales, redemptions, refunds = ({r["kind"]: r for r in body["shift"]}[k] for k in ("sales", "redemptions", "refunds"))
    assert (sales["newstore"], redemptions["newstore"], refunds["newstore"]) == ("100.00", "30.00", "10.00")
    assert all(r["difference"] in ("0", "0.00") for r in body["shift"])


async def test_drift_is_reported_with_the_last_four_and_the_operation(make_adapter, sandbox, db, database_url):
    adapter = await make_adapter()
    services = adapter.server.app[SERVICES]
    card_id = await ledger_view.make_card(sandbox, "reconcard0000777", "100.00")
    await walk(adapter, "reconcard0000777")
    await resync(services, card_id, deadline())
    assert (await report(db)).clean
    # Drift 1: a transaction with our marker that no operation accounts for.
    await ledger_view.shopify_debit(sandbox, card_id, "4.00", note=f"gca:v1:authorize:{secrets.token_hex(16)}")
    # Drift 2: an operation whose amount differs from what the ledger moved.
    async with db.acquire() as conn:
        await conn.execute("UPDATE audit_log SET amount = 25 WHERE operation = 'authorize'")
    await resync(services, card_id, deadline())
    found = await report(db)
    kinds = {(f.kind, f.last_characters, f.operation) for f in found.findings}
    assert ("orphan_entry", "0777", "authorize") in kinds
    assert ("amount_mismatch", "0777", "authorize") in kinds
    done = cli(database_url)
    assert done.returncode == 1
    assert "DRIFT" in done.stdout and "…0777" in done.stdout and "reconcard0000777" not in done.stdout
    as_csv = cli(database_url, "--format", "csv").stdout.splitlines()
    assert as_csv[0] == "kind,card_id,last_characters,operation,write_id,detail" and len(as_csv) >= 3


async def test_operations_on_cards_not_reread_yet_are_pending_not_drift(make_adapter, sandbox, db):
    adapter = await make_adapter()
    await ledger_view.make_card(sandbox, "reconcard0000888", "100.00")
    await walk(adapter, "reconcard0000888")
    found = await report(db)
    assert found.clean and found.not_yet_mirrored == 2 and found.checked == 0  # the authorize and the refund
