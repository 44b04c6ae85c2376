"""REST benchmark: Telephonist's Message create and fetch against a bare Starlette app.

Measures throughput (req/s) and p50/p99 latency of
    POST /2010-04-01/Accounts/{AC}/Messages.json          (create)
    GET  /2010-04-01/Accounts/{AC}/Messages/{Sid}.json    (fetch)
on ONE Telephonist server process, beside the same load on bench/bare_app.py (a Starlette app
that parses the same form and returns the same JSON with no database), and prints the ratio.
Targets: create >= 0.50 of the bare app's req/s, fetch >= 0.70. It is a measurement, not a test:
it exits 0 whether or not the targets are met (non-zero only when it cannot run).

The load generator is wrk (apt-get install -y wrk), 1 thread, with a discarded warm-up before each
run. With two or more CPUs the servers are pinned to CPU 0 and wrk to CPU 1. Runs of the two
servers alternate, each once both servers are idle; with --rounds N each figure is the
median run (by req/s) of N, which evens out a noisy machine.

Run from the repository root (needs telephonist, starlette and uvicorn importable):
    python bench/rest.py                      # both operations, 32 connections, 10 s each
    python bench/rest.py --only fetch --duration 5 --connections 64 --rounds 3
    python bench/rest.py --target http://127.0.0.1:8080 --account-sid AC... --auth-token ...
    python bench/rest.py --self-test --duration 3   # bare vs bare: ratios should be about 1.0
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
API = "/2010-04-01"
POST_BODY = "To=%2B15551230001&From=%2B15005550006&Body=Hello+from+the+benchmark"
TARGETS = {"create": 0.50, "fetch": 0.70}
UVICORN_OPTS = ["--loop", "auto", "--http", "auto", "--no-access-log", "--log-level", "warning"]


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx responses plus socket errors


@dataclass
class Server:
    label: str
    base: str  # e.g. http://127.0.0.1:8080
    account_sid: str
    auth_token: str
    log: Path | None = None
    pid: int | None = None
    fetch_sid: str = ""
    runs: dict[str, list[Result]] = field(default_factory=dict)

    @property
    def auth(self) -> str:
        return "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": self.auth, "Content-Type": "application/x-www-form-urlencoded"}
        data = body.encode() if body else None
        req = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def log_tail(self, lines: int = 15) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def result(self, op: str) -> Result:
        """The median run by req/s."""
        runs = sorted(self.runs[op], key=lambda r: r.rps)
        return runs[len(runs) // 2]


def pin(cpu: int) -> list[str]:
    """A taskset prefix pinning to `cpu`, or nothing on a one-CPU machine or without taskset."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def ensure_wrk() -> str | None:
    if path := shutil.which("wrk"):
        return path
    print("wrk is not installed; install it with:  apt-get install -y wrk", file=sys.stderr)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    print("running as root: trying apt-get install -y wrk ...", file=sys.stderr)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
        subprocess.run(install, stdout=subprocess.DEVNULL)
    return shutil.which("wrk")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(server: Server, cmd: list[str], env: dict[str, str], ready: str) -> subprocess.Popen[bytes]:
    """Start `cmd` pinned to CPU 0 and wait until GET `ready` answers 200."""
    assert server.log is not None
    with server.log.open("wb") as log:
        proc = subprocess.Popen(pin(0) + cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    server.pid = proc.pid
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if server.request("GET", ready)[0] == 200:
                    return proc
            time.sleep(0.2)
        why = f"exited with {proc.returncode}" if proc.poll() is not None else "not ready after 30 s"
        raise RuntimeError(f"{server.label} {why}:\n{server.log_tail()}")
    except BaseException:
        stop(proc)
        raise


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def settle(server: Server, timeout: float = 30.0) -> None:
    """Wait until a server we started uses under 5% of a CPU."""
    stat = Path(f"/proc/{server.pid}/stat")
    tick, deadline = os.sysconf("SC_CLK_TCK"), time.monotonic() + timeout

    def cpu() -> int:  # utime + stime, in clock ticks
        return sum(int(n) for n in stat.read_text().rsplit(")", 1)[1].split()[11:13])

    while server.pid and stat.exists() and time.monotonic() < deadline:
        before = cpu()
        time.sleep(0.5)
        if (cpu() - before) / tick < 0.025:
            return


def parse_wrk(out: str) -> Result:
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    pct = {
        m[1]: float(m[2]) * unit[m[3]]
        for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    }
    if rps is None or set(pct) != {"50", "99"}:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    if sock := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(n) for n in sock.groups())
    return Result(float(rps[1]), pct["50"], pct["99"], errors)


def run_wrk(server: Server, op: str, seconds: int, connections: int) -> Result:
    path = f"{API}/Accounts/{server.account_sid}/Messages"
    path += ".json" if op == "create" else f"/{server.fetch_sid}.json"
    cmd = pin(1) + [
        "wrk",
        "--latency",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-H",
        f"Authorization: {server.auth}",
    ]
    cmd += ["-s", str(BENCH_DIR / "post.lua")] if op == "create" else []
    done = subprocess.run(
        cmd + [server.base + path],
        env={**os.environ, "BENCH_POST_BODY": POST_BODY},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


def prepare_fetch(server: Server) -> None:
    status, body = server.request("POST", f"{API}/Accounts/{server.account_sid}/Messages.json", POST_BODY)
    if status != 201:
        raise RuntimeError(f"{server.label}: creating the message to fetch gave {status}: {body[:300]!r}")
    server.fetch_sid = json.loads(body)["sid"]


def run_rounds(bare: Server, subject: Server, ops: list[str], args: argparse.Namespace) -> None:
    """Alternate the two servers, each run once the server is idle and after a discarded warm-up."""
    for n in range(1, args.rounds + 1):
        for op in ops:
            for server in (bare, subject) if n % 2 else (subject, bare):  # even out order effects
                print(f"  round {n}/{args.rounds}  {op:6}  {server.label}", file=sys.stderr, flush=True)
                if op == "fetch" and not server.fetch_sid:
                    prepare_fetch(server)
                for busy in (bare, subject):  # e.g. still delivering the messages just created
                    settle(busy)
                if args.warmup:
                    run_wrk(server, op, args.warmup, args.connections)
                result = run_wrk(server, op, args.duration, args.connections)
                server.runs.setdefault(op, []).append(result)
                if result.errors and (tail := server.log_tail(5)):
                    print(f"  {server.label} log tail:\n{tail}", file=sys.stderr)


def report(bare: Server, subject: Server, ops: list[str], args: argparse.Namespace) -> None:
    setup = f"wrk, {args.connections} connections, {args.duration} s"
    setup += f", median of {args.rounds}" if args.rounds > 1 else ""
    setup += ", server on 1 core" if pin(0) and not args.target else ""
    for lib in ("uvloop", "httptools"):
        setup += f"{';' if lib == 'uvloop' else ','} {lib} {'yes' if importlib.util.find_spec(lib) else 'no'}"
    print(f"\nREST benchmark ({setup})")
    print(f"{'':24}{'req/s':>8}{'p50 ms':>10}{'p99 ms':>9}")
    for op in ops:
        failed = {server.label: sum(run.errors for run in server.runs[op]) for server in (bare, subject)}
        for server in (bare, subject):
            r = server.result(op)
            line = f"{op:8}{server.label:16}{r.rps:8,.0f}{r.p50_ms:10.1f}{r.p99_ms:9.1f}"
            if server is subject:
                ratio = r.rps / bare.result(op).rps if bare.result(op).rps else 0.0
                verdict = "PASS" if ratio >= TARGETS[op] else "BELOW-TARGET"
                verdict = "NOT VALID (failed requests)" if any(failed.values()) else verdict
                line += f"   ratio {ratio:.2f} (target ≥ {TARGETS[op]:.2f}) {verdict}"
            if failed[server.label]:
                line += f"   [{failed[server.label]:,} failed requests]"
            print(line)
            if args.rounds > 1:
                print(f"{'':24}runs in order: " + ", ".join(f"{run.rps:,.0f}" for run in server.runs[op]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of discarded warm-up, 0: none (default 2)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per figure, median reported (default 1)")
    ap.add_argument("--only", choices=["create", "fetch"], help="run one operation only")
    ap.add_argument("--target", help="base URL of an already running Telephonist on this machine")
    ap.add_argument("--account-sid", help="with --target: the account SID")
    ap.add_argument("--auth-token", help="with --target: the auth token")
    ap.add_argument("--self-test", action="store_true", help="benchmark the bare app against itself")
    args = ap.parse_args(argv)
    ops = [args.only] if args.only else ["create", "fetch"]
    if min(args.duration, args.connections, args.rounds) <= 0 or args.warmup < 0:
        ap.error("--duration, --connections and --rounds must be positive, --warmup not negative")
    if args.target:
        if not (args.account_sid and args.auth_token):
            ap.error("--target needs --account-sid and --auth-token")
        host = urllib.parse.urlsplit(args.target).hostname or ""
        if not (host in ("localhost", "::1") or host.startswith("127.")):
            ap.error("--target must be a loopback address: the benchmark loads servers on this machine only")
    needed = ["starlette", "uvicorn"] + ([] if args.target or args.self_test else ["telephonist"])
    if missing := [m for m in needed if importlib.util.find_spec(m) is None]:
        print(
            f"{sys.executable} cannot import {', '.join(missing)}: use the project's venv "
            "(make bench) or pip install -e . first",
            file=sys.stderr,
        )
        return 2
    if ensure_wrk() is None:
        return 2
    if (load := os.getloadavg()[0]) > 0.5:
        print(f"note: the machine is busy (load {load:.1f}): figures will be noisy", file=sys.stderr)

    sid, token = args.account_sid or "AC" + secrets.token_hex(16), args.auth_token or secrets.token_hex(16)
    env = {
        **os.environ,
        "TELEPHONIST_ACCOUNT_SID": sid,
        "TELEPHONIST_AUTH_TOKEN": token,
        "TELEPHONIST_TIME_SCALE": "0.001",
        "TELEPHONIST_LOG_LEVEL": "warning",
        # The sender sends as fast as it is given messages: the benchmark measures the platform, not
        # a long code's one segment a second.
        "TELEPHONIST_SENDER_MPS": '{"+15005550006": 1000000}',
    }
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below still runs
    try:
        with tempfile.TemporaryDirectory(prefix="telephonist-bench-") as tmp, contextlib.ExitStack() as stack:

            def local(label: str, cmd: list[str], ready: str, *extra: str) -> Server:
                port = free_port()
                server = Server(label, f"http://127.0.0.1:{port}", sid, token, Path(tmp) / f"{port}.log")
                cmd = [*cmd, "--host", "127.0.0.1", "--port", str(port), *extra]
                stack.callback(stop, start(server, cmd, env, ready))
                return server

            bare_cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(BENCH_DIR),
                "bare_app:app",
                *UVICORN_OPTS,
            ]
            bare_ready = f"{API}/Accounts/{sid}/Messages/SM{'0' * 32}.json"
            bare = local("bare Starlette", bare_cmd, bare_ready)
            if args.self_test:
                subject = local("bare (again)", bare_cmd, bare_ready)
            elif args.target:
                subject = Server("Telephonist", args.target.rstrip("/"), sid, token)
            else:
                tp_cmd = [sys.executable, "-m", "telephonist", "serve"]
                subject = local(
                    "Telephonist", tp_cmd, f"{API}/Accounts/{sid}.json", "--db", f"sqlite:///{tmp}/bench.db"
                )
            run_rounds(bare, subject, ops, args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    report(bare, subject, ops, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
