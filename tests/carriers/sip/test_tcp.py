"""SIP over TCP, both ways, with SIPp on one TCP connection (`-t t1`): the same calls as over UDP."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from tests.carriers.sip import sipp
from tests.conftest import WebApp, running

from telephonist.media import g711, tts
from telephonist.media.rtp import RtpPacket

pytestmark = [sipp.needs_sipp, pytest.mark.skipif(not tts.available(), reason="espeak-ng is not installed")]
NUMBER = "+15005550006"


def test_a_call_from_a_trunk_over_tcp(tmp_path: Path, webapp: WebApp) -> None:
    (tmp_path / "server").mkdir()
    trunk = {"name": "loopback", "host": "127.0.0.1"}
    with (
        running(
            tmp_path / "server", time_scale=1.0, sip_port=sipp.free_udp_port(), sip_trunks=[trunk]
        ) as tel,
        sipp.rtp_sink() as sink,
    ):
        number = tel.client().incoming_phone_numbers.list(phone_number=NUMBER)[0]
        number.update(voice_url=webapp.twiml("/voice", "<Response><Say>Hello world</Say></Response>"))
        path = sipp.scenario(tmp_path, "uac.xml")
        done = sipp.run(tmp_path, path, tel.platform.sip.port, NUMBER, rtp_port=sink.port, transport="t1")
        assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
        call = tel.call_final(tel.client().calls.list(to=NUMBER)[0].sid)
        assert call.status == "completed"
    assert "SIP/2.0/TCP" in sipp.messages_log(tmp_path)  # the platform's BYE came over the connection too
    spoken = g711.ulaw_decode(g711.ulaw_encode(asyncio.run(tts.synthesize("Hello world", voice="man"))))
    heard = g711.ulaw_decode(b"".join(RtpPacket.parse(d).payload for _, d in sink.packets))
    start = heard.find(spoken[:320])
    assert start >= 0 and heard[start : start + len(spoken)] == spoken


def test_a_call_to_a_tcp_trunk(tmp_path: Path, webapp: WebApp) -> None:
    (tmp_path / "server").mkdir()
    with contextlib.ExitStack() as stack:
        callee, port = stack.enter_context(
            sipp.answer(tmp_path, sipp.scenario(tmp_path, "uas.xml"), transport="t1")
        )
        trunk = {
            "name": "tcp",
            "host": "127.0.0.1",
            "port": port,
            "transport": "tcp",
            "prefixes": ["+1555999"],
        }
        tel = stack.enter_context(
            running(tmp_path / "server", time_scale=1.0, sip_port=sipp.free_udp_port(), sip_trunks=[trunk])
        )
        twiml = "<Response><Say>Over TCP</Say></Response>"
        created = tel.client().calls.create(
            to="+15559990001", from_=NUMBER, url=webapp.twiml("/voice", twiml)
        )
        final = tel.call_final(created.sid, timeout=20)
        code, out = sipp.finish(callee)
    assert code == 0, out + sipp.messages_log(tmp_path)
    assert final.status == "completed" and final.trunk_sid is not None
    log = sipp.messages_log(tmp_path)
    assert "INVITE sip:+15559990001@127.0.0.1" in log and "SIP/2.0/TCP" in log
