"""PostgreSQL restarted under traffic: a real server on a cluster of the test's own takes a stream of message
creates through the REST API while the cluster is stopped (cleanly, or killed as in a crash) and started
again on the same data and port. Requests during the outage are answered at once with Twilio's 503 (20503),
never a hang or a half-written row; the server recovers by itself, keeping no dead connection; the job
runner lives on; every message answered 201 ends `delivered` with exactly one `delivered` status callback,
and calls placed before and after the outage end with theirs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import literal, select

import conftest
from conftest import ACCOUNT_SID, AUTH_TOKEN, Telephonist, WebApp, assert_twilio_error, running, wait_until
from telephonist.store import db as store_db
from telephonist.store import jobs
from telephonist.store.db import raw

pytestmark = pytest.mark.slow
FROM = "+15005550006"
API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
SENDERS = 4  # clients creating messages at once
CALL_FINAL = {"completed", "busy", "failed", "no-answer", "canceled"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A cluster of this module's own, so that stopping it disturbs no other test; durable, so that a
    commit survives the server being killed (the machine does not crash here)."""
    from pgserver import PgServer, _bindir

    try:
        _bindir()
    except RuntimeError as err:
        pytest.skip(str(err))
    server = PgServer(durable=True)
    yield server
    server.stop()


@pytest.fixture
def tel(tmp_path: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Telephonist]:
    url = cluster.new_database()
    monkeypatch.setattr(conftest, "database_url", lambda _path: url)
    # A job claimed and never deleted runs again once its lease is over: soon here, so that a callback
    # sent twice that way shows within the test.
    monkeypatch.setattr(jobs, "LEASE_SECONDS", 3.0)
    with running(tmp_path, sender_mps={FROM: 10000}) as t:
        yield t
    if not cluster.running:
        cluster.resume()


@dataclass
class Answer:
    started: float  # time.monotonic() when the request was sent
    response: httpx.Response


@dataclass
class Traffic:
    """Clients creating messages as fast as the server answers, each answer kept."""

    base_url: str
    callback: str
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Traffic:
        self.threads = [threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(SENDERS)]
        for thread in self.threads:
            thread.start()
        return self

    def _send(self, n: int) -> None:
        # A hang would end in the read timeout, an error of the test's: it does not wait for it.
        with httpx.Client(base_url=self.base_url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10) as h:
            i = 0
            while not self.stop.is_set():
                i += 1
                form = {"To": f"+1555300{n}{i % 1000:03d}", "From": FROM, "Body": f"sender {n} #{i}"}
                started = time.monotonic()
                try:
                    r = h.post(f"{API}/Messages.json", data=form | {"StatusCallback": self.callback})
                except Exception as exc:  # noqa: BLE001 (failed by finish)
                    self.errors.append(exc)
                    return
                self.answers.append(Answer(started, r))
                if r.status_code != 201:
                    time.sleep(0.01)

    @property
    def created(self) -> list[str]:
        return [a.response.json()["sid"] for a in self.answers if a.response.status_code == 201]

    @property
    def refused(self) -> list[Answer]:
        return [a for a in self.answers if a.response.status_code != 201]

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
        assert not self.errors, self.errors


def place_call(tel: Telephonist, webapp: WebApp) -> str:
    voice = webapp.twiml("/voice", '<Response><Say>Hello</Say><Pause length="1"/></Response>')
    call = tel.client().calls.create(
        to="+15553009999", from_=FROM, url=voice, status_callback=webapp.url("/call-status")
    )
    return str(call.sid)


def listed_messages(tel: Telephonist) -> list[dict[str, Any]]:
    with tel.http as h:
        page = h.get(f"{API}/Messages.json", params={"PageSize": 1000}).json()
    assert page["next_page_uri"] is None  # the test creates fewer than a page holds
    return list(page["messages"])


def delivered_callbacks(webapp: WebApp) -> Counter[str | None]:
    hits = webapp.hits_for("/status")
    return Counter(h.param("MessageSid") for h in hits if h.param("MessageStatus") == "delivered")


@pytest.mark.parametrize("mode", ["fast", "immediate"])  # pg_ctl stop -m fast; a crash of the server
def test_a_postgresql_restart_mid_traffic_loses_nothing(
    tel: Telephonist, webapp: WebApp, cluster: Any, mode: str
) -> None:
    calls = [place_call(tel, webapp)]
    traffic = Traffic(tel.base_url, webapp.url("/status")).start()
    try:
        wait_until(lambda: len(traffic.created) >= 100, timeout=20)
        cluster.halt(mode)
        # Requests while the database is down are refused at once: a hang would stop the count.
        refused = len(traffic.refused)
        wait_until(lambda: len(traffic.refused) >= refused + 20, timeout=10)
        with tel.http as h:
            assert_twilio_error(h.get(f"{API}/Messages.json"), 503, 20503)
            form = {"To": "+15553001111", "From": FROM, "Body": "while down"}
            assert_twilio_error(h.post(f"{API}/Messages.json", data=form), 503, 20503)
            form = {"To": "+15553001111", "From": FROM, "Url": webapp.url("/voice")}
            assert_twilio_error(h.post(f"{API}/Calls.json", data=form), 503, 20503)
        cluster.resume()
        resumed = time.monotonic()
        # The server comes back by itself, with new connections.
        back = len(traffic.created)
        wait_until(lambda: len(traffic.created) >= back + 100, timeout=20)
        calls.append(place_call(tel, webapp))
    finally:
        traffic.finish()
    for answer in traffic.refused:
        assert_twilio_error(answer.response, 503, 20503)
    # No dead connection is kept: every request sent once the database is back succeeds.
    assert [a for a in traffic.refused if a.started > resumed] == []
    runner = tel.platform.runner
    assert runner is not None and not runner.done()

    # Every 201 is delivered, with exactly one `delivered` callback; no row without its 201.
    created = set(traffic.created)
    assert len(created) == len(traffic.created) < 1000
    wait_until(lambda: Counter(m["status"] for m in listed_messages(tel))["delivered"] == len(created), 20)
    assert {m["sid"] for m in listed_messages(tel)} == created
    wait_until(lambda: set(delivered_callbacks(webapp)) == created, timeout=20)
    time.sleep(max(0.5, resumed + jobs.LEASE_SECONDS + 1.0 - time.monotonic()))  # leases over: no repeat
    assert set(delivered_callbacks(webapp).values()) == {1}

    for sid in calls:
        assert tel.call_final(sid, timeout=20).status == "completed"
    wait_until(lambda: {h.param("CallSid") for h in webapp.hits_for("/call-status")} == set(calls))
    ends = Counter(h.param("CallSid") for h in webapp.hits_for("/call-status"))
    assert set(ends.values()) == {1}


# -- the pool, without a server: what a restart does to connections held in it ----------------------------


@pytest.fixture
def db(cluster: Any) -> Iterator[store_db.Database]:
    database = store_db.Database(cluster.new_database())
    yield database
    database.close()


def pooled(db: store_db.Database, n: int) -> None:
    """Leave `n` connections in the pool: blocks open at once each take one."""
    with contextlib.ExitStack() as stack:
        for _ in range(n):
            stack.enter_context(db.fast()).first(SELECT_ONE)


SELECT_ONE = select(literal(1).label("one"))


def test_connections_a_restart_closed_are_replaced_after_the_first_is_found(
    db: store_db.Database, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "PING_IDLE_SECONDS", 3600.0)  # no ping: a lost connection is found in use
    pooled(db, 3)
    cluster.restart()
    with pytest.raises(store_db.Unavailable), db.fast() as q:
        q.first(SELECT_ONE)
    for _ in range(3):  # the two other pooled connections are as dead, and replaced without being used
        with db.fast() as q:
            assert q.first(SELECT_ONE) == {"one": 1}


def test_idle_connections_are_pinged_before_use(
    db: store_db.Database, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "PING_IDLE_SECONDS", 0.0)
    pooled(db, 3)
    cluster.restart()
    for _ in range(3):
        with db.read() as q:
            assert q.first(SELECT_ONE) == {"one": 1}


def test_every_way_in_raises_unavailable_while_the_database_is_down(
    db: store_db.Database, cluster: Any
) -> None:
    pooled(db, 2)
    cluster.halt()
    try:
        for block in (db.fast, db.read, db.tx):
            with pytest.raises(store_db.Unavailable), block() as q:
                raw(q).first(SELECT_ONE)

        async def write() -> None:
            async with db.write() as q:
                q.first(SELECT_ONE)

        with pytest.raises(store_db.Unavailable):
            asyncio.run(write())
    finally:
        cluster.resume()
    with db.tx() as conn:  # SQLAlchemy's own connections recover too
        assert conn.execute(SELECT_ONE).scalar() == 1
    with db.fast() as q:
        assert q.first(SELECT_ONE) == {"one": 1}


def test_a_failed_statement_is_not_an_outage(db: store_db.Database) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable), db.fast() as q:
        q.dbapi.execute("SELECT * FROM no_such_table")
    with db.fast() as q:
        assert q.first(SELECT_ONE) == {"one": 1}


def test_a_call_that_ends_during_the_outage_ends_with_its_callback(
    tel: Telephonist, webapp: WebApp, cluster: Any
) -> None:
    client = tel.client()
    script = '<Response><Say>Hello</Say><Pause length="50"/></Response>'  # half a second here
    call = client.calls.create(
        to="+15553009997", from_=FROM, url=webapp.twiml("/voice", script), status_callback=webapp.url("/cs")
    )
    wait_until(lambda: client.calls(call.sid).fetch().status == "in-progress", interval=0.01)
    cluster.halt()
    time.sleep(1.5)  # the call ends meanwhile
    cluster.resume()
    assert tel.call_final(call.sid, timeout=10).status in CALL_FINAL
    [end] = webapp.wait_hits("/cs")
    assert end.param("CallStatus") in CALL_FINAL


def test_a_server_that_does_not_answer_fails_the_connection_in_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A database host that takes the TCP connection and then says nothing (frozen, or cut off behind a
    firewall that drops): without a connect timeout the request would hang for the system's minutes."""
    monkeypatch.setattr(store_db, "CONNECT_TIMEOUT", 1)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        db = store_db.Database(f"postgresql+psycopg://telephonist@127.0.0.1:{port}/telephonist")
        started = time.monotonic()
        with pytest.raises(store_db.Unavailable), db.fast() as q:
            q.first(select(literal(1)))
        assert time.monotonic() - started < 30  # the connect timeout, not the kernel's
        db.engine.dispose()
