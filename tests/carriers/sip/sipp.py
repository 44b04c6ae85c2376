"""SIPp (Debian `sip-tester`) as the far end of SIP tests: a scenario run against Telephonist, and an RTP
socket of the test's own standing in for the trunk's media."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.conftest import free_port, free_ports

SCENARIOS = Path(__file__).parent / "scenarios"
PCAPS = Path("/usr/share/sip-tester")
G711A = PCAPS / "g711a.pcap"  # 7 s of speech as PCMA in 30 ms packets

needs_sipp = pytest.mark.skipif(
    shutil.which("sipp") is None, reason="SIPp is not installed (apt-get install sip-tester)"
)


def free_even_udp_port() -> int:
    """An even UDP port with the odd one after it free too (RTP and RTCP)."""
    return free_ports(2)


def free_udp_port() -> int:
    """A port free over UDP and TCP alike (SIP listens on both)."""
    return free_port()


def scenario(tmp_path: Path, name: str, after_ack: str = "") -> Path:
    """A scenario of SCENARIOS with `after_ack` (SIPp XML) where it says AFTER_ACK."""
    text = (SCENARIOS / name).read_text().replace("<!-- AFTER_ACK -->", after_ack)
    path = tmp_path / name
    path.write_text(text)
    return path


def play_keys(keys: str, gap_ms: int = 600) -> str:
    """SIPp actions sending RFC 4733 key presses from its bundled captures."""
    names = {"*": "star", "#": "pound"}
    return "".join(
        f'<nop><action><exec play_pcap_audio="{PCAPS}/dtmf_2833_{names.get(k, k)}.pcap"/></action></nop>'
        f'<pause milliseconds="{gap_ms}"/>'
        for k in keys
    )


def run(
    tmp_path: Path,
    path: Path,
    sip_port: int,
    number: str,
    *,
    rtp_port: int | None = None,
    formats: str = "0 101",
    transport: str = "u1",
    timeout: int = 30,
) -> subprocess.CompletedProcess[str]:
    """One call of scenario `path` to `number` at Telephonist's SIP port; SIPp exits 0 when it succeeded.
    The SDP offers `formats` on `rtp_port` ([rtpport] in the scenarios), else on SIPp's own media port."""
    port, media = free_udp_port(), free_media_ports()
    args = ["sipp", "-sf", str(path), "-m", "1", "-l", "1", "-i", "127.0.0.1", "-p", str(port)]
    args += ["-mp", str(media), "-s", number, "-nostdin", "-timeout", f"{timeout}s"]
    args += ["-timeout_error", "-trace_err", "-trace_msg", "-key", "rtpport", str(rtp_port or media)]
    args += ["-key", "formats", formats, "-t", transport]
    args.append(f"127.0.0.1:{sip_port}")
    return subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, timeout=timeout + 10, check=False
    )


def free_media_ports() -> int:
    """SIPp's -mp: it binds that port and the one two above (its video), so four ports from there."""
    return free_ports(4)


@contextmanager
def answer(
    tmp_path: Path,
    path: Path,
    *,
    rtp_port: int | None = None,
    formats: str = "0 101",
    transport: str = "u1",
    timeout: int = 30,
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """SIPp as the trunk's far end, waiting for one call of scenario `path` (answering with `formats` on
    `rtp_port`, else on its own media port): the process and its SIP port, once it listens there. SIPp is
    killed and its pipe closed on the way out, whatever happened in the block."""
    port, media = free_udp_port(), free_media_ports()
    args = ["sipp", "-sf", str(path), "-m", "1", "-i", "127.0.0.1", "-p", str(port), "-mp", str(media)]
    args += ["-nostdin", "-timeout", f"{timeout}s", "-timeout_error", "-trace_err", "-trace_msg"]
    args += ["-key", "rtpport", str(rtp_port or media), "-key", "formats", formats, "-t", transport]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_listening(proc, port, media, tcp=transport.startswith("t"))
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout and not proc.stdout.closed:  # finish() read it to the end already
            proc.communicate()  # reaps SIPp and closes the pipe: left open, a later test fails on a warning


def wait_listening(
    proc: subprocess.Popen[str], port: int, media: int, *, tcp: bool, timeout: float = 15
) -> None:
    """Return once SIPp holds its SIP port (UDP bound, or TCP listening) and the last of its media ports
    (video, `-mp` + 2): a request sent before then is lost, and SIPp exits when it can't bind one of them."""
    deadline = time.monotonic() + timeout
    while not (_holds(proc.pid, port, tcp=tcp) and _holds(proc.pid, media + 2, tcp=False)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out = proc.communicate()[0][:2000]  # why: SIPp writes its errors before its screen
            raise AssertionError(f"SIPp did not bind 127.0.0.1:{port} and {media}-{media + 3}: {out}")
        time.sleep(0.02)


def _holds(pid: int, port: int, *, tcp: bool) -> bool:
    """Whether process `pid` has 127.0.0.1:`port` (UDP bound, or TCP listening), as /proc shows it: this
    observes the port, where binding a probe socket to it would race SIPp for it."""
    local = f"{socket.htonl(0x7F000001):08X}:{port:04X}"  # 127.0.0.1:port as /proc/net writes it
    table = Path(f"/proc/net/{'tcp' if tcp else 'udp'}").read_text().splitlines()[1:]
    rows = [line.split() for line in table]
    inodes = {f"socket:[{r[9]}]" for r in rows if r[1] == local and (not tcp or r[3] == "0A")}  # 0A: LISTEN
    return bool(inodes & _sockets(pid))


def _sockets(pid: int) -> set[str]:
    """The sockets process `pid` has open, as /proc/PID/fd links read (`socket:[inode]`)."""
    fds = Path(f"/proc/{pid}/fd")
    links: set[str] = set()
    with contextlib.suppress(OSError):  # the process ended
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):  # the descriptor closed in the meantime
                links.add(os.readlink(fd))
    return links


def finish(proc: subprocess.Popen[str], timeout: float = 40) -> tuple[int, str]:
    """SIPp's exit status and the end of its output, once its call is over."""
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out[-2000:]


def info_key(key: str) -> str:
    """A SIPp step sending `key` as SIP INFO (application/dtmf-relay) in the dialog just set up."""
    return f"""<send><![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Carrier" <sip:+15557770001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 INFO
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={key}
      Duration=160
    ]]></send>
    <recv response="200"/>"""


def play_audio(name: str = "g711a.pcap") -> str:
    """SIPp actions sending one of its bundled RTP captures (g711a.pcap: 7 s of speech as PCMA)."""
    return f'<nop><action><exec play_pcap_audio="{PCAPS}/{name}"/></action></nop>'


def pcap_rtp(path: Path) -> list[bytes]:
    """The UDP payloads of a capture of Ethernet/IPv4/UDP frames (SIPp's bundled ones)."""
    data, out, pos = path.read_bytes(), [], 24
    while pos + 16 <= len(data):
        size = struct.unpack("<I", data[pos + 8 : pos + 12])[0]
        frame = data[pos + 16 : pos + 16 + size]
        ip = 14 + (frame[14] & 0x0F) * 4
        out.append(frame[ip + 8 :])
        pos += 16 + size
    return out


def messages_log(tmp_path: Path) -> str:
    """What SIPp sent and received (its -trace_msg file), for failure messages."""
    return "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("*_messages.log"))[-6000:]


_END = b"the end of the test"  # what tells a sink that all that was sent before it has arrived


@dataclass
class RtpSink:
    """A UDP socket that keeps every packet sent to it, with its arrival time."""

    sock: socket.socket
    packets: list[tuple[float, bytes]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _run(self) -> None:
        while True:
            try:
                data = self.sock.recv(2048)
            except OSError:
                return
            if data == _END:
                return
            self.packets.append((time.monotonic(), data))


class rtp_sink:  # noqa: N801 - used as a context manager, like open()
    def __enter__(self) -> RtpSink:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", free_even_udp_port()))
        self.sink = RtpSink(sock)
        self.reader = threading.Thread(target=self.sink._run, daemon=True)
        self.reader.start()
        return self.sink

    def __exit__(self, *exc: object) -> None:
        """Once the packets still queued in the socket have been read: a loaded machine may not have run
        the reader since the last ones came."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as end:
            end.sendto(_END, ("127.0.0.1", self.sink.port))
        self.reader.join(timeout=10)
        self.sink.sock.close()
