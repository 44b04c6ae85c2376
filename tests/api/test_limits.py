"""Abuse and overload limits (api/limits.py): 429 with code 20429 past an account's request rate or
requests in progress, failed authentications locking out an address, outbound API calls queued beyond the
CPS and started in order, and Twilio's 413 (20413) for an oversized body. The limiters' arithmetic is
tested with an injected clock; the rest against a real server with its limits set low."""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    Telephonist,
    assert_twilio_error,
    database_url,
    free_port,
    running,
    wait_until,
)
from telephonist.api.errors import TwilioError
from telephonist.api.limits import Buckets, CallPacer, Logins
from telephonist.config import SipTrunk
from telephonist.store.db import Database
from telephonist.store.jobs import Job
from telephonist.store.models import calls, messages, nodes

API = "/2010-04-01"
SAY = "<Response><Say>Hi</Say></Response>"
UNKNOWN_SID = "AC" + "f" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(host: str) -> dict[str, Any]:
    return {"type": "http", "client": (host, 40000)}


def basic(sid: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()


# -- the limiters, with an injected clock -------------------------------------------------------------
def test_a_bucket_gives_its_burst_then_its_rate() -> None:
    clock = Clock()
    bucket = Buckets(rate=2.0, burst=3, clock=clock)
    assert [bucket.take("AC1") for _ in range(4)] == [True, True, True, False]
    assert bucket.take("AC2")  # a key of its own
    clock.now += 0.5  # one token back at 2 a second
    assert [bucket.take("AC1") for _ in range(2)] == [True, False]
    clock.now += 100
    assert [bucket.take("AC1") for _ in range(4)] == [True, True, True, False]  # never more than the burst


def test_failures_lock_out_one_address_for_one_sid_only() -> None:
    clock = Clock()
    logins = Logins(limit=3, window=60.0, clock=clock)
    attacker, owner = client("203.0.113.7"), client("198.51.100.2")
    for _ in range(3):
        assert not logins.refused(attacker, ACCOUNT_SID)
        logins.failed(attacker, ACCOUNT_SID)
    assert logins.refused(attacker, ACCOUNT_SID)
    assert not logins.refused(owner, ACCOUNT_SID)  # the right token from elsewhere still gets through
    assert not logins.refused(attacker, UNKNOWN_SID)  # another SID from the attacker: its own count
    with pytest.raises(TwilioError) as refused:
        logins.check(attacker, basic(ACCOUNT_SID, "guess"))
    assert (refused.value.code, refused.value.status) == (20429, 429)
    logins.check(owner, basic(ACCOUNT_SID, AUTH_TOKEN))
    clock.now += 20  # the window gives back one attempt every 60 / 3 seconds
    assert not logins.refused(attacker, ACCOUNT_SID)
    logins.failed(attacker, ACCOUNT_SID)
    assert logins.refused(attacker, ACCOUNT_SID)


def test_an_unknown_sid_locks_out_exactly_as_a_real_one() -> None:
    logins = Logins(limit=2, window=60.0, clock=Clock())
    address = client("203.0.113.7")
    for sid in (ACCOUNT_SID, UNKNOWN_SID):
        logins.failed(address, sid)
        assert not logins.refused(address, sid)
        logins.failed(address, sid)
        assert logins.refused(address, sid)


def test_an_address_trying_many_sids_is_locked_out_of_all() -> None:
    logins = Logins(limit=2, window=60.0, clock=Clock())
    attacker = client("203.0.113.7")
    for n in range(20):  # ten times the limit, one failure for each SID
        logins.failed(attacker, f"AC{n:032x}")
    assert logins.refused(attacker, ACCOUNT_SID)
    assert not logins.refused(client("198.51.100.2"), ACCOUNT_SID)


def test_an_ipv6_host_counts_as_its_64() -> None:
    logins = Logins(limit=1, window=60.0, clock=Clock())
    logins.failed(client("2001:db8:1:2::10"), ACCOUNT_SID)
    assert logins.refused(client("2001:db8:1:2:ffff::1"), ACCOUNT_SID)
    assert not logins.refused(client("2001:db8:1:3::10"), ACCOUNT_SID)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """The slots live in the database: a real one, migrated (SQLite or PostgreSQL, as the run's store)."""
    database = Database(database_url(tmp_path))
    database.migrate()
    yield database
    database.engine.dispose()


def reserver(db: Database, pacer: CallPacer) -> Callable[..., float]:
    """pacer.reserve in a transaction of its own, as each call create is: seconds until the start."""

    def reserve(account_sid: str, trunk: SipTrunk | None = None) -> float:
        with db.fast() as q:
            return pacer.reserve(q, account_sid, trunk) - pacer.clock()

    return reserve


def test_calls_take_slots_at_the_cps_in_order(db: Database) -> None:
    clock = Clock()
    reserve = reserver(db, CallPacer(cps=2.0, scale=1.0, clock=clock))
    assert [reserve("AC1") for _ in range(3)] == [0.0, 0.5, 1.0]
    assert reserve("AC2") == 0.0  # each account has its own CPS
    clock.now += 10
    assert reserve("AC1") == 0.0  # an idle account starts at once


def test_processes_share_the_cps(db: Database) -> None:
    clock = Clock()
    one, two = (reserver(db, CallPacer(cps=2.0, scale=1.0, clock=clock)) for _ in range(2))
    assert [one("AC1"), two("AC1"), one("AC1"), two("AC1")] == [0.0, 0.5, 1.0, 1.5]


def test_a_trunks_max_cps_paces_the_calls_through_it(db: Database) -> None:
    clock = Clock()
    reserve = reserver(db, CallPacer(cps=100.0, scale=1.0, clock=clock))
    trunk = SipTrunk(name="carrier", host="127.0.0.1", max_cps=1.0)
    assert [reserve("AC1", trunk), reserve("AC2", trunk), reserve("AC3", trunk)] == [0.0, 1.0, 2.0]
    # not through the trunk, but the account's slot comes after its call the trunk held back
    assert reserve("AC2") == pytest.approx(1.01)
    assert reserve("AC4") == 0.0


def test_simulated_time_scales_the_cps(db: Database) -> None:
    reserve = reserver(db, CallPacer(cps=1.0, scale=0.01, clock=Clock()))
    assert [reserve("AC1") for _ in range(3)] == pytest.approx([0.0, 0.01, 0.02])


def test_more_than_a_day_of_queued_calls_is_22005(db: Database) -> None:
    reserve = reserver(db, CallPacer(cps=0.001, scale=1.0, clock=Clock()))  # a call every 1000 s: 87 a day
    for _ in range(87):
        reserve("AC1")
    for _ in range(2):  # the refused call gave its slot back: the next is refused as well, not later
        with pytest.raises(TwilioError) as full:
            reserve("AC1")
        assert full.value.code == 22005
    assert reserve("AC2") == 0.0


def test_no_cps_means_no_wait(db: Database) -> None:
    reserve = reserver(db, CallPacer(cps=0.0, scale=1.0, clock=Clock()))
    assert [reserve("AC1") for _ in range(3)] == [0.0, 0.0, 0.0]


# -- against a server ---------------------------------------------------------------------------------
def subaccount(tel: Telephonist) -> tuple[str, str]:
    account = tel.client().api.accounts.create(friendly_name="other")
    return account.sid, account.auth_token


def test_past_the_request_rate_an_account_gets_429_and_others_are_served(tmp_path: Path) -> None:
    # Practically no refill: the burst is all there is, whatever the speed of the machine.
    with running(tmp_path, api_requests_per_second=0.001, api_burst=4) as tel:
        sub_sid, sub_token = subaccount(tel)  # the first of the four
        with tel.http as h:
            for _ in range(3):
                assert h.get(f"{API}/Accounts/{tel.account_sid}/Calls.json").status_code == 200
            r = h.get(f"{API}/Accounts/{tel.account_sid}/Calls.json")
            assert_twilio_error(r, 429, 20429)
            assert r.json()["message"] == "Too Many Requests"
            assert "retry-after" not in r.headers  # Twilio documents none: back off and retry
            message = {"To": "+15551230000", "From": "+15005550006", "Body": "hi"}
            created = h.post(f"{API}/Accounts/{tel.account_sid}/Messages.json", data=message)
            assert_twilio_error(created, 429, 20429)  # the hot path past Starlette's router too
        with httpx.Client(base_url=tel.base_url, auth=(sub_sid, sub_token), timeout=10) as other:
            assert other.get(f"{API}/Accounts/{sub_sid}/Calls.json").status_code == 200
        with tel.db.read() as q:
            assert q.all(select(messages.c.sid)) == []  # the refused create made nothing


def test_api_nodes_alive_share_an_accounts_rate(tmp_path: Path) -> None:
    with running(tmp_path, node_lease=0.6, api_requests_per_second=0.001, api_burst=4) as tel:
        alone, shared = subaccount(tel), subaccount(tel)
        with httpx.Client(base_url=tel.base_url, auth=alone, timeout=10) as h:  # one API node: all 4
            assert [h.get(f"{API}/Accounts/{alone[0]}/Calls.json").status_code for _ in range(4)] == [200] * 4
        # A second API node comes alive on the database (an engine would not count): each takes half.
        with tel.db.tx() as conn:
            for node, role in (("api-2", "api"), ("engine-2", "engine")):
                conn.execute(
                    insert(nodes).values(id=node, role=role, started=0.0, lease_until=time.time() + 3600)
                )
        wait_until(lambda: tel.platform.nodes.api_nodes == 2)
        with httpx.Client(base_url=tel.base_url, auth=shared, timeout=10) as h:
            codes = [h.get(f"{API}/Accounts/{shared[0]}/Calls.json").status_code for _ in range(3)]
        assert codes == [200, 200, 429]


def _port(tel: Telephonist) -> int:
    return int(tel.base_url.rsplit(":", 1)[1])


@contextmanager
def held_create(tel: Telephonist) -> Iterator[socket.socket]:
    """A message create whose body has not all arrived: in progress, holding its account's slot."""
    body = b"To=%2B15551230000&From=%2B15005550006&Body=held"
    path = f"{API}/Accounts/{tel.account_sid}/Messages.json"
    auth = basic(tel.account_sid, tel.auth_token)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", _port(tel)), timeout=10) as sock:
        sock.sendall(head.encode() + body[:10])
        yield sock
        sock.sendall(body[10:])
        assert sock.recv(65536).startswith(b"HTTP/1.1 201 ")


def test_past_the_requests_in_progress_an_account_gets_429(tmp_path: Path) -> None:
    with running(tmp_path, api_concurrency=2) as tel:
        sub_sid, sub_token = subaccount(tel)
        calls_url = f"{API}/Accounts/{tel.account_sid}/Calls.json"
        with tel.http as h, held_create(tel), held_create(tel):
            # Once both creates are admitted (the server reads their bodies after that), a third is refused.
            r = wait_until(lambda: (r := h.get(calls_url)).status_code == 429 and r)
            assert_twilio_error(r, 429, 20429)
            with httpx.Client(base_url=tel.base_url, auth=(sub_sid, sub_token), timeout=10) as other:
                assert other.get(f"{API}/Accounts/{sub_sid}/Calls.json").status_code == 200
        with tel.http as h:  # both creates answered: their slots are given back
            wait_until(lambda: h.get(calls_url).status_code == 200)
        assert len(tel.client().messages.list()) == 2


def _console_sign_in(tel: Telephonist, sid: str, token: str) -> int:
    with httpx.Client(base_url=tel.base_url, timeout=10) as c:
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/console/signin").text)
        assert csrf is not None
        return c.post(
            "/console/signin", data={"csrf": csrf.group(1), "AccountSid": sid, "AuthToken": token}
        ).status_code


def test_failed_authentications_lock_out_the_address(tmp_path: Path) -> None:
    with running(tmp_path, auth_failures=3, auth_failure_window=3600.0) as tel:
        sub_sid, sub_token = subaccount(tel)
        calls_url = f"{API}/Accounts/{tel.account_sid}/Calls.json"
        with httpx.Client(base_url=tel.base_url, timeout=10) as h:
            for _ in range(5):  # no credentials offered guess nothing (the legacy SDK's first request)
                assert_twilio_error(h.get(calls_url), 401, 20003)
            for _ in range(3):
                assert_twilio_error(h.get(calls_url, auth=(tel.account_sid, "wrong")), 401, 20003)
            assert_twilio_error(h.get(calls_url, auth=(tel.account_sid, "wrong")), 429, 20429)
            # Locked out: the right token from this address is refused alike, so a lucky guess shows nothing.
            assert_twilio_error(h.get(calls_url, auth=(tel.account_sid, tel.auth_token)), 429, 20429)
            # A SID that does not exist locks out the same way: no telling which SIDs exist.
            unknown_url = f"{API}/Accounts/{UNKNOWN_SID}/Calls.json"
            for _ in range(3):
                assert_twilio_error(h.get(unknown_url, auth=(UNKNOWN_SID, "wrong")), 401, 20003)
            assert_twilio_error(h.get(unknown_url, auth=(UNKNOWN_SID, "wrong")), 429, 20429)
            # Another account from the same address is not locked out.
            sub_url = f"{API}/Accounts/{sub_sid}/Calls.json"
            assert h.get(sub_url, auth=(sub_sid, sub_token)).status_code == 200
        # The console's sign-in answers to the same lockout, and its failures count too.
        assert _console_sign_in(tel, tel.account_sid, tel.auth_token) == 401
        for _ in range(3):
            assert _console_sign_in(tel, sub_sid, "wrong") == 401
        with httpx.Client(base_url=tel.base_url, timeout=10) as h:
            assert_twilio_error(h.get(sub_url, auth=(sub_sid, sub_token)), 429, 20429)


def test_an_oversized_body_is_413_20413_and_the_server_keeps_serving(tel: Telephonist) -> None:
    url = f"{API}/Accounts/{tel.account_sid}/Messages.json"
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once the body passes the limit
        yield b"To=%2B15551238001&From=%2B15005550006&Body="
        for _ in range(32):
            yield b"a" * 65536

    with tel.http as h:
        assert_twilio_error(h.post(url, content=b"Body=" + b"a" * (2 << 20), headers=form), 413, 20413)
        r = h.post(url, content=chunks(), headers=form)
        assert_twilio_error(r, 413, 20413)
        assert r.json()["message"] == "Request Entity Too Large"
        assert h.get(url).status_code == 200
    assert tel.client().messages.list() == []


def _watch_starts(tel: Telephonist) -> list[tuple[str, float, dict[str, str]]]:
    """Each call.start as it begins: the call, when, and the status of every call at that moment."""
    starts: list[tuple[str, float, dict[str, str]]] = []
    start = tel.platform.jobs.handlers["call.start"]

    async def watched(job: Job) -> None:
        with tel.platform.db.read() as q:
            statuses = {row["sid"]: row["status"] for row in q.all(select(calls.c.sid, calls.c.status))}
        starts.append((job.payload["sid"], time.time(), statuses))
        await start(job)

    tel.platform.jobs.handlers["call.start"] = watched
    return starts


def _assert_queued_then_started_in_order(
    starts: list[tuple[str, float, dict[str, str]]], sids: list[str], since: float, interval: float
) -> None:
    assert [sid for sid, _, _ in starts] == sids, [(sids.index(sid), at - since) for sid, at, _ in starts]
    for i, (_, at, statuses) in enumerate(starts):
        assert at >= since + i * interval - 1e-6  # no call starts before its turn
        # The calls after it are still queued (or not even created yet): none has overtaken it.
        assert {statuses.get(sid, "queued") for sid in sids[i + 1 :]} <= {"queued"}


def test_calls_beyond_the_cps_stay_queued_and_start_in_order(tmp_path: Path) -> None:
    # 1 call a simulated second at half of real time: one every 0.5 s, longer than a create takes.
    with running(tmp_path, time_scale=0.5, calls_per_second=1.0) as tel:
        starts = _watch_starts(tel)
        since = time.time()
        client = tel.client()
        made = [client.calls.create(to=f"+1555123900{i}", from_="+15005550006", twiml=SAY) for i in range(4)]
        assert {call.status for call in made} == {"queued"}  # the API answers at once
        sids = [call.sid for call in made]
        assert [tel.call_final(sid).status for sid in sids] == ["completed"] * 4
        _assert_queued_then_started_in_order(starts, sids, since, 0.5)


class BusyTrunk:
    """A SIP trunk on loopback UDP that answers every INVITE 486 Busy Here, noting whom it was for."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.invited: list[tuple[str, float]] = []  # the INVITE's user part and when it came
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            head = data.split(b"\r\n\r\n", 1)[0].decode()
            first, *lines = head.split("\r\n")
            if not first.startswith("INVITE "):
                continue
            echoed = [
                line + (";tag=busy" if line.lower().startswith("to:") else "")
                for line in lines
                if line.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")
            ]
            call_id = next(line for line in lines if line.lower().startswith("call-id:"))
            if call_id not in self._seen:  # not a retransmission
                self._seen.add(call_id)
                self.invited.append((first.split()[1].split("@")[0].removeprefix("sip:"), time.time()))
            response = "SIP/2.0 486 Busy Here\r\n" + "\r\n".join(echoed) + "\r\nContent-Length: 0\r\n\r\n"
            self.sock.sendto(response.encode(), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def test_a_trunks_max_cps_keeps_its_calls_queued_and_in_order(tmp_path: Path) -> None:
    trunk = BusyTrunk()
    busy = SipTrunk(name="busy", host="127.0.0.1", port=trunk.port, prefixes=["+1555777"], max_cps=4)
    try:
        # A thousand calls a second for the account: the trunk's four are the limit that bites.
        with running(
            tmp_path, time_scale=1.0, calls_per_second=1000.0, sip_port=free_port(), sip_trunks=[busy]
        ) as tel:
            starts = _watch_starts(tel)
            since = time.time()
            numbers = [f"+1555777000{i}" for i in range(4)]
            made = [tel.client().calls.create(to=n, from_="+15005550006", twiml=SAY) for n in numbers]
            sids = [call.sid for call in made]
            finals = [tel.call_final(sid) for sid in sids]
            assert [(c.status, c.trunk_sid) for c in finals] == [("busy", busy.sid)] * 4
            _assert_queued_then_started_in_order(starts, sids, since, 0.25)
            assert [user for user, _ in trunk.invited] == numbers  # the INVITEs left in the same order
    finally:
        trunk.close()
