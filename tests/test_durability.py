"""Crash safety: kill -9 the real server in the middle of a burst of sends, restart it on the same
database, and every message the API accepted (201) is delivered exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ACCOUNT_SID, AUTH_TOKEN, database_url, free_port, wait_until

pytestmark = pytest.mark.slow

TOTAL = 500
KILL_AFTER = 250
CONCURRENCY = 20
FROM = "+15005550006"
API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"


def phone(i: int) -> str:
    return f"+1555200{i:04d}"


def body(i: int) -> str:
    return f"durable message #{i:04d}"


class Server:
    """`python -m telephonist serve` as a subprocess on a database."""

    def __init__(self, db: str, log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = os.environ | {
            "TELEPHONIST_ACCOUNT_SID": ACCOUNT_SID,
            "TELEPHONIST_AUTH_TOKEN": AUTH_TOKEN,
            "TELEPHONIST_TIME_SCALE": "0.01",
            "TELEPHONIST_LOG_LEVEL": "warning",
        }
        for name in ("TELEPHONIST_PUBLIC_URL", "TELEPHONIST_HOST", "TELEPHONIST_PORT", "TELEPHONIST_DB"):
            env.pop(name, None)
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "telephonist",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db",
                db,
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def http(self, timeout: float = 10) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=timeout)

    def wait_ready(self, timeout: float = 20) -> None:
        def ready() -> bool:
            assert self.proc.poll() is None, f"server exited with {self.proc.returncode}"
            try:
                with self.http(timeout=2) as h:
                    return h.get(f"{API}.json").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout, interval=0.05)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()


async def burst(server: Server) -> tuple[dict[str, str], set[str]]:
    """POST TOTAL messages with CONCURRENCY in flight; SIGKILL the server once KILL_AFTER were accepted.

    Returns the accepted {sid: body} and the bodies whose request was started at all.
    """
    accepted: dict[str, str] = {}
    attempted: set[str] = set()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(TOTAL):
        queue.put_nowait(i)
    killed = False

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal killed
        while not queue.empty():
            i = queue.get_nowait()
            if killed:
                continue  # the server is gone: the rest are never sent
            attempted.add(body(i))
            try:
                r = await client.post(
                    f"{API}/Messages.json", data={"To": phone(i), "From": FROM, "Body": body(i)}
                )
            except httpx.TransportError:
                continue  # in flight when the server died: may or may not exist
            if r.status_code == 201:
                data: dict[str, Any] = r.json()
                assert data["body"] == body(i) and data["status"] == "queued"
                accepted[data["sid"]] = body(i)
                if len(accepted) >= KILL_AFTER and not killed:
                    killed = True
                    os.kill(server.proc.pid, signal.SIGKILL)

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=server.base_url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10, limits=limits
    ) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    assert killed, f"only {len(accepted)} messages were accepted"
    return accepted, attempted


def all_messages(h: httpx.Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    uri: str | None = f"{API}/Messages.json?PageSize=1000"
    while uri:
        r = h.get(uri)
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["messages"]
        uri = page["next_page_uri"]
    return out


def test_kill_9_during_a_burst_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    db = database_url(tmp_path)  # a SQLite file, or a PostgreSQL database that outlives the kill too
    log = tmp_path / "server.log"
    first = Server(db, log)
    second: Server | None = None
    try:
        first.wait_ready()
        accepted, attempted = asyncio.run(burst(first))
        first.kill()
        assert first.proc.returncode == -signal.SIGKILL
        assert len(accepted) >= KILL_AFTER

        second = Server(db, log)
        second.wait_ready()
        with second.http() as h:

            def all_accepted_final() -> list[dict[str, Any]]:
                msgs = all_messages(h)
                by_sid = {m["sid"]: m for m in msgs}
                done = all(sid in by_sid and by_sid[sid]["status"] == "delivered" for sid in accepted)
                # messages of requests in flight at the kill may exist too: they must finish as well
                return msgs if done and all(m["status"] == "delivered" for m in msgs) else []

            msgs = wait_until(all_accepted_final, timeout=60, interval=0.2)

            # every message the platform holds came from a request this test made, once
            assert len(msgs) == len({m["sid"] for m in msgs})
            bodies = Counter(m["body"] for m in msgs)
            assert max(bodies.values()) == 1, [b for b, n in bodies.items() if n > 1]
            assert set(bodies) <= attempted
            assert all(m["direction"] == "outbound-api" and m["from"] == FROM for m in msgs)
            assert all(m["date_sent"] for m in msgs)
            for sid, text in accepted.items():
                assert any(m["sid"] == sid and m["body"] == text for m in msgs)

            # and each reached its phone exactly once: no SID twice in any inbox, nothing unknown
            held = {m["sid"]: m for m in msgs}
            seen: Counter[str] = Counter()
            for i in range(TOTAL):
                if body(i) not in attempted:
                    continue
                r = h.get(f"/sim/v1/Phones/{phone(i)}")
                assert r.status_code == 200, r.text
                for got in r.json()["messages"]:
                    seen[got["sid"]] += 1
                    assert got["sid"] in held, got
                    assert got["body"] == body(i) == held[got["sid"]]["body"]
                    assert got["from"] == FROM
            assert [sid for sid, n in seen.items() if n > 1] == []
            assert set(seen) == set(held)
            assert set(accepted) <= set(seen)
    finally:
        first.kill()
        if second is not None:
            second.kill()
    assert time.monotonic() - started < 40
