"""API keys from NEWSTORE_API_KEYS, accepted as Bearer, raw Authorization or X-API-Key.

Every configured key is compared, in constant time, with no early exit: the time taken says
nothing about which key (or how much of one) matched.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web


class ApiKeys:
    def __init__(self, keys: tuple[str, ...]) -> None:
        self._digests = tuple(hashlib.sha256(k.encode()).digest() for k in keys)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def match(self, request: web.Request) -> int | None:
        """The position (0-based, in NEWSTORE_API_KEYS order) of the key the request carries.

        The position, never the key: it is what the rate limiter and its metric are keyed by.
        """
        matched = None
        for candidate in _candidates(request):
            digest = hashlib.sha256(candidate.encode()).digest()
            for index, known in enumerate(self._digests):
                if hmac.compare_digest(digest, known):
                    matched = index
        return matched

    def accepts(self, request: web.Request) -> bool:
        return self.match(request) is not None


def _candidates(request: web.Request) -> list[str]:
    found = []
    authorization = request.headers.get("Authorization", "").strip()
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        found.append(rest.strip() if scheme.lower() == "bearer" and rest.strip() else authorization)
    api_key = request.headers.get("X-API-Key", "").strip()
    if api_key:
        found.append(api_key)
    return found
