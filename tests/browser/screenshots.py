"""Screenshots of a generated site for the docs: ``python tests/browser/screenshots.py OUT_DIR``.

Builds the site of the bundled sample (two recorded runs, one change between them) in a temporary folder and saves
``site-overview.png`` and ``site-entity.png`` (headless Chromium, as the browser tests use it) into OUT_DIR."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from browser_support import LAUNCH_ARGS, find_chromium  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def build(tmp: Path) -> Path:
    from soundcheck_cli.cli.commands import run_cli

    shutil.copytree(ROOT / "sample-config", tmp / "sample-config")
    shutil.copytree(ROOT / "catalog-fixtures", tmp / "catalog-fixtures")
    common = ["-c", str(tmp / "sample-config" / "app-config.yaml"), "--store", str(tmp / "store"), "-q"]
    run_cli(["check", *common, "-f", "json", "-o", str(tmp / "r.json")])
    catalog = tmp / "catalog-fixtures" / "services" / "auth-service" / "catalog-info.yaml"
    catalog.write_text(catalog.read_text().replace("  description: Issues and verifies access tokens\n", "", 1))
    run_cli(["check", *common, "-f", "json", "-o", str(tmp / "r.json")])
    assert run_cli(["site", "-o", str(tmp / "site"), "--title", "Sample organisation", *common]) == 0
    return tmp / "site"


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    binary = find_chromium()
    if binary is None:
        sys.exit("no chromium binary found (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        site = build(Path(tmp))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=binary, args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            for name, path in (("site-overview.png", "index.html"),
                               ("site-entity.png", "entities/component/default/auth-service.html")):
                page.goto((site / path).as_uri())
                page.screenshot(path=str(out / name), full_page=True)
                print(f"wrote {out / name}")
            browser.close()


if __name__ == "__main__":
    main()
