"""GitHub App login (``integrations.github[].apps``) and the ``SecurityAdvisories`` fact, through the CLI against a
GitHub API on 127.0.0.1.

The server verifies each JWT with the app's public key (RS256, ``iss`` = app id, ``exp`` at most 10 minutes after
``iat``), answers ``GET /app/installations`` and ``POST /app/installations/{id}/access_tokens`` with the fields
GitHub documents (``account.login``, ``token``, ``expires_at``), and serves the recorded repository
(``fixtures/github/get-repository.json``) only to a token it minted. The advisories list is CONSTRUCTED from the
documented fields of "List repository security advisories" (``ghsa_id``, ``severity``, ``state``); no recorded
answer is stored.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from recorded_server import RecordedServer
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.collectors.github_app import REFRESH_MARGIN, AppTokens, GithubApp, read_apps
from soundcheck_cli.facts.locate import open_any
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.http.client import HttpClient

REPO = json.loads((Path(__file__).parent / "fixtures" / "github" / "get-repository.json").read_text())[0]["response"]
APP_ID = "424242"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                        serialization.NoEncryption()).decode()
PUBLIC = KEY.public_key()
ADVISORIES = [  # CONSTRUCTED: documented fields only
    {"ghsa_id": "GHSA-aaaa-bbbb-cccc", "severity": "high", "state": "triage"},
    {"ghsa_id": "GHSA-dddd-eeee-ffff", "severity": "critical", "state": "published"},
    {"ghsa_id": "GHSA-gggg-hhhh-iiii", "severity": "low", "state": "draft"},
]


class GithubAppApi:
    def __init__(self, lifetime: timedelta = timedelta(hours=1)) -> None:
        self.minted: list[str] = []
        self.jwts: list[dict[str, Any]] = []
        self.lifetime = lifetime
        self.server = RecordedServer(self.route)

    def route(self, method, path, query, headers, payload):
        auth = headers.get("Authorization", "")
        if path.startswith("/app/"):
            # the signature is checked (raises if forged); the times against the claims themselves, since the
            # refresh test moves the collector's clock forward
            claims = jwt.decode(auth.removeprefix("Bearer "), PUBLIC, algorithms=["RS256"],
                                options={"verify_iat": False, "verify_exp": False})
            assert claims["iss"] == APP_ID and claims["exp"] - claims["iat"] <= 600
            self.jwts.append(claims)
            if path == "/app/installations" and method == "GET":
                return 200, [{"id": 77, "account": {"login": "Octokit-Fixture-Org"}},
                             {"id": 78, "account": {"login": "not-allowed-org"}}], {}
            if path == "/app/installations/77/access_tokens" and method == "POST":
                token = f"ghs_installation_token_{len(self.minted):04d}"
                self.minted.append(token)
                expires = (datetime.now(timezone.utc) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
                return 201, {"token": token, "expires_at": expires}, {}
            return 404, {"message": "Not Found"}, {}
        if auth.removeprefix("Bearer ") not in self.minted:
            return 401, {"message": "Bad credentials"}, {}
        if path in ("/repos/octokit-fixture-org/hello-world", "/repos/octokit-fixture-org/second"):
            return 200, REPO, {}
        if path == "/repos/octokit-fixture-org/hello-world/security-advisories":
            return 200, ADVISORIES, {}
        return 404, {"message": "Not Found"}, {}


def workspace(tmp_path, api: RecordedServer) -> str:
    ents = [("hello", "octokit-fixture-org/hello-world"), ("second", "octokit-fixture-org/second"),
            ("elsewhere", "someone-else/repo")]
    docs = [{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
             "metadata": {"name": n, "annotations": {"github.com/project-slug": slug}},
             "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}} for n, slug in ents]
    (tmp_path / "catalog.yaml").write_text("".join("---\n" + json.dumps(d) + "\n" for d in docs))
    (tmp_path / "app-config.yaml").write_text(
        "catalog:\n  locations:\n    - {type: file, target: ./catalog.yaml}\n"
        f"integrations:\n  github:\n    - host: github.com\n      apiBaseUrl: {api.url}\n"
        f"      apps:\n        - appId: {APP_ID}\n          privateKey: ${{GITHUB_APP_KEY}}\n"
        "          clientId: Iv1.0123456789abcdef\n          clientSecret: ${GITHUB_APP_SECRET}\n"
        "          allowedInstallationOwners: [octokit-fixture-org, someone-else]\n"
        "soundcheck:\n  collectors:\n    github:\n      collects:\n"
        "        - type: RepositoryDetails\n        - type: SecurityAdvisories\n")
    return str(tmp_path / "app-config.yaml")


def test_cli_logs_in_as_the_app_installation_once_and_never_prints_a_secret(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_APP_KEY", PEM)
    monkeypatch.setenv("GITHUB_APP_SECRET", "client-secret-0123456789")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    app = GithubAppApi()
    with app.server as api:
        config = workspace(tmp_path, api)
        code = run_cli(["collect", "-c", config, "--store", str(tmp_path / "store"), "-v"])
        captured = capsys.readouterr()
    text = captured.out + captured.err
    assert code == 1  # someone-else has no installation and there is no token: those facts fail, saying why
    assert f"GitHub App {APP_ID} is not installed for someone-else on github.com" in text
    assert len(app.minted) == 1  # one token for both repositories of the owner
    import time
    assert app.jwts and all(c["iat"] <= time.time() < c["exp"] for c in app.jwts)  # valid now, on the real clock
    assert app.server.paths().count("/app/installations?per_page=100") == 1
    for secret in (app.minted[0], "BEGIN RSA PRIVATE KEY", "client-secret-0123456789"):
        assert secret not in text
    store = open_any(str(tmp_path / "store"))
    try:
        details = store.get("component:default/second", FactRef("github", "default", "repository_details"))
        advisories = store.get("component:default/hello", FactRef("github", "default", "security_advisories"))
    finally:
        store.close()
    assert details.data == REPO
    assert advisories.data == {
        "enabled": True, "count": 3, "open": 2,
        "byState": {"triage": 1, "draft": 1, "published": 1, "closed": 0, "withdrawn": 0},
        "bySeverity": {"critical": 1, "high": 1, "medium": 0, "low": 1},
        "ghsaIds": ["GHSA-aaaa-bbbb-cccc", "GHSA-dddd-eeee-ffff", "GHSA-gggg-hhhh-iiii"], "truncated": False,
    }


def test_installation_token_is_refreshed_before_it_expires():
    app_api = GithubAppApi()
    now = [datetime.now(timezone.utc).timestamp()]
    app = GithubApp(APP_ID, PEM, ("octokit-fixture-org",))

    async def go():
        tokens = AppTokens(lambda: now[0])
        async with HttpClient() as client:
            first = await tokens.token(client, api.url, app, "octokit-fixture-org")
            now[0] += 60
            again = await tokens.token(client, api.url, app, "OCTOKIT-FIXTURE-ORG")
            now[0] += 3600 - REFRESH_MARGIN  # less than REFRESH_MARGIN left: a new token before the old one expires
            refreshed = await tokens.token(client, api.url, app, "octokit-fixture-org")
            missing = await tokens.token(client, api.url, app, "not-allowed-org")  # installed, but not allowed
            return first, again, refreshed, missing

    with app_api.server as api:
        first, again, refreshed, missing = asyncio.run(go())
    assert first == again == app_api.minted[0] and refreshed == app_api.minted[1] != first
    assert missing is None
    assert app_api.server.paths().count("/app/installations?per_page=100") == 1


def test_read_apps_takes_backstages_shape_and_skips_incomplete_entries():
    apps = read_apps({"apps": [{"appId": 1, "privateKey": PEM.replace("\n", "\\n")}, {"appId": 2}, "x",
                               {"appId": 3, "privateKey": PEM, "allowedInstallationOwners": ["Org"]}]})
    assert [a.app_id for a in apps] == ["1", "3"]
    assert apps[0].private_key == PEM and "PRIVATE" not in repr(apps[0])
    assert apps[1].allows("org") and not apps[1].allows("other")


def test_an_unusable_private_key_is_a_clear_message_without_the_key():
    from soundcheck_cli.collectors.github_app import make_jwt
    from soundcheck_cli.http.client import HttpError

    with pytest.raises(HttpError) as info:
        make_jwt(GithubApp("9", "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"), 0)
    assert "GitHub App 9: the privateKey cannot sign a token" in str(info.value) and "not a key" not in str(info.value)
