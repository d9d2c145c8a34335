"""The catalog loader's plain reading of clean files (``loader._plain_documents``) against its located reading.

A clean file (every document a valid entity, no Location) is read without positions; anything else is read with
them. The plain reading must give exactly ``to_plain`` of the located one -- same keys in the same order, same
values of the same types, same document positions -- or give up (``None``) so that the located reading decides
and reports. Checked on every YAML file in the repository, on tricky hand-written texts and on generated data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from soundcheck_cli.catalog import loader
from soundcheck_cli.catalog.loader import load_catalog, parse_documents
from soundcheck_cli.located.nodes import to_plain
from soundcheck_cli.errors import Problems

ROOT = Path(__file__).resolve().parent.parent
REPO_YAML = sorted(
    p for folder in ("tests", "catalog-fixtures", "sample-config", "docs", "bench")
    if (ROOT / folder).is_dir()
    for p in (ROOT / folder).rglob("*")
    if p.suffix in (".yaml", ".yml") and p.is_file()
)


def typed(value: object) -> object:
    """``value`` with every scalar tagged by its type, so 1, 1.0 and True (equal in Python) compare as different."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, value)


def located(text: str, path: str = "f.yaml") -> tuple[list[object], list[str]] | None:
    problems = Problems()
    documents = parse_documents(text, path, problems)
    if documents is None:
        return None
    return ([(typed(to_plain(d.content)), d.location.line, d.location.column) for d in documents],
            [str(p) for p in problems.items])


def assert_same_or_gives_up(text: str) -> bool:
    """True when the plain reading answered (and matched the located one), False when it gave up."""
    plain = loader._plain_documents(text)
    if plain is None:
        return False
    reference = located(text)
    assert reference is not None, "the plain reading accepted a file the located reading refuses"
    documents, problems = reference
    assert problems == [], "the plain reading accepted a file the located reading warns about"
    assert [(typed(data), line, column) for data, line, column in plain] == documents
    return True


def test_every_yaml_file_in_the_repository_reads_alike() -> None:
    answered = 0
    for path in REPO_YAML:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
        answered += assert_same_or_gives_up(text)
    # 110 of 252 files on 2026-12-03 (the bad-input corpus is most of the rest): the plain reading must actually be
    # taken, not always give up.
    assert len(REPO_YAML) > 150 and answered >= 80


@pytest.mark.parametrize("text", [
    "a: 1\nb: 1.5\nc: true\nd: ~\ne: null\nf: 0o17\ng: 0x1F\nh: .inf\ni: -.Inf\nj: .nan\nk: 1_000\n",
    "when: 2024-01-01\nt: 2024-01-01T10:00:00Z\nref: !Ref thing\nbin: !!binary aGk=\ns: !!str 12\n",
    "200: ok\ntrue: yes\n~: nothing\n1.5: x\nno: n\non: o\n",
    "a: &x {b: 1, c: [1, 2]}\nd: *x\ne: [*x, *x]\n",
    "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
    "a: 1\na: 2\n",
    "? [a, b]\n: c\n",
    "---\n---\nkind: A\n...\n---\n# only a comment\n---\nkind: B\n",
    "  indented: 1\n",
    "\ufeffbom: 1\n",
    "a: |\n  line\n  two\nb: >-\n  folded\n  text\n",
    "a: [unclosed\n",
    "a: 'x\n",
    "- 1\n- two\n- {three: 3}\n",
    "plain scalar document\n",
    "",
    "[" * 150 + "]" * 150 + "\n",
])
def test_tricky_texts_read_alike_or_give_up(text: str) -> None:
    assert_same_or_gives_up(text)


def test_it_gives_up_where_only_the_located_reading_can_report() -> None:
    for text in ("a: 1\na: 2\n", "base: &b {x: 1}\nd:\n  <<: *b\n", "? [a, b]\n: c\n", "a: [unclosed\n",
                 "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: &d [*c, *c]\ne: &e [*d, *d]\nf: &f [*e, *e]\n"
                 "g: &g [*f, *f]\nh: &h [*g, *g]\ni: &i [*h, *h]\nj: &j [*i, *i]\nk: &k [*j, *j]\nl: &l [*k, *k]\n"
                 "m: &m [*l, *l]\nn: &n [*m, *m]\no: &o [*n, *n]\np: &p [*o, *o]\nq: &q [*p, *p]\n"):
        assert loader._plain_documents(text) is None, text
    assert loader._plain_documents("a: 1\n---\nb: [1, 2]\n") == [({"a": 1}, 1, 1), ({"b": [1, 2]}, 3, 1)]


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False), st.text(max_size=12),
    st.sampled_from(["yes", "no", "on", "off", "~", "null", "1e3", "0o7", "0x1f", "1_0", ".5", "2024-01-01",
                     "${VAR}", "a: b", "- x", "#x", "'q'", "\"d\"", "@at", "*star", "&amp"]),
)
keys = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans(), st.sampled_from(["200", "true", "null"]))
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, min_size=1, max_size=3), st.sampled_from(["block", "flow"]))
def test_generated_documents_read_alike(docs: list[object], style: str) -> None:
    import io

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = style == "flow"
    out = io.StringIO()
    yaml.dump_all(docs, out)
    ANSWERED.append(assert_same_or_gives_up(out.getvalue()))


ANSWERED: list[bool] = []


def test_generated_documents_were_mostly_read_plainly() -> None:
    """The property above would pass vacuously if the plain reading always gave up."""
    if not ANSWERED:
        pytest.skip("runs after test_generated_documents_read_alike")
    assert sum(ANSWERED) > len(ANSWERED) // 2


def test_load_catalog_gives_the_same_entities_and_warnings_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    # The bad-input corpus too, but not its YAML bombs: seconds each, and the plain reading gives up on them (above).
    corpus = [str(p) for p in sorted((ROOT / "tests" / "corpus").rglob("*.y*ml")) if "bomb" not in str(p)]
    roots = [str(ROOT / "catalog-fixtures"), str(ROOT / "tests" / "fixtures" / "catalog"), *corpus]

    def run() -> tuple[list[object], list[str]]:
        problems = Problems()
        entities = load_catalog(roots, problems)
        return ([(str(e.ref), typed(e.data), str(e.source)) for e in entities], [str(p) for p in problems.items])

    with_plain = run()
    monkeypatch.setattr(loader, "_plain_documents", lambda text: None)
    without = run()
    assert with_plain == without
    assert len(with_plain[0]) > 20 and with_plain[1], "the fixtures hold both valid entities and warnings"
