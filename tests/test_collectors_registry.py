"""The collector registry: entry-point discovery (find → load → classify), broken and duplicate plugins,
unknown configured ids, and config validation against ``config_schema()`` with located messages."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from soundcheck_cli.collectors import registry as registry_module
from soundcheck_cli.collectors.base import CollectorContext, ConfigurableFactCollector, FactCollector
from soundcheck_cli.collectors.catalog import CatalogCollector
from soundcheck_cli.collectors.registry import BUILTINS, ENTRY_POINT_GROUP, PACKAGE, Registry
from soundcheck_cli.config.model import CollectorSettings
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.io import _parse
from soundcheck_cli.facts.model import Fact


# -- plugin classes the fake entry points point at ---------------------------------------------------------------


class ExamplePagerDutyCollector(ConfigurableFactCollector):
    """The shape of the seed tutorial's collector: a required token and typed ``collects`` entries."""

    id = "example-pagerduty"
    name = "Example PagerDuty"
    description = "tutorial collector"

    def config_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "token": {"type": "string"},
                "collects": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"type": {"enum": ["Service", "Incidents"]}, "batchSize": {"type": "integer"}},
                        "required": ["type"],
                    },
                },
            },
            "required": ["token"],
            "additionalProperties": False,
        }

    async def collect(self, entities, fact_refs=None, refresh=None) -> list[Fact]:
        return []

    def fact_names(self) -> list[str]:
        return ["example-pagerduty:default/service"]


class PlainCollector(FactCollector):
    id = "plain"

    async def collect(self, entities, fact_refs=None, refresh=None) -> list[Fact]:
        return []

    def fact_names(self) -> list[str]:
        return []


class MislabelledCollector(PlainCollector):
    id = "something-else"


class ExplodingCollector(PlainCollector):
    id = "exploding"

    def __init__(self) -> None:
        raise RuntimeError("boom")


class BadSchemaCollector(ExamplePagerDutyCollector):
    id = "bad-schema"

    def config_schema(self) -> dict[str, Any]:
        return {"type": "no-such-type"}


class RejectingCollector(ExamplePagerDutyCollector):
    id = "rejecting"

    def set_config(self, config: Any) -> None:
        raise ValueError("server must be an https URL")


class NotACollector:
    pass


def ep(name: str, target: str, package: str | None = None) -> Any:
    """A stand-in for ``importlib.metadata.EntryPoint`` (name, value, dist.name, load())."""
    module, _, attr = target.partition(":")

    def load() -> Any:
        import importlib

        return getattr(importlib.import_module(module), attr)

    return SimpleNamespace(name=name, value=target, group=ENTRY_POINT_GROUP, dist=SimpleNamespace(name=package) if package else None, load=load)


HERE = __name__


def located(tmp_path: Path, text: str) -> Any:
    """A located config node from YAML text (positions as the config loader keeps them)."""
    path = tmp_path / "app-config.yaml"
    path.write_text(textwrap.dedent(text))
    problems = Problems()
    (doc,) = _parse(path.read_text(), str(path), problems)
    assert problems.items == []
    return doc, str(path)


# -- find / load / classify ----------------------------------------------------------------------------------------


def test_builtins_are_registered_without_installed_metadata() -> None:
    problems = Problems()
    reg = Registry.discover(problems, entry_points=[])
    assert "catalog" in reg.ids()
    assert reg.get("catalog") is CatalogCollector
    assert reg.source("catalog") == PACKAGE == "soundcheck-cli"
    assert BUILTINS["catalog"] == "soundcheck_cli.collectors.catalog:CatalogCollector"
    assert problems.items == []


def test_installed_entry_point_of_a_builtin_is_not_a_duplicate() -> None:
    problems = Problems()
    reg = Registry.discover(problems, entry_points=[ep("catalog", BUILTINS["catalog"], "soundcheck-cli")])
    assert reg.get("catalog") is CatalogCollector
    assert problems.items == []


def test_entry_point_plugins_are_found_and_loaded_by_id() -> None:
    problems = Problems()
    reg = Registry.discover(
        problems,
        entry_points=[ep("example-pagerduty", f"{HERE}:ExamplePagerDutyCollector", "soundcheck-example-pagerduty"), ep("plain", f"{HERE}:PlainCollector", "plain-pkg")],
    )
    assert reg.ids() == sorted({*BUILTINS, "example-pagerduty", "plain"})
    assert reg.get("example-pagerduty") is ExamplePagerDutyCollector
    assert reg.source("example-pagerduty") == "soundcheck-example-pagerduty"
    assert reg.get("missing") is None and reg.source("missing") is None
    assert {"catalog", "example-pagerduty", "plain"} <= set(reg.load_all())
    assert problems.items == []


def test_failing_plugin_is_a_warning_naming_its_package_and_the_run_goes_on() -> None:
    problems = Problems()
    reg = Registry.discover(
        problems,
        entry_points=[ep("broken", "no_such_module_for_soundcheck_tests:Thing", "acme-broken"), ep("plain", f"{HERE}:PlainCollector", "plain-pkg")],
    )
    assert reg.get("broken") is None
    assert reg.get("broken") is None  # loaded once, warned once
    assert reg.get("plain") is PlainCollector
    assert [str(p) for p in problems.warnings] == [
        "collector 'broken' from package acme-broken failed to load (no_such_module_for_soundcheck_tests:Thing): "
        "ModuleNotFoundError: No module named 'no_such_module_for_soundcheck_tests'"
    ]
    assert problems.errors == []


def test_duplicate_ids_warn_naming_both_packages_and_keep_the_first() -> None:
    problems = Problems()
    reg = Registry.discover(
        problems,
        entry_points=[
            ep("plain", f"{HERE}:PlainCollector", "zeta-collectors"),
            ep("plain", f"{HERE}:MislabelledCollector", "alpha-collectors"),
            ep("catalog", f"{HERE}:PlainCollector", "evil-catalog"),
        ],
    )
    assert [str(p) for p in problems.warnings] == [
        f"collector id 'plain' is claimed by two packages, alpha-collectors and zeta-collectors; the one from zeta-collectors ({HERE}:PlainCollector) is ignored",
        f"collector id 'catalog' is claimed by two packages, soundcheck-cli (built in) and evil-catalog; the one from evil-catalog ({HERE}:PlainCollector) is ignored",
    ][::-1]
    assert reg.source("plain") == "alpha-collectors"
    assert reg.get("catalog") is CatalogCollector


def test_classify_rejects_non_collectors_and_flags_mismatched_ids() -> None:
    problems = Problems()
    reg = Registry.discover(
        problems,
        entry_points=[ep("thing", f"{HERE}:NotACollector", "thing-pkg"), ep("mislabelled", f"{HERE}:MislabelledCollector", "m-pkg")],
    )
    assert reg.get("thing") is None
    assert reg.get("mislabelled") is MislabelledCollector
    assert [str(p) for p in problems.warnings] == [
        f"collector 'thing' from package thing-pkg: {HERE}:NotACollector is not a FactCollector subclass; ignored",
        "collector 'mislabelled' from package m-pkg: its class declares id 'something-else'; it is registered as 'mislabelled' (the entry point name)",
    ]


def test_package_name_falls_back_to_the_module_when_there_is_no_distribution() -> None:
    import importlib.metadata

    real = importlib.metadata.EntryPoint(name="plain", value=f"{HERE}:PlainCollector", group=ENTRY_POINT_GROUP)
    reg = Registry.discover(Problems(), entry_points=[real])
    assert reg.source("plain") == HERE.split(".")[0]
    assert reg.get("plain") is PlainCollector


def test_discovery_through_monkeypatched_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_entry_points(group: str) -> list[Any]:
        seen.append(group)
        return [ep("plain", f"{HERE}:PlainCollector", "plain-pkg")]

    monkeypatch.setattr(registry_module.importlib.metadata, "entry_points", fake_entry_points)
    reg = Registry.discover()
    assert seen == ["soundcheck.collectors"]
    assert reg.get("plain") is PlainCollector


def test_broken_metadata_listing_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(group: str) -> list[Any]:
        raise RuntimeError("corrupt RECORD")

    monkeypatch.setattr(registry_module.importlib.metadata, "entry_points", broken)
    problems = Problems()
    reg = Registry.discover(problems)
    assert reg.ids() == sorted(BUILTINS)
    assert [str(p) for p in problems.warnings] == ["cannot list installed collector plugins: RuntimeError: corrupt RECORD"]


def test_real_entry_points_of_installed_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through importlib.metadata: fake *installed* distributions on sys.path."""
    site = tmp_path / "site"

    def distribution(dist: str, module: str, code: str, entry_points: str) -> None:
        (site / module).mkdir(parents=True)
        (site / module / "__init__.py").write_text(textwrap.dedent(code))
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[soundcheck.collectors]\n{entry_points}\n")

    distribution(
        "acme-soundcheck-collectors",
        "acme_sc_collectors",
        """
        from soundcheck_cli.collectors import FactCollector

        class AcmeCollector(FactCollector):
            id = "acme"
            name = "Acme"

            async def collect(self, entities, fact_refs=None, refresh=None):
                return []

            def fact_names(self):
                return ["acme:default/thing"]
        """,
        "acme = acme_sc_collectors:AcmeCollector",
    )
    distribution("acme-broken-plugin", "acme_sc_broken", "raise ImportError('needs libacme')\n", "acme-broken = acme_sc_broken:Collector")
    distribution("rival-acme", "rival_sc_acme", "X = 1\n", "acme = rival_sc_acme:X")
    monkeypatch.syspath_prepend(str(site))

    problems = Problems()
    reg = Registry.discover(problems)
    assert {"acme", "acme-broken", "catalog"} <= set(reg.ids())
    assert reg.get("acme").__name__ == "AcmeCollector"
    assert reg.source("acme") == "acme-soundcheck-collectors"
    assert reg.get("acme-broken") is None
    ours = [str(p) for p in problems.warnings if "acme" in str(p)]
    assert ours == [
        "collector id 'acme' is claimed by two packages, acme-soundcheck-collectors and rival-acme; the one from rival-acme (rival_sc_acme:X) is ignored",
        "collector 'acme-broken' from package acme-broken-plugin failed to load (acme_sc_broken:Collector): ImportError: needs libacme",
    ]


# -- create: instantiate, validate, configure -----------------------------------------------------------------------


@pytest.fixture
def reg() -> Registry:
    classes = ["ExamplePagerDutyCollector", "PlainCollector", "ExplodingCollector", "BadSchemaCollector", "RejectingCollector"]
    eps = [ep(getattr(__import__(HERE, fromlist=[c]), c).id, f"{HERE}:{c}", "test-plugins") for c in classes]
    return Registry.discover(Problems(), entry_points=eps)


def test_create_validates_and_sets_plain_config(tmp_path: Path, reg: Registry) -> None:
    doc, _ = located(
        tmp_path,
        """\
        token: abc
        collects:
          - type: Service
        """,
    )
    problems = Problems()
    context = CollectorContext(app_config={"x": 1})
    collector = reg.create("example-pagerduty", CollectorSettings("example-pagerduty", doc), problems, context)
    assert problems.items == []
    assert isinstance(collector, ExamplePagerDutyCollector)
    assert collector.config() == {"token": "abc", "collects": [{"type": "Service"}]}
    assert type(collector.config()) is dict and type(collector.config()["collects"]) is list  # plain, not located
    assert collector.context is context


def test_config_schema_violations_are_located(tmp_path: Path, reg: Registry) -> None:
    doc, path = located(
        tmp_path,
        """\
        soundcheck:
          collectors:
            example-pagerduty:
              tokn: abc
              collects:
                - type: Service
                - type: Nope
                  batchSize: "x"
                - batchSize: 2
        """,
    )
    node = doc["soundcheck"]["collectors"]["example-pagerduty"]
    settings = CollectorSettings("example-pagerduty", node, doc["soundcheck"]["collectors"].key_loc("example-pagerduty"))
    problems = Problems()
    assert reg.create("example-pagerduty", settings, problems) is None
    assert [str(p) for p in problems.errors] == [
        f"{path}:4:7: collector example-pagerduty: token is required",
        f"{path}:4:7: collector example-pagerduty: unknown key 'tokn'",
        f"{path}:7:17: collector example-pagerduty: collects[1].type: 'Nope' is not one of ['Service', 'Incidents']",
        f"{path}:8:22: collector example-pagerduty: collects[1].batchSize must be an integer",
        f"{path}:9:11: collector example-pagerduty: collects[2].type is required",
    ]


def test_wrong_type_for_the_whole_config_is_located(tmp_path: Path, reg: Registry) -> None:
    doc, path = located(tmp_path, "example-pagerduty: [1, 2]\n")
    problems = Problems()
    settings = CollectorSettings("example-pagerduty", doc["example-pagerduty"], doc.key_loc("example-pagerduty"))
    assert reg.create("example-pagerduty", settings, problems) is None
    assert [str(p) for p in problems.errors] == [f"{path}:1:20: collector example-pagerduty: the configuration must be a mapping"]


def test_unknown_configured_id_is_a_warning_not_an_error(reg: Registry) -> None:
    problems = Problems()
    where = Location("app-config.yaml", 12, 5)
    assert reg.create("opsgenie", CollectorSettings("opsgenie", {"token": "x"}, where), problems) is None
    assert problems.errors == []
    assert [str(p) for p in problems.warnings] == [
        "app-config.yaml:12:5: collector opsgenie is configured but not installed; "
        "its facts can still be pushed with `soundcheck facts push`"
    ]


def test_create_without_settings_gives_an_unconfigured_collector(reg: Registry) -> None:
    problems = Problems()
    collector = reg.create("catalog", None, problems)
    assert isinstance(collector, CatalogCollector) and collector.config() is None
    assert problems.items == []


def test_empty_config_block_is_validated_as_an_empty_mapping(reg: Registry) -> None:
    problems = Problems()
    where = Location("app-config.yaml", 3, 5)
    assert reg.create("example-pagerduty", CollectorSettings("example-pagerduty", None, where), problems) is None
    assert [str(p) for p in problems.errors] == ["app-config.yaml:3:5: collector example-pagerduty: token is required"]


def test_plugin_failures_while_creating_are_reported_not_raised(reg: Registry) -> None:
    problems = Problems()
    where = Location("app-config.yaml", 1, 1)
    assert reg.create("exploding", CollectorSettings("exploding", {}, where), problems) is None
    assert reg.create("bad-schema", CollectorSettings("bad-schema", {}, where), problems) is None
    assert reg.create("rejecting", CollectorSettings("rejecting", {"token": "t"}, where), problems) is None
    messages = [str(p) for p in problems.items]
    assert messages[0] == "app-config.yaml:1:1: collector exploding (package test-plugins) failed to start: RuntimeError: boom"
    assert messages[1].startswith("app-config.yaml:1:1: collector bad-schema (package test-plugins) declares an invalid config schema")
    assert messages[2] == "app-config.yaml:1:1: collector rejecting: invalid configuration: server must be an https URL"
    assert [p.severity.value for p in problems.items] == ["warning", "warning", "error"]


def test_settings_for_a_non_configurable_collector_are_ignored_with_a_warning(reg: Registry) -> None:
    problems = Problems()
    collector = reg.create("plain", CollectorSettings("plain", {"x": 1}, Location("c.yaml", 2, 3)), problems)
    assert isinstance(collector, PlainCollector)
    assert [str(p) for p in problems.warnings] == ["c.yaml:2:3: collector plain takes no configuration; its settings are ignored"]


def test_create_all_skips_what_cannot_be_created(reg: Registry) -> None:
    problems = Problems()
    made = reg.create_all(
        [
            CollectorSettings("example-pagerduty", {"token": "t"}),
            CollectorSettings("opsgenie", {}),
            CollectorSettings("catalog", {"filter": {"kind": "Component"}}),
        ],
        problems,
    )
    assert sorted(made) == ["catalog", "example-pagerduty"]
    assert len(problems.warnings) == 1 and problems.errors == []
