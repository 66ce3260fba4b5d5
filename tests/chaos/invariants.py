"""What must hold after any run, read from the sandbox's ledger and our own tables."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

from tests import ledger_view

MARKER = re.compile(r"^gca:v1:([a-z]+):([0-9a-f]{32})$")


async def assert_exactly_once(sandbox, db) -> dict[str, int]:
    """Every ledger effect of ours belongs to exactly one applied write, every applied write is in
    the ledger once, and no key has more than one effect. Returns figures for the report."""
    cards = await ledger_view.cards(sandbox)
    markers: Counter[str] = Counter()
    for card in cards:
        ledger_view.assert_balance_matches_transactions(card)
        for transaction in card["transactions"]:
            if transaction.get("note") and MARKER.match(transaction["note"]):
                markers[MARKER.match(transaction["note"])[2]] += 1
        if card.get("note") and MARKER.match(card["note"]):
            markers[MARKER.match(card["note"])[2]] += 1
    doubled = [write_id for write_id, count in markers.items() if count > 1]
    async with db.acquire() as conn:
        if doubled:
            details = await conn.fetch("SELECT write_id, operation, state, attempts FROM ledger_writes WHERE write_id = ANY($1)",
                                       doubled)
            seen = [(c["code"][-4:], t["note"], t["amount"], t["processedAt"]) for c in cards for t in c["transactions"]
                    if any(d in (t.get("note") or "") for d in doubled)]
            seen += [(c["code"][-4:], c["note"], "card") for c in cards if any(d in (c.get("note") or "") for d in doubled)]
            raise AssertionError(f"writes applied twice in the ledger: {[dict(r) for r in details]} {seen}")
        rows = await conn.fetch("SELECT write_id, operation, state, idempotency_id FROM ledger_writes")
        per_record = await conn.fetch(
            """SELECT idempotency_id, count(*) AS effects FROM ledger_writes
                WHERE state = 'applied' AND operation NOT IN ('reverse', 'deactivate') AND idempotency_id IS NOT NULL
                GROUP BY idempotency_id HAVING count(*) > 1"""
        )
    assert per_record == [], "a key with more than one ledger effect"
    states = {row["write_id"]: row["state"] for row in rows}
    for write_id in markers:
        assert states.get(write_id) == "applied", f"ledger effect {write_id} not recorded as applied ({states.get(write_id)})"
    for row in rows:
        if row["state"] == "applied" and row["operation"] != "deactivate":
            assert markers[row["write_id"]] == 1, f"applied write {row['write_id']} missing from the ledger"
        if row["state"] in ("abandoned", "declined"):
            assert markers[row["write_id"]] == 0, f"{row['state']} write {row['write_id']} is in the ledger"
    return {"ledger_effects": sum(markers.values()), "double_effects": len(doubled)}


async def assert_instrument_totals_match_ledger(sandbox, db) -> None:
    """Each instrument's totals equal what its applied writes moved on the card."""
    by_write = {}
    for card in await ledger_view.cards(sandbox):
        for transaction in card["transactions"]:
            match = MARKER.match(transaction.get("note") or "")
            if match:
                amount = transaction["amount"]
                by_write[match[2]] = Decimal(amount["amount"] if isinstance(amount, dict) else amount)
    async with db.acquire() as conn:
        instruments = await conn.fetch("SELECT * FROM instruments")
        for instrument in instruments:
            writes = await conn.fetch(
                "SELECT write_id, operation FROM ledger_writes WHERE instrument_id = $1 AND state = 'applied'",
                instrument["id"],
            )
            moved = sum((by_write.get(w["write_id"], Decimal(0)) for w in writes), Decimal(0))
            assert instrument["refund_reserved"] == 0 and instrument["revoke_reserved"] == 0, "reservation left open"
            assert moved == -instrument["authorized"] + instrument["refunded"] + instrument["revoked"], instrument["id"]
