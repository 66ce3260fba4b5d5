"""`giftcard-adapter cards import FILE` through the real entry point (`python -m adapter`, a
subprocess) over a real Postgres: what it registers, what it refuses and says, its exit status,
and that no code reaches the output, the log or a column in plaintext."""

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from adapter import cardimport, keyrotation
from adapter.crypto import CodeVault, key_id_of_secret
from adapter.domain.cardcode import CardCode
from adapter.domain.cardnumbers import CardNumberReader
from adapter.store import cardimport as staged
from adapter.store import cards as registry
from tests.cli import run_main

ROOT = Path(__file__).resolve().parents[2]
KEY = "import-test-key-A-" + "a" * 26
OLD_KEY = "import-test-key-B-" + "b" * 26
VAULT = CodeVault(KEY)
GID = "gid://shopify/GiftCard/"


def codes(n: int) -> list[str]:
    return [CardCode.generate().value for _ in range(n)]


def write(tmp_path: Path, text: str, *, name: str = "export.csv", bom: bool = False, crlf: bool = False) -> Path:
    if crlf:
        text = text.replace("\n", "\r\n")
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


async def run(database_url: str, path: Path, *args: str, keys: str = KEY,
              in_process: bool = True) -> tuple[int, str, str]:
    """`giftcard-adapter cards import path *args`: its exit status, stdout and stderr. In this
    process, main(argv) on a thread of its own with the environment set and stdout and stderr
    captured (a new process costs a second of imports); or as `python -m adapter`."""
    env = {"DATABASE_URL": database_url, "CARD_CODE_KEYS": keys, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    argv = ["cards", "import", str(path), *args]
    if not in_process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapter", *argv, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        return process.returncode, out.decode(), err.decode()
    return await run_main(argv, env)


def summary(out: str) -> dict[str, str]:
    """The summary's `name: value` lines."""
    pairs = (line.partition(":") for line in out.splitlines() if not line.startswith("line "))
    return {k.strip(): v.strip() for k, _, v in pairs}


def refused_lines(out: str) -> dict[int, str]:
    return {int(line.split(":")[0].removeprefix("line ")): line for line in out.splitlines() if line.startswith("line ")}


def imported_log(err: str) -> dict:
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    found = [e for e in events if e["event"] == "cards_imported"]
    assert len(found) == 1, err
    return found[0]


def assert_no_code(text: str, *plain: str) -> None:
    flattened = text.lower().replace("-", "").replace(" ", "")
    for code in plain:
        assert code not in flattened, "a full card code is in the output"


async def registry_rows(db) -> dict[str, dict]:
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM cards")
    return {r["shopify_id"]: dict(r) for r in rows}


async def all_column_text(db) -> str:
    """Every value of every column of every table, bytes as latin-1 and as hex."""
    dump = []
    async with db.acquire() as conn:
        tables = [r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                for value in row.values():
                    values = value if isinstance(value, list) else [value]
                    for v in values:
                        if isinstance(v, bytes):
                            dump += [v.decode("latin-1"), v.hex()]
                        else:
                            dump.append(str(v))
    return "\n".join(dump).lower()


async def test_a_fresh_import_registers_the_cards_and_a_second_imports_nothing(database_url, db, tmp_path):
    a, b, c = codes(3)
    upper_dashed = "-".join(c[i:i + 4] for i in range(0, 16, 4)).upper()  # as printed on a card
    path = write(tmp_path, f"code,id,currency,last_characters\n"
                           f"{a},1001,EUR,{a[-4:]}\n"
                           f"{b},{GID}1002,eur,\n"
                           f"{upper_dashed},1003,,{c[-4:].upper()}\n")

    status, out, err = await run(database_url, path, in_process=False)  # the installed entry point, once
    assert status == 0, out + err
    assert summary(out).items() >= {"ledger": "shopify", "rows read": "3", "imported": "3", "already registered": "0",
                                 "refused": "0"}.items()
    assert refused_lines(out) == {}
    rows = await registry_rows(db)
    assert set(rows) == {f"{GID}1001", f"{GID}1002", f"{GID}1003"}  # numeric ids stored as the gids Shopify answers
    assert {r["origin"] for r in rows.values()} == {"imported"}
    assert {r["code_key_id"] for r in rows.values()} == {VAULT.key_id}
    assert [rows[f"{GID}100{n}"]["last_characters"] for n in (1, 2, 3)] == [a[-4:], b[-4:], c[-4:]]
    assert [rows[f"{GID}100{n}"]["currency"] for n in (1, 2, 3)] == ["EUR", "EUR", None]
    assert rows[f"{GID}1003"]["code_digest"] == VAULT.digest(CardCode(c))  # normalised as NewStore input
    assert VAULT.decrypt_code(rows[f"{GID}1001"]["code_encrypted"]) == CardCode(a)
    log = imported_log(err)
    assert (log["rows"], log["imported"], log["already_registered"], log["refused"]) == (3, 3, 0, 0)

    status, again, err = await run(database_url, path)
    assert status == 0, again + err
    assert summary(again).items() >= {"imported": "0", "already registered": "3", "refused": "0"}.items()
    assert await registry_rows(db) == rows  # nothing rewritten, not even created_at
    assert imported_log(err)["already_registered"] == 3
    for text in (out, again, err):
        assert_no_code(text, a, b, c)


async def test_an_imported_card_is_found_by_the_registry_lookup_the_use_cases_use(database_url, db, tmp_path):
    (code,) = codes(1)
    path = write(tmp_path, f"gift_card_code,gift_card_id\n{code},77\n")
    assert (await run(database_url, path))[0] == 0
    till_input = CardNumberReader().read("shopify-giftcard-v1-" + code.upper())  # a QR scan at the till
    async with db.acquire() as conn:
        found = await keyrotation.find_registered(conn, VAULT, till_input)
        unknown = await keyrotation.find_registered(conn, VAULT, CardCode.generate())
    assert (found.shopify_id, found.origin, found.last_characters) == (f"{GID}77", "imported", code[-4:])
    assert unknown is None


async def test_conflicts_are_refused_and_never_overwrite(database_url, db, tmp_path):
    issued, other_card, known, twice_same, twice_other, id_shared_1, id_shared_2, fine = codes(8)
    async with db.acquire() as conn:
        for code, card in ((issued, "500"), (other_card, "600"), (known, "650")):
            value = CardCode(code)
            await registry.remember(conn, VAULT.digest(value), VAULT.key_id, VAULT.encrypt_code(value),
                                    f"{GID}{card}", value.last4, "EUR", "issue")
    before = await registry_rows(db)
    path = write(tmp_path, "ID,Code\n"
                           f"501,{issued}\n"        # 2: registered to 500: refused
                           f"600,{fine}\n"          # 3: 600 is registered with another code: refused
                           f"700,{twice_same}\n"    # 4: imported
                           f"800,{twice_other}\n"   # 5: the same code with 801 on line 7: both refused
                           f"700,{twice_same}\n"    # 6: repeated (same code, same id)
                           f"801,{twice_other}\n"   # 7
                           f"900,{id_shared_1}\n"   # 8: id 900 with two codes: both refused
                           f"900,{id_shared_2}\n"   # 9
                           f"650,{known}\n")        # 10: already registered
    status, out, err = await run(database_url, path)
    assert status == 1, out + err
    assert summary(out).items() >= {"rows read": "9", "imported": "1", "already registered": "1",
                                 "repeated in the file (same code and id)": "1", "refused": "6",
                                 "registered_to_other_id": "1", "id_registered_to_other_code": "1",
                                 "conflicting_ids_in_file": "2", "conflicting_codes_in_file": "2"}.items()
    refused = refused_lines(out)
    assert sorted(refused) == [2, 3, 5, 7, 8, 9]
    assert "registered_to_other_id" in refused[2] and f"registered: {GID}500" in refused[2]
    assert f"…{issued[-4:]}" in refused[2]
    assert "id_registered_to_other_code" in refused[3] and f"code …{other_card[-4:]}" in refused[3]
    assert "conflicting_ids_in_file" in refused[5] and "see line 7" in refused[5]
    assert "conflicting_ids_in_file" in refused[7] and "see line 5" in refused[7]
    assert "conflicting_codes_in_file" in refused[8] and "see line 9" in refused[8]
    rows = await registry_rows(db)
    assert {k: rows[k] for k in before} == before  # the registered cards are untouched
    assert set(rows) - set(before) == {f"{GID}700"}
    log = imported_log(err)
    assert log["refused"] == 6 and log["refused_by_reason"]["conflicting_ids_in_file"] == 2
    assert_no_code(out + err, issued, other_card, known, twice_same, twice_other, id_shared_1, id_shared_2, fine)

    status, again, _ = await run(database_url, path)  # the same refusals, nothing new
    assert status == 1 and sorted(refused_lines(again)) == [2, 3, 5, 7, 8, 9]
    assert summary(again)["imported"] == "0" and summary(again)["already registered"] == "2"
    assert await registry_rows(db) == rows


async def test_bad_rows_are_refused_by_line_and_reason_and_the_good_ones_imported(database_url, db, tmp_path):
    good, short_mismatch, currency, wide = codes(4)
    path = write(tmp_path, "code,id,currency,last_characters\n"
                           f"{good},1,USD,\n"                      # 2: imported
                           "abcd!efgh12345,2,,\n"                  # 3: not letters and digits
                           "ünïcödé123456789,3,,\n"                # 4: not ASCII
                           "abc123,4,,\n"                          # 5: too short for any ledger
                           f"{short_mismatch},5,,zzzz\n"           # 6: last_characters mismatch
                           f"{currency},6,EURO,\n"                 # 7: currency
                           f"{wide},7,,,extra\n"                   # 8: a field too many
                           f"{good[::-1]},gid://shopline/1,,\n"    # 9: not a Shopify id
                           ",10,,\n"                               # 10: no code
                           f"{good[1:]}x,,,\n"                     # 11: no id
                           ",,,\n")                                # 12: blank: skipped
    status, out, err = await run(database_url, path)
    assert status == 1, out + err
    refused = refused_lines(out)
    reasons = {n: next(r for r in cardimport.REASONS if f" {r}:" in line) for n, line in refused.items()}
    assert reasons == {3: "invalid_code", 4: "invalid_code", 5: "code_rule", 6: "last_characters_mismatch",
                       7: "invalid_currency", 8: "field_count", 9: "invalid_id", 10: "missing_code",
                       11: "missing_id"}
    assert summary(out).items() >= {"rows read": "10 (1 blank lines skipped)", "imported": "1", "refused": "9"}.items()
    assert set(await registry_rows(db)) == {f"{GID}1"}
    assert "…" not in refused[5]  # a code too short for any ledger: not even its last four
    assert f"card …{short_mismatch[-4:]}" in refused[6]
    assert "extra" not in out and "EURO" not in out and "gid://shopline" not in out  # no row value echoed
    assert_no_code(out + err, good, short_mismatch, currency, wide, good[::-1], "abcdefgh12345", "abc123")


@pytest.mark.parametrize("content, message", [
    ("code,card\nabcdefgh12345678,1\n", "no ledger card id column"),
    ("id,currency\n1,EUR\n", "no code column"),
    ("code,id,gift_card_id\nabcdefgh12345678,1,2\n", "more than one ledger card id column"),
    ("", "is empty"),
    ("code,id\nabcdefgh12345678,1\nabcdefgh87654321,\"2\"x\n", "line 3: not valid CSV"),
])
async def test_an_unreadable_file_or_a_missing_column_exits_2_and_registers_nothing(
        database_url, db, tmp_path, content, message):
    status, out, err = await run(database_url, write(tmp_path, content))
    assert status == 2, out + err
    assert message in err and out == ""
    assert await registry_rows(db) == {}
    assert_no_code(out + err, "abcdefgh12345678", "abcdefgh87654321")


async def test_a_file_that_is_not_there_exits_2(database_url, tmp_path):
    status, out, err = await run(database_url, tmp_path / "missing.csv")
    assert (status, out) == (2, "") and "cannot read" in err


async def test_a_bom_crlf_quoted_export_with_mixed_case_headers(database_url, db, tmp_path):
    a, b = codes(2)
    path = write(tmp_path, 'Code,Gift_Card_ID,Last Characters,Note\n'
                           f'"{a}","2001","{a[-4:]}","first, with a comma"\n'
                           f'{b},2002,{b[-4:]},"two\nlines"\n', bom=True, crlf=True)
    status, out, err = await run(database_url, path)
    assert status == 0, out + err
    rows = await registry_rows(db)
    assert set(rows) == {f"{GID}2001", f"{GID}2002"}
    assert rows[f"{GID}2002"]["last_characters"] == b[-4:]  # no \r in the values
    assert rows[f"{GID}2001"]["code_digest"] == VAULT.digest(CardCode(a))  # the BOM is not in the header's name


async def test_ledger_id_forms(database_url, db, tmp_path):
    a, b, c = codes(3)
    text = f"code,ledger_id\n{a},{GID}42\n{b},0123456789012345678901234567890\n{c},77\n"
    status, out, _ = await run(database_url, write(tmp_path, text), "--ledger", "shopline")
    assert status == 1, out
    assert "ledger: shopline" in out and " invalid_id:" in refused_lines(out)[2]  # a gid is not a SHOPLINE id
    assert set(await registry_rows(db)) == {"0123456789012345678901234567890", "77"}  # digits, as SHOPLINE answers
    status, out, _ = await run(database_url, write(tmp_path, f"code,id\n{a},{GID}42\n"), "--ledger", "gifthero")
    assert status == 1 and " invalid_id:" in refused_lines(out)[2]
    status, out, _ = await run(database_url, write(tmp_path, f"code,id\n{a},{GID}42\n"))  # default: shopify
    assert status == 0 and "ledger: shopify" in out
    assert f"{GID}42" in await registry_rows(db)


async def test_a_card_registered_under_an_older_key_is_already_registered(database_url, db, tmp_path):
    (code,) = codes(1)
    old = CodeVault(OLD_KEY)
    value = CardCode(code)
    async with db.acquire() as conn:
        await registry.remember(conn, old.digest(value), old.key_id, old.encrypt_code(value), f"{GID}5", value.last4,
                                None, "discovered")
    path = write(tmp_path, f"code,id\n{code},5\n")
    status, out, err = await run(database_url, path, keys=f"{KEY},{OLD_KEY}")
    assert status == 0, out + err
    assert summary(out)["already registered"] == "1"
    rows = await registry_rows(db)
    assert list(rows) == [f"{GID}5"] and rows[f"{GID}5"]["code_key_id"] == key_id_of_secret(OLD_KEY)


async def test_many_rows_in_many_batches_and_no_plaintext_anywhere(database_url, db, tmp_path):
    plain = codes(1500)
    lines = [f"{code},{3000 + n}" for n, code in enumerate(plain)]
    lines[700] = lines[10]  # a repeat in another batch
    path = write(tmp_path, "code,id\n" + "\n".join(lines) + "\n")
    status, out, err = await run(database_url, path, "--batch-size", "100")
    assert status == 0, out + err
    assert summary(out).items() >= {"rows read": "1500", "imported": "1499",
                                 "repeated in the file (same code and id)": "1"}.items()
    assert len(await registry_rows(db)) == 1499
    columns = await all_column_text(db)
    for code in plain:
        assert code not in columns, "a full card code sits in Postgres in plaintext"
        assert code.encode().hex() not in columns
    assert_no_code(out + err, *plain)


async def test_a_card_the_service_registers_during_a_batch_is_classified_not_overwritten(database_url, db):
    """The race between a batch's check and its insert: the insert skips the row, the batch is
    run again and reports it."""
    (code,) = codes(1)
    value = CardCode(code)
    checker = cardimport.RowChecker(VAULT, CardNumberReader(), "shopify",
                                    cardimport.Columns(width=2, code=0, id=1, currency=None, last_characters=None))
    async with db.acquire() as conn, db.acquire() as service:
        await staged.create_stage(conn)
        await staged.stage(conn, [checker.record(2, [code, "1"])])
        await staged.mark_in_file(conn)
        await conn.execute(staged._CLASSIFY_CODES, 0, 2)  # nothing registered yet
        await registry.remember(service, VAULT.digest(value), VAULT.key_id, VAULT.encrypt_code(value), f"{GID}9",
                                value.last4, None, "discovered")
        await conn.execute(staged._INSERT, 0, 2, VAULT.key_id)
        assert await conn.fetchval(staged._LEFT, 0, 2) == 1  # not inserted: still to decide
        assert await staged.register_batch(conn, 0, 2, VAULT.key_id) == 0
        assert [r.reason async for r in staged.refused(conn)] == ["registered_to_other_id"]
        await staged.drop_stage(conn)
    assert list(await registry_rows(db)) == [f"{GID}9"]


async def test_a_database_not_migrated_exits_2_and_one_that_fails_exits_3(postgres_server_url, tmp_path):
    from adapter.store.migrations import migrate
    from tests.conftest import _with_database
    from tests.integration.test_migrations import fresh_database

    path = write(tmp_path, f"code,id\n{codes(1)[0]},1\n")
    async with fresh_database(postgres_server_url, "gca_import_004") as conn:
        await migrate(conn, 4)
        name = await conn.fetchval("SELECT current_database()")
        status, out, err = await run(_with_database(postgres_server_url, name), path)
        assert (status, out) == (2, "") and "at migration 4 of" in err and "migrate first" in err
        assert await conn.fetchval("SELECT count(*) FROM cards") == 0
    status, out, err = await run("postgresql://postgres@127.0.0.1:1/nowhere", path)
    assert (status, out) == (3, "") and "cards import stopped" in err and "run it again" in err
