"""The ASGI application of ``soundcheck serve``, on Starlette's documented API.

``/api/soundcheck/...`` answers a read/write subset of Soundcheck's REST API (docs/serve.md lists it); anything
else is the static results site (``soundcheck site -o DIR``) when one is given. Reads need no token; writes
(``POST``) need ``Authorization: Bearer <token>``, compared in constant time, and are refused (401) without it,
before the body is read. Bodies are bounded in size and validated with located errors (``serve.body``); every
error is a JSON document in Soundcheck's ``Error`` shape, never a traceback. Store reads and writes run in
Starlette's thread pool (the stores serialise their threads), so one slow request does not stall the others.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from soundcheck_cli.errors import Problem, SoundcheckError
from soundcheck_cli.serve import api
from soundcheck_cli.serve.body import BodyError, check_content_type, facts_from_body, parse

API_PREFIX = "/api/soundcheck"
LOG = logging.getLogger("soundcheck.serve")


@dataclass
class ServeContext:
    settings: Any  # config.model.Settings
    store: Any  # facts.interface.FactStore, open for the server's lifetime
    token: str | None  # never logged; None: writes are refused
    max_body: int
    site: str | None = None  # folder of the static site, if any
    # Host names a request may name (``Host`` header), or None for any: a server bound to a loopback address only
    # answers requests addressed to this machine, so a web page cannot read it through DNS rebinding.
    allowed_hosts: frozenset[str] | None = None


def _error(request: Request, status: int, name: str, message: str,
           problems: list[Problem] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """Soundcheck's ``Error`` document: ``{error: {name, message}, request: {method, url}, response: {statusCode}}``;
    ``error.errors`` lists each located problem as ``{path, message}`` (path: the field's JSON pointer)."""
    error: dict[str, Any] = {"name": name, "message": message}
    if problems:
        error["errors"] = [{"path": p.location.path if p.location else "/", "message": p.message} for p in problems]
    return JSONResponse({"error": error, "request": {"method": request.method, "url": request.url.path},
                         "response": {"statusCode": status}}, status_code=status, headers=headers)


def _authorized(request: Request, token: str | None) -> str | None:
    """None when the request carries the token; else why not (never echoing what was sent)."""
    if token is None:
        return ("writes are disabled: no token is configured (set soundcheck.serve.token or "
                "SOUNDCHECK_SERVE_TOKEN and restart `soundcheck serve`)")
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return "this request needs the header 'Authorization: Bearer <token>'"
    # compare_digest takes the same time wherever the first difference is: the token cannot be guessed by timing.
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        return "the bearer token is not valid"
    return None


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is larger than ``limit`` bytes, whatever Content-Length claims."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, [Problem(f"the body is larger than {limit} bytes", None)])
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, [Problem(f"the body is larger than {limit} bytes", None)])
        chunks.append(chunk)
    return b"".join(chunks)


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "")
    if value.lower() in ("", "false", "0"):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise BodyError(400, [Problem(f"query parameter '{name}' must be true or false", None)])


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port (``[::1]:7007`` -> ``::1``), lower-cased."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class _HostGuard:
    """ASGI middleware refusing (421) a request whose ``Host`` is not one of ``allowed``."""

    def __init__(self, app: Any, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                request = Request(scope, receive)
                response = _error(request, 421, "MisdirectedRequestError",
                                  "this server only answers requests addressed to "
                                  + ", ".join(sorted(self.allowed)))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Site:
    """The static site folder, served by Starlette's ``StaticFiles`` once it exists: the folder may be built (or
    rebuilt) by ``soundcheck site`` while the server runs; until then ``/`` is a 404 saying so."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.files: StaticFiles | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import os

        if self.files is None and os.path.isdir(self.folder):
            self.files = StaticFiles(directory=self.folder, html=True)
        if self.files is None or not os.path.isdir(self.folder):
            response = _error(Request(scope, receive), 404, "NotFoundError",
                              "the site folder has not been built yet (soundcheck site -o DIR)")
            await response(scope, receive, send)
            return
        await self.files(scope, receive, send)


def create_app(context: ServeContext) -> Starlette:
    """The application serving ``context`` (its store stays open while the app lives; the caller closes it)."""
    settings = context.settings

    async def write_guard(request: Request) -> JSONResponse | None:
        why = _authorized(request, context.token)
        if why is None:
            return None
        status = 403 if context.token is None else 401
        headers = {"WWW-Authenticate": 'Bearer realm="soundcheck"'} if status == 401 else None
        LOG.warning("refused %s %s: %s", request.method, request.url.path, "no token configured"
                    if context.token is None else "missing or invalid bearer token")
        return _error(request, status, "AuthenticationError" if status == 401 else "NotAllowedError", why,
                      headers=headers)

    async def json_body(request: Request) -> Any:
        check_content_type(request.headers.get("content-type"))
        return parse(await _read_body(request, context.max_body))

    async def get_checks(request: Request) -> Response:
        return JSONResponse(api.checks_doc(settings))

    async def get_check(request: Request) -> Response:
        doc = api.check_doc(settings, request.path_params["checkId"])
        if doc is None:
            return _error(request, 404, "NotFoundError", f"no check '{request.path_params['checkId']}' is configured")
        return JSONResponse(doc)

    async def get_check_status(request: Request) -> Response:
        check_id = request.path_params["checkId"]
        if api.check_doc(settings, check_id) is None:
            snap = await run_in_threadpool(api.snapshot, context.store)
            if not any(p.check_id == check_id for p in snap.pushed):
                return _error(request, 404, "NotFoundError", f"no check '{check_id}' is configured or pushed")
        else:
            snap = await run_in_threadpool(api.snapshot, context.store)
        return JSONResponse(api.check_status_doc(snap, check_id))

    async def get_tracks(request: Request) -> Response:
        return JSONResponse(api.tracks_doc(settings))

    async def get_track(request: Request) -> Response:
        doc = api.track_doc(settings, request.path_params["trackId"])
        if doc is None:
            return _error(request, 404, "NotFoundError", f"no track '{request.path_params['trackId']}' is configured")
        return JSONResponse(doc)

    async def get_track_status(request: Request) -> Response:
        track_id = request.path_params["trackId"]
        if api.track_doc(settings, track_id) is None:
            return _error(request, 404, "NotFoundError", f"no track '{track_id}' is configured")
        snap = await run_in_threadpool(api.snapshot, context.store)
        return JSONResponse(api.track_status_doc(settings, snap, track_id))

    def required_entity(request: Request) -> str:
        entity_ref = request.query_params.get("entityRef")
        if not entity_ref or not entity_ref.strip():
            raise BodyError(400, [Problem("query parameter 'entityRef' is required (e.g. component:default/a)",
                                          None)])
        try:
            return _normalise_ref(entity_ref)
        except ValueError:
            raise BodyError(400, [Problem("query parameter 'entityRef' must be an entity ref such as "
                                          "component:default/payments-api", None)]) from None

    async def get_results(request: Request) -> Response:
        entity_ref = required_entity(request)
        checks = [c for value in request.query_params.getlist("checks") for c in value.split(",") if c]
        snap = await run_in_threadpool(api.snapshot, context.store)
        return JSONResponse(api.results_doc(snap, entity_ref, request.query_params.get("scope"), checks))

    async def get_certifications(request: Request) -> Response:
        entity_ref = required_entity(request)
        track_id = request.query_params.get("trackId")
        snap = await run_in_threadpool(api.snapshot, context.store)
        return JSONResponse(api.certifications_doc(settings, snap, entity_ref, track_id))

    async def post_results(request: Request) -> Response:
        refused = await write_guard(request)
        if refused is not None:
            return refused
        from soundcheck_cli.errors import Problems
        from soundcheck_cli.results_store import results_from_body, store_pushed_results

        return_updated = _flag(request, "returnUpdatedResults")
        problems = Problems()
        results, preserve = results_from_body(await json_body(request), problems)
        if problems.errors:
            raise BodyError(400, problems.errors)
        stored = await run_in_threadpool(store_pushed_results, context.store, results,
                                         preserve_state_on_error=preserve)
        LOG.info("stored %d pushed result%s", len(stored), "" if len(stored) == 1 else "s")
        doc: dict[str, Any] = {"status": "ok"}
        if return_updated:
            doc["results"] = [r.to_json() for r in stored]
        return JSONResponse(doc)

    async def post_facts(request: Request) -> Response:
        refused = await write_guard(request)
        if refused is not None:
            return refused
        facts, warnings = facts_from_body(await json_body(request))
        count = await run_in_threadpool(context.store.put_many, facts)
        LOG.info("stored %d fact%s", count, "" if count == 1 else "s")
        doc: dict[str, Any] = {"facts": [{"factRef": str(f.fact_ref), "entityRef": f.entity_ref,
                                          "timestamp": _iso(f.timestamp)} for f in facts]}
        if warnings:
            doc["warnings"] = [str(w) for w in warnings]
        return JSONResponse(doc)

    async def index(request: Request) -> Response:
        return JSONResponse({"name": "soundcheck serve", "api": API_PREFIX,
                             "site": "not served (start with --site DIR)"})

    async def on_body_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyError)
        names = {400: "InputError", 413: "PayloadTooLargeError", 415: "UnsupportedMediaTypeError"}
        message = "; ".join(p.message if p.location is None or p.location.path == "/" else str(p)
                            for p in exc.problems)
        return _error(request, exc.status, names.get(exc.status, "InputError"), message,
                      [p for p in exc.problems if p.location is not None])

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        names = {404: "NotFoundError", 405: "MethodNotAllowedError"}
        message = "no such resource" if exc.status_code == 404 else str(exc.detail)
        return _error(request, exc.status_code, names.get(exc.status_code, "Error"), message,
                      headers=getattr(exc, "headers", None))

    async def on_soundcheck_error(request: Request, exc: Exception) -> Response:
        # The store failed (disk full, database down...): say so, masked like every message, and keep serving.
        from soundcheck_cli.redact import GLOBAL

        assert isinstance(exc, SoundcheckError)
        message = GLOBAL.redact("; ".join(str(p) for p in exc.problems) or type(exc).__name__)
        LOG.error("%s %s failed: %s", request.method, request.url.path, message)
        return _error(request, 503, "ServiceUnavailableError", message)

    async def on_bug(request: Request, exc: Exception) -> Response:
        LOG.error("internal error on %s %s: %s (a bug: please report it)", request.method, request.url.path,
                  type(exc).__name__)
        return _error(request, 500, "InternalError", "internal error (a bug: please report it)")

    prefix = API_PREFIX
    routes: list[Any] = [
        Route(f"{prefix}/checks", get_checks, methods=["GET"]),
        Route(f"{prefix}/checks/{{checkId}}", get_check, methods=["GET"]),
        Route(f"{prefix}/checks/{{checkId}}/status", get_check_status, methods=["GET"]),
        Route(f"{prefix}/tracks", get_tracks, methods=["GET"]),
        Route(f"{prefix}/tracks/{{trackId}}", get_track, methods=["GET"]),
        Route(f"{prefix}/tracks/{{trackId}}/status", get_track_status, methods=["GET"]),
        Route(f"{prefix}/results", get_results, methods=["GET"]),
        Route(f"{prefix}/results", post_results, methods=["POST"]),
        Route(f"{prefix}/certifications", get_certifications, methods=["GET"]),
        Route(f"{prefix}/facts", post_facts, methods=["POST"]),
    ]
    if context.site is not None:
        routes.append(Mount("/", app=_Site(context.site)))
    else:
        routes.append(Route("/", index, methods=["GET"]))
    middleware = [Middleware(_HostGuard, allowed=context.allowed_hosts)] if context.allowed_hosts else []
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={BodyError: on_body_error, HTTPException: on_http_error,
                                         SoundcheckError: on_soundcheck_error, Exception: on_bug})


def _normalise_ref(text: str) -> str:
    """An entity ref as the store keys it (``kind:namespace/name``, kind defaulting to component, as the CLI's
    ``--entity``); ``ValueError`` when it is not one."""
    from soundcheck_cli.catalog.model import EntityRef

    if any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise ValueError(text)
    return str(EntityRef.parse(text.strip(), default_kind="component"))


def _iso(value: Any) -> str:
    from soundcheck_cli.facts.model import format_timestamp

    return format_timestamp(value)
