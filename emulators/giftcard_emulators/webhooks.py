"""Signed webhooks sent by an emulator, as its vendor sends them: over real HTTP, at least once,
and breakable on purpose (tests and local runs only).

Off until a subscription is configured (a URL and the app secret). Each emulator says how one
of its deliveries is signed and which headers it carries (`Sign`), and whether a duplicate of
an event keeps the delivery's webhook id (SHOPLINE: "the same on every resend of one event") or
gets a fresh one while keeping the event id (Shopify: X-Shopify-Event-Id repeats, the
X-Shopify-Webhook-Id of a new delivery does not).

Delivery:
- in the order the events happened, one at a time, each attempt bounded by `timeout` (Shopify and
  SHOPLINE both give a receiver 5 s);
- at least once: an attempt answered other than 2xx, or one that fails, is retried after
  `retry_delays[n]` (compressed from the vendors' hours into seconds), then given up ("failed");
- breakable: a `drop` fault loses the next matching deliveries for good (the vendor thinks it
  sent them: no retry), a `duplicate` fault sends the next matching ones twice, `hold` parks
  deliveries until released in order or in reverse (out of order), and any past delivery can be
  sent again (`resend`).

Control routes (`webhook_routes`, under the emulator's control prefix):

  GET    <prefix>/webhooks                 the subscription (never the secret), deliveries, faults
  POST   <prefix>/webhooks                 {url?, secret?, hold?, retry_delays?, ...the emulator's own}
  DELETE <prefix>/webhooks                 unsubscribe; deliveries and faults forgotten
  POST   <prefix>/webhooks/faults          {kind: drop|duplicate, topic?, count? (default 1)}
  POST   <prefix>/webhooks/release         {order?: "fifo"|"reverse"}: send the held deliveries
  POST   <prefix>/webhooks/{number}/resend send delivery `number` again (a duplicate)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from giftcard_emulators.control import BadInput, Handler, Respond, control_body

DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0)
STATES = ("held", "queued", "sending", "delivered", "failed", "dropped")
FAULT_KINDS = ("drop", "duplicate")


def hmac_sha256(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def base64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac_sha256(secret, body)).decode()


def hex_hmac(secret: str, body: bytes) -> str:
    return hmac_sha256(secret, body).hex()


@dataclass
class Delivery:
    number: int                 # the emulator's own count, for the control routes
    topic: str
    body: bytes                 # exactly the bytes signed and sent
    event_id: str               # the event's identity: a duplicate repeats it
    webhook_id: str             # this delivery's id: kept across its retries
    triggered_at: datetime
    state: str = "queued"
    attempts: int = 0
    answers: list[int | str] = field(default_factory=list)  # each attempt's status, or the failure's name
    duplicate_of: int | None = None

    def describe(self) -> dict[str, Any]:
        return {"number": self.number, "topic": self.topic, "event_id": self.event_id,
                "webhook_id": self.webhook_id, "state": self.state, "attempts": self.attempts,
                "answers": list(self.answers), "duplicate_of": self.duplicate_of,
                "triggered_at": self.triggered_at.isoformat(timespec="milliseconds"),
                "payload": json.loads(self.body)}


@dataclass
class DeliveryFault:
    id: str
    kind: str
    topic: str | None
    remaining: int
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "topic": self.topic, "remaining": self.remaining,
                "fired": self.fired}


# (body, secret, delivery) -> every header of the request (the signature included).
Sign = Callable[[bytes, str, Delivery], dict[str, str]]


class WebhookSender:
    """One subscription of one emulated store."""

    def __init__(self, sign: Sign, *, duplicate_keeps_webhook_id: bool,
                 new_webhook_id: Callable[[], str] = lambda: str(uuid.uuid4()),
                 new_event_id: Callable[[], str] = lambda: str(uuid.uuid4()),
                 timeout: float = 5.0) -> None:
        self._sign = sign
        self._duplicate_keeps_webhook_id = duplicate_keeps_webhook_id
        self._new_webhook_id = new_webhook_id
        self.new_event_id = new_event_id
        self.timeout = timeout
        self.url: str | None = None
        self.secret: str | None = None
        self.hold = False
        self.retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
        self.deliveries: list[Delivery] = []
        self.faults: list[DeliveryFault] = []
        self._numbers = itertools.count(1)
        self._fault_ids = itertools.count(1)
        self._queue: asyncio.Queue[Delivery] | None = None
        self._worker: asyncio.Task | None = None
        self._retries: set[asyncio.TimerHandle] = set()
        self._session: aiohttp.ClientSession | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.secret)

    # ---- what the emulated store does ------------------------------------------------------

    def emit(self, topic: str, payload: dict[str, Any], event_id: str | None = None) -> Delivery | None:
        """Announce an event (None while no subscription is configured). Synchronous: callable
        from the emulator's ledger code, which never awaits; the sending happens later."""
        if not self.enabled:
            return None
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        delivery = Delivery(next(self._numbers), topic, body, event_id or self.new_event_id(),
                            self._new_webhook_id(), datetime.now(UTC))
        self.deliveries.append(delivery)
        fault = self._take_fault(topic)
        if fault == "drop":
            delivery.state = "dropped"
            return delivery
        self._enqueue(delivery)
        if fault == "duplicate":
            self._enqueue(self._copy(delivery))
        return delivery

    def resend(self, number: int) -> Delivery:
        original = next((d for d in self.deliveries if d.number == number), None)
        if original is None:
            raise BadInput(f"no delivery {number}")
        if not self.enabled:
            raise BadInput("no subscription configured")
        copy = self._copy(original)
        self._enqueue(copy)
        return copy

    def release(self, order: str = "fifo") -> int:
        if order not in ("fifo", "reverse"):
            raise BadInput("order must be fifo or reverse")
        held = [d for d in self.deliveries if d.state == "held"]
        self.hold = False
        for delivery in reversed(held) if order == "reverse" else held:
            self._enqueue(delivery)
        return len(held)

    # ---- control ---------------------------------------------------------------------------

    def configure(self, body: dict[str, Any]) -> None:
        if "url" in body:
            url = body["url"]
            if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                raise BadInput("url must be an http(s) URL or null")
            self.url = url
        if "secret" in body:
            secret = body["secret"]
            if secret is not None and not (isinstance(secret, str) and secret):
                raise BadInput("secret must be a non-empty string or null")
            self.secret = secret
        if "hold" in body:
            self.hold = bool(body["hold"])
        if "retry_delays" in body:
            delays = body["retry_delays"]
            if not isinstance(delays, list) or not all(
                    isinstance(d, (int, float, Decimal)) and not isinstance(d, bool) and d >= 0 for d in delays):
                raise BadInput("retry_delays must be a list of non-negative seconds")
            self.retry_delays = tuple(float(d) for d in delays)

    def add_fault(self, spec: dict[str, Any]) -> DeliveryFault:
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise BadInput(f"kind must be one of {', '.join(FAULT_KINDS)}")
        topic = spec.get("topic")
        if topic is not None and not isinstance(topic, str):
            raise BadInput("topic must be a string")
        count = spec.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise BadInput("count must be a positive integer")
        fault = DeliveryFault(f"webhook-fault-{next(self._fault_ids)}", kind, topic, count)
        self.faults.append(fault)
        return fault

    def forget(self) -> None:
        """Unsubscribe: nothing more is sent, and what was waiting is dropped."""
        self.url = self.secret = None
        self.hold = False
        self.retry_delays = DEFAULT_RETRY_DELAYS
        self.clear()

    def clear(self) -> None:
        """Deliveries and faults forgotten (what was waiting is never sent); the subscription stays."""
        self.deliveries.clear()
        self.faults.clear()
        for handle in self._retries:
            handle.cancel()
        self._retries.clear()
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait()

    def describe(self) -> dict[str, Any]:
        return {"url": self.url, "secret_set": self.secret is not None, "hold": self.hold,
                "retry_delays": list(self.retry_delays), "faults": [f.describe() for f in self.faults],
                "deliveries": [d.describe() for d in self.deliveries]}

    async def close(self) -> None:
        for handle in self._retries:
            handle.cancel()
        self._retries.clear()
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
            self._worker = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- sending ---------------------------------------------------------------------------

    def _take_fault(self, topic: str) -> str | None:
        for fault in self.faults:
            if fault.topic is None or fault.topic == topic:
                fault.remaining -= 1
                fault.fired += 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault.kind
        return None

    def _copy(self, original: Delivery) -> Delivery:
        webhook_id = original.webhook_id if self._duplicate_keeps_webhook_id else self._new_webhook_id()
        copy = Delivery(next(self._numbers), original.topic, original.body, original.event_id, webhook_id,
                        original.triggered_at, duplicate_of=original.number)
        self.deliveries.append(copy)
        return copy

    def _enqueue(self, delivery: Delivery) -> None:
        if self.hold:
            delivery.state = "held"
            return
        delivery.state = "queued"
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())
        self._queue.put_nowait(delivery)

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            delivery = await self._queue.get()
            if delivery.state != "queued" or not self.enabled:
                continue
            await self._attempt(delivery)

    async def _attempt(self, delivery: Delivery) -> None:
        assert self.url is not None and self.secret is not None
        if self._session is None:
            self._session = aiohttp.ClientSession()
        delivery.state = "sending"
        delivery.attempts += 1
        headers = self._sign(delivery.body, self.secret, delivery)
        try:
            async with self._session.post(self.url, data=delivery.body, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                await response.read()
                delivery.answers.append(response.status)
                ok = 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            delivery.answers.append(type(error).__name__)
            ok = False
        if ok:
            delivery.state = "delivered"
            return
        retry = delivery.attempts - 1
        if retry >= len(self.retry_delays):
            delivery.state = "failed"
            return
        delivery.state = "queued"
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def again() -> None:
            self._retries.discard(handle)
            if self._queue is not None and delivery.state == "queued":
                self._queue.put_nowait(delivery)

        handle = loop.call_later(self.retry_delays[retry], again)
        self._retries.add(handle)


def webhook_routes(prefix: str, sender: WebhookSender, respond: Respond, guard: Callable[[Handler], Handler], *,
                   own_keys: frozenset[str] = frozenset(),
                   configure_own: Callable[[dict[str, Any]], None] | None = None,
                   describe_own: Callable[[], dict[str, Any]] | None = None) -> list[web.RouteDef]:
    """The control routes of one emulator's subscription. `own_keys` are the emulator's own
    settings (the signature's encoding, the code sent, ...), taken by `configure_own(body)`;
    `describe_own()` adds them to the listing."""
    shared = {"url", "secret", "hold", "retry_delays"}

    def listing() -> dict[str, Any]:
        return {**sender.describe(), **(describe_own() if describe_own is not None else {})}

    async def show(_request: web.Request) -> web.Response:
        return respond(listing())

    async def configure(request: web.Request) -> web.Response:
        body = await control_body(request)
        unknown = set(body) - shared - own_keys
        if unknown:
            raise BadInput(f"unknown webhook settings: {', '.join(sorted(unknown))}")
        if configure_own is not None:
            configure_own(body)
        sender.configure(body)
        return respond(listing())

    async def forget(_request: web.Request) -> web.Response:
        sender.forget()
        return respond(listing())

    async def add_fault(request: web.Request) -> web.Response:
        return respond(sender.add_fault(await control_body(request)).describe())

    async def release(request: web.Request) -> web.Response:
        body = await control_body(request)
        return respond({"released": sender.release(str(body.get("order", "fifo")))})

    async def resend(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        if not number.isdigit():
            raise BadInput("delivery number must be an integer")
        return respond(sender.resend(int(number)).describe())

    return [
        web.get(prefix + "/webhooks", guard(show)),
        web.post(prefix + "/webhooks", guard(configure)),
        web.delete(prefix + "/webhooks", guard(forget)),
        web.post(prefix + "/webhooks/faults", guard(add_fault)),
        web.post(prefix + "/webhooks/release", guard(release)),
        web.post(prefix + "/webhooks/{number}/resend", guard(resend)),
    ]
