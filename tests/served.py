"""The adapter served as production serves it (adapter.http.server.listen) on a real socket, and
raw-socket clients for what an HTTP client library will not send: slow or malformed requests."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import time

from adapter.app import create_app
from adapter.http.server import bound_port, listen


@contextlib.asynccontextmanager
async def served(settings, app=None):
    """Yield the port of `app` (default: create_app(settings)) listening on 127.0.0.1."""
    runner = await listen(app if app is not None else create_app(settings), "127.0.0.1", 0, settings)
    try:
        yield bound_port(runner)
    finally:
        await runner.cleanup()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def wait_for(condition, timeout: float, interval: float = 0.05):
    """Poll `condition()` (plain or async) until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def slow_client(port: int, head: bytes, drip: bytes = b"", every: float = 0.2,
                      limit: float = 15.0) -> tuple[float, bytes]:
    """Send `head`, then `drip` every `every` seconds until the server answers or hangs up.

    Returns how long after connecting the server closed the connection, and what it sent. Fails
    (TimeoutError) if the server keeps the connection past `limit`.
    """
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = loop.time()
    writer.write(head)
    received = bytearray()

    async def dripping() -> None:
        # Stop once an answer starts: bytes sent after the server closed would earn a reset, and a
        # reset can discard the answer from our receive buffer before we read it.
        while drip and not received and not writer.is_closing():
            await asyncio.sleep(every)
            writer.write(drip)

    dripper = asyncio.create_task(dripping())
    try:
        async with asyncio.timeout(limit):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:
        pass  # closed, abruptly: closed all the same
    finally:
        dripper.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return loop.time() - started, bytes(received)


async def exchange(port: int, request: bytes, limit: float = 10.0) -> bytes:
    """Send one raw request and read until the server closes."""
    _, answer = await slow_client(port, request, limit=limit)
    return answer


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
