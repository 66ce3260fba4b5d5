"""FEED_SUBSCRIBERS and the feed's delivery settings: parsed from the environment's JSON, every
problem in Settings.check's one message, and no secret (nor URL) in it."""

import json

import pytest

from adapter.settings import Settings, SettingsError, load_settings

CURRENT = "feed-current-" + "c" * 30
PREVIOUS = "feed-previous-" + "p" * 30
PRODUCTION = {
    "SHOPIFY_SHOP_DOMAIN": "example",
    "SHOPIFY_ACCESS_TOKEN": "shpat_secret_token_value",
    "NEWSTORE_API_KEYS": "a" * 32,
    "CARD_CODE_KEY": "x" * 40,
    "DATABASE_URL": "postgresql://u:pw@db/gca",
}


@pytest.fixture
def env(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)

    def set_env(values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def _subscribers(*items) -> str:
    return json.dumps(list(items))


def test_subscribers_come_from_the_environment_as_json(env):
    env({**PRODUCTION, "FEED_SUBSCRIBERS": _subscribers(
        {"name": "erp", "url": "https://erp.example/hooks", "secrets": [CURRENT, PREVIOUS]},
        {"name": "second_pos-2", "url": "https://pos.example:8443/feed", "secrets": [CURRENT]})})
    settings = load_settings()
    erp, pos = settings.feed_subscriber_list
    assert settings.feed_subscriber_names == ("erp", "second_pos-2")
    assert erp.url == "https://erp.example/hooks" and erp.secret_values == (CURRENT, PREVIOUS)
    for shown in (repr(settings), str(settings), repr(erp), repr(settings.feed_subscriber_list)):
        assert CURRENT not in shown and PREVIOUS not in shown and "erp.example" not in shown
    assert settings.feed_max_attempts == 12
    assert (settings.feed_backoff_base_seconds, settings.feed_backoff_cap_seconds) == (10.0, 3600.0)


def test_no_subscribers_is_fine(env):
    env(PRODUCTION)
    assert load_settings().feed_subscriber_list == ()
    env({"FEED_SUBSCRIBERS": "[]"})
    assert load_settings().feed_subscriber_list == ()


def test_every_problem_joins_the_one_message_without_a_secret_or_url(env):
    env({**PRODUCTION, "FEED_SUBSCRIBERS": _subscribers(
        {"name": "ERP", "url": "https://erp.example/hooks", "secrets": [CURRENT]},
        {"name": "pos", "url": "http://pos.example/token-in-path-1234", "secrets": ["short-secret-value"]},
        {"name": "pos", "url": "https://pos.example/feed", "secrets": []},
        {"name": "bi", "url": "https://bi.example/feed", "secrets": [CURRENT, CURRENT], "secret": "x"},
        "not an object"),
        "FEED_BACKOFF_BASE_SECONDS": "100", "FEED_BACKOFF_CAP_SECONDS": "10"})
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith("invalid configuration:") and "missing" not in message
    for expected in ("FEED_SUBSCRIBERS #1: name must be", "FEED_SUBSCRIBERS 'pos': url must be https",
                     "FEED_SUBSCRIBERS 'pos': every secret must be at least 32 characters (not secret 1)",
                     "FEED_SUBSCRIBERS 'pos' is named twice", "FEED_SUBSCRIBERS 'pos': secrets must be a non-empty list",
                     "FEED_SUBSCRIBERS 'bi': unknown field secret", "FEED_SUBSCRIBERS 'bi': secrets lists the same",
                     "FEED_SUBSCRIBERS #5 must be an object",
                     "FEED_BACKOFF_BASE_SECONDS must not exceed FEED_BACKOFF_CAP_SECONDS"):
        assert expected in message, message
    for secret in (CURRENT, "short-secret-value", "token-in-path-1234", "erp.example"):
        assert secret not in message


def test_invalid_json_is_one_problem_among_the_others(env):
    env({"EMBEDDED": "true", "FEED_SUBSCRIBERS": '[{"name": "erp", "secrets": ["' + CURRENT + '"]', "NEWSTORE_API_KEYS": "short"})
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "FEED_SUBSCRIBERS is not valid JSON" in message and "NEWSTORE_API_KEYS" in message
    assert CURRENT not in message


@pytest.mark.parametrize("url, embedded, ok", [
    ("https://erp.example/hooks", False, True),
    ("http://127.0.0.1:8099/hooks", True, True),
    ("http://localhost:8099/hooks", True, True),
    ("http://[::1]:8099/hooks", True, True),
    ("http://127.0.0.1:8099/hooks", False, False),
    ("http://erp.example/hooks", True, False),
    ("ftp://erp.example/hooks", False, False),
    ("https:///no-host", False, False),
    ("https://erp.example:99999/", False, False),
])
def test_https_only_except_loopback_in_embedded_mode(url, embedded, ok):
    settings = Settings(embedded=embedded, feed_subscribers=[{"name": "erp", "url": url, "secrets": [CURRENT]}],
                        **({} if embedded else {k.lower(): v for k, v in PRODUCTION.items()}))
    if ok:
        settings.check()
        assert settings.feed_subscriber_names == ("erp",)
    else:
        with pytest.raises(SettingsError, match="FEED_SUBSCRIBERS 'erp': url "):
            settings.check()
