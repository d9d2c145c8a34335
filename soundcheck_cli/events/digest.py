"""Digests for owners: what one run made worse for each owning team, and how it reads in Slack, Teams and email.

Only changes, never the whole state (``history.changes`` against the last recorded state):

- a **regression** is a check result that was passing before (any state but ``failed``, ``not-reported`` and
  ``error``) and is failing now; a result seen for the first time is not one (a first run would flood every team);
- a **level drop** is an entity whose highest certified level of a track went down (``level 2 -> level 1``, or to
  no level).

Each is routed to the owner of its entity (``spec.owner``; the kind defaults to ``group``), read from the catalog
as loaded for the run. A digest is stored in a sink's outbox as JSON (``to_json``) until delivered: it holds no
destination (webhook URLs are secrets; they are resolved when sending), only the owner and the changes.

Rendered messages are bounded: at most ``MAX_ITEMS`` lines per section (the rest counted as "and N more"), and
each text within what the platform takes (a Slack section holds 3,000 characters, a header 150).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.catalog.model import Entity, EntityRef
from soundcheck_cli.events.model import CERTIFICATION_CHANGE_TOPIC, CHECK_STATUS_CHANGE_TOPIC
from soundcheck_cli.history.changes import FAILING

MAX_ITEMS = 20
SLACK_CHANNEL_ANNOTATION = "slack.com/channel"
NO_OWNER = "(no owner)"


@dataclass
class Digest:
    owner: str  # the owner's entity ref (``group:default/team-a``), or NO_OWNER
    title: str  # the owner's display name
    run_at: str  # the run's time (ISO-8601)
    regressions: list[list[Any]] = field(default_factory=list)  # [check id, entity ref, previous, current, message]
    drops: list[list[Any]] = field(default_factory=list)  # [track id, entity ref, previous level, current level]
    email: str | None = None  # the owner's spec.profile.email in the catalog
    channel: str | None = None  # the owner's slack.com/channel annotation

    def to_json(self) -> dict[str, Any]:
        return {"owner": self.owner, "title": self.title, "runAt": self.run_at, "regressions": self.regressions,
                "drops": self.drops, "email": self.email, "channel": self.channel}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Digest:
        return cls(doc["owner"], doc.get("title") or doc["owner"], doc.get("runAt") or "",
                   list(doc.get("regressions") or []), list(doc.get("drops") or []), doc.get("email"),
                   doc.get("channel"))

    @property
    def summary(self) -> str:
        parts = []
        if self.regressions:
            parts.append(_count(len(self.regressions), "regression"))
        if self.drops:
            parts.append(_count(len(self.drops), "level drop"))
        return f"{' and '.join(parts)} for {self.title}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _level(ordinal: int | None) -> str:
    return "no level" if ordinal is None else f"level {ordinal}"


def build(changes: Any, check_results: Iterable[Any], catalog: Sequence[Entity], run_at: str, *,
          checks: bool = True, levels: bool = True) -> list[Digest]:
    """One digest per owner with at least one regression or level drop, in owner order. ``checks``/``levels``:
    whether the sink takes check changes (``soundcheck-check-status-change``) and level changes
    (``soundcheck-certification-change``)."""
    regressions = [c for c in changes.checks if checks and c.previous is not None and c.previous not in FAILING
                   and c.current in FAILING]
    drops = [h for h in changes.highest if levels and not h.first
             and (-1 if h.current is None else h.current) < (-1 if h.previous is None else h.previous)]
    if not regressions and not drops:
        return []
    by_key = {e.ref.key: e for e in catalog}
    wanted = {(c.check_id, c.entity_ref.lower()) for c in regressions}
    messages = {}
    if wanted:
        for r in check_results:
            key = (r.check_id, r.entity_ref.lower())
            if key in wanted and r.message:
                messages[key] = r.message
    digests: dict[str, Digest] = {}

    def digest_for(entity_ref: str) -> Digest:
        entity = by_key.get(entity_ref.strip().lower())
        owner = NO_OWNER
        if entity is not None and isinstance(entity.spec.get("owner"), str):
            try:
                owner = str(EntityRef.parse(entity.spec["owner"], default_kind="group",
                                            default_namespace=entity.namespace))
            except ValueError:
                owner = NO_OWNER
        found = digests.get(owner.lower())
        if found is None:
            owner_entity = by_key.get(owner.lower())
            title, email, channel = owner, None, None
            if owner_entity is not None:
                profile = owner_entity.spec.get("profile")
                profile = profile if isinstance(profile, dict) else {}
                shown = profile.get("displayName") or owner_entity.metadata.get("title")
                title = shown if isinstance(shown, str) and shown.strip() else owner
                email = profile.get("email") if isinstance(profile.get("email"), str) else None
                annotated = owner_entity.annotations.get(SLACK_CHANNEL_ANNOTATION)
                channel = annotated if isinstance(annotated, str) and annotated.strip() else None
            found = digests[owner.lower()] = Digest(owner, title, run_at, email=email, channel=channel)
        return found

    for c in regressions:
        digest_for(c.entity_ref).regressions.append(
            [c.check_id, c.entity_ref, c.previous, c.current, messages.get((c.check_id, c.entity_ref.lower()), "")])
    for h in drops:
        digest_for(h.entity_ref).drops.append([h.track_id, h.entity_ref, h.previous, h.current])
    return [digests[k] for k in sorted(digests, key=lambda k: (k == NO_OWNER.lower(), k))]


def wanted_topics(sink: Any) -> tuple[bool, bool]:
    return sink.wants(CHECK_STATUS_CHANGE_TOPIC), sink.wants(CERTIFICATION_CHANGE_TOPIC)


# --- rendering ---------------------------------------------------------------------------------------------------
def _lines(items: list[str]) -> list[str]:
    if len(items) <= MAX_ITEMS:
        return items
    return items[:MAX_ITEMS] + [f"... and {len(items) - MAX_ITEMS} more"]


def regression_lines(d: Digest, code: str = "") -> list[str]:
    out = []
    for check_id, entity_ref, previous, current, message in d.regressions:
        note = f": {message}" if message else ""
        out.append(f"{code}{check_id}{code} on {entity_ref}: {previous} → {current}{note}")
    return _lines(out)


def drop_lines(d: Digest) -> list[str]:
    return _lines([f"{track} on {entity_ref}: {_level(previous)} → {_level(current)}"
                   for track, entity_ref, previous, current in d.drops])


def footer(d: Digest) -> str:
    return f"Soundcheck run at {d.run_at}: changes since the previous run, owner {d.owner}."


def _slack_escape(text: str) -> str:
    # Slack reads &, < and > as markup (<!channel> notifies everyone): data is escaped before it goes in.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(d: Digest) -> dict[str, Any]:
    """Slack incoming-webhook message: ``text`` (the notification's fallback) and Block Kit ``blocks`` (a header,
    one mrkdwn section per kind of change, a context line). ``channel`` from the owner's ``slack.com/channel``
    annotation, for webhooks that honour it."""
    e = _slack_escape
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(f"Soundcheck: {d.title}", 150)}}]
    for heading, lines in ((f"Regressions ({len(d.regressions)})", regression_lines(d, "`")),
                           (f"Level drops ({len(d.drops)})", drop_lines(d))):
        if lines:
            body = f"*{e(heading)}*\n" + "\n".join(f"• {e(line)}" for line in lines)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, 2900)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(e(footer(d)), 2900)}]})
    payload: dict[str, Any] = {"text": _cut(f"Soundcheck: {d.summary}", 3000), "blocks": blocks}
    if d.channel:
        payload["channel"] = d.channel
    return payload


def teams_payload(d: Digest, card: str = "adaptive") -> dict[str, Any]:
    """A Teams incoming-webhook message: an Adaptive Card (what Workflows webhooks take) or, with ``card:
    messagecard``, a legacy MessageCard (Office 365 connectors)."""
    sections = [(f"Regressions ({len(d.regressions)})", regression_lines(d)),
                (f"Level drops ({len(d.drops)})", drop_lines(d))]
    if card == "messagecard":
        return {"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": f"Soundcheck: {d.summary}",
                "themeColor": "D70000", "title": f"Soundcheck: {d.title}",
                "sections": [{"activityTitle": heading, "text": "\n\n".join(f"- {line}" for line in lines)}
                             for heading, lines in sections if lines] + [{"text": footer(d)}]}
    body: list[dict[str, Any]] = [{"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True,
                                   "text": f"Soundcheck: {d.title}"}]
    for heading, lines in sections:
        if lines:
            body.append({"type": "TextBlock", "weight": "Bolder", "wrap": True, "text": heading})
            body.append({"type": "TextBlock", "wrap": True, "text": "\n".join(f"- {line}" for line in lines)})
    body.append({"type": "TextBlock", "isSubtle": True, "size": "Small", "wrap": True, "text": footer(d)})
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.4", "body": body}}]}


def email_text(d: Digest) -> tuple[str, str]:
    """(subject, plain-text body)."""
    out = [f"Soundcheck: {d.summary}.", ""]
    for heading, lines in ((f"Regressions ({len(d.regressions)}):", regression_lines(d)),
                           (f"Level drops ({len(d.drops)}):", drop_lines(d))):
        if lines:
            out.append(heading)
            out += [f"  - {line}" for line in lines]
            out.append("")
    out.append(footer(d))
    return f"Soundcheck: {d.summary}", "\n".join(out) + "\n"
