import pytest

from adapter.settings import Settings, SettingsError, load_settings

PRODUCTION = {
    "SHOPIFY_SHOP_DOMAIN": "example",
    "SHOPIFY_ACCESS_TOKEN": "shpat_secret_token_value",
    "NEWSTORE_API_KEYS": "k1, k2",
    "CARD_CODE_KEY": "x" * 40,
    "DATABASE_URL": "postgresql://u:pw@db/gca",
}


@pytest.fixture
def env(monkeypatch):
    for name in list(PRODUCTION) + ["SHOPIFY_GRAPHQL_URL", "HTTP_PORT", "SHOPIFY_API_VERSION"]:
        monkeypatch.delenv(name, raising=False)

    def set_env(values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_embedded_defaults_need_nothing(env):
    settings = load_settings()
    assert not settings.shop_configured
    assert settings.http_port == 8080 and settings.metrics_port == 9102
    assert settings.shopify_api_version == "2026-10"


def test_production_settings_parse_keys_for_rotation(env):
    env(PRODUCTION)
    settings = load_settings()
    assert settings.api_keys == ("k1", "k2")


@pytest.mark.parametrize("missing", ["SHOPIFY_ACCESS_TOKEN", "NEWSTORE_API_KEYS", "CARD_CODE_KEY", "DATABASE_URL"])
def test_production_without_a_required_setting_fails_with_one_message(env, missing):
    env({k: v for k, v in PRODUCTION.items() if k != missing})
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith("invalid configuration:")
    assert missing in str(error.value)


def test_a_token_without_a_shop_is_contradictory(env):
    env({"SHOPIFY_ACCESS_TOKEN": "shpat_x"})
    with pytest.raises(SettingsError, match="no shop"):
        load_settings()


def test_secrets_never_print(env):
    env(PRODUCTION)
    settings = load_settings()
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in ("shpat_secret_token_value", "x" * 40, "pw@", "k1, k2"):
        assert secret not in shown


def test_short_card_code_key_is_refused(env):
    env({**PRODUCTION, "CARD_CODE_KEY": "short"})
    with pytest.raises(SettingsError, match="CARD_CODE_KEY must be at least"):
        load_settings()


def test_bad_api_version_is_refused(env):
    env({"SHOPIFY_API_VERSION": "2026-05"})
    with pytest.raises(Exception):
        Settings()


def test_unknown_card_flood_limits_have_defaults_and_bounds(env, monkeypatch):
    for name in ("UNKNOWN_CARD_TTL_SECONDS", "SEARCH_BUCKET_SHARE", "SEARCH_MAX_IN_FLIGHT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.unknown_card_ttl_seconds, settings.search_bucket_share, settings.search_max_in_flight) == (
        30.0, 0.5, 16)
    env({"UNKNOWN_CARD_TTL_SECONDS": "0", "SEARCH_BUCKET_SHARE": "1"})
    assert load_settings().unknown_card_ttl_seconds == 0  # 0: remember nothing
    for name, value in (("SEARCH_BUCKET_SHARE", "0"), ("SEARCH_BUCKET_SHARE", "1.5"), ("SEARCH_MAX_IN_FLIGHT", "0"),
                        ("UNKNOWN_CARD_TTL_SECONDS", "-1")):
        env({name: value})
        with pytest.raises(ValueError):
            load_settings()
        monkeypatch.delenv(name)
