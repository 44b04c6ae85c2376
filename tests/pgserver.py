"""A PostgreSQL server of the tests' own: a cluster made with initdb in a temporary folder and started on a
free loopback port (as the `postgres` user when the tests run as root, since PostgreSQL refuses root),
with one template database migrated once and a fresh copy of it for each test. Fault tests stop it and
start it again on the same data and port (`halt`, `resume`, `restart`)."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from telephonist.store.db import Database

SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # A test database needs no durability: a crash of the tests loses nothing worth keeping.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",
}


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; `make test` installs it)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    def __init__(self, durable: bool = False) -> None:
        """`durable`: a commit survives a crash of the server (not of the machine), for tests that kill it."""
        self.dir = Path(tempfile.mkdtemp(prefix="telephonist-pg-"))
        self.port = _free_port()
        self.root = os.geteuid() == 0
        bindir = _bindir()
        data = self.dir / "data"
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        self._args = [str(bindir / "postgres"), "-D", str(data)]
        for name, value in (SETTINGS | ({"synchronous_commit": "on"} if durable else {})).items():
            self._args += ["-c", f"{name}={value}"]
        self._args += ["-c", f"port={self.port}", "-c", f"unix_socket_directories={self.dir}"]
        self._log = open(self.dir / "log", "ab")  # noqa: SIM115 (closed by stop)
        self.proc = self._start()
        self._names = itertools.count()
        self._admin("CREATE DATABASE template_telephonist")
        db = Database(self.url("template_telephonist"))
        db.migrate()
        db.close()

    def _start(self) -> subprocess.Popen[bytes]:
        """Start the server on the cluster's data and port; return once it takes connections."""
        proc = subprocess.Popen(self._as_postgres(self._args), stdout=subprocess.DEVNULL, stderr=self._log)
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return proc
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError((self.dir / "log").read_text()) from None
                time.sleep(0.1)

    def halt(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data: `fast` ends every session at once and shuts down cleanly (what
        `pg_ctl stop` does), `immediate` as a crash would (recovery at the next start), `smart` waits for
        the sessions to end by themselves."""
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        # As root the child is runuser: signal the postmaster itself, which runs as postgres.
        pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def resume(self) -> None:
        """Start the halted server again on the same data directory and port."""
        if self.proc.poll() is None:
            raise RuntimeError("the PostgreSQL server is running")
        self.proc = self._start()

    def restart(self, mode: str = "fast") -> None:
        self.halt(mode)
        self.resume()

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def _as_postgres(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self.root else args

    def _run(self, args: list[str]) -> None:
        subprocess.run(self._as_postgres(args), check=True, capture_output=True)

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def dsn(self, name: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={name}"

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def new_database(self) -> str:
        """The URL of a fresh, migrated database."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE template_telephonist")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by new_database, ending the sessions still on it."""
        self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server and delete its cluster. A fast shutdown, sent to the postmaster itself: SIGTERM to
        runuser would be a smart one, which waits for the open sessions, and runuser kills its child when it
        does not end within seconds, leaving its backends writing into the folder being deleted."""
        if self.running:
            self.halt("fast")
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
