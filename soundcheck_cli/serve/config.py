"""``soundcheck.serve``: the settings of ``soundcheck serve`` (docs/serve.md).

    soundcheck:
      serve:
        token: ${SOUNDCHECK_SERVE_TOKEN}   # bearer token for writes (POST); none: the server is read-only
        maxBodyBytes: 10485760             # largest request body accepted (default 10 MiB)

The token may also come from the environment variable ``SOUNDCHECK_SERVE_TOKEN``, which wins over the config.
It is a secret: registered with the redactor, never printed, logged or echoed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.config.fields import Fields, type_name
from soundcheck_cli.errors import ConfigError, Location, Problems
from soundcheck_cli.located.nodes import loc_of

TOKEN_ENV = "SOUNDCHECK_SERVE_TOKEN"
DEFAULT_MAX_BODY = 10 * 1024 * 1024
MAX_MAX_BODY = 512 * 1024 * 1024
MIN_TOKEN = 16  # characters: a shorter token is refused (it could be guessed)
SERVE_KEYS = frozenset({"token", "maxBodyBytes"})


@dataclass(frozen=True)
class ServeSettings:
    token: str | None = field(default=None, repr=False)  # never in a repr: it is a secret
    max_body: int = DEFAULT_MAX_BODY
    location: Location | None = field(default=None, compare=False)


def parse_serve(node: Any, environ: Mapping[str, str],
                where: Location | None = None) -> tuple[ServeSettings, list[Any]]:
    """The settings from ``soundcheck.serve`` and the environment; raises ``ConfigError`` (located) when invalid.
    Returns the warnings too."""
    problems = Problems()
    token: str | None = None
    max_body = DEFAULT_MAX_BODY
    location = where
    token_loc: Location | None = None
    if node is not None and not isinstance(node, dict):
        problems.error(f"soundcheck.serve must be a mapping {{token, maxBodyBytes}}, not {type_name(node)}",
                       loc_of(node) or where)
    elif node is not None:
        fields = Fields(node, problems, "soundcheck.serve", where)
        location = fields.loc
        token = fields.string("token")
        token_loc = fields.value_loc("token")
        raw = fields.raw("maxBodyBytes", DEFAULT_MAX_BODY)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1024 <= raw <= MAX_MAX_BODY:
            fields.error(f"'maxBodyBytes' must be a whole number of bytes from 1024 to {MAX_MAX_BODY}",
                         fields.value_loc("maxBodyBytes"))
        else:
            max_body = raw
        fields.warn_unknown(SERVE_KEYS)
    from_env = environ.get(TOKEN_ENV)
    if from_env:
        token, token_loc = from_env, Location(f"${TOKEN_ENV}")
    if token is not None:
        token = token.strip()
        if len(token) < MIN_TOKEN or any(ord(c) < 0x21 or c == "\x7f" for c in token):
            # The message never contains the token, not even a part of it.
            problems.error(f"the serve token must be at least {MIN_TOKEN} printable characters without spaces "
                           "(e.g. the output of `openssl rand -hex 32`)", token_loc)
            token = None
    problems.raise_if_errors(ConfigError)
    return ServeSettings(token=token or None, max_body=max_body, location=location), problems.warnings
