"""Running the real ``soundcheck`` CLI as a process (``python -m soundcheck_cli``) on files written in ``tmp_path``:
catalog and app-config writers, and ``run``/``spawn`` with a clean environment (no inherited tokens, no
``SOUNDCHECK_STORE``), so the suites exercise the whole tool exactly as cron or CI would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_DROPPED = ("TOKEN", "KEY", "SECRET", "SOUNDCHECK_", "GITHUB_", "GH_", "DD_")


def component(name: str, annotations: Mapping[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-a", **spec},
    }


def write_catalog(path: Path, entities: Sequence[Mapping[str, Any]]) -> Path:
    """One YAML document per entity, each written as JSON (a subset of YAML): any string survives exactly."""
    path.write_text("".join("---\n" + json.dumps(e, ensure_ascii=False) + "\n" for e in entities), encoding="utf-8")
    return path


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not any(part in k.upper() for part in _DROPPED)}
    env.update({"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    env.pop("HTTP_PROXY", None), env.pop("HTTPS_PROXY", None), env.pop("http_proxy", None), env.pop("https_proxy", None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "soundcheck_cli", *args]


def run(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(args), check=False, cwd=cwd, env=clean_env(env), capture_output=True, text=True, timeout=timeout)


def spawn(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """The CLI as a process of its own, with Ctrl-C's signal handled as Python does by default: a test suite
    started in the background by a non-interactive shell (``cmd &``, ``nohup``) ignores SIGINT and a child inherits
    that, which would make the signal tests fail for a reason of their launcher's. (Reset by the child itself, not
    by a ``preexec_fn``, which is unsafe with the fault servers' threads running.)"""
    return subprocess.Popen(
        [sys.executable, "-c", _WITH_SIGINT, *args], cwd=cwd, env=clean_env(env), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


_WITH_SIGINT = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "sys.argv = ['soundcheck', *sys.argv[1:]]\n"
    "runpy.run_module('soundcheck_cli', run_name='__main__')\n"
)


def stored(store: Path, fact_ref: str | None = None) -> dict[str, Any]:
    """The facts in the store at ``store`` as ``{entity ref: fact}`` (opened read-only in this process, after the
    CLI processes have ended or while they run: the store is shared safely between processes)."""
    from soundcheck_cli.facts.model import FactRef
    from soundcheck_cli.facts.store import open_store

    with open_store(str(store)) as s:
        ref = FactRef.parse(fact_ref) if fact_ref else None
        return {f.entity_ref: f for f in s.facts(fact_ref=ref)}
