"""What a failed HTTP exchange with a ledger proves, shared by every ledger client (Shopify's
GraphQL client and the REST transport of SHOPLINE and Gift Card Hero).

The one question a money write asks of a failure is whether the request can have executed:
- `NotSent`: the connection never opened (connect failure or connect timeout): safe to send
  again, even a write;
- `MaybeSent`: the request may have executed (a timeout or a drop after sending, a 5xx, an
  unreadable answer): a read may be retried, a write's outcome is unknown and must be settled.
"""

from __future__ import annotations

import aiohttp

from adapter.ports import LedgerConfigurationError


class NotSent(Exception):
    """The connection never opened: nothing reached the ledger."""


class MaybeSent(Exception):
    """The ledger may have executed the request."""


class LostAfterSending(Exception):
    """A drop after the request went out, raised inside aiohttp by a client's middleware:
    deliberately not an aiohttp exception, so aiohttp's own request loop does not resend it."""


# What aiohttp and asyncio raise for one exchange (and LostAfterSending).
FAILURES = (aiohttp.ClientError, TimeoutError, LostAfterSending)


def failure_of(exc: BaseException, *, what: str) -> tuple[str, Exception]:
    """The result label for the call metrics and the exception to raise instead of `exc`, one of
    FAILURES. `what` names the call in a configuration error (never a URL: it may carry a token)."""
    # ClientConnectorError and ConnectionTimeoutError first: they subclass ClientOSError and
    # TimeoutError, which after sending mean something else.
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return "connect_failed", NotSent(f"connect failed ({type(exc).__name__})")
    if isinstance(exc, LostAfterSending):
        return "disconnected", MaybeSent(str(exc))
    if isinstance(exc, TimeoutError):
        return "timeout", MaybeSent("timed out after sending")
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid_url", LedgerConfigurationError(f"{what}: invalid ledger URL")
    return "disconnected", MaybeSent(f"connection lost after sending ({type(exc).__name__})")
