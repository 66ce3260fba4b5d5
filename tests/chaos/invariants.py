"""What must hold after any run, read from the ledger (through its tests.standins stand-in) and
from our own tables, on every ledger.

- Consistent ledger: every card's balance is its initial value plus its transactions.
- Exactly once: every applied write of ours is in the ledger once, nothing else of ours is.
  Shopify: each of our transactions carries its write's marker, so it is counted per write. The
  absolute ledgers carry no note on a balance change: every applied debit or credit names its
  entry (ledger_writes.ledger_transaction_id), no two writes name the same one, and every other
  entry our API client made is one of our correcting PUTs (balance_repairs); one more is a PUT
  made twice. On every ledger a created card carries its create's marker as its note.
- No lost foreign change: each card's balance is its initial value plus what our applied writes
  moved (their amounts, from ledger_writes) plus every movement made elsewhere (as the ledger
  recorded it: the checkouts and refunds a test injected). A PUT that overwrote a checkout and
  was never repaired breaks this; so does a write applied twice, or one we record but the ledger
  lacks. A card with an open review (ledger_reviews) is exempt and counted: an operator decides.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

MARKER = re.compile(r"^gca:v1:([a-z]+):([0-9a-f]{32})$")
CREATES = ("issue", "activate")
MONEY = ("authorize", "refund", "revoke", "reverse")


def signed(operation: str, amount: Decimal) -> Decimal:
    return -amount if operation == "authorize" else amount


@dataclass
class Findings:
    cards: int = 0
    ledger_effects: int = 0              # our effects found in the ledger (creates and money writes)
    doubles: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)      # applied by our records, absent in the ledger
    strays: list[str] = field(default_factory=list)       # in the ledger, not applied by our records
    lost_foreign: list[str] = field(default_factory=list)  # cards whose balance is off, no review
    foreign_changes: int = 0             # movements made elsewhere, as the ledger recorded them
    foreign_total: Decimal = Decimal(0)
    explained_by_review: list[str] = field(default_factory=list)
    repairs: Counter[str] = field(default_factory=Counter)
    reviews: Counter[str] = field(default_factory=Counter)

    def failures(self) -> list[str]:
        return [*(f"double: {d}" for d in self.doubles), *(f"missing: {m}" for m in self.missing),
                *(f"stray: {s}" for s in self.strays), *(f"lost foreign change: {x}" for x in self.lost_foreign)]


async def examine(ledger, db) -> Findings:
    """Every check above, as findings (assert_exactly_once fails on them)."""
    await ledger.assert_consistent()
    cards = await ledger.cards()
    async with db.acquire() as conn:
        writes = [dict(r) for r in await conn.fetch(
            """SELECT write_id, operation, state, shopify_card_id AS card_id, amount, ledger_transaction_id,
                      verify_state, idempotency_id FROM ledger_writes""")]
        repairs = [dict(r) for r in await conn.fetch("SELECT write_id, ledger_card_id, amount, state FROM balance_repairs")]
        reviews = [dict(r) for r in await conn.fetch(
            "SELECT write_id, ledger_card_id, reason FROM ledger_reviews WHERE resolved_at IS NULL")]
        per_record = await conn.fetch(
            """SELECT idempotency_id, count(*) AS effects FROM ledger_writes
                WHERE state = 'applied' AND operation NOT IN ('reverse', 'deactivate') AND idempotency_id IS NOT NULL
                GROUP BY idempotency_id HAVING count(*) > 1""")
    found = Findings(cards=len(cards), repairs=Counter(r["state"] for r in repairs),
                     reviews=Counter(r["reason"] for r in reviews))
    found.doubles += [f"key {r['idempotency_id']} has {r['effects']} ledger effects" for r in per_record]
    by_id = {w["write_id"]: w for w in writes}
    reviewed_cards = {r["ledger_card_id"] for r in reviews}
    reviewed_writes = {r["write_id"] for r in reviews if r["write_id"]}

    # Creates: a card carries its create's marker as its note, on every ledger.
    created = Counter(MARKER.match(c["note"] or "")[2] for c in cards if MARKER.match(c["note"] or ""))
    _count_effects(found, by_id, created, CREATES)

    if ledger.notes:
        effects = Counter(MARKER.match(t["note"] or "")[2] for c in cards for t in c["transactions"]
                          if MARKER.match(t["note"] or ""))
        _count_effects(found, by_id, effects, MONEY)
    else:
        _count_absolute(found, cards, writes, repairs, reviewed_writes)

    # The balance equation, per card.
    moved: Counter[str] = Counter()
    for w in writes:
        if w["state"] == "applied" and w["operation"] in MONEY:
            moved[w["card_id"]] += signed(w["operation"], w["amount"])
    for card in cards:
        foreign = [t["amount"] for t in card["transactions"] if not t["ours"]]
        found.foreign_changes += len(foreign)
        found.foreign_total += sum(foreign, Decimal(0))
        residual = card["balance"] - card["initial_value"] - moved[card["id"]] - sum(foreign, Decimal(0))
        if residual != 0:
            where = f"card …{card['code'][-4:]} ({card['id']}) off by {residual}"
            (found.explained_by_review if card["id"] in reviewed_cards else found.lost_foreign).append(where)
    return found


def _count_effects(found: Findings, by_id: dict, effects: Counter, operations: tuple[str, ...]) -> None:
    """Effects counted per write by their marker."""
    for write_id, count in effects.items():
        found.ledger_effects += count
        write = by_id.get(write_id)
        if count > 1:
            found.doubles.append(f"write {write_id} ({write and write['operation']}) is in the ledger {count} times")
        if write is None or write["state"] != "applied":
            found.strays.append(f"ledger effect of write {write_id} recorded as {write and write['state']}")
    for write_id, write in by_id.items():
        if write["operation"] not in operations:
            continue
        if write["state"] == "applied" and effects[write_id] == 0:
            found.missing.append(f"applied {write['operation']} {write_id} is not in the ledger")


def _count_absolute(found: Findings, cards: list[dict], writes: list[dict], repairs: list[dict],
                    reviewed_writes: set[str]) -> None:
    """Money writes on a ledger without notes: by the entry each applied write names."""
    ours = {t["id"]: (card, t) for card in cards for t in card["transactions"] if t["ours"]}
    claimed: Counter[str] = Counter()
    for w in writes:
        if w["operation"] not in MONEY or w["state"] != "applied":
            continue
        entry = w["ledger_transaction_id"]
        if entry in ours:
            claimed[entry] += 1
            found.ledger_effects += 1
        elif w["write_id"] not in reviewed_writes:
            found.missing.append(f"applied {w['operation']} {w['write_id']} names entry {entry}, not in the ledger")
    found.doubles += [f"entry {entry} is named by {n} writes" for entry, n in claimed.items() if n > 1]
    # Every other entry of ours is a correcting PUT, or the PUT of a write in review.
    unclaimed: Counter[str] = Counter(card["id"] for entry, (card, _) in ours.items() if entry not in claimed)
    allowed: Counter[str] = Counter()
    for repair in repairs:
        if repair["state"] in ("applied", "review"):  # a repair in review may or may not have landed
            allowed[repair["ledger_card_id"]] += 1
    for w in writes:
        if w["write_id"] in reviewed_writes and not (w["state"] == "applied" and w["ledger_transaction_id"] in ours):
            allowed[w["card_id"]] += 1
    for card_id, count in unclaimed.items():
        if count > allowed[card_id]:
            found.doubles.append(f"card {card_id}: {count} PUTs of ours that no write or repair accounts for "
                                 f"({allowed[card_id]} repairs or reviewed writes)")


async def assert_exactly_once(ledger, db) -> dict[str, int]:
    """Fails on a double, a missing or stray effect, or a lost foreign change. Returns figures
    for the report."""
    found = await examine(ledger, db)
    assert not found.failures(), found.failures()
    return {"ledger_effects": found.ledger_effects, "double_effects": len(found.doubles)}


async def assert_instrument_totals_match_ledger(ledger, db) -> int:
    """Each instrument's totals equal what its applied writes moved (by the ledger's own record
    of them where it keeps our marker, else by the amounts the writes applied). An instrument
    with a write in review keeps its reservation until an operator decides: skipped, and
    counted (the answer)."""
    by_write: dict[str, Decimal] = {}
    if ledger.notes:
        for card in await ledger.cards():
            for transaction in card["transactions"]:
                match = MARKER.match(transaction.get("note") or "")
                if match:
                    by_write[match[2]] = transaction["amount"]
    async with db.acquire() as conn:
        instruments = await conn.fetch(
            """SELECT i.*, EXISTS (SELECT 1 FROM ledger_writes w WHERE w.instrument_id = i.id
                                     AND w.verify_state = 'review') AS in_review FROM instruments i""")
        in_review = 0
        for instrument in instruments:
            if instrument["in_review"]:
                in_review += 1
                continue
            writes = await conn.fetch(
                "SELECT write_id, operation, amount FROM ledger_writes WHERE instrument_id = $1 AND state = 'applied'",
                instrument["id"],
            )
            moved = sum((by_write.get(w["write_id"], Decimal(0)) if ledger.notes else signed(w["operation"], w["amount"])
                         for w in writes), Decimal(0))
            every = [dict(w) for w in await conn.fetch(
                """SELECT w.operation, w.amount, w.state, w.verify_state, w.attempts, k.state AS key_state,
                          k.locked_by IS NOT NULL AS leased
                     FROM ledger_writes w LEFT JOIN idempotency_keys k ON k.id = w.idempotency_id
                    WHERE w.instrument_id = $1 ORDER BY w.created_at""", instrument["id"])]
            seen = f"{dict(instrument)} writes={every}"
            assert instrument["refund_reserved"] == 0 and instrument["revoke_reserved"] == 0, f"reservation left open: {seen}"
            assert moved == -instrument["authorized"] + instrument["refunded"] + instrument["revoked"], seen
    return in_review
