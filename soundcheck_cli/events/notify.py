"""Notifications to owners: the ``slack``, ``teams`` and ``email`` sinks of ``soundcheck.events.sinks``.

After each recorded ``check`` run, every such sink gets one digest per owning team of what the run made worse
(``events.digest``: regressions and level drops since the last run; nothing when nothing got worse), routed by
owner:

- ``slack``/``teams``: the webhook URL of the owner in the sink's ``owners`` mapping, else the sink's ``url``;
  for Slack the owner Group's ``slack.com/channel`` annotation is sent as ``channel``;
- ``email``: the address of the owner in ``owners``, else the owner Group's (or User's) ``spec.profile.email``,
  else the sink's ``to``. A digest with no destination is dropped with a warning (it can never be delivered).

Rate limit: at most ``maxMessages`` (default 10) messages per sink per run; the rest wait in the sink's outbox (the
store's meta area, as for the webhook sink) and go first on the next run, with a warning saying how many. A message
that cannot be sent (the webhook fails after the HTTP client's retries, the SMTP server cannot be reached) stops
the sink for this run and keeps it and the rest for the next run (the outbox is written before sending, so a
run killed mid-delivery re-sends rather than loses): a dead host is not hammered (the HTTP client's
per-host circuit breaker applies too), and a failing sink never fails the run. The outbox holds at most
``MAX_PENDING`` digests (oldest dropped, with a warning).

Secrets: webhook URLs and the SMTP password are registered with the process redactor when the config is read
(``events.config``); every warning here goes through it, and the digests' texts are masked before sending.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from soundcheck_cli.errors import Problems
from soundcheck_cli.events.config import NOTIFY_TYPES, EventsSettings, SinkSettings, owner_key
from soundcheck_cli.events.digest import Digest, build, email_text, slack_payload, teams_payload, wanted_topics
from soundcheck_cli.facts.interface import FactStore
from soundcheck_cli.history.codec import store_packed, unpack

MAX_PENDING = 1000


@dataclass
class NotifySummary:
    sent: dict[str, int] = field(default_factory=dict)  # sink id -> messages sent this run
    pending: dict[str, int] = field(default_factory=dict)  # sink id -> digests kept for the next run
    dropped: dict[str, int] = field(default_factory=dict)  # sink id -> digests with no destination


def notify_sinks(settings: EventsSettings) -> list[SinkSettings]:
    return [s for s in settings.sinks if s.type in NOTIFY_TYPES]


def _load(store: FactStore, key: str) -> list[Digest]:
    return [Digest.from_json(d) for d in (unpack(store.get_meta(key)) or [])]


def _save(store: FactStore, key: str, digests: Sequence[Digest]) -> None:
    store_packed(store, key, [d.to_json() for d in digests])


def destination(sink: SinkSettings, digest: Digest) -> str | None:
    """Where one digest goes for this sink (a webhook URL or an email address), or None."""
    owners = dict(sink.owners)
    mapped = owners.get(owner_key(digest.owner)) if digest.owner else None
    if mapped:
        return mapped
    if sink.type == "email":
        return digest.email or sink.to
    return sink.url


def notify(store: FactStore, settings: EventsSettings, changes: Any, check_results: Any, catalog: Sequence[Any],
           run_at: str, problems: Problems, *, http_options: Any = None) -> NotifySummary:
    summary = NotifySummary()
    for sink in notify_sinks(settings):
        checks, levels = wanted_topics(sink)
        new = build(changes, check_results, catalog, run_at, checks=checks, levels=levels)
        key = sink.pending_key
        pending = _load(store, key)
        queue = pending + new
        if not queue:
            continue
        routed: list[tuple[Digest, str]] = []
        for digest in queue:
            target = destination(sink, digest)
            if target is None:
                summary.dropped[sink.id] = summary.dropped.get(sink.id, 0) + 1
                where = "an email address (owners, spec.profile.email or to)" if sink.type == "email" else \
                    "a webhook (owners or url)"
                problems.warning(f"event sink {sink.id}: no destination for the digest of {digest.owner}: give it "
                                 f"{where}; dropped", sink.location)
                continue
            routed.append((digest, target))
        batch, later = routed[:sink.max_messages], [d for d, _ in routed[sink.max_messages:]]
        if new:  # written before sending: a run killed mid-delivery re-sends rather than loses (at-least-once)
            _save(store, key, [d for d, _ in routed][-MAX_PENDING:])
        sent, error = _deliver(sink, batch, http_options, problems)
        left = [d for d, _ in batch[sent:]] + later
        if later:
            problems.warning(f"event sink {sink.id}: {len(routed)} digest(s) to send, at most {sink.max_messages} "
                             f"per run (maxMessages); {len(later)} kept for the next run", sink.location)
        if error:
            problems.warning(f"event sink {sink.id}: {error}; {len(batch) - sent} message(s) kept in the store, "
                             "retried on the next run", sink.location)
        if len(left) > MAX_PENDING:
            problems.warning(f"event sink {sink.id}: {len(left) - MAX_PENDING} undelivered digest(s) dropped, "
                             f"oldest first (at most {MAX_PENDING} kept)", sink.location)
            left = left[-MAX_PENDING:]
        _save(store, key, left)
        summary.sent[sink.id] = sent
        summary.pending[sink.id] = len(left)
    return summary


def _deliver(sink: SinkSettings, batch: list[tuple[Digest, str]], http_options: Any,
             problems: Problems) -> tuple[int, str | None]:
    """Send in order; (how many were sent, why the rest were not)."""
    if not batch:
        return 0, None
    from soundcheck_cli.redact import GLOBAL

    if sink.type == "email":
        sent, error = _send_email(sink, batch, problems)
    else:
        sent, error = asyncio.run(_post_all(sink, batch, http_options))
    return sent, GLOBAL.redact(error) if error else None


def _masked(payload: Any) -> Any:
    """The payload with every known secret masked in its texts (a failure message may quote one)."""
    import json

    from soundcheck_cli.redact import GLOBAL

    text = json.dumps(payload, ensure_ascii=False)
    masked = GLOBAL.redact_known(text)
    return payload if masked == text else json.loads(masked)


async def _post_all(sink: SinkSettings, batch: list[tuple[Digest, str]], http_options: Any) -> tuple[int, str | None]:
    from soundcheck_cli.http.client import HttpClient, HttpError, HttpOptions
    from soundcheck_cli.redact import GLOBAL

    options = http_options if isinstance(http_options, HttpOptions) else HttpOptions(redactor=GLOBAL)
    sent = 0
    async with HttpClient(sink.client, options, headers={"Content-Type": "application/json"}, name=sink.id) as client:
        for digest, url in batch:  # one at a time, in order: a failure stops the sink for this run
            payload = slack_payload(digest) if sink.type == "slack" else teams_payload(digest, sink.card)
            try:
                await client.request("POST", url, json=_masked(payload))
            except HttpError as exc:  # HostUnavailable included: the breaker is open
                return sent, str(exc)
            sent += 1
    return sent, None


def _connect(sink: SinkSettings) -> smtplib.SMTP:
    smtp = sink.smtp
    assert smtp is not None
    context = ssl.create_default_context(cafile=smtp.ca_file)
    if smtp.security == "ssl":
        connection: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        connection = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        if smtp.security == "starttls":
            connection.starttls(context=context)
    if smtp.username:
        connection.login(smtp.username, smtp.password or "")
    return connection


def _send_email(sink: SinkSettings, batch: list[tuple[Digest, str]], problems: Problems) -> tuple[int, str | None]:
    from soundcheck_cli.redact import GLOBAL

    smtp = sink.smtp
    assert smtp is not None
    where = f"{smtp.host}:{smtp.port}"
    try:
        connection = _connect(sink)
    except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, TLS or login failure: stop for this run
        return 0, f"cannot send mail through {where}: {_smtp_reason(exc)}"
    sent = 0
    try:
        for digest, address in batch:
            subject, body = email_text(digest)
            message = EmailMessage()
            message["Subject"] = f"{smtp.subject_prefix} {GLOBAL.redact_known(subject)}".strip()
            message["From"] = smtp.sender
            message["To"] = address
            message["Date"] = formatdate(localtime=False)
            message["Message-ID"] = make_msgid(domain="soundcheck")
            message.set_content(GLOBAL.redact_known(body))
            try:
                connection.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:  # this address only: it would never be delivered
                problems.warning(f"event sink {sink.id}: {address} refused by {where} "
                                 f"({_smtp_reason(exc)}); the digest of {digest.owner} is dropped", sink.location)
            sent += 1
    except (OSError, smtplib.SMTPException) as exc:
        return sent, f"sending mail through {where} failed: {_smtp_reason(exc)}"
    finally:
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return sent, None


def _smtp_reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
                         for code, msg in exc.recipients.values())
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
