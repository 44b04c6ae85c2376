"""Fixtures: a real Telephonist server on a real port, and a real webhook application on another."""

from __future__ import annotations

import os
import random
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from flask import Flask, Response, request
from twilio.rest import Client
from werkzeug.serving import make_server

from telephonist.app import Platform, create_app
from telephonist.config import Settings
from telephonist.store.db import Database
from telephonist.testing import wait_for

# `TELEPHONIST_TEST_STORE=postgresql` runs the servers of the tests on PostgreSQL (a server the tests start).
STORE = os.environ.get("TELEPHONIST_TEST_STORE", "sqlite")
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-token-0123456789abcdef"


# pytest imports this file as `conftest`, the SIP tests as `tests.conftest`: one module for both names, so
# that what it keeps for the whole run (the ports handed out, the PostgreSQL server) exists once.
sys.modules.setdefault("tests.conftest", sys.modules[__name__])


def _port_range() -> range:
    """Where the helpers pick ports: below the kernel's ephemeral range, from which bind(0) and the source
    ports of outgoing connections come (so no connection takes a port between its handing out and the bind
    of its server), and above the RTP ports (10000-20000) Telephonist takes by itself."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except OSError:
        low, high = 32768, 60999  # Linux's default
    if low - 20_002 >= 4096:
        return range(20_002, low)
    if 65_535 - high >= 4096:
        return range((high + 2) & ~1, 65_536)
    return range(20_002, 65_536)  # no room outside it: the ports handed out still never collide


def _slice(ports: range) -> range:
    """This process's share of `ports`: under pytest-xdist each worker picks from a slice of its own, so
    that two workers never hand out the same port."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count <= 1:
        return ports
    size = (len(ports) // count) & ~1
    first = ports.start + int(worker[2:]) * size
    return range(first, first + size)


_PORTS = _slice(_port_range())
_handed_out: set[int] = set()
_ports_lock = threading.Lock()
_ports_random = random.Random()  # of its own: a test seeding `random` doesn't make two runs pick alike


def free_port() -> int:
    """A loopback port free over TCP and UDP alike that no other helper of this run was handed."""
    return free_ports(1)


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports, even (RTP on it, RTCP on the odd one after it)."""

    def bindable(port: int) -> bool:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    return False
        return True

    with _ports_lock:
        if len(_handed_out) > len(_PORTS) // 2:
            _handed_out.clear()  # a long run: the first ports handed out are long done with
        for _ in range(1000):
            first = _ports_random.randrange(_PORTS.start, _PORTS.stop - count, 2 if count > 1 else 1)
            ports = range(first, first + count)
            if _handed_out.isdisjoint(ports) and all(map(bindable, ports)):
                _handed_out.update(ports)
                return first
    raise RuntimeError(f"no {count} free ports in {_PORTS}")


wait_until = wait_for  # poll until predicate() is truthy; return its value or fail the test


def assert_twilio_error(r: httpx.Response, status: int, code: int) -> None:
    """A Twilio error body as both SDKs read it: {code, message, more_info, status}, never RFC 9457."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert isinstance(body["message"], str) and body["message"]
    assert not {"type", "title"} <= body.keys()  # SDK 9 would take it for RFC 9457


@dataclass
class Telephonist:
    base_url: str
    account_sid: str
    auth_token: str
    platform: Platform
    _db: Database | None = field(default=None, init=False, repr=False)

    @property
    def db(self) -> Database:
        """The server's database, on a connection of the test's own: a test must not use the server's
        (`platform.db`), which with SQLite is one connection that belongs to the server's event loop."""
        if self._db is None:
            self._db = Database(self.platform.settings.db)
        return self._db

    def sip_status(self) -> dict[str, Any]:
        """What `telephonist sip` shows: the SIP trunks, registrations and live calls."""
        return dict(self._operator("/sip.json"))

    def carriers(self) -> list[dict[str, Any]]:
        """What `telephonist carriers` shows: each SMPP carrier's binds, state and counters."""
        return list(self._operator("/carriers.json")["carriers"])

    def _operator(self, path: str) -> Any:
        with self.http as h:
            r = h.get(path)
        assert r.status_code == 200, r.text
        return r.json()

    def client(self, sid: str | None = None, token: str | None = None) -> Client:
        c = Client(sid or self.account_sid, token or self.auth_token)
        c.api.base_url = self.base_url
        c.messaging.base_url = self.base_url + "/messaging"
        return c

    @property
    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(self.account_sid, self.auth_token), timeout=10)

    def sim(self, method: str, path: str, **data: Any) -> httpx.Response:
        with self.http as h:
            return h.request(method, "/sim/v1" + path, data=data or None)

    def transcript(self, call_sid: str) -> list[dict[str, Any]]:
        r = self.sim("GET", f"/Calls/{call_sid}")
        assert r.status_code == 200, r.text
        return list(r.json()["transcript"])

    def call_final(self, call_sid: str, timeout: float = 10.0) -> Any:
        client = self.client()
        finals = {"completed", "busy", "failed", "no-answer", "canceled"}
        return wait_until(lambda: (c := client.calls(call_sid).fetch()).status in finals and c, timeout)


_pg: Any = None
_pg_databases: dict[Path, str] = {}


def database_url(tmp_path: Path) -> str:
    """The test's database: a SQLite file in its folder, or a PostgreSQL database of its own (the same
    one again when a test restarts its server on the same folder)."""
    if STORE != "postgresql":
        return f"sqlite:///{tmp_path}/telephonist.db"
    return postgres_url(tmp_path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A module's PostgreSQL databases are dropped once its last test and its fixtures are over, so that a
    worker's cluster stays small: kept to the end, they came to 2 GB a cluster, more than the end of the
    run left time to delete."""
    yield
    module = getattr(item, "module", None)
    if _pg_databases and (nextitem is None or getattr(nextitem, "module", None) is not module):
        for url in _pg_databases.values():
            _pg.drop_database(url)
        _pg_databases.clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    """The PostgreSQL server of this process (an xdist worker's) stops, and its folder goes. An atexit hook
    did not run in the workers, which left their clusters behind, gigabytes each."""
    if _pg is not None:
        _pg.stop()


def postgres_url(tmp_path: Path) -> str:
    """A PostgreSQL database of the test's own, whatever the store of the run (tests of several nodes)."""
    global _pg
    if _pg is None:
        from pgserver import PgServer

        _pg = PgServer()
    if tmp_path not in _pg_databases:
        _pg_databases[tmp_path] = _pg.new_database()
    return _pg_databases[tmp_path]


def start_server(
    tmp_path: Path, time_scale: float = 0.01, **overrides: Any
) -> tuple[uvicorn.Server, threading.Thread, Telephonist]:
    port = free_port()
    settings = Settings(
        host="127.0.0.1",
        port=port,
        db=database_url(tmp_path),
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        time_scale=time_scale,
        log_level="warning",
        **overrides,
    )
    platform = Platform(settings)
    platform.prepare()
    app = create_app(settings, platform)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10)
    return server, thread, Telephonist(settings.base_url, ACCOUNT_SID, AUTH_TOKEN, platform)


@contextmanager
def running(tmp_path: Path, time_scale: float = 0.01, **overrides: Any) -> Iterator[Telephonist]:
    """A server with settings of a test's own (time scale, sender rates…), stopped at the end."""
    server, thread, t = start_server(tmp_path, time_scale, **overrides)
    try:
        yield t
    finally:
        if t._db is not None:
            t._db.close()
        server.should_exit = True
        thread.join(timeout=15)  # the platform has stopped: another may open the same database


@pytest.fixture
def tel(tmp_path: Path) -> Iterator[Telephonist]:
    with running(tmp_path) as t:
        yield t


@pytest.fixture
def client(tel: Telephonist) -> Client:
    return tel.client()


@dataclass
class Hit:
    method: str
    url: str
    path: str
    form: dict[str, list[str]]
    args: dict[str, list[str]]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when it arrived

    def param(self, name: str) -> str | None:
        values = self.form.get(name) or self.args.get(name)
        return values[-1] if values else None


@dataclass
class WebApp:
    """A real Flask application on loopback that records every request and answers what a test set."""

    base_url: str
    hits: list[Hit] = field(default_factory=list)
    routes: dict[str, tuple[int, str | bytes, str]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def twiml(self, path: str, body: str, status: int = 200, content_type: str = "text/xml") -> str:
        self.routes[path] = (status, body, content_type)
        return self.url(path)

    def file(self, path: str, content: bytes, content_type: str, status: int = 200) -> str:
        """Serve a file (an image for an MMS, say) at `path`; its URL."""
        self.routes[path] = (status, content, content_type)
        return self.url(path)

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def wait_hits(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Hit]:
        return wait_until(lambda: len(self.hits_for(path)) >= count and self.hits_for(path), timeout)  # type: ignore[no-any-return]


@pytest.fixture
def webapp() -> Iterator[WebApp]:
    flask_app = Flask("webhooks")
    port = free_port()
    web = WebApp(f"http://127.0.0.1:{port}")

    @flask_app.route("/<path:path>", methods=["GET", "POST"])
    def anything(path: str) -> Response:
        web.hits.append(
            Hit(
                request.method,
                request.url,
                "/" + path,
                request.form.to_dict(flat=False),
                request.args.to_dict(flat=False),
                dict(request.headers),
            )
        )
        status, body, ctype = web.routes.get("/" + path, (200, "<Response/>", "text/xml"))
        return Response(body, status=status, content_type=ctype)

    server = make_server("127.0.0.1", port, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield web
    server.shutdown()
