"""Calls that come in: a virtual phone calls a platform number (POST /sim/v1/Phones/{n}/Calls), or one
platform number calls another. The number's VoiceUrl runs; <Reject> refuses the call unanswered."""

from __future__ import annotations

import pytest

from conftest import Telephonist, WebApp, wait_until
from voice.support import PHONE, PLATFORM_NUMBER, buy, events, params, place, set_voice_url, signed

NUMBER = "+15557770001"  # a number the test buys


def dial_in(tel: Telephonist, to: str = NUMBER, frm: str = PHONE, **data: object) -> str:
    r = tel.sim("POST", f"/Phones/{frm}/Calls", To=to, **data)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["from"] == frm and body["to"] == to
    return str(body["sid"])


def test_voice_url_gets_the_inbound_parameters(tel: Telephonist, webapp: WebApp) -> None:
    pn = buy(tel, NUMBER, voice_url=webapp.twiml("/in", "<Response><Say>Welcome</Say></Response>"))
    sid = dial_in(tel)
    call = tel.call_final(sid)
    assert call.status == "completed"
    assert call.direction == "inbound"
    assert (call._from, call.to, call.phone_number_sid) == (PHONE, NUMBER, pn.sid)
    assert call.start_time is not None and call.end_time is not None
    [hit] = webapp.hits_for("/in")
    assert hit.method == "POST"
    p = params(hit)
    assert (p["CallSid"], p["AccountSid"], p["Direction"], p["CallStatus"]) == (
        sid,
        tel.account_sid,
        "inbound",
        "ringing",
    )
    assert (p["From"], p["Caller"], p["To"], p["Called"], p["ApiVersion"]) == (
        PHONE,
        PHONE,
        NUMBER,
        NUMBER,
        "2010-04-01",
    )
    assert signed(hit)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Welcome"]


def test_voice_method_get(tel: Telephonist, webapp: WebApp) -> None:
    buy(tel, NUMBER, voice_url=webapp.twiml("/in", "<Response><Say>Hi</Say></Response>"), voice_method="GET")
    sid = dial_in(tel)
    tel.call_final(sid)
    [hit] = webapp.hits_for("/in")
    assert hit.method == "GET" and hit.form == {}
    assert hit.args["Direction"] == ["inbound"] and hit.args["CallSid"] == [sid]
    assert signed(hit)


def test_voice_url_set_by_update_on_the_default_number(tel: Telephonist, webapp: WebApp) -> None:
    set_voice_url(
        tel, PLATFORM_NUMBER, webapp.twiml("/default", "<Response><Say>Default number</Say></Response>")
    )
    sid = dial_in(tel, to=PLATFORM_NUMBER)
    tel.call_final(sid)
    assert params(webapp.hits_for("/default")[0])["To"] == PLATFORM_NUMBER
    assert [e["text"] for e in events(tel, sid, "say")] == ["Default number"]


def test_gather_input_of_the_call_request_feeds_the_gather(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml(
        "/menu", '<Response><Gather numDigits="2" action="/chosen"><Say>Choose</Say></Gather></Response>'
    )
    webapp.twiml("/chosen", "<Response><Say>Chosen</Say></Response>")
    buy(tel, NUMBER, voice_url=webapp.url("/menu"))
    sid = dial_in(tel, GatherInput=["42"])
    tel.call_final(sid)
    [hit] = webapp.hits_for("/chosen")
    p = params(hit)
    assert p["Digits"] == "42" and p["Direction"] == "inbound" and p["CallStatus"] == "in-progress"
    assert signed(hit)


def test_several_gather_inputs_on_one_call(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/one", '<Response><Gather action="/two"/></Response>')
    webapp.twiml("/two", '<Response><Gather input="speech" action="/three"/></Response>')
    webapp.twiml("/three", "<Response><Say>ok</Say></Response>")
    buy(tel, NUMBER, voice_url=webapp.url("/one"))
    sid = dial_in(tel, GatherInput=["9#", "speech:reservations"])
    tel.call_final(sid)
    assert params(webapp.hits_for("/two")[0])["Digits"] == "9"
    assert params(webapp.hits_for("/three")[0])["SpeechResult"] == "reservations"


def test_number_status_callback_gets_completed(tel: Telephonist, webapp: WebApp) -> None:
    buy(
        tel,
        NUMBER,
        voice_url=webapp.twiml("/in", "<Response><Say>Hi</Say></Response>"),
        status_callback=webapp.url("/status"),
    )
    sid = dial_in(tel)
    tel.call_final(sid)
    [hit] = webapp.wait_hits("/status")
    p = params(hit)
    assert (p["CallSid"], p["CallStatus"], p["Direction"], p["CallbackSource"]) == (
        sid,
        "completed",
        "inbound",
        "call-progress-events",
    )
    assert int(p["CallDuration"]) >= 0 and p["Timestamp"]
    assert signed(hit)


@pytest.mark.parametrize(("reason", "status"), [("busy", "busy"), ("rejected", "no-answer")])
def test_reject_refuses_the_call_without_answering(
    tel: Telephonist, webapp: WebApp, reason: str, status: str
) -> None:
    buy(
        tel,
        NUMBER,
        voice_url=webapp.twiml("/in", f'<Response><Reject reason="{reason}"/><Say>never</Say></Response>'),
    )
    sid = dial_in(tel)
    call = tel.call_final(sid)
    assert call.status == status
    assert call.start_time is None
    assert call.duration in ("0", None)
    assert tel.transcript(sid) == [{"event": "reject", "reason": reason}]


def test_reject_default_reason_is_rejected(tel: Telephonist, webapp: WebApp) -> None:
    buy(tel, NUMBER, voice_url=webapp.twiml("/in", "<Response><Reject/></Response>"))
    sid = dial_in(tel)
    assert tel.call_final(sid).status == "no-answer"
    assert tel.transcript(sid) == [{"event": "reject", "reason": "rejected"}]


def test_reject_reported_to_the_number_status_callback(tel: Telephonist, webapp: WebApp) -> None:
    buy(
        tel,
        NUMBER,
        voice_url=webapp.twiml("/in", '<Response><Reject reason="busy"/></Response>'),
        status_callback=webapp.url("/status"),
    )
    sid = dial_in(tel)
    tel.call_final(sid)
    [hit] = webapp.wait_hits("/status")
    assert params(hit)["CallStatus"] == "busy"
    assert params(hit)["CallSid"] == sid


def test_unconfigured_number_answers_with_a_default_message(tel: Telephonist) -> None:
    buy(tel, NUMBER)
    sid = dial_in(tel)
    assert tel.call_final(sid).status == "completed"
    [said] = events(tel, sid, "say")
    assert "voice URL" in said["text"]


def test_number_voice_fallback_url(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/in", "down", status=502)
    buy(
        tel,
        NUMBER,
        voice_url=url,
        voice_fallback_url=webapp.twiml("/fb", "<Response><Say>Backup</Say></Response>"),
    )
    sid = dial_in(tel)
    tel.call_final(sid)
    [hit] = webapp.hits_for("/fb")
    p = params(hit)
    assert (p["ErrorCode"], p["ErrorUrl"], p["Direction"]) == ("11200", url, "inbound")
    assert signed(hit)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Backup"]


def test_caller_hangs_up_an_inbound_call(tel: Telephonist, webapp: WebApp) -> None:
    buy(
        tel,
        NUMBER,
        voice_url=webapp.twiml("/in", '<Response><Say>Hold</Say><Pause length="500"/></Response>'),
    )
    sid = dial_in(tel)
    wait_until(lambda: events(tel, sid, "pause"))
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    call = tel.call_final(sid, timeout=3)
    assert call.status == "completed" and call.start_time is not None
    assert tel.transcript(sid)[-1] == {"event": "hangup", "by": "phone"}


def test_calling_a_number_of_no_account_is_refused(tel: Telephonist) -> None:
    r = tel.sim("POST", f"/Phones/{PHONE}/Calls", To="+15557779999")
    assert r.status_code == 400 and r.json()["code"] == 21606


# -- one platform number calls another ------------------------------------------------------------------


def test_platform_number_calls_another_platform_number(tel: Telephonist, webapp: WebApp) -> None:
    callee_url = webapp.twiml(
        "/callee", "<Response><Say>You reached the callee</Say><Pause length='2'/></Response>"
    )
    buy(tel, NUMBER, voice_url=callee_url)
    sid = place(tel, webapp.twiml("/caller", "<Response><Say>Caller speaking</Say></Response>"), to=NUMBER)
    assert tel.call_final(sid).status == "completed"
    client = tel.client()
    calls = wait_until(lambda: len(c := client.calls.list()) == 2 and c)
    inbound = next(c for c in calls if c.sid != sid)
    outbound = next(c for c in calls if c.sid == sid)
    assert outbound.direction == "outbound-api" and inbound.direction == "inbound"
    assert (outbound._from, outbound.to) == (PLATFORM_NUMBER, NUMBER)
    assert (inbound._from, inbound.to) == (PLATFORM_NUMBER, NUMBER)
    assert tel.call_final(inbound.sid).status == "completed"
    [hit] = webapp.hits_for("/callee")
    p = params(hit)
    assert (p["CallSid"], p["Direction"], p["CallStatus"], p["From"], p["To"]) == (
        inbound.sid,
        "inbound",
        "ringing",
        PLATFORM_NUMBER,
        NUMBER,
    )
    assert signed(hit)
    assert params(webapp.hits_for("/caller")[0])["Direction"] == "outbound-api"
    assert [e["text"] for e in events(tel, inbound.sid, "say")] == ["You reached the callee"]
    assert [e["text"] for e in events(tel, sid, "say")] == ["Caller speaking"]


@pytest.mark.parametrize(("reason", "status"), [("busy", "busy"), ("rejected", "no-answer")])
def test_platform_callee_rejects(tel: Telephonist, webapp: WebApp, reason: str, status: str) -> None:
    buy(tel, NUMBER, voice_url=webapp.twiml("/callee", f'<Response><Reject reason="{reason}"/></Response>'))
    sid = place(tel, webapp.twiml("/caller", "<Response><Say>never</Say></Response>"), to=NUMBER)
    call = tel.call_final(sid)
    assert call.status == status and call.start_time is None
    assert webapp.hits_for("/caller") == []
    inbound = next(c for c in tel.client().calls.list() if c.sid != sid)
    assert tel.call_final(inbound.sid).status == status
