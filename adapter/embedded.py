"""Embedded defaults for local runs: Postgres, the chosen ledger's emulator, a development code key.

Only for EMBEDDED=true (or `--embedded`): each stand-in is announced loudly in the log, none of
them belongs in production, and without the flag Settings.check() refuses to start on anything
missing rather than reaching for these.
"""

from __future__ import annotations

import os
import secrets
from contextlib import AsyncExitStack

import structlog
from pydantic import SecretStr

from adapter.settings import Settings
from adapter.store.database import start_embedded_postgres

log = structlog.get_logger(__name__)


def dev_card_code_key(settings: Settings) -> SecretStr:
    """A random key kept in the data directory, so local card digests survive restarts (used
    only when neither CARD_CODE_KEYS nor CARD_CODE_KEY is set)."""
    path = settings.data_dir / "dev-card-code-key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return SecretStr(path.read_text().strip())


async def with_embedded_defaults(settings: Settings, stack: AsyncExitStack, *, ledger: bool = True) -> Settings:
    """Fill what is not configured with local stand-ins; `ledger=False` skips the sandbox."""
    if not settings.embedded:
        raise ValueError("embedded defaults asked for outside embedded mode")
    updates: dict[str, object] = {}
    if settings.database_url is None:
        uri, server = start_embedded_postgres(settings.data_dir)
        stack.callback(server.cleanup)
        updates["database_url"] = SecretStr(uri)
    if ledger and not settings.shop_configured:
        updates |= await _start_emulator(settings, stack)
    if not settings.card_code_secrets:
        log.warning("dev_card_code_key_in_use", path=str(settings.data_dir / "dev-card-code-key"))
        updates["card_code_key"] = dev_card_code_key(settings)
    return settings.model_copy(update=updates)


async def _start_emulator(settings: Settings, stack: AsyncExitStack) -> dict[str, object]:
    """The chosen ledger's stand-in, and the settings that point the adapter at it. The
    emulators are a distribution of their own (giftcard_emulators, installed by `make`), never
    in the production image: there, embedded mode needs the ledger configured."""
    try:
        import giftcard_emulators  # noqa: F401
    except ImportError:
        raise SystemExit("giftcard-adapter: no ledger configured and no emulator installed "
                         "(pip install -e ./emulators, or configure the ledger)") from None
    if settings.ledger == "shopline":
        from giftcard_emulators.shopline.config import ShoplineConfig
        from giftcard_emulators.shopline.server import start_shopline

        shopline = await start_shopline("127.0.0.1", 0, ShoplineConfig(api_version=settings.shopline_api_version,
                                                                       currency=settings.ledger_currency or "USD"))
        stack.push_async_callback(shopline.close)
        _announce("SHOPLINE_EMULATOR_IN_USE", "SHOPLINE", shopline.api_url)
        return {"shopline_base_url": shopline.api_url + "/", "ledger_currency": shopline.config.currency,
                "shopline_access_token": SecretStr(shopline.config.access_token),
                "shopline_app_secret": settings.shopline_app_secret or SecretStr(secrets.token_urlsafe(32))}
    if settings.ledger == "gifthero":
        from giftcard_emulators.gifthero.app import GiftHeroConfig
        from giftcard_emulators.gifthero.server import start_gifthero

        gifthero = await start_gifthero("127.0.0.1", 0, GiftHeroConfig(currency=settings.ledger_currency or "USD"))
        stack.push_async_callback(gifthero.close)
        _announce("GIFTHERO_EMULATOR_IN_USE", "Gift Card Hero", gifthero.api_url)
        return {"gifthero_base_url": gifthero.api_url, "ledger_currency": gifthero.config.currency,
                "gifthero_access_token": SecretStr(gifthero.config.access_token)}
    from giftcard_emulators.shopify.server import start_sandbox

    sandbox = await start_sandbox("127.0.0.1", 0)
    stack.push_async_callback(sandbox.close)
    _announce("SHOPIFY_SANDBOX_IN_USE", "Shopify", sandbox.graphql_url)
    return {"shopify_graphql_url": sandbox.graphql_url, "shopify_access_token": SecretStr(sandbox.config.access_token)}


def _announce(event: str, ledger: str, url: str) -> None:
    log.warning(event, url=url,
                message=f"No {ledger} store configured: using the built-in {ledger} emulator. No real money moves.")
