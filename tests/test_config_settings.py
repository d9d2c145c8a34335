"""Tests for ``soundcheck_cli.config.settings`` (checks, rules, tracks/programs, collectors, catalog locations)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.config.env import missing_env
from soundcheck_cli.config.loader import load_config_files
from soundcheck_cli.config.settings import build_settings, load_settings
from soundcheck_cli.errors import ConfigError, Location, Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.rules.model import AllOf, AnyOf, CheckSchedule, Condition, Not
from soundcheck_cli.rules.operators import OPERATOR_NAMES

FIXTURES = Path(__file__).parent / "fixtures" / "config"
VALID_OPERATORS = ", ".join(sorted(OPERATOR_NAMES))
ENTITY = "catalog:default/entity_descriptor"


@pytest.fixture
def build(tmp_path, monkeypatch):
    """``build(app_yaml, extra_files=None, env=None) -> (settings, problems)`` for ``app.yaml`` in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)

    def run(text: str, extra: dict[str, str] | None = None, env: dict[str, str] | None = None):
        for name, content in {"app.yaml": text, **(extra or {})}.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(content, encoding="utf-8")
        problems = Problems()
        tree = load_config_files(["app.yaml"], env or {}, problems)
        assert problems.errors == [], [str(p) for p in problems.errors]
        return build_settings(tree, ["app.yaml"], problems), problems

    return run


def _errors(problems: Problems) -> list[str]:
    return [str(p) for p in problems.errors]


def _warnings(problems: Problems) -> list[str]:
    return [str(p) for p in problems.warnings]


def checks_yaml(*lines: str) -> str:
    """``soundcheck: checks:`` followed by ``lines`` (each already indented for the list), line 3 onwards."""
    return "soundcheck:\n  checks:\n" + "".join(line + "\n" for line in lines)


GOOD_LEAF = [f"      factRef: {ENTITY}", "      operator: equal", "      value: 1"]

# --------------------------------------------------------------------------------------------------------------
# Check and rule errors, one line each: (config text, expected errors)

CHECK_ERRORS = [
    ("not a list", "soundcheck:\n  checks: {a: 1}\n", ["app.yaml:2:11: soundcheck.checks must be a list of checks, not a mapping"]),
    ("check not a mapping", checks_yaml("    - just-a-string"), ["app.yaml:3:7: check must be a mapping, not a string"]),
    ("without id", checks_yaml("    - name: x", "      rule: []"), ["app.yaml:3:7: check without 'id'"]),
    ("id not a string", checks_yaml("    - id: 12", "      rule: []"), ["app.yaml:3:11: check 'id' must be a non-empty string, not a number"]),
    (
        "duplicate id",
        checks_yaml("    - id: a", "      rule: []", "    - id: a", "      rule: []"),
        ["app.yaml:5:11: duplicate check id 'a' (first defined at app.yaml:3:11)"],
    ),
    ("rule missing", checks_yaml("    - id: a"), ["app.yaml:3:7: check 'a': missing 'rule'"]),
    (
        "rule wrong type",
        checks_yaml("    - id: a", "      rule: yes"),
        [
            "app.yaml:4:13: check 'a': a rule must be a condition {factRef, path, operator, value}, {all: [...]}, "
            "{any: [...]}, {not: ...} or a list, not a string"
        ],
    ),
    (
        "unknown operator",
        checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        operator: eq", "        value: 1"),
        [f"app.yaml:6:19: check 'a': unknown operator 'eq' (valid operators: {VALID_OPERATORS})"],
    ),
    (
        "operator not a string",
        checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        operator: [equal]", "        value: 1"),
        ["app.yaml:6:19: check 'a': 'operator' must be a string, not a list"],
    ),
    (
        "leaf without factRef",
        checks_yaml("    - id: a", "      rule:", "        operator: equal", "        value: 1"),
        ["app.yaml:5:9: check 'a': condition without 'factRef'"],
    ),
    (
        "leaf without operator",
        checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        value: 1"),
        ["app.yaml:5:9: check 'a': condition without 'operator'"],
    ),
    (
        "leaf without value",
        checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        operator: equal"),
        ["app.yaml:5:9: check 'a': condition without 'value'"],
    ),
    (
        "invalid factRef",
        checks_yaml("    - id: a", "      rule:", "        factRef: no-colon", "        operator: equal", "        value: 1"),
        ["app.yaml:5:18: check 'a': invalid fact ref 'no-colon': expected source:scope/name"],
    ),
    (
        "invalid factRef mapping",
        checks_yaml("    - id: a", "      rule:", "        factRef: {scope: default}", "        operator: equal", "        value: 1"),
        ["app.yaml:5:18: check 'a': invalid fact ref {'scope': 'default'}: expected {source, scope, name}"],
    ),
    (
        "invalid regex",
        checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        operator: matches", "        value: '(x'"),
        ["app.yaml:7:16: check 'a': invalid regular expression '(x' for operator 'matches': missing ) at position 2"],
    ),
    (
        "lessThan with a string",
        checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        operator: lessThan",
                    "        value: '10'"),
        ["app.yaml:7:16: check 'a': lessThan needs a number value, got '10'"],
    ),
    (
        "matches with a number",
        checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        operator: matches",
                    "        value: 5"),
        ["app.yaml:7:16: check 'a': matches needs a regular expression string, got 5"],
    ),
    (
        "invalid JSONPath",
        checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        path: $..[", "        operator: equal", "        value: 1"),
        ["app.yaml:6:15: check 'a': invalid JSONPath '$..[': Parse error near the end of string!"],
    ),
    (
        "path not a string",
        checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        path: 3", "        operator: equal", "        value: 1"),
        ["app.yaml:6:15: check 'a': 'path' must be a JSONPath string, not a number"],
    ),
    (
        "errors in nested rules are all reported",
        checks_yaml(
            "    - id: a",
            "      rule:",
            "        all:",
            "          - any:",
            "              - {factRef: x, operator: equal, value: 1}",
            "          - not:",
            f"              {{factRef: {ENTITY}, operator: bogus, value: 1}}",
        ),
        [
            "app.yaml:7:27: check 'a': invalid fact ref 'x': expected source:scope/name",
            f"app.yaml:9:70: check 'a': unknown operator 'bogus' (valid operators: {VALID_OPERATORS})",
        ],
    ),
    (
        "two combinators",
        checks_yaml("    - id: a", "      rule: {all: [], any: []}"),
        ["app.yaml:4:13: check 'a': a rule may have only one of 'all', 'any' and 'not' (found all, any)"],
    ),
    (
        "combinator mixed with a condition",
        checks_yaml("    - id: a", f"      rule: {{all: [], factRef: {ENTITY}}}"),
        ["app.yaml:4:13: check 'a': 'all' cannot be combined with condition keys (factRef) in one mapping"],
    ),
    (
        "all not a list",
        checks_yaml("    - id: a", "      rule: {all: {factRef: x}}"),
        ["app.yaml:4:19: check 'a': 'all' must be a list of rules, not a mapping"],
    ),
    ("warning not a bool", checks_yaml("    - id: a", "      rule: []", "      warning: 'yes'"), ["app.yaml:5:16: check 'a': 'warning' must be true or false, not a string"]),
    ("message not a string", checks_yaml("    - id: a", "      rule: []", "      passedMessage: [x]"), ["app.yaml:5:22: check 'a': 'passedMessage' must be a string, not a list"]),
    (
        "bad applicable rule",
        checks_yaml("    - id: a", "      rule: []", "      applicable: {factRef: x:y, operator: nope, value: 1}"),
        [f"app.yaml:5:44: check 'a': unknown operator 'nope' (valid operators: {VALID_OPERATORS})"],
    ),
    ("bad filter", checks_yaml("    - id: a", "      rule: []", "      filter: [1]"), ["app.yaml:5:16: filter must be a mapping of entity fields to values, or a list of such mappings"]),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in CHECK_ERRORS], ids=[c[0] for c in CHECK_ERRORS])
def test_check_errors(build, text, expected):
    _, problems = build(text)
    assert _errors(problems) == expected


def test_condition_value_unset_by_a_missing_variable_names_it(build):
    text = checks_yaml("    - id: a", "      rule:", f"        factRef: {ENTITY}", "        operator: equal", "        value: ${WANTED}")
    _, problems = build(text)
    assert _errors(problems) == ["app.yaml:5:9: check 'a': 'value' is not set (WANTED)"]


# --------------------------------------------------------------------------------------------------------------
# Track / program errors

TRACK_PREFIX = checks_yaml("    - id: c1", f"      rule: {{factRef: {ENTITY}, operator: equal, value: 1}}") + "  tracks:\n"  # tracks start on line 6

TRACK_ERRORS = [
    ("not a list", "soundcheck:\n  tracks: x\n", ["app.yaml:2:11: soundcheck.tracks must be a list of tracks, not a string"]),
    ("without id", TRACK_PREFIX + "    - levels: []\n", ["app.yaml:6:7: track without 'id'"]),
    (
        "duplicate track ids",
        TRACK_PREFIX + "    - {id: t, levels: [{ordinal: 1, checks: [c1]}]}\n    - {id: t, levels: [{ordinal: 1, checks: [c1]}]}\n",
        ["app.yaml:7:12: duplicate track id 't' (first defined at app.yaml:6:12)"],
    ),
    (
        "duplicate across tracks and programs",
        TRACK_PREFIX + "    - {id: t, levels: [{ordinal: 1, checks: [c1]}]}\n  programs:\n    - {id: t, levels: [{ordinal: 1, checks: [c1]}]}\n",
        ["app.yaml:8:12: duplicate program id 't' (first defined at app.yaml:6:12)"],
    ),
    (
        "level without ordinal",
        TRACK_PREFIX + "    - id: t\n      levels:\n        - name: L\n          checks: [c1]\n",
        ["app.yaml:8:11: track 't': level without 'ordinal'"],
    ),
    (
        "non-integer ordinal",
        TRACK_PREFIX + "    - id: t\n      levels:\n        - ordinal: '1'\n          checks: [c1]\n",
        ["app.yaml:8:20: track 't': level 'ordinal' must be an integer, not a string"],
    ),
    (
        "boolean ordinal",
        TRACK_PREFIX + "    - id: t\n      levels:\n        - ordinal: true\n          checks: [c1]\n",
        ["app.yaml:8:20: track 't': level 'ordinal' must be an integer, not a boolean"],
    ),
    (
        "duplicate ordinals",
        TRACK_PREFIX + "    - id: t\n      levels:\n        - {ordinal: 1, checks: [c1]}\n        - {ordinal: 1, checks: [c1]}\n",
        ["app.yaml:9:21: track 't': duplicate level ordinal 1 (first defined at app.yaml:8:21)"],
    ),
    (
        "level check naming an unknown check",
        TRACK_PREFIX + "    - id: t\n      levels:\n        - ordinal: 1\n          checks:\n            - id: c1\n            - id: nope\n",
        ["app.yaml:11:19: track 't', level 1: check 'nope' is not defined in soundcheck.checks"],
    ),
    (
        "level check without id",
        TRACK_PREFIX + "    - id: t\n      levels:\n        - ordinal: 1\n          checks:\n            - name: x\n",
        ["app.yaml:10:15: track 't', level 1: level check without 'id'"],
    ),
    (
        "levels not a list",
        TRACK_PREFIX + "    - id: t\n      levels: {ordinal: 1}\n",
        ["app.yaml:7:15: track 't': 'levels' must be a list, not a mapping"],
    ),
    (
        "program without id",
        "soundcheck:\n  programs:\n    - name: P\n",
        ["app.yaml:3:7: program without 'id'"],
    ),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in TRACK_ERRORS], ids=[c[0] for c in TRACK_ERRORS])
def test_track_errors(build, text, expected):
    _, problems = build(text)
    assert _errors(problems) == expected


def test_a_check_with_errors_still_counts_as_defined_for_tracks(build):
    text = checks_yaml("    - id: c1", "      rule: {factRef: x:y, operator: bad, value: 1}") + (
        "  tracks:\n    - {id: t, levels: [{ordinal: 1, checks: [c1]}]}\n"
    )
    _, problems = build(text)
    assert len(problems.errors) == 1 and "unknown operator 'bad'" in str(problems.errors[0])


# --------------------------------------------------------------------------------------------------------------
# Collectors and catalog locations


COLLECTOR_ERRORS = [
    ("not a mapping", "soundcheck:\n  collectors: [a]\n", ["app.yaml:2:15: soundcheck.collectors must be a mapping of collector id to config, not a list"]),
    ("scalar config", "soundcheck:\n  collectors:\n    github: yes\n", ["app.yaml:3:13: collector 'github': config must be a mapping or a list of mappings, not a string"]),
    ("list of scalars", "soundcheck:\n  collectors:\n    github: [{a: 1}, x]\n", ["app.yaml:3:22: collector 'github': each entry must be a mapping, not a string"]),
    ("catalog not a mapping", "catalog: x\n", ["app.yaml:1:10: 'catalog' must be a mapping, not a string"]),
    ("locations not a list", "catalog:\n  locations: {type: file}\n", ["app.yaml:2:14: catalog.locations must be a list, not a mapping"]),
    ("location without target", "catalog:\n  locations:\n    - type: file\n", ["app.yaml:3:7: catalog location without a 'target' string"]),
    ("location without type", "catalog:\n  locations:\n    - target: x.yaml\n", ["app.yaml:3:7: catalog location without a 'type' string"]),
    ("soundcheck not a mapping", "soundcheck: [1]\n", ["app.yaml:1:13: 'soundcheck' must be a mapping, not a list"]),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in COLLECTOR_ERRORS], ids=[c[0] for c in COLLECTOR_ERRORS])
def test_collector_and_catalog_errors(build, text, expected):
    _, problems = build(text)
    assert _errors(problems) == expected


def test_collectors_mapping_list_and_null(build):
    settings, problems = build(
        "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PD}\n    github:\n      - {a: 1}\n      - {b: 2}\n    catalog:\n"
    )
    assert problems.items == []
    assert [c.id for c in settings.collectors] == ["pagerduty", "github", "catalog"]
    pagerduty, github, catalog = settings.collectors
    assert pagerduty.config == {} and missing_env(pagerduty.config, "token") == "PD"
    assert pagerduty.location == Location("app.yaml", 3, 5)
    assert github.config == [{"a": 1}, {"b": 2}]
    assert catalog.config == {}


def test_catalog_file_locations_are_absolute_relative_to_the_declaring_file(build, tmp_path):
    settings, problems = build(
        "catalog:\n  locations:\n    - type: file\n      target: ./catalog-info.yaml\n    - $include: conf/loc.yaml\n"
        "    - type: url\n      target: https://example.com/catalog-info.yaml\n",
        {"conf/loc.yaml": "type: file\ntarget: ../fixtures/all.yaml\n"},
    )
    assert settings.catalog_files == (
        str(tmp_path / "catalog-info.yaml"),
        os.path.normpath(str(tmp_path / "conf" / ".." / "fixtures" / "all.yaml")),
    )
    assert _warnings(problems) == ["app.yaml:6:13: catalog location of type 'url' is skipped (only 'file' locations are read)"]


# --------------------------------------------------------------------------------------------------------------
# Unknown keys are warnings


def test_unknown_keys_are_located_warnings(build):
    text = (
        checks_yaml("    - id: c1", "      rule:", f"        factRef: {ENTITY}", "        operator: equal", "        value: 1", "        hint: x", "      uiColor: red")
        + "  tracks:\n    - id: t\n      badge: {color: gold}\n      colour: blue\n      levels:\n"
        "        - ordinal: 1\n          badge: {}\n          icon: x\n          checks:\n            - {id: c1, weight: 2}\n"
        "  dashboard: true\n"
    )
    settings, problems = build(text)
    assert problems.errors == []
    assert _warnings(problems) == [
        "app.yaml:8:9: check 'c1': unknown key 'hint'",
        "app.yaml:9:7: check 'c1': unknown key 'uiColor'",
        "app.yaml:19:24: track 't', level 1: unknown key 'weight'",
        "app.yaml:17:11: track 't', level 1: unknown key 'icon'",
        "app.yaml:13:7: track 't': unknown key 'colour'",  # 'badge' is a documented Soundcheck UI key: silent
        "app.yaml:20:3: soundcheck: unknown key 'dashboard'",
    ]
    assert settings.check("c1") is not None and settings.track("t") is not None


def test_level_without_checks_and_track_without_levels_are_warnings(build):
    settings, problems = build(TRACK_PREFIX + "    - id: t\n      levels:\n        - ordinal: 1\n    - id: u\n")
    assert problems.errors == []
    assert _warnings(problems) == ["app.yaml:8:11: track 't', level 1: no checks", "app.yaml:9:7: track 'u': no levels"]
    assert [t.id for t in settings.tracks] == ["t", "u"]


def test_empty_rule_list_is_a_warning(build):
    settings, problems = build(checks_yaml("    - id: a", "      rule: {any: []}"))
    assert _warnings(problems) == ["app.yaml:4:19: check 'a': empty 'any' list of rules"]
    assert settings.check("a").rule == AnyOf(())


# --------------------------------------------------------------------------------------------------------------
# Parsed values


@pytest.fixture
def fixture_settings():
    settings, warnings = load_settings([str(FIXTURES / "app-config.yaml")], {})
    return settings, warnings


def test_fixture_checks_parse_into_dataclasses(fixture_settings):
    settings, _ = fixture_settings
    assert [c.id for c in settings.checks] == [
        "requires_service_status_to_be_active",
        "has_owner",
        "has_tags",
        "is_level_one_certified",
    ]
    active = settings.check("requires_service_status_to_be_active")
    assert active.rule == Condition(FactRef("pagerduty", "default", "service"), "$.service.status", "equal", "active")
    assert active.name == "PagerDuty service is active"
    assert active.description == "The PagerDuty service of the component is active."
    assert active.owner_entity_ref == "group:default/sre"
    assert active.passed_message == "The service is active."
    assert active.failed_message == "The service of {{ entity.metadata.name }} is not active."
    assert active.schedule == CheckSchedule(frequency={"cron": "0 * * * *"})
    assert active.warning is False and active.applicable is None and active.filter is None
    assert active.location == Location(str(FIXTURES / "soundcheck" / "checks.yaml"), 1, 3)
    assert active.rule.location == Location(str(FIXTURES / "soundcheck" / "checks.yaml"), 6, 5)

    owner = settings.check("has_owner")  # a bare list means all
    assert owner.rule == AllOf((Condition(FactRef("catalog", "default", "entity_descriptor"), "$.spec.owner", "notEqual", None),))

    tags = settings.check("has_tags")
    entity = FactRef("catalog", "default", "entity_descriptor")
    assert tags.warning is True
    assert tags.applicable == Condition(entity, "$.spec.type", "in", ["service", "website"])  # {source, name} form
    assert tags.rule == AnyOf(
        (
            Condition(entity, "$.metadata.tags", "contains", "internal"),
            AllOf(
                (
                    Condition(entity, "$.metadata.tags", "contains", "external"),
                    Not(Condition(entity, '$.metadata.annotations["backstage.io/techdocs-ref"]', "matches", "^url:")),
                )
            ),
        )
    )
    assert isinstance(tags.filter, EntityFilter) and tags.filter.matches({"kind": "component"})
    assert isinstance(tags.exclude, EntityFilter) and tags.exclude.matches({"spec": {"lifecycle": "experimental"}})
    assert tags.not_applicable_message == "Only services and websites need tags."

    certified = settings.check("is_level_one_certified")  # from a JSON $include
    assert certified.rule == AllOf(
        (Condition(FactRef("soundcheck", "default", "track/pagerduty_track"), "$.highestLevel.ordinal", "greaterThanInclusive", 1),)
    )


def test_fixture_tracks_and_programs(fixture_settings):
    settings, _ = fixture_settings
    assert [(t.id, t.kind) for t in settings.tracks] == [("pagerduty_track", "track"), ("legacy_program", "program")]
    track = settings.track("pagerduty_track")
    assert (track.name, track.description, track.owner_entity_ref) == ("PagerDuty", "Services are on call.", "group:default/sre")
    assert track.filter.matches({"kind": "Component"}) and track.exclude is None
    assert [(level.ordinal, level.name) for level in track.levels] == [(1, "Basics"), (2, "Active")]  # sorted
    assert track.levels[0].description == "The basics."
    assert [c.id for c in track.levels[0].checks] == ["has_owner", "has_tags"]
    active = track.levels[1].checks[0]
    assert (active.id, active.name) == ("requires_service_status_to_be_active", "Service is active")
    assert active.exclude.matches({"spec": {"lifecycle": "experimental"}})
    assert active.location == Location(str(FIXTURES / "soundcheck" / "tracks.yaml"), 11, 11)
    program = settings.track("legacy_program")
    assert program.name == "Legacy program" and [c.id for c in program.levels[0].checks] == ["has_owner"]


def test_fixture_collectors_catalog_and_raw_trees(fixture_settings):
    settings, warnings = fixture_settings
    assert [c.id for c in settings.collectors] == ["pagerduty", "github"]
    assert missing_env(settings.collectors[0].config, "token") == "PAGERDUTY_TOKEN"
    assert settings.collectors[1].config == [{"collects": [{"type": "RepositoryDetails"}]}, {"collects": [{"type": "BranchProtections"}]}]
    assert settings.catalog_files == (os.path.normpath(str(FIXTURES / ".." / "catalog" / "components.yaml")),)
    assert [str(w) for w in warnings] == [
        f"{FIXTURES / 'app-config.yaml'}:9:13: catalog location of type 'url' is skipped (only 'file' locations are read)"
    ]
    assert settings.files == (str(FIXTURES / "app-config.yaml"),)
    assert settings.app_config["app"]["title"] == "Soundcheck fixture"
    assert settings.soundcheck is settings.app_config["soundcheck"]


def test_no_soundcheck_section_gives_empty_settings(build):
    settings, problems = build("app: {title: x}\n")
    assert problems.items == []
    assert (settings.checks, settings.tracks, settings.collectors, settings.catalog_files) == ((), (), (), ())
    assert settings.soundcheck == {} and settings.app_config == {"app": {"title": "x"}}


def test_fact_ref_forms_and_optional_path(build):
    settings, problems = build(
        checks_yaml(
            "    - id: a",
            "      rule:",
            "        - {factRef: 'github:repo_details', operator: equal, value: 1}",
            "        - {factRef: {source: scm, scope: s, name: n/x}, path: $, operator: equal, value: 1}",
        )
    )
    assert problems.items == []
    first, second = settings.check("a").rule.rules
    assert first.fact_ref == FactRef("github", "default", "repo_details") and first.path is None
    assert second.fact_ref == FactRef("scm", "s", "n/x") and second.path == "$"


# --------------------------------------------------------------------------------------------------------------
# load_settings


def test_load_settings_raises_every_error_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.yaml").write_text(
        checks_yaml("    - id: a", "      rule: {factRef: x:y, operator: eq, value: 1}", "    - name: b", "      rule: []")
        + "  tracks:\n    - {id: t, levels: [{ordinal: 1, checks: [zzz]}]}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(["app.yaml"], {})
    assert [str(p) for p in info.value.problems] == [
        f"app.yaml:4:38: check 'a': unknown operator 'eq' (valid operators: {VALID_OPERATORS})",
        "app.yaml:5:7: check without 'id'",
        "app.yaml:8:46: track 't', level 1: check 'zzz' is not defined in soundcheck.checks",
    ]


def test_load_settings_reports_load_errors_before_validating(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("soundcheck:\n  checks: [\n")
    (tmp_path / "b.yaml").write_text("soundcheck:\n  tracks:\n    - {id: t, levels: [{ordinal: 1, checks: [c]}]}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(["a.yaml", "b.yaml"], {})
    assert [p.location.path for p in info.value.problems] == ["a.yaml"]  # no follow-up "check 'c' not defined"


def test_load_settings_returns_warnings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.yaml").write_text("soundcheck:\n  extra: 1\n")
    settings, warnings = load_settings(["app.yaml"], {})
    assert [str(w) for w in warnings] == ["app.yaml:2:3: soundcheck: unknown key 'extra'"]
    assert settings.files == ("app.yaml",)
