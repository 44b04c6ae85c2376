"""Kamailio (deploy/kamailio/kamailio.cfg) as the tests run it in front of Telephonist nodes, and calls from a
SIP trunk (SIPp) placed through it: shared by tests/deploy and the tests of several nodes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.carriers.sip import sipp
from tests.conftest import wait_until

from telephonist.media.rtp import RtpPacket

CONFIG = Path(__file__).parents[2] / "deploy" / "kamailio" / "kamailio.cfg"
KAMAILIO = shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin")
NUMBER = "+15005550006"  # the default account's number
FR_TIMER_MS = 2000  # how long Kamailio waits for a node's first response before trying the next one


class SipNode(Protocol):
    """A Telephonist node as the dispatcher lists it."""

    @property
    def name(self) -> str: ...

    @property
    def sip_port(self) -> int: ...


def listening(pid: int, port: int, tcp: bool) -> bool:
    """Whether process `pid` holds 127.0.0.1:`port` (bound for UDP, listening for TCP), from /proc: a port
    answering is not enough, another process may have it."""
    local = f"{socket.htonl(0x7F000001):08X}:{port:04X}"
    rows = [
        line.split() for line in Path(f"/proc/net/{'tcp' if tcp else 'udp'}").read_text().splitlines()[1:]
    ]
    inodes = {f"socket:[{r[9]}]" for r in rows if r[1] == local and (not tcp or r[3] == "0A")}
    try:
        fds = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:  # it ended, or a descriptor closed meanwhile
        return False
    return bool(inodes & set(fds))


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, *, group: bool = False) -> None:
    """Signal `proc` and wait for it; killed (with its process group, when it leads one) if it lingers."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(timeout=5)


# -- the proxy ---------------------------------------------------------------------------------------------
@dataclass
class Kamailio:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def started(self) -> bool:
        """Its main process holds its UDP port (a child of it listens over TCP), or it ended."""
        return listening(self.proc.pid, self.port, tcp=False) or self.proc.poll() is not None

    def answers(self) -> bool:
        """It answers an OPTIONS of ours for itself (a trunk's keepalive) with 200."""
        return options(self.port) == 200

    def state(self, sip_port: int) -> str | None:
        """What the dispatcher last said of the node on `sip_port`: "up", "down", or None (nothing yet)."""
        said = re.findall(rf"node (up|down): sip:127\.0\.0\.1:{sip_port}\b", self.output())
        return said[-1] if said else None


def start_kamailio(tmp_path: Path, nodes: Sequence[SipNode]) -> Kamailio:
    """Kamailio in the foreground with deploy/kamailio/kamailio.cfg on a free port, its runtime files in a
    folder of the test's own, the nodes in a dispatcher.list written here; round robin so that two calls
    surely reach both nodes, a probe a second. Ready once it answers an OPTIONS of ours."""
    run = tmp_path / "kamailio"
    run.mkdir()
    listed = run / "dispatcher.list"
    listed.write_text("".join(f"1 sip:127.0.0.1:{n.sip_port} 0 0 node={n.name}\n" for n in nodes))
    log = tmp_path / "kamailio.log"
    for attempt in range(3):
        port = sipp.free_udp_port()
        defines = {
            "SIP_LISTEN": f"127.0.0.1:{port}",
            "DISPATCHER_LIST": f'"{listed}"',
            "DS_ALG": "4",
            "DS_PING_INTERVAL": "1",
            "FR_TIMER": str(FR_TIMER_MS),
            "WORKERS": "2",
        }
        args = [str(KAMAILIO), "-DD", "-E", "-f", str(CONFIG), "-Y", str(run), "-w", str(run)]
        args += ["-P", str(run / "kamailio.pid"), "-m", "32", "-M", "8"]
        for name, value in defines.items():
            args += ["-A", f"{name}={value}"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        kamailio = Kamailio(port, proc, log)
        try:
            wait_until(kamailio.started, 15, 0.05)
            if proc.poll() is None:
                wait_until(kamailio.answers, timeout=15, interval=0.1)
                return kamailio
        except AssertionError:
            stop(proc, group=True)
            raise
        # Tests of other runs on this machine hand out ports too: another one, when this one was taken.
        taken = "address already in use" in kamailio.output().lower()
        assert taken and attempt < 2, f"kamailio exited:\n{kamailio.output()[-3000:]}"
    raise AssertionError("unreachable")


def options(port: int) -> int | None:
    """The status of Kamailio's answer to an OPTIONS for itself (a trunk's keepalive), None if none came."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.3)
        me = s.getsockname()[1]
        s.sendto(
            (
                f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-{time.monotonic_ns()}\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:probe@127.0.0.1:{me}>;tag=probe\r\n"
                f"To: <sip:127.0.0.1:{port}>\r\n"
                f"Call-ID: probe-{time.monotonic_ns()}@127.0.0.1\r\n"
                "CSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode(),
            ("127.0.0.1", port),
        )
        try:
            reply = s.recv(4096)
        except OSError:
            return None
    return int(reply.split(b" ", 2)[1])


# -- calls -------------------------------------------------------------------------------------------------
@dataclass
class Call:
    returncode: int
    stdout: str
    messages: str  # what SIPp sent and received
    rtp: list[RtpPacket]

    def __str__(self) -> str:
        return self.stdout[-1500:] + self.messages[-4000:]

    def received(self, first_line: str) -> list[str]:
        """The messages SIPp received whose first line starts so."""
        blocks = re.split(r"\n-{20,}[^\n]*\n", self.messages)
        found = []
        for block in blocks:
            head, _, body = block.partition(" message received ")
            lines = body.split("\n", 2)
            if body and len(lines) == 3 and lines[2].lstrip().startswith(first_line):
                found.append(lines[2].lstrip())
        return found

    @property
    def node_port(self) -> int:
        """The SIP port of the node that answered: the Contact of the INVITE's 200 OK."""
        ok = [m for m in self.received("SIP/2.0 200 OK") if re.search(r"(?im)^CSeq:\s*1 INVITE", m)]
        assert len(ok) == 1, f"one 200 OK to the INVITE (the ACK reached the node), not {len(ok)}:\n{self}"
        found = re.search(r"(?im)^Contact:\s*<sip:127\.0\.0\.1:(\d+)", ok[0])
        assert found, str(self)
        return int(found[1])


def place_call(workdir: Path, proxy: int) -> Call:
    """One call of SIPp's uac.xml to the number through the proxy, a key pressed as SIP INFO once it is
    answered (a request of the trunk's inside the dialog); the node's RTP to a socket of ours."""
    workdir.mkdir()
    key = sipp.info_key("5")
    with sipp.rtp_sink() as sink:
        done = sipp.run(
            workdir, sipp.scenario(workdir, "uac.xml", key), proxy, NUMBER, rtp_port=sink.port, timeout=20
        )
        time.sleep(0.05)  # the last packets in flight
    messages = "\n".join(p.read_text(errors="replace") for p in workdir.glob("*_messages.log"))
    return Call(done.returncode, done.stdout, messages, [RtpPacket.parse(d) for _, d in sink.packets])


def place_calls(tmp_path: Path, proxy: int, names: list[str]) -> list[Call]:
    with ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(lambda name: place_call(tmp_path / name, proxy), names))


def check(call: Call, proxy: int) -> None:
    """The call went as the TwiML says, through the proxy: answered, the tone heard, the node's BYE relayed
    by Kamailio (its Via on top of the node's)."""
    assert call.returncode == 0, str(call)
    assert len(call.rtp) >= 15 and {p.payload_type for p in call.rtp} == {0}, str(call)  # 0.4 s of PCMU
    (bye,) = call.received("BYE ")
    vias = re.findall(r"(?im)^Via:\s*SIP/2\.0/UDP\s+([^;\s]+)", bye)
    assert len(vias) == 2 and vias[0] == f"127.0.0.1:{proxy}", bye
