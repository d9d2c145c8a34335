"""``soundcheck results push|list|delete`` (issue 21): results computed elsewhere, or a person's verdict on a
``type: manual`` check, in the body of Soundcheck's ``POST /results``.

``push_file`` reads a JSON or YAML file (``-`` is standard input) with positions, checks it against the config
(each result must name a ``type: manual`` check) and the catalog (a known entity), and stores it with
``results_store.push_results``: any problem is a ``ConfigError`` at the ``file:line:col`` of the bad field and
nothing is written. Stored results keep who pushed them (``submittedBy``, else the pusher given here) and when
(``lastChecked``); ``check`` shows them like any other result (``evaluation.manual_results``).
"""

from __future__ import annotations

import sys
from typing import Any

from soundcheck_cli.errors import ConfigError, Location, Problems
from soundcheck_cli.facts.interface import entity_key

STDIN = "-"
MAX_BYTES = 64 * 1024 * 1024


def read_body(path: str) -> tuple[Any, str]:
    """The located tree of a results file (or of standard input) and the name its locations use."""
    from soundcheck_cli.facts.io import parse_documents

    display = "<stdin>" if path == STDIN else path
    problems = Problems()
    try:
        if path == STDIN:
            text = sys.stdin.read(MAX_BYTES + 1)
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read results file: {reason}", Location(display)) from None
    if len(text) > MAX_BYTES:
        raise ConfigError(f"results file is larger than {MAX_BYTES // (1024 * 1024)} MiB", Location(display))
    documents = parse_documents(text, display, problems)
    problems.raise_if_errors(ConfigError)
    values = [d for d in documents or [] if d is not None]
    if len(values) != 1:
        raise ConfigError("a results file holds one document: {results: [...], preserveStateOnError?}",
                          Location(display, 1, 1))
    return values[0], display


def push_file(workspace: Any, path: str, *, submitted_by: str | None = None) -> list[Any]:
    """Push one results file into the workspace's store; the results as stored."""
    from soundcheck_cli.results_store import push_results

    body, display = read_body(path)
    checks = workspace.settings.checks
    manual = {c.id for c in checks if c.manual}
    rules = {c.id for c in checks if not c.manual}
    entities = {entity_key(str(e.ref)) for e in workspace.entities}
    with workspace.open_store() as store:
        return push_results(store, body, manual_checks=manual, rule_checks=rules, entity_keys=entities,
                            submitted_by=submitted_by, display=display)
