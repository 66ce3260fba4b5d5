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
    for name in list(PRODUCTION) + ["SHOPIFY_GRAPHQL_URL", "HTTP_PORT", "SHOPIFY_API_VERSION", "CARD_CODE_KEYS"]:
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
