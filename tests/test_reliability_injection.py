"""Reliability, injection (issue 7): catalog annotation values cannot change the request target or headers, and
are never evaluated.

One real ``soundcheck collect`` process, with the http collector (the value in a URL path segment, in a query value
and in a header) and the pagerduty collector (the value as the service id in the path), against a local server
that records the raw request target and headers. Each value must arrive exactly percent-encoded as one path segment
/ query value (computed here independently of the product, with ``urllib.parse.quote``: every reserved character
encoded, and the dot segments ``.``/``..`` too, RFC 3986 §5.2.4), and exactly as written in a header. A value with a
line break or a non-ASCII character is refused for the header (the fact is not applicable with the reason, no
request is made). Template syntax
(``{{ secrets.x }}``) and ``${ENV}`` syntax stay literal text: the secret and the variable's value never appear.
"""

from __future__ import annotations

from urllib.parse import quote

from reliability.cli import component, run, stored, write_catalog
from reliability.fault_server import FaultServer, echo

SECRET = "injSECRET7c2e9a4b1d"
ENV_VALUE = "injENVVALUE5f3b8d"
KEY = "soundcheck.test/value"
VALUES = [
    "../../admin",
    "..",
    ".",
    "a/../../b",
    "a?b=c&d=e",
    "a#fragment",
    "%2e%2e%2fadmin",
    "%2E%2E",
    "a b&c=d;e",
    "{{ secrets.tok }}",
    "{{ config.base }}",
    "${INJECTED_ENV}",
    "$(echo hi)",
    "x'\"<>\\`",
    "é漢字",
    "line1\nline2",
    "ok\r\nX-Injected: 1",
]


def refused_in_header(value: str) -> bool:
    return "\n" in value or "\r" in value or not value.isascii()


def encoded(value: str) -> str:
    text = quote(value, safe="")
    return text.replace(".", "%2E") if text.strip(".") == "" else text


def test_annotation_values_reach_the_server_exactly_encoded_and_unevaluated(tmp_path):
    entities = [component(f"e{i}", {KEY: v, "pagerduty.com/service-id": v}) for i, v in enumerate(VALUES)]
    write_catalog(tmp_path / "catalog-info.yaml", entities)
    with FaultServer(echo, max_requests=200, max_seconds=60) as server:
        (tmp_path / "app-config.yaml").write_text(
            "soundcheck:\n  collectors:\n"
            "    http:\n"
            "      secrets: [{key: tok, value: '${INJ_SECRET}'}]\n"
            f"      config: {{base: '{server.url}'}}\n"
            "      retry: {maxAttempts: 1}\n"
            "      collects:\n"
            "        - factName: echo\n"
            "          encodeSlashes: true\n"  # each value one path segment (the default keeps '/' as Soundcheck)
            f"          url: \"{{{{ config.base }}}}/api/{{{{ entity.metadata.annotations['{KEY}'] }}}}/x"
            f"?q={{{{ entity.metadata.annotations['{KEY}'] }}}}&t=1\"\n"
            f"          headers: {{X-Value: \"{{{{ entity.metadata.annotations['{KEY}'] }}}}\", X-Token: '{{{{ secrets.tok }}}}'}}\n"
            "    pagerduty:\n      token: ${PD_TOKEN}\n"
            f"      baseUrl: {server.url}\n      retry: {{maxAttempts: 1}}\n      collects: [{{type: Service}}]\n"
        )
        env = {"INJ_SECRET": SECRET, "PD_TOKEN": "pd-injection-token-1234", "INJECTED_ENV": ENV_VALUE}
        proc = run(["collect", "--store", str(tmp_path / "store")], tmp_path, env)
        assert "Traceback" not in proc.stderr, proc.stderr
        records = list(server.records)

    http_seen = {r.headers.get("x-value"): r for r in records if r.path.startswith("/api/")}
    pd_seen = [r for r in records if r.path.startswith("/services/")]
    sendable = [v for v in VALUES if not refused_in_header(v)]
    for value in VALUES:
        segment = encoded(value)
        # pagerduty: the service id is exactly one encoded path segment, whatever it contains.
        assert any(r.target.split("?", 1)[0] == f"/services/{segment}" for r in pd_seen), value
    for value in sendable:
        segment = encoded(value)
        record = http_seen.get(value)
        assert record is not None, f"no request carried the header value {value!r}"
        assert record.target == f"/api/{segment}/x?q={segment}&t=1" and record.method == "GET"
    # Nothing else was requested: one request per entity and collector (refused header values: pagerduty only).
    assert len(pd_seen) == len(VALUES)
    assert len(http_seen) == len([r for r in records if r.path.startswith("/api/")]) == len(sendable)
    for record in records:
        assert "x-injected" not in record.headers
        assert all("\n" not in v and "\r" not in v for v in record.headers.values())
        # Never evaluated: the secret only where the config puts it (X-Token), the variable's value nowhere.
        assert SECRET not in record.target and ENV_VALUE not in record.target
        assert all(ENV_VALUE not in v for v in record.headers.values())
        if record.path.startswith("/api/"):
            assert [v for v in record.headers.values() if SECRET in v] == [SECRET] == [record.headers["x-token"]]
    assert http_seen["{{ secrets.tok }}"].target == "/api/%7B%7B%20secrets.tok%20%7D%7D/x?q=%7B%7B%20secrets.tok%20%7D%7D&t=1"
    assert http_seen["${INJECTED_ENV}"].headers["x-value"] == "${INJECTED_ENV}"

    # The refused values: not applicable for the http fact, with the reason (not a failure); no fact stored.
    assert "contains a line break; it cannot go into a header" in proc.stderr
    assert "contains non-ASCII characters; it cannot go into a header" in proc.stderr
    refused = len(VALUES) - len(sendable)
    assert f"http: {len(sendable)} collected, 0 fresh (skipped), {refused} not applicable, 0 failed" in proc.stderr
    facts = stored(tmp_path / "store", "http:default/echo")
    assert len(facts) == len(sendable)
    for i, value in enumerate(VALUES):
        if value in sendable:
            assert facts[f"component:default/e{i}"].data["target"] == f"/api/{encoded(value)}/x?q={encoded(value)}&t=1"
        else:
            assert f"component:default/e{i}" not in facts
