"""Rotating the card-code key while serving: key A, then CARD_CODE_KEYS=B,A, `keys rotate` under
load, then B alone. Real Postgres, the sandbox over real HTTP, the adapter restarted between
phases (a new app: empty in-process caches)."""

import asyncio
import json
import sys
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from adapter import keyrotation
from adapter.crypto import CodeVault, key_id_of_secret
from adapter.domain.cardcode import CardCode
from tests import ledger_view
from tests.conftest import AUTH
from tests.integration.test_claim_with_intent import searches
from tests.integration.test_giftcard_endpoints import activate_body, issue_body
from tests.integration.test_no_secrets_leak import _all_column_text
from tests.integration.test_payments import authorize_body, psp
from tests.unit.test_crypto import version_1_ciphertext

ROOT = Path(__file__).resolve().parents[2]
KEY_A = "rotation-test-key-A-" + "a" * 24
KEY_B = "rotation-test-key-B-" + "b" * 24
ID_A, ID_B = key_id_of_secret(KEY_A), key_id_of_secret(KEY_B)
HEADER_B = b"\x02" + ID_B

PHYSICAL = "krphysicalcard01"
ONLINE = "kronlinecard0001"
DEACTIVATED = "krdeactivate0001"
# Registered before migration 004 (digest under A, no key id, no stored code), and first looked
# up under A alone, under B,A, or never before A is dropped.
LEGACY_USED_UNDER_A, LEGACY_USED_UNDER_BOTH, LEGACY_UNUSED = "krlegacycard0001", "krlegacycard0002", "krlegacycard0003"
LEGACY = (LEGACY_USED_UNDER_A, LEGACY_USED_UNDER_BOTH, LEGACY_UNUSED)


async def post(client, path, body):
    response = await client.post(path, json=body, headers=AUTH)
    return response.status, await response.read(), response.headers


async def balance(client, number) -> Decimal:
    response = await client.post("/gift_card/balance", json={"identifier": {"number": number}}, headers=AUTH)
    body = await response.json()
    assert response.status == 200, body
    return Decimal(str(body["value"]))


async def instrument_of(client, number, amount, key) -> str:
    status, body, _ = await post(client, "/financial_instruments", authorize_body(number, amount, key))
    assert status == 200, body
    return json.loads(body)[0]["instrument_id"]


async def replayed(client, path, body, expected: bytes) -> None:
    status, answer, headers = await post(client, path, body)
    assert (status, headers.get("Idempotent-Replayed")) == (200, "true")
    assert answer == expected


async def ciphertext_headers(db) -> set[bytes]:
    """The first five bytes of every stored ciphertext (format version and key id)."""
    async with db.acquire() as conn:
        rows = await conn.fetch(
            """SELECT substring(code_encrypted FROM 1 FOR 5) AS h FROM cards WHERE code_encrypted IS NOT NULL
               UNION SELECT substring(code_encrypted FROM 1 FOR 5) FROM ledger_writes WHERE code_encrypted IS NOT NULL
               UNION SELECT substring(response_body FROM 1 FOR 5) FROM idempotency_keys WHERE response_encrypted""")
    return {r["h"] for r in rows}


async def digest_key_ids(db) -> set[bytes | None]:
    async with db.acquire() as conn:
        rows = await conn.fetch(
            """SELECT code_key_id FROM cards UNION SELECT code_key_id FROM instruments
               UNION SELECT code_key_id FROM ledger_writes WHERE code_digest IS NOT NULL""")
    return {r["code_key_id"] for r in rows}


async def registry_row(db, sandbox, code) -> tuple[bytes | None, bytes | None]:
    """The key id and stored-code header of the card's registry rows (one row expected)."""
    card = await ledger_view.card_by_code(sandbox, code)
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT code_key_id, substring(code_encrypted FROM 1 FOR 5) AS header FROM cards"
                                " WHERE shopify_id = $1", card["id"])
    assert len(rows) == 1, rows
    return rows[0]["code_key_id"], rows[0]["header"]


async def test_rotate_from_key_a_to_key_b_while_serving(make_adapter, sandbox, db, captured_logs):
    for code, amount in ((ONLINE, "100.00"), (DEACTIVATED, "10.00"), *((c, "40.00") for c in LEGACY)):
        await ledger_view.make_card(sandbox, code, amount)
    vault_a = CodeVault(KEY_A)
    async with db.acquire() as conn:
        for code in LEGACY:
            card = await ledger_view.card_by_code(sandbox, code)
            await conn.execute(
                """INSERT INTO cards (code_digest, shopify_id, last_characters, currency, origin)
                   VALUES ($1, $2, $3, 'USD', 'discovered')""",
                vault_a.digest(CardCode(code)), card["id"], code[-4:])

    # ---- key A alone (as CARD_CODE_KEY, the single-key setting) ----------------------------------
    under_a = await make_adapter(card_code_key=SecretStr(KEY_A))
    before = searches()
    assert await balance(under_a, LEGACY_USED_UNDER_A) == Decimal(40)
    assert searches() == before
    # Its lookup stored the code with the row, under A, in place: keys rotate can now re-digest it.
    assert await registry_row(db, sandbox, LEGACY_USED_UNDER_A) == (ID_A, b"\x02" + ID_A)
    issue_request = issue_body(key="kr-issue")
    status, issued_answer, _ = await post(under_a, "/gift_card/issue", issue_request)
    assert status == 200
    issued = json.loads(issued_answer)["identifier"]["number"]
    activate_request = activate_body(PHYSICAL, 60, key="kr-activate")
    status, activated_answer, _ = await post(under_a, "/gift_card/activate", activate_request)
    assert status == 200
    deactivate_request = {"card_number": DEACTIVATED, "idempotence_key": "kr-deactivate"}
    status, deactivated_answer, _ = await post(under_a, "/gift_card/deactivate", deactivate_request)
    assert status == 200
    first_instrument = await instrument_of(under_a, ONLINE, 30, "kr-auth")
    assert (await post(under_a, f"/financial_instruments/{first_instrument}/_capture", psp(30, "kr-cap")))[0] == 200
    # An issue whose answer was lost: its ledger write keeps the code (encrypted) until settled.
    await ledger_view.add_fault(sandbox, kind="lose_response", operation="giftCardCreate", count=1)
    lost_request = issue_body(value=25, key="kr-lost")
    assert (await post(under_a, "/gift_card/issue", lost_request))[0] == 503
    await under_a.close()

    async with db.acquire() as conn:
        # What the version before key ids left: an answer in ciphertext format 1.
        record = await conn.fetchrow("SELECT id, response_body FROM idempotency_keys WHERE key = 'kr-activate'")
        body = vault_a.decrypt(record["response_body"], context=f"activate:{record['id']}".encode())
        await conn.execute("UPDATE idempotency_keys SET response_body = $2 WHERE id = $1", record["id"],
                           version_1_ciphertext(KEY_A, body, f"activate:{record['id']}".encode()))
    assert await digest_key_ids(db) == {ID_A, None}
    headers = await ciphertext_headers(db)
    assert b"\x02" + ID_A in headers and {h[:1] for h in headers} == {b"\x01", b"\x02"}

    # ---- CARD_CODE_KEYS=B,A: B writes, A still reads ----------------------------------------------
    both = await make_adapter(card_code_key=None, card_code_keys=SecretStr(f"{KEY_B},{KEY_A}"))
    before = searches()
    assert await balance(both, issued) == Decimal(50)
    assert await balance(both, PHYSICAL) == Decimal(60)
    assert await balance(both, ONLINE) == Decimal(70)
    assert await balance(both, LEGACY_USED_UNDER_A) == Decimal(40)
    assert await balance(both, LEGACY_USED_UNDER_BOTH) == Decimal(40)
    second_instrument = await instrument_of(both, issued, 5, "kr-auth-2")
    assert searches() == before, "a card registered under key A was searched for in the ledger"
    # A registry row found by a lookup under an older key (or from before key ids) is moved to B on
    # the way, its code stored with it.
    for code in (issued, PHYSICAL, ONLINE, LEGACY_USED_UNDER_A, LEGACY_USED_UNDER_BOTH):
        assert await registry_row(db, sandbox, code) == (ID_B, HEADER_B)
    assert await registry_row(db, sandbox, DEACTIVATED) == (ID_A, b"\x02" + ID_A)  # not looked up: keys rotate
    await replayed(both, "/gift_card/issue", issue_request, issued_answer)
    await replayed(both, "/gift_card/activate", activate_request, activated_answer)
    await replayed(both, "/gift_card/deactivate", deactivate_request, deactivated_answer)
    assert (await post(both, f"/financial_instruments/{first_instrument}/_refund", psp(5, "kr-refund")))[0] == 200
    # An activation retried under a fresh key finds our own earlier one, recorded under A.
    status, answer, _ = await post(both, "/gift_card/activate", activate_body(PHYSICAL, 60, key="kr-activate-again"))
    assert (status, json.loads(answer)) == (200, {"identifier": {"number": PHYSICAL}})

    pool_vault = CodeVault([KEY_B, KEY_A])
    issued_meanwhile: list[str] = []

    async def traffic():
        for n in range(4):
            status, answer, _ = await post(both, "/gift_card/issue", issue_body(value=10, key=f"kr-during-{n}"))
            assert status == 200
            issued_meanwhile.append(json.loads(answer)["identifier"]["number"])
            assert await balance(both, ONLINE) == Decimal(75 - n)
            debit = authorize_body(ONLINE, 1, f"kr-during-auth-{n}")
            assert (await post(both, "/financial_instruments", debit))[0] == 200
            await replayed(both, "/gift_card/issue", issue_request, issued_answer)

    report, _ = await asyncio.gather(keyrotation.rotate(db, pool_vault, batch_size=2), traffic())
    assert report.rotated > 0 and report.unreadable == 0
    rotated = {(s.table, s.what.split()[0]): s.rotated for s in report.steps}
    assert rotated[("idempotency_keys", "encrypted")] >= 3  # issue, activate (format 1), deactivate
    # The cards looked up under B,A were moved by their lookup; the deactivated one was not looked up.
    assert rotated[("cards", "codes")] >= 1
    assert rotated[("ledger_writes", "codes")] == 1  # the lost issue's
    assert rotated[("instruments", "digests")] == 1  # the first instrument, opened under A
    assert max(s.batches for s in report.steps) > 1
    again = await keyrotation.rotate(db, pool_vault, batch_size=2)
    assert again.rotated == 0, "a second rotation moved rows again"
    remaining = {r.table: (r.with_code, r.digest_only) for r in again.remaining}
    assert remaining == {"idempotency_keys": (0, 0), "ledger_writes": (0, 0), "cards": (0, 1), "instruments": (0, 0)}
    assert await ciphertext_headers(db) == {HEADER_B}
    assert await digest_key_ids(db) == {ID_B, None}  # None: the legacy registry row, reported above
    await both.close()

    # ---- key B alone ------------------------------------------------------------------------------
    only_b = await make_adapter(card_code_key=None, card_code_keys=SecretStr(KEY_B))
    before = searches()
    assert await balance(only_b, issued) == Decimal(45)
    assert await balance(only_b, PHYSICAL) == Decimal(60)
    assert await balance(only_b, ONLINE) == Decimal(71)
    for number in issued_meanwhile:
        assert await balance(only_b, number) == Decimal(10)
    assert searches() == before, "a rotated registry row was not found under key B"
    await replayed(only_b, "/gift_card/issue", issue_request, issued_answer)
    await replayed(only_b, "/gift_card/activate", activate_request, activated_answer)
    await replayed(only_b, "/gift_card/deactivate", deactivate_request, deactivated_answer)
    assert (await post(only_b, f"/financial_instruments/{first_instrument}/_refund", psp(5, "kr-refund-2")))[0] == 200
    assert (await post(only_b, f"/financial_instruments/{second_instrument}/_capture", psp(5, "kr-cap-2")))[0] == 200
    # The lost issue resumes from its re-encrypted code: the card it created, not a second one.
    status, answer, _ = await post(only_b, "/gift_card/issue", lost_request)
    assert status == 200
    lost_number = json.loads(answer)["identifier"]["number"]
    assert await balance(only_b, lost_number) == Decimal(25)
    assert len([c for c in await ledger_view.cards(sandbox) if c["code"] == lost_number]) == 1
    # The legacy rows looked up before A was dropped were moved: found without a search.
    before = searches()
    assert await balance(only_b, LEGACY_USED_UNDER_A) == await balance(only_b, LEGACY_USED_UNDER_BOTH) == Decimal(40)
    assert searches() == before
    # The one never looked up cannot be found without key A: the ledger search finds the card again.
    assert await balance(only_b, LEGACY_UNUSED) == Decimal(40)
    assert searches() == before + 1
    unused_card = await ledger_view.card_by_code(sandbox, LEGACY_UNUSED)
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT code_key_id FROM cards WHERE shopify_id = $1", unused_card["id"])
    assert {r["code_key_id"] for r in rows} == {None, ID_B}  # registered anew, under B

    columns, logs = await _all_column_text(db), captured_logs()
    assert "registry_row_moved_to_writing_key" in logs and "card_code_key_rotation_step" in logs
    for code in (issued, PHYSICAL, ONLINE, DEACTIVATED, *LEGACY, lost_number, *issued_meanwhile):
        assert code not in columns, "a card code sits in Postgres in plaintext"
        assert code not in logs and code.upper() not in logs, "a card code reached the logs"
    for key in (KEY_A, KEY_B):
        assert key not in logs
    assert await ciphertext_headers(db) == {HEADER_B}



async def test_rotation_skips_rows_in_use_and_resumes_and_leaves_what_it_cannot_read(db):
    vault_a, key_c = CodeVault(KEY_A), "rotation-test-key-C-" + "c" * 24
    async with db.acquire() as conn:
        for n, vault in enumerate((vault_a, vault_a, CodeVault(key_c))):
            code = CardCode(f"krlockedcard000{n}")
            await conn.execute(
                """INSERT INTO cards (code_digest, code_key_id, code_encrypted, shopify_id, last_characters, origin)
                   VALUES ($1, $2, $3, $4, $5, 'issue')""",
                vault.digest(code), vault.key_id, vault.encrypt_code(code), f"gid://shopify/GiftCard/{n}", code.last4)
    both = CodeVault([KEY_B, KEY_A])
    held = await db.acquire()
    try:
        transaction = held.transaction()
        await transaction.start()
        await held.execute("SELECT * FROM cards WHERE shopify_id = 'gid://shopify/GiftCard/0' FOR UPDATE")
        first = await asyncio.wait_for(keyrotation.rotate(db, both, batch_size=1), timeout=10)  # never waits
        await transaction.rollback()
    finally:
        await db.release(held)
    cards_step = next(s for s in first.steps if s.table == "cards")
    assert (cards_step.rotated, cards_step.unreadable) == (1, 1)  # one in use, one under key C
    assert {r.table: r.with_code for r in first.remaining}["cards"] == 2
    second = await keyrotation.rotate(db, both)
    assert next(s for s in second.steps if s.table == "cards").rotated == 1  # the row that was in use
    assert {r.table: r.with_code for r in second.remaining}["cards"] == 1  # still under C, unreadable
    assert (await keyrotation.rotate(db, both)).rotated == 0
    async with db.acquire() as conn:
        by_key = {r["code_key_id"]: r["n"] for r in await conn.fetch(
            "SELECT code_key_id, count(*) AS n FROM cards GROUP BY 1")}
    assert by_key == {ID_B: 2, key_id_of_secret(key_c): 1}


async def test_keys_status_and_rotate_from_the_command_line(database_url, db):
    code = CardCode("krcommandline001")
    vault_a = CodeVault(KEY_A)
    async with db.acquire() as conn:
        await conn.execute(
            """INSERT INTO cards (code_digest, code_key_id, code_encrypted, shopify_id, last_characters, origin)
               VALUES ($1, $2, $3, 'gid://shopify/GiftCard/1', '0001', 'issue')""",
            vault_a.digest(code), vault_a.key_id, vault_a.encrypt_code(code))
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "CARD_CODE_KEYS": f"{KEY_B},{KEY_A}",
           "LOG_LEVEL": "WARNING"}

    async def run(*args):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapter", "keys", *args, env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        return process.returncode, out.decode(), err.decode()

    status, out, err = await run("status")
    assert status == 0, err
    assert f"writing key id: {ID_B.hex()}" in out and f"reading key ids: {ID_A.hex()}" in out
    assert f"{ID_A.hex()}" in out and "listed, reads only" in out
    status, out, err = await run("rotate", "--batch-size", "10")
    assert status == 0, err
    assert "cards" in out and "rotated 1" in out
    assert "rows still depending on an older key: 0" in out
    for secret in (KEY_A, KEY_B, code.value):
        assert secret not in out + err
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT code_key_id FROM cards") == ID_B
    env["CARD_CODE_KEYS"] = KEY_A  # B dropped too early: what it wrote is unreadable
    status, out, err = await run("status")
    assert status == 1, err
    assert f"{ID_B.hex()}" in out and "NOT CONFIGURED" in out
