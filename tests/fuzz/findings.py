"""What the schemathesis run found, sorted into classes, and the cases it starts from."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from schemathesis.core.failures import ServerError

# Server errors of the classes the input-hygiene work (issue #10: adapter/jsonio.py,
# adapter/http/requests.py, adapter/domain/cardcode.py, the handlers) fixed. Should one come back
# it is reported by name, and the test fails on it like on any other. The last one seen here,
# numbers from 1e28 to 1e308 in free-form fields (money.normalise could not quantize them within
# Decimal's 28 digits), was fixed on main by 1de5567.
INPUT_HYGIENE = {
    "nul": "NUL character in a string",
    "surrogate": "lone surrogate in a string",
    "huge_number": "JSON number with a huge exponent",
    "deep": "deep nesting",
    "non_ascii_card": "non-ASCII card number",
}
CARD_NUMBER_FIELDS = (("identifier", "number"), ("card_number",), ("metadata", "number"))
DEEP = 8
RESULTS: list[str] = []  # each run's summary, printed at the end of the session (tests/fuzz/conftest.py)


@dataclass(frozen=True)
class Finding:
    operation: str
    status: int
    kind: str  # "server error" or the failure's title (schema violations)
    known: str | None  # an INPUT_HYGIENE label, or None for a new finding
    detail: str
    repro: str


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, member in value.items():
            yield str(key)
            yield from _strings(member)
    elif isinstance(value, (list, tuple)):
        for member in value:
            yield from _strings(member)


def _numbers(value: Any):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for member in value.values():
            yield from _numbers(member)
    elif isinstance(value, (list, tuple)):
        for member in value:
            yield from _numbers(member)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _card_numbers(body: Any):
    for path in CARD_NUMBER_FIELDS:
        value = body
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        if isinstance(value, str):
            yield value


def _input_classes(case) -> list[str]:
    """The input-hygiene findings a case's input could trigger, in the order they are told apart."""
    sent = [case.body, case.path_parameters or {}]
    strings = [s for part in sent for s in _strings(part)]
    found = []
    if any("\x00" in s for s in strings):
        found.append("nul")
    if any(0xD800 <= ord(c) <= 0xDFFF for s in strings for c in s):
        found.append("surrogate")
    # Beyond Decimal's 28 digits of precision (1.8e202 from a float as much as 1e999999).
    if any(abs(n) >= 1e28 for n in _numbers(case.body)):
        found.append("huge_number")
    if _depth(case.body) > DEEP:
        found.append("deep")
    if any(not number.isascii() for number in _card_numbers(case.body)):
        found.append("non_ascii_card")
    return found


# What each finding looks like in the exception the adapter logs.
_SIGNATURES = {
    "nul": ("0x00", "\\x00", "\\u0000", "NUL"),
    "surrogate": ("surrogate",),
    "huge_number": ("InvalidOperation", "Overflow"),
    "deep": ("RecursionError", "maximum recursion"),
}


def known_class(case, logged: str = "") -> str | None:
    """Which input-hygiene finding a server error belongs to: the input has it and, where the
    adapter logged an exception, the exception is that finding's."""
    found = _input_classes(case)
    matched = [label for label in found if any(mark in logged for mark in _SIGNATURES.get(label, ()))]
    if matched:
        return matched[0]
    # No telling exception: only an input with a single candidate, and not one whose exception
    # would have shown (a different exception there is a different cause: a new finding).
    if len(found) == 1 and (not logged or found[0] not in _SIGNATURES):
        return found[0]
    return None


def logged_error(request_id: str | None) -> str:
    """The last line of the exception the adapter logged for this request (its own log line)."""
    from tests.conftest import LOG_BUFFER

    if not request_id:
        return ""
    for line in reversed(LOG_BUFFER.getvalue().splitlines()):
        if request_id in line and "unhandled_error" in line:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            return _exception_line(record.get("exception") or "")
    return ""


def _exception_line(traceback: str) -> str:
    """The traceback's last "module.Error: message" line, with a DETAIL line after it if any."""
    lines = [line.strip() for line in traceback.strip().splitlines()]
    raised = [i for i, line in enumerate(lines) if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Operation)\b", line)]
    if not raised:
        return lines[-1][:300] if lines else ""
    tail = lines[raised[-1]:raised[-1] + 3]
    return " ".join(tail)[:300]


def _header(response, name: str) -> str | None:
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else value
    return None


def classify(case, response, failure) -> Finding:
    kind = "server error" if isinstance(failure, ServerError) else failure.title
    logged = logged_error(_header(response, "X-Request-Id")) if kind == "server error" else ""
    label = known_class(case, logged) if kind == "server error" else None
    detail = logged or (failure.message.strip().splitlines()[0][:300] if failure.message else "")
    try:
        repro = case.as_curl_command()
    except Exception as error:  # a body that cannot even be shown
        repro = f"<no curl: {type(error).__name__}>"
    return Finding(case.operation.label, response.status_code, kind, label, detail, repro[:600])


def examples(operation) -> list:
    """The document's own example body for the operation, as a case."""
    raw = operation.definition.raw
    if "requestBody" not in raw:
        return []  # a GET (the feed's pull API): its parameters are generated
    body = raw["requestBody"]["content"]["application/json"].get("example")
    if body is None:
        return []
    path = {"instrument_id": "6f0e3b2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b"} if operation.path_parameters else None
    return [operation.Case(body=body, path_parameters=path, media_type="application/json")]


def summary(run, elapsed: float, seed: int) -> str:
    server_errors = sum(1 for f in run.failures if f.kind == "server error")
    known = sum(1 for f in run.failures if f.known)
    lines = [
        f"schemathesis: {run.cases} cases over {len(run.by_operation)} operations in {elapsed:.1f} s (seed {seed}); "
        f"{server_errors} server errors ({known} of the input-hygiene classes), "
        f"{len(run.failures) - server_errors} schema violations",
        *([f"  cut short by the time budget: {', '.join(run.cut_short)}"] if run.cut_short else []),
        "  cases by operation: " + ", ".join(f"{op} {n}" for op, n in sorted(run.by_operation.items())),
        "  statuses: " + ", ".join(f"{status}: {n}" for status, n in sorted(run.statuses.items())),
        "  by operation and status: " + ", ".join(f"{op} {status}: {n}"
                                                  for (op, status), n in sorted(run.by_operation_status.items())),
    ]
    groups: Counter = Counter()
    first: dict = {}
    for finding in run.failures:
        label = INPUT_HYGIENE[finding.known] + " (known: input hygiene)" if finding.known else "NEW"
        key = (label, finding.kind, finding.operation, finding.status)
        groups[key] += 1
        first.setdefault(key, finding)
    for key, count in sorted(groups.items()):
        label, kind, operation, status = key
        lines.append(f"  {count} x {kind} {status} on {operation}: {label}: {first[key].detail}")
        lines.append(f"      {first[key].repro}")
    return "\n".join(lines)
