"""The ``kubernetes`` collector's catalog cluster locator and kubeconfig ``exec`` credentials, through the CLI in a
subprocess, against the mock Kubernetes API on 127.0.0.1 (``kube_api.KubeApi``, from the recorded API shapes).

Catalog clusters are ``Resource`` entities of ``spec.type: kubernetes-cluster`` with Backstage's annotations
(``kubernetes.io/api-server``, ``-certificate-authority``, ``auth-provider``); their credentials come from the
kubeconfig named by ``kubeconfigCredentials`` (the context of the same server URL). Exec plugins are a small Python
script printing an ``ExecCredential``; it records each run in a file, so the tests see how often it ran and what it
was given.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from kube_api import KubeApi
from test_collectors_kubernetes import self_signed

TOKEN = "exec-plugin-token-0123456789abcdef"
API_V1 = "client.authentication.k8s.io/v1"


def soundcheck(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCHECK_", "K8S_"))}
    return subprocess.run([sys.executable, "-m", "soundcheck_cli", *args], cwd=cwd, env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


def plugin(folder: Path, tokens: list[str], *, api_version: str = API_V1, print_text: str | None = None,
           fail: str | None = None) -> Path:
    """An exec plugin: its n-th run prints ``tokens[n]`` (the last one after that), expiring in an hour; it appends
    what it was given (args, FOO, KUBERNETES_EXEC_INFO) to ``runs.jsonl``."""
    script = folder / "plugin.py"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys
        from pathlib import Path
        runs = Path({str(folder / "runs.jsonl")!r})
        done = len(runs.read_text().splitlines()) if runs.exists() else 0
        with runs.open("a") as f:
            f.write(json.dumps({{"args": sys.argv[1:], "foo": os.environ.get("FOO"),
                                 "info": json.loads(os.environ.get("KUBERNETES_EXEC_INFO", "null"))}}) + "\\n")
        fail = {fail!r}
        if fail:
            print("starting", file=sys.stderr)
            print(fail, file=sys.stderr)
            sys.exit(3)
        tokens = {tokens!r}
        text = {print_text!r}
        if text is not None:
            print(text)
        else:
            print(json.dumps({{"apiVersion": {api_version!r}, "kind": "ExecCredential",
                               "status": {{"token": tokens[min(done, len(tokens) - 1)],
                                          "expirationTimestamp": "2999-01-01T00:00:00Z"}}}}))
        """))
    script.chmod(0o755)
    return script


def runs(folder: Path) -> list[dict[str, Any]]:
    path = folder / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def kubeconfig(folder: Path, server: str, exec_block: str, *, ca_data: str | None = None) -> Path:
    ca = f", certificate-authority-data: {ca_data}" if ca_data else ""
    path = folder / "kubeconfig"
    path.write_text(textwrap.dedent(f"""\
        apiVersion: v1
        kind: Config
        current-context: cloud
        clusters:
          - name: cloud
            cluster: {{server: "{server}"{ca}}}
        contexts:
          - name: cloud
            context: {{cluster: cloud, user: me}}
        users:
          - name: me
            user:
        """) + textwrap.indent(textwrap.dedent(exec_block), "      "))
    return path


EXEC = """\
exec:
  apiVersion: client.authentication.k8s.io/v1
  command: ./plugin.py
  args: [--cluster, prod]
  env: [{name: FOO, value: bar}]
  interactiveMode: Never
  provideClusterInfo: true
"""


def components(names: list[str]) -> list[dict[str, Any]]:
    return [{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
             "metadata": {"name": n, "annotations": {"backstage.io/kubernetes-id": n}},
             "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}} for n in names]


def cluster_resource(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "backstage.io/v1alpha1", "kind": "Resource",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"type": "kubernetes-cluster", "owner": "team-platform"}}


def write_workspace(folder: Path, documents: list[dict[str, Any]], kubernetes: str, block: str) -> Path:
    # one document per line: a warning's catalog.yaml:<line> points at its entity
    (folder / "catalog.yaml").write_text("".join("---\n" + json.dumps(d) + "\n" for d in documents))
    (folder / "app-config.yaml").write_text(
        "catalog:\n  locations:\n    - {type: file, target: ./catalog.yaml}\n"
        + textwrap.dedent(kubernetes)
        + "soundcheck:\n  collectors:\n    kubernetes:\n" + textwrap.indent(textwrap.dedent(block), "      ")
    )
    return folder / "app-config.yaml"


def fact(folder: Path, entity: str, ref: str) -> Any:
    done = soundcheck(folder, "facts", "show", entity, ref, "-c", "app-config.yaml", "--store", "store")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["data"]


def test_catalog_cluster_resources_are_queried_with_kubeconfig_exec_credentials(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    ca_data = base64.b64encode(Path(cert).read_bytes()).decode()
    plugin(tmp_path, [TOKEN])
    with KubeApi(TOKEN, tls=(cert, key), objects={"api": 2}) as api:
        kubeconfig(tmp_path, api.url, EXEC)
        documents = components(["api", "worker"]) + [
            cluster_resource("prod-eu", {"kubernetes.io/api-server": api.url,
                                         "kubernetes.io/api-server-certificate-authority": ca_data,
                                         "kubernetes.io/auth-provider": "oidc",
                                         "kubernetes.io/oidc-token-provider": "microsoft",
                                         "kubernetes.io/skip-metrics-lookup": "true"}),
            cluster_resource("eks-us", {"kubernetes.io/api-server": "https://eks-us.example.com",
                                        "kubernetes.io/api-server-certificate-authority": ca_data,
                                        "kubernetes.io/auth-provider": "aws"}),
            cluster_resource("sa", {"kubernetes.io/api-server": api.url,
                                    "kubernetes.io/api-server-certificate-authority": ca_data,
                                    "kubernetes.io/auth-provider": "serviceAccount"}),
            cluster_resource("private", {"kubernetes.io/api-server": "https://10.1.2.3:6443",
                                         "kubernetes.io/api-server-certificate-authority": ca_data,
                                         "kubernetes.io/auth-provider": "oidc"}),
            cluster_resource("no-ca", {"kubernetes.io/api-server": api.url, "kubernetes.io/auth-provider": "oidc"}),
        ]
        config = write_workspace(tmp_path, documents, """\
            kubernetes:
              serviceLocatorMethod: {type: multiTenant}
              clusterLocatorMethods:
                - type: catalog
                  dangerouslyAllowClusterUrls: [127.0.0.1]
            """, "kubeconfigCredentials: ./kubeconfig\ncollects: [{type: deployments}, {type: pods}]\n")
        done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store")
        assert done.returncode == 0, done.stderr
        out = done.stdout + done.stderr
        # 2 components x 2 facts, one list each, from the one usable catalog cluster, with the plugin's token
        assert api.count() == 4 and {auth for _, _, auth in api.requests} == {f"Bearer {TOKEN}"}
        assert "kubernetes: 4 collected, 0 fresh (skipped), 10 not applicable, 0 failed" in done.stderr, done.stderr
        catalog = tmp_path / "catalog.yaml"
        assert (f"{catalog}:8:1: collector kubernetes: catalog cluster 'eks-us' (resource:default/eks-us) is not "
                "queried: authProvider 'aws': kubeconfigCredentials has no context whose cluster server is "
                "https://eks-us.example.com") in done.stderr, done.stderr
        assert (f"{catalog}:10:1: collector kubernetes: catalog cluster 'sa' (resource:default/sa) is not queried: "
                "authProvider 'serviceAccount' is not supported by the catalog cluster locator") in done.stderr
        assert (f"{catalog}:12:1: collector kubernetes: catalog cluster 'private' (resource:default/private) is not "
                "queried: kubernetes.io/api-server 'https://10.1.2.3:6443' is a non-public address") in done.stderr
        assert (f"{catalog}:14:1: collector kubernetes: catalog cluster 'no-ca' (resource:default/no-ca) is not "
                "queried: no kubernetes.io/api-server-certificate-authority annotation") in done.stderr
        assert TOKEN not in out

        # the plugin ran once for the run, with its args, env and the cluster's info
        [run] = runs(tmp_path)
        assert run["args"] == ["--cluster", "prod"] and run["foo"] == "bar"
        assert run["info"]["spec"]["interactive"] is False and run["info"]["spec"]["cluster"]["server"] == api.url

        data = fact(tmp_path, "component:default/api", "kubernetes:default/deployments")
        assert [(c["name"], c["count"]) for c in data["clusters"]] == [("prod-eu", 2)]
        assert data["clusters"][0]["items"][0]["metadata"]["name"] == "api-0"

        # Backstage's SSRF guard: without dangerouslyAllowClusterUrls the 127.0.0.1 cluster is left out too
        config.write_text(config.read_text().replace("      dangerouslyAllowClusterUrls: [127.0.0.1]\n", ""))
        before = api.count()
        done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store", "--force")
        assert done.returncode == 1 and api.count() == before
        assert ("catalog cluster 'prod-eu' (resource:default/prod-eu) is not queried: kubernetes.io/api-server "
                f"'{api.url}' is a non-public address (list it in dangerouslyAllowClusterUrls") in done.stderr
        assert "collector kubernetes: no cluster to query" in done.stderr


def test_catalog_clusters_without_kubeconfig_credentials_say_what_login_they_need(tmp_path: Path) -> None:
    documents = components(["api"]) + [
        cluster_resource("gke", {"kubernetes.io/api-server": "https://35.1.2.3",
                                 "kubernetes.io/api-server-certificate-authority": "",
                                 "kubernetes.io/auth-provider": "googleServiceAccount",
                                 "kubernetes.io/skip-tls-verify": "true"}),
    ]
    write_workspace(tmp_path, documents, """\
        kubernetes:
          clusterLocatorMethods:
            - type: catalog
        """, "collects: [{type: services}]\n")
    done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store")
    assert done.returncode == 1
    assert ("catalog cluster 'gke' (resource:default/gke): kubernetes.io/skip-tls-verify is ignored: the catalog "
            "locator method does not set dangerouslyAllowSkipTLSVerify: true") in done.stderr, done.stderr
    assert ("catalog cluster 'gke' (resource:default/gke) is not queried: authProvider 'googleServiceAccount': it "
            "needs Google service account credentials, which soundcheck does not obtain itself; set "
            "kubeconfigCredentials: in the collector's block to a kubeconfig with a context for https://35.1.2.3"
            ) in done.stderr
    assert "no cluster to query" in done.stderr

    # a catalog without cluster Resources is named too (not silence)
    write_workspace(tmp_path, components(["api"]), """\
        kubernetes:
          clusterLocatorMethods:
            - type: catalog
        """, "collects: [{type: services}]\n")
    done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store")
    assert done.returncode == 1
    assert ("app-config.yaml:6:13: collector kubernetes: kubernetes.clusterLocatorMethods: type 'catalog': the "
            "catalog has no Resource of spec.type kubernetes-cluster") in done.stderr, done.stderr


def test_a_kubeconfig_exec_plugin_runs_once_is_renewed_after_a_401_and_its_token_is_never_shown(tmp_path: Path) -> None:
    plugin(tmp_path, ["revoked-token-value-0001", TOKEN])
    with KubeApi(TOKEN) as api:
        kubeconfig(tmp_path, api.url, EXEC)
        write_workspace(tmp_path, components([f"svc{i}" for i in range(12)]), "",
                        "kubeconfig: ./kubeconfig\ncollects: [{type: pods}, {type: services}]\n")
        done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store", "-v")
        assert done.returncode == 0, done.stderr
        # the first token is refused (401): the plugin runs once more, then every list uses the new token
        assert len(runs(tmp_path)) == 2
        assert [auth for _, _, auth in api.requests] == ["Bearer revoked-token-value-0001"] + [f"Bearer {TOKEN}"] * 24
        assert TOKEN not in done.stdout + done.stderr and "revoked-token-value-0001" not in done.stdout + done.stderr
        assert fact(tmp_path, "component:default/svc3", "kubernetes:default/pods")["clusters"][0]["name"] == "cloud"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: kubeconfig(d, "{url}", EXEC.replace("./plugin.py", "./missing-plugin").replace(
            "interactiveMode: Never", "interactiveMode: Never\n  installHint: install it with brew install missing")),
         "exec command '{dir}/missing-plugin' of user 'me' in {dir}/kubeconfig:13 was not found; install it with brew"),
        (lambda d: (plugin(d, [TOKEN], fail="error: you must be logged in: run aws sso login"), kubeconfig(d, "{url}", EXEC)),
         ("exec command '{dir}/plugin.py' of user 'me' in {dir}/kubeconfig:13 exited with status 3: error: you must "
          "be logged in: run aws sso login")),
        (lambda d: (plugin(d, [TOKEN], print_text=f"token={TOKEN}"), kubeconfig(d, "{url}", EXEC)),
         ("exec command '{dir}/plugin.py' of user 'me' in {dir}/kubeconfig:13 did not print an ExecCredential as "
          "JSON (not JSON at line 1 column 1)")),
        (lambda d: (plugin(d, [TOKEN], api_version="client.authentication.k8s.io/v1beta1"), kubeconfig(d, "{url}", EXEC)),
         ("printed apiVersion 'client.authentication.k8s.io/v1beta1'; the kubeconfig asks for "
          "'client.authentication.k8s.io/v1'")),
        (lambda d: kubeconfig(d, "{url}", EXEC.replace("interactiveMode: Never", "interactiveMode: Always")),
         "exec of user 'me' in {dir}/kubeconfig:13 has interactiveMode Always: it needs a terminal"),
    ],
    ids=["missing", "fails", "not-json", "api-version", "interactive"],
)
def test_exec_plugin_problems_fail_the_facts_with_the_kubeconfig_line(tmp_path: Path, setup: Any, message: str) -> None:
    with KubeApi(TOKEN) as api:
        setup(tmp_path)
        path = tmp_path / "kubeconfig"
        path.write_text(path.read_text().replace("{url}", api.url))
        write_workspace(tmp_path, components(["a", "b", "c"]), "", "kubeconfig: ./kubeconfig\ncollects: [{type: pods}]\n")
        done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store")
    assert done.returncode == 1
    assert api.count() == 0
    assert message.format(dir=tmp_path) in done.stderr, done.stderr
    assert "kubernetes: 0 collected, 0 fresh (skipped), 0 not applicable, 3 failed" in done.stderr
    assert len(runs(tmp_path)) <= 1  # a failing plugin is not run again for every entity
    assert TOKEN not in done.stdout + done.stderr


def test_a_config_cluster_of_a_cloud_auth_provider_takes_the_kubeconfig_user_of_its_server(tmp_path: Path) -> None:
    with KubeApi(TOKEN) as api:
        # the kubeconfig names the server with an upper-case scheme and a trailing slash: still the same server
        kubeconfig(tmp_path, api.url.replace("http://", "HTTP://") + "/", f"token: {TOKEN}\n")
        kubernetes = f"""\
            kubernetes:
              clusterLocatorMethods:
                - type: config
                  clusters:
                    - {{name: eks-prod, url: "{api.url}", authProvider: aws}}
            """
        write_workspace(tmp_path, components(["api"]), kubernetes, "collects: [{type: services}]\n")
        done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store")
        assert done.returncode == 1 and api.count() == 0  # without kubeconfigCredentials: the reason, no request
        assert ("cluster 'eks-prod' uses authProvider 'aws': it needs AWS credentials, which soundcheck does not "
                "obtain itself; set kubeconfigCredentials:") in done.stderr, done.stderr

        write_workspace(tmp_path, components(["api"]), kubernetes,
                        "kubeconfigCredentials: kubeconfig\ncollects: [{type: services}]\n")
        done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store")
        assert done.returncode == 0, done.stderr
        assert [auth for _, _, auth in api.requests] == [f"Bearer {TOKEN}"]
        assert TOKEN not in done.stdout + done.stderr
        assert fact(tmp_path, "component:default/api", "kubernetes:default/services")["clusters"][0]["name"] == "eks-prod"


def test_a_catalog_cluster_named_like_a_config_cluster_is_left_out(tmp_path: Path) -> None:
    with KubeApi("sa-token-of-the-config-cluster") as config_api, KubeApi(TOKEN) as catalog_api:
        kubeconfig(tmp_path, catalog_api.url, f"token: {TOKEN}\n")
        documents = components(["api"]) + [cluster_resource("prod", {
            "kubernetes.io/api-server": catalog_api.url, "kubernetes.io/api-server-certificate-authority": "",
            "kubernetes.io/auth-provider": "oidc"})]
        write_workspace(tmp_path, documents, f"""\
            kubernetes:
              clusterLocatorMethods:
                - type: config
                  clusters:
                    - {{name: prod, url: "{config_api.url}", serviceAccountToken: sa-token-of-the-config-cluster}}
                - type: catalog
                  dangerouslyAllowClusterUrls: [127.0.0.1]
            """, "kubeconfigCredentials: kubeconfig\ncollects: [{type: services}]\n")
        done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store")
        assert done.returncode == 0, done.stderr
        assert config_api.count() == 1 and catalog_api.count() == 0
        assert ("catalog.yaml:4:1: collector kubernetes: catalog cluster 'prod' is not queried: a cluster of that "
                "name is already configured") in done.stderr, done.stderr


def test_a_catalog_cluster_host_name_resolving_to_a_private_address_is_not_contacted(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with KubeApi(TOKEN, tls=(cert, key)) as api:
        url = api.url.replace("127.0.0.1", "localhost")  # a host name: checked by resolving it, as Backstage does
        kubeconfig(tmp_path, url, f"token: {TOKEN}\n")
        documents = components(["api"]) + [cluster_resource("local", {
            "kubernetes.io/api-server": url, "kubernetes.io/auth-provider": "oidc",
            "kubernetes.io/api-server-certificate-authority": base64.b64encode(Path(cert).read_bytes()).decode()})]
        write_workspace(tmp_path, documents, """\
            kubernetes:
              clusterLocatorMethods:
                - type: catalog
            """, "kubeconfigCredentials: kubeconfig\ncollects: [{type: services}, {type: pods}]\n")
        done = soundcheck(tmp_path, "collect", "-c", "app-config.yaml", "--store", "store")
    assert done.returncode == 1 and api.count() == 0
    assert ("catalog cluster 'local' is not queried: kubernetes.io/api-server host 'localhost' resolves to a "
            "non-public address (") in done.stderr, done.stderr
    assert "kubernetes: 0 collected, 0 fresh (skipped), 2 not applicable, 2 failed" in done.stderr
