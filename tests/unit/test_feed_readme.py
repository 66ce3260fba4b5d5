"""The README's verification snippet is the documented scheme: it accepts what the adapter signs
and refuses a changed body, another secret and a stale timestamp."""

import re
import time
from pathlib import Path

from adapter.feed import signature

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET, OLD = "r" * 40, "o" * 40


def _snippet():
    section = README.read_text().split("## The balance-change feed", 1)[1].split("\n## ", 1)[0]
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "def verify" in block]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["verify"]


def test_the_readme_snippet_verifies_the_adapters_signature():
    verify = _snippet()
    body = b'{"event_id":"x","sequence":1,"amount":12.5}'
    now = int(time.time())
    header = signature.header([SECRET], now, body)
    assert verify(header, body, [SECRET])
    assert not verify(header, body.replace(b"12.5", b"1.25"), [SECRET])
    assert not verify(header, body, [OLD])
    assert not verify(signature.header([SECRET], now - 301, body), body, [SECRET])
    assert not verify(header.replace(f"t={now}", f"t={now - 1}"), body, [SECRET])
    rotating = signature.header([SECRET, OLD], now, body)
    assert verify(rotating, body, [OLD]) and verify(rotating, body, [SECRET])
    assert not verify("", body, [SECRET]) and not verify(f"t={now}", body, [SECRET])
