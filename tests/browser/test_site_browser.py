"""The generated site in a real browser (headless Chromium, Debian's package, through Playwright): pages load
from file:// with no console error, no failed load and no request leaving the folder; links lead to pages that
exist; search finds an entity by name, by mouse and by keyboard; the basics of accessibility hold (one h1, labelled
search field, images with alt text, skip link first in tab order).

Skipped when no chromium is found locally; failed instead in CI (``browser_support``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from site_support import make_workspace, write_catalog
from soundcheck_cli.cli.commands import run_cli

N = 150


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser-site")
    common = make_workspace(root, N, 6)
    assert run_cli(["check", "-q", *common]) in (0, 1)
    write_catalog(root, N, 6, salt=3)
    assert run_cli(["check", "-q", *common]) in (0, 1)
    assert run_cli(["site", "-o", str(root / "site"), "-q", *common]) == 0
    return (root / "site").resolve()


class Watched:
    """A page whose console errors, page errors, failed loads and requests outside the site are recorded."""

    def __init__(self, browser: Any, site: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.page = self.context.new_page()
        self.site_url = site.as_uri() + "/"
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.context.route("**/*", self._route)
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.site_url):
            route.continue_()
        else:
            self.problems.append(f"request leaving the site: {url}")
            route.abort()

    def open(self, path: str) -> Any:
        self.page.goto(self.site_url + path)
        self.page.wait_for_load_state("load")
        return self.page

    def assert_clean(self) -> None:
        outside = [u for u in self.requests if not u.startswith(self.site_url)]
        assert not outside, outside
        assert not self.problems, self.problems

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Any, site: Path) -> Any:
    w = Watched(browser, site)
    yield w
    w.close()


PAGES = ["index.html", "tracks/index.html", "tracks/quality.html", "checks/index.html", "checks/check_00.html",
         "owners/index.html", "owners/group/default/team-01.html", "entities/index.html",
         "entities/component/default/svc-00010.html", "changes/index.html"]


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_clean_and_its_links_resolve(watched, site, path):
    page = watched.open(path)
    assert page.locator("h1").count() == 1
    hrefs = page.eval_on_selector_all("a[href], link[href], script[src], img[src]",
                                      "els => els.map(e => e.href || e.src)")
    assert hrefs
    for url in hrefs:
        assert url.startswith(watched.site_url), url
        target = Path(site, url[len(watched.site_url):].split("#")[0])
        assert target.is_file(), url
    # every image (badges, charts are inline) has a text alternative
    assert page.eval_on_selector_all("img", "els => els.filter(e => !e.alt).length") == 0
    assert page.eval_on_selector_all("img", "els => els.filter(e => !e.complete || !e.naturalWidth).length") == 0
    assert any(u.endswith("/assets/site.css") for u in watched.requests)  # file:// loads are seen
    watched.assert_clean()


def test_following_links_navigates(watched):
    page = watched.open("index.html")
    page.get_by_role("link", name="Quality").first.click()
    page.wait_for_url("**/tracks/quality.html", timeout=10_000)
    assert page.locator("h1").inner_text() == "Quality"
    page.get_by_role("link", name="Entities", exact=True).click()
    page.wait_for_url("**/entities/index.html", timeout=10_000)
    page.locator("main a", has_text="component:default/svc-00003").click()
    page.wait_for_url("**/entities/component/default/svc-00003.html", timeout=10_000)
    assert page.locator("h1").inner_text() == "svc-00003"
    watched.assert_clean()


def test_search_finds_an_entity_by_name(watched):
    page = watched.open("checks/check_01.html")  # from a page two folders deep, links must still resolve
    page.get_by_label("Search entities").fill("svc-00042")
    result = page.locator("#search-results a", has_text="component:default/svc-00042")
    result.wait_for(timeout=10_000)
    assert page.locator("#search-results a").count() == 1
    result.click()
    page.wait_for_url("**/entities/component/default/svc-00042.html", timeout=10_000)
    assert page.locator("h1").inner_text() == "svc-00042"
    watched.assert_clean()


def test_search_by_keyboard(watched):
    page = watched.open("index.html")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.focus("#search")
    page.keyboard.type("service 7")  # titles are searched too: "Service 7", "Service 70"...
    page.locator("#search-results a").first.wait_for(timeout=10_000)
    assert "svc-00007" in page.locator("#search-results a").first.inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url("**/entities/component/default/svc-00007.html", timeout=10_000)
    watched.assert_clean()


def test_search_says_when_nothing_matches(watched):
    page = watched.open("index.html")
    page.get_by_label("Search entities").fill("no-such-entity-anywhere")
    page.locator("#search-results li", has_text="No entity matches").wait_for(timeout=10_000)
    watched.assert_clean()


def test_the_watcher_catches_what_it_must(browser, tmp_path):
    """The checks above can fail: a page with a remote image, a missing script and a script error is caught (the
    remote request is aborted by the route before anything is sent)."""
    (tmp_path / "bad.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><title>x</title></head><body><h1>x</h1>'
        '<img src="https://example.invalid/x.png" alt="x"><script src="missing.js"></script>'
        "<script>undefinedFunction()</script></body></html>")
    w = Watched(browser, tmp_path)
    try:
        w.open("bad.html")
        text = "\n".join(w.problems)
        assert "request leaving the site: https://example.invalid/x.png" in text
        assert "missing.js" in text and "undefinedFunction" in text
        with pytest.raises(AssertionError):
            w.assert_clean()
    finally:
        w.close()
