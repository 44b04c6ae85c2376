"""End-to-end messaging benchmark: REST create -> SMPP submit_sm -> receipt -> `delivered` status callback.

Everything runs on this machine, on 127.0.0.1:

* an SMSC in its own process (bench/sms_peers.py smsc: smpp34's server, an SMPP implementation we did
  not write) that answers every submit_sm and sends a DELIVRD receipt at once;
* ceiling: a bare asyncio SMPP client (bench/sms_peers.py ceiling: Telephonist's own sans-IO session and
  asyncio link, as the gateway uses them; --ceiling-client smpp34 takes smpp34's client instead) binds
  as a transceiver, keeps --window submit_sm outstanding and counts the receipts: messages/s from the
  first submit to the last receipt;
* end to end: one `telephonist serve` (a fresh SQLite database, time scale 1) bound to the SMSC as a
  transceiver for "+44" with the same window, the sending number +15005550006 allowed 1,000,000
  segments a second; a status-callback app in its own process (bench/sms_peers.py callbacks) records
  when each message's `delivered` callback arrives; this process creates the messages with
  POST /2010-04-01/Accounts/{AC}/Messages.json (To=+4477…, From=+15005550006, Body, StatusCallback)
  over --connections keep-alive HTTP/1.1 connections. Messages/s runs from the first create sent to the
  last `delivered` callback received; latency is, per message, that callback's arrival minus its create
  request's sending (both CLOCK_MONOTONIC, which all processes share).

By default creates go as fast as the server takes them, so the latency includes the backlog that builds
when the creates outrun the sends; --rate R spreads them evenly at R a second instead.

Targets (an issue's acceptance criterion): >= 1,000 messages/s end to end and >= 0.3 of the ceiling. It
is a measurement, not a test: it exits 0 whether or not the targets are met (1 when it cannot run).

With two or more CPUs the Telephonist server (and, in its runs, the ceiling client) is pinned to CPU 0;
the SMSC, the callback app and this process (the load generator) to CPU 1. A discarded warm-up of
--warmup messages runs first; then each round runs the ceiling and the end-to-end run (alternating
which goes first), each once the server is idle; with --rounds N every figure is the median of N.

Run from the repository root (needs telephonist and smpp34 importable: `pip install -e '.[test]'`):
    python bench/sms.py                                   # 5,000 messages, window 20, one round
    python bench/sms.py --rounds 3 --messages 10000       # median of 3
    python bench/sms.py --quick                           # a smoke run: 500 messages, short warm-up
    python bench/sms.py --rate 800                        # latency at a steady 800 creates a second
    python bench/sms.py --profile server.svg              # py-spy records the server in the measured runs
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from procs import Proc, free_port, http, percentile, pin, wait_http

BENCH_DIR = Path(__file__).resolve().parent
PEERS = BENCH_DIR / "sms_peers.py"
API = "/2010-04-01"
FROM = "+15005550006"  # the default account's number
BODY = "Hello from the SMS benchmark"
TARGET_RATE, TARGET_RATIO = 1000.0, 0.3
MAX_MESSAGES = 200_000
PEER_CPU = ("SMSC", "callback app", "load generator")
# A run ends when no `delivered` callback came for this long (twice the webhook timeout and its retry).
STALL_SECONDS = 35.0


@dataclass
class E2e:
    messages: int
    created: int
    delivered: int
    seconds: float  # first create sent to last delivered callback
    create_seconds: float  # first create sent to last create answered
    p50_ms: float
    p99_ms: float
    errors: int  # creates not answered 201
    cpu: dict[str, float]  # CPU seconds of each process over the run, divided by the run's seconds
    callbacks: dict[str, int]

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    @property
    def complete(self) -> bool:
        return self.delivered == self.messages and not self.errors


@dataclass
class Ceiling:
    messages: int
    receipts: int
    seconds: float
    refused: int
    early: int  # receipts that came before their submit_sm_resp (ours client only)

    @property
    def rate(self) -> float:
        return self.receipts / self.seconds if self.seconds > 0 else 0.0

    @property
    def complete(self) -> bool:
        return self.receipts == self.messages and not self.refused


# -- processes ----------------------------------------------------------------------------------------------


# -- the load generator -------------------------------------------------------------------------------------

SID = re.compile(rb'"sid"\s*:\s*"((?:SM|MM)[0-9a-f]{32})"')


def await_delivered(
    callbacks: str, sent: dict[str, float], timeout: float, servers: list[Proc]
) -> dict[str, float]:
    """Wait for the `delivered` callbacks of the messages `sent` (until all came, `timeout` passed, or none
    came for STALL_SECONDS); when each that came arrived."""
    deadline = time.monotonic() + timeout
    seen, progress = -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - progress < STALL_SECONDS:
        delivered = json.loads(http("GET", callbacks + "/stats")[1])["delivered"]
        if delivered >= len(sent):
            break
        if delivered != seen:
            seen, progress = delivered, time.monotonic()
        for server in servers:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.label} exited with {server.proc.returncode}:\n{server.tail()}")
        time.sleep(0.05)
    times: dict[str, float] = json.loads(http("GET", callbacks + "/results")[1])["times"]
    return {sid: times[sid] for sid in sent if sid in times}


async def create_messages(
    ports: list[int], auth: str, account_sid: str, callback_url: str, n: int, connections: int, rate: float
) -> tuple[dict[str, float], float, float, int]:
    """POST n messages over `connections` keep-alive connections, spread over the servers on `ports`:
    ({sid: time sent}, time of the first send, time of the last answer, errors)."""
    path = f"{API}/Accounts/{account_sid}/Messages.json"
    tail = f"&From={quote(FROM)}&Body={quote(BODY)}&StatusCallback={quote(callback_url, safe='')}".encode()
    sent: dict[str, float] = {}
    errors = 0
    todo = iter(range(n))
    start = time.monotonic()
    last = start

    async def send_all(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        """Take the next message to create until there are none, one request at a time."""
        nonlocal errors, last
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
        ).encode()
        for i in todo:
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            body = b"To=%%2B4477%08d%s" % (i, tail)
            t = time.monotonic()
            writer.write(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
            header = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", header)
            data = await reader.readexactly(int(length[1]) if length else 0)
            last = time.monotonic()
            sid = SID.search(data)
            if header.startswith(b"HTTP/1.1 201") and sid:
                sent[sid[1].decode()] = t
            else:
                errors += 1
                if errors <= 3:
                    print(f"  create answered {header[:40]!r}: {data[:200]!r}", file=sys.stderr)

    async def connection(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await send_all(reader, writer, port)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
            raise RuntimeError(f"a create connection failed: {exc!r}") from None
        finally:
            writer.close()

    await asyncio.gather(*(connection(ports[k % len(ports)]) for k in range(connections)))
    return sent, start, last, errors


def run_e2e(
    procs: dict[str, Proc],
    base: str,
    auth: str,
    account_sid: str,
    callbacks: str,
    args: argparse.Namespace,
    n: int,
) -> E2e:
    server = procs["server"]
    port = int(base.rsplit(":", 1)[1])
    http("POST", callbacks + "/reset", b"")
    cpu0 = {name: proc.cpu_seconds() for name, proc in procs.items()}
    own0 = time.process_time()
    creating = create_messages(
        [port], auth, account_sid, callbacks + "/status", n, args.connections, args.rate
    )
    try:
        sent, start, last_answer, errors = asyncio.run(asyncio.wait_for(creating, args.timeout))
    except TimeoutError:
        raise RuntimeError(f"creating {n:,} messages took over {args.timeout:.0f} s") from None
    mine = await_delivered(callbacks, sent, args.timeout, [server])
    end = max(mine.values(), default=time.monotonic())
    seconds = max(1e-9, end - start)
    cpu = {name: (proc.cpu_seconds() - cpu0[name]) / seconds for name, proc in procs.items()}
    cpu["load generator"] = (time.process_time() - own0) / seconds
    latencies = sorted((mine[sid] - sent[sid]) * 1000 for sid in mine)
    return E2e(
        messages=n,
        created=len(sent),
        delivered=len(mine),
        seconds=end - start,
        create_seconds=last_answer - start,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        errors=errors,
        cpu=cpu,
        callbacks=json.loads(http("GET", callbacks + "/results")[1])["counts"],
    )


def run_ceiling(smsc_port: int, args: argparse.Namespace) -> Ceiling:
    cmd = pin(0) + [sys.executable, str(PEERS), "ceiling", "--smsc-port", str(smsc_port)]
    cmd += ["--messages", str(args.messages), "--window", str(args.window), "--timeout", str(args.timeout)]
    cmd += ["--client", args.ceiling_client]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout + 60)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the ceiling client failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    r = json.loads(lines[-1])
    return Ceiling(r["messages"], r["receipts"], r["seconds"], r["refused"], r.get("receipts_before_resp", 0))


def explain(run: E2e, server: Proc, smsc: Proc, db: Path) -> None:
    """What became of the messages of an incomplete run: the server's statuses and jobs, its warnings and
    errors, the SMSC's counts."""
    print(f"  incomplete run: {run.delivered:,} of {run.messages:,} delivered callbacks", file=sys.stderr)
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn,
    ):
        statuses = conn.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall()
        jobs = conn.execute("SELECT kind, count(*), sum(attempts) FROM jobs GROUP BY kind").fetchall()
        print(
            f"    server's messages by status: {statuses}; jobs (kind, count, attempts): {jobs}",
            file=sys.stderr,
        )
    problems = [
        line for line in server.output().splitlines() if re.search(r" (WARNING|ERROR|CRITICAL) ", line)
    ]
    print(f"    server warnings and errors: {len(problems)}", *problems[-8:], sep="\n    ", file=sys.stderr)
    counts = re.findall(r"^COUNTS .*", smsc.output(), re.M)
    print(f"    SMSC: {counts[-1] if counts else 'no counts'}", file=sys.stderr)


# -- the report ----------------------------------------------------------------------------------------------


def median_by_rate(runs: list[Any]) -> Any:
    return sorted(runs, key=lambda r: r.rate)[len(runs) // 2]


def report(ceilings: list[Ceiling], e2es: list[E2e], args: argparse.Namespace) -> None:
    c, e = median_by_rate(ceilings), median_by_rate(e2es)
    ratio = e.rate / c.rate if c.rate else 0.0
    setup = f"{args.messages:,} messages, SMPP window {args.window}, {args.connections} HTTP connections"
    setup += f", creates at {args.rate:,.0f}/s" if args.rate else ", creates as fast as taken"
    setup += f", median of {args.rounds}" if args.rounds > 1 else ""
    setup += ", server on CPU 0, SMSC + callback app + load generator on CPU 1" if pin(0) else ""
    for lib in ("uvloop", "httptools"):
        setup += f"{';' if lib == 'uvloop' else ','} {lib} {'yes' if importlib.util.find_spec(lib) else 'no'}"
    client = "Telephonist's SMPP session + link" if args.ceiling_client == "ours" else "smpp34's client"
    print(f"\nSMS end-to-end benchmark ({setup})")
    rows = [
        ("ceiling: bare SMPP client -> SMSC", f"{c.rate:,.0f} msg/s", f"({client})"),
        ("end to end: REST -> SMPP -> callback", f"{e.rate:,.0f} msg/s", _verdict(e.rate >= TARGET_RATE)),
        ("ratio end to end / ceiling", f"{ratio:.2f}", _verdict(ratio >= TARGET_RATIO)),
        ("create -> delivered callback p50", f"{e.p50_ms:,.0f} ms", ""),
        ("create -> delivered callback p99", f"{e.p99_ms:,.0f} ms", ""),
        ("creates answered (201) per second", f"{e.created / e.create_seconds:,.0f} /s", ""),
        ("Telephonist server CPU", f"{e.cpu['server']:.0%} of a core", ""),
        ("SMSC, callback app, load generator CPU", "/".join(f"{e.cpu[k]:.0%}" for k in PEER_CPU), ""),
        ("messages (N), SMPP window", f"{args.messages:,}, {args.window}", ""),
        ("targets", f"≥ {TARGET_RATE:,.0f} msg/s", f"and ≥ {TARGET_RATIO} of the ceiling"),
    ]
    if args.ceiling_client == "ours":  # smpp34's server may send a receipt before its submit_sm_resp
        rows.append(("ceiling: receipts before submit_sm_resp", f"{c.early / max(1, c.receipts):.1%}", ""))
    for label, value, note in rows:
        print(f"  {label:38}{value:>16}  {note}".rstrip())
    if args.rounds > 1:
        print("  runs in order: ceiling " + ", ".join(f"{r.rate:,.0f}" for r in ceilings))
        print("                 end to end " + ", ".join(f"{r.rate:,.0f}" for r in e2es))
    problems = [f"ceiling run {i}: {r.receipts:,} receipts of {r.messages:,}, {r.refused} refused"
                for i, r in enumerate(ceilings, 1) if not r.complete]  # fmt: skip
    problems += [
        f"end-to-end run {i}: {r.delivered:,} delivered callbacks of {r.messages:,}, "
        f"{r.errors} failed creates (callbacks seen: {r.callbacks})"
        for i, r in enumerate(e2es, 1)
        if not r.complete
    ]
    for problem in problems:
        print(f"  NOT VALID: {problem}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW-TARGET"


# -- main ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=5000, help="messages per measured run (default 5000)")
    ap.add_argument("--window", type=int, default=20, help="SMPP submit_sm outstanding (default 20)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per figure, median reported (default 1)")
    ap.add_argument("--connections", type=int, default=16, help="HTTP connections creating (default 16)")
    ap.add_argument("--rate", type=float, default=0.0, help="creates a second, 0: as fast as taken")
    ap.add_argument("--warmup", type=int, default=1000, help="discarded warm-up messages (default 1000)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds a run may last (default 180)")
    ap.add_argument("--ceiling-client", choices=["ours", "smpp34"], default="ours")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 500 messages, 200 warm-up")
    ap.add_argument(
        "--profile",
        metavar="FILE",
        help="py-spy records the server in the end-to-end runs: FILE.svg a flame graph, FILE.json for "
        "speedscope, any other name collapsed stacks",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.messages, args.warmup, args.rounds = 500, 200, 1
    if not 1 <= args.messages <= MAX_MESSAGES:
        ap.error(f"--messages must be from 1 to {MAX_MESSAGES:,}")
    if not 1 <= args.window <= 1000 or not 1 <= args.connections <= 256 or not 1 <= args.rounds <= 20:
        ap.error("--window must be 1-1000, --connections 1-256, --rounds 1-20")
    if args.warmup < 0 or args.rate < 0 or not 1 <= args.timeout <= 3600:
        ap.error("--warmup and --rate must not be negative, --timeout 1-3600 s")
    if missing := [m for m in ("telephonist", "smpp34") if importlib.util.find_spec(m) is None]:
        print(
            f"{sys.executable} cannot import {', '.join(missing)}: use the project's venv "
            "(make bench) or pip install -e '.[test]' first",
            file=sys.stderr,
        )
        return 2
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if args.profile and py_spy is None:
        ap.error("--profile needs py-spy (pip install py-spy)")
    if (load := os.getloadavg()[0]) > 0.5:
        print(f"note: the machine is busy (load {load:.1f}): figures will be noisy", file=sys.stderr)

    account_sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    auth = "Basic " + base64.b64encode(f"{account_sid}:{token}".encode()).decode()
    with contextlib.suppress(ImportError):
        import uvloop  # the load generator's loop: the cheaper, the less it takes from the peers' core

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below still runs
    ceilings: list[Ceiling] = []
    e2es: list[E2e] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="telephonist-sms-bench-") as tmpdir,
            contextlib.ExitStack() as stack,
        ):
            tmp = Path(tmpdir)

            def start(label: str, cmd: list[str], cpu: int, env: dict[str, str] | None = None) -> Proc:
                proc = Proc(label, pin(cpu) + cmd, tmp / f"{label.replace(' ', '-')}.log", env)
                stack.callback(proc.stop)
                return proc

            smsc_port, cb_port, tp_port = free_port(), free_port(), free_port()
            smsc = start("SMSC", [sys.executable, str(PEERS), "smsc", "--port", str(smsc_port)], 1)
            smsc.wait_for(r"^READY")
            cb = start("callback app", [sys.executable, str(PEERS), "callbacks", "--port", str(cb_port)], 1)
            cb.wait_for(r"^READY")
            callbacks = f"http://127.0.0.1:{cb_port}"
            carrier = {
                "name": "bench",
                "host": "127.0.0.1",
                "port": smsc_port,
                "system_id": "bench",
                "password": "secret",
                "prefixes": ["+44"],
                "window": args.window,
            }
            env = {
                **os.environ,
                "TELEPHONIST_ACCOUNT_SID": account_sid,
                "TELEPHONIST_AUTH_TOKEN": token,
                "TELEPHONIST_TIME_SCALE": "1",
                "TELEPHONIST_LOG_LEVEL": "warning",
                "TELEPHONIST_SMPP_CARRIERS": json.dumps([carrier]),
                "TELEPHONIST_SENDER_MPS": json.dumps({FROM: 1_000_000}),
            }
            tp_cmd = [sys.executable, "-m", "telephonist", "serve", "--host", "127.0.0.1"]
            tp_cmd += ["--port", str(tp_port), "--db", f"sqlite:///{tmp}/bench.db"]
            server = start("Telephonist", tp_cmd, 0, env)
            base = f"http://127.0.0.1:{tp_port}"
            wait_http(server, f"{base}{API}/Accounts/{account_sid}.json", auth)
            smsc.wait_for(r"^BOUND .*system_id=bench$")
            procs = {"server": server, "SMSC": smsc, "callback app": cb}
            if pin(1):
                os.sched_setaffinity(0, {1})
            if args.warmup:
                print(f"  warm-up: {args.warmup:,} messages end to end", file=sys.stderr, flush=True)
                run_e2e(procs, base, auth, account_sid, callbacks, args, args.warmup)
            spy: subprocess.Popen[bytes] | None = None
            for n in range(1, args.rounds + 1):
                for kind in ("ceiling", "e2e") if n % 2 else ("e2e", "ceiling"):
                    print(f"  round {n}/{args.rounds}  {kind}", file=sys.stderr, flush=True)
                    server.settle()
                    if kind == "ceiling":
                        ceilings.append(run_ceiling(smsc_port, args))
                        continue
                    if args.profile and spy is None:
                        assert py_spy is not None
                        spy_cmd = [py_spy, "record", "-o", args.profile, "--pid", str(server.pid)]
                        fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(
                            Path(args.profile).suffix, "raw"
                        )
                        spy_cmd += ["--rate", "250", "--format", fmt]
                        spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        stack.callback(spy.kill)  # py-spy stops with its target anyway
                    e2es.append(run_e2e(procs, base, auth, account_sid, callbacks, args, args.messages))
                    if not e2es[-1].complete:
                        explain(e2es[-1], server, smsc, tmp / "bench.db")
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its flame graph on SIGINT
                spy.wait(timeout=60)
                print(f"  py-spy profile of the server: {args.profile}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    report(ceilings, e2es, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
