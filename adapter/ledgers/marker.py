"""The note that ties a ledger object to one of our recorded writes.

A ledger that keeps notes gets it on the write itself (Shopify's transaction note) or on the
card (every ledger's create). It holds the operation and the write's random id only: no code and
no personal data, so it is safe in the merchant's admin and in our logs.
"""

from __future__ import annotations

from adapter.ports import WriteRef

MARKER_PREFIX = "gca:v1"


def marker(ref: WriteRef) -> str:
    return f"{MARKER_PREFIX}:{ref.operation}:{ref.write_id}"
