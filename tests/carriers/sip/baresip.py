"""baresip (Debian `baresip`) as a SIP phone registered with Telephonist: it answers by itself, sends a WAV
file as its microphone, and writes what it hears to WAV files (its sndfile module)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.carriers.sip.sipp import free_udp_port
from tests.conftest import free_port, free_ports

from telephonist.media import audio

MODULES = Path("/usr/lib/baresip/modules")
needs_baresip = pytest.mark.skipif(
    shutil.which("baresip") is None or not MODULES.is_dir(),
    reason="baresip is not installed (apt-get install baresip)",
)
RTP_PORTS = 20  # the phone's range, handed out as a whole: it picks an even port of it for each call


@dataclass
class Phone:
    proc: subprocess.Popen[str]
    home: Path
    port: int
    control: int  # ctrl_tcp's port: JSON commands in netstrings

    def command(self, command: str, params: str = "") -> None:
        """A command as typed at baresip's prompt (`dial`, `hangup`, …), through ctrl_tcp."""
        body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        with socket.create_connection(("127.0.0.1", self.control), timeout=5) as conn:
            conn.sendall(b"%d:%s," % (len(body), body))
            conn.recv(4096)

    def registered(self) -> bool:
        return "200 OK" in self.log() and "binding" in self.log()

    def heard(self) -> bytes:
        """What the phone received in its calls (sndfile's decoded dumps), as 8 kHz PCM."""
        pcm = b""
        for path in sorted(self.home.glob("dump-*-dec.wav")):
            samples, rate = audio.pcm_of_wav(path.read_bytes())
            pcm += audio.resample(samples, rate)
        return pcm

    def log(self) -> str:
        return (self.home / "out.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(home: Path, user: str, password: str, domain: str, sip_port: int, microphone: Path) -> Phone:
    """A phone registered as `user@domain` through Telephonist at `sip_port` on loopback."""
    home.mkdir(parents=True, exist_ok=True)
    port, control, rtp = free_udp_port(), free_port(), free_ports(RTP_PORTS)
    (home / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen 127.0.0.1:{port}",
                "sip_trans_def udp",
                f"audio_source aufile,{microphone}",
                "audio_player aufile,/dev/null",
                "audio_alert aufile,/dev/null",
                "audio_srate 8000",
                "audio_channels 1",
                f"rtp_ports {rtp}-{rtp + RTP_PORTS - 1}",
                f"module_path {MODULES}",
                "module g711.so",
                "module aufile.so",
                "module sndfile.so",
                f"snd_path {home}",
                "module_app account.so",
                "module_app menu.so",  # the commands (dial, hangup…) ctrl_tcp takes
                "module_app ctrl_tcp.so",
                f"ctrl_tcp_listen 127.0.0.1:{control}",
                "",
            ]
        )
    )
    (home / "accounts").write_text(
        f'<sip:{user}@{domain}>;auth_pass={password};outbound="sip:127.0.0.1:{sip_port}";'
        "regint=60;answermode=auto;audio_codecs=PCMU\n"
    )
    with (home / "out.log").open("w") as out:  # the phone writes to its own copy of the descriptor
        proc = subprocess.Popen(
            ["baresip", "-f", str(home)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    return Phone(proc, home, port, control)
