"""A SIP trunk that cannot be reached: nothing listens on its port (over UDP the kernel answers the INVITE
with ICMP port unreachable; over TCP the connection is refused). A call through it ends `failed` as on
Twilio, its status callback says so, the account gets notification 32011 (Error communicating with your SIP
communications infrastructure) naming the trunk's URI, and a <Dial> to it tells its action
DialCallStatus=failed. Covered elsewhere: a trunk that answers busy, times out ringing or challenges
(tests/carriers/sip/test_trunk_outbound.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from conftest import Telephonist, WebApp, free_port, running, wait_until

NUMBER = "+15005550006"
CALLEE = "+15559990001"  # routed to the trunk


@pytest.fixture(params=["udp", "tcp"])
def tel(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Telephonist]:
    trunk = {
        "name": "down",
        "host": "127.0.0.1",
        "port": free_port(),  # nobody listens there
        "prefixes": ["+1555999"],
        "transport": request.param,
    }
    with running(tmp_path, time_scale=1.0, sip_port=free_port(), sip_trunks=[trunk]) as t:
        yield t


def notifications(tel: Telephonist, call_sid: str) -> list[Any]:
    return list(tel.client().calls(call_sid).notifications.list())


def test_a_call_through_an_unreachable_trunk_fails(tel: Telephonist, webapp: WebApp) -> None:
    started = time.monotonic()
    call = tel.client().calls.create(
        to=CALLEE,
        from_=NUMBER,
        url=webapp.twiml("/voice", "<Response><Say>never heard</Say></Response>"),
        status_callback=webapp.url("/status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    final = tel.call_final(call.sid, timeout=20)
    assert final.status == "failed"
    assert time.monotonic() - started < 20  # not Timer B's 32 s, nor the ring timeout's 60
    hits = wait_until(lambda: [h for h in webapp.hits_for("/status") if h.param("CallStatus") == "failed"])
    assert len(hits) == 1
    assert hits[0].param("SipResponseCode") == "503"  # a transport error counts as 503 (RFC 3261 §8.1.3.1)
    assert not webapp.hits_for("/voice")
    [notice] = wait_until(lambda: notifications(tel, call.sid))
    assert (notice.error_code, notice.log) == ("32011", "1")  # a warning, as Twilio logs it
    assert notice.request_url.startswith(f"sip:{CALLEE}@127.0.0.1:")  # the URI it could not reach
    [text] = parse_qs(notice.message_text)["Msg"]  # form-encoded, as Twilio writes it
    assert text.startswith("Error communicating with your SIP communications infrastructure: sip:")
    assert text.endswith(
        "Connection refused"
    )  # ICMP port unreachable over UDP, a refused connection over TCP


def test_dial_to_an_unreachable_trunk_tells_its_action_failed(tel: Telephonist, webapp: WebApp) -> None:
    action = webapp.twiml("/after", "<Response><Say>Sorry</Say></Response>")
    dial = f'<Response><Dial action="{action}" timeout="10"><Number>{CALLEE}</Number></Dial></Response>'
    number = tel.client().incoming_phone_numbers.list(phone_number=NUMBER)[0]
    number.update(voice_url=webapp.twiml("/voice", dial))
    call = tel.sim("POST", "/Phones/+15557770001/Calls", To=NUMBER).json()
    [after] = webapp.wait_hits("/after", timeout=20)
    assert after.param("DialCallStatus") == "failed"
    assert after.param("CallSid") == call["sid"]
    [child] = tel.client().calls.list(parent_call_sid=call["sid"])
    assert child.status == "failed"
