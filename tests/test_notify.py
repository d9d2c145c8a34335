"""Notifications to owners through the CLI: a Slack digest received by a webhook server on 127.0.0.1, a Teams
Adaptive Card, an email received by a local aiosmtpd server (plain with AUTH, and STARTTLS); only regressions and
level drops, routed per owner, at most maxMessages per run, secrets never printed."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from soundcheck_cli.cli.commands import run_cli

from aiosmtpd.controller import Controller  # the test extra installs aiosmtpd
from aiosmtpd.smtp import AuthResult

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
  annotations: {{slack.com/channel: '#team-a-alerts'}}
spec: {{type: team, profile: {{displayName: Team A, email: team-a@example.com}}}}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {{name: team-b}}
spec: {{type: team}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: a{a_desc}}}
spec: {{type: service, owner: team-a, lifecycle: production}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: b, description: fine}}
spec: {{type: service, owner: team-b, lifecycle: {b_life}}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: c, description: fine}}
spec: {{type: service, owner: team-a, lifecycle: production}}
"""

CONFIG = """\
catalog:
  locations: [{{type: file, target: ./catalog.yaml}}]
soundcheck:
  checks:
    - id: has_desc
      filter: {{kind: component}}
      rule: {{factRef: catalog:default/entity_descriptor, path: $.metadata.description, operator: matches, value: '\\S'}}
      failedMessage: '{{{{ entity.metadata.name }}}} has no description'
    - id: is_prod
      filter: {{kind: component}}
      rule: {{factRef: catalog:default/entity_descriptor, path: $.spec.lifecycle, operator: equal, value: production}}
  tracks:
    - id: hygiene
      filter: {{kind: component}}
      levels:
        - {{ordinal: 1, checks: [{{id: has_desc}}]}}
        - {{ordinal: 2, checks: [{{id: is_prod}}]}}
  events:
    enabled: true
    subscribers: false
    sinks:
{sinks}
"""


def write(root: Path, sinks: str, *, regress: bool = False) -> None:
    """``regress``: a loses its description (has_desc passed -> failed, level 2 -> none) and b leaves production
    (level 2 -> 1)."""
    (root / "catalog.yaml").write_text(CATALOG.format(a_desc="" if regress else ", description: fine",
                                                      b_life="experimental" if regress else "production"))
    (root / "app-config.yaml").write_text(CONFIG.format(sinks=sinks))


class Receiver:
    """A webhook server on 127.0.0.1 recording (path, JSON body) of each POST; answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.posts.append((self.path, json.loads(body)))
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def check(capsys, root: Path, monkeypatch, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    monkeypatch.chdir(root)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    code = run_cli(["check", "--store", "store"])
    out, err = capsys.readouterr()
    return code, out, err


def test_slack_digest_per_owner_only_changes(tmp_path, capsys, monkeypatch, receiver):
    secret_default = "T000/B000/DEFAULTsecret0123"
    secret_b = "T000/B111/TEAMBsecret4567"
    sinks = """\
      - type: slack
        url: ${SLACK_URL}
        owners: {team-b: "${SLACK_B}"}
"""
    env = {"SLACK_URL": f"{receiver.url}/services/{secret_default}", "SLACK_B": f"{receiver.url}/services/{secret_b}"}
    write(tmp_path, sinks)
    code, out, err = check(capsys, tmp_path, monkeypatch, env)
    assert code == 0 and receiver.posts == []  # the first run: everything is new, nothing regressed
    code, out, err = check(capsys, tmp_path, monkeypatch, env)
    assert receiver.posts == []  # nothing changed: nothing sent

    write(tmp_path, sinks, regress=True)
    code, out, err = check(capsys, tmp_path, monkeypatch, env)
    assert code == 1
    assert sorted(path for path, _ in receiver.posts) == sorted([f"/services/{secret_default}", f"/services/{secret_b}"])
    team_a = next(body for path, body in receiver.posts if secret_default in path)
    team_b = next(body for path, body in receiver.posts if secret_b in path)
    assert team_a["channel"] == "#team-a-alerts" and "channel" not in team_b
    assert team_a["text"] == "Soundcheck: 1 regression and 1 level drop for Team A"
    header, *sections, context = team_a["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Soundcheck: Team A"}}
    assert [s["type"] for s in sections] == ["section", "section"]
    assert sections[0]["text"]["type"] == "mrkdwn"
    assert sections[0]["text"]["text"] == ("*Regressions (1)*\n• `has_desc` on component:default/a: passed → failed: "
                                           "a has no description")
    assert sections[1]["text"]["text"] == "*Level drops (1)*\n• hygiene on component:default/a: level 2 → no level"
    assert context["type"] == "context" and "group:default/team-a" in context["elements"][0]["text"]
    assert team_b["text"] == "Soundcheck: 1 regression and 1 level drop for group:default/team-b"
    assert "component:default/c" not in json.dumps(receiver.posts)  # c did not change: never mentioned
    for secret in (secret_default, secret_b):
        assert secret not in out and secret not in err

    # a fourth identical run sends nothing more
    count = len(receiver.posts)
    check(capsys, tmp_path, monkeypatch, env)
    assert len(receiver.posts) == count


def test_max_messages_per_run_keeps_the_rest_for_the_next_run(tmp_path, capsys, monkeypatch, receiver):
    sinks = f"""\
      - type: slack
        url: {receiver.url}/hook/T1/B1/xyzsecretxyz
        maxMessages: 1
"""
    write(tmp_path, sinks)
    check(capsys, tmp_path, monkeypatch)
    write(tmp_path, sinks, regress=True)
    code, out, err = check(capsys, tmp_path, monkeypatch)
    assert len(receiver.posts) == 1
    assert "at most 1 per run (maxMessages); 1 kept for the next run" in err
    assert "xyzsecretxyz" not in err and "xyzsecretxyz" not in out
    check(capsys, tmp_path, monkeypatch)  # nothing new changed: the kept digest goes now
    assert len(receiver.posts) == 2
    owners = [body["blocks"][-1]["elements"][0]["text"] for _, body in receiver.posts]
    assert "team-a" in owners[0] and "team-b" in owners[1]
    check(capsys, tmp_path, monkeypatch)
    assert len(receiver.posts) == 2


def test_failing_webhook_warns_without_the_url_and_retries_next_run(tmp_path, capsys, monkeypatch, receiver):
    sinks = f"""\
      - type: teams
        url: {receiver.url}/webhookb2/SECRETteamsPATH
        retry: {{maxAttempts: 1}}
"""
    write(tmp_path, sinks)
    check(capsys, tmp_path, monkeypatch)
    receiver.status = 403
    write(tmp_path, sinks, regress=True)
    code, out, err = check(capsys, tmp_path, monkeypatch)
    assert code == 1  # the check's own verdict; the sink never changes it
    assert "POST ***: HTTP 403 Forbidden; 2 message(s) kept in the store" in err and "SECRETteamsPATH" not in err + out
    assert len(receiver.posts) == 1  # the first failure stops the sink for this run: the second is not tried
    receiver.status = 200
    check(capsys, tmp_path, monkeypatch)
    assert len(receiver.posts) == 3
    card = receiver.posts[-1][1]
    assert card["type"] == "message"
    content = card["attachments"][0]["content"]
    assert card["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    texts = [b["text"] for b in content["body"]]
    assert texts[0].startswith("Soundcheck: ")
    assert any("hygiene on component:default/" in t and "→" in t for t in texts)


class Mailbox:
    """aiosmtpd handler: records every message delivered to it."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.content.decode("utf-8", "replace")))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_email_digest_through_a_local_smtp_server(tmp_path, capsys, monkeypatch):
    mailbox = Mailbox()
    logins: list[tuple[str, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login.decode(), auth_data.password))
        return AuthResult(success=auth_data.password == b"smtp-pa55word")

    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        sinks = f"""\
      - type: email
        host: 127.0.0.1
        port: {port}
        security: none
        timeout: 5
        username: soundcheck
        password: ${{SMTP_PASSWORD}}
        from: soundcheck@example.com
        owners: {{team-b: b-oncall@example.com}}
"""
        env = {"SMTP_PASSWORD": "smtp-pa55word"}
        write(tmp_path, sinks)
        check(capsys, tmp_path, monkeypatch, env)
        assert mailbox.messages == []
        write(tmp_path, sinks, regress=True)
        code, out, err = check(capsys, tmp_path, monkeypatch, env)
        assert code == 1 and "smtp-pa55word" not in out + err
        assert logins and logins[0] == ("soundcheck", b"smtp-pa55word")
        by_rcpt = {tuple(rcpts): (sender, content) for sender, rcpts, content in mailbox.messages}
        assert set(by_rcpt) == {("team-a@example.com",), ("b-oncall@example.com",)}  # profile.email; the mapping
        sender, content = by_rcpt[("team-a@example.com",)]
        assert sender == "soundcheck@example.com"
        message = email.message_from_string(content, policy=email.policy.default)
        assert message["Subject"] == "[soundcheck] Soundcheck: 1 regression and 1 level drop for Team A"
        assert message["To"] == "team-a@example.com" and message["From"] == "soundcheck@example.com"
        body = message.get_content().replace("\r\n", "\n")
        assert body.startswith("Soundcheck: 1 regression and 1 level drop for Team A.\n\nRegressions (1):\n"
                               "  - has_desc on component:default/a: passed → failed: a has no description\n\n"
                               "Level drops (1):\n  - hygiene on component:default/a: level 2 → no level\n")
        assert "component:default/c" not in body

        # the server goes away: a warning naming it, never the password; the digests wait for the next run
        controller.stop()
        write(tmp_path, sinks)  # all fixed: nothing regressed, nothing to send
        check(capsys, tmp_path, monkeypatch, env)
        write(tmp_path, sinks, regress=True)
        code, out, err = check(capsys, tmp_path, monkeypatch, env)
        assert f"cannot send mail through 127.0.0.1:{port}: Connection refused; 2 message(s) kept" in err
        assert "smtp-pa55word" not in out + err and len(mailbox.messages) == 2
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                                auth_require_tls=False)
        controller.start()
        check(capsys, tmp_path, monkeypatch, env)  # nothing new: the two kept digests are sent now
        assert len(mailbox.messages) == 4
    finally:
        controller.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls(tmp_path, capsys, monkeypatch, security):
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    mailbox = Mailbox()
    port = free_port()
    if security == "starttls":
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    else:  # implicit TLS from the first byte (SMTPS)
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        sinks = f"""\
      - type: email
        host: 127.0.0.1
        port: {port}
        security: {security}
        caFile: cert.pem
        from: soundcheck@example.com
"""
        write(tmp_path, sinks)
        check(capsys, tmp_path, monkeypatch)
        write(tmp_path, sinks, regress=True)
        code, out, err = check(capsys, tmp_path, monkeypatch)
        # team-a has a profile email; team-b has none and the sink no 'to': dropped with a warning
        assert [rcpts for _, rcpts, _ in mailbox.messages] == [["team-a@example.com"]]
        assert "no destination for the digest of group:default/team-b" in err

        # without caFile the self-signed certificate is not trusted: nothing is sent, the digest waits
        untrusted = sinks.replace("        caFile: cert.pem\n", "")
        write(tmp_path, untrusted)
        check(capsys, tmp_path, monkeypatch)
        write(tmp_path, untrusted, regress=True)
        code, out, err = check(capsys, tmp_path, monkeypatch)
        assert f"cannot send mail through 127.0.0.1:{port}:" in err and "CERTIFICATE_VERIFY_FAILED" in err
        assert len(mailbox.messages) == 1
    finally:
        controller.stop()


def test_notification_sink_config_errors(tmp_path, capsys, monkeypatch):
    for sinks, message in (("      - {type: slack}\n", "'url' (the incoming webhook) or 'owners'"),
                           ("      - {type: email, host: h}\n", "'from' is required"),
                           ("      - {type: email, host: h, from: a@b, security: tls}\n", "'security' must be one of"),
                           ("      - {type: teams, url: 'https://x.example/h', card: hero}\n", "'card' must be one of"),
                           ("      - {type: slack, url: 'https://x.example/h', maxMessages: 0}\n",
                            "'maxMessages' must be a whole number from 1 to 1000")):
        write(tmp_path, sinks)
        code, out, err = check(capsys, tmp_path, monkeypatch)
        assert code == 2 and message in err and "app-config.yaml:" in err, (sinks, err)


def test_teams_messagecard(tmp_path, capsys, monkeypatch, receiver):
    sinks = f"""\
      - type: teams
        url: {receiver.url}/webhookb2/abc
        card: messagecard
        topics: [soundcheck-certification-change]
"""
    write(tmp_path, sinks)
    check(capsys, tmp_path, monkeypatch)
    write(tmp_path, sinks, regress=True)
    check(capsys, tmp_path, monkeypatch)
    cards = sorted((body for _, body in receiver.posts), key=lambda b: b["title"])
    assert [c["title"] for c in cards] == ["Soundcheck: Team A", "Soundcheck: group:default/team-b"]
    card = cards[0]
    assert card["@type"] == "MessageCard" and card["@context"] == "https://schema.org/extensions"
    assert card["summary"] == "Soundcheck: 1 level drop for Team A"  # level changes only (topics)
    assert card["sections"][0] == {"activityTitle": "Level drops (1)",
                                   "text": "- hygiene on component:default/a: level 2 → no level"}
