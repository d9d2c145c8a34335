"""The ``html`` reporter: self-contained (no network), everything escaped, chart/table/details present; and,
when Chromium is installed, the page loaded in headless Chromium with its script run (``data-ready``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from soundcheck_cli.reporters import html_reporter
from test_reporters_common import EVIL, ROOT, empty_report, sample_report


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(text: str) -> _Collect:
    parser = _Collect()
    parser.feed(text)
    return parser


def test_messages_are_escaped_and_the_only_script_is_ours():
    text = html_reporter.render(sample_report(), root=ROOT)
    assert "<script>alert" not in text
    assert "No docs &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; | see `mkdocs.yml` &amp; *fix* it" in text
    tags = _parse(text).tags
    assert [t for t, _ in tags].count("script") == 1
    assert EVIL not in text


def test_the_page_is_self_contained():
    text = html_reporter.render(sample_report(), root=ROOT)
    tags = _parse(text).tags
    csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [html_reporter.CSP] and "default-src 'none'" in csp[0]
    for tag, attrs in tags:
        assert "src" not in attrs, tag  # no external script, image or frame
        assert not (attrs.get("href") or "#").startswith(("http", "//")), attrs
    assert not any(t in ("link", "iframe", "object", "embed") for t, _ in tags)


def test_a_level_distribution_chart_per_track():
    tags = _parse(html_reporter.render(sample_report())).tags
    bars = [(a["data-label"], int(a["data-count"])) for t, a in tags if t == "g" and a.get("class") == "bar"]
    assert bars == [("none", 1), ("1. Bronze", 1), ("2. Silver", 1), ("none", 1), ("Level 1", 2)]
    assert sum(1 for t, _ in tags if t == "svg") == 2


def test_sortable_entity_table_with_levels_as_sort_keys():
    text = html_reporter.render(sample_report())
    table = text.split('<table id="entity-table"')[1].split("</table>")[0]
    headers = re.findall(r"<th( data-type=\"num\")?>([^<]*)</th>", table)
    assert [h for _, h in headers] == ["Entity", "Kind", "Owner", "Basic Catalog Hygiene", "ops", "Passed",
                                       "Not passing", "Skipped"]
    rows = table.split("<tbody>")[1].split("</tr>")[:-1]
    assert len(rows) == 3
    docs = next(r for r in rows if "docs-site" in r)
    assert 'data-sort="-1" class="num lvl-none">none</td>' in docs  # hygiene: no level
    legacy = next(r for r in rows if "legacy" in r)
    assert 'data-sort="2" class="num">2. Silver</td>' in legacy


def test_per_entity_check_details():
    text = html_reporter.render(sample_report(), root=ROOT)
    details = text.split('<section id="details">')[1]
    assert details.count('<details class="entity"') == 3
    payments = details.split('id="e-0"')[1].split("</details>")[0]
    assert payments.count("<tr><td><code>") == 6
    assert '<td class="state s-exempt">exempt</td>' in payments
    assert "basic_hygiene · 2. Silver" in payments
    assert "catalog/payments/catalog-info.yaml:1" in payments
    assert "missing: pagerduty:default/service (never collected)" in payments


def test_an_empty_report_still_renders():
    text = html_reporter.render(empty_report())
    assert re.search(r"<tbody>\s*</tbody>", text) and text.rstrip().endswith("</html>")


@pytest.mark.skipif(not any(shutil.which(b) for b in ("chromium", "chromium-browser")), reason="no chromium")
def test_headless_chromium_runs_the_page(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    page = tmp_path / "report.html"
    page.write_text(html_reporter.render(sample_report(), root=ROOT), encoding="utf-8")
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--virtual-time-budget=1000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=90)
    dom = done.stdout
    assert 'data-ready="1"' in dom, done.stderr[-2000:]  # the script ran to its end without an error
    assert dom.count('class="bar"') == 5 and 'id="entity-table"' in dom
    assert "<script>alert" not in dom
