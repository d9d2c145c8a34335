"""Reliability, secrets (issue 7): with tokens set for every built-in HTTP collector (pagerduty, http, github,
datadog, sonarqube) and for a webhook sink's headers, nothing the tool writes contains one of them.

The collectors all point at one local server that fails in various ways and is as indiscreet as a real API can
be: its error bodies quote every request header (so the tokens come back in the messages the tool reports), some
requests get a connection reset, a few services answer normally. The http collector even puts a secret into the
URL query. Then, as processes: ``collect --verbose``; ``check`` writing every format (json, junit, markdown, sarif,
html, csv, github) to files plus the table on stdout (events go to the failing webhook); ``history`` and ``diff``
and ``facts show``. Searched for every token: each process's stdout and stderr,
every output file, and the raw bytes of every file of the fact store.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from urllib.parse import quote

from reliability.cli import clean_env, command, component, run, write_catalog
from reliability.fault_server import Faults, FaultServer, Record

TOKENS = {
    "PAGERDUTY_TOKEN": "pdTOKEN4f1c9e2ab7d3",
    "GRAFANA_TOKEN": "grafTOKEN8a6b2c0d9e1f",
    "GRAFANA_OTHER": "grafOTHER3c5e7a9b1d2f",
    "GITHUB_TOKEN": "ghp_TOKEN0a1b2c3d4e5f6a7b8c9d",
    "DD_API_KEY": "ddAPIKEY6e4d2c0b8a9f",
    "DD_APP_KEY": "ddAPPKEY1f3e5d7c9b0a",
    "SONARQUBE_TOKEN": "sqaTOKEN2b4d6f8a0c1e",
    "WEBHOOK_TOKEN": "hookTOKEN9d7b5f3e1c2a",
    "WEBHOOK_SECRET": "hookSECRET5a3c1e9f7b0d",
}
FORMATS = ("json", "junit", "markdown", "sarif", "html", "csv", "github")


def indiscreet(record: Record) -> tuple[int, dict[str, str], object]:
    """PagerDuty services ending in an even digit answer normally; everything else fails with a body that quotes
    the request's headers and target (400, 403, 422 or 500, chosen by the path)."""
    if record.path.startswith("/services/") and record.path[-1] in "02468":
        sid = record.path.rsplit("/", 1)[1]
        return 200, {}, {"service": {"id": sid, "name": sid, "status": "active"}}
    quoted = f"rejected {record.method} {record.target} with headers {json.dumps(record.headers)}"
    status = (400, 403, 422, 500)[hashlib.sha1(record.path.encode()).digest()[0] % 4]
    return status, {}, {"error": {"message": quoted, "errors": [quoted]}, "message": quoted, "errors": [{"message": quoted}]}


def write_config(tmp_path: Path, url: str) -> None:
    write_catalog(
        tmp_path / "catalog-info.yaml",
        [
            component(
                f"svc-{i}",
                {
                    "pagerduty.com/service-id": f"P{i:03d}",
                    "github.com/project-slug": f"org/repo-{i}",
                    "datadoghq.com/service-id": f"dd-svc-{i}",
                    "sonarqube.org/project-key": f"proj-{i}",
                },
            )
            for i in range(6)
        ],
    )
    retry = "      timeout: 2\n      retry: {maxAttempts: 2, maxDelay: 0.01}\n"
    (tmp_path / "app-config.yaml").write_text(
        "integrations:\n  github:\n"
        f"    - host: github.com\n      token: ${{GITHUB_TOKEN}}\n      apiBaseUrl: {url}/gh\n"
        "soundcheck:\n  collectors:\n"
        f"    pagerduty:\n      token: ${{PAGERDUTY_TOKEN}}\n      baseUrl: {url}\n{retry}"
        "      collects: [{type: Service}]\n"
        "    http:\n      secrets:\n        - {key: grafana, value: '${GRAFANA_TOKEN}'}\n"
        "        - {key: other, value: '${GRAFANA_OTHER}'}\n"
        f"      config: {{base: '{url}/grafana'}}\n{retry}"
        "      collects:\n"
        "        - factName: dashboard\n"
        "          url: \"{{ config.base }}/api/{{ entity.metadata.name }}?api_key={{ secrets.grafana }}&x={{ secrets.other }}\"\n"
        "          headers: {Authorization: 'Bearer {{ secrets.grafana }}', X-Other: '{{ secrets.other }}'}\n"
        f"    github:\n{retry}      collects: [{{type: RepositoryDetails}}, {{type: BranchProtections}}]\n"
        f"    datadog:\n      apiKey: ${{DD_API_KEY}}\n      appKey: ${{DD_APP_KEY}}\n      baseUrl: {url}/dd\n{retry}"
        "      collects: [{type: service-definition}]\n"
        f"    sonarqube:\n      token: ${{SONARQUBE_TOKEN}}\n      baseUrl: {url}/sq\n{retry}"
        "      collects: [{type: measures}]\n"
        "  events:\n    enabled: true\n    sinks:\n"
        f"      - type: webhook\n        url: {url}/hook\n"
        "        headers: {Authorization: 'Bearer ${WEBHOOK_TOKEN}', X-Hook-Secret: '${WEBHOOK_SECRET}'}\n"
        "        retry: {maxAttempts: 2, maxDelay: 0.01}\n"
        "  checks:\n"
        "    - id: pd_active\n      rule: {factRef: 'pagerduty:default/service', path: $.status, operator: equal, value: active}\n"
        "      passedMessage: 'service {{ entity.metadata.name }} is active'\n"
        "    - id: gh_repo\n      rule: {factRef: 'github:default/repository_details', path: $.private, operator: equal, value: true}\n"
        "  tracks:\n    - id: t\n      name: T\n      levels:\n        - ordinal: 1\n          checks: [{id: pd_active}, {id: gh_repo}]\n"
    )


def leaks(text: str | bytes) -> list[str]:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    found = []
    for name, token in TOKENS.items():
        forms = {token, quote(token, safe=""), token[4:16]}  # the token, its URL-encoded form, a long fragment
        if any(form.encode() in data for form in forms):
            found.append(name)
    return found


def test_no_token_reaches_any_output_export_log_or_the_store(tmp_path):
    faults = Faults(reset=0.15, seed=11)
    with FaultServer(indiscreet, faults, max_requests=400, max_seconds=60) as server:
        write_config(tmp_path, server.url)
        store = str(tmp_path / "store")
        env = dict(TOKENS)
        seen: dict[str, str] = {}

        proc = run(["collect", "--verbose", "--store", store], tmp_path, env)
        seen["collect --verbose"] = proc.stdout + proc.stderr
        assert proc.returncode == 1, proc.stderr  # failures are expected: that is the point
        # The server really received every token (so a leak was possible), and quoted them back.
        received = json.dumps([r.raw_headers for r in server.records]) + " ".join(r.target for r in server.records)
        assert set(leaks(received)) == set(TOKENS) - {"WEBHOOK_TOKEN", "WEBHOOK_SECRET"}
        assert "rejected" in proc.stdout + proc.stderr and "***" in proc.stdout + proc.stderr

        args = ["check", "--store", store]
        for fmt in FORMATS:
            args += ["-f", fmt, "-o", str(tmp_path / f"report.{fmt}")]
        args += ["-f", "table"]  # the one without --output: stdout
        proc = run(args, tmp_path, env)
        seen["check"] = proc.stdout + proc.stderr
        assert proc.returncode == 1, proc.stderr
        assert any(r.path == "/hook" for r in server.records), "the webhook was never called"

        # Read-only commands, in parallel (each its own process).
        readers = {
            "history": ["history", "--store", store],
            "diff": ["diff", "--store", store],
            "facts show": ["facts", "show", "component:default/svc-0", "--store", store],
        }
        procs = {
            name: subprocess.Popen(command(a), cwd=tmp_path, env=clean_env(env), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            for name, a in readers.items()
        }
        for name, p in procs.items():
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, (name, err)
            seen[name] = out + err

    assert "service svc-0 is active" in (tmp_path / "report.json").read_text()
    for fmt in FORMATS:
        seen[f"report.{fmt}"] = (tmp_path / f"report.{fmt}").read_text()
    for name, text in seen.items():
        assert not leaks(text), f"{name} leaks {leaks(text)}"
        assert "Traceback" not in text, name
    for path in Path(store).rglob("*"):
        if path.is_file():
            assert not leaks(path.read_bytes()), f"the store file {path.name} holds {leaks(path.read_bytes())}"
