"""The webhook HTTP client against real servers on loopback: a scripted raw HTTP server for the cases
that need byte-level control (framing, closing, redirects, compression), and TLS with a trustme CA."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import trustme

from telephonist.webhooks.client import FetchError, Webhooks
from telephonist.webhooks.http import ClientError, HttpClient, InvalidURL, TooLarge, TooManyRedirects

LIMIT = 64 * 1024


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which TCP connection carried it (0, 1, …)


Answer = Callable[[Seen], bytes | None]  # the raw response, or None to close without one


@dataclass
class Server:
    answer: Answer
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number, self.connections = self.connections, self.connections + 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        self.writers.append(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(method, target, headers, body, number)
                self.seen.append(seen)
                response = self.answer(seen)
                if response is None:
                    return
                writer.write(response)
                await writer.drain()
                if b"Connection: close" in response or response.startswith(b"HTTP/1.0"):
                    return  # a body that ends where the connection does
        finally:
            self.open_now -= 1
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def ok(body: bytes = b"hello", *headers: str) -> bytes:
    extra = "".join(h + "\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def serve(answer: Answer, tls: ssl.SSLContext | None = None) -> tuple[Server, asyncio.Server]:
    server = Server(answer)
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    server.port = srv.sockets[0].getsockname()[1]
    return server, srv


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_a_kept_connection_serves_the_next_requests() -> None:
    async def test() -> None:
        server, srv = await serve(lambda seen: ok(seen.body))
        client = HttpClient()
        for n in range(5):
            resp = await client.request("POST", server.url + "/status?x=1", {"X-A": "b"}, b"n=%d" % n, LIMIT)
            assert (resp.status, resp.body, resp.url) == (200, b"n=%d" % n, server.url + "/status?x=1")
        assert server.connections == 1
        first = server.seen[0]
        assert (first.method, first.target, first.headers["x-a"]) == ("POST", "/status?x=1", "b")
        assert first.headers["host"] == f"127.0.0.1:{server.port}"
        await client.close()
        srv.close()

    run(test)


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def test() -> None:
        server, srv = await serve(lambda seen: ok())
        client = HttpClient()
        await client.request("GET", server.url + "/a", {}, None, LIMIT)
        for writer in server.writers:  # the server drops its idle keep-alive connection
            writer.close()
        await asyncio.sleep(0.05)
        resp = await client.request("GET", server.url + "/b", {}, None, LIMIT)
        assert resp.status == 200
        assert [s.target for s in server.seen] == ["/a", "/b"]
        assert server.connections == 2
        await client.close()
        srv.close()

    run(test)


def test_bodies_framed_by_chunks_or_by_closing() -> None:
    async def test() -> None:
        answers = {
            "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            "/close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
            "/http10": b"HTTP/1.0 200 OK\r\n\r\nold style",
            "/empty": b"HTTP/1.1 204 No Content\r\n\r\n",
        }
        server, srv = await serve(lambda seen: answers[seen.target])
        client = HttpClient()
        got = {}
        for path in answers:
            resp = await client.request("GET", server.url + path, {}, None, LIMIT)
            got[path] = (resp.status, resp.body)
        assert got == {
            "/chunked": (200, b"hello world"),
            "/close": (200, b"until the end"),
            "/http10": (200, b"old style"),
            "/empty": (204, b""),
        }
        await client.close()
        srv.close()

    run(test)


def test_gzip_and_deflate_bodies_are_decoded_and_capped() -> None:
    bomb = gzip.compress(b"\0" * (10 * LIMIT))
    answers = {
        "/gzip": ok(gzip.compress(b"<Response/>"), "Content-Encoding: gzip"),
        "/deflate": ok(zlib.compress(b"<Response/>"), "Content-Encoding: deflate"),
        "/bomb": ok(bomb, "Content-Encoding: gzip"),
    }

    async def test() -> None:
        server, srv = await serve(lambda seen: answers[seen.target])
        client = HttpClient()
        for path in ("/gzip", "/deflate"):
            assert (await client.request("GET", server.url + path, {}, None, LIMIT)).body == b"<Response/>"
        assert "gzip" in server.seen[0].headers["accept-encoding"]
        assert len(bomb) < LIMIT
        with pytest.raises(TooLarge):
            await client.request("GET", server.url + "/bomb", {}, None, LIMIT)
        await client.close()
        srv.close()

    run(test)


def test_a_body_over_the_limit_stops_the_request() -> None:
    async def test() -> None:
        answers = {
            "/declared": b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000,
            "/streamed": b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n" + b"x" * 100_000,
        }
        server, srv = await serve(lambda seen: answers[seen.target])
        client = HttpClient()
        for path, status in (("/declared", 200), ("/streamed", 500)):
            with pytest.raises(TooLarge) as err:
                await client.request("GET", server.url + path, {}, None, LIMIT)
            assert err.value.status == status
        await client.close()
        srv.close()

    run(test)


def test_redirects_are_followed_as_twilio_does() -> None:
    def answer(seen: Seen) -> bytes:
        moves = {"/302": "302 Found", "/303": "303 See Other", "/307": "307 Temporary Redirect"}
        if seen.target in moves:
            return f"HTTP/1.1 {moves[seen.target]}\r\nLocation: /end\r\nContent-Length: 0\r\n\r\n".encode()
        if seen.target == "/loop":
            return b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n"
        return ok(f"{seen.method} {seen.body.decode()}".encode())

    async def test() -> None:
        server, srv = await serve(answer)
        client = HttpClient()
        for path, expected in (("/302", b"GET "), ("/303", b"GET "), ("/307", b"POST a=1")):
            resp = await client.request("POST", server.url + path, {}, b"a=1", LIMIT)
            assert (resp.body, resp.url) == (expected, server.url + "/end")
        with pytest.raises(TooManyRedirects):
            await client.request("GET", server.url + "/loop", {}, None, LIMIT)
        assert len([s for s in server.seen if s.target == "/loop"]) == 11
        await client.close()
        srv.close()

    run(test)


def test_failures_on_the_way() -> None:
    async def test() -> None:
        server, srv = await serve(lambda seen: None if seen.target == "/hangup" else b"SMTP ready\r\n\r\n")
        client = HttpClient(timeout=0.5)
        for path in ("/hangup", "/garbage"):
            with pytest.raises(ClientError):
                await client.request("GET", server.url + path, {}, None, LIMIT)
        srv.close()
        await srv.wait_closed()
        with pytest.raises(ClientError):  # refused
            await client.request("GET", server.url + "/", {}, None, LIMIT)
        for url in ("ftp://example.com/x", "http:///nohost", "http://127.0.0.1:99999/"):
            with pytest.raises(InvalidURL):
                await client.request("GET", url, {}, None, LIMIT)

        silent, quiet = await serve(lambda seen: b"")  # reads the request, never answers
        with pytest.raises(ClientError, match="timed out"):
            await client.request("GET", silent.url + "/", {}, None, LIMIT)
        quiet.close()
        await client.close()

    run(test)


def test_at_most_per_host_requests_at_once() -> None:
    async def test() -> None:
        release = asyncio.Event()
        server = Server(lambda seen: ok())

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await release.wait()
            await server.handle(reader, writer)

        srv = await asyncio.start_server(slow, "127.0.0.1", 0)
        server.port = srv.sockets[0].getsockname()[1]
        client = HttpClient(per_host=3)
        requests = [client.request("GET", server.url, {}, None, LIMIT) for _ in range(10)]
        asyncio.get_running_loop().call_later(0.2, release.set)
        assert [r.status for r in await asyncio.gather(*requests)] == [200] * 10
        assert server.connections == 3 and server.most_open <= 3
        await client.close()
        srv.close()

    run(test)


def test_https_with_a_certificate_the_client_trusts() -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)

    async def test() -> None:
        server, srv = await serve(lambda seen: ok(b"secure " + seen.body), tls=server_tls)
        url = f"https://localhost:{server.port}/hook"
        untrusting = HttpClient()
        with pytest.raises(ClientError):  # not signed by a CA the system knows
            await untrusting.request("POST", url, {}, b"a=1", LIMIT)
        client_tls = ssl.create_default_context()
        ca.configure_trust(client_tls)
        client = HttpClient(tls=client_tls)
        resp = await client.request("POST", url, {}, b"a=1", LIMIT)
        assert (resp.status, resp.body) == (200, b"secure a=1")
        assert server.seen[-1].headers["host"] == f"localhost:{server.port}"
        await client.close()
        srv.close()

    run(test)


def test_webhooks_map_client_failures_to_twilio_codes() -> None:
    def answer(seen: Seen) -> bytes:
        if seen.target.startswith("/loop"):
            return b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n"
        if seen.target == "/big":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000
        return ok(b"<Response/>", "Content-Type: text/xml; charset=no-such-charset")

    async def test() -> None:
        server, srv = await serve(answer)
        hooks = Webhooks(timeout=2.0)
        codes = {}
        for path in ("/loop", "/big"):
            with pytest.raises(FetchError) as err:
                await hooks.request(server.url + path, "POST", [("A", "1")], "token")
            codes[path] = err.value.code
        assert codes == {"/loop": 11215, "/big": 11750}
        fetched = await hooks.request(server.url + "/doc#frag", "GET", [("Digits", "1 2")], "token")
        assert (fetched.body, fetched.content_type) == ("<Response/>", "text/xml")
        assert server.seen[-1].target == "/doc?Digits=1+2"
        assert "x-twilio-signature" in server.seen[-1].headers
        await hooks.close()
        srv.close()

    run(test)
