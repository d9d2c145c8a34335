"""Tests of ``soundcheck_cli.redact``: every secret value, credential header and secret query value is masked."""

from __future__ import annotations

from soundcheck_cli.redact import MASK, Redactor, is_secret_key

TOKEN = "u+Pd-S3cr3t/Tok=en"


def test_known_value_masked_everywhere_including_url_encoded_forms():
    r = Redactor([TOKEN])
    text = f"token {TOKEN} in url ?x=u%2BPd-S3cr3t%2FTok%3Den and form u%2BPd-S3cr3t%2FTok%3Den"
    out = r.redact(text)
    assert TOKEN not in out
    assert "S3cr3t" not in out
    assert out.count(MASK) == 3


def test_secrets_found_in_config_tree():
    config = {
        "soundcheck": {
            "collectors": {
                "pagerduty": [{"token": "pd-token-123"}, {"token": None}],
                "github": {"apiKey": "gh-key-456", "client_secret": "cs-789x"},
                "http": {
                    "secrets": [{"key": "grafana", "value": "graf-000"}, {"key": "empty"}],
                    "config": {"url": "https://example.com"},
                },
                "other": {"secrets": {"a": "map-secret-1"}},
            }
        }
    }
    r = Redactor.from_config(config)
    for secret in ("pd-token-123", "gh-key-456", "cs-789x", "graf-000", "map-secret-1"):
        assert secret not in r.redact(f"error: {secret} rejected"), secret
    # Non-secret values stay readable.
    assert r.redact("https://example.com") == "https://example.com"


def test_short_values_are_not_masked_to_keep_text_readable():
    r = Redactor(["ab", "on", ""])
    assert r.redact("about on") == "about on"


def test_secret_query_parameters_masked_without_knowing_the_value():
    r = Redactor()
    out = r.redact("GET https://api.example.com/x?api_key=zzz999&page=2&token=abc.def#frag")
    assert "zzz999" not in out and "abc.def" not in out
    assert "page=2" in out and "#frag" in out


def test_authorization_header_and_credential_schemes_masked():
    r = Redactor()
    dump = "{'Authorization': 'Token token=y_NbAkKc66ryYTWUXYEu', 'Accept': 'json'}"
    out = r.redact(dump)
    assert "y_NbAkKc66ryYTWUXYEu" not in out and "'Accept': 'json'" in out
    assert "Bearer ***" in r.redact("sent Bearer eyJhbGciOiJIUzI1NiJ9.payload")
    # Prose is left alone.
    assert r.redact("expects a Bearer token") == "expects a Bearer token"


def test_redact_headers_and_data():
    r = Redactor(["sekret-value"])
    headers = r.redact_headers({"Authorization": "anything", "X-Api-Key": "k", "X-Trace": "id sekret-value"})
    assert headers == {"Authorization": MASK, "X-Api-Key": MASK, "X-Trace": f"id {MASK}"}
    data = r.redact_data({"token": "plain", "nested": ["sekret-value", 3, {"password": "p"}]})
    assert data == {"token": MASK, "nested": [MASK, 3, {"password": MASK}]}


def test_longest_secret_wins():
    r = Redactor(["abcd", "abcdefgh"])
    assert r.redact("xabcdefghx") == f"x{MASK}x"


def test_is_secret_key():
    assert is_secret_key("apiKey") and is_secret_key("api_key") and is_secret_key("TOKEN")
    assert not is_secret_key("server") and not is_secret_key("baseUrl")
