"""A lean HTTP/1.1 client for webhooks: keep-alive connections per origin, responses parsed by httptools
(the C parser uvicorn uses).

Status callbacks are two requests per message, and aiohttp's client took ~270 µs of CPU for each on a
2-core benchmark machine, more than the rest of a message's path; this takes ~35 µs. It does what
webhooks need and no more: http and https, at most `per_host` requests under way to one origin, idle
connections kept for the next request, redirects followed, gzip and deflate bodies decoded, a size cap
on every body (decoded, so a compressed bomb stops at the cap), one deadline per request, a connect
timeout and a read timeout (the longest silence while a response is awaited), and optionally a guard that
refuses to connect to private addresses.

Errors: InvalidURL, TooManyRedirects, TooLarge, ConnectFailed (no connection: refused, unreachable, name
unknown, TLS handshake, connect timeout), ReadTimeout, TimedOut (past the deadline), Forbidden (the guard),
and ClientError for the rest on the way (reset, a response that is not HTTP).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import SplitResult, quote, urljoin, urlsplit

import httptools

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Printable ASCII but the space: a request target keeps these as they are (the URL was signed as it is).
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
Origin = tuple[str, str, int]


class ClientError(Exception):
    """The request failed on the way: connection refused or reset, timed out, not HTTP."""


class InvalidURL(ClientError):
    pass


class TooManyRedirects(ClientError):
    pass


class ConnectFailed(ClientError):
    """No connection could be made: what Twilio's retry policy `ct` retries."""


class ReadTimeout(ClientError):
    """Connected, but the server was silent for longer than the read timeout: retry policy `rt`."""


class TimedOut(ClientError):
    """The request ran past its deadline."""


class Forbidden(ClientError):
    """The guard refused the address the host resolves to."""


class TooLarge(ClientError):
    """The body passed the caller's limit."""

    def __init__(self, status: int) -> None:
        super().__init__(f"body over the limit (status {status})")
        self.status = status


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    url: str  # after redirects

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                return value.strip('"')
        return None


class _Stale(Exception):
    """A kept connection the server had closed before it read the request: try a fresh one."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._read_timeout = 0.0
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._reused = False
        self._got_bytes = False
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._limit = 0
        self._headers_done = self._framed = self._keep_alive = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ClientError("unexpected protocol upgrade"))
        except httptools.HttpParserError as exc:
            self._fail(ClientError(f"invalid HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._headers_done and not self._framed:  # a body that runs until the server closes
            self._waiter.set_result(None)
        elif self._reused and not self._got_bytes:
            self._waiter.set_exception(_Stale())
        else:
            self._waiter.set_exception(ClientError("the server closed the connection"))

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True
        length = self._headers.get("content-length", "")
        self._framed = length.isdigit() or "chunked" in self._headers.get("transfer-encoding", "").lower()
        if length.isdigit() and int(length) > self._limit:
            self._fail(TooLarge(self._parser.get_status_code()))

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._limit:
            self._fail(TooLarge(self._parser.get_status_code()))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()  # valid only until the parser moves on
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- use
    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _check_silence(self) -> None:
        # One timer for the whole response, pushed back as bytes come, rather than one per packet.
        if self._waiter is None or self._waiter.done():
            self._timer = None
            return
        silent = self._loop.time() - self._last_read
        if silent >= self._read_timeout:
            self._timer = None
            self._fail(ReadTimeout(f"no response for {self._read_timeout:g} s"))
        else:
            self._timer = self._loop.call_later(self._read_timeout - silent, self._check_silence)

    async def exchange(
        self, request: bytes, limit: int, read_timeout: float | None = None
    ) -> tuple[int, dict[str, str], bytes, bool]:
        """Send one request, await its response: status, headers, body, whether the connection may
        serve another request. `read_timeout`: the longest silence of the server (ReadTimeout)."""
        assert self.transport is not None
        self._waiter = self._loop.create_future()
        self._headers, self._body, self._size, self._limit = {}, [], 0, limit
        self._headers_done = self._framed = self._got_bytes = self._keep_alive = False
        self.transport.write(request)
        if read_timeout is not None:
            self._read_timeout, self._last_read = read_timeout, self._loop.time()
            self._timer = self._loop.call_later(read_timeout, self._check_silence)
        try:
            await self._waiter
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiter = None
            self._reused = True
        status = self._parser.get_status_code()
        keep = self._keep_alive and not self.closed
        return status, self._headers, b"".join(self._body), keep


class HttpClient:
    def __init__(
        self,
        per_host: int = 16,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        tls: ssl.SSLContext | None = None,
        allow_private: bool = True,
        trusted: Iterable[str] = (),
    ) -> None:
        """`tls` verifies https servers; by default the system's CAs (SSL_CERT_FILE names others).
        With `allow_private` false, only public addresses are connected to, except at the origins of
        the `trusted` URLs (the platform's own, whose recordings `<Play>` fetches)."""
        self.per_host = per_host
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.allow_private = allow_private
        self.trusted = frozenset(_origins(trusted))
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slots: dict[Origin, asyncio.Semaphore] = {}
        self._tls = tls

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        limit: int,
        max_redirects: int = 10,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> Response:
        """One request and its redirects, within `timeout` (the client's by default); each connection
        made within `connect_timeout`, and no silence of the server longer than `read_timeout`. A 301,
        302 or 303 to a POST is followed with a GET (as browsers and Twilio do); a 307 or 308 repeats
        the request."""
        timeouts = (connect_timeout or self.connect_timeout, read_timeout)
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                for _ in range(max_redirects + 1):
                    status, got, data = await self._once(method, url, headers, body, limit, timeouts)
                    location = got.get("location")
                    if status not in REDIRECTS or not location:
                        return Response(status, got, _decoded(status, got, data, limit), url)
                    url = urljoin(url, location)
                    if status == 303 or (status in (301, 302) and method == "POST"):
                        method, body = "GET", None
                raise TooManyRedirects(url)
        except TimeoutError:
            raise TimedOut("timed out") from None

    async def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def _once(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        limit: int,
        timeouts: tuple[float, float | None],
    ) -> tuple[int, dict[str, str], bytes]:
        to, request = _request(method, url, headers, body)
        slots = self._slots.get(to) or self._slots.setdefault(to, asyncio.Semaphore(self.per_host))
        async with slots:
            for fresh in (False, True):
                conn = None if fresh else self._take_idle(to)
                conn = conn or await self._connect(to, timeouts[0])
                kept = False
                try:
                    status, got, data, keep = await conn.exchange(request, limit, timeouts[1])
                    if keep:
                        self._idle.setdefault(to, []).append(conn)
                        kept = True
                    return status, got, data
                except _Stale:
                    continue  # only a kept connection is stale: the next one is fresh
                finally:
                    if not kept:
                        conn.close()
        raise ClientError("the server closed the connection")

    def _take_idle(self, origin: Origin) -> _Connection | None:
        conns = self._idle.get(origin)
        while conns:
            conn = conns.pop()
            if not conn.closed:
                return conn
        return None

    async def _connect(self, to: Origin, timeout: float) -> _Connection:
        scheme, host, port = to
        tls = None
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                if self.allow_private or to in self.trusted:
                    addresses = [host]
                else:
                    addresses = await _public_addresses(host, port)
                failure: Exception = ConnectFailed("no address")
                for address in addresses:
                    try:
                        _, conn = await loop.create_connection(
                            _Connection, address, port, ssl=tls, server_hostname=host if tls else None
                        )
                        return conn
                    except (OSError, ssl.SSLError) as exc:
                        failure = exc
                raise failure
        except TimeoutError:
            raise ConnectFailed("connect timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(f"cannot connect: {exc.__class__.__name__}") from None


def forbidden(address: str) -> bool:
    """Whether the guard refuses an IP address: loopback, private (RFC 1918), link-local, CGNAT,
    unique-local IPv6, multicast, unspecified, or any other that is not globally routable."""
    ip = ipaddress.ip_address(address.partition("%")[0])  # less an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return not ip.is_global or ip.is_multicast


async def _public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to that the guard allows. The caller connects to these very
    addresses, so a name that resolves elsewhere the next time (DNS rebinding) gains nothing."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    resolved = list(dict.fromkeys(str(info[4][0]) for info in infos))
    allowed = [address for address in resolved if not forbidden(address)]
    if not allowed:
        raise Forbidden(f"{host} resolves to a private address ({resolved[0]}): refused")
    return allowed


def origin(url: str) -> Origin:
    """(scheme, host, port) of a URL, the port made explicit."""
    return _origin(urlsplit(url), url)


def _origins(urls: Iterable[str]) -> Iterator[Origin]:
    for url in urls:
        try:
            yield origin(url)
        except InvalidURL:  # a malformed public URL trusts nothing
            continue


def _origin(parts: SplitResult, url: str) -> Origin:
    try:
        port = parts.port
    except ValueError:
        raise InvalidURL(url) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidURL(url)
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _request(method: str, url: str, headers: dict[str, str], body: bytes | None) -> tuple[Origin, bytes]:
    """The origin to connect to and the request's bytes."""
    parts = urlsplit(url)
    scheme, host, port = _origin(parts, url)
    default = 443 if scheme == "https" else 80
    authority = (f"[{host}]" if ":" in host else host) + ("" if port == default else f":{port}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not target.isascii() or " " in target:
        target = quote(target, safe=_TARGET_SAFE)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}", "Accept-Encoding: gzip, deflate"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return (scheme, host, port), head + (body or b"")


def _decoded(status: int, headers: dict[str, str], data: bytes, limit: int) -> bytes:
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in ("gzip", "deflate") or not data:
        return data
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    try:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        if encoding != "deflate":
            raise ClientError("invalid gzip body") from None
        try:  # raw deflate, as some servers send it
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            out = inflater.decompress(data, limit + 1)
        except zlib.error:
            raise ClientError("invalid deflate body") from None
    if len(out) > limit:
        raise TooLarge(status)
    return out
