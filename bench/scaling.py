"""Scaling benchmark: messages/s end to end on PostgreSQL with one engine node, then with two.

Everything runs on this machine, on 127.0.0.1:

* a PostgreSQL cluster of its own (tests/pgserver.py: initdb in a temporary folder, a free port, fsync
  off), with a fresh migrated database for each run;
* two layouts (--layout, both by default):
  - `all`: 1, then 2, nodes of the default role (`telephonist serve --role all`), each taking creates
    and sending: adding a node adds both halves, as adding a machine would;
  - `split`: --apis API nodes (`--role api`, default 2) taking the creates, and 1, then 2, engine nodes
    (`--role engine`): only the engines are added;
  either way the engines send the messages to the simulated network, take their delivery receipts and
  send the status callbacks, share the work through the database (`FOR UPDATE SKIP LOCKED`), and are
  woken by NOTIFY from the nodes that take creates;
* the status-callback app of bench/sms_peers.py, which records when each `delivered` callback arrives;
* this process, the load generator: POST /Messages.json (To=+4477…, From=+15005550006 allowed 1,000,000
  segments a second, StatusCallback) over --connections keep-alive connections spread over the nodes
  that take creates.

Messages/s runs from the first create sent to the last `delivered` callback received; latency is each
message's callback arrival minus its create's sending. The scaling ratio is the two-engine rate over the
one-engine rate; the target (issue P6) is >= 1.3. On a two-core machine PostgreSQL, the API nodes, the
callback app and the load generator share the cores with the engines: the CPU each process used over the
run is printed, so that one can see how far the limit is the machine rather than the design. In the split
layout two API nodes and PostgreSQL already take most of the machine with one engine, so a second engine
has little CPU left to use; the `all` layout is the one a second machine would give.

It is a measurement, not a test: it exits 0 whether or not the target is met (1 when it cannot run).

Run from the repository root with the project's venv:
    python bench/scaling.py                          # both layouts, 5,000 messages per run
    python bench/scaling.py --layout all --messages 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from procs import Proc, free_port, http, percentile, wait_http
from sms import FROM, PEERS, await_delivered, create_messages

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pgserver import PgServer  # noqa: E402  (the tests' own PostgreSQL server)

TARGET_RATIO = 1.3


def run(
    pg: PgServer, layout: str, engines: int, args: argparse.Namespace, tmp: Path, callbacks: str, cb: Proc
) -> dict[str, float]:
    """One run on a fresh database: its rate, latencies and each process's CPU share."""
    account_sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    auth = "Basic " + base64.b64encode(f"{account_sid}:{token}".encode()).decode()
    db = pg.new_database()
    env = {
        **os.environ,
        "TELEPHONIST_ACCOUNT_SID": account_sid,
        "TELEPHONIST_AUTH_TOKEN": token,
        "TELEPHONIST_LOG_LEVEL": "warning",
        "TELEPHONIST_SENDER_MPS": json.dumps({FROM: 1_000_000}),
    }
    procs: list[Proc] = []
    try:

        def node(role: str, n: int) -> tuple[Proc, int]:
            port = free_port()
            cmd = [sys.executable, "-m", "telephonist", "serve", "--host", "127.0.0.1", "--port", str(port)]
            cmd += ["--db", db, "--role", role, "--node-id", f"{role}-{n}"]
            proc = Proc(f"{role} {n}", cmd, tmp / f"{layout}-{role}-{n}-{engines}.log", env)
            procs.append(proc)
            wait_http(proc, f"http://127.0.0.1:{port}/readyz", timeout=60)
            return proc, port

        if layout == "split":
            for n in range(1, engines + 1):
                node("engine", n)
            ports = [node("api", n)[1] for n in range(1, args.apis + 1)]
        else:  # nodes of role `all`: each takes creates and sends
            ports = [node("all", n)[1] for n in range(1, engines + 1)]
        http("POST", callbacks + "/reset", b"")
        cpu0 = {p.label: p.cpu_seconds() for p in procs}
        cpu0["PostgreSQL"] = pg_cpu(pg)
        cpu0["callback app"] = cb.cpu_seconds()
        own0 = time.process_time()
        creating = create_messages(
            ports, auth, account_sid, callbacks + "/status", args.messages, args.connections, 0.0
        )
        sent, start, _last, errors = asyncio.run(asyncio.wait_for(creating, args.timeout))
        mine = await_delivered(callbacks, sent, args.timeout, procs)
        end = max(mine.values(), default=time.monotonic())
        seconds = max(1e-9, end - start)
        cpu = {p.label: (p.cpu_seconds() - cpu0[p.label]) / seconds for p in procs}
        cpu["PostgreSQL"] = (pg_cpu(pg) - cpu0["PostgreSQL"]) / seconds
        cpu["callback app"] = (cb.cpu_seconds() - cpu0["callback app"]) / seconds
        cpu["load generator"] = (time.process_time() - own0) / seconds
        latencies = sorted((mine[sid] - sent[sid]) * 1000 for sid in mine)
        return {
            "rate": len(mine) / seconds,
            "delivered": len(mine),
            "errors": errors,
            "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99),
            **{f"cpu {k}": v for k, v in cpu.items()},
        }
    finally:
        for proc in procs:
            proc.stop()


def pg_cpu(pg: PgServer) -> float:
    """CPU seconds of the PostgreSQL server and all its backends so far (live and finished)."""
    from procs import cpu_seconds

    postmaster = int((pg.dir / "data" / "postmaster.pid").read_text().split()[0])
    children = [int(p) for p in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()]
    return cpu_seconds(postmaster, children=True) + sum(cpu_seconds(c) for c in children)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=5000, help="messages per run (default 5000)")
    ap.add_argument(
        "--layout", choices=("all", "split", "both"), default="both", help="which layouts (default both)"
    )
    ap.add_argument("--apis", type=int, default=2, help="API nodes of the split layout (default 2)")
    ap.add_argument("--connections", type=int, default=16, help="HTTP connections creating (default 16)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per figure, median reported (default 1)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds a run may last (default 300)")
    args = ap.parse_args(argv)
    if (load := os.getloadavg()[0]) > 0.5:
        print(f"note: the machine is busy (load {load:.1f}): figures will be noisy", file=sys.stderr)
    layouts = ("all", "split") if args.layout == "both" else (args.layout,)
    results: dict[tuple[str, int], list[dict[str, float]]] = {(lay, e): [] for lay in layouts for e in (1, 2)}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="telephonist-scaling-") as tmpdir,
            contextlib.ExitStack() as stack,
        ):
            tmp = Path(tmpdir)
            pg = PgServer()
            stack.callback(pg.stop)
            cb_port = free_port()
            cb = Proc(
                "callback app",
                [sys.executable, str(PEERS), "callbacks", "--port", str(cb_port)],
                tmp / "cb.log",
            )
            stack.callback(cb.stop)
            cb.wait_for(r"^READY")
            for n in range(1, args.rounds + 1):
                for layout in layouts:
                    for engines in (1, 2) if n % 2 else (2, 1):
                        print(
                            f"  round {n}/{args.rounds}: {layout}, {engines} engine(s)",
                            file=sys.stderr,
                            flush=True,
                        )
                        results[layout, engines].append(
                            run(pg, layout, engines, args, tmp, f"http://127.0.0.1:{cb_port}", cb)
                        )
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, OSError, TimeoutError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    median = {k: sorted(runs, key=lambda r: r["rate"])[len(runs) // 2] for k, runs in results.items()}
    print(
        f"\nmessages end to end on PostgreSQL, {args.messages:,} a run, {os.cpu_count()} CPUs, "
        f"median of {args.rounds} round(s)"
    )
    for layout in layouts:
        title = "nodes of role all" if layout == "all" else f"{args.apis} API nodes + engine nodes"
        print(f" {title}:")
        for engines in (1, 2):
            r = median[layout, engines]
            cpu = ", ".join(f"{k[4:]} {v:.2f}" for k, v in r.items() if k.startswith("cpu "))
            print(
                f"  {engines} engine(s): {r['rate']:7.0f} msg/s  p50 {r['p50']:6.0f} ms  "
                f"p99 {r['p99']:6.0f} ms  delivered {r['delivered']:.0f}, errors {r['errors']:.0f}\n"
                f"      CPU (cores): {cpu}, in all {sum(v for k, v in r.items() if k.startswith('cpu ')):.2f}"
            )
        one, two = median[layout, 1]["rate"], median[layout, 2]["rate"]
        ratio = two / one if one else 0.0
        verdict = "meets" if ratio >= TARGET_RATIO else "below"
        print(f"  scaling 1 -> 2 engines: {ratio:.2f}x (target >= {TARGET_RATIO}x: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
