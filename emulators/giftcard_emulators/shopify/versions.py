"""Which API versions the sandbox serves, and which schema serves each: the one place to ask.

What is modelled: Shopify publishes a stable version each quarter (YYYY-01, -04, -07, -10) and
serves each for at least a year; the version in the URL chooses the schema, and the
`X-Shopify-API-Version` response header names the version that actually answered.

- A listed version is served as itself, by the schema release the table names. We vendor one SDL
  (2026-07); 2025-01 is derived from it (schema.SCHEMA_RELEASES lists the differences). The
  releases between and after share the 2026-07 schema: their differences from it are not
  modelled. 2026-10 must stay listed: it is what the adapter sends by default
  (adapter/settings.py SHOPIFY_API_VERSION).
- A version older than the oldest listed one is no longer served: Shopify falls forward to the
  oldest supported stable version, and so does the sandbox (2024-10 and 2023-01 are answered as
  2025-01, and say so in the header).
- Any other dated version (newer than the newest listed one, e.g. 2099-01, or a month between
  quarters) is answered as the sandbox always has: by the schema of the nearest listed version
  before it, echoed as requested. Shopify documents no answer for a version it never published.
- Paths without a dated version ("unstable", "latest") are 404 (app.GRAPHQL_PATH).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from graphql import GraphQLSchema

from giftcard_emulators.shopify.resolvers import install
from giftcard_emulators.shopify.schema import release_schema

# Served version -> the schema release (a key of schema.SCHEMA_RELEASES) that serves it, oldest first.
SERVED_VERSIONS: dict[str, str] = {
    "2025-01": "2025-01",
    "2025-04": "2026-07",
    "2025-07": "2026-07",
    "2025-10": "2026-07",
    "2026-01": "2026-07",
    "2026-04": "2026-07",
    "2026-07": "2026-07",
    "2026-10": "2026-07",
}
OLDEST_SUPPORTED = min(SERVED_VERSIONS)
NEWEST_SERVED = max(SERVED_VERSIONS)


@dataclass(frozen=True)
class ServedVersion:
    requested: str
    version: str  # what answers, and what X-Shopify-API-Version says
    schema_release: str


def served_version(requested: str) -> ServedVersion:
    """The version that answers a request for `requested` (a YYYY-MM string), and its schema."""
    if requested in SERVED_VERSIONS:
        return ServedVersion(requested, requested, SERVED_VERSIONS[requested])
    if requested < OLDEST_SUPPORTED:
        return ServedVersion(requested, OLDEST_SUPPORTED, SERVED_VERSIONS[OLDEST_SUPPORTED])
    nearest = max(v for v in SERVED_VERSIONS if v <= requested)
    return ServedVersion(requested, requested, SERVED_VERSIONS[nearest])


@lru_cache(maxsize=None)
def executable_schema(release: str) -> GraphQLSchema:
    """The release's schema with the sandbox's resolvers on it; built on first use, once."""
    return install(release_schema(release))


def schema_for_version(requested: str) -> GraphQLSchema:
    return executable_schema(served_version(requested).schema_release)
