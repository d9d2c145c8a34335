"""Generated bad input (issue 7): random YAML text and random structures dumped as app-configs, catalog files and
fact files go through the real CLI in-process. Whatever they hold, the CLI ends with 0, 1 or 2 (never 3, the
internal-error code) and never prints a traceback. Deterministic (``derandomize``) and small enough to stay fast.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from soundcheck_cli.cli.commands import run_cli

BASE = Path(__file__).resolve().parent / "corpus" / "_base"
FUZZ = settings(max_examples=15, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

KEYS = st.sampled_from(["soundcheck", "checks", "tracks", "programs", "collectors", "events", "history", "exemptions",
                        "catalog", "locations", "id", "rule", "all", "any", "not", "factRef", "path", "operator",
                        "value", "levels", "ordinal", "filter", "exclude", "sinks", "type", "keep", "pagerduty",
                        "http", "github", "collects", "token", "frequency", "$include", "$file", "$env", "apiVersion",
                        "kind", "metadata", "name", "namespace", "annotations", "tags", "spec", "entityRef", "data",
                        "timestamp", "target", "<<", "x"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from(["", "equal", "matches", "$.a[", "component:default/x", "catalog:default/entity_descriptor",
                                     "${SOUNDCHECK_FUZZ_UNSET}", "./nope.yaml", "((", "file", "webhook", "PT1H"]),
                    st.text(max_size=8))
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)
YAML_CHARS = st.lists(st.sampled_from(list("abc:-[]{}&*!|>'\"#%@` \n\t,?0123$<.") + ["soundcheck", "checks", "&a", "*a",
                                                                                  "\n  "]),
                      max_size=60).map("".join)


def _dump(tree: object) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(tree, out)
    return out.getvalue()


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code = run_cli(argv)
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), f"exit {code}:\n{out}{err}"
    assert "Traceback" not in out + err and "internal error" not in err, out + err


def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="soundcheck-fuzz-"))


@FUZZ
@given(text=st.one_of(YAML_CHARS, TREES.map(lambda t: _dump({"soundcheck": t}))))
def test_any_app_config_ends_cleanly(capsys: pytest.CaptureFixture[str], text: str) -> None:
    work = _workdir()
    (work / "app-config.yaml").write_text(text, encoding="utf-8")
    _run(capsys, ["validate", "-c", str(work / "app-config.yaml"), "--catalog", str(BASE / "catalog.yaml"),
                  "--store", str(work / "store")])


@FUZZ
@given(text=st.one_of(YAML_CHARS, TREES.map(_dump), st.lists(TREES, max_size=3).map(lambda docs: "---\n".join(map(_dump, docs)))))
def test_any_catalog_file_ends_cleanly(capsys: pytest.CaptureFixture[str], text: str) -> None:
    work = _workdir()
    (work / "catalog.yaml").write_text(text, encoding="utf-8")
    _run(capsys, ["validate", "-c", str(BASE / "app-config.yaml"), "--catalog", str(work / "catalog.yaml"),
                  "--store", str(work / "store")])


@FUZZ
@given(text=st.one_of(YAML_CHARS, TREES.map(_dump), TREES.map(lambda t: json.dumps(t)),
                      st.fixed_dictionaries({"factRef": TREES, "entityRef": TREES, "data": TREES}).map(_dump)))
def test_any_fact_file_ends_cleanly(capsys: pytest.CaptureFixture[str], text: str) -> None:
    work = _workdir()
    (work / "facts.yaml").write_text(text, encoding="utf-8")
    _run(capsys, ["facts", "push", str(work / "facts.yaml"), "-c", str(BASE / "app-config.yaml"),
                  "--store", str(work / "store")])
