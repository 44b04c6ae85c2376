"""Concurrent simulated calls: N live calls on one Telephonist, each looping a Gather–Say–Redirect script.

What runs, all on 127.0.0.1 unless --url names a server of your own:

* one `telephonist serve` (a fresh SQLite database, or PostgreSQL with --db URL or --postgres), log level
  warning, outbound calls paced at --cps calls a second (TELEPHONIST_CALLS_PER_SECOND; the default of 1
  would take 50 minutes to start 3,000), TELEPHONIST_API_CONCURRENCY raised so the load generator's
  connections are never refused, time scale --time-scale (default 1: see below);
* the application, this file run as `app` in a process of its own (uvicorn, a bare ASGI callable):
      POST /voice     <Response><Gather input="dtmf" numDigits="1" timeout="5" action="/gathered">
                        <Say>Press a key</Say></Gather><Redirect>/voice</Redirect></Response>
      POST /gathered  <Response><Say>You pressed 1</Say><Redirect>/voice</Redirect></Response>
      POST /status    the calls' `completed` status callbacks, counted
  so every call loops for as long as it lives;
* N virtual phones +15557000000… (POST /sim/v1/Phones), each answering after the sim's default ring
  (1 s) and, with --press alternate (the default), pressing 1 at every other <Gather> (a queued
  GatherInput list "1", "w", "1", … where "w" presses nothing) and staying silent at the others, so a
  call alternates between the Gather's action (/gathered, then its <Say>, then /voice) and its timeout
  (the <Say>, 5 s of silence, then the <Redirect> to /voice): about three webhooks every 7.4 s per call.
  --press always presses at every Gather (two webhooks every 1.2 s: a heavier load), never at none (one
  webhook every 6.2 s);
* this process, the load generator: configures the phones, creates the N calls with
  POST /2010-04-01/Accounts/{AC}/Calls.json (Url=…/voice, StatusCallback=…/status, httpx with basic
  auth, as an application would) at --cps a second over --connections connections, waits until all N
  are `in-progress` (the REST list with Status=in-progress, paged, is the count), holds them --hold
  seconds, counting again every few seconds, then hangs every call up with POST …/Calls/{Sid}.json
  Status=completed and checks that each ends `completed` and that its `completed` callback came.

Figures: the calls simultaneously in progress (the fewest the REST list counted during the hold, all N
expected) and their ratio to the target (3,000: the issue's "≥ 3,000 concurrent simulated calls on one
node"); webhooks per second the application served during the hold; the server's CPU (fraction of a core)
over the hold and its resident memory (RSS) at the end of it, its peak, its open file descriptors; and
the turnaround lateness the application sees: for each webhook, how much later it came than the script
allows (after answering /voice, a /gathered is due at once, a /voice after the <Say> and the 5 s timeout;
after /gathered, /voice is due after its <Say>: the sim takes 0.4 s a word, at least 0.5 s), p50/p99/max.
It is what an overloaded event loop, database or webhook client adds to every step of every call. Beside
it: the server's own mean webhook time (its /metrics histogram, which counts the wait for one of the
PER_HOST connections to the application), and the round trip of a trivial request (GET /healthz of the
server, GET /ping of the application, five a second on a connection of their own), about their event
loops' lag.

Time scale: with --time-scale S every simulated second lasts S real seconds, so each call runs its loop
1/S times faster. "Concurrent" at S = 1 (the default) means what it means on Twilio: N calls live at
once, each paced like a real caller. At S = 0.1 the same N calls make ten times the webhooks and events
a second, the load of about 10 N real-time calls in everything but memory: a stress test, not the figure.

Target: >= 3,000 calls in progress at once, all of them completed at the end. It is a measurement, not a
test: it exits 0 whether or not the target is met (1 when it cannot run).

With two or more CPUs the Telephonist server is pinned to CPU 0; the application and this process to
CPU 1 (a local PostgreSQL is not pinned: it shares both). The machine's other load is not excluded: on
a shared machine repeat the run and compare. The soft limit of open files is raised to the hard limit.

Run from the repository root (needs telephonist, uvicorn and httpx importable: `pip install -e '.[test]'`):
    python bench/calls.py                                  # 3,000 calls held 60 s, SQLite
    python bench/calls.py --quick                          # a smoke run: 300 calls held 15 s
    python bench/calls.py --calls 5000 --hold 120 --cps 200
    python bench/calls.py --postgres                       # a PostgreSQL cluster of its own
    python bench/calls.py --db postgresql+psycopg://user@host:5432/telephonist
    python bench/calls.py --url http://lb:8080 --sid AC... --token ... --app-host 10.0.0.5
    python bench/calls.py --profile server.svg             # py-spy records the server during the hold

With --url the server (or a load balancer in front of several) is yours: it must reach the application
at --app-host, run the simulated network and pace calls at a rate that ramps up in reasonable time (its
TELEPHONIST_CALLS_PER_SECOND); --time-scale must be its time scale, for the lateness. The server's CPU
and memory are measured only for the processes named with --server-pid (on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from procs import Proc, cpu_seconds, free_port, percentile, pin, wait_http

BENCH_DIR = Path(__file__).resolve().parent
API = "/2010-04-01"
TARGET = 3000
FROM = "+15005550006"  # the default account's number
FIRST_PHONE = 15557000000
GATHER_TIMEOUT = 5
PROMPT, PRESSED = "Press a key", "You pressed 1"
VOICE = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    f'<Gather input="dtmf" numDigits="1" timeout="{GATHER_TIMEOUT}" action="/gathered">'
    f"<Say>{PROMPT}</Say></Gather><Redirect>/voice</Redirect></Response>"
).encode()
GATHERED = (
    f'<?xml version="1.0" encoding="UTF-8"?><Response><Say>{PRESSED}</Say>'
    "<Redirect>/voice</Redirect></Response>"
).encode()
COUNT_EVERY = 5.0  # seconds between REST counts of the calls in progress while they ramp up
HOLD_COUNT_EVERY = 10.0  # and while they are held (each count renders every call: it costs the server)


def say_seconds(text: str) -> float:
    """How long the simulated network takes to say `text` (carriers/sim/network.py's rule)."""
    return max(0.5, len(text.split()) * 0.4)


# -- the application ----------------------------------------------------------------------------------------


class App:
    """A bare ASGI app: the script, the status callbacks, and what it saw (GET /stats, POST /reset)."""

    def __init__(self, scale: float) -> None:
        # What is due after each answer, in real seconds: /gathered at once (the key is pressed as the
        # Gather starts), or /voice after the prompt and the timeout; after /gathered, /voice after its Say.
        self.due = {
            ("/voice", "/gathered"): 0.0,
            ("/voice", "/voice"): (say_seconds(PROMPT) + GATHER_TIMEOUT) * scale,
            ("/gathered", "/voice"): say_seconds(PRESSED) * scale,
        }
        self.last: dict[str, tuple[str, float]] = {}  # CallSid: (what it was answered last, when)
        self.statuses: Counter[str] = Counter()  # status callbacks' CallStatus, all along
        self.reset()

    def reset(self) -> None:
        self.since = time.monotonic()
        self.counts: Counter[str] = Counter()
        self.late: list[float] = []
        self.unexpected = 0

    def stats(self) -> dict[str, Any]:
        late = sorted(self.late)
        return {
            "seconds": time.monotonic() - self.since,
            "counts": dict(self.counts),
            "statuses": dict(self.statuses),
            "late_p50": percentile(late, 0.50),
            "late_p99": percentile(late, 0.99),
            "late_max": late[-1] if late else math.nan,
            "late_n": len(late),
            "unexpected": self.unexpected,
            "calls": len(self.last),
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                await send({"type": kind + ".complete"})
                if kind == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        out, ctype = b"", b"text/xml"
        if path in ("/voice", "/gathered"):
            now = time.monotonic()
            self.counts[path] += 1
            sid = dict(parse_qsl(body.decode())).get("CallSid", "")
            previous = self.last.get(sid)
            if previous is not None:
                due = self.due.get((previous[0], path))
                if due is None:
                    self.unexpected += 1
                else:
                    self.late.append(now - previous[1] - due)
            out = VOICE if path == "/voice" else GATHERED
            self.last[sid] = (path, time.monotonic())
        elif path == "/status":
            form = dict(parse_qsl(body.decode()))
            self.statuses[form.get("CallStatus", "")] += 1
            self.counts[path] += 1
            self.last.pop(form.get("CallSid", ""), None)
        elif path == "/stats":
            out, ctype = json.dumps(self.stats()).encode(), b"application/json"
        elif path == "/reset":
            self.reset()
        elif path == "/ping":
            pass
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", ctype), (b"content-length", str(len(out)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": out})


def app_main(argv: list[str]) -> int:
    import uvicorn

    ap = argparse.ArgumentParser(prog="calls.py app")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--time-scale", type=float, default=1.0)
    args = ap.parse_args(argv)
    uvicorn.run(
        App(args.time_scale),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="auto",
        http="auto",
        backlog=4096,
    )
    return 0


# -- the load generator -------------------------------------------------------------------------------------


@dataclass
class Target:
    base: str
    account_sid: str
    token: str
    server: Proc | None = None  # ours, when we started it
    pids: list[int] = field(default_factory=list)  # the server processes measured (ours, or --server-pid)
    db_procs: list[int] = field(default_factory=list)  # a PostgreSQL of ours: the postmaster

    @property
    def calls(self) -> str:
        return f"{API}/Accounts/{self.account_sid}/Calls"


@dataclass
class Run:
    calls: int
    created: int = 0
    create_errors: int = 0
    ramp_seconds: float = math.nan  # first create to all N in progress
    counts: list[int] = field(default_factory=list)  # in progress, each REST count during the hold
    hold_seconds: float = 0.0
    app: dict[str, Any] = field(default_factory=dict)  # the application's stats over the hold
    server_cpu: float = math.nan  # cores over the hold, all the measured server processes
    server_procs: int = 0
    db_cpu: float = math.nan
    app_cpu: float = math.nan
    own_cpu: float = math.nan
    rss_mb: float = math.nan
    peak_rss_mb: float = math.nan
    idle_rss_mb: float = math.nan  # before the first call
    fds: int = 0
    webhook_mean_ms: float = math.nan  # the server's own histogram, over the hold
    server_ping: list[float] = field(default_factory=list)  # GET /healthz round trips, s, during the hold
    app_ping: list[float] = field(default_factory=list)  # GET /ping of the app
    hangup_seconds: float = math.nan  # REST updates sent
    hangup_errors: int = 0
    settle_seconds: float = math.nan  # first hang-up to every call final
    final: dict[str, int] = field(default_factory=dict)
    callbacks: dict[str, int] = field(default_factory=dict)

    @property
    def reached(self) -> int:
        return min(self.counts) if self.counts else 0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def phone_number(i: int) -> str:
    return f"+{FIRST_PHONE + i}"


async def pool(n: int, connections: int, work: Any) -> None:
    """Run work(i) for i in range(n), `connections` at a time."""
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            await work(i)

    await asyncio.gather(*(worker() for _ in range(connections)))


async def count_status(client: httpx.AsyncClient, target: Target, status: str) -> int:
    """Calls of the account with this status: the REST list, every page."""
    n, url = 0, f"{target.calls}.json?Status={status}&PageSize=1000"
    while url:
        resp = await client.get(url)
        resp.raise_for_status()
        page = resp.json()
        n += len(page["calls"])
        url = page["next_page_uri"]
    return n


async def tally(client: httpx.AsyncClient, target: Target, sids: set[str]) -> dict[str, int]:
    """The statuses of our calls: the REST list newest first, until all of them were seen."""
    seen: Counter[str] = Counter()
    left, url = set(sids), f"{target.calls}.json?PageSize=1000"
    while url and left:
        resp = await client.get(url)
        resp.raise_for_status()
        page = resp.json()
        for call in page["calls"]:
            if call["sid"] in left:
                left.discard(call["sid"])
                seen[call["status"]] += 1
        url = page["next_page_uri"]
    if left:
        seen["not listed"] = len(left)
    return dict(seen)


async def metric(client: httpx.AsyncClient, name: str) -> float:
    with contextlib.suppress(Exception):
        resp = await client.get("/metrics")
        found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", resp.text, re.M)
        if found:
            return float(found[1])
    return math.nan


async def probe(url: str, until: float, times: list[float]) -> None:
    """GET `url` five times a second on a connection of its own until `until`: how long a trivial
    request waits for a busy event loop."""
    async with httpx.AsyncClient(timeout=60.0) as client:
        while time.monotonic() < until:
            began = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                await client.get(url)
                times.append(time.monotonic() - began)
            await asyncio.sleep(max(0.0, began + 0.2 - time.monotonic()))


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of `pid`, MB."""
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M))
    return int(found.get("VmRSS", 0)) / 1024, int(found.get("VmHWM", 0)) / 1024


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds of `pids` and of all their descendants (PostgreSQL's postmaster and backends)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    total = 0.0
    for pid in parent:
        ancestor: int | None = pid
        while ancestor is not None and ancestor not in pids:
            ancestor = parent.get(ancestor)
        if ancestor is not None:
            total += cpu_seconds(pid)
    return total


async def run(target: Target, app_url: str, app_proc: Proc, args: argparse.Namespace) -> Run:
    result = Run(args.calls)
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    timeout = httpx.Timeout(60.0)
    auth = (target.account_sid, target.token)
    async with (
        httpx.AsyncClient(base_url=target.base, auth=auth, limits=limits, timeout=timeout) as client,
        httpx.AsyncClient(base_url=app_url, timeout=timeout) as app,
    ):
        # The phones: what each presses at its Gathers, for longer than the run can last.
        life = args.calls / args.cps + args.hold + 120
        if args.press == "alternate":
            cycle = say_seconds(PRESSED) + say_seconds(PROMPT) + GATHER_TIMEOUT
            inputs = ["1", "w"] * (1 + int(life / (cycle * args.time_scale)))
        elif args.press == "always":
            inputs = ["1"] * (1 + int(life / (say_seconds(PRESSED) * args.time_scale)))
        else:
            inputs = ["w"]

        async def configure(i: int) -> None:
            data = {"PhoneNumber": phone_number(i), "Answer": "auto", "GatherInput": inputs}
            resp = await client.post("/sim/v1/Phones", data=data)
            if resp.status_code != 201:
                raise RuntimeError(f"configuring a phone answered {resp.status_code}: {resp.text[:300]}")

        say(f"  configuring {args.calls:,} virtual phones")
        await pool(args.calls, args.connections, configure)

        if target.pids:
            result.idle_rss_mb = sum(rss_mb(pid)[0] for pid in target.pids)
        # The ramp: creates at --cps a second; the server paces the starts too.
        sids: list[str] = []
        start = time.monotonic()
        params = {
            "From": args.from_,
            "Url": f"{app_url}/voice",
            "StatusCallback": f"{app_url}/status",
        }

        async def create(i: int) -> None:
            delay = start + i / args.cps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            resp = await client.post(f"{target.calls}.json", data={**params, "To": phone_number(i)})
            if resp.status_code == 201:
                sids.append(resp.json()["sid"])
            else:
                result.create_errors += 1
                if result.create_errors <= 3:
                    say(f"  create answered {resp.status_code}: {resp.text[:300]}")

        say(f"  creating {args.calls:,} calls at {args.cps:g}/s")
        creating = asyncio.ensure_future(pool(args.calls, args.connections, create))
        deadline = start + args.calls / args.cps + args.ramp_timeout
        live = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(COUNT_EVERY)
            check(target)
            live = await count_status(client, target, "in-progress")
            say(f"    {time.monotonic() - start:5.0f} s  created {len(sids):,}  in progress {live:,}")
            if creating.done() and live >= len(sids):
                break
        await creating
        result.created = len(sids)
        result.ramp_seconds = time.monotonic() - start if live >= args.calls else math.nan
        if live < len(sids):
            say(f"  only {live:,} of {len(sids):,} calls in progress after the ramp: holding them anyway")

        # The hold.
        say(f"  holding for {args.hold:g} s")
        spy = start_profile(args, target.server.pid if target.server is not None else None)
        await app.post("/reset")
        cpu0 = sum(cpu_seconds(pid) for pid in target.pids)
        db0 = tree_cpu(target.db_procs) if target.db_procs else math.nan
        app0, own0 = app_proc.cpu_seconds(), time.process_time()
        hist0 = (await metric(client, "telephonist_webhook_duration_seconds_sum"),
                 await metric(client, "telephonist_webhook_duration_seconds_count"))  # fmt: skip
        t0 = time.monotonic()
        probes = [
            asyncio.ensure_future(probe(target.base + "/healthz", t0 + args.hold, result.server_ping)),
            asyncio.ensure_future(probe(app_url + "/ping", t0 + args.hold, result.app_ping)),
        ]
        while (left := t0 + args.hold - time.monotonic()) > 0:
            await asyncio.sleep(min(HOLD_COUNT_EVERY, left))
            check(target)
            result.counts.append(await count_status(client, target, "in-progress"))
            say(f"    {time.monotonic() - t0:5.0f} s  in progress {result.counts[-1]:,}")
        result.hold_seconds = seconds = time.monotonic() - t0
        await asyncio.gather(*probes)
        result.app = (await app.get("/stats")).json()
        hist1 = (await metric(client, "telephonist_webhook_duration_seconds_sum"),
                 await metric(client, "telephonist_webhook_duration_seconds_count"))  # fmt: skip
        if hist1[1] > hist0[1]:
            result.webhook_mean_ms = (hist1[0] - hist0[0]) / (hist1[1] - hist0[1]) * 1000
        if target.pids:
            result.server_procs = len(target.pids)
            result.server_cpu = (sum(cpu_seconds(pid) for pid in target.pids) - cpu0) / seconds
            memory = [rss_mb(pid) for pid in target.pids]
            result.rss_mb, result.peak_rss_mb = sum(m[0] for m in memory), sum(m[1] for m in memory)
            result.fds = sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in target.pids)
        if target.db_procs:
            result.db_cpu = (tree_cpu(target.db_procs) - db0) / seconds
        result.app_cpu = (app_proc.cpu_seconds() - app0) / seconds
        result.own_cpu = (time.process_time() - own0) / seconds
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
            spy.wait(timeout=120)
            say(f"  py-spy profile of the server: {args.profile}")

        # Hang up every call, as an application would.
        say(f"  hanging up {len(sids):,} calls")
        h0 = time.monotonic()

        async def hang_up(i: int) -> None:
            resp = await client.post(f"{target.calls}/{sids[i]}.json", data={"Status": "completed"})
            if resp.status_code != 200:
                result.hangup_errors += 1
                if result.hangup_errors <= 3:
                    say(f"  hang-up answered {resp.status_code}: {resp.text[:300]}")

        await pool(len(sids), args.connections, hang_up)
        result.hangup_seconds = time.monotonic() - h0
        ours = set(sids)
        deadline = time.monotonic() + 120
        while True:
            result.final = await tally(client, target, ours)
            unsettled = sum(n for status, n in result.final.items() if status not in FINAL)
            if not unsettled:
                result.settle_seconds = time.monotonic() - h0
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        if result.settle_seconds != result.settle_seconds:  # nan: some calls did not end
            await explain_stuck(client, target, ours)
        # Status callbacks are durable jobs: they follow the calls' end.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            result.callbacks = (await app.get("/stats")).json()["statuses"]
            if sum(result.callbacks.values()) >= len(sids):
                break
            await asyncio.sleep(1.0)
    return result


async def explain_stuck(client: httpx.AsyncClient, target: Target, sids: set[str]) -> None:
    """The last steps of a few calls that did not end: their transcripts (GET /sim/v1/Calls/{Sid})."""
    stuck, url = [], f"{target.calls}.json?Status=in-progress&PageSize=1000"
    while url:
        page = (await client.get(url)).json()
        stuck += [call["sid"] for call in page["calls"] if call["sid"] in sids]
        url = page["next_page_uri"]
    say(f"  {len(stuck):,} calls still in progress; the last steps of a few:")
    for sid in stuck[:3]:
        transcript = (await client.get(f"/sim/v1/Calls/{sid}")).json().get("transcript", [])
        say(f"    {sid}: " + "; ".join(json.dumps(e)[:120] for e in transcript[-5:]))


FINAL = ("completed", "busy", "failed", "no-answer", "canceled", "not listed")


def check(target: Target) -> None:
    if target.server is not None and target.server.proc.poll() is not None:
        raise RuntimeError(f"the server exited with {target.server.proc.returncode}:\n{target.server.tail()}")


def start_profile(args: argparse.Namespace, pid: int | None) -> subprocess.Popen[bytes] | None:
    if not args.profile or pid is None:
        return None
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    assert py_spy is not None
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(args.profile).suffix, "raw")
    cmd = [py_spy, "record", "-o", args.profile, "--pid", str(pid), "--rate", "100", "--format", fmt]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- the report ----------------------------------------------------------------------------------------------


def report(r: Run, args: argparse.Namespace, store: str) -> None:
    app = r.app
    seconds = max(1e-9, app.get("seconds", r.hold_seconds))
    counts = app.get("counts", {})
    hooks = (counts.get("/voice", 0) + counts.get("/gathered", 0)) / seconds
    setup = f"{args.calls:,} calls, --press {args.press}, time scale {args.time_scale:g}, {store}"
    setup += f", held {r.hold_seconds:.0f} s"
    setup += ", server on CPU 0, app + load generator on CPU 1" if pin(0) and not args.url else ""
    ratio = r.reached / TARGET
    ok = r.reached >= TARGET and r.reached == args.calls
    print(f"\nConcurrent simulated calls benchmark ({setup})")
    rows = [
        ("calls in progress through the hold", f"{r.reached:,}",
         f"{r.reached:,} / {TARGET:,} target = {ratio:.2f}  {'PASS' if ok else 'BELOW-TARGET'}"),
        ("REST counts during the hold", f"{len(r.counts)}",
         f"min {min(r.counts, default=0):,}, max {max(r.counts, default=0):,}"),
        ("ramp: first create to all in progress", _num(r.ramp_seconds, "s"),
         f"creates paced at {args.cps:g}/s, counted every {COUNT_EVERY:g} s"),
        ("webhooks served per second (hold)", f"{hooks:,.0f} /s",
         f"/voice {counts.get('/voice', 0):,}, /gathered {counts.get('/gathered', 0):,}"),
        ("turnaround lateness p50 (app's view)", _num(app.get("late_p50", math.nan) * 1000, "ms"),
         f"over {app.get('late_n', 0):,} webhooks"),
        ("turnaround lateness p99", _num(app.get("late_p99", math.nan) * 1000, "ms"), ""),
        ("turnaround lateness max", _num(app.get("late_max", math.nan) * 1000, "ms"), ""),
        ("webhook request mean (server's view)", _num(r.webhook_mean_ms, "ms"),
         "telephonist_webhook_duration_seconds"),
        ("server GET /healthz p50 / p99", _pair(r.server_ping), "its event loop's lag, about"),
        ("app GET /ping p50 / p99", _pair(r.app_ping), ""),
        ("server CPU (hold)", _pct(r.server_cpu),
         "of a core" + (f", {r.server_procs} processes" if r.server_procs > 1 else "")),
        ("server RSS at the end of the hold", _num(r.rss_mb, "MB"),
         f"peak {r.peak_rss_mb:,.0f} MB, {r.fds} open fds" if not math.isnan(r.rss_mb) else ""),
        ("server RSS per call", _num((r.rss_mb - r.idle_rss_mb) * 1024 / max(1, r.reached), "kB"),
         "" if math.isnan(r.idle_rss_mb) else f"(RSS - {r.idle_rss_mb:,.0f} MB before the calls) / calls"),
    ]  # fmt: skip
    if not math.isnan(r.db_cpu):
        rows.append(("PostgreSQL CPU (hold)", _pct(r.db_cpu), "of a core, all its processes"))
    rows += [
        ("app, load generator CPU (hold)", f"{_pct(r.app_cpu)} / {_pct(r.own_cpu)}", "of a core"),
        ("hang-ups (REST Status=completed)", _num(r.hangup_seconds, "s"),
         f"{r.created / r.hangup_seconds:,.0f} /s" if r.hangup_seconds > 0 else ""),
        ("first hang-up to all calls final", _num(r.settle_seconds, "s"), ""),
        ("final statuses", ", ".join(f"{k} {v:,}" for k, v in sorted(r.final.items())) or "-", ""),
        ("status callbacks", ", ".join(f"{k} {v:,}" for k, v in sorted(r.callbacks.items())) or "-", ""),
    ]  # fmt: skip
    for label, value, note in rows:
        print(f"  {label:40}{value:>14}  {note}".rstrip())
    problems = []
    if r.create_errors or r.created < args.calls:
        problems.append(f"{r.created:,} of {args.calls:,} calls created ({r.create_errors} errors)")
    if r.reached < r.created:
        problems.append(f"only {r.reached:,} of {r.created:,} calls in progress at some count of the hold")
    if r.final.get("completed", 0) != r.created:
        problems.append(f"{r.final.get('completed', 0):,} of {r.created:,} calls ended completed")
    if r.callbacks.get("completed", 0) != r.created:
        problems.append(f"{r.callbacks.get('completed', 0):,} of {r.created:,} completed callbacks came")
    if r.hangup_errors:
        problems.append(f"{r.hangup_errors} hang-up requests failed")
    if app.get("unexpected"):
        problems.append(f"{app['unexpected']} webhooks out of the script's order")
    for problem in problems:
        print(f"  NOT VALID: {problem}")


def _num(value: float, unit: str) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.1f} {unit}"


def _pair(times: list[float]) -> str:
    ordered = sorted(times)
    return f"{percentile(ordered, 0.5) * 1000:,.0f} / {percentile(ordered, 0.99) * 1000:,.0f} ms"


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


# -- main ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add("--calls", type=int, default=TARGET, help=f"calls held at once (default {TARGET})")
    add("--hold", type=float, default=60.0, help="seconds all calls are held (default 60)")
    add("--cps", type=float, default=100.0, help="calls created (and started) a second (default 100)")
    add("--press", choices=["alternate", "always", "never"], default="alternate",
        help="what the phones press at each Gather (default alternate: 1, nothing, 1, …)")  # fmt: skip
    add("--time-scale", type=float, default=1.0, help="the server's TELEPHONIST_TIME_SCALE (default 1)")
    add("--db", help="the server's database URL (default: SQLite in a temporary folder)")
    add("--postgres", action="store_true", help="a PostgreSQL cluster of the benchmark's own")
    add("--connections", type=int, default=16, help="REST connections of the load generator (default 16)")
    add("--ramp-timeout", type=float, default=120.0, help="seconds past the creates to reach N (120)")
    add("--url", help="a running server (or load balancer) instead of one of ours")
    add("--sid", help="its account SID (with --url)")
    add("--token", help="its auth token (with --url)")
    add("--server-pid", type=int, action="append", default=[],
        help="with --url: a server process here to measure (CPU, memory); may be repeated")  # fmt: skip
    add("--from", dest="from_", default=FROM, help=f"the calls' From, a number of the account ({FROM})")
    add("--app-host", default="127.0.0.1", help="the address the server reaches the app at")
    add("--quick", action="store_true", help="a smoke run: 300 calls held 15 s")
    add("--profile", metavar="FILE", help="py-spy records our server during the hold (FILE.svg, .json)")
    args = ap.parse_args(argv)
    if args.quick:
        args.calls, args.hold = 300, 15.0
    if not 1 <= args.calls <= 100_000 or args.hold < 0 or args.cps <= 0:
        ap.error("--calls must be 1-100,000, --hold not negative, --cps above 0")
    if not 1 <= args.connections <= 256 or not 0 < args.time_scale <= 100:
        ap.error("--connections must be 1-256, --time-scale above 0 and at most 100")
    if args.url and not (args.sid and args.token):
        ap.error("--url needs --sid and --token")
    if args.url and (args.db or args.postgres or args.profile):
        ap.error("--db, --postgres and --profile are for a server of ours, not with --url")
    if args.db and args.postgres:
        ap.error("--db or --postgres, not both")
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if args.profile and py_spy is None:
        ap.error("--profile needs py-spy (pip install py-spy)")
    return args


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["app"]:
        return app_main(argv[1:])
    args = parse_args(argv)
    if missing := [m for m in ("telephonist", "uvicorn") if importlib.util.find_spec(m) is None]:
        print(f"{sys.executable} cannot import {', '.join(missing)}: pip install -e .[test]", file=sys.stderr)
        return 2
    if (load := os.getloadavg()[0]) > 0.5:
        print(f"note: the machine is busy (load {load:.1f}): figures will be noisy", file=sys.stderr)
    raise_file_limit()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below still runs
    try:
        with (
            tempfile.TemporaryDirectory(prefix="telephonist-calls-bench-") as tmpdir,
            contextlib.ExitStack() as stack,
        ):
            tmp = Path(tmpdir)

            def start(label: str, cmd: list[str], cpu: int | None, env: dict[str, str] | None = None) -> Proc:
                prefix = pin(cpu) if cpu is not None and not args.url else []
                proc = Proc(label, prefix + cmd, tmp / f"{label.replace(' ', '-')}.log", env)
                stack.callback(proc.stop)
                return proc

            app_port = free_port()
            bind = "127.0.0.1" if args.app_host == "127.0.0.1" else "0.0.0.0"
            app_cmd = [sys.executable, __file__, "app", "--host", bind, "--port", str(app_port)]
            app_proc = start("app", app_cmd + ["--time-scale", str(args.time_scale)], 1)
            app_url = f"http://{args.app_host}:{app_port}"
            wait_http(app_proc, f"http://127.0.0.1:{app_port}/stats")
            store = "external server"
            if args.url:
                target = Target(args.url.rstrip("/"), args.sid, args.token, pids=args.server_pid)
            else:
                db = args.db or f"sqlite:///{tmp}/bench.db"
                db_procs: list[int] = []
                if args.postgres:
                    sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
                    from pgserver import PgServer

                    say("  starting a PostgreSQL cluster")
                    pg = PgServer()
                    stack.callback(pg.stop)
                    db, db_procs = pg.new_database(), [pg.proc.pid]
                store = "SQLite" if db.startswith("sqlite") else "PostgreSQL"
                account_sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
                port = free_port()
                env = {
                    **os.environ,
                    "TELEPHONIST_ACCOUNT_SID": account_sid,
                    "TELEPHONIST_AUTH_TOKEN": token,
                    "TELEPHONIST_TIME_SCALE": str(args.time_scale),
                    "TELEPHONIST_LOG_LEVEL": "warning",
                    "TELEPHONIST_CALLS_PER_SECOND": str(args.cps),
                    "TELEPHONIST_API_CONCURRENCY": str(max(100, 4 * args.connections)),
                }
                exe = shutil.which("telephonist", path=str(Path(sys.executable).parent))
                cmd = [exe] if exe else [sys.executable, "-m", "telephonist"]
                cmd += ["serve", "--host", "127.0.0.1", "--port", str(port), "--db", db]
                server = start("Telephonist", cmd, 0, env)
                target = Target(
                    f"http://127.0.0.1:{port}", account_sid, token, server, [server.pid], db_procs
                )
                auth = "Basic " + base64.b64encode(f"{account_sid}:{token}".encode()).decode()
                wait_http(server, f"{target.base}{API}/Accounts/{account_sid}.json", auth, timeout=60)
            if pin(1) and not args.url:
                os.sched_setaffinity(0, {1})
            result = asyncio.run(run(target, app_url, app_proc, args))
            if target.server is not None:
                problems = [
                    line
                    for line in target.server.output().splitlines()
                    if re.search(r" (WARNING|ERROR|CRITICAL) ", line)
                ]
                if problems:
                    say(f"  server warnings and errors: {len(problems)}")
                    say("\n".join(f"    {line}" for line in problems[-8:]))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.TimeoutExpired, httpx.HTTPError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    report(result, args, store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
