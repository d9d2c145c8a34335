"""Check exemptions: ``soundcheck.exemptions: [{checkId, entityRef, reason, expires?, by?}]``.

As in Soundcheck ("Check Exemptions", backstage.spotify.com/docs/plugins/soundcheck/core-concepts/checks/
check-exemptions): an exempted component's check "will not be executed ... and is considered to be passing".
Here its result is ``exempt`` with the exemption's ``reason`` as the message, and certification treats ``exempt``
as non-blocking (``tracks.certification.NON_BLOCKING``). Soundcheck records who created an exemption and why; the
config keeps ``by`` and ``reason`` for the same purpose.

- ``expires`` is a date (``2026-06-30``: the exemption holds through that day, UTC) or a timestamp. Once past, the
  exemption stops applying (the check's own result counts again) and the run reports a located warning, so that
  someone renews or removes it.
- An exemption that applies and expires within ``notice_days`` (default 14: ``--expiring-within``) is reported too,
  as a located warning, so that it is renewed or revoked before it lapses. Both notices reach every output of
  ``check``: the table and Markdown reports, standard error and the JSON report's ``problems`` (``is_notice``).
- A result that is ``not-applicable`` stays so: the check does not apply, there is nothing to exempt.
- ``apply_exemptions`` is a pure function over one check's result column; ``evaluation`` calls it right after
  evaluating a check, before any track certifies with it (and before dependent checks read the track facts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from soundcheck_cli.catalog.model import EntityRef
from soundcheck_cli.config.fields import Fields, type_name
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.interface import entity_key
from soundcheck_cli.rules.model import CheckResult, CheckState

EXEMPTION_KEYS = frozenset({"checkId", "entityRef", "reason", "expires", "by"})


@dataclass(frozen=True)
class Exemption:
    check_id: str
    entity_ref: str  # normalised (``kind:namespace/name``; kind defaults to component)
    reason: str
    expires: datetime | None = None  # the first instant it no longer applies (UTC)
    by: str | None = None
    location: Location | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return self.check_id, entity_key(self.entity_ref)

    def is_expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires


def parse_when(value: Any) -> datetime | None:
    """A date (``2026-06-30``: through that day, so the next midnight UTC) or a timestamp, as a UTC instant;
    ``ValueError``/``TypeError`` when it is neither. Exemption expiries and campaign dates read the same way."""
    return _parse_expiry(value)


def _parse_expiry(value: Any) -> datetime | None:
    """A date means "through that day" (expired from the next midnight UTC); a timestamp is taken as is."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), time(0), tzinfo=timezone.utc)
    text = str(value).strip()
    if len(text) == 10:
        return _parse_expiry(date.fromisoformat(text))
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return _parse_expiry(datetime.fromisoformat(text))


def parse_exemptions(node: Any, problems: Problems, where: Location | None = None,
                     check_ids: Sequence[str] | None = None) -> tuple[Exemption, ...]:
    """``soundcheck.exemptions`` into ``Exemption`` values; every problem is located. ``check_ids``: the defined
    checks, to warn about an exemption naming none of them (a typo would silently exempt nothing)."""
    if node is None:
        return ()
    if not isinstance(node, list):
        problems.error(f"soundcheck.exemptions must be a list, not {type_name(node)}", loc_of(node) or where)
        return ()
    known = set(check_ids) if check_ids is not None else None
    out: list[Exemption] = []
    seen: dict[tuple[str, str], Location | None] = {}
    for index, item in enumerate(node):
        item_loc = loc_of(node, index) or where
        if not isinstance(item, dict):
            problems.error(f"exemption must be a mapping {{checkId, entityRef, reason}}, not {type_name(item)}",
                           item_loc)
            continue
        fields = Fields(item, problems, f"exemption {index + 1}", item_loc)
        check_id = fields.string("checkId")
        ref_text = fields.string("entityRef")
        reason = fields.string("reason")
        by = fields.string("by")
        missing = [k for k, v in (("checkId", check_id), ("entityRef", ref_text), ("reason", reason)) if not v]
        for key in missing:
            if key not in item:
                fields.error(fields.absent(key, f"'{key}' is required"))
        expires = None
        raw_expiry = fields.raw("expires")
        if raw_expiry is not None:
            try:
                expires = _parse_expiry(raw_expiry)
            except (ValueError, TypeError):
                fields.error(f"'expires' must be a date (2026-06-30) or a timestamp (2026-06-30T12:00:00Z), "
                             f"not {raw_expiry!r}", fields.value_loc("expires"))
                continue
        fields.warn_unknown(EXEMPTION_KEYS)
        if missing:
            continue
        assert check_id is not None and ref_text is not None and reason is not None
        try:
            ref = str(EntityRef.parse(ref_text, default_kind="component"))
        except ValueError as exc:
            fields.error(f"'entityRef': {exc}", fields.value_loc("entityRef"))
            continue
        if known is not None and check_id not in known:
            fields.warning(f"check {check_id!r} is not defined; this exemption exempts nothing",
                           fields.value_loc("checkId"))
        exemption = Exemption(check_id, ref, reason, expires, by, item_loc)
        if exemption.key in seen:
            fields.warning(f"{check_id} is already exempted for {ref} at {seen[exemption.key]}; the first one applies")
            continue
        seen[exemption.key] = item_loc
        out.append(exemption)
    return tuple(out)


def index_by_check(exemptions: Sequence[Exemption]) -> dict[str, dict[str, Exemption]]:
    """``{check id: {entity key: exemption}}``: what ``apply_exemptions`` looks up."""
    out: dict[str, dict[str, Exemption]] = {}
    for ex in exemptions:
        out.setdefault(ex.check_id, {})[entity_key(ex.entity_ref)] = ex
    return out


NOTICE_DAYS = 14  # an exemption expiring within this many days is announced (``--expiring-within``)
NOTICE_PREFIX = "the exemption of "


def is_notice(problem: Any) -> bool:
    """Whether a report problem is an exemption's expiry notice (expired, or expiring soon)."""
    return str(getattr(problem, "message", "")).startswith(NOTICE_PREFIX)


def notices(report: Any) -> list[str]:
    """The exemption notices of a report (``file:line:col: message``), for the table and Markdown reports."""
    return [str(p) for p in getattr(report, "problems", ()) if is_notice(p)]


def apply_exemptions(results: list[CheckResult], by_entity: Mapping[str, Exemption], now: datetime,
                     problems: Problems, notice_days: int = NOTICE_DAYS) -> list[CheckResult]:
    """One check's results with its active exemptions applied (a new list; the input is not changed).

    An expired exemption that would have applied, and an applied one expiring within ``notice_days``, are
    reported as warnings at their config entries."""
    if not by_entity:
        return results
    out = list(results)
    for i, result in enumerate(out):
        ex = by_entity.get(entity_key(result.entity_ref))
        if ex is None or result.state is CheckState.NOT_APPLICABLE:
            continue
        if ex.is_expired(now):
            problems.warning(
                f"the exemption of {ex.entity_ref} from check {ex.check_id!r} expired on "
                f"{describe_expiry(ex)} (reason: {ex.reason}); the check applies again ({result.state.value})",
                ex.location)
            continue
        if ex.expires is not None and ex.expires - now <= timedelta(days=notice_days):
            days = max(0, (ex.expires - now).days)
            problems.warning(
                f"the exemption of {ex.entity_ref} from check {ex.check_id!r} expires on {describe_expiry(ex)} "
                f"(in {days} day{'s' if days != 1 else ''}; reason: {ex.reason}): renew or revoke it", ex.location)
        out[i] = CheckResult(result.check_id, result.entity_ref, CheckState.EXEMPT, ex.reason)
    return out


def describe_expiry(ex: Exemption) -> str:
    """``2026-06-30`` for a date expiry (stored as the next midnight), else the UTC timestamp."""
    if ex.expires is None:
        return "never"
    when = ex.expires.astimezone(timezone.utc)
    if when.time() == time(0):
        return (when - timedelta(days=1)).date().isoformat()
    return when.isoformat().replace("+00:00", "Z")


def status(ex: Exemption, now: datetime, within: int = 30) -> str:
    """``active``, ``active (expires in N days)`` within ``within`` days of expiry, or ``expired``."""
    if ex.expires is None:
        return "active"
    if ex.is_expired(now):
        return "expired"
    left = ex.expires - now
    if left <= timedelta(days=within):
        days = max(0, left.days)
        return f"active (expires in {days} day{'s' if days != 1 else ''})"
    return "active"
