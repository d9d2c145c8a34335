"""A small HTTP/1.1 keep-alive server on 127.0.0.1 for the HTTP client and transport tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def http_server(behaviour: Callable[[int, bytes], Any]) -> tuple[asyncio.Server, str, dict[str, int]]:
    """``behaviour(n, head)`` for the n-th request returns raw response bytes, ``'hang'``, ``'reset'``, or a
    1-tuple of bytes (answer, then close the connection without saying so). Returns the server, its base URL and
    the counts of requests (``n``) and connections."""
    count = {"n": 0, "connections": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                count["n"] += 1
                action = behaviour(count["n"], head)
                if action == "hang":
                    await asyncio.sleep(5)
                    return
                if action == "reset":
                    writer.transport.abort()
                    return
                close = isinstance(action, tuple)
                writer.write(action[0] if close else action)
                await writer.drain()
                if close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", count


def response(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    """Raw HTTP/1.1 response bytes with a Content-Length; ``extra``: more header lines, each ending in CRLF."""
    return b"HTTP/1.1 " + status.encode() + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body
