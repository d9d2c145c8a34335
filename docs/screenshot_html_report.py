"""Render the bundled sample as an ``html`` report and take a screenshot of it with headless Chromium.

    python docs/screenshot_html_report.py [--out docs/html-report.png] [--html report.html] [--size 1280,1400]

Runs ``soundcheck check`` on ``sample-config/app-config.yaml`` with an empty temporary fact store (offline: the
PagerDuty checks are not-reported), writes the page, and calls Debian's ``chromium`` (``apt-get install
chromium``) with ``--headless --no-sandbox --disable-gpu --disable-background-networking``. Prints what it wrote.
Without Chromium it still writes the HTML and says that no screenshot was taken (exit code 1).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def render_sample(html_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from soundcheck_cli import app as core
    from soundcheck_cli.reporters import html_reporter

    with tempfile.TemporaryDirectory() as store:
        common = core.CommonOptions(config_paths=(str(ROOT / "sample-config" / "app-config.yaml"),), store_path=store,
                                    cwd=str(ROOT))
        workspace = core.load_workspace(common)
        report = core.check(workspace, core.CheckOptions())
    html_path.write_text(html_reporter.render(report, root=str(ROOT), title="Soundcheck report: sample"),
                         encoding="utf-8")


def screenshot(browser: str, html_path: Path, png_path: Path, size: str) -> None:
    # --virtual-time-budget lets the inline script run before the capture.
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--hide-scrollbars", "--virtual-time-budget=2000", f"--screenshot={png_path}",
                    f"--window-size={size}", html_path.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "html-report.png"), help="PNG to write")
    parser.add_argument("--html", default=None, help="also keep the HTML page here")
    parser.add_argument("--size", default="1280,1400", help="window size WIDTH,HEIGHT")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        html_path = Path(args.html) if args.html else Path(tmp, "report.html")
        render_sample(html_path)
        print(f"html: {html_path} ({html_path.stat().st_size} bytes)")
        browser = find_browser()
        if browser is None:
            print("no chromium found (apt-get install chromium): no screenshot taken", file=sys.stderr)
            return 1
        png = Path(args.out)
        screenshot(browser, html_path, png, args.size)
        print(f"png: {png} ({png.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
