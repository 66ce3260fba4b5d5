"""Whether a URL's host is this machine: the one place plain http is allowed (embedded mode only,
to an emulator or a local subscriber)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
