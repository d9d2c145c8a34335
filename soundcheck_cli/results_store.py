"""Check results computed outside soundcheck and pushed to it, the way Soundcheck's ``POST /results`` takes them.

One body shape, read by ``soundcheck serve``'s ``POST /api/soundcheck/results`` (and meant for a ``soundcheck results
push`` command too, so both store the same thing the same way)::

    {"results": [{"entityRef": "component:default/a", "checkId": "sast", "state": "passed",
                  "details": {...}?, "scope": "default"?, "submittedBy": "ci"?}],
     "preserveStateOnError": false?}

``results_from_body`` validates it, naming each bad field by its JSON pointer (``/results/0/state``);
``store_pushed_results`` stores results in the store's meta area under the key ``results:pushed`` (one JSON
document ``{"v": 1, "results": [...]}``, one entry per (check, entity, scope): a newer push replaces it);
``pushed_results`` reads them back. With ``preserveStateOnError``, an incoming ``error`` does not override a known
non-error state: the state is kept, and only ``details``, ``submittedBy`` and ``lastChecked`` are updated (what
Soundcheck documents for that flag).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.catalog.model import EntityRef
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.facts.model import format_timestamp, utcnow
from soundcheck_cli.rules.model import CheckState

PUSHED_KEY = "results:pushed"
FORMAT = 1
# Every state a check result can have, but ``exempt``: exemptions come from ``soundcheck.exemptions`` only.
STATES = tuple(s.value for s in CheckState if s is not CheckState.EXEMPT)
DEFAULT_SCOPE = "default"
RESULT_KEYS = ("entityRef", "checkId", "state", "details", "scope", "submittedBy")
MAX_TEXT = 1024  # characters of an id, a scope or a submittedBy
_LOCK_WAIT = 30.0  # seconds a push waits for another process's push to finish

# One push at a time in this process (the store's lock is per process and never blocks).
_WRITING = threading.Lock()


@dataclass(frozen=True)
class PushedResult:
    entity_ref: str
    check_id: str
    state: str
    details: dict[str, Any] = field(default_factory=dict)
    scope: str = DEFAULT_SCOPE
    submitted_by: str | None = None
    last_checked: str | None = None  # ISO-8601, set when stored

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"entityRef": self.entity_ref, "checkId": self.check_id, "state": self.state,
                               "details": self.details, "scope": self.scope}
        if self.submitted_by is not None:
            doc["submittedBy"] = self.submitted_by
        if self.last_checked is not None:
            doc["lastChecked"] = self.last_checked
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PushedResult:
        return cls(doc["entityRef"], doc["checkId"], doc["state"], dict(doc.get("details") or {}),
                   doc.get("scope") or DEFAULT_SCOPE, doc.get("submittedBy"), doc.get("lastChecked"))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.check_id, entity_key(self.entity_ref), self.scope)


def _at(pointer: str) -> Location:
    return Location(pointer)


def _text(item: dict[str, Any], key: str, pointer: str, problems: Problems, *, required: bool) -> str | None:
    if key not in item or item[key] is None:
        if required:
            problems.error(f"'{key}' is required", _at(pointer))
        return None
    value = item[key]
    where = f"{pointer}/{key}"
    if not isinstance(value, str) or not value.strip():
        problems.error(f"'{key}' must be a non-empty string", _at(where))
        return None
    if len(value) > MAX_TEXT or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        problems.error(f"'{key}' must be at most {MAX_TEXT} characters, without control characters", _at(where))
        return None
    return value


def results_from_body(doc: Any, problems: Problems) -> tuple[list[PushedResult], bool]:
    """The results of a ``POST /results`` body and its ``preserveStateOnError``; every problem is added to
    ``problems`` with the JSON pointer of its field as location (the caller refuses the whole body on any error)."""
    if not isinstance(doc, dict):
        problems.error("the body must be a JSON object {results: [...], preserveStateOnError?}", _at("/"))
        return [], False
    preserve = doc.get("preserveStateOnError", False)
    if not isinstance(preserve, bool):
        problems.error("'preserveStateOnError' must be true or false", _at("/preserveStateOnError"))
        preserve = False
    for key in doc:
        if key not in ("results", "preserveStateOnError"):
            problems.error(f"unknown field '{key}' (expected results, preserveStateOnError)", _at(f"/{_escape(key)}"))
    items = doc.get("results")
    if not isinstance(items, list):
        problems.error("'results' is required: a list of {entityRef, checkId, state, details?, scope?, submittedBy?}",
                       _at("/results"))
        return [], preserve
    out: list[PushedResult] = []
    for index, item in enumerate(items):
        pointer = f"/results/{index}"
        if not isinstance(item, dict):
            problems.error("a result must be an object {entityRef, checkId, state, details?, scope?, submittedBy?}",
                           _at(pointer))
            continue
        before = len(problems.errors)
        for key in item:
            if key not in RESULT_KEYS:
                problems.error(f"unknown field '{key}' (expected one of {', '.join(RESULT_KEYS)})",
                               _at(f"{pointer}/{_escape(key)}"))
        ref_text = _text(item, "entityRef", pointer, problems, required=True)
        entity_ref = None
        if ref_text is not None:
            try:
                parsed = EntityRef.parse(ref_text)
                if any(c.isspace() for c in str(parsed)):
                    raise ValueError(ref_text)
                entity_ref = str(parsed)
            except ValueError:
                problems.error(f"invalid entityRef '{ref_text}': expected kind:namespace/name "
                               "(e.g. component:default/payments-api)", _at(f"{pointer}/entityRef"))
        check_id = _text(item, "checkId", pointer, problems, required=True)
        state = item.get("state")
        if "state" not in item:
            problems.error("'state' is required", _at(pointer))
        elif state not in STATES:
            problems.error(f"'state' must be one of {', '.join(STATES)}, not {state!r}"[:300], _at(f"{pointer}/state"))
        details = item.get("details")
        if details is not None and not isinstance(details, dict):
            problems.error("'details' must be an object", _at(f"{pointer}/details"))
        scope = _text(item, "scope", pointer, problems, required=False) or DEFAULT_SCOPE
        submitted_by = _text(item, "submittedBy", pointer, problems, required=False)
        if len(problems.errors) == before and entity_ref and check_id:
            out.append(PushedResult(entity_ref, check_id, str(state), dict(details or {}), scope, submitted_by))
    return out, preserve


def _escape(key: Any) -> str:
    """A key as a JSON pointer token (RFC 6901)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def pushed_results(store: FactStore) -> list[PushedResult]:
    """Every pushed result in the store, oldest push first."""
    doc = store.get_meta(PUSHED_KEY) or {}
    return [PushedResult.from_json(d) for d in doc.get("results") or []]


def store_pushed_results(store: FactStore, results: Sequence[PushedResult], *,
                         preserve_state_on_error: bool = False) -> list[PushedResult]:
    """Store ``results`` (validated by ``results_from_body``) under ``results:pushed``; returns them as stored
    (with ``lastChecked``, and the preserved state where ``preserve_state_on_error`` kept one).

    Read-modify-write of one meta value: serialised by a lock in this process and by the store's claim across
    processes (a ``serve`` and a ``results push`` writing at once), so no push loses another's results."""
    now = format_timestamp(utcnow())
    with _WRITING, _store_claim(store):
        known = {r.key: r for r in pushed_results(store)}
        stored: list[PushedResult] = []
        for result in results:
            previous = known.get(result.key)
            state = result.state
            if (preserve_state_on_error and state == CheckState.ERROR.value and previous is not None
                    and previous.state != CheckState.ERROR.value):
                state = previous.state
            new = PushedResult(result.entity_ref, result.check_id, state, result.details, result.scope,
                               result.submitted_by, now)
            known.pop(result.key, None)  # re-inserted last: the order is the order of pushes
            known[result.key] = new
            stored.append(new)
        store.set_meta(PUSHED_KEY, {"v": FORMAT, "results": [r.to_json() for r in known.values()]})
    return stored


class _store_claim:
    """The store's claim on ``results:pushed`` for one write, waiting (up to ``_LOCK_WAIT`` s) while another
    process holds it; the claim lapses by itself if its holder dies."""

    def __init__(self, store: FactStore) -> None:
        self.store = store
        self.context: Any = None

    def __enter__(self) -> None:
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            context = self.store.lock(PUSHED_KEY, expire_seconds=60.0)
            if context.__enter__():
                self.context = context
                return
            context.__exit__(None, None, None)
            if time.monotonic() > deadline:
                raise TimeoutError(f"another process has been writing {PUSHED_KEY} for {_LOCK_WAIT:.0f} s")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.context.__exit__(*exc)


# --- the CLI's side (issue 21): push files, list, delete ------------------------------------------------------
# ``soundcheck results push FILE|-`` reads the same body from a file (JSON or YAML) and stores it with
# ``store_pushed_results``; its extra checks need the config and the catalog: a result must name a ``type: manual``
# check and an entity of the catalog, else the whole file is refused with the file:line of the bad field.


def locate_pointer(tree: Any, pointer: str, display: str) -> Location:
    """The ``file:line:col`` of a JSON pointer (``/results/0/checkId``) in a located tree read from ``display``;
    the nearest located parent when the pointer goes further than the tree."""
    from soundcheck_cli.located.nodes import loc_of

    best = loc_of(tree) or Location(display)
    node = tree
    for token in [t.replace("~1", "/").replace("~0", "~") for t in pointer.strip("/").split("/") if t]:
        key: Any = int(token) if isinstance(node, list) and token.isdigit() else token
        try:
            child = node[key]
        except (KeyError, IndexError, TypeError):
            break
        best = loc_of(node, key) or best
        node = child
    return best


def check_pushed(results: Sequence[PushedResult], pointers: Sequence[str], manual_checks: set[str],
                 rule_checks: set[str], entity_keys: set[str] | None, problems: Problems,
                 locate: Any = None) -> None:
    """Errors for results naming a check that is not a ``type: manual`` check, or (``entity_keys`` given) an
    entity outside the catalog; ``locate(pointer)`` turns a JSON pointer into a location."""
    where = locate or _at
    for result, pointer in zip(results, pointers):
        if result.check_id not in manual_checks:
            if result.check_id in rule_checks:
                message = (f"check '{result.check_id}' has a rule: its results are computed by `soundcheck check`; "
                           "declare it `type: manual` to push its results")
            else:
                known = ", ".join(sorted(manual_checks)) or "none are defined"
                message = f"unknown check '{result.check_id}' (checks of type manual: {known})"
            problems.error(message, where(f"{pointer}/checkId"))
        if entity_keys is not None and entity_key(result.entity_ref) not in entity_keys:
            problems.error(f"unknown entity '{result.entity_ref}': not in the catalog", where(f"{pointer}/entityRef"))


def push_results(store: FactStore, body: Any, *, manual_checks: set[str], rule_checks: set[str] = frozenset(),
                 entity_keys: set[str] | None = None, submitted_by: str | None = None, display: str = "-",
                 ) -> list[PushedResult]:
    """Validate a ``POST /results`` body (a located tree read from ``display``, or plain data) against the config
    and the catalog, then store it; ``ConfigError`` with every problem located (``file:line:col`` when ``body``
    is located) and nothing written on any error. ``submitted_by`` fills results without ``submittedBy``."""
    from soundcheck_cli.errors import ConfigError
    from soundcheck_cli.located.nodes import to_plain

    raw = Problems()
    results, preserve = results_from_body(to_plain(body), raw)

    def locate(pointer: str) -> Location:
        return locate_pointer(body, pointer, display)

    problems = Problems()
    for problem in raw.errors:
        pointer = problem.location.path if problem.location is not None else "/"
        problems.error(f"{problem.message} ({pointer})", locate(pointer))
    if not problems.errors:
        items = to_plain(body).get("results") or []
        pointers = [f"/results/{i}" for i in range(len(items))]
        check_pushed(results, pointers, manual_checks, set(rule_checks), entity_keys, problems, locate)
    problems.raise_if_errors(ConfigError)
    if submitted_by:
        results = [r if r.submitted_by else PushedResult(r.entity_ref, r.check_id, r.state, r.details, r.scope,
                                                         submitted_by) for r in results]
    return store_pushed_results(store, results, preserve_state_on_error=preserve)


def delete_pushed(store: FactStore, *, check_id: str | None = None, entity_ref: str | None = None,
                  scope: str | None = None) -> int:
    """Remove the pushed results matching every given field (none given: all); how many were removed."""
    with _WRITING, _store_claim(store):
        kept: list[PushedResult] = []
        removed = 0
        for r in pushed_results(store):
            if ((check_id is None or r.check_id == check_id)
                    and (entity_ref is None or entity_key(r.entity_ref) == entity_key(entity_ref))
                    and (scope is None or r.scope == scope)):
                removed += 1
            else:
                kept.append(r)
        if removed:
            store.set_meta(PUSHED_KEY, {"v": FORMAT, "results": [r.to_json() for r in kept]})
    return removed


def by_check(results: Sequence[PushedResult], scope: str = DEFAULT_SCOPE) -> dict[str, dict[str, PushedResult]]:
    """``{check id: {entity key: result}}`` of one scope: what the evaluation merges."""
    out: dict[str, dict[str, PushedResult]] = {}
    for r in results:
        if r.scope == scope:
            out.setdefault(r.check_id, {})[entity_key(r.entity_ref)] = r
    return out
