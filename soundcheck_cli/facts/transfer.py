"""Moving a whole fact store: ``soundcheck store export`` / ``store import`` (JSON lines, one record per line).

The format (version 1), one JSON object per line, UTF-8::

    {"soundcheck":"store-export","version":1,"exportedAt":"2026-11-25T18:20:29.123Z"}
    {"type":"fact","entityRef":"component:default/payments-api","factRef":"github:default/repo_details",
     "timestamp":"2026-11-25T18:00:00.000Z","expiresAt":null,"data":{"stars":3}}
    {"type":"meta","key":"history:index","value":[...]}

- the first line is the header; a file from a newer soundcheck (``version`` > 1) is refused;
- a ``fact`` line per fact (timestamps as ``facts.model.format_timestamp`` writes them; ``expiresAt`` may be
  ``null`` or left out; ``data`` keeps its key order);
- a ``meta`` line per key of the store's meta area: run history, ETags, pending events... everything there.
  Locks are not meta and are not exported.

Import reads and checks every line before it writes anything: bad JSON, a wrong header or version, an unknown
``type``, a missing, unknown or mistyped field, a bad entity/fact ref or timestamp, or the same fact or meta key
twice all raise ``ConfigError`` naming ``source:line`` (exit code 2), and the store is left untouched.

What an import does to the target store (it never deletes anything):

- a fact the target does not have is written;
- a fact the target already has (same entity ref, compared case-insensitively, and fact ref) is overwritten only
  when the imported one is newer (later ``timestamp``); otherwise the target's is kept. ``replace=True``
  (``--replace``) overwrites it whatever its age;
- a meta key is written with the imported value, replacing the target's value of that key (so importing a
  store's history into a store with its own history replaces the latter's ``history:*`` keys); other keys stay.

The newer-wins comparison reads the target once before writing, so a fact collected into the target during the
import may be overwritten by an older imported one: import into a store nobody is collecting into. Facts are
written in batches (``BATCH_SIZE``, one ``put_many`` each): a store error part way leaves the batches before it
written; running the same import again is safe.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from soundcheck_cli.errors import ConfigError, Location, Problem
from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.facts.model import (
    Fact,
    FactRef,
    format_timestamp,
    parse_timestamp,
    utcnow,
)

FORMAT_NAME = "store-export"
FORMAT_VERSION = 1
BATCH_SIZE = 5000  # facts per put_many (one transaction each)
MAX_REPORTED = 20  # errors listed before "... and N more"

FACT_KEYS = ("type", "entityRef", "factRef", "timestamp", "expiresAt", "data")
META_KEYS = ("type", "key", "value")
_MISSING = object()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]").search


@dataclass
class TransferCounts:
    """What an export or import did. ``kept``: facts of the import the target already had at least as new."""

    facts: int = 0
    meta: int = 0
    kept: int = 0

    def exported(self) -> str:
        return f"exported {plural(self.facts, 'fact')} and {plural(self.meta, 'meta key')}"

    def imported(self) -> str:
        kept = f"; kept the store's own copy of {plural(self.kept, 'fact')} (as new or newer)" if self.kept else ""
        return f"imported {plural(self.facts, 'fact')} and {plural(self.meta, 'meta key')}{kept}"


@dataclass
class ExportData:
    """A validated export, ready to be written into a store."""

    facts: list[Fact] = field(default_factory=list)
    meta: list[tuple[str, Any]] = field(default_factory=list)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 fact``, ``2 facts`` (``many``: an irregular plural)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


# -- export -------------------------------------------------------------------------------------------------------


def export_store(store: FactStore, out: IO[str], *, ensure_ascii: bool = False) -> TransferCounts:
    """Write every fact and meta key of ``store`` to ``out`` as JSON lines, one record at a time."""
    dumps = json.JSONEncoder(ensure_ascii=ensure_ascii, separators=(",", ":")).encode
    write = out.write
    counts = TransferCounts()
    write(dumps({"soundcheck": FORMAT_NAME, "version": FORMAT_VERSION, "exportedAt": format_timestamp(utcnow())}))
    write("\n")
    for fact in store.facts():
        expires = format_timestamp(fact.expires_at) if fact.expires_at is not None else None
        write(dumps({"type": "fact", "entityRef": fact.entity_ref, "factRef": str(fact.fact_ref),
                     "timestamp": format_timestamp(fact.timestamp), "expiresAt": expires, "data": fact.data}))
        write("\n")
        counts.facts += 1
    for key in store.meta_keys():
        value = store.get_meta(key, _MISSING)
        if value is _MISSING:  # deleted since meta_keys() listed it
            continue
        write(dumps({"type": "meta", "key": key, "value": value}))
        write("\n")
        counts.meta += 1
    return counts


# -- import -------------------------------------------------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


def read_export(lines: Iterable[str | bytes], source: str) -> ExportData:
    """Parse and check a whole export (``str`` or UTF-8 ``bytes`` lines); ``ConfigError`` lists every bad line
    as ``source:line: message``. Blank lines are skipped."""
    data = ExportData()
    parsed = _Parsed()
    errors: list[Problem] = []
    facts_at: dict[tuple[str, FactRef], int] = {}
    meta_at: dict[str, int] = {}
    header_seen = False
    lineno = 0
    for lineno, raw in enumerate(lines, 1):
        try:
            text = _decode(raw)
            if lineno == 1:
                text = text.lstrip("\ufeff")
            if not text.strip():
                if lineno == 1:
                    raise _Bad("the first line must be the header "
                               f'{{"soundcheck": "{FORMAT_NAME}", "version": {FORMAT_VERSION}, ...}}, not a blank line')
                continue
            obj = _loads(text)
            if not header_seen:
                _check_header(obj)
                header_seen = True
                continue
            kind = _record_type(obj)
            if kind == "fact":
                fact = _fact(obj, parsed)
                key = (entity_key(fact.entity_ref), fact.fact_ref)
                if key in facts_at:
                    raise _Bad(f"fact {fact.fact_ref} of {fact.entity_ref} is given twice (first at line {facts_at[key]})")
                facts_at[key] = lineno
                data.facts.append(fact)
            else:
                meta_key, value = _meta(obj)
                if meta_key in meta_at:
                    raise _Bad(f"meta key {meta_key!r} is given twice (first at line {meta_at[meta_key]})")
                meta_at[meta_key] = lineno
                data.meta.append((meta_key, value))
        except _Bad as exc:
            errors.append(Problem(str(exc), Location(source, lineno, exc.column)))
            if not header_seen:
                break  # not an export at all: every other line would be an error too
    if lineno == 0:
        errors.append(Problem("the file is empty: a store export starts with the header line "
                              f'{{"soundcheck": "{FORMAT_NAME}", "version": {FORMAT_VERSION}, ...}}',
                              Location(source, 1)))
    if errors:
        shown = errors[:MAX_REPORTED]
        more = len(errors) - len(shown)
        tail = f"{more} more error(s) not shown; " if more else ""
        raise ConfigError([*shown, Problem(f"{tail}nothing was imported: fix the file and import again")])
    return data


def write_import(store: FactStore, data: ExportData, *, replace: bool = False) -> TransferCounts:
    """Write a validated export into ``store`` (see the module doc for what happens to existing facts)."""
    counts = TransferCounts()
    facts = data.facts
    if facts and not replace:
        have = {key: fact.timestamp for key, fact in store.load_all().items()}
        newer = [f for f in facts if (stamp := have.get((entity_key(f.entity_ref), f.fact_ref))) is None
                 or f.timestamp > stamp]
        counts.kept = len(facts) - len(newer)
        facts = newer
    for start in range(0, len(facts), BATCH_SIZE):
        counts.facts += store.put_many(facts[start : start + BATCH_SIZE])
    for key, value in data.meta:
        store.set_meta(key, value)
        counts.meta += 1
    return counts


def import_store(store: FactStore, lines: Iterable[str | bytes], source: str, *, replace: bool = False) -> TransferCounts:
    """``read_export`` then ``write_import``: nothing is written unless every line is valid."""
    return write_import(store, read_export(lines, source), replace=replace)


def _decode(raw: str | bytes) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Bad(f"not UTF-8 text (byte {exc.start + 1} of the line)") from None


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Bad(f"not valid JSON: {exc.msg}", exc.colno) from None
    except RecursionError:
        raise _Bad("not valid JSON: nested too deeply") from None


def _check_header(obj: Any) -> None:
    if not isinstance(obj, dict) or obj.get("soundcheck") != FORMAT_NAME:
        raise _Bad("not a soundcheck store export: the first line must be the header "
                   f'{{"soundcheck": "{FORMAT_NAME}", "version": {FORMAT_VERSION}, ...}}')
    version = obj.get("version")
    if type(version) is not int:
        raise _Bad(f"header: version must be an integer, not {_type_name(version)}")
    if version != FORMAT_VERSION:
        newer = " (written by a newer soundcheck: upgrade to import it)" if version > FORMAT_VERSION else ""
        raise _Bad(f"header: export format version {version} is not one this soundcheck reads ({FORMAT_VERSION}){newer}")
    exported = obj.get("exportedAt")
    if exported is not None:
        _timestamp(exported, "exportedAt")


def _record_type(obj: Any) -> str:
    if not isinstance(obj, dict):
        raise _Bad(f"expected a JSON object with a type (fact or meta), not {_type_name(obj)}")
    kind = obj.get("type", _MISSING)
    if kind is _MISSING:
        raise _Bad("missing field type (fact or meta)")
    if kind not in ("fact", "meta"):
        raise _Bad(f"unknown type {kind!r} (expected fact or meta)")
    return kind


def _check_keys(obj: dict[str, Any], kind: str, known: tuple[str, ...], required: tuple[str, ...]) -> None:
    unknown = [k for k in obj if k not in known]
    if unknown:
        raise _Bad(f"{kind}: unknown field {unknown[0]!r} (known: {', '.join(known[1:])})")
    missing = [k for k in required if k not in obj]
    if missing:
        raise _Bad(f"{kind}: missing field {missing[0]}")


class _Parsed:
    """Refs and timestamps already checked in this file: an export repeats few of them many times."""

    def __init__(self) -> None:
        self.entities: set[str] = set()
        self.fact_refs: dict[str, FactRef] = {}
        self.times: dict[str, Any] = {}


def _fact(obj: dict[str, Any], parsed: _Parsed) -> Fact:
    _check_keys(obj, "fact", FACT_KEYS, ("entityRef", "factRef", "timestamp", "data"))
    entity = obj["entityRef"]
    if not isinstance(entity, str) or entity not in parsed.entities:
        _entity_ref(entity)
        parsed.entities.add(entity)
    ref_text = obj["factRef"]
    fact_ref = parsed.fact_refs.get(ref_text) if isinstance(ref_text, str) else None
    if fact_ref is None:
        fact_ref = parsed.fact_refs[ref_text] = _fact_ref(ref_text)
    stamp = obj["timestamp"]
    timestamp = parsed.times.get(stamp) if isinstance(stamp, str) else None
    if timestamp is None:
        timestamp = parsed.times[stamp] = _timestamp(stamp, "timestamp")
    expires = obj.get("expiresAt")
    return Fact(fact_ref=fact_ref, entity_ref=entity, data=obj["data"], timestamp=timestamp,
                expires_at=None if expires is None else _timestamp(expires, "expiresAt"))


def _entity_ref(entity: Any) -> None:
    from soundcheck_cli.catalog.model import EntityRef

    if not isinstance(entity, str):
        raise _Bad(f"fact: entityRef must be a string, not {_type_name(entity)}")
    _no_control(entity, "entityRef")
    try:
        EntityRef.parse(entity)
    except ValueError as exc:
        raise _Bad(f"fact: entityRef: {exc}") from None


def _fact_ref(text: Any) -> FactRef:
    if not isinstance(text, str):
        raise _Bad(f"fact: factRef must be a string (source:scope/name), not {_type_name(text)}")
    _no_control(text, "factRef")
    try:
        return FactRef.parse(text)
    except ValueError as exc:
        raise _Bad(f"fact: factRef: {exc}") from None


def _meta(obj: dict[str, Any]) -> tuple[str, Any]:
    _check_keys(obj, "meta", META_KEYS, ("key", "value"))
    key = obj["key"]
    if not isinstance(key, str) or not key:
        raise _Bad(f"meta: key must be a non-empty string, not {_type_name(key)}")
    _no_control(key, "key")
    return key, obj["value"]


def _timestamp(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        raise _Bad(f"{name} must be an ISO-8601 timestamp string, not {_type_name(value)}")
    try:
        return parse_timestamp(value)
    except ValueError:
        raise _Bad(f"{name} {value!r} is not an ISO-8601 timestamp (e.g. 2026-11-25T18:20:29.123Z)") from None


def _no_control(text: str, name: str) -> None:
    if _CONTROL(text):
        raise _Bad(f"{name} {text!r} contains a control character")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)
