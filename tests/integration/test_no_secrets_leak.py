"""Card codes never reach logs, error bodies or plaintext columns."""

from tests import ledger_view
from tests.conftest import AUTH
from tests.integration.test_giftcard_endpoints import activate_body, issue_body
from tests.integration.test_payments import authorize_body, psp

CODES = ["leakcheckcard001", "leakcheckcard002"]


async def _all_column_text(db) -> str:
    async with db.acquire() as conn:
        tables = [r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        dump = []
        for table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                for value in row.values():
                    dump.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return "\n".join(dump)


async def test_codes_never_appear_in_logs_bodies_or_columns(adapter, sandbox, db, captured_logs):
    await ledger_view.make_card(sandbox, CODES[1], "20.00")
    issued = await adapter.post("/gift_card/issue", json=issue_body(key="leak-issue"), headers=AUTH)
    issued_code = (await issued.json())["identifier"]["number"]
    codes = [*CODES, issued_code]
    bodies = []
    for response in [
        await adapter.post("/gift_card/activate", json=activate_body(CODES[0], key="leak-1"), headers=AUTH),
        await adapter.post("/gift_card/activate", json=activate_body(CODES[1], key="leak-2"), headers=AUTH),  # in use
        await adapter.post("/gift_card/balance", json={"identifier": {"number": CODES[1]}}, headers=AUTH),
        await adapter.post("/gift_card/balance", json={"identifier": {"number": issued_code}}, headers=AUTH),
        await adapter.post("/gift_card/balance", json={"identifier": {"number": "unknowncard00009"}}, headers=AUTH),
        await adapter.post("/gift_card/deactivate", json={"card_number": CODES[0], "idempotence_key": "leak-3"}, headers=AUTH),
        await adapter.post("/gift_card/balance", json={"identifier": {"number": CODES[0]}}, headers=AUTH),
        # The tender: the card number arrives in the authorization's metadata.
        authorized := await adapter.post("/financial_instruments", json=authorize_body(CODES[1], 5, "leak-4"), headers=AUTH),
        await adapter.post(f"/financial_instruments/{(await authorized.json())[0]['instrument_id']}/_revoke",
                           json=psp(5, "leak-5"), headers=AUTH),
        await adapter.post("/financial_instruments", json=authorize_body(CODES[0], 5, "leak-6"), headers=AUTH),  # deactivated
    ]:
        if response.status != 200:
            bodies.append(await response.text())
    logs = captured_logs()
    columns = await _all_column_text(db)
    assert "card_last4" in logs  # the logs do identify cards, by their last four
    for code in [*codes, "unknowncard00009"]:
        assert code not in logs, "a full card code reached the logs"
        assert code not in columns, "a full card code sits in Postgres in plaintext"
        assert code.upper() not in logs
        for body in bodies:
            assert code not in body
