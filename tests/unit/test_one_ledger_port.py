"""The use cases know one ledger port and nothing of which ledger serves it (issue #11)."""

from __future__ import annotations

import ast
from pathlib import Path

ADAPTER = Path(__file__).resolve().parents[2] / "adapter"
USE_CASE_LAYERS = ("services", "idempotency", "http", "store", "domain")
LEDGER_PACKAGES = ("adapter.shopify", "adapter.shopline", "adapter.gifthero", "adapter.ledgers")
LEDGER_NAMES = {"shopify", "shopline", "gifthero"}


def _modules():
    for layer in USE_CASE_LAYERS:
        yield from sorted((ADAPTER / layer).rglob("*.py"))


def test_no_use_case_imports_a_ledger_adapter():
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(ADAPTER)}: {name}" for name in names if name.startswith(LEDGER_PACKAGES)]
    assert offenders == []


def test_no_use_case_asks_which_ledger_it_has():
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            # The name may label a lease or a metric; it may not decide anything.
            if isinstance(node, ast.Compare) and "capabilities.name" in ast.unparse(node):
                offenders.append(f"{path.relative_to(ADAPTER)}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.Compare) and any(
                    isinstance(c, ast.Constant) and c.value in LEDGER_NAMES for c in (node.left, *node.comparators)):
                offenders.append(f"{path.relative_to(ADAPTER)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []
