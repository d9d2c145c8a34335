"""Change events: exactly once per change across runs, previousState absent the first time, sinks (jsonl, webhook
with its outbox, stdout) and Python subscribers; a failing webhook never changes the run's exit code."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest

from soundcheck_cli import app as core
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.errors import ConfigError, Problems
from soundcheck_cli.events.model import CERTIFICATION_CHANGE_TOPIC, CHECK_STATUS_CHANGE_TOPIC, timestamp_ms
from soundcheck_cli.events.subscribers import EventBus, load_subscribers
from workspaces import hygiene_config, two_components

JSONL = """\
  events:
    enabled: true
    subscribers: false
    sinks:
      - {type: jsonl, path: out/events.jsonl}
"""


def setup(tmp_path: Path, events: str = JSONL, b_owner: bool = False, environ: dict | None = None) -> core.CommonOptions:
    (tmp_path / "catalog.yaml").write_text(two_components(", owner: team-b" if b_owner else ""))
    (tmp_path / "app-config.yaml").write_text(hygiene_config() + events)
    return core.CommonOptions(config_paths=("app-config.yaml",), store_path=str(tmp_path / "store"),
                              cwd=str(tmp_path), environ=environ or {})


def run_once(options: core.CommonOptions, **kwargs):
    ws = core.load_workspace(options)
    report = core.check(ws, core.CheckOptions())
    return report, core.record_run(ws, report, **kwargs)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_events_once_per_change_across_runs(tmp_path):
    options = setup(tmp_path)
    out = tmp_path / "out" / "events.jsonl"
    report, outcome = run_once(options)
    first = lines(out)
    # first run: every result and level is new, and previousState is absent (not null)
    checks = [e for e in first if e["topic"] == CHECK_STATUS_CHANGE_TOPIC]
    certs = [e for e in first if e["topic"] == CERTIFICATION_CHANGE_TOPIC]
    assert len(checks) == 4 and len(certs) == 4 and outcome.events == 8
    assert all("previousState" not in e["eventPayload"] for e in first)
    owner_b = next(e["eventPayload"] for e in checks
                   if e["eventPayload"]["checkId"] == "has_owner" and e["eventPayload"]["entityRef"].endswith("/b"))
    assert owner_b == {"checkId": "has_owner", "entityRef": "component:default/b", "state": "failed",
                       "timestampMs": timestamp_ms(report.generated_at), "scope": "default"}
    assert list(owner_b) == ["checkId", "entityRef", "state", "timestampMs", "scope"]
    level2_a = next(e["eventPayload"] for e in certs
                    if e["eventPayload"]["entityRef"].endswith("/a") and e["eventPayload"]["levelOrdinal"] == 2)
    assert level2_a["trackId"] == "hygiene" and level2_a["state"] == "passed" and level2_a["cumulativeState"] == "passed"
    assert list(level2_a) == ["trackId", "entityRef", "state", "cumulativeState", "levelOrdinal", "timestampMs", "scope"]

    # second run, nothing changed: no event
    _, outcome = run_once(options)
    assert outcome.events == 0 and len(lines(out)) == 8

    # b gets an owner: one check event and one certification event (level 1), each with previousState
    setup(tmp_path, b_owner=True)
    _, outcome = run_once(options)
    new = lines(out)[8:]
    assert outcome.events == 2 and len(new) == 2
    check_event = next(e["eventPayload"] for e in new if e["topic"] == CHECK_STATUS_CHANGE_TOPIC)
    assert (check_event["checkId"], check_event["state"], check_event["previousState"]) == ("has_owner", "passed", "failed")
    cert_event = next(e["eventPayload"] for e in new if e["topic"] == CERTIFICATION_CHANGE_TOPIC)
    assert (cert_event["levelOrdinal"], cert_event["state"], cert_event["cumulativeState"],
            cert_event["previousState"]) == (1, "passed", "passed", "failed")

    # and a third identical run emits nothing again
    _, outcome = run_once(options)
    assert outcome.events == 0 and len(lines(out)) == 10


def test_events_disabled_emit_nothing_but_state_is_kept(tmp_path):
    options = setup(tmp_path, JSONL.replace("enabled: true", "enabled: false"))
    _, outcome = run_once(options)
    assert outcome.publish is None and not (tmp_path / "out" / "events.jsonl").exists()
    # enabling later: only changes against the recorded state are emitted (none)
    setup(tmp_path)
    _, outcome = run_once(options)
    assert outcome.events == 0


WEBHOOK = """\
  events:
    enabled: true
    subscribers: false
    sinks:
      - type: webhook
        url: https://hooks.example.com/soundcheck
        headers: {Authorization: "Bearer ${HOOK_TOKEN}"}
        retry: {maxAttempts: 2}
"""


def _options(handler) -> HttpOptions:
    async def no_sleep(_: float) -> None:
        return None

    return HttpOptions(transport=httpx.MockTransport(handler), sleep=no_sleep)


def test_failing_webhook_keeps_events_and_retries_next_run(tmp_path):
    options = setup(tmp_path, WEBHOOK, environ={"HOOK_TOKEN": "s3cret"})
    attempts: list[httpx.Request] = []

    def down(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(503)

    _, outcome = run_once(options, http_options=_options(down))
    assert outcome.events == 8
    assert outcome.publish.pending == {"webhook:https://hooks.example.com/soundcheck": 8}
    warning = next(str(p) for p in outcome.warnings if "kept in the store" in p.message)
    assert "8 event(s)" in warning and "app-config.yaml:" in warning and "s3cret" not in warning
    assert len(attempts) == 2  # one request, retried once, then no more requests this run

    received: list[dict] = []

    def up(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer s3cret"
        received.append(json.loads(request.content))
        return httpx.Response(204)

    setup(tmp_path, WEBHOOK, b_owner=True)  # one more change in the meantime
    _, outcome = run_once(options, http_options=_options(up))
    assert outcome.events == 2
    assert len(received) == 10 and outcome.publish.pending == {"webhook:https://hooks.example.com/soundcheck": 0}
    assert sum(1 for e in received if "previousState" in e["eventPayload"]) == 2
    assert all(set(e) == {"topic", "eventPayload"} for e in received)

    _, outcome = run_once(options, http_options=_options(up))  # outbox empty, nothing new: nothing sent
    assert len(received) == 10


class _Failing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_webhook_failure_does_not_change_the_exit_code(tmp_path, capsys):
    server = HTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        events = f"""\
  events:
    enabled: true
    subscribers: false
    sinks:
      - {{type: webhook, url: "http://127.0.0.1:{server.server_port}/hook", retry: {{maxAttempts: 1}}}}
"""
        setup(tmp_path, events, b_owner=True)
        argv = ["check", "-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store"), "-f", "json"]
        # b has an owner but no description: it fails level 2, so exit 1 with or without the webhook
        assert run_cli(argv) == 1
        err = capsys.readouterr().err
        assert "kept in the store, retried on the next run" in err
        # the gate passes: the webhook failure does not change it
        assert run_cli([*argv, "--fail-on", "never", "--min-level", "hygiene=1"]) == 0
        capsys.readouterr()
    finally:
        server.shutdown()
        server.server_close()


def test_stdout_sink_writes_json_lines_through_the_writer(tmp_path):
    options = setup(tmp_path, """\
  events:
    enabled: true
    subscribers: false
    sinks:
      - {type: stdout, stream: stderr, topics: [soundcheck-certification-change]}
""")
    written: list[tuple[str, str]] = []
    run_once(options, out=lambda stream, text: written.append((stream, text)))
    assert [s for s, _ in written] == ["stderr"]
    events = [json.loads(line) for line in written[0][1].splitlines()]
    assert len(events) == 4 and {e["topic"] for e in events} == {CERTIFICATION_CHANGE_TOPIC}


def test_subscribers_from_entry_points(tmp_path):
    seen: list[dict] = []

    def register(events):  # the seed's events.subscribe({id, topics, onEvent})
        events.subscribe({"id": "test-sub", "topics": [CHECK_STATUS_CHANGE_TOPIC], "onEvent": seen.append})

    def broken(_params):
        raise RuntimeError("boom")

    class EP:
        def __init__(self, name, target):
            self.name, self.value, self.target = name, f"pkg:{name}", target

        def load(self):
            if isinstance(self.target, Exception):
                raise self.target
            return self.target

    bus = EventBus()
    problems = Problems()
    loaded = load_subscribers(bus, problems, [
        EP("register", register),
        EP("direct", {"topics": [CERTIFICATION_CHANGE_TOPIC], "onEvent": broken}),
        EP("missing", ImportError("no module named x")),
    ])
    assert loaded == 2 and "could not be loaded" in problems.warnings[0].message
    options = setup(tmp_path)
    _, outcome = run_once(options, bus=bus)
    assert len(seen) == 4 and all(e["topic"] == CHECK_STATUS_CHANGE_TOPIC for e in seen)
    assert any("subscriber 'direct' failed" in p.message for p in outcome.warnings)


def test_bad_events_config_is_located(tmp_path):
    options = setup(tmp_path, """\
  events:
    enabled: yes please
    sinks:
      - {type: kafka}
      - {type: webhook, url: ftp://x}
      - {type: jsonl}
""")
    with pytest.raises(ConfigError) as info:
        core.load_workspace(options)
    text = str(info.value)
    assert "'enabled' must be true or false" in text
    assert "'type' is 'kafka'; choose one of jsonl, webhook, stdout" in text
    assert "'url' must be an http(s) URL" in text and "'path' is required" in text
    assert all(line.split(":")[0].endswith("app-config.yaml") for line in text.splitlines())
