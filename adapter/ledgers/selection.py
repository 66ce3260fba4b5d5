"""The composition root's one choice of ledger: LEDGER=shopify|shopline|gifthero.

Whatever is chosen, the use cases get a LedgerPort. A ledger that can only set a balance is
wrapped in the exactly-once protocol (adapter.ledgers.absolute) because its capabilities say so,
not because of its name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from urllib.parse import urlsplit

import aiohttp

from adapter.ledgers.absolute import AbsoluteBalanceLedger
from adapter.ports import AbsoluteLedger, CodeRule, LedgerPort, Moves
from adapter.settings import Settings


def build_ledger(settings: Settings, session: aiohttp.ClientSession, pool, today: Callable[[], date]) -> LedgerPort:
    client = _client(settings, session, pool)
    if client.capabilities.moves is Moves.ABSOLUTE:
        return AbsoluteBalanceLedger(client, pool, today)  # type: ignore[arg-type]
    return client  # type: ignore[return-value]


def _client(settings: Settings, session: aiohttp.ClientSession, pool=None) -> LedgerPort | AbsoluteLedger:
    if settings.ledger == "shopline":
        from adapter.shopline.client import ShoplineClient

        assert settings.shopline_access_token is not None and settings.ledger_currency is not None
        base_url = settings.shopline_base_url or ShoplineClient.base_url_for(settings.shopline_shop_handle or "",
                                                                             settings.shopline_api_version)
        return ShoplineClient(session, base_url=base_url, access_token=settings.shopline_access_token.get_secret_value(),
                              api_version=settings.shopline_api_version, currency=settings.ledger_currency)
    if settings.ledger == "gifthero":
        from adapter.gifthero.client import GiftHeroClient

        assert settings.gifthero_access_token is not None and settings.ledger_currency is not None
        options = {"base_url": settings.gifthero_base_url} if settings.gifthero_base_url else {}
        return GiftHeroClient(session, access_token=settings.gifthero_access_token.get_secret_value(),
                              currency=settings.ledger_currency, **options)
    from adapter.shopify.client import ShopifyClient
    from adapter.shopify.customers import CustomerLinking
    from adapter.shopify.pacing import CostBucket, LookupBudget
    from adapter.store.buckets import SharedBucket

    assert settings.shopify_access_token is not None
    url = graphql_url(settings)
    # Every replica of this shop reserves on one level in Postgres once the bucket runs low.
    shared = SharedBucket(pool, urlsplit(url).netloc) if pool is not None else None
    return ShopifyClient(session, graphql_url=url, bucket=CostBucket(shared=shared),
                         access_token=settings.shopify_access_token.get_secret_value(),
                         api_version=settings.shopify_api_version,
                         lookups=LookupBudget(settings.search_bucket_share, settings.search_max_in_flight),
                         customer_linking=CustomerLinking(settings.shopify_link_customers,
                                                          settings.shopify_create_customers))


def code_rule_for(ledger: str) -> CodeRule:
    """The codes a ledger accepts, without a client (the card import checks its rows by it)."""
    if ledger == "shopline":
        from adapter.shopline.client import CODE_RULE as rule
    elif ledger == "gifthero":
        from adapter.gifthero.client import CODE_RULE as rule
    else:
        from adapter.shopify.client import SHOPIFY_CODE_RULE as rule
    return rule


def graphql_url(settings: Settings) -> str:
    from adapter.shopify.client import ShopifyClient

    if settings.shopify_graphql_url:
        return settings.shopify_graphql_url
    return ShopifyClient.graphql_url_for(settings.shopify_shop_domain or "", settings.shopify_api_version)
