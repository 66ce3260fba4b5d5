"""FEED_SUBSCRIBERS: who receives the feed's signed webhooks.

A JSON list, e.g. [{"name": "erp", "url": "https://erp.example/hooks/giftcards",
"secrets": ["<current>", "<previous>"]}]. Every problem is reported by subscriber position or
name and field, never with a value: a secret (or a URL carrying a token) is no business of a log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr

from adapter.loopback import is_loopback

MIN_SECRET_LENGTH = 32
NAME = re.compile(r"[a-z0-9_-]{1,64}")
FIELDS = frozenset({"name", "url", "secrets"})


@dataclass(frozen=True, slots=True)
class Subscriber:
    name: str
    url: str = ""
    # The first signs; each is sent as a v1 signature during a rotation (adapter.feed.signature).
    secrets: tuple[SecretStr, ...] = ()

    def __repr__(self) -> str:  # the URL may carry a token of the subscriber's: name only
        return f"Subscriber({self.name!r})"

    @property
    def secret_values(self) -> tuple[str, ...]:
        return tuple(secret.get_secret_value() for secret in self.secrets)


def parse(raw: str | None, *, embedded: bool) -> tuple[tuple[Subscriber, ...], list[str]]:
    """The subscribers, and every problem found (empty when the value is usable)."""
    if raw is None or not raw.strip():
        return (), []
    try:
        value = json.loads(raw)
    except ValueError:
        return (), ["FEED_SUBSCRIBERS is not valid JSON (a list of {name, url, secrets})"]
    if not isinstance(value, list):
        return (), ["FEED_SUBSCRIBERS must be a JSON list of {name, url, secrets}"]
    subscribers: list[Subscriber] = []
    problems: list[str] = []
    seen: set[str] = set()
    for position, item in enumerate(value, start=1):
        where = f"FEED_SUBSCRIBERS #{position}"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object with name, url and secrets")
            continue
        name = item.get("name")
        if isinstance(name, str) and NAME.fullmatch(name):
            where = f"FEED_SUBSCRIBERS {name!r}"
            if name in seen:
                problems.append(f"{where} is named twice: names must be unique")
            seen.add(name)
        else:
            problems.append(f"{where}: name must be 1 to 64 of a-z, 0-9, '_' and '-'")
        unknown = sorted(str(key) for key in item if key not in FIELDS)
        if unknown:
            # Key names are shown only when they are plain words (a key could be anything).
            shown = [key for key in unknown if re.fullmatch(r"[A-Za-z0-9_]{1,32}", key)]
            problems.append(f"{where}: unknown field{'s' if len(unknown) > 1 else ''}"
                            + (f" {', '.join(shown)}" if shown else "") + " (only name, url and secrets)")
        url_problem = _url_problem(item.get("url"), embedded)
        if url_problem:
            problems.append(f"{where}: url {url_problem}")
        secrets = item.get("secrets")
        secret_problems = _secret_problems(secrets)
        problems += [f"{where}: {problem}" for problem in secret_problems]
        if not secret_problems and not url_problem and isinstance(name, str) and NAME.fullmatch(name):
            subscribers.append(Subscriber(name, item["url"], tuple(SecretStr(s) for s in secrets)))
    return (tuple(subscribers) if not problems else ()), problems


def _url_problem(url: object, embedded: bool) -> str | None:
    if not isinstance(url, str) or not url:
        return "is missing"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "is not a URL"
    if parts.scheme == "https" and host:
        return None
    # A local subscriber (a test, `make run`) speaks plain http on loopback; nothing else may
    # carry the signed events in clear.
    if embedded and parts.scheme == "http" and is_loopback(host):
        return None
    return "must be https (http only to loopback in embedded mode)" if embedded else "must be https"


def _secret_problems(secrets: object) -> list[str]:
    if not isinstance(secrets, list) or not secrets:
        return ["secrets must be a non-empty list (the first signs)"]
    if not all(isinstance(secret, str) for secret in secrets):
        return ["secrets must be strings"]
    problems = []
    short = [str(n) for n, secret in enumerate(secrets, 1) if len(secret) < MIN_SECRET_LENGTH]
    if short:
        problems.append(f"every secret must be at least {MIN_SECRET_LENGTH} characters (not secret {', '.join(short)})")
    if len(set(secrets)) != len(secrets):
        problems.append("secrets lists the same secret twice")
    return problems
