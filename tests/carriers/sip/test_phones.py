"""SIP phones registered to a SIP Domain (baresip, a real softphone): `<Dial><Client>` and calls to
`client:` ring them, what they send reaches `<Record>` and what the platform says reaches them; their own
calls run the domain's VoiceUrl once they pass the digest challenge."""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.carriers.sip import baresip, sipp
from tests.conftest import Telephonist, WebApp, running, wait_until

from telephonist.media import audio, tts

pytestmark = [
    baresip.needs_baresip,
    pytest.mark.skipif(not tts.available(), reason="espeak-ng is not installed"),
]
DOMAIN = "acme.sip.twilio.com"
PASSWORD = "Secret123456x"
NUMBER = "+15005550006"


def rms(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def crossings_per_second(pcm: bytes) -> float:
    samples = array("h", pcm)
    flips = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    return flips / audio.duration(pcm)


@pytest.fixture
def domain(tmp_path: Path, webapp: WebApp) -> Iterator[tuple[Telephonist, Any]]:
    (tmp_path / "server").mkdir()
    with running(tmp_path / "server", time_scale=1.0, sip_port=sipp.free_udp_port()) as tel:
        client = tel.client()
        sd = client.sip.domains.create(
            domain_name=DOMAIN, voice_url=webapp.url("/domain"), sip_registration=True
        )
        phones = client.sip.credential_lists.create(friendly_name="phones")
        phones.credentials.create(username="alice", password=PASSWORD)
        client.sip.domains(sd.sid).auth.registrations.credential_list_mappings.create(
            credential_list_sid=phones.sid
        )
        client.sip.domains(sd.sid).auth.calls.credential_list_mappings.create(credential_list_sid=phones.sid)
        yield tel, sd


@pytest.fixture
def alice(tmp_path: Path, domain: tuple[Telephonist, Any]) -> Iterator[baresip.Phone]:
    tone = array("h", (round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000 * 4)))
    microphone = tmp_path / "tone.wav"
    microphone.write_bytes(audio.wav(tone.tobytes()))
    phone = baresip.start(
        tmp_path / "alice", "alice", PASSWORD, DOMAIN, domain[0].platform.sip.port, microphone
    )
    try:
        wait_until(phone.registered, timeout=10)
        yield phone
    finally:
        phone.stop()


def test_a_registered_phone_answers_and_its_microphone_is_recorded(
    domain: tuple[Telephonist, Any], alice: baresip.Phone, webapp: WebApp
) -> None:
    tel, sd = domain
    bindings = [r for r in tel.sip_status()["registrations"] if r["aor"] == f"alice@{DOMAIN}"]
    assert len(bindings) == 1 and bindings[0]["domain_sid"] == sd.sid
    twiml = (
        '<Response><Record maxLength="2" playBeep="false" trim="do-not-trim" action="/recorded"/></Response>'
    )
    webapp.twiml("/recorded", "<Response><Say>Thank you for calling</Say></Response>")
    call = tel.client().calls.create(to="client:alice", from_=NUMBER, url=webapp.twiml("/voice", twiml))
    hit = webapp.wait_hits("/recorded", timeout=20)[0]
    assert hit.param("To") == "client:alice" and hit.param("RecordingDuration") == "2"
    pcm, _ = audio.pcm_of_wav(httpx.get(str(hit.param("RecordingUrl")) + ".wav", timeout=10).content)
    # The phone's tone (440 Hz at a quarter of full scale, through μ-law) is what was recorded.
    loud = pcm[8000:]  # past the first half second, while the media path settles
    assert 0.8 * 8000 / math.sqrt(2) <= rms(loud) <= 1.2 * 8000 / math.sqrt(2)
    assert abs(crossings_per_second(loud) - 880) < 30
    assert tel.call_final(call.sid, timeout=20).status == "completed"
    # And what the platform said reached the phone: the prompt, as long as espeak-ng makes it.
    spoken = audio.duration(
        audio.trim(asyncio.run(tts.synthesize("Thank you for calling", voice="man")), 500)
    )

    def heard() -> float | None:  # the phone writes its file as the audio comes
        seconds = audio.duration(audio.trim(alice.heard(), threshold=500))
        return seconds if seconds > spoken - 0.2 else None

    assert abs(wait_until(heard, timeout=10) - spoken) < 0.2


def test_dial_client_rings_the_registered_phone(
    domain: tuple[Telephonist, Any], alice: baresip.Phone, webapp: WebApp, tmp_path: Path
) -> None:
    tel, _ = domain
    twiml = '<Response><Dial timeLimit="3"><Client>alice</Client></Dial></Response>'
    tel.client().incoming_phone_numbers.list(phone_number=NUMBER)[0].update(
        voice_url=webapp.twiml("/voice", twiml)
    )
    # A caller from the simulated network dials the number; alice's phone rings and answers.
    call = tel.sim("POST", "/Phones/+15557770001/Calls", To=NUMBER).json()
    dialled = wait_until(lambda: tel.client().calls.list(parent_call_sid=call["sid"], status="completed"), 20)
    assert dialled[0].to == "client:alice" and int(dialled[0].duration) >= 2


def test_a_phone_calls_out_through_the_domain_voice_url(
    domain: tuple[Telephonist, Any], alice: baresip.Phone, webapp: WebApp
) -> None:
    tel, _ = domain
    webapp.twiml("/domain", "<Response><Say>Hello</Say><Hangup/></Response>")
    alice.command("dial", f"sip:+15559990001@{DOMAIN}")
    hit = webapp.wait_hits("/domain", timeout=20)[0]
    assert hit.param("From") == f"sip:alice@{DOMAIN}"
    assert hit.param("To") == f"sip:+15559990001@{DOMAIN}"
    assert hit.param("Direction") == "inbound"
    call = tel.call_final(str(hit.param("CallSid")), timeout=20)
    assert call.status == "completed"
