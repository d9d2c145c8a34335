"""``soundcheck site -o DIR`` (issue 22): the static site of the recorded history, through the CLI.

Generation tests: pages exist, every link resolves inside the folder, no file holds a remote or absolute URL,
badges and their shields.io endpoint files are valid, no file is over 1 MB; and what the pages say (states,
messages, owners, changes between runs, what to fix first). The browser tests are in tests/browser/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from site_support import check_site, make_workspace, write_catalog
from soundcheck_cli.cli.commands import run_cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PAGERDUTY_TOKEN", "SOUNDCHECK_STORE", "GITHUB_ACTIONS", "GITHUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def sample_copy(tmp_path: Path) -> list[str]:
    """The bundled sample in a temporary folder (its catalog is edited by some tests)."""
    shutil.copytree(ROOT / "sample-config", tmp_path / "sample-config")
    shutil.copytree(ROOT / "catalog-fixtures", tmp_path / "catalog-fixtures")
    return ["-c", str(tmp_path / "sample-config" / "app-config.yaml"), "--store", str(tmp_path / "store"), "-q"]


def test_no_recorded_run_is_a_clear_usage_error(tmp_path, capsys):
    common = sample_copy(tmp_path)
    code, out, err = cli(capsys, "site", "-o", str(tmp_path / "site"), *common)
    assert code == 2
    assert "no run recorded" in err and "soundcheck check" in err
    assert not (tmp_path / "site").exists()


def test_sample_site_pages_links_badges(tmp_path, capsys):
    common = sample_copy(tmp_path)
    assert cli(capsys, "check", *common)[0] == 1  # the sample fails on purpose; the run is recorded anyway
    # a second run with one change: auth-service loses its description
    catalog = tmp_path / "catalog-fixtures" / "services" / "auth-service" / "catalog-info.yaml"
    text = catalog.read_text()
    assert "  description: Issues and verifies access tokens\n" in text
    catalog.write_text(text.replace("  description: Issues and verifies access tokens\n", "", 1))
    assert cli(capsys, "check", *common)[0] == 1
    code, out, err = cli(capsys, "site", "-o", str(tmp_path / "site"), *common)
    assert code == 0, err
    assert "site written to" in out and "badges" in out
    site = tmp_path / "site"
    counts = check_site(site)
    assert counts["pages"] > 20 and counts["links"] > 200 and counts["badges"] >= 9
    for page in ("index.html", "tracks/index.html", "tracks/basic_hygiene.html", "checks/index.html",
                 "checks/has_description.html", "owners/index.html", "owners/group/default/payments-team.html",
                 "entities/index.html", "entities/component/default/auth-service.html"):
        assert (site / page).is_file(), page

    overview = (site / "index.html").read_text()
    assert "<title>Overview - Sample organisation</title>" in overview  # app.title of the sample's config
    assert "Basic Catalog Hygiene" in overview and "Changes since the previous run" in overview
    assert "New failures (1)" in overview and "component:default/auth-service" in overview

    entity = (site / "entities/component/default/auth-service.html").read_text()
    assert "Has a description" in entity and 's-failed">failed' in entity
    # the history of changes: has_description went from passed to failed in the latest run
    history = entity.split("<h2>History</h2>")[1]
    assert "Has a description" in history and "passed" in history and "failed" in history
    assert 'href="../../../owners/group/default/' in entity  # owner from the catalog, relative link

    badge = json.loads((site / "badges/component/default/auth-service/basic_hygiene.json").read_text())
    assert badge["schemaVersion"] == 1 and badge["label"] == "Basic Catalog Hygiene"
    assert badge["color"] in ("red", "orange", "yellow", "green", "brightgreen")
    svg = (site / "badges/component/default/auth-service/basic_hygiene.svg").read_text()
    assert f'aria-label="Basic Catalog Hygiene: {badge["message"]}"' in svg

    check = (site / "checks/has_description.html").read_text()
    assert "Who fails it" in check and "auth-service" in check


def test_levels_owners_and_fix_first(tmp_path, capsys):
    """A generated workspace: 120 components, 6 checks, one track of 3 levels; levels, owners and the ranked
    blockers on an owner page come from the recorded run."""
    common = make_workspace(tmp_path, 120, 6)
    assert run_cli(["check", "-q", *common]) in (0, 1)
    code, _, err = cli(capsys, "site", "-o", str(tmp_path / "out"), "--title", "ACME health", *common)
    assert code == 0, err
    site = tmp_path / "out"
    check_site(site)
    overview = (site / "index.html").read_text()
    assert "<title>Overview - ACME health</title>" in overview
    owner = (site / "owners/group/default/team-00.html").read_text()
    fix = owner.split("What to fix first")[1].split("<h2>")[0]
    assert "check_" in fix and "Quality" in fix
    assert "(no owner)" in (site / "owners/index.html").read_text()  # svc-00000 and svc-00097 have no owner
    assert (site / "owners/unowned.html").is_file()
    # every entity has an entity page, a badge and an endpoint file
    for i in (0, 57, 119):
        assert (site / f"entities/component/default/svc-{i:05d}.html").is_file()
        assert (site / f"badges/component/default/svc-{i:05d}/quality.json").is_file()


def test_big_lists_are_split_into_pages(tmp_path, capsys):
    common = make_workspace(tmp_path, 1200, 3)
    assert run_cli(["check", "-q", *common]) in (0, 1)
    write_catalog(tmp_path, 1200, 3, salt=3)  # some states change
    assert run_cli(["check", "-q", *common]) in (0, 1)
    assert cli(capsys, "site", "-o", str(tmp_path / "out"), *common)[0] == 0
    site = tmp_path / "out"
    check_site(site)  # includes: every file <= 1 MB
    assert (site / "entities/index-3.html").is_file()  # 1200 entities: 3 pages of 500
    first = (site / "entities/index.html").read_text()
    assert "page 1 of 3" in first and 'href="../entities/index-2.html"' in first
    # search index: every entity once, each entry's path is its page
    entries = []
    for part in sorted((site / "search").glob("index-*.js")):
        text = part.read_text()
        assert text.startswith("soundcheckIndex(") and text.endswith(");\n")
        entries += json.loads(text[len("soundcheckIndex("):-3])
    assert len(entries) == 1200
    assert all((site / path).is_file() for _, _, path in entries)


def test_an_existing_folder_is_replaced_only_when_it_is_a_site(tmp_path, capsys):
    common = sample_copy(tmp_path)
    cli(capsys, "check", *common)
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, "site", "-o", str(foreign), *common)
    assert code == 2 and "was not written by `soundcheck site`" in err
    assert (foreign / "keep.txt").read_text() == "mine"
    code, _, err = cli(capsys, "site", "-o", str(foreign / "keep.txt"), *common)
    assert code == 2 and "is not a folder" in err
    out = tmp_path / "out"
    assert cli(capsys, "site", "-o", str(out), *common)[0] == 0
    (out / "stale.html").write_text("old")
    assert cli(capsys, "site", "-o", str(out), *common)[0] == 0
    assert not (out / "stale.html").exists() and (out / "index.html").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []  # no temp folder left


def test_a_failed_write_leaves_the_previous_site(tmp_path):
    from soundcheck_cli.site.writer import MARKER, SiteWriter

    target = tmp_path / "site"
    with SiteWriter(str(target)) as w:
        w.write("index.html", "first")
    with pytest.raises(RuntimeError):
        with SiteWriter(str(target)) as w:
            w.write("index.html", "second")
            raise RuntimeError("disk full half-way")
    assert (target / "index.html").read_text() == "first" and (target / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_messages_of_every_state_are_recorded_and_shown(tmp_path, capsys):
    """passedMessage texts are kept in the run record (history change for the site), and secrets are masked."""
    (tmp_path / "catalog.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n"
        "  annotations: {leak: s3cr3t-token-value}\nspec: {owner: team-a}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: b\nspec: {}\n")
    (tmp_path / "app-config.yaml").write_text(
        "soundcheck:\n  collectors:\n    pagerduty:\n      token: s3cr3t-token-value\n      enabled: false\n"
        "  checks:\n    - id: has_owner\n      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner,"
        " operator: matches, value: '\\S'}\n"
        "      passedMessage: '{{ entity.metadata.name }} is owned ({{ entity.metadata.annotations.leak }})'\n"
        "      failedMessage: '{{ entity.metadata.name }} has no owner'\n")
    common = ["-c", str(tmp_path / "app-config.yaml"), "--catalog", str(tmp_path / "catalog.yaml"),
              "--store", str(tmp_path / "store"), "-q"]
    cli(capsys, "check", *common)
    assert cli(capsys, "site", "-o", str(tmp_path / "out"), *common)[0] == 0
    a = (tmp_path / "out/entities/component/default/a.html").read_text()
    b = (tmp_path / "out/entities/component/default/b.html").read_text()
    assert "a is owned (***)" in a and "s3cr3t" not in a
    assert "b has no owner" in b
    assert not any("s3cr3t" in p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())


def test_path_segments_and_badge_colours():
    from soundcheck_cli.site import badges, paths

    assert paths.segment("payments-api") == "payments-api"
    assert paths.segment("..") == "~2E~2E" and paths.segment("a/b") == "a~2Fb"
    assert paths.entity_page("Component:Default/API") == "entities/component/default/api.html"
    assert len(paths.segment("x" * 300)) <= paths.MAX_SEGMENT
    # no id can land on another page: "index" is each folder's list, lists live in the item's own folder
    assert paths.check_page("index") != "checks/index.html" and paths.track_page("Index") != "tracks/index.html"
    assert paths.check_page("index-2") == "checks/~69ndex-2.html"
    assert paths.check_folder("a") + "/failing.html" != paths.check_page("a-failing")
    assert paths.owner_folder("group:default/a") + "/entities.html" != paths.owner_page("group:default/a-entities")
    assert badges.colour_for(0, 3, [1, 2, 3]) == "red"
    assert badges.colour_for(3, 3, [1, 2, 3]) == "brightgreen"
    assert badges.colour_for(1, 3, [1, 2, 3]) == "yellow"
    assert badges.colour_for(2, 3, [1, 2, 3]) == "green"
    assert badges.colour_for(1, 5, [1, 2, 3, 4, 5]) == "orange"


def test_a_limited_latest_run_is_shown_as_limited(tmp_path, capsys):
    common = sample_copy(tmp_path)
    cli(capsys, "check", *common)
    cli(capsys, "check", "--check", "has_owner", *common)
    code, out, err = cli(capsys, "site", "-o", str(tmp_path / "out"), *common[:-1])  # without -q: warnings shown
    assert code == 0
    assert "the latest run was limited" in err
    site = tmp_path / "out"
    check_site(site)  # no link to what the run did not evaluate
    assert "The latest run was limited" in (site / "index.html").read_text()
    assert (site / "checks/has_owner.html").exists()
    assert not (site / "checks/has_description.html").exists() and not (site / "tracks/basic_hygiene.html").exists()


def test_help_names_the_exit_codes(capsys):
    code, out, _ = cli(capsys, "site", "--help")
    assert code == 0 and "--output" in out and "Exit codes" in out and "no run recorded" in out
    code, _, err = cli(capsys, "site")
    assert code == 2 and "--output" in err  # -o is required
