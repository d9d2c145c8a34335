"""Where the ``kubernetes`` collector finds its clusters: Backstage's ``kubernetes:`` config, or a kubeconfig.

Backstage (``@backstage/plugin-kubernetes-backend``, "Configuration") lists clusters under
``kubernetes.clusterLocatorMethods``; the ``config`` method has ``clusters: [{url, name, authProvider,
serviceAccountToken, skipTLSVerify, caData, caFile}]``. Soundcheck's integration reads that same block, so this
collector does too: a Backstage app-config works unchanged. Of the auth providers only ``serviceAccount`` is
supported (a bearer token; without ``serviceAccountToken`` the pod's own token at
``/var/run/secrets/kubernetes.io/serviceaccount/token`` is used, as Backstage does in-cluster). A cluster with
another provider stays in the list with the reason it cannot be queried, so its facts fail loudly rather than
silently leaving that cluster out.

For local use, ``kubeconfig: <file>`` (and ``context:``) in the collector's block queries the kubeconfig's
context instead: ``server``, ``certificate-authority(-data)``, ``insecure-skip-tls-verify``, and a user with
``token``/``tokenFile`` or a client certificate (``client-certificate(-data)``/``client-key(-data)``).
``exec`` and ``auth-provider`` users (cloud plugins) are not run: the cluster reports why.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.collectors.api import credential_source
from soundcheck_cli.config.env import missing_env
from soundcheck_cli.located.nodes import loc_of

IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


@dataclass
class Cluster:
    name: str
    url: str
    token: str | None = None
    credential: str = "serviceAccountToken"  # where the token comes from, for messages (never its value)
    skip_tls_verify: bool = False
    ca_data: str | None = None  # PEM text
    ca_file: str | None = None
    client_cert: tuple[str, str] | None = None  # (certificate PEM, key PEM)
    problem: str | None = None  # why this cluster cannot be queried
    _ssl: ssl.SSLContext | None = field(default=None, repr=False)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A TLS context when the cluster needs its own (CA, skip verification, client certificate); else
        ``None`` (the client's default verification against the system CAs)."""
        if not self.url.startswith("https://") or not (self.skip_tls_verify or self.ca_data or self.ca_file or self.client_cert):
            return None
        if self._ssl is None:
            context = ssl.create_default_context(cafile=self.ca_file or None, cadata=self.ca_data or None)
            if self.skip_tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if self.client_cert:
                _load_client_cert(context, *self.client_cert)
            self._ssl = context
        return self._ssl


def _load_client_cert(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    # ``load_cert_chain`` reads files only: the PEM text goes through a private temporary folder, removed at once.
    with tempfile.TemporaryDirectory(prefix="soundcheck-kube-") as folder:
        cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for path, text in ((cert, cert_pem), (key, key_pem)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as handle:
                handle.write(text)
        context.load_cert_chain(cert, key)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _where(node: Any, key: str, what: str) -> str:
    location = loc_of(node, key) if isinstance(node, Mapping) and key in node else loc_of(node)
    return f"{what} ({location.path}:{location.line})" if location is not None and location.line else what


def backstage_clusters(app_config: Mapping[str, Any] | None) -> list[Cluster]:
    """The clusters of ``kubernetes.clusterLocatorMethods`` entries of ``type: config``, in order."""
    kubernetes = (app_config or {}).get("kubernetes") if isinstance(app_config, Mapping) else None
    methods = kubernetes.get("clusterLocatorMethods") if isinstance(kubernetes, Mapping) else None
    out: list[Cluster] = []
    for method in methods if isinstance(methods, list) else []:
        if not isinstance(method, Mapping) or method.get("type") != "config":
            continue
        for index, node in enumerate(method.get("clusters") or []):
            if not isinstance(node, Mapping):
                continue
            name = _text(node.get("name")) or f"cluster {index + 1}"
            url = (_text(node.get("url")) or "").rstrip("/")
            # the key and the ${VARIABLE} written there, with file:line -- never the value
            cluster = Cluster(name=name, url=url, credential=credential_source(node, "serviceAccountToken"))
            cluster.skip_tls_verify = node.get("skipTLSVerify") is True
            ca_data = _text(node.get("caData"))
            if ca_data:
                try:
                    cluster.ca_data = base64.b64decode(ca_data).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    cluster.problem = f"caData of cluster {name!r} is not base64-encoded PEM"
            cluster.ca_file = _text(node.get("caFile"))
            provider = _text(node.get("authProvider")) or "serviceAccount"
            if not url.startswith(("https://", "http://")):
                cluster.problem = f"cluster {name!r} has no http(s) url ({_where(node, 'url', 'url')})"
            elif provider != "serviceAccount":
                cluster.problem = (
                    f"cluster {name!r} uses authProvider {provider!r}; soundcheck supports serviceAccount only "
                    "(list the clusters to query in the collector's clusters:)"
                )
            else:
                cluster.token = _text(node.get("serviceAccountToken"))
                if cluster.token is None and os.path.isfile(IN_CLUSTER_TOKEN):
                    cluster.token = _read(IN_CLUSTER_TOKEN)
                    cluster.credential = IN_CLUSTER_TOKEN
                if cluster.token is None:
                    missing = missing_env(node, "serviceAccountToken")
                    why = f"environment variable {missing} is not set" if missing else _where(node, "url", "no token in the config")
                    cluster.problem = f"cluster {name!r} has no serviceAccountToken ({why})"
            out.append(cluster)
    return out


def unsupported_locators(app_config: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The ``clusterLocatorMethods`` entries other than ``config`` (``catalog``, ``gke``, ``localKubectlProxy``...):
    their clusters are not queried, and the user is told so."""
    kubernetes = (app_config or {}).get("kubernetes") if isinstance(app_config, Mapping) else None
    methods = kubernetes.get("clusterLocatorMethods") if isinstance(kubernetes, Mapping) else None
    return [m for m in methods if isinstance(m, Mapping) and m.get("type") != "config"] if isinstance(methods, list) else []


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _named(items: Any, name: str | None, key: str) -> Mapping[str, Any] | None:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and item.get("name") == name and isinstance(item.get(key), Mapping):
            return item[key]
    return None


def kubeconfig_cluster(path: str, context_name: str | None = None) -> Cluster:
    """The cluster of ``context_name`` (default: ``current-context``) in the kubeconfig at ``path``; a ``Cluster``
    with ``problem`` set when the file or the context cannot be used."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    name = context_name or "kubeconfig"
    try:
        with open(path, encoding="utf-8") as handle:
            document = YAML(typ="safe", pure=True).load(handle)
    except (OSError, YAMLError) as exc:
        return Cluster(name, "", problem=f"kubeconfig {path}: cannot be read ({type(exc).__name__}: {exc})")
    if not isinstance(document, Mapping):
        return Cluster(name, "", problem=f"kubeconfig {path}: not a kubeconfig (no mapping)")
    name = context_name or _text(document.get("current-context")) or ""
    context = _named(document.get("contexts"), name, "context")
    if context is None:
        return Cluster(name or "kubeconfig", "", problem=f"kubeconfig {path}: no context {name!r}")
    base = os.path.dirname(os.path.abspath(path))

    def file(value: Any) -> str | None:
        text = _text(value)
        return None if text is None else (text if os.path.isabs(text) else os.path.join(base, text))

    def data(value: Any) -> str | None:
        text = _text(value)
        try:
            return base64.b64decode(text).decode("utf-8") if text else None
        except (ValueError, UnicodeDecodeError):
            return None

    server = _named(document.get("clusters"), context.get("cluster"), "cluster") or {}
    user = _named(document.get("users"), context.get("user"), "user") or {}
    cluster = Cluster(name, (_text(server.get("server")) or "").rstrip("/"), credential=f"the user of context {name!r} in {path}")
    cluster.skip_tls_verify = server.get("insecure-skip-tls-verify") is True
    cluster.ca_data = data(server.get("certificate-authority-data"))
    cluster.ca_file = file(server.get("certificate-authority"))
    cluster.token = _text(user.get("token")) or (_read(file(user["tokenFile"]) or "") if user.get("tokenFile") else None)
    cert = data(user.get("client-certificate-data")) or (_read(file(user.get("client-certificate")) or "") if user.get("client-certificate") else None)
    key = data(user.get("client-key-data")) or (_read(file(user.get("client-key")) or "") if user.get("client-key") else None)
    if cert and key:
        cluster.client_cert = (cert, key)
    if not cluster.url.startswith(("https://", "http://")):
        cluster.problem = f"kubeconfig {path}: context {name!r} has no server URL"
    elif not cluster.token and not cluster.client_cert:
        how = "exec" if "exec" in user else "auth-provider" if "auth-provider" in user else None
        cluster.problem = (
            f"kubeconfig {path}: the user of context {name!r} uses {how}, which soundcheck does not run; use a token"
            if how else f"kubeconfig {path}: the user of context {name!r} has no token or client certificate"
        )
    return cluster
