"""What the benchmarks share: processes they start (pinned to a CPU, their output in a log, their CPU time),
free ports, a plain HTTP client, percentiles."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def pin(cpu: int) -> list[str]:
    """A taskset prefix pinning to `cpu`, or nothing on a one-CPU machine or without taskset."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of `pid` so far (and with `children`, of its children it has waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(v) for v in fields[11 : 15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


class Proc:
    """A subprocess we started, its output in `log`."""

    def __init__(
        self,
        label: str,
        cmd: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.label, self.log = label, log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.pid = self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_for(self, pattern: str, timeout: float = 30.0) -> None:
        """Wait until a line of the output matches `pattern`."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.output(), re.M):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label}: no {pattern!r} after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the process uses under 5% of a CPU."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            before = self.cpu_seconds()
            time.sleep(0.5)
            if self.cpu_seconds() - before < 0.025:
                return

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def http(method: str, url: str, body: bytes | None = None, auth: str | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if auth:
        headers["Authorization"] = auth
    req = urllib.request.Request(url, body, headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(proc: Proc, url: str, auth: str | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.label} exited with {proc.proc.returncode}:\n{proc.tail()}")
        with contextlib.suppress(OSError):
            if http("GET", url, auth=auth)[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{proc.label} not ready after {timeout:.0f} s:\n{proc.tail()}")


def percentile(values: list[float], q: float) -> float:
    """`values` sorted; nan when empty."""
    return values[min(len(values) - 1, int(q * len(values)))] if values else math.nan
