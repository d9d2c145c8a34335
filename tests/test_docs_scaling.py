"""docs/scaling.md stays correct: its YAML examples parse (ruamel.yaml) and have the structure sharding depends on,
its shell snippets really compute the shards they claim, and every ``soundcheck`` command it shows uses only
options that exist (``soundcheck <command> --help``).

- GitHub Actions: a matrix ``shard: [1, 2, 3, 4]`` whose collect step runs ``--shard ${{ matrix.shard }}/4`` (one
  shard per matrix value, together 1/4 … 4/4), then a ``check`` job that needs it and reports JUnit + summary.
- Kubernetes: a CronJob (``concurrencyPolicy: Forbid``) whose jobTemplate is an Indexed Job with
  ``completions`` = ``parallelism`` = N, running ``--shard $((JOB_COMPLETION_INDEX + 1))/N`` — the container's
  script is run with ``sh`` for each index and must call soundcheck with shards 1/N … N/N, and refuse to run
  without the index — and the store URL from a Secret in ``SOUNDCHECK_STORE``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import stat
import subprocess
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.collectors.shard import Shard
from soundcheck_cli.facts.locate import STORE_ENV

DOC = Path(__file__).resolve().parent.parent / "docs" / "scaling.md"
FENCE = re.compile(r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
COMMAND = re.compile(
    r"(?<![\w/.-])soundcheck[ \t]+(?P<cmd>collect|check|run|validate|store[ \t]+[a-z]+)(?P<rest>[^\n;&|]*)"
)


def blocks(lang: str) -> list[str]:
    """The bodies of the fenced blocks in ``lang`` (indented blocks, e.g. in a list item, dedented)."""
    return [textwrap.dedent(m.group(3)) for m in FENCE.finditer(DOC.read_text()) if m.group(2) == lang]


def yaml_docs() -> list[Any]:
    yaml = YAML(typ="safe", pure=True)
    return [doc for body in blocks("yaml") for doc in yaml.load_all(io.StringIO(body))]


def workflow() -> dict[str, Any]:
    [doc] = [d for d in yaml_docs() if isinstance(d, dict) and "jobs" in d]
    return doc


def cronjob() -> dict[str, Any]:
    [doc] = [d for d in yaml_docs() if isinstance(d, dict) and d.get("kind") == "CronJob"]
    return doc


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def shard_arg(text: str) -> str:
    """The value after ``--shard`` in a command line."""
    found = re.search(r"--shard[ =]+(\S+)", text)
    assert found, text
    return found.group(1)


def test_every_yaml_block_parses_and_there_is_a_workflow_and_a_cronjob():
    assert len(blocks("yaml")) == 2
    docs = yaml_docs()
    assert all(isinstance(d, dict) for d in docs)
    assert workflow() and cronjob()


# -- GitHub Actions ----------------------------------------------------------------------------------------------


def test_the_github_matrix_runs_every_shard_once_then_one_check():
    jobs = workflow()["jobs"]
    collect = jobs["collect"]
    matrix = collect["strategy"]["matrix"]["shard"]
    assert matrix == [1, 2, 3, 4]
    assert collect["strategy"]["fail-fast"] is False
    [step] = [s for s in collect["steps"] if "soundcheck collect" in s.get("run", "")]
    assert "--shard ${{ matrix.shard }}/4" in step["run"]
    # The shared store comes from a secret through the environment (never on the command line, which logs show).
    assert step["env"]["SOUNDCHECK_STORE"] == "${{ secrets.SOUNDCHECK_STORE_URL }}"
    assert "secrets." not in step["run"]
    # What each matrix job passes: together exactly shards 1/4 .. 4/4.
    shards = [Shard.parse(shard_arg(step["run"].replace("${{ matrix.shard }}", str(v)))) for v in matrix]
    assert shards == [Shard(i, len(matrix)) for i in range(1, len(matrix) + 1)]

    check = jobs["check"]
    needs = check["needs"] if isinstance(check["needs"], list) else [check["needs"]]
    assert "collect" in needs and "cancelled()" in check["if"]
    [check_step] = [s for s in check["steps"] if "soundcheck check" in s.get("run", "")]
    run = check_step["run"]
    assert "--shard" not in run  # the check reads the union of every shard
    assert "--format junit" in run and "--summary" in run
    assert check_step["env"]["SOUNDCHECK_STORE"] == step["env"]["SOUNDCHECK_STORE"]
    assert workflow()["concurrency"]["cancel-in-progress"] is False


# -- Kubernetes --------------------------------------------------------------------------------------------------


def test_the_cronjob_is_an_indexed_job_of_n_parallel_shards_with_the_store_from_a_secret():
    doc = cronjob()
    assert doc["apiVersion"] == "batch/v1"
    spec = doc["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    n = job["completions"]
    assert job["parallelism"] == n == 4
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")  # the only ones a Job accepts
    [container] = pod["containers"]
    script = "\n".join(container["args"])
    assert f"--shard $((JOB_COMPLETION_INDEX + 1))/{n}" in script
    env = {e["name"]: e for e in container["env"]}
    secret = env[STORE_ENV]["valueFrom"]["secretKeyRef"]
    assert "--store" not in script  # the URL (with its password) stays out of the process list
    # The Secret the doc tells you to create holds that key.
    [create] = [b for b in blocks("sh") if "kubectl create secret" in b]
    assert f"generic {secret['name']}" in create and f"--from-literal={secret['key']}=" in create


def _fake_soundcheck(tmp_path: Path) -> Path:
    fake = tmp_path / "bin" / "soundcheck"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake.parent


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_container_script_passes_shards_1_to_n_and_refuses_to_run_without_an_index(tmp_path, shell):
    container = cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    n = cronjob()["spec"]["jobTemplate"]["spec"]["completions"]
    assert container["command"][-1] == "-c"
    [script] = container["args"]
    env = {k: v for k, v in os.environ.items() if k != "JOB_COMPLETION_INDEX"}
    env["PATH"] = f"{_fake_soundcheck(tmp_path)}{os.pathsep}{env['PATH']}"
    seen = []
    for index in range(n):
        done = subprocess.run([shell, "-c", script], check=False, env={**env, "JOB_COMPLETION_INDEX": str(index)},
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        args = done.stdout.splitlines()
        assert args[0] == "collect"
        seen.append(Shard.parse(args[args.index("--shard") + 1]))
    assert seen == [Shard(i, n) for i in range(1, n + 1)]
    unset = subprocess.run([shell, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=30)
    assert unset.returncode != 0 and unset.stdout == "" and "JOB_COMPLETION_INDEX" in unset.stderr


# -- every command shown uses real options ------------------------------------------------------------------------


def commands() -> list[tuple[str, list[str]]]:
    """(command, its arguments) of every ``soundcheck <command> ...`` in the shell blocks and the YAML strings."""
    texts = [re.sub(r"\\\n\s*", " ", body) for body in blocks("sh")]
    texts += strings(yaml_docs())
    texts += re.findall(r"`([^`\n]*soundcheck [^`\n]*)`", DOC.read_text())  # inline code in the prose
    found = []
    for text in texts:
        for m in COMMAND.finditer(text):
            rest = m.group("rest").split(" #", 1)[0]
            found.append((" ".join(m.group("cmd").split()), shlex.split(rest)))
    return found


@cache
def help_text(command: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_cli([*command.split(), "--help"])
    assert code == 0, command
    return out.getvalue()


def test_every_soundcheck_command_in_the_doc_uses_only_existing_options(capsys):
    found = commands()
    names = [c for c, _ in found]
    assert names.count("collect") >= 4 and "check" in names and "store init" in names, names
    for command, args in found:
        helptext = help_text(command)
        for arg in args:
            if not arg.startswith("-") or arg == "-":
                continue
            option = arg.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", helptext), f"soundcheck {command} {option}"
    capsys.readouterr()
