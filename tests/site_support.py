"""A generated workspace for the site's tests and ``bench/bench_site.py``: N components owned by a few teams,
M checks on catalog annotations (no collector, no network), one track of 3 levels over them; ``check`` records
real runs, and ``flip`` changes some annotations between runs so that the history has changes."""

from __future__ import annotations

import json
from pathlib import Path

TEAMS = 25


def state(i: int, k: int, salt: int = 0) -> bool:
    """Whether component ``i`` passes check ``k`` (about 95 % do, so entities spread over the levels)."""
    return (i * 31 + k * 7 + salt) % 23 != 0


def write_catalog(root: Path, n: int, m: int, salt: int = 0) -> None:
    docs = []
    for i in range(n):
        annotations = {f"example.com/k{k:02d}": "yes" if state(i, k, salt if i % 10 == 0 else 0) else "no"
                       for k in range(m)}
        spec = {"type": "service", "lifecycle": "production"}
        if i % 97:  # a few have no owner
            spec["owner"] = f"team-{i % TEAMS:02d}"
        docs.append({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                     "metadata": {"name": f"svc-{i:05d}", "title": f"Service {i}", "description": f"Service number {i}",
                                  "annotations": annotations},
                     "spec": spec})
    # JSON is YAML: one document per line, fast to write and to read.
    (root / "catalog.yaml").write_text("".join("---\n" + json.dumps(d) + "\n" for d in docs))


def write_config(root: Path, m: int) -> None:
    lines = ["soundcheck:", "  checks:"]
    for k in range(m):
        lines += [f"    - id: check_{k:02d}", f"      name: Annotation k{k:02d} is yes",
                  f"      description: The component sets example.com/k{k:02d} to yes.",
                  "      rule:", "        factRef: catalog:default/entity_descriptor",
                  f"        path: $.metadata.annotations['example.com/k{k:02d}']",
                  "        operator: equal", "        value: 'yes'",
                  f"      failedMessage: '{{{{ entity.metadata.name }}}} must set example.com/k{k:02d} to yes.'"]
    lines += ["  tracks:", "    - id: quality", "      name: Quality", "      levels:"]
    for level in range(3):
        lines += [f"        - ordinal: {level + 1}", f"          name: {['Bronze', 'Silver', 'Gold'][level]}",
                  "          checks:"]
        lines += [f"            - id: check_{k:02d}" for k in range(level, m, 3)]
    (root / "app-config.yaml").write_text("\n".join(lines) + "\n")


def make_workspace(root: Path, n: int, m: int) -> list[str]:
    """Write config and catalog; the common options of a command over them."""
    write_config(root, m)
    write_catalog(root, n, m)
    return ["-c", str(root / "app-config.yaml"), "--catalog", str(root / "catalog.yaml"),
            "--store", str(root / "store")]


# --- checking a written site -------------------------------------------------------------------------------------

import re  # noqa: E402
from html.parser import HTMLParser  # noqa: E402
from urllib.parse import unquote  # noqa: E402

MAX_FILE = 1024 * 1024
# A URL that leaves the folder: a scheme (http:, https:, file:, data: is allowed only for nothing here), or
# protocol-relative //host. XML namespace names in SVG (xmlns="http://www.w3.org/2000/svg") are names, not fetched.
REMOTE = re.compile(r"""(?:https?|ftp|file|wss?):/{0,2}|(?:src|href)\s*=\s*["']?//""", re.IGNORECASE)
XMLNS = re.compile(r"""xmlns(?::\w+)?=["'][^"']*["']""")


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes.extend(value for name, value in attrs if value and not name.startswith("xmlns"))
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append(value)
            if name == "id" and value:
                self.ids.add(value)


def remote_urls(text: str) -> list[str]:
    """Every URL-looking piece of ``text`` that would reach outside the site (XML namespace names excepted)."""
    return [m.group(0) for m in REMOTE.finditer(XMLNS.sub("", text))]


def check_site(site: Path) -> dict[str, int]:
    """Assert what every generated site must satisfy; counts of what was checked. Every file: at most 1 MB, no
    remote or absolute URL; every HTML page: each href/src resolves to a file inside the site (fragments to an id
    of the page); badges: SVG parses as XML, endpoint JSON has shields.io's schema."""
    import json as _json
    import xml.etree.ElementTree as ET

    counts = {"pages": 0, "links": 0, "badges": 0}
    root = site.resolve()
    for path in site.rglob("*"):
        if not path.is_file():
            continue
        assert path.stat().st_size <= MAX_FILE, f"{path} is {path.stat().st_size} bytes"
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".html":
            counts["pages"] += 1
            parser = Links()
            parser.feed(text)
            # HTML: every attribute (href, src, style...) and every <style>/<script> body; text shown to readers
            # (a description that mentions a URL) is not fetched by anything.
            scripts = re.findall(r"<(?:script|style)[^>]*>(.*?)</(?:script|style)>", text, re.DOTALL)
            for value in parser.attributes + scripts:
                assert not remote_urls(value), f"{path}: {remote_urls(value)[:3]}"
                assert "url(" not in value.replace(" ", "") or "url(#" in value, f"{path}: {value}"
            assert "<h1>" in text and '<html lang="en">' in text, path
            for link in parser.links:
                assert not link.startswith("/"), f"{path}: absolute link {link}"
                target, _, fragment = link.partition("#")
                if not target:
                    assert fragment in parser.ids, f"{path}: no id {fragment}"
                    continue
                resolved = (path.parent / unquote(target)).resolve()
                assert resolved.is_relative_to(root), f"{path}: {link} leaves the site"
                assert resolved.is_file(), f"{path}: {link} does not resolve"
                counts["links"] += 1
        else:  # CSS, JS, SVG, JSON: nothing in them may point outside the folder
            assert not remote_urls(text), f"{path}: {remote_urls(text)[:3]}"
        if path.suffix == ".svg":
            ET.fromstring(text)
        elif path.suffix == ".json" and "badges" in path.parts:
            doc = _json.loads(text)
            assert set(doc) == {"schemaVersion", "label", "message", "color"} and doc["schemaVersion"] == 1, path
            assert all(isinstance(doc[k], str) and doc[k] for k in ("label", "message", "color")), path
            assert path.with_suffix(".svg").is_file()
            counts["badges"] += 1
    return counts
