"""``KubernetesCollector``: the objects of each annotated entity, listed from every configured cluster.

For each (entity, fact) due, one list request per cluster: ``GET <group>/<plural>?labelSelector=<selector>&limit=500``
(``/namespaces/<ns>/`` inserted when the entity has ``backstage.io/kubernetes-namespace``), following ``continue``
tokens until the list is complete. A cluster that answers 401 is not asked again this run (its token is wrong for
every entity); a 403 (RBAC) fails that one fact with the API server's own ``Status`` message, naming the
cluster, and every other fact and entity is collected. A fact fails whole when one of its clusters fails: a fact
missing a cluster's objects could pass a check on objects that were never seen, and the fact collected earlier is
kept instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectionConfig
from soundcheck_cli.collectors.credential_gate import CredentialGate
from soundcheck_cli.collectors.entity_collector import (
    EntityCollector,
    collector_config_schema,
)
from soundcheck_cli.collectors.kubernetes.clusters import (
    Cluster,
    backstage_clusters,
    catalog_clusters,
    locator_methods,
    public_host,
    unsupported_locators,
)
from soundcheck_cli.collectors.kubernetes.exec_credential import ExecError
from soundcheck_cli.collectors.kubernetes.kubeconfig import (
    kubeconfig_cluster,
    kubeconfig_credentials,
)
from soundcheck_cli.collectors.kubernetes.manifests import (
    ManifestError,
    ManifestObject,
    read_manifests,
)
from soundcheck_cli.collectors.kubernetes.resources import (
    KINDS,
    SCHEMAS,
    TYPE_ALIASES,
    Kind,
    build_fact,
)
from soundcheck_cli.collectors.kubernetes.selectors import (
    ID_ANNOTATION,
    SELECTOR_ANNOTATION,
    entity_query,
    matches,
)
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig, one_or_many
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.http.client import (
    HttpClient,
    HttpError,
    NotFound,
    http_options,
    json_body,
)
from soundcheck_cli.located.nodes import loc_of

PAGE_SIZE = 500  # kubectl's chunk size: one request per entity and kind unless it has more objects than this
NO_CLUSTER = (
    "collector kubernetes: no cluster to query: configure kubernetes.clusterLocatorMethods (type: config, or "
    "type: catalog with kubernetes-cluster Resources) in the app-config as for Backstage, set kubeconfig: in the "
    "collector's block, or read manifests: from a checkout"
)

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "kubernetes collector",
    block_properties={
        "clusters": {"type": "array", "items": {"type": "string"}, "description": "names of the clusters to query (default: all)"},
        "kubeconfig": {"type": "string", "description": "query this kubeconfig's context instead of Backstage's clusters"},
        "context": {"type": "string", "description": "the kubeconfig context (default: current-context)"},
        "kubeconfigCredentials": {
            "type": "string",
            "description": "kubeconfig whose users authenticate to Backstage clusters of cloud authProviders "
                           "(aws, google, azure, oidc...), matched by server URL",
        },
        "manifests": one_or_many({"type": "string"}),
        "root": {"type": "string", "description": "folder the manifests globs are relative to (--scm-root wins)"},
        "idLabel": {"type": "string", "description": "label the backstage.io/kubernetes-id value is matched on"},
    },
    entry_properties={
        "type": {"enum": list(TYPE_ALIASES)},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
    },
)


class KubernetesCollector(EntityCollector):
    id = "kubernetes"
    name = "Kubernetes"
    description = (
        "Services, pods, deployments, HPAs, stateful sets, PDBs and ingresses of entities annotated "
        "backstage.io/kubernetes-id, from the clusters of Backstage's kubernetes config (or manifests in a checkout)."
    )
    default_fact_names = {fact: fact for fact in KINDS}
    fact_schemas = SCHEMAS

    def __init__(self) -> None:
        super().__init__()
        self._clusters: dict[int, list[Cluster]] = {}
        self._kube_clients: dict[tuple[int, str], HttpClient] = {}
        self._rejected: dict[tuple[int, str], str] = {}
        self._manifests: dict[int, list[ManifestObject] | str] = {}
        self._gate = CredentialGate()
        self._retired: list[HttpClient] = []  # clients replaced after an exec plugin renewed a client certificate

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    # -- configuration ------------------------------------------------------------------------------------------
    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        if entry.get("type") is None and entry.get("factName") in KINDS:
            entry = {**entry, "type": entry["factName"]}  # ``- factName: deployments`` alone names the kind
        elif entry.get("type") in TYPE_ALIASES and entry["type"] not in KINDS:
            entry = {**entry, "type": TYPE_ALIASES[entry["type"]]}  # ``type: Deployment`` -> deployments
        return super().entry_fact_refs(entry, block, location, problems)

    def set_config(self, config: Any) -> None:
        self._clusters, self._rejected, self._manifests, self._gate = {}, {}, {}, CredentialGate()
        super().set_config(config)
        redactor = http_options(self.context).redactor
        for clusters in self._clusters.values():
            for cluster in clusters:
                redactor.add(cluster.token)  # the run's redactor: never printed, whatever key held it

    def validate_block(self, block: Mapping[str, Any], index: int, problems: Problems) -> None:
        super().validate_block(block, index, problems)
        if block.get("manifests") is not None and block.get("kubeconfig") is not None:
            problems.error("manifests and kubeconfig exclude each other: one block reads one source", loc_of(block, "manifests"))
        if block.get("manifests") is not None:
            return
        if block.get("kubeconfig"):
            self._clusters[index] = [kubeconfig_cluster(self._path(block, "kubeconfig"), block.get("context"))]
            return
        lent = kubeconfig_credentials(self._path(block, "kubeconfigCredentials")) if block.get("kubeconfigCredentials") else None
        clusters = backstage_clusters(self.context.app_config, lent)
        catalog = (self.context.extra or {}).get("catalog")
        catalog_unknown = False  # a command that loads no catalog: the catalog's clusters are not known
        for method in locator_methods(self.context.app_config):
            if method.get("type") != "catalog":
                continue
            if catalog is None:
                catalog_unknown = True
                continue
            found, warnings = catalog_clusters(method, catalog, lent)
            for message, where in warnings:
                problems.warning(message, where)
            for cluster in found:
                # a cluster is known by its name (requests, the clusters: filter, the fact's groups): one name, one cluster
                if any(c.name == cluster.name for c in clusters):
                    problems.warning(f"catalog cluster {cluster.name!r} is not queried: a cluster of that name is "
                                     "already configured", cluster.source or loc_of(method))
                else:
                    clusters.append(cluster)
        for method in unsupported_locators(self.context.app_config):
            problems.warning(
                f"kubernetes.clusterLocatorMethods: type {method.get('type')!r} is not supported by soundcheck (nor "
                "by Soundcheck); its clusters are not queried (list them under type: config, or as catalog Resources)",
                loc_of(method, "type") or loc_of(method),
            )
        wanted = block.get("clusters")
        if isinstance(wanted, list):
            known = {c.name for c in clusters}
            for name in wanted:
                if name not in known and not catalog_unknown:
                    problems.error(
                        f"clusters: no cluster named {name!r} in kubernetes.clusterLocatorMethods "
                        f"(known: {', '.join(sorted(known)) or 'none'})",
                        loc_of(block, "clusters"),
                    )
            clusters = [c for c in clusters if c.name in wanted]
        self._clusters[index] = clusters

    @staticmethod
    def _path(block: Mapping[str, Any], key: str) -> str:
        """A file named in the block: ``~`` expanded, relative to the app-config file that names it."""
        path = os.path.expanduser(str(block[key]))
        where = loc_of(block, key)
        if not os.path.isabs(path) and where is not None and where.path:
            path = os.path.join(os.path.dirname(os.path.abspath(where.path)), path)
        return os.path.normpath(path)

    def _is_manifests(self, block: Mapping[str, Any]) -> bool:
        return block.get("manifests") is not None

    def collection_configs(self) -> list[CollectionConfig]:
        """As configured, except that facts read from manifests are read again on every run (no frequency, no
        cache): reading a file costs nothing, and a CI step must see the files as they are now."""
        return [
            replace(e.collection, frequency=None, cache=None) if self._is_manifests(e.block) else e.collection
            for e in self.entries
        ]

    def disabled_reason(self) -> str | None:
        if not self.entries:
            return None
        for entry in self.entries:
            if self._is_manifests(entry.block) or self._clusters.get(entry.block_index):
                return None
        return NO_CLUSTER

    # -- collection ---------------------------------------------------------------------------------------------
    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        ref = str(entity.ref)
        fact = self.fact_type(fact_ref)
        if fact not in KINDS:
            return Outcome.not_applicable(ref, fact_ref, f"collector kubernetes does not produce {fact_ref}")
        query = entity_query(entity.annotations, str(entry.block.get("idLabel") or ID_ANNOTATION))
        if query is None:
            return Outcome.not_applicable(ref, fact_ref, f"no {ID_ANNOTATION} or {SELECTOR_ANNOTATION} annotation")
        selector, namespace = query
        kind = KINDS[fact]
        if self._is_manifests(entry.block):
            return self._from_manifests(entity, fact_ref, entry, kind, selector, namespace)
        clusters = self._clusters.get(entry.block_index) or []
        if not clusters:
            return Outcome.failed(ref, fact_ref, NO_CLUSTER)
        results = await asyncio.gather(*(self._list(entry, c, kind, selector, namespace) for c in clusters))
        errors = [r for r in results if isinstance(r, str)]
        if errors:
            return Outcome.failed(ref, fact_ref, "; ".join(errors))
        return Outcome.collected(self.make_fact(entity, fact_ref, build_fact(fact, results)))  # type: ignore[arg-type]

    def _client(self, entry: EntryConfig, cluster: Cluster) -> HttpClient:
        key = (entry.block_index, cluster.name)
        client = self._kube_clients.get(key)
        if client is None:
            options = http_options(self.context)
            context = cluster.ssl_context()
            if context is not None and options.transport is None:
                import httpx

                # The cluster's own CA / skipTLSVerify / client certificate: httpx's transport with that context.
                options = replace(options, transport=httpx.AsyncHTTPTransport(verify=context))
            headers = {"Accept": "application/json"}
            if cluster.token:
                headers["Authorization"] = f"Bearer {cluster.token}"
            client = HttpClient(self.client_settings(entry), options, base_url=cluster.url, headers=headers,
                                name=f"kubernetes {cluster.name}")
            self._kube_clients[key] = client
        return client

    async def _list(
        self, entry: EntryConfig, cluster: Cluster, kind: Kind, selector: str, namespace: str | None
    ) -> dict[str, Any] | str:
        """``{name, namespace, labelSelector, items}`` from one cluster, or why it could not be listed.

        The first list sent to a cluster goes alone: when the token is wrong, its 401 stops every other request
        before it is sent (a dead credential is not tried once per entity); so do a catalog cluster's address check
        and an exec plugin, run once."""
        if cluster.problem:
            return cluster.problem
        key = (entry.block_index, cluster.name)

        async def listed() -> dict[str, Any] | str:
            rejected = self._rejected.get(key)
            if rejected:
                return rejected
            if cluster.resolve_host:
                why = await public_host(cluster.url)
                if why:
                    cluster.problem = f"catalog cluster {cluster.name!r} is not queried: {why}"
                    return cluster.problem
                cluster.resolve_host = False
            for renew in (False, True):
                auth = await self._auth(entry, cluster, renew)
                if isinstance(auth, str):
                    self._rejected[key] = auth
                    return auth
                result = await self._list_once(entry, cluster, kind, selector, namespace, auth,
                                               may_renew=cluster.exec is not None and not renew)
                if result is not None:
                    return result
            raise AssertionError("unreachable: the second attempt never asks to renew")

        return await self._gate.run(key, listed)

    async def _auth(self, entry: EntryConfig, cluster: Cluster, renew: bool) -> dict[str, str] | str:
        """The request headers of an exec plugin's credential (none for other clusters), or why there is none."""
        if cluster.exec is None:
            return {}
        try:
            result = await cluster.exec.credential(renew=renew)
        except ExecError as exc:
            return f"cluster {cluster.name!r}: {exc}"
        redactor = http_options(self.context).redactor
        redactor.add(result.token)  # never printed, whatever the plugin is
        if result.client_cert:
            redactor.add(result.client_cert[1])
            if result.client_cert != cluster.client_cert:
                cluster.use_client_cert(result.client_cert)
                old = self._kube_clients.pop((entry.block_index, cluster.name), None)
                if old is not None:
                    self._retired.append(old)  # its connections carry the old certificate
        return {"Authorization": f"Bearer {result.token}"} if result.token else {}

    async def _list_once(
        self, entry: EntryConfig, cluster: Cluster, kind: Kind, selector: str, namespace: str | None,
        auth: Mapping[str, str], may_renew: bool = False,
    ) -> dict[str, Any] | str | None:
        """The list, or why not; ``None`` when an exec credential was refused (401) and may be renewed."""
        path = kind.path(namespace)
        where = f"namespace {namespace!r}" if namespace else "all namespaces"
        try:
            client = self._client(entry, cluster)
            items: list[Any] = []
            token: str | None = None
            while True:
                params = [("labelSelector", selector), ("limit", str(PAGE_SIZE))]
                if token:
                    params.append(("continue", token))
                body = await client.get_json(path, params=params, headers=auth or None)
                page = body.get("items") if isinstance(body, Mapping) else None
                if not isinstance(page, list):
                    return f"cluster {cluster.name!r}: GET {path}: unexpected response (no items list)"
                items.extend(page)
                metadata = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
                token = metadata.get("continue") or None
                if not token:
                    break
        except NotFound as exc:
            if exc.status == 410:
                return (f"cluster {cluster.name!r}: the {kind.plural} list changed while it was paged "
                        f"(HTTP 410 Expired: {_status_message(exc)}); it is listed again on the next run")
            return f"cluster {cluster.name!r} does not serve {path} (HTTP 404: {_status_message(exc)})"
        except HttpError as exc:
            said = _status_message(exc)
            if exc.status == 401:
                if may_renew:
                    return None  # an exec credential may have been revoked early: the plugin runs once more
                reason = (f"cluster {cluster.name!r} rejected the credentials (HTTP 401 Unauthorized"
                          f"{': ' + said if said else ''}): check {cluster.credential}")
                self._rejected[(entry.block_index, cluster.name)] = reason
                return reason
            if exc.status == 403:
                return f"cluster {cluster.name!r}, {where}: HTTP 403 Forbidden: {said or 'no permission to list ' + kind.plural}"
            if exc.status is not None:
                return f"cluster {cluster.name!r}, {where}: HTTP {exc.status} listing {kind.plural}: {said or exc}"
            return f"cluster {cluster.name!r}: {exc}"
        except (OSError, ValueError) as exc:  # a CA file that cannot be read, a bad client certificate
            return f"cluster {cluster.name!r}: TLS setup failed ({type(exc).__name__}: {exc})"
        return {"name": cluster.name, "namespace": namespace, "labelSelector": selector, "items": items}

    # -- manifests ----------------------------------------------------------------------------------------------
    def manifests_root(self, block: Mapping[str, Any]) -> str:
        """``--scm-root`` (the runtime's ``extra['scm_root']``), else the block's ``root``, else the folder of the
        app-config file that sets ``manifests``, else the working directory."""
        root = (self.context.extra or {}).get("scm_root")
        if root:
            return os.path.abspath(str(root))
        where = loc_of(block, "root") or loc_of(block, "manifests") or loc_of(block)
        base = os.path.dirname(os.path.abspath(where.path)) if where is not None and where.path else os.getcwd()
        value = block.get("root")
        if isinstance(value, str) and value.strip():
            return os.path.abspath(os.path.join(base, os.path.expanduser(value.strip())))
        return base

    def _from_manifests(
        self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, kind: Kind, selector: str, namespace: str | None
    ) -> Outcome:
        ref = str(entity.ref)
        objects = self._manifests.get(entry.block_index)
        if objects is None:
            patterns = entry.block.get("manifests")
            patterns = [patterns] if isinstance(patterns, str) else list(patterns or [])
            try:
                objects = read_manifests(self.manifests_root(entry.block), [str(p) for p in patterns])
            except ManifestError as exc:
                objects = str(exc)
            self._manifests[entry.block_index] = objects  # read once per run, for every entity
        if isinstance(objects, str):
            return Outcome.failed(ref, fact_ref, objects)
        try:
            chosen = [
                o for o in objects
                if o.fact == kind.fact
                and (not namespace or (o.data.get("metadata") or {}).get("namespace") in (None, namespace))
                and matches(selector, (o.data.get("metadata") or {}).get("labels"))
            ]
        except ValueError as exc:
            return Outcome.failed(ref, fact_ref, str(exc))
        files = sorted({o.path for o in chosen})
        group = {"name": "manifests", "namespace": namespace, "labelSelector": selector, "files": files,
                 "items": [o.data for o in chosen]}
        return Outcome.collected(self.make_fact(entity, fact_ref, build_fact(kind.fact, [group])))

    # -- HTTP ---------------------------------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        return super().requests + sum(c.requests for c in [*self._kube_clients.values(), *self._retired])

    async def aclose(self) -> None:
        clients, self._kube_clients = [*self._kube_clients.values(), *self._retired], {}
        self._retired = []
        for client in clients:
            await client.aclose()
        await super().aclose()


def _status_message(exc: HttpError) -> str:
    """The API server's words from a ``Status`` body (``{"kind": "Status", "message", "reason"}``), short."""
    body = json_body(exc.response)
    if not isinstance(body, Mapping):
        return ""
    return str(body.get("message") or body.get("reason") or "")[:300]
