"""GitHub App login for the ``github`` and ``scm`` collectors: app id + private key → installation access token.

Configured as Backstage's ``integrations.github[].apps`` (backstage.io/docs/integrations/github/github-apps)::

    integrations:
      github:
        - host: github.com
          apps:
            - appId: 123456
              privateKey: ${GITHUB_APP_PRIVATE_KEY}     # the PEM text
              clientId: Iv1.0123456789abcdef          # read by Backstage; not needed here
              clientSecret: ${GITHUB_APP_CLIENT_SECRET}
              allowedInstallationOwners: [my-org]     # optional

How it works (docs.github.com, "Authenticating as a GitHub App installation"):

1. a JSON Web Token signed RS256 with the app's private key (``iss`` = app id, ``iat`` 60 s in the past against
   clock drift, ``exp`` 9 minutes later: GitHub refuses more than 10), made with PyJWT;
2. ``GET /app/installations`` (every page), once per app and run: the installation whose ``account.login`` is the
   repository's owner (case-insensitive);
3. ``POST /app/installations/{id}/access_tokens`` → ``{token, expires_at}`` (one hour). The token is kept in
   memory only (never in the fact store) and minted again when less than ``REFRESH_MARGIN`` is left, so a long
   collection never sends an expired token. Concurrent facts of one owner share one mint.

When an owner has no installation, the integration's ``token`` (if any) is used instead, as Backstage does; else
the fact fails saying so. Every token minted is added to the run's redactor before it is used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from soundcheck_cli.http.client import HttpClient, HttpError, next_link

REFRESH_MARGIN = 10 * 60.0  # seconds before ``expires_at`` when a token is replaced
JWT_LIFETIME = 9 * 60  # GitHub accepts at most 10 minutes
MAX_PAGES = 20


@dataclass(frozen=True)
class GithubApp:
    """One ``integrations.github[].apps`` entry."""

    app_id: str
    private_key: str = field(repr=False)
    allowed_owners: tuple[str, ...] = ()

    def allows(self, owner: str) -> bool:
        return not self.allowed_owners or owner.lower() in {o.lower() for o in self.allowed_owners}


def read_apps(item: Mapping[str, Any]) -> tuple[GithubApp, ...]:
    """The usable ``apps`` of one ``integrations.github`` entry (an app id and a private key)."""
    out = []
    for app in item.get("apps") or []:
        if not isinstance(app, Mapping):
            continue
        app_id, key = app.get("appId"), app.get("privateKey")
        if app_id in (None, "") or not isinstance(key, str) or "PRIVATE KEY" not in key:
            continue
        owners = tuple(str(o) for o in app.get("allowedInstallationOwners") or [] if isinstance(o, str))
        # a key written on one line in an environment variable keeps its "\n" escapes
        out.append(GithubApp(str(app_id), key.replace("\\n", "\n").strip() + "\n", owners))
    return tuple(out)


def make_jwt(app: GithubApp, now: float) -> str:
    import jwt  # PyJWT[crypto]; imported only when an app is configured

    issued = int(now) - 60
    try:
        return jwt.encode({"iat": issued, "exp": issued + 60 + JWT_LIFETIME, "iss": app.app_id}, app.private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        # the key's text is never part of the message
        raise HttpError(f"GitHub App {app.app_id}: the privateKey cannot sign a token ({type(exc).__name__})") from None


def _expiry(text: Any, now: float) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return now + 3600.0 - REFRESH_MARGIN  # GitHub's documented lifetime; refreshed at the usual time


class AppTokens:
    """Installation tokens of the GitHub Apps of one collector run (one object per collector)."""

    def __init__(self, wall_clock: Any = time.time, redact: Any = None) -> None:
        self.wall_clock = wall_clock
        self.redact = redact or (lambda _: None)
        self._installations: dict[tuple[str, str], Any] = {}  # (api, app id) -> task: {owner: installation id}
        self._tokens: dict[tuple[str, str, int], tuple[str, float]] = {}  # -> (token, expires at)
        self._locks: dict[tuple[str, str, int], asyncio.Lock] = {}
        self.minted = 0

    async def token(self, client: HttpClient, api: str, app: GithubApp, owner: str) -> str | None:
        """An installation token for ``owner``'s repositories, or ``None`` when the app is not installed there."""
        installations = await self._installations_of(client, api, app)
        installation = installations.get(owner.lower())
        if installation is None:
            return None
        key = (api, app.app_id, installation)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            held = self._tokens.get(key)
            now = self.wall_clock()
            if held is not None and held[1] - now > REFRESH_MARGIN:
                return held[0]
            response = await client.request(
                "POST", f"{api}/app/installations/{installation}/access_tokens",
                headers={"Authorization": f"Bearer {make_jwt(app, now)}"},
            )
            body = response.json() if response.content else {}
            token = body.get("token") if isinstance(body, Mapping) else None
            if not isinstance(token, str) or not token:
                raise HttpError(f"GitHub App {app.app_id}: no token in the access_tokens answer")
            self.redact(token)
            self._tokens[key] = (token, _expiry(body.get("expires_at"), now))
            self.minted += 1
            return token

    async def _installations_of(self, client: HttpClient, api: str, app: GithubApp) -> dict[str, int]:
        key = (api, app.app_id)
        task = self._installations.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._installations[key] = asyncio.ensure_future(self._list(client, api, app))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(task)

    async def _list(self, client: HttpClient, api: str, app: GithubApp) -> dict[str, int]:
        
        found: dict[str, int] = {}
        url: str | None = f"{api}/app/installations?per_page=100"
        for _ in range(MAX_PAGES):
            if url is None:
                break
            if not url.startswith(api):
                raise HttpError(f"refusing to follow {url}: not on {api}")
            response = await client.request("GET", url, headers={"Authorization": f"Bearer {make_jwt(app, self.wall_clock())}"})
            body = response.json()
            for item in body if isinstance(body, list) else []:
                account = item.get("account") if isinstance(item, Mapping) else None
                login = account.get("login") if isinstance(account, Mapping) else None
                if isinstance(login, str) and isinstance(item.get("id"), int) and app.allows(login):
                    found[login.lower()] = item["id"]
            url = next_link(response)
        return found
