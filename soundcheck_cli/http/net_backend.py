"""An asyncio-native network backend for httpcore, and the httpx transport that uses it.

httpcore's default backend on asyncio goes through anyio, which costs a lot of CPU per request: every read
resumes and pauses the transport (an epoll register/unregister pair), every write and read runs in an anyio
cancel scope (``fail_after``) and adds a checkpoint (an extra event-loop round trip), and every idle-connection
check (``has_expired``, several per request) asks ``getpeername`` and ``poll`` of the socket. This backend is a
plain ``asyncio.Protocol``: reading stays enabled (paused only past a high-water mark), reads are served from a
buffer, timeouts are one ``call_later`` handle, and "is the idle connection readable?" is a flag the protocol
already keeps (data or EOF arrived).

It plugs into httpcore through its public extension point (``httpcore.AsyncNetworkBackend`` /
``AsyncNetworkStream``, https://www.encode.io/httpcore/network-backends/) and raises the exceptions httpcore's own
backends raise (``ConnectError``, ``ConnectTimeout``, ``ReadError``, ``ReadTimeout``, ``WriteError``,
``WriteTimeout``), which ``AsyncioTransport`` maps to httpx's as ``httpx.AsyncHTTPTransport`` does. TLS is
``loop.start_tls`` with the caller's ``ssl.SSLContext`` (verification, SNI and ALPN as httpcore asks).

``AsyncioTransport`` is the ``httpx.AsyncHTTPTransport`` equivalent for direct connections (no proxy): an
``httpcore.AsyncConnectionPool`` over this backend. Proxies stay with httpx's own transports (the client mounts
them from the environment as before).
"""

from __future__ import annotations

import asyncio
import ssl
import typing
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx

READ_HIGH_WATER = 256 * 1024  # bytes buffered before the protocol stops reading from the socket
READ_LOW_WATER = 64 * 1024  # ... and resumes once the reader has taken the buffer below this

SocketOption = typing.Union[
    tuple[int, int, int],
    tuple[int, int, typing.Union[bytes, bytearray]],
    tuple[int, int, None, int],
]


class _Protocol(asyncio.Protocol):
    """Buffers what the socket delivers; wakes the one reader or writer waiting on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False  # the peer closed its side (or the connection is gone)
        self.lost = False  # connection_lost was called
        self.error: BaseException | None = None  # why the connection was lost, when not a clean close
        self.paused_reading = False
        self.read_waiter: asyncio.Future[None] | None = None
        self.write_waiter: asyncio.Future[None] | None = None
        self.write_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_HIGH_WATER and not self.paused_reading and self.transport is not None:
            self.paused_reading = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake_reader()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.eof = True
        if exc is not None:
            self.error = exc
        self._wake_reader()
        waiter = self.write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self.write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self, max_bytes: int) -> bytes:
        buffer = self.buffer
        if len(buffer) <= max_bytes:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if self.paused_reading and len(buffer) <= READ_LOW_WATER and self.transport is not None:
            self.paused_reading = False
            self.transport.resume_reading()
        return data


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _wait(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None], timeout: float | None) -> None:
    """Await ``waiter``; ``TimeoutError`` after ``timeout`` seconds (``None``: no limit)."""
    if timeout is None:
        await waiter
        return
    handle = loop.call_later(max(0.0, timeout), _expire, waiter)
    try:
        await waiter
    finally:
        handle.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection (plain TCP, TLS or a Unix socket) as httpcore reads and writes it."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if self._closed:
            raise httpcore.ReadError("the connection is closed")
        if not protocol.buffer:
            if not protocol.eof:
                waiter = protocol.loop.create_future()
                protocol.read_waiter = waiter
                try:
                    await _wait(protocol.loop, waiter, timeout)
                except TimeoutError:
                    raise httpcore.ReadTimeout("timed out while reading") from None
                finally:
                    protocol.read_waiter = None
            if not protocol.buffer:
                if protocol.error is not None:
                    raise httpcore.ReadError(protocol.error) from protocol.error
                return b""  # the peer closed the connection: h11 reads this as the end
        return protocol.take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._closed or protocol.lost or self._transport.is_closing():
            error = protocol.error
            if error is not None:
                raise httpcore.WriteError(error) from error
            raise httpcore.WriteError("the connection is closed")
        try:
            self._transport.write(buffer)
        except (OSError, RuntimeError) as exc:  # RuntimeError: the SSL transport is already closed
            raise httpcore.WriteError(exc) from exc
        if protocol.write_paused and not protocol.lost:
            # More than the transport's high-water mark is waiting for the socket: wait until it drains.
            waiter = protocol.loop.create_future()
            protocol.write_waiter = waiter
            try:
                await _wait(protocol.loop, waiter, timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout("timed out while writing") from None
            finally:
                protocol.write_waiter = None
        if protocol.error is not None and protocol.lost:
            raise httpcore.WriteError(protocol.error) from protocol.error

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        transport = self._transport
        if not transport.is_closing():
            transport.close()
            # One loop turn lets a plain transport flush and close its socket; whatever is left (a TLS close_notify
            # the peer never answers) is dropped rather than kept past the client's life.
            await asyncio.sleep(0)
        transport.abort()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        protocol = self._protocol
        loop = protocol.loop
        try:
            try:
                async with asyncio.timeout(timeout):
                    transport = await loop.start_tls(
                        self._transport,
                        protocol,
                        ssl_context,
                        server_hostname=server_hostname,
                        ssl_handshake_timeout=timeout if timeout else None,
                    )
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(exc or "timed out during the TLS handshake") from exc
            except (OSError, ssl.SSLError, ConnectionError, RuntimeError) as exc:
                # ssl.SSLCertVerificationError is an SSLError; RuntimeError: the transport closed meanwhile.
                raise httpcore.ConnectError(exc) from exc
            if transport is None:  # pragma: no cover - only when the loop was closed under us
                raise httpcore.ConnectError("the connection closed during the TLS handshake")
        except BaseException:
            await self.aclose()
            raise
        protocol.transport = transport
        return AsyncioStream(transport, protocol)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # httpcore asks this of idle connections: readable then means the server closed it (or sent something
            # it should not have). Reading is never paused on an idle connection, so the protocol knows.
            protocol = self._protocol
            return bool(protocol.buffer) or protocol.eof or self._closed
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connections made with the running asyncio loop's own transports (``loop.create_connection``)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        protocol = _Protocol(loop)
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    lambda: protocol, host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(exc or "timed out while connecting") from exc
        except OSError as exc:  # refused, unreachable, name resolution (socket.gaierror)...
            raise httpcore.ConnectError(exc) from exc
        _apply(transport, socket_options)  # asyncio already sets TCP_NODELAY on TCP sockets
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        protocol = _Protocol(loop)
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_unix_connection(lambda: protocol, path)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(exc or "timed out while connecting") from exc
        except OSError as exc:
            raise httpcore.ConnectError(exc) from exc
        _apply(transport, socket_options)
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _apply(transport: asyncio.BaseTransport, socket_options: Iterable[SocketOption] | None) -> None:
    if not socket_options:
        return
    sock = transport.get_extra_info("socket")
    try:
        for option in socket_options:
            sock.setsockopt(*option)
    except OSError as exc:
        transport.abort()
        raise httpcore.ConnectError(exc) from exc


# httpcore's exceptions -> httpx's, as ``httpx.AsyncHTTPTransport`` maps them (the most specific class wins).
_EXCEPTIONS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}


def _to_httpx(exc: Exception) -> Exception | None:
    for cls in type(exc).__mro__:
        mapped = _EXCEPTIONS.get(cls)
        if mapped is not None:
            return mapped(str(exc))
    return None


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions raised inside re-raised as httpx's (``_to_httpx``); any other goes on unchanged."""
    try:
        yield
    except Exception as exc:
        mapped = _to_httpx(exc)
        if mapped is None:
            raise
        raise mapped from exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class AsyncioTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)`` over ``AsyncioBackend`` (HTTP/1.1)."""

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits, *, retries: int = 0) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=retries,
            network_backend=AsyncioBackend(),
        )

    async def __aenter__(self) -> AsyncioTransport:
        await self._pool.__aenter__()
        return self

    async def __aexit__(self, *exc: typing.Any) -> None:
        await self.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),  # type: ignore[arg-type]
            extensions=response.extensions,
        )

    async def fetch(
        self, method: str, url: httpcore.URL, headers: list[tuple[bytes, bytes]], extensions: dict[str, typing.Any]
    ) -> tuple[httpx.Response, bytes]:
        """A request without a body, given as httpcore's parts (``HttpClient`` builds them without an
        ``httpx.Request``): the response with its body received and the connection released (what
        ``handle_async_request`` + ``aread()`` + ``aclose()`` do, with the same exceptions, without the stream
        layers in between), and that body as received. The response's content is not read yet (``read()``
        decodes it by its ``Content-Encoding``, as ``aread`` does); it has no ``request`` attached."""
        with _httpx_errors():
            response = await self._pool.handle_async_request(
                httpcore.Request(method, url, headers=headers, extensions=extensions)
            )
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        result = httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=httpx.ByteStream(body),
            extensions=response.extensions,
        )
        return result, body

    async def aclose(self) -> None:
        await self._pool.aclose()


__all__ = ["AsyncioBackend", "AsyncioStream", "AsyncioTransport"]
