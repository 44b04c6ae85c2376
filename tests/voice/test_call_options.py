"""Options of an outbound call: SendDigits, TimeLimit and answering machine detection (MachineDetection,
AsyncAmd) against virtual phones that declare themselves human or machine."""

from __future__ import annotations

import pytest

from conftest import Telephonist, WebApp, assert_twilio_error

from .support import PHONE, PLATFORM_NUMBER, events, params, phone, place, signed

LONG = '<Response><Pause length="600"/></Response>'


def test_send_digits_are_played_before_the_twiml(tel: Telephonist) -> None:
    sid = place(tel, twiml="<Response><Say>After the digits</Say></Response>", send_digits="1234w#")
    tel.call_final(sid)
    kinds = [(e["event"], e.get("digits") or e.get("text")) for e in tel.transcript(sid)][:2]
    assert kinds == [("play", "1234w#"), ("say", "After the digits")]


def test_time_limit_hangs_up_the_call(tel: Telephonist) -> None:
    sid = place(tel, twiml=LONG, time_limit=5)
    call = tel.call_final(sid)
    # 5 s is 50 ms at the tests' time scale: a loaded machine adds some, yet far from the 600 s of LONG
    assert call.status == "completed" and 4 <= int(call.duration) <= 60
    assert events(tel, sid, "hangup") == [{"event": "hangup", "by": "time-limit"}]


@pytest.mark.parametrize(
    ("declared", "mode", "answered_by"),
    [
        ("human", "Enable", "human"),
        ("machine", "Enable", "machine_start"),
        ("machine", "DetectMessageEnd", "machine_end_beep"),
        ("fax", "Enable", "fax"),
    ],
)
def test_machine_detection_tells_the_url_who_answered(
    tel: Telephonist, webapp: WebApp, declared: str, mode: str, answered_by: str
) -> None:
    phone(tel, AnsweredBy=declared)
    sid = place(tel, webapp.twiml("/voice", "<Response><Say>Hi</Say></Response>"), machine_detection=mode)
    call = tel.call_final(sid)
    assert call.answered_by == answered_by
    [hit] = webapp.wait_hits("/voice")
    assert params(hit)["AnsweredBy"] == answered_by and signed(hit)


def test_async_amd_runs_the_twiml_at_once_and_calls_back(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, AnsweredBy="machine")
    sid = place(
        tel,
        webapp.twiml("/voice", LONG),
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=webapp.url("/amd"),
    )
    [voice] = webapp.wait_hits("/voice")
    assert "AnsweredBy" not in params(voice)  # the TwiML did not wait for the detection
    [amd] = webapp.wait_hits("/amd")
    p = params(amd)
    assert (p["CallSid"], p["AnsweredBy"]) == (sid, "machine_end_beep")
    assert int(p["MachineDetectionDuration"]) > 0 and signed(amd)
    tel.client().calls(sid).update(status="completed")
    assert tel.call_final(sid).answered_by == "machine_end_beep"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"MachineDetection": "Sometimes"}, 21207),
        ({"TimeLimit": "0"}, 20001),
        ({"TimeLimit": "soon"}, 20001),
        ({"MachineDetection": "Enable", "AsyncAmd": "true", "AsyncAmdStatusCallback": "nope"}, 21205),
    ],
)
def test_bad_call_options(tel: Telephonist, data: dict[str, str], code: int) -> None:
    body = {"To": PHONE, "From": PLATFORM_NUMBER, "Twiml": LONG} | data
    with tel.http as h:
        r = h.post(f"/2010-04-01/Accounts/{tel.account_sid}/Calls.json", data=body)
    assert_twilio_error(r, 400, code)
    assert tel.client().calls.list() == []


def test_sim_refuses_an_unknown_answered_by(tel: Telephonist) -> None:
    r = tel.sim("POST", "/Phones", PhoneNumber=PHONE, AnsweredBy="robot")
    assert_twilio_error(r, 400, 20422)
