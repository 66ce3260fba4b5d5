"""`giftcard-adapter cards import FILE`: register cards issued elsewhere from a vendor's export.

Gift Card Hero cannot find a card by its code, nor can SHOPLINE before v20260301, so a card
issued elsewhere is "not known to this adapter" (ledgers.md §3 Decision 3) until it is in our
registry. The export is a CSV of the code and the ledger's card id.

The file is read once, streaming: each row is checked and its code normalised as NewStore's
card numbers are (CardNumberReader: scanner prefixes and pattern, CardCode), then staged in a
temporary table of the import's own session, the code only as its keyed digests and encrypted
(store.cardimport). Nothing is registered unless the whole file could be read; then checks
across the file, then the registry in batches of short transactions (origin 'imported'):

- a code already registered to the same id is "already registered" (a second import of a file
  imports nothing);
- a code registered to another id, or an id registered with another code, is refused: the
  registry row is never changed;
- a code on several lines with different ids (or currencies), or an id with different codes, is
  refused on every one of those lines, the first included: which is right is not ours to guess,
  and a card registered under a wrong id would move money on another card. The same code with
  the same id again is "repeated": the first line is the one registered.

The report names rows by line number and reason, and a code at most by its last four; it never
echoes a value from a refused row (a column taken for another may hold a code). Exit status: 0
nothing refused, 1 some rows refused (the others are registered), 2 the file could not be read or
lacks a column (nothing registered), 3 stopped by a database error (the batches committed stay:
a new run registers the rest).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import structlog

from adapter.crypto import CodeVault
from adapter.domain.cardcode import InvalidCardNumber
from adapter.ledgers.selection import code_rule_for
from adapter.domain.cardnumbers import CardNumberReader
from adapter.domain.currencies import MINOR_UNITS
from adapter.store import cardimport as sql

log = structlog.get_logger(__name__)

LEDGERS = ("shopify", "shopline", "gifthero")
DEFAULT_BATCH_SIZE = 1000
STAGE_CHUNK = 5000       # rows per COPY into the stage
MAX_LINE = 65536         # characters of one physical line; a longer one makes the file unreadable
_MAX_ROUNDS = 5          # a batch re-run after losing races with the service (each round settles some)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNREADABLE = 2
EXIT_FAILED = 3          # stopped by the database: what was registered stays, a new run goes on

# Header names, compared after strip, lower case and spaces or dashes made underscores.
CODE_COLUMNS = ("code", "gift_card_code")
ID_COLUMNS = ("id", "gift_card_id", "ledger_id")
CURRENCY_COLUMN = "currency"
LAST_CHARACTERS_COLUMN = "last_characters"

SHOPIFY_GID = "gid://shopify/GiftCard/"
_SHOPIFY_GID = re.compile(r"gid://shopify/GiftCard/([1-9][0-9]{0,19})")
_SHOPIFY_NUMBER = re.compile(r"[1-9][0-9]{0,19}")
_SHOPLINE_ID = re.compile(r"[0-9]{1,64}")     # "a string of up to 64 digits" (ledgers.md §1)
_GIFTHERO_ID = re.compile(r"[1-9][0-9]{0,19}")  # Shopify REST GiftCard ids: numeric
ID_FORMS = {
    "shopify": f"a number or {SHOPIFY_GID}<number>",
    "shopline": "up to 64 digits",
    "gifthero": "a number",
}

# Refusal reasons, in report order, with the text the report shows. None holds a file value.
REASONS = {
    "field_count": "the row does not have as many fields as the header",
    "missing_code": "no code",
    "invalid_code": "the code is not a card number",  # + CardNumberReader's message (never the number)
    "code_rule": "the code breaks the ledger's code rule: no card of it has such a code",  # + the rule
    "missing_id": "no ledger card id",
    "invalid_id": "the id is not a card id of the ledger",  # + the form expected
    "invalid_currency": "the currency is not an ISO 4217 code",
    "last_characters_mismatch": "last_characters is not the end of the code",
    "conflicting_ids_in_file": "the same code is in the file with another id or currency: none of its lines is imported",
    "conflicting_codes_in_file": "the same id is in the file with another code: none of its lines is imported",
    "registered_to_other_id": "the code is already registered to another card (left as it is)",
    "registered_with_other_currency": "the code is registered to this card with another currency (left as it is)",
    "id_registered_to_other_code": ("the card id is already registered with another code, or under a card-code key"
                                    " not configured (left as it is)"),
    "not_registered": "the registry kept changing under this row: import the file again",
}


class ImportFileError(Exception):
    """The file cannot be imported at all: unreadable, no header, or a column missing. The
    message names the file, a line number and columns, never a value from a row."""


def normalise_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip()).lower()


def ledger_id(ledger: str, raw: str) -> str | None:
    """The id as the registry stores it for this ledger, or None if it is not one.

    Shopify: the registry holds gids (what the GraphQL Admin API answers, and what the service
    registers), so a number n becomes gid://shopify/GiftCard/n. SHOPLINE and Gift Card Hero: the
    id as they answer it in their REST objects, the digits."""
    value = raw.strip()
    if ledger == "shopify":
        if _SHOPIFY_NUMBER.fullmatch(value):
            return SHOPIFY_GID + value
        return value if _SHOPIFY_GID.fullmatch(value) else None
    if ledger == "shopline":
        return value if _SHOPLINE_ID.fullmatch(value) else None
    if ledger == "gifthero":
        return value if _GIFTHERO_ID.fullmatch(value) else None
    raise ValueError(f"unknown ledger {ledger!r}")


@dataclass(frozen=True, slots=True)
class Columns:
    width: int
    code: int
    id: int
    currency: int | None
    last_characters: int | None


def find_columns(header: list[str]) -> Columns:
    names = [normalise_header(h) for h in header]

    def one(candidates: tuple[str, ...], what: str, required: bool) -> int | None:
        found = [i for i, name in enumerate(names) if name in candidates]
        if len(found) > 1:
            raise ImportFileError(f"the header has more than one {what} column"
                                  f" ({', '.join(header[i].strip() for i in found)}): keep one")
        if not found:
            if required:
                raise ImportFileError(f"the header has no {what} column (one of {', '.join(candidates)})")
            return None
        return found[0]

    code = one(CODE_COLUMNS, "code", True)
    card_id = one(ID_COLUMNS, "ledger card id", True)
    return Columns(len(header), code, card_id, one((CURRENCY_COLUMN,), "currency", False),
                   one((LAST_CHARACTERS_COLUMN,), "last_characters", False))


class CsvFile:
    """The rows of an export, read streaming: UTF-8 with or without a BOM, any line endings,
    physical lines of at most MAX_LINE characters. Bytes that are not UTF-8 become U+FFFD (so a
    code holding them is refused as not a card number)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._binary = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as error:
            raise ImportFileError(f"cannot read {path}: {error.strerror or type(error).__name__}") from None
        self._text = io.TextIOWrapper(self._binary, encoding="utf-8-sig", errors="replace", newline="")
        self._physical = 0
        self._reader = csv.reader(self._lines(self._text), strict=True)
        self.header = self._first_row()
        self.columns = find_columns(self.header)

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _lines(self, text: TextIO) -> Iterator[str]:
        while True:
            try:
                line = text.readline(MAX_LINE + 1)
            except OSError as error:
                raise ImportFileError(f"cannot read {self.path} after line {self._physical}:"
                                      f" {error.strerror or type(error).__name__}") from None
            if not line:
                return
            self._physical += 1
            if len(line) > MAX_LINE:
                raise ImportFileError(f"{self.path} line {self._physical} is longer than {MAX_LINE} characters")
            yield line

    def _next(self) -> tuple[int, list[str]] | None:
        start = self._reader.line_num + 1
        try:
            row = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as error:
            # The csv module's messages name its own quote and delimiter characters, not data.
            raise ImportFileError(f"{self.path} line {start}: not valid CSV ({error})") from None
        return start, row

    def _first_row(self) -> list[str]:
        while (item := self._next()) is not None:
            if any(field.strip() for field in item[1]):
                return item[1]
        raise ImportFileError(f"{self.path} is empty: expected a header line (code and id columns)")

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(the line the row starts on, its fields), blank rows included (all fields empty)."""
        while (item := self._next()) is not None:
            yield item


@dataclass
class RowChecker:
    """One row of the file, checked: its staged record (store.cardimport.STAGE_COLUMNS)."""

    vault: CodeVault
    reader: CardNumberReader
    ledger: str
    columns: Columns

    def record(self, line: int, fields: list[str]) -> tuple:
        c = self.columns
        if len(fields) != c.width:
            return self._refused(line, "field_count")
        raw_code = fields[c.code]
        if not raw_code.strip():
            return self._refused(line, "missing_code")
        try:
            code = self.reader.read(raw_code)
        except InvalidCardNumber as error:
            return self._refused(line, "invalid_code", str(error))  # never holds the number
        broken_rule = code_rule_for(self.ledger).broken_by(code.value)
        if broken_rule is not None:
            return self._refused(line, "code_rule", f"must be {broken_rule}")  # its last four may be most of it
        last4 = code.last4
        raw_id = fields[c.id]
        if not raw_id.strip():
            return self._refused(line, "missing_id", last4=last4)
        card_id = ledger_id(self.ledger, raw_id)
        if card_id is None:
            return self._refused(line, "invalid_id", f"expected {ID_FORMS[self.ledger]} for {self.ledger}",
                                 last4=last4)
        currency = None
        if c.currency is not None and fields[c.currency].strip():
            currency = fields[c.currency].strip().upper()
            if currency not in MINOR_UNITS:
                return self._refused(line, "invalid_currency", last4=last4)
        if c.last_characters is not None and fields[c.last_characters].strip():
            if fields[c.last_characters].strip().lower() != last4:
                return self._refused(line, "last_characters_mismatch", last4=last4)
        digests = self.vault.digests(code)
        return (line, sql.CANDIDATE, digests[0], list(digests), self.vault.encrypt_code(code), card_id, last4,
                currency, None)

    @staticmethod
    def _refused(line: int, reason: str, detail: str | None = None, *, last4: str | None = None) -> tuple:
        return (line, reason, None, None, None, None, last4, None, detail)


@dataclass
class ImportReport:
    ledger: str
    rows: int = 0                 # data rows read (blank rows not counted)
    blank: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def refused_by_reason(self) -> dict[str, int]:
        known = [r for r in REASONS if self.count(r)]
        other = sorted(s for s in self.counts if s not in REASONS and s not in sql.OUTCOMES)
        return {r: self.count(r) for r in known + other}

    @property
    def refused(self) -> int:
        return sum(self.refused_by_reason.values())

    @property
    def exit_status(self) -> int:
        return EXIT_REFUSED if self.refused else EXIT_OK


async def stage_file(conn, csv_file: CsvFile, checker: RowChecker, report: ImportReport) -> None:
    """Read the whole file into the stage (ImportFileError: nothing is registered)."""
    await sql.create_stage(conn)
    chunk: list[tuple] = []
    for line, fields in csv_file.rows():
        if not any(f.strip() for f in fields):
            report.blank += 1
            continue
        report.rows += 1
        chunk.append(checker.record(line, fields))
        if len(chunk) >= STAGE_CHUNK:
            await sql.stage(conn, chunk)
            chunk = []
    if chunk:
        await sql.stage(conn, chunk)


async def register(conn, vault: CodeVault, batch_size: int) -> None:
    await sql.mark_in_file(conn)
    after = 0
    while (upto := await sql.batch_end(conn, after, batch_size)) is not None:
        for _ in range(_MAX_ROUNDS):
            if await sql.register_batch(conn, after, upto, vault.key_id) == 0:
                break
        else:
            await sql.give_up(conn, after, upto)
        after = upto


async def import_file(conn, vault: CodeVault, reader: CardNumberReader, csv_file: CsvFile, *, ledger: str,
                      batch_size: int = DEFAULT_BATCH_SIZE) -> ImportReport:
    """Stage the file, register what may be registered; the stage stays for `refused_rows`
    until `sql.drop_stage` (or the end of the session)."""
    if ledger not in LEDGERS:
        raise ValueError(f"unknown ledger {ledger!r}")
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    report = ImportReport(ledger)
    await stage_file(conn, csv_file, RowChecker(vault, reader, ledger, csv_file.columns), report)
    await register(conn, vault, batch_size)
    report.counts = await sql.counts(conn)
    log.info("cards_imported", ledger=ledger, rows=report.rows, imported=report.count(sql.IMPORTED),
             already_registered=report.count(sql.ALREADY_REGISTERED), repeated=report.count(sql.REPEATED),
             blank=report.blank, refused=report.refused, refused_by_reason=report.refused_by_reason,
             writing_key_id=vault.key_id.hex())
    return report


# ---- the report ----------------------------------------------------------------------------------

def format_refused(row: sql.Refused) -> str:
    parts = [REASONS.get(row.reason, row.reason)]
    if row.detail:
        parts.append(row.detail)
    if row.related:
        others = [str(n) for n in row.related if n != row.line][:5]
        if others:
            parts.append(("first on line " if row.reason == sql.REPEATED else "see line ")
                         + ", ".join(others))
    if row.registered_id:
        registered = f"registered: {row.registered_id}"
        if row.registered_last4:
            registered += f", code …{row.registered_last4}"
        parts.append(registered)
    card = f" card …{row.last4}" if row.last4 else ""
    return f"line {row.line}:{card} {row.reason}: " + "; ".join(parts)


def format_summary(report: ImportReport) -> list[str]:
    lines = [
        f"ledger: {report.ledger}",
        f"rows read: {report.rows}" + (f" ({report.blank} blank lines skipped)" if report.blank else ""),
        f"imported: {report.count(sql.IMPORTED)}",
        f"already registered: {report.count(sql.ALREADY_REGISTERED)}",
        f"repeated in the file (same code and id): {report.count(sql.REPEATED)}",
        f"refused: {report.refused}",
    ]
    lines += [f"  {reason}: {n}" for reason, n in report.refused_by_reason.items()]
    return lines
