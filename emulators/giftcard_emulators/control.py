"""What every emulator's control routes (tests and local runs only, never a vendor's) share: the
body parse, the 400 for a bad body, and the fault switches' routes.

  GET    <prefix>/faults    the armed faults and held calls
  POST   <prefix>/faults    arm a fault (giftcard_emulators.faults; an emulator may add kinds)
  DELETE <prefix>/faults    disarm all faults; held calls go on rather than hang
  POST   <prefix>/release   let held calls go on
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from giftcard_emulators.faults import FaultRegistry, FaultSpecError

Handler = Callable[[web.Request], Awaitable[web.Response]]
Respond = Callable[..., web.Response]


class BadInput(ValueError):
    """A control body that cannot be done: answered 400 {"error": message}."""


async def control_body(request: web.Request) -> dict[str, Any]:
    """The JSON object sent, numbers exact; an empty body is {}."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise BadInput("body must be JSON") from exc
    if not isinstance(body, dict):
        raise BadInput("body must be a JSON object")
    return body


def guarded(respond: Respond, *errors: type[Exception]) -> Callable[[Handler], Handler]:
    """Answer BadInput, a bad fault spec and the emulator's own `errors` with a 400."""
    refused = (BadInput, FaultSpecError, *errors)

    def guard(handler: Handler) -> Handler:
        async def wrapper(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except refused as exc:
                return respond({"error": str(exc)}, status=400)

        return wrapper

    return guard


def fault_routes(prefix: str, faults: FaultRegistry, respond: Respond, guard: Callable[[Handler], Handler], *,
                 add_special: Callable[[dict[str, Any]], Any | None] | None = None,
                 listed: Callable[[], dict[str, Any]] | None = None,
                 on_clear: Callable[[], None] | None = None) -> list[web.RouteDef]:
    """The four fault routes. `add_special(spec)` arms a kind of the emulator's own (its
    foreign_change) and answers the armed thing (with .id and .describe()), or None for a
    shared kind; `listed()` adds to the listing; `on_clear()` disarms the emulator's own."""

    async def add_fault(request: web.Request) -> web.Response:
        spec = await control_body(request)
        armed = add_special(spec) if add_special is not None else None
        if armed is None:
            armed = faults.add(spec)
        return respond({"id": armed.id, "fault": armed.describe()})

    async def list_faults(_request: web.Request) -> web.Response:
        return respond({**faults.describe(), **(listed() if listed is not None else {})})

    async def clear_faults(_request: web.Request) -> web.Response:
        faults.clear()
        if on_clear is not None:
            on_clear()
        return respond({"cleared": True, "released": faults.release(proceed=True)})

    async def release(_request: web.Request) -> web.Response:
        return respond({"released": faults.release(proceed=True)})

    return [
        web.get(prefix + "/faults", guard(list_faults)),
        web.post(prefix + "/faults", guard(add_fault)),
        web.delete(prefix + "/faults", guard(clear_faults)),
        web.post(prefix + "/release", guard(release)),
    ]
