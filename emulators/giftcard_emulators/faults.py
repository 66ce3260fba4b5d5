"""Fault switches for the /admin endpoint (spec §14 item 29), set through /sandbox/faults.

A fault is scoped to one root field name or GraphQL operation name (or any call) and fires
either on the next `count` matching calls or, for chaos runs, with a seeded `probability` until
cleared.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

KINDS = ("latency", "error_5xx", "internal_server_error", "lose_response", "hold")


class FaultSpecError(ValueError):
    """A /sandbox/faults body that cannot be a fault; the message goes back to the caller."""


@dataclass
class Fault:
    id: str
    kind: str
    operation: str | None
    remaining: int | None
    probability: float | None
    rng: random.Random | None
    latency_ms: int = 0
    status: int = 502
    stage: str = "before"
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "operation": self.operation, "remaining": self.remaining,
                "probability": self.probability, "latency_ms": self.latency_ms, "status": self.status,
                "stage": self.stage, "fired": self.fired}


@dataclass
class Triggered:
    latency_s: float = 0.0
    terminal: Fault | None = None


@dataclass
class _Held:
    operation: str
    future: asyncio.Future[bool]


@dataclass
class FaultRegistry:
    faults: list[Fault] = field(default_factory=list)
    held: list[_Held] = field(default_factory=list)
    fired: dict[str, int] = field(default_factory=dict)  # by kind, across cleared faults too
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add(self, spec: Any) -> Fault:
        if not isinstance(spec, dict):
            raise FaultSpecError("body must be a JSON object")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultSpecError(f"kind must be one of {', '.join(KINDS)}")
        operation = spec.get("operation")
        if operation is not None and not isinstance(operation, str):
            raise FaultSpecError("operation must be a root field or operation name")
        probability = spec.get("probability")
        remaining: int | None = None
        rng: random.Random | None = None
        if probability is not None:
            probability = float(probability)
            if not 0 <= probability <= 1:
                raise FaultSpecError("probability must be within [0, 1]")
            rng = random.Random(spec.get("seed"))
        else:
            remaining = spec.get("count", 1)
            if not isinstance(remaining, int) or isinstance(remaining, bool) or remaining < 1:
                raise FaultSpecError("count must be a positive integer")
        status = int(spec.get("status", 502))
        if kind == "error_5xx" and not 500 <= status <= 599:
            raise FaultSpecError("status must be a 5xx code")
        stage = spec.get("stage", "before")
        if stage not in ("before", "after"):
            raise FaultSpecError("stage must be 'before' or 'after'")
        latency_ms = int(spec.get("latency_ms", 0))
        if kind == "latency" and latency_ms <= 0:
            raise FaultSpecError("latency needs a positive latency_ms")
        fault = Fault(f"fault-{next(self._ids)}", kind, operation, remaining, probability, rng,
                      latency_ms=latency_ms, status=status, stage=stage)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, operations: Iterable[str]) -> Triggered:
        """Consume the faults this call triggers: latencies add up, the first other kind wins."""
        names = set(operations)
        result = Triggered()
        for fault in list(self.faults):
            if fault.operation is not None and fault.operation not in names:
                continue
            if fault.kind != "latency" and result.terminal is not None:
                continue
            if fault.rng is not None:
                if fault.rng.random() >= (fault.probability or 0.0):
                    continue
            else:
                assert fault.remaining is not None
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
            fault.fired += 1
            self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
            if fault.kind == "latency":
                result.latency_s += fault.latency_ms / 1000
            else:
                result.terminal = fault
        return result

    async def hold(self, operation: str) -> bool:
        """Park the call until release (True) or reset (False)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry = _Held(operation, future)
        self.held.append(entry)
        try:
            return await future
        finally:
            if entry in self.held:
                self.held.remove(entry)

    def release(self, *, proceed: bool = True) -> int:
        entries, self.held = self.held, []
        for entry in entries:
            if not entry.future.done():
                entry.future.set_result(proceed)
        return len(entries)

    def describe(self) -> dict[str, Any]:
        return {"faults": [f.describe() for f in self.faults],
                "held": len(self.held),
                "held_operations": [h.operation for h in self.held]}
