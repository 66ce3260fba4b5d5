"""Running `giftcard-adapter` commands from a test: main(argv) in this process, on a thread of
its own, with only the given settings in the environment and stdout and stderr captured (a new
process costs a second of imports). Tests of the entry point itself use a subprocess."""

from __future__ import annotations

import asyncio
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

import structlog

from adapter.settings import Settings

_SETTINGS = {name.upper() for name in Settings.model_fields}


async def run_main(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `giftcard-adapter *argv` with settings `env`."""
    return await asyncio.to_thread(_main_in_process, argv, env)


def _main_in_process(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    from adapter.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    logging = structlog.get_config()  # main() configures logging for itself: the tests' is put back
    # The machine's own settings (a developer's DATABASE_URL, say) must not leak in.
    only_ours = {name: value for name, value in os.environ.items() if name.upper() not in _SETTINGS} | env
    try:
        with mock.patch.dict(os.environ, only_ours, clear=True), redirect_stdout(out), redirect_stderr(err):
            try:
                main(argv)
                status = 0
            except SystemExit as exit:
                status = exit.code
    finally:
        structlog.configure(**logging)
    return status, out.getvalue(), err.getvalue()
