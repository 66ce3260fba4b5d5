import pytest

from adapter.settings import Settings, SettingsError, load_settings

KEY_A = "a" * 32
KEY_B = "b" * 40
PRODUCTION = {
    "SHOPIFY_SHOP_DOMAIN": "example",
    "SHOPIFY_ACCESS_TOKEN": "shpat_secret_token_value",
    "NEWSTORE_API_KEYS": f"{KEY_A}, {KEY_B}",
    "CARD_CODE_KEY": "x" * 40,
    "DATABASE_URL": "postgresql://u:pw@db/gca",
}
EVERY_PRODUCTION_SETTING = ("DATABASE_URL", "SHOPIFY_SHOP_DOMAIN or SHOPIFY_GRAPHQL_URL", "SHOPIFY_ACCESS_TOKEN",
                            "NEWSTORE_API_KEYS", "CARD_CODE_KEY")


@pytest.fixture
def env(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)

    def set_env(values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_nothing_configured_fails_with_one_message_naming_every_missing_setting(env):
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith("invalid configuration:") and message.count("missing") == 1
    for name in EVERY_PRODUCTION_SETTING:
        assert name in message
    assert "EMBEDDED=true" in message


def test_embedded_mode_must_be_asked_for_and_then_needs_nothing(env):
    env({"EMBEDDED": "true"})
    settings = load_settings()
    assert settings.embedded and not settings.shop_configured
    assert settings.http_port == 8080 and settings.metrics_port == 9102
    assert settings.shopify_api_version == "2026-10"
    assert settings.bind_host == "127.0.0.1"


def test_embedded_mode_binds_where_http_host_says(env):
    env({"EMBEDDED": "true", "HTTP_HOST": "0.0.0.0"})
    assert load_settings().bind_host == "0.0.0.0"


def test_production_binds_every_interface_by_default(env):
    env(PRODUCTION)
    assert load_settings().bind_host == "0.0.0.0"


def test_production_settings_parse_keys_for_rotation(env):
    env(PRODUCTION)
    settings = load_settings()
    assert settings.api_keys == (KEY_A, KEY_B)
    assert not settings.embedded


@pytest.mark.parametrize("missing", ["SHOPIFY_SHOP_DOMAIN", "SHOPIFY_ACCESS_TOKEN", "NEWSTORE_API_KEYS",
                                     "CARD_CODE_KEY", "DATABASE_URL"])
def test_production_without_a_required_setting_fails_with_one_message(env, missing):
    env({k: v for k, v in PRODUCTION.items() if k != missing})
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith("invalid configuration:")
    assert missing in str(error.value)


def test_a_token_without_a_shop_is_contradictory_in_embedded_mode(env):
    env({"EMBEDDED": "true", "SHOPIFY_ACCESS_TOKEN": "shpat_x"})
    with pytest.raises(SettingsError, match="no shop"):
        load_settings()


@pytest.mark.parametrize("url", ["http://example.myshopify.com/admin/api/2026-10/graphql.json",
                                 "http://127.0.0.1:8089/admin/api/2026-10/graphql.json",
                                 "ftp://example.myshopify.com/graphql.json", "example.myshopify.com"])
def test_production_ledger_url_must_be_https(env, url):
    env({**PRODUCTION, "SHOPIFY_GRAPHQL_URL": url})
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "SHOPIFY_GRAPHQL_URL must be https" in str(error.value)


def test_production_accepts_an_https_ledger_url(env):
    env({**PRODUCTION, "SHOPIFY_GRAPHQL_URL": "https://proxy.example.com/admin/api/2026-10/graphql.json"})
    assert load_settings().shopify_graphql_url.startswith("https://")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_embedded_mode_may_reach_a_loopback_sandbox_over_http(env, host):
    env({"EMBEDDED": "true", "SHOPIFY_GRAPHQL_URL": f"http://{host}:8089/admin/api/2026-10/graphql.json",
         "SHOPIFY_ACCESS_TOKEN": "shpat_x"})
    assert load_settings().embedded


def test_embedded_mode_still_refuses_plain_http_off_the_machine(env):
    env({"EMBEDDED": "true", "SHOPIFY_GRAPHQL_URL": "http://example.myshopify.com/admin/api/2026-10/graphql.json",
         "SHOPIFY_ACCESS_TOKEN": "shpat_x"})
    with pytest.raises(SettingsError, match="SHOPIFY_GRAPHQL_URL must be https"):
        load_settings()


@pytest.mark.parametrize("embedded", ["false", "true"])
def test_short_api_keys_are_refused_by_position_never_by_value(env, embedded):
    env({**PRODUCTION, "EMBEDDED": embedded, "NEWSTORE_API_KEYS": f"{KEY_A},short-key-123"})
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "NEWSTORE_API_KEYS: key #2 is shorter than 32 characters" in str(error.value)
    assert "short-key-123" not in str(error.value) and KEY_A not in str(error.value)


def test_secrets_never_print(env):
    env(PRODUCTION)
    settings = load_settings()
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in ("shpat_secret_token_value", "x" * 40, "pw@", KEY_A, KEY_B):
        assert secret not in shown


def test_short_card_code_key_is_refused(env):
    env({**PRODUCTION, "CARD_CODE_KEY": "short"})
    with pytest.raises(SettingsError, match="CARD_CODE_KEY must be at least"):
        load_settings()


def test_card_code_key_alone_is_a_one_key_list(env):
    env(PRODUCTION)
    assert load_settings().card_code_secrets == ("x" * 40,)


def test_card_code_keys_list_the_writing_key_first(env):
    env({**{k: v for k, v in PRODUCTION.items() if k != "CARD_CODE_KEY"},
         "CARD_CODE_KEYS": f" {'n' * 32} , {'o' * 40},"})
    assert load_settings().card_code_secrets == ("n" * 32, "o" * 40)


def test_production_accepts_card_code_keys_instead_of_card_code_key(env):
    env({**{k: v for k, v in PRODUCTION.items() if k != "CARD_CODE_KEY"}, "CARD_CODE_KEYS": "n" * 40})
    assert load_settings().card_code_secrets == ("n" * 40,)


def test_card_code_key_and_card_code_keys_together_are_refused(env):
    env({**PRODUCTION, "CARD_CODE_KEYS": "n" * 40})
    with pytest.raises(SettingsError, match="CARD_CODE_KEY and CARD_CODE_KEYS are both set"):
        load_settings()


@pytest.mark.parametrize("keys, problem", [
    (f"{'n' * 40},short", "CARD_CODE_KEYS: every key must be at least 32 characters (not key 2)"),
    (f"{'n' * 40},{'n' * 40}", "CARD_CODE_KEYS lists the same key twice"),
    (" , ", "CARD_CODE_KEYS is set but lists no key"),
])
def test_bad_card_code_keys_are_refused_without_showing_them(env, keys, problem):
    env({**{k: v for k, v in PRODUCTION.items() if k != "CARD_CODE_KEY"}, "CARD_CODE_KEYS": keys})
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert problem in str(error.value)
    assert "n" * 32 not in str(error.value) and "short" not in str(error.value)


def test_bad_api_version_is_refused(env):
    env({"SHOPIFY_API_VERSION": "2026-05"})
    with pytest.raises(Exception):
        Settings()


def test_unknown_card_flood_limits_have_defaults_and_bounds(env, monkeypatch):
    env(PRODUCTION)
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


def test_slow_client_and_rate_limit_defaults(env):
    env(PRODUCTION)
    settings = load_settings()
    assert settings.http_header_timeout_seconds == 5 and settings.http_body_timeout_seconds == 5
    assert settings.http_keepalive_timeout_seconds == 75
    assert settings.rate_limit_per_key_per_second == 200 and settings.rate_limit_burst == 400


def test_a_rate_without_a_burst_is_refused_and_zero_disables(env):
    env({**PRODUCTION, "RATE_LIMIT_BURST": "0"})
    with pytest.raises(SettingsError, match="RATE_LIMIT_BURST must be at least 1"):
        load_settings()
    env({"RATE_LIMIT_PER_KEY_PER_SECOND": "0"})
    assert load_settings().rate_limit_per_key_per_second == 0


def test_migrate_needs_only_the_database(env):
    env({"DATABASE_URL": PRODUCTION["DATABASE_URL"]})
    assert load_settings(serve=False).database_url is not None
    env({"DATABASE_URL": ""})
    with pytest.raises(SettingsError, match="missing DATABASE_URL"):
        load_settings(serve=False)
