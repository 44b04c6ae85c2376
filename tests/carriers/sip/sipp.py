"""SIPp (Debian `sip-tester`) as the far end of SIP tests: a scenario run against Telephonist, and an RTP
socket of the test's own standing in for the trunk's media."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "scenarios"
PCAPS = Path("/usr/share/sip-tester")
G711A = PCAPS / "g711a.pcap"  # 7 s of speech as PCMA in 30 ms packets

needs_sipp = pytest.mark.skipif(
    shutil.which("sipp") is None, reason="SIPp is not installed (apt-get install sip-tester)"
)


def free_even_udp_port() -> int:
    """An even UDP port with the odd one after it free too (RTP and RTCP)."""
    while True:
        port = free_udp_port() & ~1
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp,
        ):
            try:
                rtp.bind(("127.0.0.1", port))
                rtcp.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def free_udp_port() -> int:
    """A port free over UDP and TCP alike (SIP listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


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
    media = free_even_udp_port()
    args = ["sipp", "-sf", str(path), "-m", "1", "-l", "1", "-i", "127.0.0.1", "-p", str(free_udp_port())]
    args += ["-mp", str(media), "-s", number, "-nostdin", "-timeout", f"{timeout}s"]
    args += ["-timeout_error", "-trace_err", "-trace_msg", "-key", "rtpport", str(rtp_port or media)]
    args += ["-key", "formats", formats, "-t", transport]
    args.append(f"127.0.0.1:{sip_port}")
    return subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, timeout=timeout + 10, check=False
    )


def answer(
    tmp_path: Path,
    path: Path,
    *,
    rtp_port: int | None = None,
    formats: str = "0 101",
    transport: str = "u1",
    timeout: int = 30,
) -> tuple[subprocess.Popen[str], int]:
    """SIPp as the trunk's far end, waiting for one call of scenario `path` (answering with `formats` on
    `rtp_port`, else on its own media port); the process and its SIP port."""
    port, media = free_udp_port(), free_even_udp_port()
    args = ["sipp", "-sf", str(path), "-m", "1", "-i", "127.0.0.1", "-p", str(port), "-mp", str(media)]
    args += ["-nostdin", "-timeout", f"{timeout}s", "-timeout_error", "-trace_err", "-trace_msg"]
    args += ["-key", "rtpport", str(rtp_port or media), "-key", "formats", formats, "-t", transport]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)  # bound and listening
    return proc, port


def finish(proc: subprocess.Popen[str], timeout: float = 40) -> tuple[int, str]:
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
            self.packets.append((time.monotonic(), data))


class rtp_sink:  # noqa: N801 - used as a context manager, like open()
    def __enter__(self) -> RtpSink:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", free_even_udp_port()))
        self.sink = RtpSink(sock)
        threading.Thread(target=self.sink._run, daemon=True).start()
        return self.sink

    def __exit__(self, *exc: object) -> None:
        self.sink.sock.close()
