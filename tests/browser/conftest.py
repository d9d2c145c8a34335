"""Fixtures of the browser tests: one Chromium for the module (``browser``), skipped or failed as
``browser_support`` says when none can be started."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from browser_support import LAUNCH_ARGS, find_chromium, unavailable  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    binary = find_chromium()
    if binary is None:
        unavailable("no chromium binary found (apt-get install -y chromium, or set SOUNDCHECK_CHROMIUM)")
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=binary, args=LAUNCH_ARGS, timeout=120_000)
        except Exception as exc:  # the binary exists but cannot start here
            unavailable(f"{binary} did not start: {exc}")
        yield chromium
        chromium.close()
