"""Kubeconfig ``exec`` credentials: the client-go credential plugins that EKS, GKE and AKS kubeconfigs use.

A kubeconfig user ``exec: {command, args, env, apiVersion, interactiveMode, installHint, provideClusterInfo}`` is
run as kubectl runs it (Kubernetes, "client-go credential plugins"): the command with its args, the process
environment plus ``env``, ``KUBERNETES_EXEC_INFO`` set to an ``ExecCredential`` (``spec.interactive: false``, and
``spec.cluster`` when ``provideClusterInfo``), no stdin (soundcheck never prompts: ``interactiveMode: Always`` is
refused). A relative command path with a slash is relative to the kubeconfig's folder; a bare name is looked up on
``PATH``. It must print an ``ExecCredential`` of the kubeconfig's ``apiVersion``
(``client.authentication.k8s.io/v1`` or ``v1beta1``) with ``status.token``, or ``status.clientCertificateData`` and
``status.clientKeyData``; ``status.expirationTimestamp`` (RFC 3339), when given, bounds how long it is used.

The credential is kept for the run (until it expires, or the API server answers 401: then the plugin runs once
more); a plugin that fails is not run again this run. Messages name the kubeconfig ``file:line`` of the ``exec``
entry and never show what the plugin printed on stdout (that is where the token is).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
TIMEOUT_SECONDS = 60.0  # a plugin waiting for a browser login it cannot get must not hang the run
EXPIRY_MARGIN = timedelta(seconds=30)  # renewed this long before it expires: a request in flight still gets through
# A credential is used this long whatever its expiry says: a plugin handing out a token that expires within the
# margin (a stale cache of its own) would otherwise run once per request.
MIN_REUSE = timedelta(seconds=10)


class ExecError(Exception):
    """The plugin could not give a credential; the message names the kubeconfig entry."""


@dataclass(frozen=True)
class ExecResult:
    token: str | None
    client_cert: tuple[str, str] | None  # (certificate PEM, key PEM)
    expires: datetime | None


@dataclass
class ExecPlugin:
    command: str
    args: list[str]
    env: dict[str, str]
    api_version: str
    where: str  # "user 'x' in <kubeconfig>:<line>", for messages
    folder: str  # the kubeconfig's folder: relative command paths start there
    install_hint: str | None = None
    cluster_info: dict[str, Any] | None = None  # spec.cluster, when provideClusterInfo
    _result: ExecResult | None = field(default=None, repr=False)
    _obtained: datetime | None = field(default=None, repr=False)
    _error: str | None = field(default=None, repr=False)
    _lock: asyncio.Lock | None = field(default=None, repr=False)

    def executable(self) -> str:
        command = os.path.expanduser(self.command)
        if os.sep in command and not os.path.isabs(command):
            return os.path.normpath(os.path.join(self.folder, command))
        return command

    async def credential(self, *, renew: bool = False) -> ExecResult:
        """The credential, run once and kept while it is valid; ``renew`` runs the plugin again (after a 401).
        Raises ``ExecError`` (then and for the rest of the run)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._error is not None:
                raise ExecError(self._error)
            now = datetime.now(UTC)
            result = self._result
            if result is not None and not renew and (
                result.expires is None or result.expires - EXPIRY_MARGIN > now
                or (self._obtained is not None and now - self._obtained < MIN_REUSE)
            ):
                return result
            try:
                self._result = await self._run()
                self._obtained = now
            except ExecError as exc:
                self._error = str(exc)
                raise
            return self._result

    async def _run(self) -> ExecResult:
        info: dict[str, Any] = {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
        if self.cluster_info is not None:
            info["spec"]["cluster"] = self.cluster_info
        env = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": json.dumps(info)}
        executable = self.executable()
        try:
            process = await asyncio.create_subprocess_exec(
                executable, *self.args, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            hint = f"; {self.install_hint.strip()}" if self.install_hint and self.install_hint.strip() else ""
            raise ExecError(f"exec command {executable!r} of {self.where} was not found{hint}") from None
        except OSError as exc:
            raise ExecError(f"exec command {executable!r} of {self.where} cannot be run ({exc.strerror or exc})") from None
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT_SECONDS)
        except asyncio.CancelledError:
            process.kill()  # the run was interrupted: the plugin does not outlive it
            raise
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ExecError(f"exec command {executable!r} of {self.where} did not finish within "
                            f"{TIMEOUT_SECONDS:.0f}s (does it wait for a login?)") from None
        if process.returncode != 0:
            said = stderr.decode("utf-8", "replace").strip().splitlines()
            detail = f": {said[-1][:300]}" if said else ""
            raise ExecError(f"exec command {executable!r} of {self.where} exited with status {process.returncode}{detail}")
        return self._parse(stdout, executable)

    def _parse(self, stdout: bytes, executable: str) -> ExecResult:
        what = f"exec command {executable!r} of {self.where}"
        try:
            document = json.loads(stdout.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            # never the text itself: it may hold the token
            where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise ExecError(f"{what} did not print an ExecCredential as JSON (not JSON{where})") from None
        if not isinstance(document, Mapping) or document.get("kind") != "ExecCredential":
            raise ExecError(f"{what} did not print an ExecCredential (kind: ExecCredential)")
        if document.get("apiVersion") != self.api_version:
            raise ExecError(f"{what} printed apiVersion {document.get('apiVersion')!r}; the kubeconfig asks for "
                            f"{self.api_version!r}")
        status = document.get("status")
        if not isinstance(status, Mapping):
            raise ExecError(f"{what} printed an ExecCredential without status")
        token = status.get("token") if isinstance(status.get("token"), str) and status.get("token") else None
        cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
        if bool(cert) != bool(key):
            raise ExecError(f"{what} printed only one of clientCertificateData and clientKeyData (both are needed)")
        if not token and not cert:
            raise ExecError(f"{what} printed an ExecCredential with no token and no client certificate")
        expires = None
        stamp = status.get("expirationTimestamp")
        if stamp:
            try:
                expires = datetime.fromisoformat(str(stamp))
            except ValueError:
                raise ExecError(f"{what} printed expirationTimestamp {str(stamp)[:40]!r}, not an RFC 3339 time") from None
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
        return ExecResult(token, (str(cert), str(key)) if cert else None, expires)


def exec_plugin(node: Any, where: str, folder: str, cluster_info: dict[str, Any] | None) -> ExecPlugin | str:
    """The plugin of a kubeconfig user's ``exec`` mapping, or why it cannot be run (a sentence naming ``where``)."""
    if not isinstance(node, Mapping):
        return f"exec of {where} is not a mapping"
    command = node.get("command")
    if not isinstance(command, str) or not command.strip():
        return f"exec of {where} has no command"
    api_version = node.get("apiVersion")
    if api_version not in API_VERSIONS:
        return (f"exec of {where} has apiVersion {api_version!r}; kubectl and soundcheck run "
                f"{' and '.join(API_VERSIONS)}")
    mode = node.get("interactiveMode")
    if mode is None and api_version.endswith("/v1"):
        return f"exec of {where} has no interactiveMode (required with {api_version})"
    if mode is not None and mode not in INTERACTIVE_MODES:
        return f"exec of {where} has interactiveMode {mode!r} (one of {', '.join(INTERACTIVE_MODES)})"
    if mode == "Always":
        return f"exec of {where} has interactiveMode Always: it needs a terminal, and soundcheck never prompts"
    args = node.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
        return f"exec of {where}: args must be a list of strings"
    env: dict[str, str] = {}
    for item in node.get("env") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            return f"exec of {where}: env entries are {{name, value}}"
        env[item["name"]] = "" if item.get("value") is None else str(item.get("value"))
    hint = node.get("installHint") if isinstance(node.get("installHint"), str) else None
    info = cluster_info if node.get("provideClusterInfo") is True else None
    return ExecPlugin(command.strip(), [str(a) for a in args], env, api_version, where, folder, hint, info)
