"""Calls from the platform through a SIP trunk (SIPp as the trunk): the REST API's calls and what SIP
answered map to Twilio's statuses, with SipResponseCode in the status callbacks."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from tests.carriers.sip import sipp
from tests.conftest import Hit, WebApp, running, wait_until

from telephonist.media import g711, tts
from telephonist.media.rtp import RtpPacket

pytestmark = [sipp.needs_sipp, pytest.mark.skipif(not tts.available(), reason="espeak-ng is not installed")]
NUMBER = "+15005550006"
CALLEE = "+15559990001"  # served by the trunk


def place(
    tmp_path: Path, scenario: str, webapp: WebApp, twiml: str, rtp_port: int | None = None, **call: Any
) -> tuple[Any, list[Hit], tuple[int, str]]:
    """SIPp answers as the trunk; a call is created through the REST API and ends: (call, callbacks, SIPp)."""
    (tmp_path / "server").mkdir()
    with sipp.answer(tmp_path, sipp.scenario(tmp_path, scenario), rtp_port=rtp_port) as (proc, port):
        return _call(tmp_path, proc, port, webapp, twiml, **call)


def _call(
    tmp_path: Path, proc: Any, port: int, webapp: WebApp, twiml: str, **call: Any
) -> tuple[Any, list[Hit], tuple[int, str]]:
    trunk = {"name": "sipp", "host": "127.0.0.1", "port": port, "prefixes": ["+1555999"],
             "username": "trunkuser", "password": "trunkpass"}  # fmt: skip
    with running(
        tmp_path / "server", time_scale=1.0, sip_port=sipp.free_udp_port(), sip_trunks=[trunk]
    ) as tel:
        client = tel.client()
        events = ["initiated", "ringing", "answered", "completed"]
        created = client.calls.create(
            to=CALLEE, from_=NUMBER, url=webapp.twiml("/voice", twiml),
            status_callback=webapp.url("/status"), status_callback_event=events, **call,
        )  # fmt: skip
        final = tel.call_final(created.sid, timeout=30)
        callbacks = webapp.wait_hits("/status", 2)
        code, out = sipp.finish(proc)
    return final, callbacks, (code, out + sipp.messages_log(tmp_path))


def test_an_answered_call_hears_say_and_completes(tmp_path: Path, webapp: WebApp) -> None:
    with sipp.rtp_sink() as sink:
        final, callbacks, (code, log) = place(
            tmp_path, "uas.xml", webapp, "<Response><Say>Hello world</Say></Response>", sink.port
        )
    assert code == 0, log
    assert final.status == "completed" and final.direction == "outbound-api"
    completed = wait_until(
        lambda: [h for h in webapp.hits_for("/status") if h.param("CallStatus") == "completed"]
    )
    assert completed[0].param("SipResponseCode") == "200"
    spoken = g711.ulaw_decode(g711.ulaw_encode(asyncio.run(tts.synthesize("Hello world", voice="man"))))
    heard = g711.ulaw_decode(b"".join(RtpPacket.parse(d).payload for _, d in sink.packets))
    start = heard.find(spoken[:320])
    assert start >= 0 and heard[start : start + len(spoken)] == spoken


def test_busy_here_is_busy(tmp_path: Path, webapp: WebApp) -> None:
    final, _, (code, log) = place(tmp_path, "uas_busy.xml", webapp, "<Response><Say>never</Say></Response>")
    assert code == 0, log
    assert final.status == "busy"
    done = wait_until(lambda: [h for h in webapp.hits_for("/status") if h.param("CallStatus") == "busy"])
    assert done[0].param("SipResponseCode") == "486"
    assert not webapp.hits_for("/voice")


def test_no_answer_within_timeout_is_canceled_and_no_answer(tmp_path: Path, webapp: WebApp) -> None:
    final, _, (code, log) = place(tmp_path, "uas_no_answer.xml", webapp, "<Response/>", timeout=2)
    assert code == 0, log  # SIPp saw the CANCEL and the ACK of its 487
    assert final.status == "no-answer"
    done = wait_until(lambda: [h for h in webapp.hits_for("/status") if h.param("CallStatus") == "no-answer"])
    assert done[0].param("SipResponseCode") == "487"


def test_a_trunk_challenge_is_answered_with_digest_credentials(tmp_path: Path, webapp: WebApp) -> None:
    final, _, (code, log) = place(
        tmp_path, "uas_auth.xml", webapp, "<Response><Say>Authorized</Say></Response>"
    )
    assert code == 0, log
    assert final.status == "completed"


def test_dial_sip_answers_the_challenge_with_its_credentials(tmp_path: Path, webapp: WebApp) -> None:
    (tmp_path / "server").mkdir()
    with contextlib.ExitStack() as stack:
        proc, port = stack.enter_context(sipp.answer(tmp_path, sipp.scenario(tmp_path, "uas_auth.xml")))
        tel = stack.enter_context(running(tmp_path / "server", time_scale=1.0, sip_port=sipp.free_udp_port()))
        sip = f"sip:+15559990001@127.0.0.1:{port}"
        noun = f'<Sip username="trunkuser" password="trunkpass">{sip}</Sip>'
        dial = f'<Response><Dial timeLimit="2">{noun}</Dial></Response>'
        number = tel.client().incoming_phone_numbers.list(phone_number=NUMBER)[0]
        number.update(voice_url=webapp.twiml("/voice", dial))
        call = tel.sim("POST", "/Phones/+15557770001/Calls", To=NUMBER).json()
        dialled = wait_until(
            lambda: tel.client().calls.list(parent_call_sid=call["sid"], status="completed"), 20
        )
        code, out = sipp.finish(proc)
    assert code == 0, out + sipp.messages_log(tmp_path)  # SIPp checked the digest
    assert dialled[0].to == sip and 'Authorization: Digest username="trunkuser"' in sipp.messages_log(
        tmp_path
    )


@pytest.mark.parametrize(
    ("rules", "uri_user", "from_user"),
    [
        ({"number_format": "no-plus", "caller_id": "+15550001111"}, "15559990001", "15550001111"),
        ({"number_format": "national"}, "5559990001", "5005550006"),
    ],
)
def test_a_trunks_caller_id_rules(
    tmp_path: Path, webapp: WebApp, rules: dict[str, str], uri_user: str, from_user: str
) -> None:
    (tmp_path / "server").mkdir()
    with contextlib.ExitStack() as stack:
        proc, port = stack.enter_context(sipp.answer(tmp_path, sipp.scenario(tmp_path, "uas_busy.xml")))
        trunk = {"name": "rules", "host": "127.0.0.1", "port": port, "prefixes": ["+1555999"], **rules}
        tel = stack.enter_context(
            running(tmp_path / "server", time_scale=1.0, sip_port=sipp.free_udp_port(), sip_trunks=[trunk])
        )
        created = tel.client().calls.create(
            to=CALLEE, from_=NUMBER, url=webapp.twiml("/voice", "<Response/>")
        )
        assert tel.call_final(created.sid).status == "busy"
        code, out = sipp.finish(proc)
    log = sipp.messages_log(tmp_path)
    assert code == 0, out + log
    assert f"INVITE sip:{uri_user}@127.0.0.1:{port} SIP/2.0" in log
    assert f"From: <sip:{from_user}@127.0.0.1:" in log
