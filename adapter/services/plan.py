"""What a validated request will do under its idempotency claim, as its use case plans it.

Which fields define a request's effect (its fingerprint) and what its ledger write will be (the
intent recorded with the claim) are use-case rules: each use case exposes a `plan_*` function,
so an HTTP handler only parses the request and calls it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from adapter.idempotency.coordinator import Claim, StoredResponse
from adapter.store.instruments import ReadInstrument
from adapter.store.reservations import Reservation
from adapter.store.writes import Intent, RegisteredCardIntent


class Plan(NamedTuple):
    fingerprint: bytes
    work: Callable[[Claim], Awaitable[StoredResponse]]
    # Its ledger-write intent, recorded with the claim when the use case can plan it upfront (or,
    # for a capture, the instrument to read with the claim).
    intent: Intent | RegisteredCardIntent | Reservation | ReadInstrument | None = None
