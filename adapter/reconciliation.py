"""`giftcard-adapter reconcile`: proof for finance that the books agree (issue #12).

It compares our journal (every movement NewStore asked for that the ledger confirmed) with the
mirror (every ledger entry seen on our cards) and reports, as drift:

- unmatched_operation: an applied operation without exactly one ledger entry of its own;
- orphan_entry: an entry with our marker (or our write) that no operation accounts for;
- amount_mismatch: an entry whose amount, sign or currency is not the operation's;
- balance_mismatch: a card whose balance is not its initial value plus its entries.

Foreign movements (checkouts, admins, other apps) are summed by cause: they are not drift. An
operation on a card the mirror has not re-read since is `not_yet_mirrored`, not drift either (the
poller or `--sync` catches up). Nothing here holds a card code: ledger ids and last fours.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from adapter.store import reconciliation as queries

DRIFT_KINDS = ("unmatched_operation", "orphan_entry", "amount_mismatch", "balance_mismatch")


@dataclass(frozen=True)
class Finding:
    kind: str
    card_id: str
    last_characters: str | None
    operation: str | None
    write_id: str | None
    detail: str


@dataclass
class Report:
    since: datetime
    findings: list[Finding] = field(default_factory=list)
    not_yet_mirrored: int = 0
    checked: int = 0
    foreign: list[dict] = field(default_factory=list)

    @property
    def drift(self) -> dict[str, int]:
        counts = dict.fromkeys(DRIFT_KINDS, 0)
        for finding in self.findings:
            counts[finding.kind] += 1
        return counts

    @property
    def clean(self) -> bool:
        return not self.findings


async def reconcile(conn, since: datetime) -> Report:
    report = Report(since)
    for movement in await queries.journal(conn, since):
        if movement["synced_at"] is None or movement["synced_at"] < movement["created_at"]:
            report.not_yet_mirrored += 1
            continue
        report.checked += 1
        finding = _check_movement(movement)
        if finding is not None:
            report.findings.append(finding)
    for entry in await queries.orphan_entries(conn, since):
        report.findings.append(Finding("orphan_entry", entry["card_id"], entry["last_characters"], entry["operation"],
                                       entry["write_id"], f"entry {entry['entry_id']} of {entry['amount']} "
                                       f"{entry['currency']} carries our marker and no operation accounts for it"
                                       + _reviewed(entry["review_id"])))
    for card in await queries.unbalanced_cards(conn):
        report.findings.append(Finding("balance_mismatch", card["card_id"], card["last_characters"], None, None,
                                       f"balance {card['balance']} {card['currency']}, its entries add up to "
                                       f"{card['entries']}"))
    report.foreign = await queries.foreign_by_cause(conn, since)
    return report


def _reviewed(review_id: int | None) -> str:
    if review_id is None:
        return ""
    return f" (nobody answered it and the ledger refused its credit-back: review #{review_id})"


def _check_movement(movement: dict) -> Finding | None:
    def found(kind: str, detail: str) -> Finding:
        return Finding(kind, movement["card_id"], movement["last_characters"], movement["operation"],
                       movement["write_id"], detail)

    if movement["matches"] != 1:
        return found("unmatched_operation", f"{movement['matches']} ledger entries for {movement['amount']} "
                                            f"{movement['currency']}")
    # On an absolute ledger a PUT that wrote over a foreign change shows another delta; with the
    # change it restored (balance_repairs) it is exactly what the operation asked for.
    moved = movement["entry_amount"] + movement["restored"]
    expected = queries.SIGNS[movement["operation"]] * movement["amount"]
    if moved != expected or movement["entry_currency"] != movement["currency"]:
        return found("amount_mismatch", f"the ledger moved {moved} {movement['entry_currency']}, "
                                        f"the operation {expected} {movement['currency']}")
    return None


async def shift_summary(conn, day: datetime) -> list[dict]:
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = await queries.shift_totals(conn, start, start + timedelta(days=1))
    return [{**row, "difference": row["ledger"] - row["newstore"]} for row in rows]


# ---- output -------------------------------------------------------------------------------------

def render(report: Report, shift: list[dict], form: str) -> str:
    if form == "json":
        return json.dumps({
            "since": report.since.isoformat(), "clean": report.clean, "drift": report.drift,
            "checked": report.checked, "not_yet_mirrored": report.not_yet_mirrored,
            "findings": [asdict(f) for f in report.findings], "foreign_by_cause": report.foreign, "shift": shift,
        }, default=_exact)
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["kind", "card_id", "last_characters", "operation", "write_id", "detail"])
        for f in report.findings:
            writer.writerow([f.kind, f.card_id, f.last_characters or "", f.operation or "", f.write_id or "", f.detail])
        return out.getvalue()
    return "\n".join(_table(report, shift))


def _exact(value: object) -> str:
    """Amounts as exact decimal strings (never a float), times as ISO 8601."""
    if isinstance(value, (Decimal, datetime)):
        return value.isoformat() if isinstance(value, datetime) else str(value)
    raise TypeError(type(value).__name__)


def _table(report: Report, shift: list[dict]) -> list[str]:
    lines = [f"reconciliation since {report.since:%Y-%m-%d %H:%M}Z: "
             f"{'CLEAN' if report.clean else 'DRIFT'} ({report.checked} operations checked, "
             f"{report.not_yet_mirrored} not yet mirrored)"]
    lines += [f"  {kind:<20} {count}" for kind, count in report.drift.items()]
    for f in report.findings:
        lines.append(f"  ! {f.kind}: card {f.card_id} (…{f.last_characters or '????'}) "
                     f"{f.operation or '-'} write {f.write_id or '-'}: {f.detail}")
    if report.foreign:
        lines.append("foreign movements by cause:")
        lines += [f"  {r['currency']} {r['cause']:<18} {r['movements']:>6} {r['total']:>14}" for r in report.foreign]
    if shift:
        lines.append("shift summary (NewStore vs ledger):")
        lines += [f"  {r['currency']} {r['kind']:<12} {r['movements']:>6} {r['newstore']:>14} {r['ledger']:>14}"
                  f" {r['difference']:>10}" for r in shift]
    return lines
