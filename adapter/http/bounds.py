"""Bounds on the free-form parts of a request (metadata and the like).

They are stored with the ledger-write intent and echoed in answers, so what we accept must be
cheap to store, log and encode: checked before anything is recorded, answered 400 naming the
field. Found the hard way: metadata nested ~320 levels passed validation, the debit landed, and
encoding the answer then raised RecursionError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_core import PydanticCustomError

from adapter import jsonio

MAX_DEPTH = 8            # levels, the field itself being the first
MAX_KEYS = 64            # members of any one object
MAX_ITEMS = 256          # elements of any one array
METADATA_MAX_BYTES = 16 * 1024
TRANSACTIONS_MAX_BYTES = 64 * 1024


def bounded(max_bytes: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        check_free_form(value, max_bytes=max_bytes)
        return value

    return check


def check_free_form(value: Any, *, max_bytes: int) -> None:
    """Depth, width and encoded size, without recursion; PydanticCustomError naming the bound."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list) and depth > MAX_DEPTH:
            raise PydanticCustomError("free_form", f"must not nest deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            if len(item) > MAX_KEYS:
                raise PydanticCustomError("free_form", f"objects must have at most {MAX_KEYS} keys")
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            if len(item) > MAX_ITEMS:
                raise PydanticCustomError("free_form", f"arrays must have at most {MAX_ITEMS} items")
            stack.extend((child, depth + 1) for child in item)
    if len(jsonio.dumps(value)) > max_bytes:
        raise PydanticCustomError("free_form", f"must encode to at most {max_bytes} bytes")
