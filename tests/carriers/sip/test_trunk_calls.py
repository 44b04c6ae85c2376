"""Calls from a SIP trunk (SIPp) to platform numbers: the number's VoiceUrl runs, the caller hears <Say>
as RTP, its RFC 4733 keys drive <Gather>, CANCEL and BYE end the call with Twilio's statuses."""

from __future__ import annotations

import asyncio
import math
import socket
import statistics
import threading
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.carriers.sip import sipp
from tests.conftest import Telephonist, WebApp, running, wait_until

from telephonist.media import asr, audio, dtmf, g711, music, tts
from telephonist.media.rtp import RtpPacket, Sender, SenderReport

pytestmark = [sipp.needs_sipp, pytest.mark.skipif(not tts.available(), reason="espeak-ng is not installed")]
NUMBER = "+15005550006"  # the default account's number
CALLER = "+15557770001"  # the From of the scenarios


@pytest.fixture
def sip(tmp_path: Path) -> Iterator[Telephonist]:
    trunk = {"name": "loopback", "host": "127.0.0.1"}
    with running(tmp_path, time_scale=1.0, sip_port=sipp.free_udp_port(), sip_trunks=[trunk]) as t:
        yield t


def voice_url(tel: Telephonist, url: str) -> None:
    client = tel.client()
    number = client.incoming_phone_numbers.list(phone_number=NUMBER)[0]
    number.update(voice_url=url, voice_method="POST")


def call_of(tel: Telephonist) -> dict[str, object]:
    calls = tel.client().calls.list(to=NUMBER)
    assert len(calls) == 1
    call = calls[0]
    return {"sid": call.sid, "status": call.status, "direction": call.direction, "from": call._from}


def test_say_reaches_the_caller_as_paced_rtp(sip: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    voice_url(sip, webapp.twiml("/voice", "<Response><Say>Hello world</Say></Response>"))
    with sipp.rtp_sink() as sink:
        done = sipp.run(
            tmp_path, sipp.scenario(tmp_path, "uac.xml"), sip.platform.sip.port, NUMBER, rtp_port=sink.port
        )
        assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)

    hit = webapp.wait_hits("/voice")[0]
    assert (hit.param("From"), hit.param("To"), hit.param("Direction")) == (CALLER, NUMBER, "inbound")
    assert wait_until(lambda: call_of(sip)["status"] == "completed")
    assert call_of(sip)["direction"] == "inbound" and call_of(sip)["from"] == CALLER

    packets = [RtpPacket.parse(data) for _, data in sink.packets]
    assert packets and {p.payload_type for p in packets} == {0}  # PCMU, as offered first
    assert all(b.sequence == (a.sequence + 1) % 65536 for a, b in zip(packets, packets[1:], strict=False))
    assert all(b.timestamp - a.timestamp == 160 for a, b in zip(packets, packets[1:], strict=False))
    gaps = [b[0] - a[0] for a, b in zip(sink.packets, sink.packets[1:], strict=False)]
    assert 0.015 < statistics.mean(gaps) < 0.025  # 20 ms pacing (how steady: bench/sip.py measures it)

    # What arrived is the synthesized prompt itself, through G.711: the same samples, in order.
    spoken = g711.ulaw_decode(g711.ulaw_encode(asyncio.run(tts.synthesize("Hello world", voice="man"))))
    heard = g711.ulaw_decode(b"".join(p.payload for p in packets))
    start = heard.find(spoken[:320])
    assert start >= 0 and heard[start : start + len(spoken)] == spoken
    # And the recogniser, told what might have been said, hears those words.
    words = asr.transcribe(heard, "hello world, goodbye now, thank you, hold the line")
    assert words is not None and words[0] == "hello world"


def test_rfc4733_keys_drive_a_gather(sip: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    gather = (
        '<Response><Gather numDigits="2" action="/gathered" timeout="5">'
        "<Say>Enter two digits</Say></Gather></Response>"
    )
    voice_url(sip, webapp.twiml("/voice", gather))
    webapp.twiml("/gathered", "<Response><Say>Thanks</Say><Hangup/></Response>")
    path = sipp.scenario(tmp_path, "uac.xml", '<pause milliseconds="800"/>' + sipp.play_keys("42"))
    done = sipp.run(tmp_path, path, sip.platform.sip.port, NUMBER)
    assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
    hit = webapp.wait_hits("/gathered")[0]
    assert hit.param("Digits") == "42"
    assert wait_until(lambda: call_of(sip)["status"] == "completed")


def test_in_band_tones_drive_a_gather_when_no_events_were_offered(
    sip: Telephonist, webapp: WebApp, tmp_path: Path
) -> None:
    gather = '<Response><Gather numDigits="2" action="/gathered"><Pause length="5"/></Gather></Response>'
    voice_url(sip, webapp.twiml("/voice", gather))
    webapp.twiml("/gathered", "<Response><Hangup/></Response>")
    keys = dtmf.tone("4") + audio.silence(0.1) + dtmf.tone("2") + audio.silence(0.1)
    with sipp.rtp_sink() as sink:
        path = sipp.scenario(tmp_path, "uac.xml")
        caller = threading.Thread(
            target=sipp.run,
            args=(tmp_path, path, sip.platform.sip.port, NUMBER),
            kwargs={"rtp_port": sink.port, "formats": "0"},
        )
        caller.start()
        leg = wait_until(lambda: [leg for leg in list(sip.platform.sip.legs.values()) if leg.answered])[0]
        sender = Sender()
        for i in range(0, len(keys), 320):
            sink.sock.sendto(
                bytes(sender.packet(g711.ulaw_encode(keys[i : i + 320]), 160)), ("127.0.0.1", leg.stream.port)
            )
            time.sleep(0.02)
        hit = webapp.wait_hits("/gathered")[0]
        caller.join(30)
    assert hit.param("Digits") == "42"


def test_sip_info_keys_drive_a_gather(sip: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    gather = '<Response><Gather numDigits="1" action="/gathered"><Pause length="3"/></Gather></Response>'
    voice_url(sip, webapp.twiml("/voice", gather))
    webapp.twiml("/gathered", "<Response><Hangup/></Response>")
    path = sipp.scenario(tmp_path, "uac.xml", '<pause milliseconds="300"/>' + sipp.info_key("7"))
    done = sipp.run(tmp_path, path, sip.platform.sip.port, NUMBER)
    assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
    assert webapp.wait_hits("/gathered")[0].param("Digits") == "7"


def test_play_sends_the_wav_file_intact(sip: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    tone = array("h", (round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000))).tobytes()
    url = webapp.file("/tone.wav", audio.wav(tone), "audio/wav")
    voice_url(sip, webapp.twiml("/voice", f"<Response><Play>{url}</Play></Response>"))
    with sipp.rtp_sink() as sink:
        path = sipp.scenario(tmp_path, "uac.xml")
        done = sipp.run(tmp_path, path, sip.platform.sip.port, NUMBER, rtp_port=sink.port, formats="8 101")
        assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
    packets = [RtpPacket.parse(data) for _, data in sink.packets]
    assert {p.payload_type for p in packets} == {8}  # PCMA, the only codec offered
    heard = g711.alaw_decode(b"".join(p.payload for p in packets))
    sent = g711.alaw_decode(g711.alaw_encode(tone))
    start = heard.find(sent[:320])
    assert start >= 0 and heard[start : start + len(sent)] == sent


def test_play_decodes_mp3_and_skips_what_cannot_be_played(
    sip: Telephonist, webapp: WebApp, tmp_path: Path
) -> None:
    tone = array("h", (round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(16000))).tobytes()
    mp3 = webapp.file("/tone.mp3", audio.mp3(tone), "audio/mpeg")
    missing = webapp.url("/missing.wav")  # 404
    twiml = f"<Response><Play>{missing}</Play><Play>{mp3}</Play></Response>"
    voice_url(sip, webapp.twiml("/voice", twiml))
    with sipp.rtp_sink() as sink:
        path = sipp.scenario(tmp_path, "uac.xml")
        done = sipp.run(tmp_path, path, sip.platform.sip.port, NUMBER, rtp_port=sink.port)
        assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
    heard = audio.trim(g711.ulaw_decode(b"".join(RtpPacket.parse(d).payload for _, d in sink.packets)), 1000)
    assert 1.9 <= audio.duration(heard) <= 2.3  # the two seconds of the MP3, nothing of the missing file
    samples = array("h", heard)
    flips = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    assert abs(flips / audio.duration(heard) - 880) < 45


def test_record_keeps_what_the_caller_sent(sip: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    record = (
        '<Response><Record maxLength="3" playBeep="false" trim="do-not-trim" action="/recorded"/></Response>'
    )
    voice_url(sip, webapp.twiml("/voice", record))
    webapp.twiml("/recorded", "<Response><Hangup/></Response>")
    path = sipp.scenario(tmp_path, "uac.xml", sipp.play_audio())
    done = sipp.run(tmp_path, path, sip.platform.sip.port, NUMBER, formats="8 101")
    assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
    hit = webapp.wait_hits("/recorded")[0]
    assert hit.param("RecordingDuration") == "3"
    wav = httpx.get(str(hit.param("RecordingUrl")) + ".wav", timeout=10)
    pcm, rate = audio.pcm_of_wav(wav.content)
    assert rate == 8000 and 2.9 <= audio.duration(pcm) <= 3.1
    # The recording is a stretch of the capture SIPp played, sample for sample (PCMA decoded).
    capture = g711.alaw_decode(b"".join(RtpPacket.parse(p).payload for p in sipp.pcap_rtp(sipp.G711A)))
    loud = next(
        i for i in range(0, len(pcm), 2) if abs(int.from_bytes(pcm[i : i + 2], "little", signed=True)) > 1000
    )
    piece = pcm[loud : loud + 640]
    assert len(piece) == 640 and capture.find(piece) >= 0


def test_speech_drives_a_gather(sip: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    hints = "yes please, no thanks, cancel my order, track my order"
    gather = (
        f'<Response><Gather input="speech" hints="{hints}" speechTimeout="auto" action="/heard">'
        "<Say>How can I help you today</Say></Gather></Response>"
    )
    voice_url(sip, webapp.twiml("/voice", gather))
    webapp.twiml("/heard", "<Response><Hangup/></Response>")
    said = asyncio.run(tts.synthesize("cancel my order")) + audio.silence(1.5)
    with sipp.rtp_sink() as sink:
        path = sipp.scenario(tmp_path, "uac.xml")
        caller = threading.Thread(
            target=sipp.run,
            args=(tmp_path, path, sip.platform.sip.port, NUMBER),
            kwargs={"rtp_port": sink.port},
        )
        caller.start()
        leg = wait_until(lambda: [leg for leg in list(sip.platform.sip.legs.values()) if leg.answered])[0]
        time.sleep(0.5)  # the caller speaks over the prompt: barge-in
        sender = Sender()
        for i in range(0, len(said), 320):
            packet = sender.packet(g711.ulaw_encode(said[i : i + 320]), 160, payload_type=0)
            sink.sock.sendto(bytes(packet), ("127.0.0.1", leg.stream.port))
            time.sleep(0.02)
        hit = webapp.wait_hits("/heard")[0]
        caller.join(30)
    assert hit.param("SpeechResult") == "cancel my order"
    assert 0 < float(hit.param("Confidence") or 0) <= 1


def test_a_queued_caller_hears_hold_music(sip: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    voice_url(sip, webapp.twiml("/voice", "<Response><Enqueue>support</Enqueue></Response>"))
    with sipp.rtp_sink() as sink:
        path = sipp.scenario(tmp_path, "uac.xml")
        caller = threading.Thread(
            target=sipp.run,
            args=(tmp_path, path, sip.platform.sip.port, NUMBER),
            kwargs={"rtp_port": sink.port},
        )
        caller.start()
        queue = wait_until(lambda: (q := sip.client().queues.list()) and q[0].current_size == 1 and q[0])
        time.sleep(3)
        sip.client().queues(queue.sid).members("Front").update(
            url=webapp.twiml("/bye", "<Response><Hangup/></Response>")
        )
        caller.join(30)
    heard = g711.ulaw_decode(b"".join(RtpPacket.parse(d).payload for _, d in sink.packets))
    tune = g711.ulaw_decode(g711.ulaw_encode(music.hold_music()))
    start = heard.find(tune[:640])
    assert start >= 0 and heard[start : start + 16000] == tune[:16000]  # a second of it, intact


def test_sender_reports_go_to_the_rtcp_port(sip: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    voice_url(sip, webapp.twiml("/voice", '<Response><Pause length="6"/></Response>'))
    with sipp.rtp_sink() as sink, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp:
        rtcp.bind(("127.0.0.1", sink.port + 1))
        rtcp.settimeout(15)
        path = sipp.scenario(tmp_path, "uac.xml")
        caller = threading.Thread(
            target=sipp.run,
            args=(tmp_path, path, sip.platform.sip.port, NUMBER),
            kwargs={"rtp_port": sink.port},
        )
        caller.start()
        report = SenderReport.parse(rtcp.recv(2048))
        caller.join(30)
    ssrcs = {RtpPacket.parse(d).ssrc for _, d in sink.packets}
    assert (
        ssrcs == {report.ssrc} and report.cname and 200 <= report.packet_count <= 300
    )  # about 5 s of packets
    assert report.octet_count == 160 * report.packet_count


def test_record_beeps_first(sip: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    voice_url(sip, webapp.twiml("/voice", '<Response><Record maxLength="1" action="/recorded"/></Response>'))
    webapp.twiml("/recorded", "<Response><Hangup/></Response>")
    with sipp.rtp_sink() as sink:
        done = sipp.run(
            tmp_path, sipp.scenario(tmp_path, "uac.xml"), sip.platform.sip.port, NUMBER, rtp_port=sink.port
        )
        assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
    heard = audio.trim(g711.ulaw_decode(b"".join(RtpPacket.parse(d).payload for _, d in sink.packets)), 1000)
    samples = array("h", heard)
    flips = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    assert 0.2 <= audio.duration(heard) <= 0.3 and abs(flips / audio.duration(heard) - 2000) < 100  # 1 kHz


def test_cancel_while_ringing_ends_the_call_as_canceled(sip: Telephonist, tmp_path: Path) -> None:
    # A VoiceUrl that never answers keeps the call ringing until the trunk gives up.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        voice_url(sip, f"http://127.0.0.1:{silent.getsockname()[1]}/voice")
        done = sipp.run(tmp_path, sipp.SCENARIOS / "cancel.xml", sip.platform.sip.port, NUMBER)
        assert done.returncode == 0, done.stdout[-2000:] + sipp.messages_log(tmp_path)
        assert wait_until(lambda: call_of(sip)["status"] == "canceled")
