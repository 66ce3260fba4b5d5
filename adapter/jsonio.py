"""JSON in and out without a float ever touching money.

In: numbers become Decimal (ints stay int); NaN/Infinity tokens become non-finite Decimals so
validation can reject them naming the field. Out: Decimals are written as plain JSON numbers.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from adapter.domain.money import normalise


class BadJson(ValueError):
    pass


def _constant(token: str) -> Decimal:
    return Decimal({"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}[token])


def loads(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJson("body is not UTF-8") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_constant)
    except (ValueError, RecursionError):
        raise BadJson("body is not valid JSON") from None


def dumps(value: Any) -> bytes:
    return _encode(value).encode()


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return f"{normalise(value):f}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_encode(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")
