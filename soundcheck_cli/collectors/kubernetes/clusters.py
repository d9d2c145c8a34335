"""Where the ``kubernetes`` collector finds its clusters: Backstage's ``kubernetes:`` config, or a kubeconfig.

Backstage (``@backstage/plugin-kubernetes-backend``, "Configuration") lists clusters under
``kubernetes.clusterLocatorMethods``; Soundcheck's integration reads that same block ("We only support the catalog
and config clusterLocatorMethods"), so this collector does too: a Backstage app-config works unchanged.

``type: config`` has ``clusters: [{url, name, authProvider, serviceAccountToken, skipTLSVerify, caData, caFile}]``.
``serviceAccount`` is a bearer token (without ``serviceAccountToken`` the pod's own token at
``/var/run/secrets/kubernetes.io/serviceaccount/token``, as Backstage does in-cluster). The cloud providers
(``aws``, ``azure``, ``google``, ``googleServiceAccount``, ``aks``, ``oidc``) need a login soundcheck does not do
itself: with ``kubeconfigCredentials: <kubeconfig>`` in the collector's block such a cluster uses the kubeconfig
user of the same server URL (``kubeconfig.kubeconfig_credentials``; e.g. the ``exec`` plugin ``aws eks
update-kubeconfig`` writes). A config cluster that cannot be queried stays in the list with the reason, so its facts
fail loudly rather than silently leaving that cluster out.

``type: catalog`` (Backstage's ``CatalogClusterLocator``): the catalog's ``Resource`` entities of ``spec.type:
kubernetes-cluster`` that have the annotations ``kubernetes.io/api-server`` (the URL),
``kubernetes.io/api-server-certificate-authority`` (base64 PEM CA) and ``kubernetes.io/auth-provider``; the cluster
is named by ``metadata.name``; ``kubernetes.io/skip-tls-verify: 'true'`` counts only with
``dangerouslyAllowSkipTLSVerify: true`` on the locator method. As Backstage (plugin-kubernetes-backend 0.21.11)
guards against SSRF, the URL must be ``https`` on a public address unless its host is listed in the method's
``dangerouslyAllowClusterUrls`` (``127.0.0.1``, ``*.internal.example.com``); ``serviceAccount`` is refused (no token
is kept in a catalog entity); the other providers take credentials from ``kubeconfigCredentials`` as above. A catalog
cluster that cannot be used is left out with a located warning, as Backstage logs and skips it.

``kubeconfig: <file>`` (and ``context:``) in the collector's block queries that context instead (``kubeconfig``).
"""

from __future__ import annotations

import base64
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from soundcheck_cli.collectors.api import credential_source
from soundcheck_cli.config.env import missing_env
from soundcheck_cli.errors import Location
from soundcheck_cli.located.nodes import loc_of

if TYPE_CHECKING:
    from soundcheck_cli.catalog.model import Entity
    from soundcheck_cli.collectors.kubernetes.exec_credential import ExecPlugin

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
    exec: ExecPlugin | None = None  # a kubeconfig exec plugin gives the token (or client certificate)
    resolve_host: bool = False  # a catalog cluster's host name: its addresses are checked before the first request
    source: Location | None = None  # a catalog cluster's entity, for warnings
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

    def use_client_cert(self, pair: tuple[str, str]) -> None:
        """Present ``pair`` (certificate PEM, key PEM) from now on: the TLS context is made again."""
        self.client_cert = pair
        self._ssl = None


#: ``kubeconfig.kubeconfig_credentials``: per ``server_key`` a Cluster holding that server's kubeconfig credentials,
#: or why the file cannot be read; ``None`` when the block sets no ``kubeconfigCredentials``.
Lent = Mapping[str, Cluster] | str | None


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


def locator_methods(app_config: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The entries of ``kubernetes.clusterLocatorMethods``, in order."""
    kubernetes = (app_config or {}).get("kubernetes") if isinstance(app_config, Mapping) else None
    methods = kubernetes.get("clusterLocatorMethods") if isinstance(kubernetes, Mapping) else None
    return [m for m in methods if isinstance(m, Mapping)] if isinstance(methods, list) else []


def backstage_clusters(app_config: Mapping[str, Any] | None, lent: Lent = None) -> list[Cluster]:
    """The clusters of ``kubernetes.clusterLocatorMethods`` entries of ``type: config``, in order. ``lent``: the
    ``kubeconfigCredentials`` (``kubeconfig.kubeconfig_credentials``) for the providers soundcheck cannot log in to."""
    out: list[Cluster] = []
    for method in locator_methods(app_config):
        if method.get("type") != "config":
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
                why = borrow(cluster, provider, lent)
                if why:
                    cluster.problem = f"cluster {name!r} uses authProvider {provider!r}: {why}"
            else:
                cluster.token = _text(node.get("serviceAccountToken"))
                if cluster.token is None and os.path.isfile(IN_CLUSTER_TOKEN):
                    cluster.token = read_text(IN_CLUSTER_TOKEN)
                    cluster.credential = IN_CLUSTER_TOKEN
                if cluster.token is None:
                    missing = missing_env(node, "serviceAccountToken")
                    why = f"environment variable {missing} is not set" if missing else _where(node, "url", "no token in the config")
                    cluster.problem = f"cluster {name!r} has no serviceAccountToken ({why})"
            out.append(cluster)
    return out


def unsupported_locators(app_config: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The ``clusterLocatorMethods`` entries other than ``config`` and ``catalog`` (``gke``,
    ``localKubectlProxy``...): their clusters are not queried, and the user is told so."""
    return [m for m in locator_methods(app_config) if m.get("type") not in ("config", "catalog")]


# -- credentials lent by a kubeconfig ----------------------------------------------------------------------------

CLOUD_LOGINS = {
    "aws": "AWS credentials",
    "azure": "an Azure login",
    "aks": "an Azure login",
    "google": "a Google login",
    "googleServiceAccount": "Google service account credentials",
    "oidc": "the signed-in Backstage user's OIDC token",
}


def server_key(url: str) -> str:
    """``url`` compared as a cluster's address: scheme and host in lower case, default port and trailing slash
    dropped (``https://K8S.example.com:443/`` is ``https://k8s.example.com``)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip().rstrip("/")
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"https": 443, "http": 80}.get(scheme)
    netloc = host if port is None or port == default else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def borrow(cluster: Cluster, provider: str, lent: Lent) -> str | None:
    """Give ``cluster`` the credentials of the kubeconfig context for its URL; ``None``, or why it has none."""
    if lent is None:
        return (f"it needs {CLOUD_LOGINS.get(provider, 'a login')}, which soundcheck does not obtain itself; set "
                f"kubeconfigCredentials: in the collector's block to a kubeconfig with a context for {cluster.url}")
    if isinstance(lent, str):
        return lent
    found = lent.get(server_key(cluster.url))
    if found is None:
        return f"kubeconfigCredentials has no context whose cluster server is {cluster.url}"
    if found.problem:
        return found.problem
    cluster.token, cluster.client_cert, cluster.exec = found.token, found.client_cert, found.exec
    cluster.credential = found.credential
    if not (cluster.ca_data or cluster.ca_file or cluster.skip_tls_verify):
        # Backstage gave no trust settings: the kubeconfig's own for that server
        cluster.ca_data, cluster.ca_file, cluster.skip_tls_verify = found.ca_data, found.ca_file, found.skip_tls_verify
    return None


# -- the catalog cluster locator ---------------------------------------------------------------------------------

CLUSTER_TYPE = "kubernetes-cluster"
API_SERVER = "kubernetes.io/api-server"
API_SERVER_CA = "kubernetes.io/api-server-certificate-authority"
AUTH_PROVIDER = "kubernetes.io/auth-provider"
SKIP_TLS_VERIFY = "kubernetes.io/skip-tls-verify"
REQUIRED = (API_SERVER, API_SERVER_CA, AUTH_PROVIDER)  # Backstage's catalog filter: all three must exist


def host_allowed(host: str, patterns: Iterable[Any]) -> bool:
    """Whether ``host`` is listed in ``dangerouslyAllowClusterUrls`` (exact, or ``*.example.com``: the domain and
    its subdomains), case-insensitively, as Backstage matches it."""
    host = host.lower()
    for pattern in patterns:
        pattern = str(pattern).lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) or host == pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def url_refused(url: str, allowed: list[Any]) -> str | None:
    """Why Backstage's catalog locator refuses this API server URL (its SSRF guard), or ``None``; host names that
    are not literal addresses are checked when first used (``public_host``)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return f"{API_SERVER} {url!r} is not a valid URL"
    if parts.username or parts.password:
        return f"{API_SERVER} must not contain credentials"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{API_SERVER} {url!r} must be an http(s) URL"
    if host_allowed(parts.hostname, allowed):
        return None
    if parts.scheme != "https":
        return f"{API_SERVER} {url!r} must use https (or list its host in dangerouslyAllowClusterUrls)"
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    if not address.is_global:
        return f"{API_SERVER} {url!r} is a non-public address (list it in dangerouslyAllowClusterUrls to allow it)"
    return None


async def public_host(url: str) -> str | None:
    """Why the host of a catalog cluster's URL may not be contacted (it resolves to a non-public address, or
    does not resolve), or ``None``. Backstage's check, run once before the first request to the cluster."""
    import asyncio
    import socket

    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"{API_SERVER} host {host!r} does not resolve ({exc})"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return (f"{API_SERVER} host {host!r} resolves to a non-public address ({address}); list it in "
                    "dangerouslyAllowClusterUrls to allow it")
    return None


def catalog_clusters(
    method: Mapping[str, Any], entities: Iterable[Entity], lent: Lent
) -> tuple[list[Cluster], list[tuple[str, Location | None]]]:
    """The clusters of a ``type: catalog`` locator method, and warnings (message, location) for the cluster
    Resources left out. See the module docstring for Backstage's rules."""
    allowed = method.get("dangerouslyAllowClusterUrls")
    allowed = [str(a) for a in allowed] if isinstance(allowed, list) else []
    allow_skip = method.get("dangerouslyAllowSkipTLSVerify") is True
    clusters: list[Cluster] = []
    warnings: list[tuple[str, Location | None]] = []
    seen = False
    for entity in entities:
        spec_type = entity.spec.get("type") if isinstance(entity.spec, Mapping) else None
        if entity.kind.casefold() != "resource" or str(spec_type or "").casefold() != CLUSTER_TYPE:
            continue
        seen = True
        annotations = entity.annotations if isinstance(entity.annotations, Mapping) else {}
        label = f"catalog cluster {entity.name!r} ({entity.ref})"

        def skip(why: str, where: Location | None = entity.source, label: str = label) -> None:
            warnings.append((f"{label} is not queried: {why}", where))

        missing = [a for a in REQUIRED if a not in annotations]
        if missing:
            skip(f"no {' or '.join(missing)} annotation (Backstage's catalog cluster locator needs {', '.join(REQUIRED)})")
            continue
        url = str(annotations[API_SERVER] or "").strip().rstrip("/")
        why = url_refused(url, allowed)
        if why:
            skip(why)
            continue
        cluster = Cluster(entity.name, url, source=entity.source)
        ca = str(annotations[API_SERVER_CA] or "").strip()
        if ca:
            try:
                cluster.ca_data = base64.b64decode(ca, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                skip(f"{API_SERVER_CA} is not base64-encoded PEM")
                continue
        if annotations.get(SKIP_TLS_VERIFY) in ("true", True):
            if allow_skip:
                cluster.skip_tls_verify = True
            else:
                ignored = (f"{label}: {SKIP_TLS_VERIFY} is ignored: the catalog locator method does not set "
                           "dangerouslyAllowSkipTLSVerify: true (as in Backstage)")
                warnings.append((ignored, entity.source))
        provider = str(annotations[AUTH_PROVIDER] or "").strip()
        if provider == "serviceAccount":
            skip("authProvider 'serviceAccount' is not supported by the catalog cluster locator (a service account "
                 "token is never kept in a catalog entity; list the cluster under type: config)")
            continue
        why = borrow(cluster, provider, lent)
        if why:
            skip(f"authProvider {provider!r}: {why}")
            continue
        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            cluster.resolve_host = not host_allowed(host, allowed)
        clusters.append(cluster)
    if not seen:
        none = f"kubernetes.clusterLocatorMethods: type 'catalog': the catalog has no Resource of spec.type {CLUSTER_TYPE}"
        warnings.append((none, loc_of(method, "type") or loc_of(method)))
    return clusters, warnings


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None
