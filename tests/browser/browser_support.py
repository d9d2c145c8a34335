"""Headless Chromium for the site's browser tests and screenshots: Debian's ``chromium`` package driven by
Playwright for Python, launched with ``executable_path`` (Playwright's own browser download is never used: there is
no network for it).

``launch_chromium()`` finds the binary (``$SOUNDCHECK_CHROMIUM``, else ``chromium``/``chromium-browser`` on PATH,
else ``/usr/lib/chromium/chromium``). When there is none, or Playwright is not installed, ``unavailable(reason)``
skips the test, except in CI (``CI=true``, or ``SOUNDCHECK_REQUIRE_BROWSER=1`` as .ci/run sets), where it fails:
a CI run must never pass by skipping the browser tests.
"""

from __future__ import annotations

import os
import shutil

import pytest

CANDIDATES = ("chromium", "chromium-browser")
DEBIAN_PATH = "/usr/lib/chromium/chromium"
REQUIRE_ENV = "SOUNDCHECK_REQUIRE_BROWSER"


def required() -> bool:
    return (os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
            or os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0"))


def unavailable(reason: str) -> None:
    if required():
        pytest.fail(f"a browser is required in CI (CI=true or {REQUIRE_ENV}=1) but unavailable: {reason}",
                    pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


def find_chromium() -> str | None:
    explicit = os.environ.get("SOUNDCHECK_CHROMIUM")
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return DEBIAN_PATH if os.path.isfile(DEBIAN_PATH) else None


# --no-sandbox: Chromium's sandbox cannot start as root (CI and this sandbox run as root).
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
