"""`giftcard-adapter keys status | rotate`: card-code key rotation while the service serves.

Rotation moves every stored ciphertext and digest that depends on an older key to the key that
writes now (the first of CARD_CODE_KEYS), a batch at a time, each batch its own short
transaction with row locks (store/keyrotation). It is idempotent and resumable: it only ever
selects rows that are not on the writing key yet, so a second run, or a run after an
interruption, picks up what is left and rotates nothing twice.

In order:
1. encrypted answers (idempotency_keys.response_body): decrypted and re-encrypted, bound to
   their record as before ("operation:id");
2. ledger writes that keep their code: re-encrypted and re-digested;
3. registry rows that keep their code (registered since migration 004): re-encrypted and
   re-digested (moved to the new digest, the primary key);
4. ledger writes and instruments with a digest only: re-digested from their card's registry
   row, when their digest is that code's under a configured key.

What cannot be moved (a registry row from before migration 004, a row whose card has no stored
code) is reported: it stays readable only as long as its key is listed. The service itself moves
a registry row on the way whenever a lookup by the code finds it under an older key or without
its code (find_registered), so those rows shrink as their cards are used. Card codes never
leave this process: nothing but counts and key ids is printed or logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
import structlog
from cryptography.exceptions import InvalidTag

from adapter.crypto import CodeVault
from adapter.domain.cardcode import CardCode
from adapter.idempotency.coordinator import answer_context
from adapter.store import cards as registry
from adapter.store import keyrotation as sql
from adapter.store.cards import RegisteredCard

log = structlog.get_logger(__name__)

DEFAULT_BATCH_SIZE = 500
_MAX_PASSES = 3  # a pass that moved rows is followed by another: rows locked during it, rows written meanwhile
_UNREADABLE = (InvalidTag, ValueError)  # a key no longer configured, a digest that is not the code's, ...


@dataclass
class Step:
    """One kind of stored value, what a run did with it."""

    table: str
    what: str
    rotated: int = 0
    unreadable: int = 0  # under a key that is not configured (or a digest of another code): left as is
    batches: int = 0


@dataclass
class RotationReport:
    steps: list[Step] = field(default_factory=list)
    remaining: list[sql.Remaining] = field(default_factory=list)

    @property
    def rotated(self) -> int:
        return sum(s.rotated for s in self.steps)

    @property
    def unreadable(self) -> int:
        return sum(s.unreadable for s in self.steps)

    @property
    def still_on_old_keys(self) -> int:
        return sum(r.rows for r in self.remaining)


# A batch: lock rows after a position, move them; returns (rows locked, rotated, unreadable, last position).
Batch = Callable[[object, object, int], Awaitable[tuple[int, int, int, object]]]


async def rotate(pool, vault: CodeVault, *, batch_size: int = DEFAULT_BATCH_SIZE) -> RotationReport:
    """Move everything that can be moved to the writing key; report what is left."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    rotation = _Rotation(vault)
    plan: list[tuple[Step, Batch, object]] = [
        (Step("idempotency_keys", "encrypted answers"), rotation.answers, 0),
        (Step("ledger_writes", "codes (re-encrypted, re-digested)"), rotation.write_codes, ""),
        (Step("cards", "codes (re-encrypted, re-digested)"), rotation.cards, b""),
        (Step("ledger_writes", "digests (from the registry's code)"), rotation.write_digests, ""),
        (Step("instruments", "digests (from the registry's code)"), rotation.instrument_digests,
         UUID(int=0)),
    ]
    report = RotationReport()
    for step, batch, start in plan:
        for _ in range(_MAX_PASSES):
            moved = await _pass(pool, step, batch, start, batch_size)
            if moved == 0:
                break
        report.steps.append(step)
        log.info("card_code_key_rotation_step", table=step.table, what=step.what, rotated=step.rotated,
                 unreadable=step.unreadable, batches=step.batches, writing_key_id=vault.key_id.hex())
    async with pool.acquire() as conn:
        report.remaining = await sql.remaining(conn, vault.key_id, vault.header)
    return report


async def _pass(pool, step: Step, batch: Batch, start, batch_size: int) -> int:
    """One walk through the table in primary-key order; returns the rows it rotated."""
    position, moved, left = start, 0, 0
    try:
        while True:
            async with pool.acquire() as conn, conn.transaction():
                locked, rotated, unreadable, position = await batch(conn, position, batch_size)
            if locked == 0:
                return moved
            step.batches += 1
            step.rotated += rotated
            moved += rotated
            left += unreadable
            if locked < batch_size:
                return moved
    finally:
        step.unreadable = left  # each pass meets them all again: the last one's count


class _Rotation:
    def __init__(self, vault: CodeVault) -> None:
        self.vault = vault

    async def answers(self, conn, after: int, limit: int):
        rows = await sql.lock_answers(conn, after, self.vault.header, limit)
        ids, bodies, unreadable = [], [], 0
        for row in rows:
            context = answer_context(row["operation"], row["id"])
            try:
                body = self.vault.decrypt(row["sealed"], context=context)
            except _UNREADABLE:
                unreadable += 1
                continue
            ids.append(row["id"])
            bodies.append(self.vault.encrypt(body, context=context))
        if ids:
            await sql.store_answers(conn, ids, bodies)
        return len(rows), len(ids), unreadable, rows[-1]["id"] if rows else after

    async def write_codes(self, conn, after: str, limit: int):
        rows = await sql.lock_write_codes(conn, after, self.vault.key_id, self.vault.header, limit)
        ids, digests, sealed, unreadable = self._recoded(rows, "write_id")
        if ids:
            await sql.store_write_codes(conn, ids, digests, sealed, self.vault.key_id)
        return len(rows), len(ids), unreadable, rows[-1]["write_id"] if rows else after

    async def cards(self, conn, after: bytes, limit: int):
        rows = await sql.lock_cards(conn, after, self.vault.key_id, self.vault.header, limit)
        old, new, sealed, unreadable = self._recoded(rows, "code_digest")
        if old:
            await sql.store_cards(conn, old, new, sealed, self.vault.key_id)
        return len(rows), len(old), unreadable, rows[-1]["code_digest"] if rows else after

    def _recoded(self, rows, key: str) -> tuple[list, list[bytes], list[bytes], int]:
        """Each readable row's `key`, its code's digest and ciphertext under the writing key, and
        how many rows could not be read."""
        keys, digests, sealed, unreadable = [], [], [], 0
        for row in rows:
            try:
                code = self.vault.decrypt_code(row["sealed"])
            except _UNREADABLE:
                unreadable += 1
                continue
            keys.append(row[key])
            digests.append(self.vault.digest(code))
            sealed.append(self.vault.encrypt_code(code))
        return keys, digests, sealed, unreadable

    async def write_digests(self, conn, after: str, limit: int):
        return await self._digests(conn, after, limit, sql.lock_write_digests, sql.store_write_digests)

    async def instrument_digests(self, conn, after: UUID, limit: int):
        return await self._digests(conn, after, limit, sql.lock_instrument_digests, sql.store_instrument_digests)

    async def _digests(self, conn, after, limit: int, lock, store):
        rows = await lock(conn, after, self.vault.key_id, limit)
        ids, digests, unreadable = [], [], 0
        for row in rows:
            try:
                code = self.vault.decrypt_code(row["sealed"])
            except _UNREADABLE:
                unreadable += 1
                continue
            if row["code_digest"] not in self.vault.digests(code):
                # Not this code's digest under any configured key: nothing proves what it is.
                unreadable += 1
                continue
            ids.append(row["row_id"])
            digests.append(self.vault.digest(code))
        if ids:
            await store(conn, ids, digests, self.vault.key_id)
        return len(rows), len(ids), unreadable, rows[-1]["row_id"] if rows else after


# ---- on the way: a registry row moved by its card's lookup ---------------------------------------

async def find_registered(conn, vault: CodeVault, code: CardCode) -> RegisteredCard | None:
    """The registry row for this code, under any configured key. A row not on the writing key
    yet (found under an older key, registered before key ids, or its code stored under an older
    key) is moved to it on the way: the code is at hand, so even a row that `keys rotate` cannot
    re-digest (no stored code) is rotated by its card's next lookup, once. A failure to move it
    is logged and changes nothing else: the lookup's answer stands."""
    known = await registry.find(conn, vault.digests(code))
    if known is None or (known.code_key_id == vault.key_id and known.code_header == vault.header):
        return known
    try:
        await registry.move_to_key(conn, known.code_digest, vault.digest(code), vault.key_id,
                                   vault.encrypt_code(code))
    except asyncpg.PostgresError as error:
        log.warning("registry_row_move_failed", card_last4=code.last4, error=type(error).__name__)
        return known
    log.info("registry_row_moved_to_writing_key", card_last4=code.last4,
             from_key_id=known.code_key_id.hex() if known.code_key_id else None, to_key_id=vault.key_id.hex())
    return known


# ---- status --------------------------------------------------------------------------------------

async def status(pool, vault: CodeVault) -> tuple[list[sql.KeyUse], list[sql.Remaining]]:
    async with pool.acquire() as conn:
        return await sql.key_uses(conn), await sql.remaining(conn, vault.key_id, vault.header)


def not_configured(vault: CodeVault, uses: list[sql.KeyUse]) -> list[sql.KeyUse]:
    """Stored values under a key id that is not configured: unreadable until it is listed again."""
    return [u for u in uses if u.key_id is not None and u.key_id not in vault.key_ids]


def key_label(vault: CodeVault, key_id: bytes | None, stored: str) -> tuple[str, str]:
    """How a key id is shown, and what it is to this configuration."""
    if key_id is None:
        if stored == "ciphertext":
            return "-", "format version 1 (no key id): read with whichever configured key opens it"
        return "-", "before key ids (the CARD_CODE_KEY of that time)"
    if key_id == vault.key_id:
        return key_id.hex(), "writing key"
    if key_id in vault.key_ids:
        return key_id.hex(), "listed, reads only"
    return key_id.hex(), "NOT CONFIGURED: unreadable"


def format_keys(vault: CodeVault) -> list[str]:
    others = [k.hex() for k in vault.key_ids[1:]]
    return [f"writing key id: {vault.key_id.hex()}", f"reading key ids: {', '.join(others) if others else '(none)'}"]


def format_status(vault: CodeVault, uses: list[sql.KeyUse], remaining: list[sql.Remaining]) -> list[str]:
    lines = format_keys(vault) + ["", f"{'table':<18} {'stored':<11} {'key id':<9} {'rows':>9}  key"]
    for use in uses:
        label, meaning = key_label(vault, use.key_id, use.stored)
        lines.append(f"{use.table:<18} {use.stored:<11} {label:<9} {use.rows:>9}  {meaning}")
    return lines + [""] + format_remaining(remaining)


def format_remaining(remaining: list[sql.Remaining]) -> list[str]:
    total = sum(r.rows for r in remaining)
    if total == 0:
        return ["rows still depending on an older key: 0 (only the writing key is needed)"]
    lines = [f"rows still depending on an older key (or one not recorded): {total}"]
    for r in remaining:
        if r.rows:
            lines.append(f"  {r.table:<18} {r.with_code} with a stored code (keys rotate moves them),"
                         f" {r.digest_only} digest only (cannot be re-digested)")
    if any(r.digest_only for r in remaining):
        lines.append("  digest-only rows stay readable while their key is listed: see deploy/RUNBOOK.md before"
                     " dropping it")
    return lines


def format_report(vault: CodeVault, report: RotationReport) -> list[str]:
    lines = format_keys(vault) + [""]
    for step in report.steps:
        unreadable = f", {step.unreadable} left (unreadable with the configured keys)" if step.unreadable else ""
        lines.append(f"{step.table:<18} {step.what:<36} rotated {step.rotated}{unreadable}")
    return lines + [""] + format_remaining(report.remaining)
