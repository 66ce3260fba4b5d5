"""The production package runs without the emulators and their dependencies (issue #11): the
image installs `.` only, so nothing the service imports may need giftcard_emulators or
graphql-core (the Shopify sandbox's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_EMULATORS = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("giftcard_emulators", "graphql"):
            raise ImportError(f"{name} is not in the production image")
sys.meta_path.insert(0, Block())
import adapter.__main__, adapter.app, adapter.embedded, adapter.ledgers.selection
import adapter.shopify.client, adapter.shopline.client, adapter.gifthero.client
from adapter.settings import Settings
print("imports ok")
"""


def test_the_service_imports_without_the_emulators_or_graphql():
    done = subprocess.run([sys.executable, "-c", BLOCK_EMULATORS], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imports ok"


def test_the_image_installs_the_service_package_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "emulators" not in dockerfile
    assert "graphql-core" not in (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]
