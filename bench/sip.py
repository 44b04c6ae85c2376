"""Voice over SIP benchmark: SIPp calling Telephonist over loopback UDP, beside SIPp calling SIPp.

Two figures, each beside its ceiling (the same SIPp caller against a SIPp answerer in Telephonist's
place, on the same core):

* call rate: SIPp (bench/sip/uac.xml) calls the platform number +15005550006 through a trunk at R
  calls/s for --calls calls a step (default: --step-seconds of calls at each rate); the number's VoiceUrl
  is the built-in message twimlet (served in process), a <Say> of about two seconds, after which the
  platform hangs up (BYE). Rates are stepped up (--rates) until a step has a failed call; the figure is
  the highest rate with none: SIPp's exit status 0 and its statistics (-trace_stat) counting every call
  successful and none failed. Each step also shows the INVITE -> 200 OK time (p50/p99, -trace_rtt), the
  mean call length, the server's CPU per call, and the pacing of the calls' audio at the RTP sink (see
  below: the worst stream's mean jitter, and its packets short of one every 20 ms from its first to its
  last). SIPp waits for the answer and the BYE as long as they take, so an overloaded server stretches
  its calls rather than failing them: a second line reports the highest rate that also kept pace, its
  answer p99 <= 1 s and every call's audio with a mean jitter under 5 ms. Ceiling: bench/sip/uas.xml
  answers, waits as long as Telephonist's audio lasted and hangs up (--ceiling-rates).
* concurrent calls with media: SIPp (bench/sip/uac_media.xml) opens N calls at --ramp calls/s, each of
  which stays --duration seconds and hangs up. The VoiceUrl (the echo twimlet) is <Say loop="0">, so
  the platform sends 20 ms RTP packets the whole call. Every call's SDP names one UDP sink of the
  benchmark's own (this file run as `sink`, in its own process, on uvloop, with kernel receive times:
  SO_TIMESTAMPNS) that groups packets by SSRC. Over the steady part of a step (from 2 s after the last
  stream started to 2 s before the first call ends) it computes per stream the RFC 3550 §6.4.1
  interarrival jitter (in ms), the gaps between packets (p50/p99/max) and the packets received against
  the 50 a second expected. A step passes when SIPp counts no failed call, all N streams span the steady
  part, every stream's mean jitter is under 5 ms and none lost more than 1 % of its packets. N is stepped
  up (--concurrency) until a step fails; the figure is the highest N that passed, with Telephonist's CPU
  per call (utime + stime from /proc over the steady part, divided by N). Ceiling: bench/sip/uas_media.xml
  answers and streams G.711 itself with SIPp's RTPSTREAM (exec rtp_stream, a looped u-law file) to the
  same sink, measured the same way, its steps (--ceiling-concurrency) tried from the largest down until
  one passes. SIPp's streams are cheap (a few hundredths of a core each); what limits them is the timing
  of its RTP threads, so this ceiling is one of pacing more than of CPU.

Each part starts with a few discarded warm-up calls (the first <Say> is synthesized then); the warm-up
of the call-rate part also measures how long the platform's audio lasts, the ceiling answerer's wait.

Targets (the issue's acceptance criteria, a 2-core machine): >= 50 calls/s and >= 200 concurrent calls
with media (jitter under 5 ms). It is a measurement, not a test: it exits 0 whether or not the targets
are met (1 when it cannot run).

With two or more CPUs the Telephonist server (and, in the ceiling runs, the answering SIPp) is pinned to
CPU 0; the calling SIPp, the RTP sink and this process to CPU 1. The server is one `telephonist serve`
with a fresh SQLite database, log level warning, SIP on a free loopback port with the trunk
127.0.0.1; uvicorn runs it on uvloop when uvloop is installed. The VoiceUrl is set through the REST API.
Pinning keeps nothing else off those cores: each step shows the cores that other processes took
meanwhile (`others`: the machine's busy time from /proc/stat less this process tree's CPU), and the
report says when they were enough to disturb the figures.

Run from the repository root (needs telephonist importable and SIPp: apt-get install sip-tester):
    python bench/sip.py                               # both parts, about 13 minutes
    python bench/sip.py --quick                       # a smoke run: low steps, 20 s calls, ~2 minutes
    python bench/sip.py --only rate --rates 20,40,60,80 --step-seconds 20
    python bench/sip.py --only media --concurrency 100,200,300 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import csv
import importlib.util
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from procs import Proc, cpu_seconds, free_port, free_udp_port, http, percentile, pin, wait_http

BENCH_DIR = Path(__file__).resolve().parent
SCENARIOS = BENCH_DIR / "sip"
API = "/2010-04-01"
NUMBER = "+15005550006"  # the default account's number
PROMPT = "Thank you for calling. Goodbye."  # about two seconds of espeak-ng
LONG_PROMPT = (
    "This is the benchmark speaking. Every caller hears these words over and over again, twenty "
    "milliseconds of audio at a time, until the caller hangs up."
)
TARGET_RATE, TARGET_CALLS = 50.0, 200
MAX_JITTER_MS, MAX_LOSS = 5.0, 0.01  # a stream's mean jitter, the share of its packets missing
MAX_ANSWER_P99_MS = 1000.0  # INVITE -> 200 OK, for a rate step to count as keeping pace
PTIME = 0.020  # seconds of audio a packet
SETTLE = 2.0  # seconds left out at each end of a media step's steady part
MIN_WINDOW = 10.0  # seconds of steady part below which a media step is not valid
NOISY = 0.10  # cores that other processes may take during a step before its figures are called disturbed
AUDIO_FILE = "bench-audio.ulaw"  # the ceiling's RTP payload, in SIPp's working directory
SO_TIMESTAMPNS = 35  # Linux (asm-generic/socket.h): each datagram's receive time, a CLOCK_REALTIME timespec
SOCKET_BUFFER = 4 * 1024 * 1024


# -- processes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    at: float  # time.monotonic()
    busy: float  # seconds all CPUs were busy since boot
    ours: float  # CPU seconds of this process and all it started


class Others:
    """The CPU that processes other than the benchmark's take (a shared machine's tests, say): the time
    all CPUs were busy (/proc/stat) less what this process and everything it started used."""

    def __init__(self) -> None:
        self.live: list[subprocess.Popen[Any]] = []  # started and not yet waited for

    def mark(self, *extra: subprocess.Popen[Any]) -> Mark:
        with contextlib.suppress(OSError, ValueError):
            f = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
            busy = (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / os.sysconf("SC_CLK_TCK")  # not idle, iowait
            t = os.times()
            ours = t.user + t.system + t.children_user + t.children_system
            ours += sum(
                cpu_seconds(p.pid, children=True) for p in [*self.live, *extra] if p.returncode is None
            )
            return Mark(time.monotonic(), busy, ours)
        return Mark(time.monotonic(), math.nan, math.nan)

    @staticmethod
    def cores(a: Mark, b: Mark) -> float:
        """Cores the others used on average from `a` to `b`."""
        return max(0.0, (b.busy - a.busy) - (b.ours - a.ours)) / (b.at - a.at) if b.at > a.at else math.nan


class Server(Proc):
    """`telephonist serve` with SIP on, and what the benchmark asks of it."""

    def __init__(self, tmp: Path, account_sid: str, token: str) -> None:
        self.http_port, self.sip_port = free_port(), free_udp_port()
        self.base = f"http://127.0.0.1:{self.http_port}{API}/Accounts/{account_sid}"
        self.auth = "Basic " + base64.b64encode(f"{account_sid}:{token}".encode()).decode()
        self.db = tmp / "bench.db"
        env = {
            **os.environ,
            "TELEPHONIST_ACCOUNT_SID": account_sid,
            "TELEPHONIST_AUTH_TOKEN": token,
            "TELEPHONIST_LOG_LEVEL": "warning",
            "TELEPHONIST_SIP_PORT": str(self.sip_port),
            "TELEPHONIST_SIP_TRUNKS": json.dumps([{"name": "bench", "host": "127.0.0.1"}]),
        }
        script = Path(sys.executable).with_name("telephonist")
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "telephonist"]
        cmd += ["serve", "--host", "127.0.0.1", "--port", str(self.http_port), "--db", f"sqlite:///{self.db}"]
        super().__init__("Telephonist", pin(0) + cmd, tmp / "telephonist.log", env)
        self.log_seen = 0  # characters of the log already looked at for problems
        wait_http(self, f"{self.base}.json", self.auth)

    def set_voice_url(self, url: str) -> None:
        status, body = http(
            "GET", f"{self.base}/IncomingPhoneNumbers.json?PhoneNumber={quote(NUMBER)}", None, self.auth
        )
        numbers = json.loads(body).get("incoming_phone_numbers") if status == 200 else None
        if not numbers:
            raise RuntimeError(f"cannot find {NUMBER} ({status}): {body[:300]!r}")
        form = urlencode({"VoiceUrl": url, "VoiceMethod": "POST"}).encode()
        status, body = http(
            "POST", f"{self.base}/IncomingPhoneNumbers/{numbers[0]['sid']}.json", form, self.auth
        )
        if status != 200:
            raise RuntimeError(f"setting the VoiceUrl answered {status}: {body[:300]!r}")

    def problems(self) -> list[str]:
        """The log's WARNING/ERROR/CRITICAL lines (and tracebacks) written since the last call."""
        text = self.output()
        new, self.log_seen = text[self.log_seen :], len(text)
        return [
            line
            for line in new.splitlines()
            if re.search(r" (WARNING|ERROR|CRITICAL) |^Traceback|Error", line)
        ]

    def calls_by_status(self) -> dict[str, int]:
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(f"{self.db.as_uri()}?mode=ro", uri=True)) as conn,
        ):
            return dict(conn.execute("SELECT status, count(*) FROM calls GROUP BY status").fetchall())
        return {}


# -- the RTP sink (this file run as `sink`, in its own process) ---------------------------------------------


class Stream:
    """One SSRC's packets: kernel receive times (CLOCK_REALTIME seconds), RTP timestamps, sequence numbers."""

    __slots__ = ("at", "ts", "seq")

    def __init__(self) -> None:
        self.at = array("d")
        self.ts = array("I")
        self.seq = array("H")


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped on our socket (its receive buffer full): /proc/net/udp's last column."""
    local = f"0100007F:{port:04X}"
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[1] == local:
                return int(cols[-1])
    return 0


def media_report(streams: dict[bytes, Stream], t0: float, t1: float) -> dict[str, Any]:
    """Each stream's packets received between t0 and t1 (receive times): RFC 3550 §6.4.1 jitter (the
    estimator runs from the stream's first packet; its values at the packets of the window are averaged),
    gaps between consecutive packets, packets against one every PTIME over the part of the window the
    stream spans, sequence numbers missing."""
    rate = 1 / PTIME
    gaps: list[float] = []
    per: list[tuple[float, float, float]] = []  # mean jitter, max jitter, shortfall (samples, samples, share)
    covering = packets = seq_lost = 0
    expected_total = 0.0
    for s in streams.values():
        at, ts, seq = s.at, s.ts, s.seq
        if not at or at[-1] < t0 or at[0] > t1:
            continue
        j = jsum = jmax = 0.0
        count, lo, hi = 0, -1, -1
        for i in range(len(at)):
            a = at[i]
            if i:
                step = (ts[i] - ts[i - 1]) & 0xFFFFFFFF
                if step >= 0x80000000:
                    step -= 0x100000000
                d = (a - at[i - 1]) * 8000.0 - step  # transit difference, in timestamp units (8 kHz)
                j += (abs(d) - j) / 16.0
            if a < t0:
                continue
            if a > t1:
                break
            if lo < 0:
                lo = i
            elif at[i - 1] >= t0:
                gaps.append(a - at[i - 1])
            hi = i
            count += 1
            jsum += j
            jmax = max(jmax, j)
        if count == 0:
            continue
        expected = max(1.0, (min(t1, at[-1]) - max(t0, at[0])) * rate)
        covering += at[0] <= t0 and at[-1] >= t1
        packets += count
        expected_total += expected
        seq_lost += ((seq[hi] - seq[lo]) & 0xFFFF) + 1 - count
        per.append((jsum / count, jmax, max(0.0, 1 - count / expected)))
    gaps.sort()
    ms = 1000.0
    return {
        "streams": len(per),
        "covering": covering,
        "packets": packets,
        "expected": round(expected_total),
        "jitter_mean_ms": sum(p[0] for p in per) / len(per) / 8 if per else math.nan,
        "jitter_worst_mean_ms": max((p[0] for p in per), default=math.nan) / 8,
        "jitter_max_ms": max((p[1] for p in per), default=math.nan) / 8,
        "loss_worst": max((p[2] for p in per), default=math.nan),
        "loss_total": max(0.0, 1 - packets / expected_total) if expected_total else math.nan,
        "seq_lost": seq_lost,
        "gap_p50_ms": percentile(gaps, 0.50) * ms,
        "gap_p99_ms": percentile(gaps, 0.99) * ms,
        "gap_max_ms": (gaps[-1] if gaps else math.nan) * ms,
        "gaps_over_40ms": sum(1 for g in gaps if g > 0.040),
        "gaps": len(gaps),
    }


async def run_sink(port: int) -> None:
    """Receive RTP on 127.0.0.1:`port`; answer commands read from stdin, one JSON line each on stdout:
    `reset`, `status` (streams heard in the last 0.5 s, the first packet's time), `report T0 T1` (times
    are CLOCK_MONOTONIC, which all processes share)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        kernel_times = True
    except OSError:
        kernel_times = False
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)
    streams: dict[bytes, Stream] = {}
    timespec = struct.Struct("=qq")
    recvmsg, now = sock.recvmsg, time.time
    counts = {"junk": 0, "drops_at_reset": udp_drops(port)}

    def readable() -> None:
        for _ in range(256):  # then let the loop read stdin too
            try:
                data, ancillary, _flags, _addr = recvmsg(2048, 64)
            except BlockingIOError:
                return
            if len(data) < 12 or data[0] >> 6 != 2 or 72 <= data[1] & 0x7F <= 76:  # not RTP, or RTCP
                counts["junk"] += 1
                continue
            if ancillary:
                sec, nsec = timespec.unpack_from(ancillary[0][2])
                at = sec + nsec * 1e-9
            else:
                at = now()
            s = streams.get(ssrc := data[8:12])
            if s is None:
                s = streams[ssrc] = Stream()
            s.at.append(at)
            s.ts.append(int.from_bytes(data[4:8], "big"))
            s.seq.append(int.from_bytes(data[2:4], "big"))

    loop.add_reader(sock.fileno(), readable)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(f"READY port={port} kernel_times={kernel_times}", flush=True)
    while line := await reader.readline():
        cmd, *params = line.decode().split()
        offset = time.time() - time.monotonic()  # realtime minus monotonic
        out: dict[str, Any]
        if cmd == "reset":
            streams.clear()
            counts.update(junk=0, drops_at_reset=udp_drops(port))
            out = {}
        elif cmd == "status":
            recent = now() - 0.5
            firsts = [s.at[0] for s in streams.values() if s.at]
            out = {
                "active": sum(1 for s in streams.values() if s.at and s.at[-1] >= recent),
                "streams": len(streams),
                "packets": sum(len(s.at) for s in streams.values()),
                "first": min(firsts) - offset if firsts else None,
            }
        elif cmd == "report":
            out = media_report(streams, float(params[0]) + offset, float(params[1]) + offset)
        else:
            out = {"error": f"unknown command {cmd!r}"}
        out |= {"junk": counts["junk"], "drops": udp_drops(port) - counts["drops_at_reset"]}
        out["kernel_times"] = kernel_times
        print(json.dumps(out), flush=True)
    loop.remove_reader(sock.fileno())
    sock.close()


def sink_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="sip.py sink", description="the RTP sink of bench/sip.py")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_sink(args.port))
    return 0


class Sink:
    """The sink process, driven through its stdin and stdout."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_udp_port() & ~1
        self.errors = tmp / "sink.log"
        cmd = pin(1) + [sys.executable, str(Path(__file__).resolve()), "sink", "--port", str(self.port)]
        with self.errors.open("wb") as err:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1
            )
        ready = self._line()
        if not ready.startswith("READY"):
            raise RuntimeError(f"the RTP sink did not start: {ready!r} {self.errors.read_text()[-2000:]}")
        self.kernel_times = "kernel_times=True" in ready

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the RTP sink exited ({self.proc.poll()}): {self.errors.read_text()[-2000:]}")
        return line

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return dict(json.loads(self._line()))

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- SIPp ---------------------------------------------------------------------------------------------------


@dataclass
class Sipp:
    """What one SIPp caller reported: its exit status, the last line of its -trace_stat file, the INVITE ->
    200 OK time of each call (-trace_rtt) and the first lines of its error log."""

    returncode: int
    stats: dict[str, str]
    answer_ms: list[float]  # sorted
    errors: list[str]

    def count(self, name: str) -> int:
        with contextlib.suppress(ValueError):
            return int(self.stats.get(f"{name}(C)") or 0)
        return 0

    @property
    def successful(self) -> int:
        return self.count("SuccessfulCall")

    @property
    def failed(self) -> int:
        return self.count("FailedCall")

    @property
    def failures(self) -> dict[str, int]:
        """The kinds of failure SIPp counted (FailedTimeoutOnRecv, FailedUnexpectedMessage, …)."""
        kinds = sorted({k[:-3] for k in self.stats if k.startswith("Failed") and k.endswith("(C)")})
        return {k: n for k in kinds if k != "FailedCall" and (n := self.count(k))}

    @property
    def call_length(self) -> float:
        """Mean seconds from the INVITE to the end of a call, its last wait included."""
        return hms(self.stats.get("CallLength(C)", ""))

    def ok(self, calls: int) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.successful == calls


def hms(text: str) -> float:
    """SIPp's HH:MM:SS:uuuuuu as seconds."""
    parts = text.split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return math.nan
    h, m, s, us = (int(p) for p in parts)
    return h * 3600 + m * 60 + s + us / 1e6


def sipp_command(workdir: Path, scenario: str, cpu: int) -> list[str]:
    """SIPp on free loopback ports, its statistics each second and its unexpected messages in `workdir`."""
    cmd = pin(cpu) + ["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(free_udp_port())]
    cmd += ["-mp", str(free_udp_port() & ~1), "-cp", str(free_udp_port()), "-nostdin"]
    cmd += ["-buff_size", str(SOCKET_BUFFER), "-trace_stat", "-stf", str(workdir / "stats.csv"), "-fd", "1"]
    cmd += ["-trace_err", "-error_file", str(workdir / "errors.log")]
    return cmd


class Caller(Proc):
    """SIPp calling NUMBER: `calls` calls at `rate` a second, each call's RTP offer naming `rtp_port`."""

    def __init__(
        self, workdir: Path, scenario: str, target_port: int, rtp_port: int, rate: float, calls: int,
        limit: int, pause_ms: int = 0,
    ) -> None:  # fmt: skip
        self.workdir = workdir
        self.timeout = calls / rate + pause_ms / 1000 + 90  # SIPp's own: it gives up and exits 1
        workdir.mkdir(parents=True, exist_ok=True)
        cmd = sipp_command(workdir, scenario, 1) + ["-s", NUMBER, "-key", "rtpport", str(rtp_port)]
        cmd += ["-r", f"{rate:g}", "-m", str(calls), "-l", str(limit), "-trace_rtt", "-rtt_freq", "1"]
        cmd += ["-timeout", f"{math.ceil(self.timeout)}s", "-timeout_error"]
        cmd += ["-d", str(pause_ms)] if pause_ms else []
        super().__init__("SIPp caller", [*cmd, f"127.0.0.1:{target_port}"], workdir / "sipp.out", cwd=workdir)

    def finish(self) -> Sipp:
        try:
            self.proc.wait(timeout=self.timeout + 30)
        except subprocess.TimeoutExpired:
            self.stop()
        stats: dict[str, str] = {}
        with contextlib.suppress(OSError), (self.workdir / "stats.csv").open(newline="") as f:
            rows = [row for row in csv.reader(f, delimiter=";") if row]
            stats = dict(zip(rows[0], rows[-1], strict=False)) if len(rows) > 1 else {}
        answer_ms = []  # Date_ms;response_time_ms;rtd_no
        for path in self.workdir.glob("*_rtt.csv"):
            for line in path.read_text().splitlines()[1:]:
                cols = line.split(";")
                if len(cols) >= 3 and cols[2].strip() == "1":
                    answer_ms.append(float(cols[1]))
        log = self.workdir / "errors.log"
        errors = log.read_text(errors="replace").splitlines()[:12] if log.exists() else []
        if not stats:
            errors = self.tail(8).splitlines() + errors
        return Sipp(self.proc.returncode, stats, sorted(answer_ms), errors)


def start_answerer(workdir: Path, scenario: str, pause_ms: int = 0) -> tuple[Proc, int]:
    """SIPp in Telephonist's place (CPU 0), answering every call: the process and its SIP port."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = sipp_command(workdir, scenario, 0)
    port = int(cmd[cmd.index("-p") + 1])
    cmd += ["-d", str(pause_ms)] if pause_ms else []
    proc = Proc("SIPp answerer", cmd, workdir / "sipp.out", cwd=workdir)
    time.sleep(0.3)  # bound and listening
    if proc.proc.poll() is not None:
        raise RuntimeError(f"the SIPp answerer exited with {proc.proc.returncode}:\n{proc.tail()}")
    return proc, port


def write_audio(path: Path, seconds: float = 2.0) -> None:
    """Raw G.711 u-law (what SIPp's rtp_stream sends as payload type 0): a 440 Hz tone."""
    from telephonist.media import g711

    tone = array(
        "h", (int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(int(seconds * 8000)))
    )
    path.write_bytes(g711.ulaw_encode(tone.tobytes()))


# -- the steps ----------------------------------------------------------------------------------------------


@dataclass
class Answering:
    """What the calls reach: Telephonist (`server`) or a SIPp answerer (`server` None), whose CPU counts."""

    label: str
    port: int
    proc: Proc
    server: Server | None = None


@dataclass
class RateStep:
    rate: float
    calls: int
    sipp: Sipp
    cpu: float  # CPU seconds of the answering side over the step
    media: dict[str, Any]  # the sink's report over the step (Telephonist's audio; the ceiling sends none)
    problems: list[str]  # the server's log lines of concern
    others: float  # cores other processes on the machine used meanwhile

    @property
    def passed(self) -> bool:
        return self.sipp.ok(self.calls)

    def answer(self, q: float) -> float:
        return percentile(self.sipp.answer_ms, q)

    @property
    def paced(self) -> bool:
        """No failed call, answered in time, every call's audio with a mean jitter under MAX_JITTER_MS (a
        loss criterion would be too harsh here: one stall of the sender is a large share of a short call)."""
        m = self.media
        audio = not m.get("streams") or m["jitter_worst_mean_ms"] < MAX_JITTER_MS
        return self.passed and self.answer(0.99) <= MAX_ANSWER_P99_MS and audio

    def describe(self) -> str:
        text = (
            f"{self.sipp.successful:,} ok, {self.sipp.failed:,} failed (exit {self.sipp.returncode}), answer "
            f"p50/p99 {self.answer(0.5):,.0f}/{self.answer(0.99):,.0f} ms, "
            f"call {self.sipp.call_length:.2f} s, "
            f"CPU {self.cpu / self.calls * 1000:.1f} ms a call, others on the machine {self.others:.2f} cores"
        )
        if self.media.get("streams"):
            text += f", RTP: {self.media['streams']:,} streams, worst mean jitter "
            text += f"{self.media['jitter_worst_mean_ms']:.2f} ms, loss worst {self.media['loss_worst']:.1%}"
        return text


@dataclass
class MediaStep:
    calls: int
    sipp: Sipp
    up: int  # most streams heard at once
    window: float  # seconds of the steady part
    cpu: float  # the answering side's CPU seconds over the steady part
    media: dict[str, Any]  # the sink's report over the steady part
    problems: list[str]
    others: float  # cores other processes on the machine used over the steady part

    @property
    def valid(self) -> bool:
        return self.window >= MIN_WINDOW and bool(self.media)

    @property
    def passed(self) -> bool:
        m = self.media
        return (
            self.valid
            and self.sipp.ok(self.calls)
            and m["covering"] == self.calls
            and m["jitter_worst_mean_ms"] < MAX_JITTER_MS
            and m["loss_worst"] <= MAX_LOSS
        )

    @property
    def cpu_per_call(self) -> float:
        """The share of a core each call took."""
        return self.cpu / self.window / self.calls if self.window > 0 else math.nan

    def describe(self) -> str:
        m = self.media
        if not self.valid:
            return (
                f"NOT VALID: a steady part of {self.window:.1f} s ({self.up} of {self.calls} streams at once)"
            )
        return (
            f"{self.sipp.successful:,} ok, {self.sipp.failed:,} failed (exit {self.sipp.returncode}); "
            f"{m['covering']} of {self.calls} streams over {self.window:.0f} s: jitter mean "
            f"{m['jitter_mean_ms']:.2f} ms, worst stream {m['jitter_worst_mean_ms']:.2f} ms; "
            "gaps p50/p99/max "
            f"{m['gap_p50_ms']:.1f}/{m['gap_p99_ms']:.1f}/{m['gap_max_ms']:.1f} ms; loss worst "
            f"{m['loss_worst']:.2%}; CPU {self.cpu_per_call:.2%} of a core a call; sink drops {m['drops']}; "
            f"others on the machine {self.others:.2f} cores"
        )


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path, sink: Sink, others: Others) -> None:
        self.args, self.tmp, self.sink, self.others = args, tmp, sink, others

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def _begin(self, to: Answering) -> None:
        self.sink.ask("reset")
        if to.server is not None:
            to.server.problems()  # what came before this step
        to.proc.settle()

    def rate_step(self, to: Answering, rate: float, calls: int) -> RateStep:
        self._begin(to)
        cpu0, mark0 = to.proc.cpu_seconds(), self.others.mark()
        # No limit on calls at once that SIPp would reach before the platform fails them.
        workdir = self.tmp / f"{to.label}-rate-{rate:g}"
        caller = Caller(workdir, "uac.xml", to.port, self.sink.port, rate, calls, max(100, int(rate * 60)))
        result = caller.finish()
        mark1 = self.others.mark()
        cpu = to.proc.cpu_seconds() - cpu0
        media = self.sink.ask(f"report {mark0.at} {mark1.at}")
        problems = to.server.problems() if to.server is not None else []
        return RateStep(rate, calls, result, cpu, media, problems, Others.cores(mark0, mark1))

    def rate_steps(self, to: Answering, rates: list[float]) -> list[RateStep]:
        """Each rate in turn until a step has a failed call."""
        steps: list[RateStep] = []
        for rate in rates:
            calls = self.args.calls or max(20, round(rate * self.args.step_seconds))
            self.say(f"  {to.label}: {rate:g} calls/s, {calls:,} calls")
            steps.append(step := self.rate_step(to, rate, calls))
            self.say(f"    {step.describe()}")
            if not step.passed:
                explain(step.sipp, step.problems, to.server)
                break
        return steps

    def media_step(self, to: Answering, n: int, ramp: float, duration: float) -> MediaStep:
        self._begin(to)
        started = time.monotonic()
        workdir = self.tmp / f"{to.label}-media-{n}"
        caller = Caller(workdir, "uac_media.xml", to.port, self.sink.port, ramp, n, n, round(duration * 1000))
        # All streams up: the steady part starts SETTLE seconds later and ends SETTLE seconds before the
        # first call hangs up (its stream began when it was answered, just before the caller's wait).
        deadline = started + n / ramp + 30
        up, first = 0, None
        while time.monotonic() < deadline and caller.proc.poll() is None:
            status = self.sink.ask("status")
            up, first = max(up, status["active"]), status["first"]
            if status["active"] >= n:
                break
            time.sleep(0.25)
        t0 = time.monotonic() + SETTLE
        t1 = (first if first is not None else started) + duration - SETTLE
        cpu = others = math.nan
        if t1 - t0 >= MIN_WINDOW:
            time.sleep(max(0.0, t0 - time.monotonic()))
            cpu0, mark0 = to.proc.cpu_seconds(), self.others.mark(caller.proc)
            time.sleep(max(0.0, t1 - time.monotonic()))
            cpu, others = to.proc.cpu_seconds() - cpu0, Others.cores(mark0, self.others.mark(caller.proc))
        result = caller.finish()
        media = self.sink.ask(f"report {t0} {t1}") if t1 > t0 else {}
        problems = to.server.problems() if to.server is not None else []
        return MediaStep(n, result, up, max(0.0, t1 - t0), cpu, media, problems, others)

    def media_steps(self, to: Answering, counts: list[int], ramp: float, until: bool) -> list[MediaStep]:
        """Each N in turn until a step's outcome is `until` (True: passed)."""
        steps: list[MediaStep] = []
        for n in counts:
            self.say(f"  {to.label}: {n:,} calls of {self.args.duration:g} s (opened at {ramp:g}/s)")
            steps.append(step := self.media_step(to, n, ramp, self.args.duration))
            self.say(f"    {step.describe()}")
            if not step.sipp.ok(n) or step.problems:
                explain(step.sipp, step.problems, to.server)
            if step.passed == until:
                break
        return steps


def explain(sipp: Sipp, problems: list[str], server: Server | None) -> None:
    """Why a step failed: SIPp's kinds of failure and first errors, the server's first log lines of concern
    and its calls by status."""
    out = [f"SIPp failures: {sipp.failures or '-'}; retransmissions {sipp.count('Retransmissions')}"]
    out += [f"SIPp: {line[:200]}" for line in sipp.errors[:8]]
    if server is not None:
        out.append(f"server's calls by status: {server.calls_by_status()}")
        out.append(f"server log lines of concern: {len(problems)}")
        out += [f"  {line[:240]}" for line in problems[:10]]
    print(*(f"    {line}" for line in out), sep="\n", file=sys.stderr)


# -- the report ----------------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW-TARGET"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def _rows(rows: list[tuple[str, str, str]], width: int) -> None:
    for label, value, note in rows:
        print(f"  {label:{width}}{value:>18}  {note}".rstrip())


def report_rate(rate: list[RateStep], ceiling: list[RateStep], prompt_seconds: float) -> None:
    print(f"\n  Call rate: calls of a {prompt_seconds:.1f} s <Say>, then the platform's BYE")
    head = f"{'calls/s':>8}{'calls':>7}{'failed':>7}{'answer p50/p99 ms':>19}{'call s':>8}{'CPU ms/call':>12}"
    print(f"  {'':16}{head}{'RTP jitter worst ms':>20}{'loss worst':>11}{'others':>8}")
    for label, steps in (("Telephonist", rate), ("ceiling (SIPp)", ceiling)):
        for s in steps:
            m = s.media
            jitter = f"{m['jitter_worst_mean_ms']:.2f}" if m.get("streams") else "-"
            loss = f"{m['loss_worst']:.1%}" if m.get("streams") else "-"
            answer = f"{s.answer(0.5):,.0f}/{s.answer(0.99):,.0f}"
            line = f"{s.rate:8g}{s.calls:7,}{s.calls - s.sipp.successful:7,}{answer:>19}"
            line += f"{s.sipp.call_length:8.2f}{s.cpu / s.calls * 1000:12.2f}{jitter:>20}{loss:>11}"
            line += f"{s.others:8.2f}"
            print(f"  {label:16}{line}")
    best = max((s.rate for s in rate if s.passed), default=0.0)
    paced = max((s.rate for s in rate if s.paced), default=0.0)
    top = max((s.rate for s in ceiling if s.passed), default=0.0)
    bound = bool(ceiling) and ceiling[-1].passed  # every step passed: the ceiling is higher still
    rows = [("Telephonist: highest rate, 0 failed calls", f"{best:g} calls/s", _verdict(best >= TARGET_RATE))]
    if rate and not rate[-1].passed:
        rows.append(
            ("  first failing step", f"{rate[-1].rate:g} calls/s", f"{rate[-1].sipp.failed:,} failed")
        )
    elif rate:
        rows.append(("  (no step failed: a lower bound)", "", ""))
    rows.append(
        ("  of those, answer p99 <= 1 s, audio paced", f"{paced:g} calls/s", _verdict(paced >= TARGET_RATE))
    )
    behind = next((s for s in rate if not s.paced), None)
    if behind is not None:
        why = f"answer p99 {behind.answer(0.99):,.0f} ms, call {behind.sipp.call_length:.1f} s"
        if behind.media.get("streams"):
            why += f", RTP worst mean jitter {behind.media['jitter_worst_mean_ms']:.1f} ms"
        rows.append(("  first step not keeping pace", f"{behind.rate:g} calls/s", why))
    rows += [
        (
            "ceiling: SIPp answering, 0 failed calls",
            f"{top:g} calls/s",
            "(every step passed)" if bound else "",
        ),
        ("ratio Telephonist / ceiling", _ratio(best, top), "(an upper bound)" if bound else ""),
        ("target", f">= {TARGET_RATE:g} calls/s", ""),
    ]
    _rows(rows, 44)


def report_media(media: list[MediaStep], ceiling: list[MediaStep], args: argparse.Namespace) -> None:
    print(
        f'\n  Concurrent calls with media: {args.duration:g} s calls, <Say loop="0">, 20 ms RTP to one sink'
    )
    head = f"{'calls':>6}{'failed':>7}{'streams':>8}{'jitter mean/worst ms':>22}{'gap p50/p99/max ms':>21}"
    print(f"  {'':16}{head}{'loss worst':>11}{'CPU/call':>9}{'others':>8}")
    for label, steps in (("Telephonist", media), ("ceiling (SIPp)", ceiling)):
        for s in steps:
            m = s.media
            if not s.valid:
                print(f"  {label:16}{s.calls:6,}  NOT VALID (steady part {s.window:.1f} s)")
                continue
            jitter = f"{m['jitter_mean_ms']:.2f}/{m['jitter_worst_mean_ms']:.2f}"
            gaps = f"{m['gap_p50_ms']:.1f}/{m['gap_p99_ms']:.1f}/{m['gap_max_ms']:.1f}"
            line = f"{s.calls:6,}{s.calls - s.sipp.successful:7,}{m['covering']:8,}{jitter:>22}{gaps:>21}"
            line += (
                f"{m['loss_worst']:11.2%}{s.cpu_per_call:9.2%}{s.others:8.2f}  {'ok' if s.passed else 'FAIL'}"
            )
            print(f"  {label:16}{line}")
    best = max((s for s in media if s.passed), key=lambda s: s.calls, default=None)
    top = max((s for s in ceiling if s.passed), key=lambda s: s.calls, default=None)
    b, c = best.calls if best else 0, top.calls if top else 0
    bound = top is not None and top is ceiling[0]  # the largest step tried passed: the ceiling is higher
    rows = [
        ("Telephonist: most calls, jitter < 5 ms, loss <= 1%", f"{b:,} calls", _verdict(b >= TARGET_CALLS))
    ]
    if media and not media[-1].passed:
        rows.append(("  first failing step", f"{media[-1].calls:,} calls", ""))
    elif media:
        rows.append(("  (no step failed: a lower bound)", "", ""))
    rows.append(("  its CPU per call", f"{best.cpu_per_call:.2%} of a core" if best else "-", ""))
    rows.append(("ceiling: SIPp sending the RTP", f"{c:,} calls", "(largest step tried)" if bound else ""))
    if top is not None:
        rows.append(("  SIPp's CPU per call", f"{top.cpu_per_call:.2%} of a core", ""))
    rows += [
        ("ratio Telephonist / ceiling", _ratio(b, c), "(an upper bound)" if bound else ""),
        ("target", f">= {TARGET_CALLS} calls", ""),
    ]
    _rows(rows, 52)


def report(
    args: argparse.Namespace, rate: tuple[list[RateStep], list[RateStep]],
    media: tuple[list[MediaStep], list[MediaStep]], prompt_seconds: float, kernel_times: bool,
) -> None:  # fmt: skip
    setup = "SIPp over loopback UDP"
    setup += ", server on CPU 0, SIPp caller + RTP sink on CPU 1" if pin(0) else ""
    setup += f"; uvloop {'yes' if importlib.util.find_spec('uvloop') else 'no'}"
    setup += f"; packet times from the {'kernel' if kernel_times else 'sink process'}"
    print(f"\nVoice over SIP benchmark ({setup})")
    print("  command: " + " ".join(["python", "bench/sip.py", *sys.argv[1:]]))
    if rate[0]:
        report_rate(*rate, prompt_seconds)
    if media[0]:
        report_media(*media, args)
    for s in (s for steps in media for s in steps if s.media.get("drops")):
        drops = f"{s.media['drops']:,} packets in the {s.calls:,}-call step"
        print(f"\n  NOTE: the sink's socket dropped {drops}: its loss is the sink's, not the sender's")
    busy = max(
        (s.others for steps in (*rate, *media) for s in steps if not math.isnan(s.others)), default=0.0
    )
    print(
        f"\n  others: cores that processes other than the benchmark's used during a step (at most {busy:.2f})"
    )
    if busy > NOISY:
        print("  NOTE: other processes were busy during some steps: those figures are disturbed, run again")


# -- main ---------------------------------------------------------------------------------------------------


def numbers(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("expected positive numbers, comma-separated")
    return values


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add("--only", choices=["rate", "media"], help="run one part only")
    add(
        "--rates",
        type=numbers,
        default="10,20,30,40,50,60,75,100",
        help="call rates to step through (%(default)s)",
    )
    add("--ceiling-rates", type=numbers, default="200,500,1000,2000", help="the ceiling's (%(default)s)")
    add("--calls", type=int, default=0, help="calls a rate step (default: --step-seconds of calls)")
    add("--step-seconds", type=float, default=15.0, help="seconds of calls a rate step (%(default)s)")
    add("--concurrency", type=numbers, default="100,200,300,350,400", help="concurrent calls to step through")
    add("--ceiling-concurrency", type=numbers, default="1000,500,200", help="the ceiling's, largest first")
    add("--duration", type=float, default=60.0, help="seconds a concurrent call lasts (%(default)s)")
    add(
        "--ramp",
        type=float,
        default=25.0,
        help="calls/s opening Telephonist's concurrent calls (%(default)s)",
    )
    add("--ceiling-ramp", type=float, default=100.0, help="calls/s opening the ceiling's (%(default)s)")
    add("--no-ceiling", action="store_true", help="measure Telephonist only")
    add("--quick", action="store_true", help="a smoke run: rates 10,20; 20 and 50 calls of 20 s")
    add("--profile", metavar="FILE", help="py-spy records the server: FILE.svg a flame graph, FILE.json for "
        "speedscope, any other name collapsed stacks")  # fmt: skip
    args = ap.parse_args(argv)
    if args.quick:
        args.rates, args.ceiling_rates, args.step_seconds = [10.0, 20.0], [100.0], 5.0
        args.concurrency, args.ceiling_concurrency, args.duration = [20.0, 50.0], [50.0], 20.0
    args.rates, args.ceiling_rates = sorted(set(args.rates)), sorted(set(args.ceiling_rates))
    args.concurrency = sorted({int(n) for n in args.concurrency})
    args.ceiling_concurrency = sorted({int(n) for n in args.ceiling_concurrency}, reverse=True)
    if args.duration < 2 * SETTLE + MIN_WINDOW + 2:
        ap.error(f"--duration must be at least {2 * SETTLE + MIN_WINDOW + 2:g} s")
    if args.calls < 0 or min(args.step_seconds, args.ramp, args.ceiling_ramp) <= 0:
        ap.error("--calls must not be negative; --step-seconds, --ramp and --ceiling-ramp must be positive")
    args.py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if args.profile and args.py_spy is None:
        ap.error("--profile needs py-spy (pip install py-spy)")
    return args


def missing_tools() -> str | None:
    if importlib.util.find_spec("telephonist") is None:
        return f"{sys.executable} cannot import telephonist: use the project's venv (make bench)"
    for tool, package in (("sipp", "sip-tester"), ("espeak-ng", "espeak-ng")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: apt-get install {package}"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sink"]:
        return sink_main(argv[1:])
    args = parse_args(argv)
    if problem := missing_tools():
        print(problem, file=sys.stderr)
        return 1
    if (load := os.getloadavg()[0]) > 0.5:
        print(f"note: the machine is busy (load {load:.1f}): figures will be noisy", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below still runs
    rate: tuple[list[RateStep], list[RateStep]] = ([], [])
    media: tuple[list[MediaStep], list[MediaStep]] = ([], [])
    prompt_seconds = math.nan
    try:
        with (
            tempfile.TemporaryDirectory(prefix="telephonist-sip-bench-") as tmpdir,
            contextlib.ExitStack() as stack,
        ):
            tmp = Path(tmpdir)
            if pin(1):
                os.sched_setaffinity(0, {1})
            sink = Sink(tmp)
            stack.callback(sink.stop)
            server = Server(tmp, "AC" + secrets.token_hex(16), secrets.token_hex(16))
            stack.callback(server.stop)
            others = Others()
            others.live += [sink.proc, server.proc]
            bench = Bench(args, tmp, sink, others)
            telephonist = Answering("Telephonist", server.sip_port, server, server)
            spy = None
            if args.profile:
                fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(args.profile).suffix, "raw")
                cmd = [args.py_spy, "record", "-o", args.profile, "--pid", str(server.pid), "--rate", "250"]
                spy = Proc("py-spy", [*cmd, "--format", fmt], tmp / "py-spy.log")
                stack.callback(spy.stop)
                others.live.append(spy.proc)

            if args.only in (None, "rate"):
                server.set_voice_url("http://twimlets.com/message?" + urlencode({"Message[0]": PROMPT}))
                bench.say("  warm-up: 10 calls at 5 calls/s")
                warm = bench.rate_step(telephonist, 5.0, 10)
                if not warm.passed:
                    explain(warm.sipp, warm.problems, server)
                    raise RuntimeError("the warm-up calls failed: Telephonist does not answer SIPp's calls")
                # The platform's audio lasts from the answer to its BYE, a packet every 20 ms.
                prompt_seconds = warm.media["packets"] / max(1, warm.media["streams"]) * PTIME
                rate[0].extend(bench.rate_steps(telephonist, args.rates))
                if not args.no_ceiling:
                    uas, port = start_answerer(tmp / "ceiling-uas", "uas.xml", round(prompt_seconds * 1000))
                    stack.callback(uas.stop)
                    others.live.append(uas.proc)
                    rate[1].extend(bench.rate_steps(Answering("ceiling", port, uas), args.ceiling_rates))
                    uas.stop()

            if args.only in (None, "media"):
                twiml = f'<Response><Say loop="0">{LONG_PROMPT}</Say></Response>'
                server.set_voice_url("http://twimlets.com/echo?" + urlencode({"Twiml": twiml}))
                bench.say("  warm-up: 5 concurrent calls")
                warm_media = bench.media_step(telephonist, 5, 10.0, 2 * SETTLE + MIN_WINDOW + 2)
                if not warm_media.sipp.ok(5):
                    explain(warm_media.sipp, warm_media.problems, server)
                    raise RuntimeError("the warm-up calls failed: Telephonist does not answer SIPp's calls")
                media[0].extend(bench.media_steps(telephonist, args.concurrency, args.ramp, until=False))
                if not args.no_ceiling:
                    workdir = tmp / "ceiling-uas-media"
                    workdir.mkdir()
                    write_audio(workdir / AUDIO_FILE)
                    uas, port = start_answerer(workdir, "uas_media.xml")
                    stack.callback(uas.stop)
                    others.live.append(uas.proc)
                    ceiling = Answering("ceiling", port, uas)
                    media[1].extend(
                        bench.media_steps(ceiling, args.ceiling_concurrency, args.ceiling_ramp, True)
                    )
                    uas.stop()

            if spy is not None:
                spy.proc.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
                spy.proc.wait(timeout=60)
                bench.say(f"  py-spy profile of the server: {args.profile}")
            if problems := server.problems():
                bench.say(f"  server log lines of concern at the end: {len(problems)}")
                bench.say("\n".join(f"    {line}" for line in problems[:5]))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    report(args, rate, media, prompt_seconds, sink.kernel_times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
