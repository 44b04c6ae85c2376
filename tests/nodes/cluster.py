"""A Telephonist node as a process of its own (`python -m telephonist serve --role R --node-id N`), for
the tests of several nodes and of restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import ACCOUNT_SID, AUTH_TOKEN, free_port, wait_until

LEASE = 1.5  # seconds: a dead node's calls fail within about that


class Node:
    """`python -m telephonist serve --role R --node-id N` on the cluster's database; `settings` override
    its TELEPHONIST_* environment (`time_scale="1"`)."""

    def __init__(
        self,
        db: str,
        role: str,
        node_id: str,
        log: Path,
        port: int | None = None,
        sip_port: int = 0,
        **settings: str,
    ) -> None:
        self.role, self.id, self.sip_port = role, node_id, sip_port
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = os.environ | {
            "TELEPHONIST_ACCOUNT_SID": ACCOUNT_SID,
            "TELEPHONIST_AUTH_TOKEN": AUTH_TOKEN,
            "TELEPHONIST_TIME_SCALE": "0.01",
            "TELEPHONIST_LOG_LEVEL": "warning",
            "TELEPHONIST_NODE_LEASE": str(LEASE),
            "TELEPHONIST_CALLS_PER_SECOND": "1000",
            "TELEPHONIST_SIP_PORT": str(sip_port),
            # SIP comes from Kamailio in front (tests/deploy/kamailio.py): its address is the nodes' trunk.
            "TELEPHONIST_SIP_TRUNKS": json.dumps(
                [{"name": "kamailio", "host": "127.0.0.1"}] if sip_port else []
            ),
        }
        env |= {f"TELEPHONIST_{name.upper()}": value for name, value in settings.items()}
        for name in ("TELEPHONIST_PUBLIC_URL", "TELEPHONIST_HOST", "TELEPHONIST_PORT", "TELEPHONIST_DB"):
            env.pop(name, None)
        self.log = log.open("ab")
        args = [
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db",
            db,
            "--role",
            role,
            "--node-id",
            node_id,
        ]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "telephonist", "serve", *args],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def name(self) -> str:
        return self.id

    def http(self, timeout: float = 10) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=timeout)

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.proc.poll() is None, f"{self.id} exited with {self.proc.returncode}"
            try:
                with self.http(timeout=2) as h:
                    return h.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 30, interval=0.05)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
