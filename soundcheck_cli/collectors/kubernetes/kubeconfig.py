"""Kubeconfig files (kubectl's ``~/.kube/config`` format), read with locations, for local use of the collector.

Two uses: ``kubeconfig:`` (and ``context:``) in the collector's block queries that context's cluster instead of
Backstage's; ``kubeconfigCredentials:`` lends the kubeconfig's users to Backstage clusters whose ``authProvider``
needs a cloud login soundcheck does not do itself (``aws``, ``google``, ``azure``, ``oidc``...): the user of the
context whose cluster has the same ``server`` URL.

Read: ``server``, ``certificate-authority(-data)``, ``insecure-skip-tls-verify`` of a cluster; ``token``,
``tokenFile``, ``client-certificate(-data)``/``client-key(-data)`` and ``exec`` (``exec_credential``) of a user.
``auth-provider`` users (the removed in-tree cloud plugins) are reported, not run. The file is read by the located
YAML reader, so a problem names ``file:line``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any

from soundcheck_cli.collectors.kubernetes.clusters import Cluster, read_text, server_key
from soundcheck_cli.collectors.kubernetes.exec_credential import exec_plugin
from soundcheck_cli.located import yaml as reader
from soundcheck_cli.located.nodes import LocatedDict, loc_of

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


class KubeconfigError(Exception):
    """A kubeconfig that cannot be read; the message names the file (and line)."""


def read_kubeconfig(path: str) -> Mapping[str, Any]:
    """The kubeconfig at ``path`` as located mappings; raises ``KubeconfigError``."""
    data = reader.read_regular(path, MAX_BYTES)
    if isinstance(data, str):
        raise KubeconfigError(f"kubeconfig {path} {data}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KubeconfigError(f"kubeconfig {path} is not UTF-8 text") from None
    try:
        nodes = reader.compose(text, path, single=True)
    except reader.YamlError as exc:
        raise KubeconfigError(f"kubeconfig {exc.location}: not valid YAML ({exc.problem})") from None
    except reader.YamlLimit as exc:
        raise KubeconfigError(f"kubeconfig {exc.location}: nested too deeply") from None
    if not nodes:
        raise KubeconfigError(f"kubeconfig {path} is empty")
    try:
        document = reader.LocatedConverter(path, MAX_NODES, MAX_DEPTH).convert(nodes[0])
    except reader.DocumentError as exc:
        raise KubeconfigError(f"kubeconfig {exc.location or path}: {exc.message}") from None
    if not isinstance(document, Mapping):
        raise KubeconfigError(f"kubeconfig {path} is not a kubeconfig (no mapping)")
    return document


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _at(node: Any, key: str | None = None) -> str:
    """``file:line`` of ``node`` (of its ``key``, the line that names it), or ``""``."""
    location = node.key_loc(key) if key is not None and isinstance(node, LocatedDict) and key in node else loc_of(node)
    return f"{location.path}:{location.line}" if location is not None and location.line else ""


def _named(items: Any, name: Any, key: str) -> Mapping[str, Any] | None:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and item.get("name") == name and isinstance(item.get(key), Mapping):
            return item[key]
    return None


class _Reader:
    """One kubeconfig file: its clusters' servers and TLS settings, its users' credentials."""

    def __init__(self, path: str, document: Mapping[str, Any]) -> None:
        self.path = path
        self.document = document
        self.base = os.path.dirname(os.path.abspath(path))

    def file(self, value: Any) -> str | None:
        text = _text(value)
        return None if text is None else os.path.join(self.base, os.path.expanduser(text))

    @staticmethod
    def data(value: Any) -> str | None:
        text = _text(value)
        try:
            return base64.b64decode(text).decode("utf-8") if text else None
        except (ValueError, UnicodeDecodeError):
            return None

    def server(self, context: Mapping[str, Any]) -> Mapping[str, Any]:
        return _named(self.document.get("clusters"), context.get("cluster"), "cluster") or {}

    def apply_user(self, cluster: Cluster, context: Mapping[str, Any], context_name: str,
                   server: Mapping[str, Any]) -> None:
        """The credentials of ``context``'s user onto ``cluster`` (token, client certificate or exec plugin), or
        ``cluster.problem`` saying why it has none."""
        user_name = context.get("user")
        user = _named(self.document.get("users"), user_name, "user")
        where = f"user {user_name!r} in {_at(user) or self.path}" if user is not None else f"user {user_name!r}"
        cluster.credential = f"the {where} (context {context_name!r})"
        if user is None:
            cluster.problem = f"kubeconfig {self.path}: context {context_name!r} names user {user_name!r}, which is not in the file"
            return
        cluster.token = _text(user.get("token")) or (read_text(self.file(user["tokenFile"]) or "") if user.get("tokenFile") else None)
        cert = self.data(user.get("client-certificate-data")) or (
            read_text(self.file(user.get("client-certificate")) or "") if user.get("client-certificate") else None)
        key = self.data(user.get("client-key-data")) or (
            read_text(self.file(user.get("client-key")) or "") if user.get("client-key") else None)
        if cert and key:
            cluster.client_cert = (cert, key)
        if "exec" in user and not cluster.token and not cluster.client_cert:
            info = {"server": _text(server.get("server")) or "",
                    "certificate-authority-data": _text(server.get("certificate-authority-data")) or "",
                    "insecure-skip-tls-verify": server.get("insecure-skip-tls-verify") is True}
            plugin = exec_plugin(user["exec"], f"user {user_name!r} in {_at(user, 'exec') or self.path}", self.base, info)
            if isinstance(plugin, str):
                cluster.problem = f"kubeconfig: {plugin}"
            else:
                cluster.exec = plugin
        elif not cluster.token and not cluster.client_cert:
            cluster.problem = (
                f"kubeconfig: {where} uses auth-provider, which kubectl removed (1.26) and soundcheck does not run; "
                "use its exec plugin (e.g. gke-gcloud-auth-plugin, kubelogin) or a token"
                if "auth-provider" in user else f"kubeconfig: {where} has no token, client certificate or exec plugin"
            )

    def tls(self, cluster: Cluster, server: Mapping[str, Any]) -> None:
        cluster.skip_tls_verify = server.get("insecure-skip-tls-verify") is True
        cluster.ca_data = self.data(server.get("certificate-authority-data"))
        cluster.ca_file = self.file(server.get("certificate-authority"))


def kubeconfig_cluster(path: str, context_name: str | None = None) -> Cluster:
    """The cluster of ``context_name`` (default: ``current-context``) in the kubeconfig at ``path``; a ``Cluster``
    with ``problem`` set when the file or the context cannot be used."""
    name = context_name or "kubeconfig"
    try:
        document = read_kubeconfig(path)
    except KubeconfigError as exc:
        return Cluster(name, "", problem=str(exc))
    name = context_name or _text(document.get("current-context")) or ""
    context = _named(document.get("contexts"), name, "context")
    if context is None:
        return Cluster(name or "kubeconfig", "", problem=f"kubeconfig {path}: no context {name!r}")
    kube = _Reader(path, document)
    server = kube.server(context)
    cluster = Cluster(name, (_text(server.get("server")) or "").rstrip("/"))
    if not cluster.url.startswith(("https://", "http://")):
        cluster.problem = f"kubeconfig {path}: context {name!r} has no server URL"
        return cluster
    kube.tls(cluster, server)
    kube.apply_user(cluster, context, name, server)
    return cluster


def kubeconfig_credentials(path: str) -> dict[str, Cluster] | str:
    """Per server (``server_key``) the credentials of the kubeconfig's context for it, as a ``Cluster`` holding
    them (and the kubeconfig's TLS settings for that server); the current context first when several contexts name
    one server. A string when the file cannot be read."""
    try:
        document = read_kubeconfig(path)
    except KubeconfigError as exc:
        return str(exc)
    kube = _Reader(path, document)
    current = _text(document.get("current-context"))
    contexts = [c for c in document.get("contexts") or [] if isinstance(c, Mapping) and isinstance(c.get("context"), Mapping)]
    contexts.sort(key=lambda c: c.get("name") != current)
    out: dict[str, Cluster] = {}
    for item in contexts:
        server = kube.server(item["context"])
        url = _text(server.get("server"))
        if not url or server_key(url) in out:
            continue
        cluster = Cluster(str(item.get("name")), url.rstrip("/"))
        kube.tls(cluster, server)
        kube.apply_user(cluster, item["context"], str(item.get("name")), server)
        out[server_key(url)] = cluster
    return out
