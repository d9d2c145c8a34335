"""``soundcheck exemptions add|revoke`` (issue 21): the exemptions file edited from the CLI, with an audit trail
in the store.

**Which file.** ``soundcheck.exemptions`` is a list in the app-config; the CLI edits it only when it lives in a file
of its own, included from the config (``exemptions: {$include: ./exemptions.yaml}``), so that no hand-written
config is ever rewritten. ``--file`` names the file explicitly (it is created when missing; a file the config does
not include yet gets a warning saying how to include it).

**How.** The file is edited as text, so that its comments and layout stay: ``add`` appends one entry (replacing an
entry of the same check and entity: a renewal), ``revoke`` removes the lines of the entry; the file is then read
back through the config's own parser, and replaced atomically. Entries are written as JSON strings (valid YAML).

**Audit.** Every change is appended to the store's meta key ``exemptions:audit`` (who, when, what, why, which
file): ``soundcheck exemptions audit`` lists it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from soundcheck_cli.errors import ConfigError, Location, Problems, UsageError

AUDIT_KEY = "exemptions:audit"
MAX_AUDIT = 10_000  # entries kept (the oldest go first)


@dataclass(frozen=True)
class Change:
    action: str  # added | renewed | revoked
    check_id: str
    entity_ref: str
    file: str
    reason: str | None = None
    expires: str | None = None
    by: str | None = None
    warning: str | None = None  # e.g. the file is not included by the config


def exemptions_file(settings: Any, explicit: str | None, cwd: str) -> tuple[str, str | None]:
    """``(path, warning)``: the file ``add``/``revoke`` edit; ``UsageError`` when the exemptions are written inside
    a config file (which the CLI does not rewrite) and no ``--file`` is given."""
    from soundcheck_cli.located.nodes import loc_of

    node = settings.soundcheck.get("exemptions") if isinstance(settings.soundcheck, dict) else None
    where = loc_of(node) if node is not None else None
    included = where.path if where is not None and where.path not in settings.files else None
    if explicit:
        path = str(Path(cwd, explicit).resolve())
        warning = None
        if included is None or str(Path(included).resolve()) != path:
            warning = (f"{explicit} is not the file soundcheck.exemptions includes; add "
                       f"`exemptions: {{$include: {explicit}}}` under soundcheck: for the config to read it")
        return path, warning
    if included is not None:
        return included, None
    if node is not None:
        raise UsageError(f"soundcheck.exemptions is written in {where.path if where else 'the config'}, which the CLI "
                         "does not rewrite: move the list to a file of its own, included with "
                         "`exemptions: {$include: ./exemptions.yaml}`, or pass --file")
    raise UsageError("soundcheck.exemptions is not configured: add `exemptions: {$include: ./exemptions.yaml}` under "
                     "soundcheck: in the config (the file is created by the first `exemptions add --file "
                     "exemptions.yaml`), or pass --file")


def _read(path: str) -> tuple[str, list[Any]]:
    """The file's text and its located entries (``[]`` for a missing or empty file)."""
    from soundcheck_cli.facts.io import parse_documents

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return "", []
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    problems = Problems()
    documents = [d for d in parse_documents(text, path, problems) or [] if d is not None]
    problems.raise_if_errors(ConfigError)
    if not documents:
        return text, []
    if len(documents) > 1 or not isinstance(documents[0], list):
        raise ConfigError("an exemptions file holds one list of exemptions", Location(path, 1, 1))
    entries = documents[0]
    if entries and text.lstrip().startswith("["):
        raise ConfigError("the CLI edits an exemptions file written as a block list ('- checkId: ...'), not a flow "
                          "list ('[...]')", Location(path, 1, 1))
    if not entries:  # ``[]``: keep the comments, drop the empty flow list the first entry replaces
        return "".join(line for line in text.splitlines(keepends=True) if line.strip() != "[]"), []
    return text, entries


def _spans(text: str, entries: list[Any]) -> list[tuple[int, int]]:
    """Each entry's lines, as 0-based ``[start, end)`` (up to the next entry, or to the end of the file)."""
    from soundcheck_cli.located.nodes import loc_of

    starts = []
    for index in range(len(entries)):
        loc = loc_of(entries, index)
        starts.append((loc.line or 1) - 1 if loc is not None else 0)
    total = len(text.splitlines())
    return [(start, starts[i + 1] if i + 1 < len(starts) else total) for i, start in enumerate(starts)]


def _find(entries: list[Any], check_id: str, entity_ref: str) -> int | None:
    from soundcheck_cli.catalog.model import EntityRef
    from soundcheck_cli.facts.interface import entity_key

    wanted = entity_key(entity_ref)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("checkId") != check_id:
            continue
        try:
            ref = str(EntityRef.parse(str(entry.get("entityRef")), default_kind="component"))
        except ValueError:
            continue
        if entity_key(ref) == wanted:
            return index
    return None


def _entry_text(check_id: str, entity_ref: str, reason: str, by: str | None, expires: str | None,
                at: str) -> str:
    lines = [f"- checkId: {json.dumps(check_id)}", f"  entityRef: {json.dumps(entity_ref)}",
             f"  reason: {json.dumps(reason, ensure_ascii=False)}"]
    if by:
        lines.append(f"  by: {json.dumps(by, ensure_ascii=False)}")
    if expires:
        lines.append(f"  expires: {json.dumps(expires)}")
    lines.append(f"  # added {at} with `soundcheck exemptions add`")
    return "\n".join(lines) + "\n"


def _write(path: str, text: str) -> None:
    """Replace ``path`` whole (a temporary file, then ``os.replace``), after checking the new text parses."""
    from soundcheck_cli.exemptions import parse_exemptions

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    try:
        _text, entries = _read(tmp)
        problems = Problems()
        parse_exemptions(entries, problems, Location(path))
        problems.raise_if_errors(ConfigError)
    except BaseException:
        os.unlink(tmp)
        raise
    os.replace(tmp, path)


def _audit(store: Any, change: Change, at: str) -> None:
    trail = list(store.get_meta(AUDIT_KEY) or [])
    trail.append({"at": at, "action": change.action, "checkId": change.check_id, "entityRef": change.entity_ref,
                  "reason": change.reason, "expires": change.expires, "by": change.by, "file": change.file})
    store.set_meta(AUDIT_KEY, trail[-MAX_AUDIT:])


def audit_trail(store: Any) -> list[dict[str, Any]]:
    """Every recorded change, oldest first."""
    return list(store.get_meta(AUDIT_KEY) or [])


def add(workspace: Any, check_id: str, entity: str, reason: str, *, expires: str | None = None,
        by: str | None = None, file: str | None = None, now: datetime | None = None) -> Change:
    """Exempt ``entity`` from ``check_id`` (renewing an existing exemption of that pair in the file)."""
    from soundcheck_cli.catalog.model import EntityRef
    from soundcheck_cli.exemptions import parse_when
    from soundcheck_cli.facts.interface import entity_key
    from soundcheck_cli.facts.model import format_timestamp, utcnow

    now = now or utcnow()
    settings = workspace.settings
    if settings.check(check_id) is None:
        valid = ", ".join(c.id for c in settings.checks) or "no checks are defined"
        raise UsageError(f"unknown check {check_id!r}; valid checks: {valid}")
    try:
        ref = str(EntityRef.parse(entity, default_kind="component"))
    except ValueError as exc:
        raise UsageError(f"--entity {entity!r}: {exc}") from None
    if not reason.strip():
        raise UsageError("--reason is required: say why the check does not apply to this entity")
    if expires is not None:
        try:
            when = parse_when(expires)
        except (ValueError, TypeError):
            raise UsageError(f"--expires {expires!r}: a date (2026-06-30) or a timestamp (2026-06-30T12:00:00Z)") \
                from None
        if when is not None and when <= now:
            raise UsageError(f"--expires {expires}: already past")
    warning = None
    if workspace.entities and entity_key(ref) not in {entity_key(str(e.ref)) for e in workspace.entities}:
        warning = f"{ref} is not in the catalog; the exemption applies once it is"
    path, file_warning = exemptions_file(settings, file, workspace.options.cwd)
    text, entries = _read(path)
    at = format_timestamp(now)
    index = _find(entries, check_id, ref)
    lines = text.splitlines(keepends=True)
    action = "added"
    if index is not None:
        start, end = _spans(text, entries)[index]
        del lines[start:end]
        action = "renewed"
    body = "".join(lines)
    if body and not body.endswith("\n"):
        body += "\n"
    body += _entry_text(check_id, ref, reason, by, expires, at)
    _write(path, body)
    change = Change(action, check_id, ref, path, reason, expires, by, "; ".join(w for w in (warning, file_warning) if w)
                    or None)
    with workspace.open_store() as store:
        _audit(store, change, at)
    return change


def revoke(workspace: Any, check_id: str, entity: str, *, reason: str | None = None, by: str | None = None,
           file: str | None = None, now: datetime | None = None) -> Change:
    """Remove the exemption of ``entity`` from ``check_id`` from the exemptions file."""
    from soundcheck_cli.catalog.model import EntityRef
    from soundcheck_cli.facts.model import format_timestamp, utcnow

    try:
        ref = str(EntityRef.parse(entity, default_kind="component"))
    except ValueError as exc:
        raise UsageError(f"--entity {entity!r}: {exc}") from None
    path, _warning = exemptions_file(workspace.settings, file, workspace.options.cwd)
    text, entries = _read(path)
    index = _find(entries, check_id, ref)
    if index is None:
        raise UsageError(f"{ref} is not exempted from check {check_id!r} in {path}")
    start, end = _spans(text, entries)[index]
    lines = text.splitlines(keepends=True)
    del lines[start:end]
    _write(path, "".join(lines))
    change = Change("revoked", check_id, ref, path, reason, None, by)
    with workspace.open_store() as store:
        _audit(store, change, format_timestamp(now or utcnow()))
    return change
