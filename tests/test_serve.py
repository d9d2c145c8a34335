"""``soundcheck serve``: Soundcheck's REST API subset over the store, in process (Starlette's TestClient, the ASGI app
itself) and over a real uvicorn server on 127.0.0.1 started by the CLI in a subprocess.

Every response is validated against the shapes of Soundcheck's OpenAPI reference (``serve_openapi``)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.testclient import TestClient  # noqa: E402

import serve_openapi as oas  # noqa: E402
from soundcheck_cli import app as core  # noqa: E402
from soundcheck_cli.app import serve as serve_app  # noqa: E402
from soundcheck_cli.cli.commands import run_cli  # noqa: E402
from soundcheck_cli.facts.locate import open_any  # noqa: E402
from soundcheck_cli.facts.model import FactRef  # noqa: E402
from soundcheck_cli.serve.app import ServeContext, create_app  # noqa: E402
from workspaces import hygiene_config, two_components  # noqa: E402

TOKEN = "s3cr3t-serve-token-0123456789abcdef"
API = "/api/soundcheck"
# A check that reads a pushed fact (custom:default/tests): POST /facts then `soundcheck check` must see it.
PUSHED_CHECK = """\
    - id: tests_pass
      rule: {factRef: custom:default/tests, path: $.passed, operator: equal, value: true}
"""


def workspace(tmp_path: Path, serve: str = f"  serve: {{token: {TOKEN}}}\n") -> list[str]:
    (tmp_path / "catalog.yaml").write_text(two_components())
    config = hygiene_config().replace("  tracks:\n", PUSHED_CHECK + "  tracks:\n") + serve
    (tmp_path / "app-config.yaml").write_text(config)
    return ["-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store")]


def options(tmp_path: Path, environ: dict[str, str] | None = None) -> core.CommonOptions:
    return core.CommonOptions(config_paths=("app-config.yaml",), store_path=str(tmp_path / "store"),
                              cwd=str(tmp_path), environ=environ or {})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    base = workspace(tmp_path)
    assert run_cli(["check", *base]) == 1  # b fails has_owner/has_desc, tests_pass has no fact yet: recorded
    plan = serve_app.plan(options(tmp_path), None)
    with open_any(plan.store_spec) as store:
        app = create_app(ServeContext(plan.settings, store, plan.token, plan.max_body, None))
        with TestClient(app, base_url="http://127.0.0.1") as test_client:
            yield test_client


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- reads -----------------------------------------------------------------------------------------------------


def test_checks_and_tracks_have_soundchecks_shapes(client):
    checks = oas.validate(client.get(f"{API}/checks").json(), oas.CHECKS_RESPONSE)
    assert [c["id"] for c in checks["checks"]] == ["has_owner", "has_desc", "tests_pass"]
    assert oas.validate(client.get(f"{API}/checks/has_owner").json(), oas.CHECK_RESPONSE)["check"]["id"] == "has_owner"
    tracks = oas.validate(client.get(f"{API}/tracks").json(), oas.TRACKS_RESPONSE)["tracks"]
    assert [(lv["ordinal"], [c["id"] for c in lv["checks"]]) for lv in tracks[0]["levels"]] == [
        (1, ["has_owner"]), (2, ["has_desc"])]
    assert oas.validate(client.get(f"{API}/tracks/hygiene").json(), oas.TRACK_RESPONSE)["track"]["id"] == "hygiene"
    missing = client.get(f"{API}/checks/nope")
    assert missing.status_code == 404
    assert "no check 'nope'" in oas.validate(missing.json(), oas.ERROR)["error"]["message"]


def test_results_of_the_latest_run(client):
    doc = oas.validate(client.get(f"{API}/results", params={"entityRef": "component:default/b"}).json(),
                       oas.RESULTS_RESPONSE)
    states = {r["checkId"]: r["state"] for r in doc["results"]}
    assert states == {"has_owner": "failed", "has_desc": "failed", "tests_pass": "not-reported"}  # no fact pushed yet
    owner = next(r for r in doc["results"] if r["checkId"] == "has_owner")
    assert "spec.owner" in owner["details"]["message"] and owner["lastChecked"].endswith("Z")
    # ?checks= narrows (repeatable, as Soundcheck's form/explode parameter); the kind defaults to component
    narrowed = client.get(f"{API}/results", params=[("entityRef", "b"), ("checks", "has_desc")]).json()
    assert [r["checkId"] for r in narrowed["results"]] == ["has_desc"]


def test_results_need_an_entity_ref(client):
    response = client.get(f"{API}/results")
    assert response.status_code == 400
    assert "'entityRef' is required" in oas.validate(response.json(), oas.ERROR)["error"]["message"]


def test_check_status_and_certifications(client):
    status = oas.validate(client.get(f"{API}/checks/has_owner/status").json(), oas.CHECK_STATUS)
    assert (status["passed"], status["failed"], status["numberOfEntities"]) == (1, 1, 2)
    certs = oas.validate(client.get(f"{API}/certifications", params={"entityRef": "component:default/a"}).json(),
                         oas.CERTIFICATIONS_RESPONSE)["certifications"]
    assert [c["track"]["id"] for c in certs] == ["hygiene"]
    assert certs[0]["highestLevel"]["ordinal"] == 2 and all(lv["certified"] for lv in certs[0]["levels"])
    b = client.get(f"{API}/certifications", params={"entityRef": "component:default/b"}).json()["certifications"]
    assert "highestLevel" not in b[0] and [lv["certified"] for lv in b[0]["levels"]] == [False, False]
    track = oas.validate(client.get(f"{API}/tracks/hygiene/status").json(), oas.TRACK_STATUS)
    assert track["statusByLevel"][0] == {"ordinal": 1, "passed": 1, "failed": 1, "cumulativelyPassed": 1,
                                         "cumulativelyFailed": 1, "notReported": 0}


# --- writes ----------------------------------------------------------------------------------------------------


def test_writes_without_or_with_a_wrong_token_are_refused(client, tmp_path):
    body = {"facts": [{"factRef": "custom:default/tests", "entityRef": "component:default/a",
                       "data": {"passed": True}}]}
    for headers in ({}, auth("wrong-token-wrong-token-wrong"), {"Authorization": f"Basic {TOKEN}"}):
        response = client.post(f"{API}/facts", json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "wrong-token" not in response.text and TOKEN not in response.text  # never echoed
        oas.validate(response.json(), oas.ERROR)
    refused = client.post(f"{API}/results", json={"results": []})
    assert refused.status_code == 401
    # nothing was written
    with open_any(str(tmp_path / "store")) as store:
        assert store.get("component:default/a", FactRef.parse("custom:default/tests")) is None
        assert store.get_meta("results:pushed") is None


def test_without_a_configured_token_writes_are_disabled(tmp_path):
    workspace(tmp_path, serve="")
    plan = serve_app.plan(options(tmp_path), None)
    with open_any(plan.store_spec) as store:
        with TestClient(create_app(ServeContext(plan.settings, store, None, plan.max_body, None))) as c:
            response = c.post(f"{API}/facts", json={"facts": []}, headers=auth())
    assert response.status_code == 403 and "no token is configured" in response.json()["error"]["message"]


def test_a_malformed_body_is_a_400_naming_the_field(client, tmp_path):
    bad = {"facts": [{"factRef": "custom:default/tests", "entityRef": "component:default/a", "data": 1},
                     {"factRef": "nope", "entityRef": "component:default/a", "data": 1, "timestamp": "yesterday"}]}
    response = client.post(f"{API}/facts", json=bad, headers=auth())
    assert response.status_code == 400
    errors = oas.validate(response.json(), oas.ERROR)["error"]["errors"]
    paths = {e["path"] for e in errors}
    assert paths == {"/facts/1/factRef", "/facts/1/timestamp"}, errors
    assert "Traceback" not in response.text
    # the whole body was refused: the valid first fact was not stored
    with open_any(str(tmp_path / "store")) as store:
        assert store.get("component:default/a", FactRef.parse("custom:default/tests")) is None

    results = client.post(f"{API}/results", headers=auth(), json={
        "results": [{"entityRef": "component:default/a", "checkId": "ext", "state": "green"},
                    {"entityRef": "component:default/a", "state": "passed", "extra": 1}],
        "preserveStateOnError": "yes"})
    assert results.status_code == 400
    assert {e["path"] for e in results.json()["error"]["errors"]} == {
        "/results/0/state", "/results/1", "/results/1/extra", "/preserveStateOnError"}

    for raw, expected in ((b'{"facts": [', "invalid JSON at line 1"), (b"\xff", "not UTF-8"),
                          (b"[" * 300 + b"]" * 300, "nested more than"), (b'{"facts": NaN}', "not a JSON number")):
        response = client.post(f"{API}/facts", content=raw, headers={**auth(), "Content-Type": "application/json"})
        assert response.status_code == 400 and expected in response.json()["error"]["message"], raw[:20]
    form = client.post(f"{API}/facts", content=b"a=b", headers={**auth(), "Content-Type": "text/plain"})
    assert form.status_code == 415


def test_the_body_size_is_bounded(tmp_path):
    workspace(tmp_path, serve=f"  serve: {{token: {TOKEN}, maxBodyBytes: 2048}}\n")
    plan = serve_app.plan(options(tmp_path), None)
    with open_any(plan.store_spec) as store:
        with TestClient(create_app(ServeContext(plan.settings, store, plan.token, plan.max_body, None))) as c:
            big = {"facts": [{"factRef": "custom:default/tests", "entityRef": "component:default/a",
                              "data": "x" * 4000}]}
            response = c.post(f"{API}/facts", json=big, headers=auth())
            assert response.status_code == 413 and "larger than 2048 bytes" in response.json()["error"]["message"]

            def chunks() -> Iterator[bytes]:  # no Content-Length: the bound holds on what is read
                yield b'{"facts": ["'
                for _ in range(10):
                    yield b"y" * 500
                yield b'"]}'

            streamed = c.post(f"{API}/facts", content=chunks(), headers={**auth(), "Content-Type": "application/json"})
            assert streamed.status_code == 413


def test_pushed_results_are_stored_and_read_back(client, tmp_path):
    body = {"results": [{"entityRef": "component:default/a", "checkId": "sast", "state": "passed",
                         "details": {"tool": "semgrep"}, "submittedBy": "ci"}]}
    response = client.post(f"{API}/results", json=body, headers=auth(), params={"returnUpdatedResults": "true"})
    stored = oas.validate(response.json(), oas.SUBMIT_RESULTS_RESPONSE)["results"]
    assert [(r["checkId"], r["state"], r["submittedBy"]) for r in stored] == [("sast", "passed", "ci")]
    # an error does not replace a known state with preserveStateOnError (details and submittedBy do change)
    error = {"results": [{"entityRef": "component:default/a", "checkId": "sast", "state": "error",
                          "details": {"why": "timeout"}, "submittedBy": "ci-2"}], "preserveStateOnError": True}
    assert client.post(f"{API}/results", json=error, headers=auth()).json() == {"status": "ok"}
    doc = oas.validate(client.get(f"{API}/results", params={"entityRef": "component:default/a",
                                                           "checks": "sast"}).json(), oas.RESULTS_RESPONSE)
    assert [(r["state"], r["details"], r["submittedBy"]) for r in doc["results"]] == [
        ("passed", {"why": "timeout"}, "ci-2")]
    error["preserveStateOnError"] = False
    client.post(f"{API}/results", json=error, headers=auth())
    status = oas.validate(client.get(f"{API}/checks/sast/status").json(), oas.CHECK_STATUS)
    assert (status["error"], status["numberOfEntities"]) == (1, 1)
    # kept in the store's meta area under results:pushed
    with open_any(str(tmp_path / "store")) as store:
        assert [r["checkId"] for r in store.get_meta("results:pushed")["results"]] == ["sast"]


def test_the_site_folder_is_served(tmp_path):
    workspace(tmp_path)
    site = tmp_path / "site"
    plan = serve_app.plan(options(tmp_path), "site")
    with open_any(plan.store_spec) as store:
        with TestClient(create_app(ServeContext(plan.settings, store, plan.token, plan.max_body, plan.site))) as c:
            early = c.get("/")
            assert early.status_code == 404 and "not been built yet" in early.json()["error"]["message"]
            site.mkdir()  # `soundcheck site -o site` runs while the server does
            (site / "index.html").write_text("<h1>results</h1>")
            assert c.get("/").text == "<h1>results</h1>"
            assert c.get(f"{API}/checks").status_code == 200  # the API wins over the site
            assert c.get("/missing.html").status_code == 404


def test_bad_serve_config_is_located_and_never_shows_the_token(tmp_path, capsys):
    base = workspace(tmp_path, serve="  serve: {token: short-tok, maxBodyBytes: 10}\n")
    assert run_cli(["serve", "--port", "0", *base]) == 2
    out = capsys.readouterr()
    assert re.search(r"app-config.yaml:\d+:\d+: .*serve token must be at least 16", out.err), out.err
    assert re.search(r"app-config.yaml:\d+:\d+: soundcheck.serve: 'maxBodyBytes'", out.err), out.err
    assert "short-tok" not in out.err + out.out


def test_a_port_in_use_is_a_usage_error(tmp_path, capsys):
    base = workspace(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert run_cli(["serve", "--port", str(port), *base]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_loopback_hosts():
    assert all(serve_app.is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(serve_app.is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.4", "example.com"))


# --- the real server -------------------------------------------------------------------------------------------


def _soundcheck(*args: str) -> list[str]:
    return [sys.executable, "-m", "soundcheck_cli", *args]


def test_missing_stack_says_how_to_install(tmp_path):
    base = workspace(tmp_path)
    # The interpreter is told the packages are absent (a None entry in sys.modules is "not importable").
    code = ("import sys; sys.modules['starlette'] = None; from soundcheck_cli.cli.entry import main; "
            f"sys.argv = ['soundcheck', 'serve', *{base!r}]; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'soundcheck-cli[serve]'" in proc.stderr and "Traceback" not in proc.stderr


def test_real_server_a_posted_fact_is_seen_by_check_and_the_token_is_never_logged(tmp_path):
    base = workspace(tmp_path)
    env = {**os.environ, "SOUNDCHECK_SERVE_TOKEN": TOKEN}  # the environment's token wins over the config's
    assert subprocess.run(_soundcheck("check", *base), capture_output=True, timeout=120, cwd=tmp_path).returncode == 1
    server = subprocess.Popen(_soundcheck("serve", "--port", "0", "--site", "site-not-built", *base),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = server.stdout.readline()
        match = re.match(r"serving (http://127\.0\.0\.1:\d+) ", line)
        assert match, line + (server.stderr.read() if server.poll() is not None else "")
        url = match.group(1)
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
            for _ in range(100):  # uvicorn is listening on our socket already; wait for the app's startup
                try:
                    if http.get(f"{API}/checks").status_code == 200:
                        break
                except httpx.TransportError:
                    import time

                    time.sleep(0.1)
            body = {"facts": [{"factRef": "custom:default/tests", "entityRef": "component:default/a",
                               "data": {"passed": True}},
                              {"factRef": "custom:default/tests", "entityRef": "component:default/b",
                               "data": {"passed": False}}]}
            refused = http.post(f"{API}/facts", json=body, headers=auth("not-the-token-not-the-token"))
            assert refused.status_code == 401
            response = http.post(f"{API}/facts", json=body, headers=auth())
            assert response.status_code == 200, response.text
            oas.validate(response.json(), oas.FACTS_RESPONSE)
            assert len(response.json()["facts"]) == 2
            # a following `soundcheck check` reads the posted facts
            check = subprocess.run(_soundcheck("check", "--check", "tests_pass", "-f", "json", *base),
                                   capture_output=True, text=True, timeout=120, cwd=tmp_path)
            assert check.returncode == 1, check.stderr  # b's posted fact says its tests fail
            states = {(r["entityRef"], r["state"]) for r in json.loads(check.stdout)["results"]}
            assert states == {("component:default/a", "passed"), ("component:default/b", "failed")}
            # the site folder does not exist yet: nothing at / (and a warning at start, below)
            assert http.get("/").status_code == 404
            # and the server reads the run that check recorded
            results = http.get(f"{API}/results", params={"entityRef": "component:default/a", "checks": "tests_pass"})
            assert [r["state"] for r in oas.validate(results.json(), oas.RESULTS_RESPONSE)["results"]] == ["passed"]
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    logs = line + out + err
    assert "POST /api/soundcheck/facts HTTP/1.1\" 401" in logs and "POST /api/soundcheck/facts HTTP/1.1\" 200" in logs
    assert TOKEN not in logs and "not-the-token" not in logs
    assert "INFO:     stored 2 facts" in err and "--site site-not-built: the folder does not exist (yet)" in err


def test_a_loopback_server_answers_only_requests_addressed_to_this_machine(tmp_path):
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 must not read the results."""
    workspace(tmp_path)
    plan = serve_app.plan(options(tmp_path), None)
    with open_any(plan.store_spec) as store:
        app = create_app(ServeContext(plan.settings, store, plan.token, plan.max_body, None,
                                      serve_app.allowed_hosts("127.0.0.1")))
        for base, status in (("http://127.0.0.1:7007", 200), ("http://localhost", 200), ("http://[::1]:80", 200),
                             ("http://evil.example:7007", 421), ("http://127.0.0.1.evil.example", 421)):
            with TestClient(app, base_url=base) as c:
                response = c.get(f"{API}/checks")
                assert response.status_code == status, base
        assert "only answers requests addressed to" in oas.validate(response.json(), oas.ERROR)["error"]["message"]
    assert serve_app.allowed_hosts("0.0.0.0") is None


def test_posted_facts_are_stored_with_warnings_named_by_pointer(client, tmp_path):
    body = {"facts": [{"factRef": {"source": "custom", "name": "tests"}, "entityRef": "Component:default/a",
                       "data": {"passed": True}, "timestamp": "2026-01-05T10:00:00Z", "colour": "red"}]}
    response = client.post(f"{API}/facts", json=body, headers=auth())
    doc = oas.validate(response.json(), oas.FACTS_RESPONSE)
    assert doc["facts"] == [{"factRef": "custom:default/tests", "entityRef": "component:default/a",
                             "timestamp": "2026-01-05T10:00:00.000Z"}]
    assert doc["warnings"] == ["/facts/0/colour: unknown key 'colour' in fact (ignored); expected one of factRef, "
                               "entityRef, data, timestamp, expiresAt"]
    with open_any(str(tmp_path / "store")) as store:
        assert store.get("component:default/a", FactRef.parse("custom:default/tests")).data == {"passed": True}
    assert client.get(f"{API}/checks/nope/status").status_code == 404
    assert client.put(f"{API}/facts", json=body, headers=auth()).status_code == 405
