"""JSON in and out without a float ever touching money, and without a hostile body getting past
the parser.

In: numbers become Decimal (ints stay int); NaN/Infinity tokens become non-finite Decimals so
validation can reject them naming the field. Everything else that Postgres, the digest or our
own encoder would choke on later is refused here, naming the field, before anything is
recorded: duplicate keys, NUL characters and unpaired surrogates (Postgres text and jsonb refuse
the first, UTF-8 the second), numbers beyond ±1e308 (Decimal itself refuses huge exponents with
an ArithmeticError, not a ValueError) and nesting deeper than MAX_DEPTH.

Out: Decimals are written as plain JSON numbers; RawJson is text encoded earlier, spliced as is.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring
from typing import Any


# The deepest nesting any NewStore body needs is 4; free-form fields have tighter bounds of
# their own (adapter.http.bounds). Checked without recursion.
MAX_DEPTH = 32
# Doubles' range: what any sender's JSON library can mean by a number.
MAX_EXPONENT = 308
_MAX_INT_DIGITS = MAX_EXPONENT + 1
_FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")
_NAMEABLE_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


class BadJson(ValueError):
    """Refused input; `field` names where (dotted path, "body" for the whole), never a value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RawJson(str):
    """JSON text encoded (and so proven encodable) before a ledger write, emitted verbatim."""


class _OutOfRange:
    """A number token too large or too small to be anything we accept."""


class _WithDuplicateKeys(dict):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    built = dict(pairs)
    return built if len(built) == len(pairs) else _WithDuplicateKeys(built)


def _float(token: str) -> Decimal | _OutOfRange:
    try:
        value = Decimal(token)
    except (InvalidOperation, ValueError):
        return _OutOfRange()
    return value if abs(value.adjusted()) <= MAX_EXPONENT else _OutOfRange()


def _int(token: str) -> int | _OutOfRange:
    digits = len(token.lstrip("-"))
    return int(token) if digits <= _MAX_INT_DIGITS else _OutOfRange()


def _constant(token: str) -> Decimal:
    return Decimal({"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}[token])


def loads(raw: bytes) -> Any:
    """Parse and check a body; BadJson names the first problem found."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJson("body", "is not UTF-8") from None
    try:
        value = json.loads(text, parse_float=_float, parse_int=_int, parse_constant=_constant,
                           object_pairs_hook=_object)
    except RecursionError:
        raise BadJson("body", f"must not nest deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise BadJson("body", "is not valid JSON") from None
    check(value)
    return value


def check(root: Any) -> None:
    """Walk a parsed value without recursion and refuse what must never get further."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise BadJson(field_name(path[:1]), f"must not nest deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            _check_text(value, path)
        elif isinstance(value, dict):
            if isinstance(value, _WithDuplicateKeys):
                raise BadJson(field_name(path), "must not repeat a key")
            for key, item in value.items():
                _check_text(key, path)
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(value))
        elif isinstance(value, _OutOfRange):
            raise BadJson(field_name(path), f"must be a number within ±1e{MAX_EXPONENT}")


def _check_text(text: str, path: tuple[str, ...]) -> None:
    if _FORBIDDEN_TEXT.search(text):
        raise BadJson(field_name(path), "must not contain NUL characters or unpaired surrogates")


def field_name(path: tuple[str, ...]) -> str:
    """A dotted path for error messages. A key that could carry anything (a secret, control
    characters) is not echoed: the path stops at its parent."""
    shown: list[str] = []
    for part in path:
        if not _NAMEABLE_KEY.fullmatch(part):
            break
        shown.append(part)
    return ".".join(shown) or "body"


def dumps(value: Any) -> bytes:
    return _encode(value).encode()


def _encode(value: Any) -> str:
    """Every answer and every stored context goes through here: the exact types first, without
    an isinstance chain, strings by json's own C encoder (what json.dumps(s, ensure_ascii=False)
    uses); anything else (a subclass, a bool) as _encode_other decides."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is dict:
        return "{" + ",".join([f"{encode_basestring(str(k))}:{_encode(v)}" for k, v in value.items()]) + "}"
    if kind is Decimal:
        return plain_number(value)
    if kind is RawJson:
        return value
    if kind is list:
        return "[" + ",".join([_encode(v) for v in value]) + "]"
    return _encode_other(value)


def _encode_other(value: Any) -> str:
    if isinstance(value, RawJson):
        return value
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return plain_number(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_encode(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def plain_number(value: Decimal) -> str:
    """A finite Decimal as an exact JSON number without exponent or trailing zeros (100, not
    1E+2; 1.5, not 1.50). String work, not Decimal arithmetic: arithmetic rounds to the context's
    28 digits and raises past them, and this runs when an answer is built."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def extend_object(encoded: RawJson, extra: dict[str, Any]) -> RawJson:
    """An encoded JSON object with `extra`'s members appended (their keys must be new)."""
    if not extra:
        return encoded
    members = _encode(extra)[1:-1]
    inner = encoded[1:-1].strip()
    return RawJson("{" + (inner + "," if inner else "") + members + "}")
