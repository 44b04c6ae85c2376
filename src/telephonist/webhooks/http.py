"""A lean HTTP/1.1 client for webhooks: keep-alive connections per origin, responses parsed by httptools
(the C parser uvicorn uses).

Status callbacks are two requests per message, and aiohttp's client took ~270 µs of CPU for each on a
2-core benchmark machine, more than the rest of a message's path; this takes ~35 µs. It does what
webhooks need and no more: http and https, at most `per_host` requests under way to one origin, idle
connections kept for the next request, redirects followed, gzip and deflate bodies decoded, a size cap
on every body (decoded, so a compressed bomb stops at the cap), one deadline per request.

Errors: InvalidURL, TooManyRedirects, TooLarge, and ClientError for everything on the way (refused,
reset, timed out, a response that is not HTTP).
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urljoin, urlsplit

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

    async def exchange(self, request: bytes, limit: int) -> tuple[int, dict[str, str], bytes, bool]:
        """Send one request, await its response: status, headers, body, whether the connection may
        serve another request."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._headers, self._body, self._size, self._limit = {}, [], 0, limit
        self._headers_done = self._framed = self._got_bytes = self._keep_alive = False
        self.transport.write(request)
        try:
            await self._waiter
        finally:
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
    ) -> None:
        """`tls` verifies https servers; by default the system's CAs (SSL_CERT_FILE names others)."""
        self.per_host = per_host
        self.timeout = timeout
        self.connect_timeout = connect_timeout
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
    ) -> Response:
        """One request and its redirects, within the timeout. A 301, 302 or 303 to a POST is followed
        with a GET (as browsers and Twilio do); a 307 or 308 repeats the request."""
        try:
            async with asyncio.timeout(self.timeout):
                for _ in range(max_redirects + 1):
                    status, got, data = await self._once(method, url, headers, body, limit)
                    location = got.get("location")
                    if status not in REDIRECTS or not location:
                        return Response(status, got, _decoded(status, got, data, limit), url)
                    url = urljoin(url, location)
                    if status == 303 or (status in (301, 302) and method == "POST"):
                        method, body = "GET", None
                raise TooManyRedirects(url)
        except TimeoutError:
            raise ClientError("timed out") from None

    async def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def _once(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, limit: int
    ) -> tuple[int, dict[str, str], bytes]:
        origin, request = _request(method, url, headers, body)
        slots = self._slots.get(origin) or self._slots.setdefault(origin, asyncio.Semaphore(self.per_host))
        async with slots:
            for fresh in (False, True):
                conn = None if fresh else self._take_idle(origin)
                conn = conn or await self._connect(origin)
                kept = False
                try:
                    status, got, data, keep = await conn.exchange(request, limit)
                    if keep:
                        self._idle.setdefault(origin, []).append(conn)
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

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    _Connection, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            raise ClientError("connect timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise ClientError(f"cannot connect: {exc.__class__.__name__}") from None
        return conn


def _request(method: str, url: str, headers: dict[str, str], body: bytes | None) -> tuple[Origin, bytes]:
    """The origin to connect to and the request's bytes."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise InvalidURL(url) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidURL(url)
    default = 443 if parts.scheme == "https" else 80
    port = port or default
    host = parts.hostname
    authority = (f"[{host}]" if ":" in host else host) + ("" if port == default else f":{port}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not target.isascii() or " " in target:
        target = quote(target, safe=_TARGET_SAFE)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}", "Accept-Encoding: gzip, deflate"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return (parts.scheme, host, port), head + (body or b"")


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
