"""The ``kubernetes`` collector through the CLI, against a mock Kubernetes API on 127.0.0.1 (``kube_api.KubeApi``,
built from the recorded API shapes) and against manifests in a fixture checkout.

Clusters come from Backstage's own ``kubernetes:`` block (``clusterLocatorMethods`` of type ``config``), or a
kubeconfig; each entity is one label-selector list per kind per cluster; 403 and 401 Status bodies become
per-fact messages; a warm run asks nothing; the service-account token is never printed.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kube_api import KubeApi
from soundcheck_cli.cli.commands import run_cli

TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ik1rX3Rva2VuIn0.kube-sa-token-value"
KINDS = ["services", "pods", "deployments", "horizontalpodautoscalers", "statefulsets", "poddisruptionbudgets", "ingresses"]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def workspace(tmp_path: Path, clusters: list[dict[str, Any]], entities: list[dict[str, Any]], block: str = "",
              extra: str = "", locators: str = "") -> Path:
    docs = [
        {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
         "metadata": {"name": e["name"], "annotations": e.get("annotations", {})},
         "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}}
        for e in entities
    ]
    (tmp_path / "catalog.yaml").write_text("".join("---\n" + json.dumps(d) + "\n" for d in docs))
    cluster_yaml = "".join(
        "        - " + json.dumps(c) + "\n" for c in clusters
    )
    block = block or "frequency: {hours: 1}\ncollects: [" + ", ".join(f"{{type: {k}}}" for k in KINDS) + "]\n"
    config = (
        "catalog:\n  locations:\n    - {type: file, target: ./catalog.yaml}\n"
        "kubernetes:\n  serviceLocatorMethod: {type: multiTenant}\n  clusterLocatorMethods:\n"
        "    - type: config\n      clusters:\n" + cluster_yaml + locators +
        "soundcheck:\n  collectors:\n    kubernetes:\n" + textwrap.indent(textwrap.dedent(block), "      ") + extra
    )
    path = tmp_path / "app-config.yaml"
    path.write_text(config)
    return path


def cluster(api: KubeApi, name: str = "minikube", token: str = "${K8S_MINIKUBE_TOKEN}") -> dict[str, Any]:
    return {"url": api.url, "name": name, "authProvider": "serviceAccount", "skipTLSVerify": True,
            "skipMetricsLookup": True, "serviceAccountToken": token}


def facts(capsys, config: Path, store: Path, entity: str, ref: str) -> Any:
    code, out, err = cli(capsys, "facts", "show", entity, ref, "-c", str(config), "--store", str(store))
    assert code == 0, err
    return json.loads(out)["data"]


def test_fifty_entities_one_query_per_kind_403_per_fact_warm_run_and_no_token(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("K8S_MINIKUBE_TOKEN", TOKEN)
    entities = [{"name": f"svc{i}", "annotations": {"backstage.io/kubernetes-id": f"svc{i}"}} for i in range(47)]
    entities.append({"name": "locked", "annotations": {"backstage.io/kubernetes-id": "locked",
                                                       "backstage.io/kubernetes-namespace": "locked"}})
    entities.append({"name": "custom", "annotations": {"backstage.io/kubernetes-id": "custom",
                                                       "backstage.io/kubernetes-label-selector": "team=payments"}})
    entities.append({"name": "many", "annotations": {"backstage.io/kubernetes-id": "many"}})
    entities.append({"name": "no-k8s"})  # not annotated: not applicable, never queried
    store = tmp_path / "store"
    with KubeApi(TOKEN, objects={"many": 5}, forbidden={"locked"}) as api:
        config = workspace(tmp_path, [cluster(api)], entities)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(store))
        assert code == 1, err  # 7 facts failed on the 403
        # one label-selector list per entity and kind; "many" has 5 objects in pages of 2: 3 requests per kind
        assert len(api.requests) == 50 * 7 + 7 * 2
        selectors = [q["labelSelector"][0] for _, q, _ in api.requests]
        for i in range(47):
            assert selectors.count(f"backstage.io/kubernetes-id=svc{i}") == 7
        assert selectors.count("team=payments") == 7  # the label-selector annotation wins
        assert selectors.count("backstage.io/kubernetes-id=many") == 21
        assert all(q["limit"] == ["500"] for _, q, _ in api.requests)
        assert api.count(namespace="locked") == 7 and api.count("deployments", "locked") == 1
        assert {auth for _, _, auth in api.requests} == {f"Bearer {TOKEN}"}
        assert "kubernetes: 343 collected, 0 fresh (skipped), 7 not applicable, 7 failed; 364 requests" in err, err
        assert ("component:default/locked (cluster 'minikube', namespace 'locked': HTTP 403 Forbidden: deployments.apps "
                'is forbidden: User "system:serviceaccount:backstage:backstage" cannot list resource "deployments" in API '
                'group "apps" in the namespace "locked")') in err
        assert "not-applicable: no backstage.io/kubernetes-id or backstage.io/kubernetes-label-selector annotation (7 facts)" in err
        assert TOKEN not in out + err

        deployments = facts(capsys, config, store, "component:default/svc3", "kubernetes:default/deployments")
        assert deployments["count"] == 1 and deployments["minReplicas"] == 3
        [group] = deployments["clusters"]
        assert group["name"] == "minikube" and group["labelSelector"] == "backstage.io/kubernetes-id=svc3"
        assert group["items"][0]["metadata"]["name"] == "svc3-0"
        assert group["items"][0]["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.31.1"
        assert "managedFields" not in group["items"][0]["metadata"]
        assert deployments["withoutReadinessProbe"] == 1 and deployments["containers"] == 1
        pods = facts(capsys, config, store, "component:default/many", "kubernetes:default/pods")
        assert pods["count"] == 5 and [i["metadata"]["name"] for i in pods["clusters"][0]["items"]] == [f"many-{i}" for i in range(5)]
        for kind in KINDS:  # every fact's data fits the schema `soundcheck facts schema` prints
            code, out, err = cli(capsys, "facts", "schema", f"kubernetes:default/{kind}", "-c", str(config))
            assert code == 0, err
            jsonschema.validate(facts(capsys, config, store, "component:default/svc3", f"kubernetes:default/{kind}"),
                                json.loads(out))
        hpa = facts(capsys, config, store, "component:default/svc3", "kubernetes:default/horizontalpodautoscalers")
        assert hpa["minReplicas"] == hpa["clusters"][0]["items"][0]["spec"]["minReplicas"]

        # RBAC fixed: only the 7 failed facts are asked again; then a warm run asks nothing
        api.forbidden.clear()
        before = len(api.requests)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(store))
        assert code == 0, err
        assert len(api.requests) - before == 7 and api.count(namespace="locked") == 14
        before = len(api.requests)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(store))
        assert code == 0, err
        assert len(api.requests) == before
        assert TOKEN not in out + err


def test_a_wrong_token_is_reported_naming_where_it_is_set_and_the_cluster_is_not_hammered(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("K8S_MINIKUBE_TOKEN", "not-the-right-token-value")
    entities = [{"name": f"svc{i}", "annotations": {"backstage.io/kubernetes-id": f"svc{i}"}} for i in range(30)]
    with KubeApi(TOKEN) as api:
        config = workspace(tmp_path, [cluster(api)], entities, block="collects: [{type: deployments}]\nconcurrency: 2\n")
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 1
    assert len(api.requests) == 1  # the first 401 stops the others before they are sent
    assert ("cluster '…' rejected the credentials (HTTP 401 Unauthorized: Unauthorized): check serviceAccountToken "
            f"(${{K8S_MINIKUBE_TOKEN}}, {config}:") in err
    assert "not-the-right-token-value" not in out + err


def test_each_cluster_is_queried_and_a_403_on_one_fails_only_the_facts_it_concerns(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("K8S_MINIKUBE_TOKEN", TOKEN)
    monkeypatch.setenv("K8S_EU_TOKEN", TOKEN + "-eu")
    entities = [{"name": "open", "annotations": {"backstage.io/kubernetes-id": "open"}},
                {"name": "team-b", "annotations": {"backstage.io/kubernetes-id": "tb", "backstage.io/kubernetes-namespace": "team-b"}}]
    store = tmp_path / "store"
    with KubeApi(TOKEN) as us, KubeApi(TOKEN + "-eu", forbidden={"team-b"}, objects={"open": 2}) as eu:
        config = workspace(tmp_path, [cluster(us, "us"), cluster(eu, "eu", "${K8S_EU_TOKEN}")], entities,
                           block="collects: [{type: deployments}, {type: services}]\n")
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(store))
        assert code == 1
        assert "kubernetes: 2 collected, 0 fresh (skipped), 0 not applicable, 2 failed" in err, err
        assert "(cluster 'eu', namespace 'team-b': HTTP 403 Forbidden: services is forbidden" in err
        assert us.count() == 4 and eu.count() == 4
        assert us.count(namespace="team-b") == 2  # the namespaced list path
        data = facts(capsys, config, store, "component:default/open", "kubernetes:default/deployments")
        assert [(c["name"], c["count"]) for c in data["clusters"]] == [("us", 1), ("eu", 2)] and data["count"] == 3
    assert TOKEN not in out + err


def test_kubeconfig_context_for_local_use(capsys, tmp_path) -> None:
    with KubeApi(TOKEN) as api:
        (tmp_path / "kubeconfig").write_text(textwrap.dedent(f"""\
            apiVersion: v1
            kind: Config
            current-context: dev
            clusters:
              - name: local
                cluster: {{server: "{api.url}"}}
            contexts:
              - name: dev
                context: {{cluster: local, user: me}}
            users:
              - name: me
                user: {{token: {TOKEN}}}
            """))
        config = workspace(tmp_path, [], [{"name": "a", "annotations": {"backstage.io/kubernetes-id": "a"}}],
                           block="kubeconfig: ./kubeconfig\ncollects: [{type: Ingress}]\n")  # the kind spelling works too
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
        assert code == 0, err
        assert api.count("ingresses") == 1
        data = facts(capsys, config, tmp_path / "store", "component:default/a", "kubernetes:default/ingresses")
        assert data["clusters"][0]["name"] == "dev" and data["count"] == 1
    assert TOKEN not in out + err


def self_signed(folder: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


def test_https_clusters_with_their_ca_or_skip_tls_verify(capsys, tmp_path, monkeypatch) -> None:
    import base64

    monkeypatch.setenv("K8S_MINIKUBE_TOKEN", TOKEN)
    cert, key = self_signed(tmp_path)
    ca_data = base64.b64encode(Path(cert).read_bytes()).decode()
    entities = [{"name": "a", "annotations": {"backstage.io/kubernetes-id": "a"}}]
    block = "collects: [{factName: services}]\nretry: {maxAttempts: 1}\n"  # factName alone names the kind
    with KubeApi(TOKEN, tls=(cert, key)) as api:
        for settings, ok in (({"caData": ca_data}, True), ({"caFile": cert}, True), ({"skipTLSVerify": True}, True),
                             ({}, False)):
            node = {**cluster(api), "skipTLSVerify": False, **settings}
            config = workspace(tmp_path, [node], entities, block=block)
            code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"), "--force")
            if ok:
                assert code == 0, (settings, err)
            else:
                assert code == 1 and "CERTIFICATE_VERIFY_FAILED" in err, err
            assert TOKEN not in out + err
    assert api.count("services") == 3  # the handshake failed before the request was sent


def test_an_unset_token_variable_is_named(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("K8S_MINIKUBE_TOKEN", raising=False)
    with KubeApi(TOKEN) as api:
        config = workspace(tmp_path, [cluster(api)], [{"name": "a", "annotations": {"backstage.io/kubernetes-id": "a"}}],
                           block="collects: [{type: pods}]\n")
        code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 1 and api.count() == 0
    assert "has no serviceAccountToken (environment variable K8S_MINIKUBE_TOKEN is not set)" in err, err


def test_a_resource_the_cluster_does_not_serve_fails_that_fact_only(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("K8S_MINIKUBE_TOKEN", TOKEN)
    with KubeApi(TOKEN, unserved={"horizontalpodautoscalers"}) as api:
        config = workspace(tmp_path, [cluster(api)], [{"name": "a", "annotations": {"backstage.io/kubernetes-id": "a"}}],
                           block="collects: [{type: horizontalpodautoscalers}, {type: deployments}]\n")
        code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 1
    assert "kubernetes: 1 collected, 0 fresh (skipped), 0 not applicable, 1 failed" in err, err
    assert ("cluster 'minikube' does not serve /apis/autoscaling/v2/horizontalpodautoscalers "
            "(HTTP 404: the server could not find the requested resource)") in err


def test_an_unsupported_cluster_locator_is_reported_as_not_queried(capsys, tmp_path, monkeypatch) -> None:
    # Soundcheck supports the config and catalog locators only (catalog: tests/test_kubernetes_catalog_and_exec.py)
    monkeypatch.setenv("K8S_MINIKUBE_TOKEN", TOKEN)
    with KubeApi(TOKEN) as api:
        config = workspace(tmp_path, [cluster(api)], [{"name": "a", "annotations": {"backstage.io/kubernetes-id": "a"}}],
                           block="collects: [{type: pods}]\n", locators="    - {type: gke, projectId: p, region: r}\n")
        code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 0, err
    assert (f"warning: {config}:10:14: collector kubernetes: kubernetes.clusterLocatorMethods: type 'gke' is not "
            "supported by soundcheck (nor by Soundcheck); its clusters are not queried") in err, err


def test_an_expired_continue_token_fails_the_fact_and_keeps_the_old_one(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("K8S_MINIKUBE_TOKEN", TOKEN)
    store = tmp_path / "store"
    with KubeApi(TOKEN, objects={"a": 3}) as api:
        config = workspace(tmp_path, [cluster(api)], [{"name": "a", "annotations": {"backstage.io/kubernetes-id": "a"}}],
                           block="collects: [{type: pods}]\n")
        assert cli(capsys, "collect", "-c", str(config), "--store", str(store))[0] == 0
        api.expire_continue = True
        code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(store), "--force")
    assert code == 1
    assert "the pods list changed while it was paged (HTTP 410 Expired: The provided continue parameter is too old" in err
    assert facts(capsys, config, store, "component:default/a", "kubernetes:default/pods")["count"] == 3  # kept


def test_config_errors_are_located(capsys, tmp_path) -> None:
    config = workspace(tmp_path, [{"url": "http://127.0.0.1:9", "name": "prod", "serviceAccountToken": "x" * 20}],
                       [{"name": "a"}], block="clusters: [staging]\ncollects: [{type: deploymentz}]\n")
    code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 2
    assert f"{config}:" in err and "deploymentz" in err


def test_no_cluster_configured_fails_collect_with_the_reason(capsys, tmp_path) -> None:
    config = workspace(tmp_path, [], [{"name": "a", "annotations": {"backstage.io/kubernetes-id": "a"}}],
                       block="collects: [{type: pods}]\n")
    code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 1
    assert "collector kubernetes: no cluster to query" in err


# -- manifests in a checkout: gate a pull request before deploy ----------------------------------------------------

REPO = Path(__file__).parent / "fixtures" / "kubernetes-repo"
READINESS = """\
  checks:
    - id: deployments_have_readiness_probes
      rule: {factRef: kubernetes:default/deployments, path: $.withoutReadinessProbe, operator: equal, value: 0}
    - id: deployments_have_resource_requests
      rule: {factRef: kubernetes:default/deployments, path: $.withoutResourceRequests, operator: equal, value: 0}
    - id: at_least_two_replicas
      rule: {factRef: kubernetes:default/deployments, path: $.minReplicas, operator: greaterThanInclusive, value: 2}
    - id: has_pod_disruption_budget
      rule: {factRef: kubernetes:default/poddisruptionbudgets, path: $.count, operator: greaterThan, value: 0}
  tracks:
    - id: production_readiness
      levels:
        - {ordinal: 1, name: Probed, checks: [{id: deployments_have_readiness_probes}, {id: deployments_have_resource_requests}]}
        - {ordinal: 2, name: Resilient, checks: [{id: at_least_two_replicas}, {id: has_pod_disruption_budget}]}
"""


def test_manifests_in_a_checkout_gate_a_pull_request(capsys, tmp_path) -> None:
    entities = [{"name": n, "annotations": {"backstage.io/kubernetes-id": n, "backstage.io/kubernetes-namespace": "shop"}}
                for n in ("api", "worker")]
    config = workspace(tmp_path, [], entities, extra=READINESS, block="""\
        manifests: ["deploy/*.yaml", "rendered/*.yaml"]
        collects: [{type: deployments}, {type: poddisruptionbudgets}, {type: horizontalpodautoscalers}, {type: services}]
        """)
    store = str(tmp_path / "store")
    code, out, err = cli(capsys, "run", "-c", str(config), "--store", store, "--scm-root", str(REPO), "-f", "json")
    assert code == 1, err  # the worker fails the track
    report = json.loads(out)
    states = {(r["entityRef"].split("/")[-1], r["checkId"]): r["state"] for r in report["results"]}
    assert states == {
        ("api", "deployments_have_readiness_probes"): "passed",
        ("api", "deployments_have_resource_requests"): "passed",
        ("api", "at_least_two_replicas"): "passed",
        ("api", "has_pod_disruption_budget"): "passed",
        ("worker", "deployments_have_readiness_probes"): "failed",
        ("worker", "deployments_have_resource_requests"): "failed",
        ("worker", "at_least_two_replicas"): "failed",
        ("worker", "has_pod_disruption_budget"): "failed",
    }
    levels = {c["entityRef"].split("/")[-1]: (c["highestLevel"] or {}).get("ordinal") for c in report["certifications"]}
    assert levels == {"api": 2, "worker": None}

    hpa = facts(capsys, config, Path(store), "component:default/api", "kubernetes:default/horizontalpodautoscalers")
    assert hpa["minReplicas"] == 2 and hpa["clusters"][0]["files"] == ["rendered/api-hpa.yaml"]  # the List opened
    deployments = facts(capsys, config, Path(store), "component:default/worker", "kubernetes:default/deployments")
    assert deployments["clusters"][0]["name"] == "manifests" and deployments["count"] == 1
    assert deployments["clusters"][0]["items"][0]["spec"]["replicas"] == 1

    # a fix in the working tree is seen at once (manifests are read on every run, no cache)
    fixed = tmp_path / "checkout"
    import shutil

    shutil.copytree(REPO, fixed)
    worker = (fixed / "deploy" / "worker.yaml").read_text().replace("replicas: 1", "replicas: 3")
    (fixed / "deploy" / "worker.yaml").write_text(worker)
    code, out, err = cli(capsys, "run", "-c", str(config), "--store", store, "--scm-root", str(fixed), "-f", "json",
                         "--check", "at_least_two_replicas")
    assert code == 0, err
    assert {r["state"] for r in json.loads(out)["results"]} == {"passed"}


def test_a_broken_manifest_fails_the_facts_with_file_and_line(capsys, tmp_path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "bad.yaml").write_text("kind: Deployment\nmetadata: {name: x\n")
    config = workspace(tmp_path, [], [{"name": "x", "annotations": {"backstage.io/kubernetes-id": "x"}}],
                       block="manifests: ['*.yaml']\ncollects: [{type: deployments}]\n")
    code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"), "--scm-root",
                       str(tmp_path / "repo"))
    assert code == 1
    assert "bad.yaml:3: not valid YAML (expected ',' or '}'" in err, err
    config.write_text(config.read_text().replace("'*.yaml'", "'k8s/*.yaml'"))
    code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"), "--scm-root",
                       str(tmp_path / "repo"))
    assert code == 1 and "manifests: 'k8s/*.yaml' matches no file under" in err


def test_the_run_redactor_masks_service_account_tokens_and_personal_access_tokens() -> None:
    from soundcheck_cli.redact import Redactor

    redactor = Redactor.from_config({
        "kubernetes": {"clusterLocatorMethods": [{"type": "config", "clusters": [{"name": "p", "serviceAccountToken": TOKEN}]}]},
        "soundcheck": {"collectors": {"jira": {"personalAccessToken": "jira-pat-0123456789"}}},
    })
    assert redactor.redact(f"sent {TOKEN} and jira-pat-0123456789") == "sent *** and ***"
