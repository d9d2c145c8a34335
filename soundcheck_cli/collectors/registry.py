"""The collector registry: every installed collector by id, built-ins and plugins alike.

Collectors are found through the entry-point group ``soundcheck.collectors`` (entry point name = collector id,
value = ``module:Class``), the way flake8 finds its plugins, in three steps:

1. **find** (``find_plugins``): read entry points and the ``BUILTINS`` table, without importing anything;
   two packages claiming one id → a warning naming both, the first one is kept (built-ins first);
2. **load** (``Registry.get``, on first use): import the class; an import failure → a warning naming the
   package and the error, and the id is unavailable for this run;
3. **classify**: the object must be a ``FactCollector`` subclass (else a warning).

Built-ins are also listed in ``BUILTINS`` because the package may be used without being pip-installed (a source
checkout, the tests): then it has no entry-point metadata. When installed, its own entry points point at the same
classes and are recognised as the same plugin, not as duplicates.

``Registry.create`` instantiates a configured collector: it validates ``soundcheck.collectors.<id>`` against the
collector's ``config_schema()`` with ``jsonschema`` (issue 5) and reports each violation at its ``file:line:col``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from soundcheck_cli.collectors.base import CollectorContext, ConfigurableFactCollector, FactCollector
from soundcheck_cli.located.nodes import LocatedDict, loc_of, to_plain
from soundcheck_cli.errors import Location, Problems, SoundcheckError

if TYPE_CHECKING:
    from soundcheck_cli.config.model import CollectorSettings

ENTRY_POINT_GROUP = "soundcheck.collectors"
PACKAGE = "soundcheck-cli"  # this distribution's name, as pyproject.toml declares it

# Built-in collectors: id -> "module:Class". Keep in step with [project.entry-points."soundcheck.collectors"]
# in pyproject.toml. The collection runtime adds its HTTP collectors here:
BUILTINS: dict[str, str] = {
    "catalog": "soundcheck_cli.collectors.catalog:CatalogCollector",
    "pagerduty": "soundcheck_cli.collectors.pagerduty:PagerDutyCollector",
    "http": "soundcheck_cli.collectors.http_collector:HttpCollector",
    "github": "soundcheck_cli.collectors.github:GithubCollector",
    "scm": "soundcheck_cli.collectors.scm:ScmCollector",
    "datadog": "soundcheck_cli.collectors.datadog:DatadogCollector",
    "sonarqube": "soundcheck_cli.collectors.sonarqube:SonarQubeCollector",
    "gitlab": "soundcheck_cli.collectors.gitlab:GitlabCollector",
    "azure": "soundcheck_cli.collectors.azure:AzureDevOpsCollector",
    "bitbucket": "soundcheck_cli.collectors.bitbucket:BitbucketCollector",
    "kubernetes": "soundcheck_cli.collectors.kubernetes:KubernetesCollector",
    "jira": "soundcheck_cli.collectors.jira:JiraCollector",
    "newrelic": "soundcheck_cli.collectors.newrelic:NewRelicCollector",
    "techinsights": "soundcheck_cli.collectors.techinsights:TechInsightsCollector",
}


@dataclass(frozen=True)
class Plugin:
    """A found (not yet loaded) collector: its id, ``module:attr`` target and the package that provides it."""

    id: str
    target: str
    package: str
    builtin: bool = False
    load: Callable[[], Any] | None = field(default=None, compare=False, repr=False)

    def import_object(self) -> Any:
        if self.load is not None:
            return self.load()
        module_name, _, attr = self.target.partition(":")
        obj: Any = importlib.import_module(module_name.strip())
        for part in attr.strip().split(".") if attr.strip() else []:
            obj = getattr(obj, part)
        return obj


def _package_of(entry_point: Any) -> str:
    """The distribution that declares ``entry_point`` (for messages), else its top-level module."""
    dist = getattr(entry_point, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    if not name and dist is not None:
        try:
            name = dist.metadata["Name"]
        except Exception:  # noqa: BLE001 - broken metadata must not stop discovery
            name = None
    if name:
        return str(name)
    value = str(getattr(entry_point, "value", ""))
    return value.split(":", 1)[0].split(".", 1)[0].strip() or "unknown package"


def _entry_points(group: str) -> list[Any]:
    return list(importlib.metadata.entry_points(group=group))


def find_plugins(
    problems: Problems,
    entry_points: Iterable[Any] | None = None,
    builtins: dict[str, str] | None = None,
) -> dict[str, Plugin]:
    """Step 1 (find): every collector id with the plugin that provides it; nothing is imported.

    ``entry_points`` defaults to ``importlib.metadata.entry_points(group="soundcheck.collectors")`` (tests pass
    their own). Duplicate ids → a warning naming both packages; built-ins win, then packages in name order.
    """
    found: dict[str, Plugin] = {}
    for collector_id, target in (BUILTINS if builtins is None else builtins).items():
        found[collector_id] = Plugin(collector_id, target, PACKAGE, builtin=True)
    if entry_points is None:
        try:
            entry_points = _entry_points(ENTRY_POINT_GROUP)
        except Exception as exc:  # noqa: BLE001 - a broken installed distribution must not stop the CLI
            problems.warning(f"cannot list installed collector plugins: {type(exc).__name__}: {exc}")
            entry_points = []
    plugins = [
        Plugin(str(ep.name).strip(), str(ep.value).strip(), _package_of(ep), load=getattr(ep, "load", None))
        for ep in entry_points
    ]
    for plugin in sorted(plugins, key=lambda p: (p.package.lower(), p.id)):
        existing = found.get(plugin.id)
        if existing is None:
            found[plugin.id] = plugin
        elif existing.target != plugin.target:
            built_in = " (built in)" if existing.builtin else ""
            problems.warning(
                f"collector id '{plugin.id}' is claimed by two packages, {existing.package}{built_in} and "
                f"{plugin.package}; the one from {plugin.package} ({plugin.target}) is ignored"
            )
        # Same id and same target: the installed entry point of a built-in (or a package found twice on
        # sys.path) — one plugin, not a conflict.
    return found


class Registry:
    """Collectors by id. ``get`` loads on first use; warnings about broken plugins go to ``problems``."""

    def __init__(self, plugins: dict[str, Plugin], problems: Problems | None = None) -> None:
        self.problems = problems if problems is not None else Problems()
        self._plugins = dict(plugins)
        self._loaded: dict[str, type[FactCollector] | None] = {}

    @classmethod
    def discover(
        cls,
        problems: Problems | None = None,
        entry_points: Iterable[Any] | None = None,
        builtins: dict[str, str] | None = None,
    ) -> Registry:
        problems = problems if problems is not None else Problems()
        return cls(find_plugins(problems, entry_points, builtins), problems)

    def ids(self) -> list[str]:
        """Every found collector id, sorted (a plugin that fails to load is still listed; ``get`` says None)."""
        return sorted(self._plugins)

    def source(self, collector_id: str) -> str | None:
        """The package (distribution name) that provides ``collector_id``."""
        plugin = self._plugins.get(collector_id)
        return plugin.package if plugin else None

    def plugin(self, collector_id: str) -> Plugin | None:
        return self._plugins.get(collector_id)

    def get(self, collector_id: str) -> type[FactCollector] | None:
        """Steps 2 and 3 (load, classify) for one id; ``None`` if unknown or broken (with a warning)."""
        if collector_id in self._loaded:
            return self._loaded[collector_id]
        plugin = self._plugins.get(collector_id)
        result = self._load(plugin) if plugin is not None else None
        self._loaded[collector_id] = result
        return result

    def load_all(self) -> dict[str, type[FactCollector]]:
        """Every collector that loads (for ``soundcheck collectors list``)."""
        out = {}
        for collector_id in self.ids():
            loaded = self.get(collector_id)
            if loaded is not None:
                out[collector_id] = loaded
        return out

    def _load(self, plugin: Plugin) -> type[FactCollector] | None:
        try:
            obj = plugin.import_object()
        except Exception as exc:  # noqa: BLE001 - a plugin that fails to import must not stop the run
            self.problems.warning(
                f"collector '{plugin.id}' from package {plugin.package} failed to load ({plugin.target}): "
                f"{type(exc).__name__}: {exc}"
            )
            return None
        if not (isinstance(obj, type) and issubclass(obj, FactCollector)):
            self.problems.warning(
                f"collector '{plugin.id}' from package {plugin.package}: {plugin.target} is not a FactCollector "
                "subclass; ignored"
            )
            return None
        if obj.id and obj.id != plugin.id:
            self.problems.warning(
                f"collector '{plugin.id}' from package {plugin.package}: its class declares id '{obj.id}'; "
                f"it is registered as '{plugin.id}' (the entry point name)"
            )
        return obj

    # -- instantiation ---------------------------------------------------------------------------------------------

    def create(
        self,
        collector_id: str,
        collector_settings: CollectorSettings | None,
        problems: Problems,
        context: CollectorContext | None = None,
    ) -> FactCollector | None:
        """A ready collector for ``collector_id``, configured from ``soundcheck.collectors.<id>`` when given.

        Returns ``None`` (after a warning) when it is not installed or broken, and ``None`` after located errors
        when its config violates its ``config_schema()``.
        """
        location = collector_settings.location if collector_settings is not None else None
        if collector_id not in self._plugins:
            problems.warning(
                f"collector {collector_id} is configured but not installed; "
                "its facts can still be pushed with `soundcheck facts push`",
                location,
            )
            return None
        cls = self.get(collector_id)
        package = self.source(collector_id)
        if cls is None:
            problems.warning(f"collector {collector_id} (package {package}) could not be loaded; it is skipped", location)
            return None
        try:
            collector = cls()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the run
            problems.warning(f"collector {collector_id} (package {package}) failed to start: {type(exc).__name__}: {exc}", location)
            return None
        if context is not None:
            collector.bind(context)
        if collector_settings is None:
            return collector
        node = collector_settings.config
        if not isinstance(collector, ConfigurableFactCollector):
            if node not in (None, {}, []):
                problems.warning(f"collector {collector_id} takes no configuration; its settings are ignored", location)
            return collector
        if node is None:
            node = LocatedDict(loc=location)
        if not self._validate(collector_id, package, collector, node, location, problems):
            return None
        try:
            collector.set_config(to_plain(node))
        except SoundcheckError as exc:
            for problem in exc.problems:
                problems.error(f"collector {collector_id}: {problem.message}", problem.location or location)
            return None
        except Exception as exc:  # noqa: BLE001 - a plugin rejecting its config is a config problem, not a crash
            problems.error(f"collector {collector_id}: invalid configuration: {exc}", loc_of(node) or location)
            return None
        return collector

    def _validate(
        self,
        collector_id: str,
        package: str | None,
        collector: ConfigurableFactCollector,
        node: Any,
        location: Location | None,
        problems: Problems,
    ) -> bool:
        import jsonschema
        from jsonschema.validators import validator_for

        try:
            schema = collector.config_schema()
            validator_class = validator_for(schema, default=jsonschema.Draft202012Validator)
            validator_class.check_schema(schema)
            errors = list(validator_class(schema).iter_errors(to_plain(node)))
        except Exception as exc:  # noqa: BLE001 - a plugin bug (bad schema) is reported, not raised
            problems.warning(
                f"collector {collector_id} (package {package}) declares an invalid config schema, so it is skipped: "
                f"{getattr(exc, 'message', None) or exc}",
                location,
            )
            return False
        # A key written as ``${VAR}`` with VAR unset is absent from the loaded config, so a misspelt key would
        # pass while the variable is unset and fail once it is set. Keys are checked as written, whatever the
        # environment: the unset ones are put back (with a placeholder value) for the unknown-key check only.
        with_unset = _with_unset_keys(node)
        if with_unset is not None:
            errors += [e for e in validator_class(schema).iter_errors(with_unset) if e.validator == "additionalProperties"]
        if not errors:
            return True
        described = {(message, loc or location) for error in errors for message, loc in _describe(error, node)}
        for message, loc in sorted(described, key=_in_file_order):
            problems.error(f"collector {collector_id}: {message}", loc)
        return False

    def create_all(
        self,
        collectors: Iterable[CollectorSettings],
        problems: Problems,
        context: CollectorContext | None = None,
    ) -> dict[str, FactCollector]:
        """``create`` for every configured collector; those that are absent, broken or misconfigured are left out."""
        out: dict[str, FactCollector] = {}
        for settings in collectors:
            created = self.create(settings.id, settings, problems, context)
            if created is not None:
                out[settings.id] = created
        return out


# -- jsonschema errors as located messages ---------------------------------------------------------------------

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _with_unset_keys(node: Any) -> Any:
    """``to_plain(node)`` with every key left unset by a missing ``${VAR}`` put back (value: a placeholder
    string), or ``None`` when no key of ``node`` is unset."""
    from soundcheck_cli.config.env import unset_keys

    found = False

    def walk(value: Any) -> Any:
        nonlocal found
        if isinstance(value, dict):
            out = {k: walk(v) for k, v in value.items()}
            for key in unset_keys(value):
                if key not in out:
                    found = True
                    out[key] = "${unset}"
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    plain = walk(node)
    return plain if found else None


def _in_file_order(item: tuple[str, Location | None]) -> tuple[int, int, str]:
    message, loc = item
    return ((loc.line or 0) if loc else 0, (loc.column or 0) if loc else 0, message)


def _path_text(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(node: Any, path: Iterable[Any]) -> tuple[Any, Location | None]:
    """The config node at ``path`` and its best known location (that of the deepest node reached)."""
    location = loc_of(node)
    for part in path:
        try:
            child = node[part]
        except (KeyError, IndexError, TypeError):
            break
        location = loc_of(node, part) or location
        node = child
    return node, location


def _describe(error: Any, root: Any) -> list[tuple[str, Location | None]]:
    """One jsonschema ``ValidationError`` as ``(message, location)`` pairs, in words a config author uses."""
    path = list(error.absolute_path)
    node, location = _walk(root, path)
    where = _path_text(path)
    prefix = f"{where}: " if where else ""
    kind = error.validator
    if kind == "required" and isinstance(error.instance, dict):
        from soundcheck_cli.config.env import missing_env, unset_keys

        missing = [name for name in error.validator_value if name not in error.instance]
        out = []
        for name in missing:
            unset = unset_keys(node).get(name)  # written as ${VAR} but VAR is not set: say so, where it is written
            why = f" (environment variable {missing_env(node, name)} is not set)" if unset is not None else ""
            out.append((f"{where + '.' if where else ''}{name} is required{why}", (unset.location if unset else None) or location))
        return out
    if kind == "additionalProperties" and isinstance(error.instance, dict) and error.validator_value is False:
        import re

        known = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extras = [k for k in error.instance if k not in known and not any(re.search(p, str(k)) for p in patterns)]
        out = []
        from soundcheck_cli.config.env import unset_keys

        for key in extras:
            unset = unset_keys(node).get(key)  # written as ``${VAR}`` with VAR unset: not among the node's keys
            key_loc = (unset.location if unset is not None else None) or (
                node.key_loc(key) if isinstance(node, LocatedDict) else location
            )
            out.append((f"{prefix}unknown key '{key}'", key_loc))
        return out or [(prefix + error.message, location)]
    if kind == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_TYPE_NAMES.get(t, t) for t in expected)
        return [(f"{where or 'the configuration'} must be {words}", location)]
    return [(prefix + error.message, location)]
