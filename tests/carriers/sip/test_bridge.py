"""<Dial> between two SIP parties, a caller from one trunk and a callee on another, and a conference of
two SIP callers (all SIPp): each hears what the others send, sample for sample, and never itself."""

from __future__ import annotations

import contextlib
import io
import threading
import time
import wave
from array import array
from pathlib import Path

import httpx
import pytest
from tests.carriers.sip import sipp
from tests.conftest import WebApp, running, wait_until

from telephonist.media import g711, tts
from telephonist.media.rtp import RtpPacket

pytestmark = [sipp.needs_sipp, pytest.mark.skipif(not tts.available(), reason="espeak-ng is not installed")]
NUMBER = "+15005550006"
CALLEE = "+15559990001"


def heard(sink: sipp.RtpSink) -> bytes:
    return g711.alaw_decode(b"".join(RtpPacket.parse(data).payload for _, data in sink.packets))


def carries_the_capture(pcm: bytes, capture: bytes) -> bool:
    """`pcm` carries `capture` sample for sample: of the second from its first loud sample (a quarter second
    at least), four in five 40 ms pieces are stretches of `capture`. Not all need be: a packet late on a
    loaded machine leaves a gap or a frame of silence somewhere in a relayed stream."""
    loud = next(
        (
            i
            for i in range(0, len(pcm), 2)
            if abs(int.from_bytes(pcm[i : i + 2], "little", signed=True)) > 1000
        ),
        None,
    )
    if loud is None:
        return False
    end = min(len(pcm), loud + 16000)  # 8,000 samples of 16 bits
    pieces = [pcm[i : i + 640] for i in range(loud, end - 639, 640)]
    return len(pieces) >= 6 and sum(capture.find(piece) >= 0 for piece in pieces) >= 0.8 * len(pieces)


def test_dialled_parties_hear_each_other(tmp_path: Path, webapp: WebApp) -> None:
    capture = g711.alaw_decode(b"".join(RtpPacket.parse(p).payload for p in sipp.pcap_rtp(sipp.G711A)))
    (tmp_path / "server").mkdir()
    with contextlib.ExitStack() as stack, sipp.rtp_sink() as to_caller, sipp.rtp_sink() as to_callee:
        callee_scenario = sipp.scenario(tmp_path, "uas.xml", sipp.play_audio())
        callee, port = stack.enter_context(
            sipp.answer(tmp_path, callee_scenario, rtp_port=to_callee.port, formats="8 101")
        )
        trunks = [{"name": "b", "host": "127.0.0.1", "port": port, "prefixes": ["+1555999"]}]
        tel = stack.enter_context(
            running(tmp_path / "server", time_scale=1.0, sip_port=sipp.free_udp_port(), sip_trunks=trunks)
        )
        twiml = f'<Response><Dial timeLimit="4">{CALLEE}</Dial></Response>'
        number = tel.client().incoming_phone_numbers.list(phone_number=NUMBER)[0]
        number.update(voice_url=webapp.twiml("/voice", twiml))
        caller_scenario = sipp.scenario(tmp_path, "uac.xml", sipp.play_audio())
        done = sipp.run(
            tmp_path, caller_scenario, tel.platform.sip.port, NUMBER, rtp_port=to_caller.port, formats="8 101"
        )
        assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
        code, out = sipp.finish(callee)
        assert code == 0, out + sipp.messages_log(tmp_path)
        calls = wait_until(lambda: len(c := tel.client().calls.list(status="completed")) == 2 and c)
        assert {c.direction for c in calls} == {"inbound", "outbound-dial"}
    assert carries_the_capture(heard(to_callee), capture)  # the caller's audio reached the callee
    assert carries_the_capture(heard(to_caller), capture)  # and the callee's the caller


def test_conference_members_hear_each_other_but_not_themselves(tmp_path: Path, webapp: WebApp) -> None:
    capture = g711.alaw_decode(b"".join(RtpPacket.parse(p).payload for p in sipp.pcap_rtp(sipp.G711A)))
    trunks = [{"name": "loopback", "host": "127.0.0.1"}]
    (tmp_path / "server").mkdir()
    with (
        running(tmp_path / "server", time_scale=1.0, sip_port=sipp.free_udp_port(), sip_trunks=trunks) as tel,
        sipp.rtp_sink() as to_speaker,
        sipp.rtp_sink() as to_listener,
    ):
        twiml = '<Response><Dial><Conference waitUrl="" beep="false">room</Conference></Dial></Response>'
        number = tel.client().incoming_phone_numbers.list(phone_number=NUMBER)[0]
        number.update(voice_url=webapp.twiml("/voice", twiml))
        port = tel.platform.sip.port
        speaker_dir, listener_dir = tmp_path / "speaker", tmp_path / "listener"
        speaker_dir.mkdir()
        listener_dir.mkdir()
        calls = [
            threading.Thread(
                target=sipp.run,
                args=(listener_dir, sipp.scenario(listener_dir, "uac.xml"), port, NUMBER),
                kwargs={"rtp_port": to_listener.port, "formats": "8 101"},
            ),
            threading.Thread(
                target=sipp.run,
                args=(speaker_dir, sipp.scenario(speaker_dir, "uac.xml", sipp.play_audio()), port, NUMBER),
                kwargs={"rtp_port": to_speaker.port, "formats": "8 101"},
            ),
        ]
        calls[0].start()
        wait_until(
            lambda: tel.client().conferences.list(status="in-progress") or tel.client().conferences.list()
        )
        calls[1].start()
        conference = wait_until(
            lambda: (
                (c := tel.client().conferences.list(status="in-progress"))
                and len(c[0].participants.list()) == 2
                and c
            )
        )[0]
        time.sleep(4)  # the speaker talks
        conference.update(status="completed")
        for call in calls:
            call.join(30)
    assert carries_the_capture(heard(to_listener), capture)  # the speaker was heard
    # and heard nothing of itself (the listener said nothing).
    assert max(abs(s) for s in array("h", heard(to_speaker)) or [0]) < 1000


def test_dial_record_dual_keeps_each_party_on_its_channel(tmp_path: Path, webapp: WebApp) -> None:
    capture = g711.alaw_decode(b"".join(RtpPacket.parse(p).payload for p in sipp.pcap_rtp(sipp.G711A)))
    (tmp_path / "server").mkdir()
    with contextlib.ExitStack() as stack:
        callee, port = stack.enter_context(
            sipp.answer(tmp_path, sipp.scenario(tmp_path, "uas.xml"), formats="8 101")  # says nothing
        )
        trunks = [{"name": "b", "host": "127.0.0.1", "port": port, "prefixes": ["+1555999"]}]
        tel = stack.enter_context(
            running(tmp_path / "server", time_scale=1.0, sip_port=sipp.free_udp_port(), sip_trunks=trunks)
        )
        dial = '<Dial timeLimit="4" record="record-from-answer-dual" action="/dialled">'
        twiml = f"<Response>{dial}{CALLEE}</Dial></Response>"
        number = tel.client().incoming_phone_numbers.list(phone_number=NUMBER)[0]
        number.update(voice_url=webapp.twiml("/voice", twiml))
        webapp.twiml("/dialled", "<Response><Hangup/></Response>")
        caller = sipp.scenario(tmp_path, "uac.xml", sipp.play_audio())
        done = sipp.run(tmp_path, caller, tel.platform.sip.port, NUMBER, formats="8 101")
        assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
        code, out = sipp.finish(callee)
        assert code == 0, out
        dialled = webapp.wait_hits("/dialled")[0]
        wav = httpx.get(str(dialled.param("RecordingUrl")) + ".wav", timeout=10).content
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 8000)
        frames = array("h", w.readframes(w.getnframes()))
    caller_side, callee_side = frames[0::2].tobytes(), frames[1::2].tobytes()
    assert 3 <= int(dialled.param("RecordingDuration") or 0) <= 5
    assert carries_the_capture(caller_side, capture)  # the caller's voice on the first channel
    assert max(abs(s) for s in array("h", callee_side)) < 1000  # the callee said nothing
