"""Fault injection for the tests that prove exactly-once under failures.

A fault applies to the next `count` matching calls, or (with `probability`) to each matching call
with that probability, drawn from its own seeded generator so a chaos run can be replayed.

- latency: wait `latency_ms`, then execute normally.
- error_5xx: answer 502 without executing.
- internal_server_error: answer 200 with INTERNAL_SERVER_ERROR without executing.
- lose_response: execute and commit, then drop the connection without an answer.
- hold: wait until POST /sandbox/release, then execute (the call stays in flight meanwhile).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field

KINDS = frozenset({"latency", "error_5xx", "internal_server_error", "lose_response", "hold"})


class FaultError(ValueError):
    pass


@dataclass
class Fault:
    id: int
    kind: str
    operation: str | None
    remaining: int | None
    probability: float | None
    latency_ms: int
    rng: random.Random

    def fires(self, operations: list[str]) -> bool:
        if self.operation is not None and self.operation not in operations:
            return False
        if self.probability is not None:
            return self.rng.random() < self.probability
        if self.remaining is not None and self.remaining > 0:
            self.remaining -= 1
            return True
        return False


@dataclass
class Faults:
    active: list[Fault] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    held: int = 0
    fired: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add(self, spec: dict) -> Fault:
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultError(f"kind must be one of {sorted(KINDS)}")
        probability = spec.get("probability")
        if probability is not None and not 0 <= float(probability) <= 1:
            raise FaultError("probability must be between 0 and 1")
        count = spec.get("count")
        remaining = None if probability is not None else int(count if count is not None else (10**9 if kind == "hold" else 1))
        fault = Fault(next(self._ids), kind, spec.get("operation"), remaining,
                      float(probability) if probability is not None else None,
                      int(spec.get("latency_ms", 0)), random.Random(spec.get("seed")))
        if kind == "hold":
            self.released = asyncio.Event()
        self.active.append(fault)
        return fault

    def clear(self) -> None:
        self.active.clear()

    def release(self) -> None:
        self.released.set()

    def pick(self, operations: list[str]) -> Fault | None:
        for fault in self.active:
            if fault.fires(operations):
                self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
                return fault
        return None
