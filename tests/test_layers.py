"""The package's dependency rules (docs/architecture.md), checked on every import statement of the source, lazy
imports inside functions included: the core never imports ``cli/``; ``catalog/`` and ``events/`` never import
``collectors/``; ``collectors/`` never import ``app``; ``http/`` knows no collector."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "soundcheck_cli"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``soundcheck_cli...`` module a file imports (``from x import y`` also counts ``x.y``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "soundcheck_cli" or m.startswith("soundcheck_cli.")}


SOURCES = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}

# (modules the rule applies to, modules they must not import, why)
RULES = [
    (lambda m: not m.startswith("soundcheck_cli.cli") and m != "soundcheck_cli.__main__", "soundcheck_cli.cli",
     "the core never imports the CLI"),
    (lambda m: m.startswith(("soundcheck_cli.catalog", "soundcheck_cli.events")), "soundcheck_cli.collectors",
     "catalog/ and events/ never import collectors/"),
    (lambda m: m.startswith("soundcheck_cli.collectors"), "soundcheck_cli.app", "collectors/ never import app"),
    (lambda m: m.startswith("soundcheck_cli.http"), "soundcheck_cli.collectors", "http/ knows no collector"),
]


def test_the_sources_were_found():
    assert "soundcheck_cli.cli.commands" in SOURCES and "soundcheck_cli.app" in SOURCES
    assert "soundcheck_cli.app.collect" in SOURCES["soundcheck_cli.app"]  # imported inside a function: counted


@pytest.mark.parametrize(("applies", "forbidden", "why"), RULES, ids=[r[2] for r in RULES])
def test_dependency_rule(applies, forbidden, why):
    broken = sorted(f"{module} imports {target}" for module, targets in SOURCES.items() if applies(module)
                    for target in targets if target == forbidden or target.startswith(forbidden + "."))
    assert broken == [], why
