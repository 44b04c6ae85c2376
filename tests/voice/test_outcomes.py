"""How calls end: the phone is busy, does not answer, is off the network, answers by hand or hangs up; the
application cancels, completes or redirects a live call over REST."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import Telephonist, WebApp
from voice.support import PHONE, events, params, phone, place, signed, wait_event, wait_status

SAY = "<Response><Say>Hello</Say></Response>"
LONG = '<Response><Say>Please hold</Say><Pause length="500"/><Say>never</Say></Response>'


@pytest.mark.parametrize(
    ("answer", "status"), [("busy", "busy"), ("fail", "failed"), ("no-answer", "no-answer")]
)
def test_phone_that_does_not_pick_up(tel: Telephonist, webapp: WebApp, answer: str, status: str) -> None:
    phone(tel, Answer=answer)
    sid = place(tel, webapp.twiml("/voice", SAY), timeout=5)
    call = tel.call_final(sid)
    assert call.status == status
    assert call.start_time is None
    assert call.end_time is not None
    assert call.duration == "0"
    assert webapp.hits_for("/voice") == []
    assert tel.transcript(sid) == []


def test_phone_rings_longer_than_the_timeout(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, RingSeconds="30")
    sid = place(tel, webapp.twiml("/voice", SAY), timeout=5)
    assert tel.call_final(sid).status == "no-answer"
    assert webapp.hits_for("/voice") == []


def test_phone_answers_within_the_timeout(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, RingSeconds="3")
    sid = place(tel, webapp.twiml("/voice", SAY), timeout=5)
    assert tel.call_final(sid).status == "completed"
    assert len(webapp.hits_for("/voice")) == 1


def test_manual_answer(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, Answer="manual")
    sid = place(tel, webapp.twiml("/voice", SAY), timeout=600)
    wait_status(tel, sid, "ringing")
    assert webapp.hits_for("/voice") == []
    r = tel.sim("POST", f"/Calls/{sid}/Answer")
    assert r.status_code == 200, r.text
    call = tel.call_final(sid)
    assert call.status == "completed" and call.start_time is not None
    [hit] = webapp.hits_for("/voice")
    assert params(hit)["CallStatus"] == "in-progress"
    assert signed(hit)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Hello"]


def test_manual_phone_not_answered_is_no_answer(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, Answer="manual")
    sid = place(tel, webapp.twiml("/voice", SAY), timeout=5)
    assert tel.call_final(sid).status == "no-answer"


def test_phone_hangs_up_mid_call(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", LONG), status_callback=webapp.url("/status"))
    wait_event(tel, sid, "pause")
    r = tel.sim("POST", f"/Calls/{sid}/Hangup")
    assert r.status_code == 200, r.text
    call = tel.call_final(sid, timeout=3)
    assert call.status == "completed"
    assert call.start_time is not None and call.end_time is not None
    assert int(call.duration) < 500
    transcript = tel.transcript(sid)
    assert transcript[-1] == {"event": "hangup", "by": "phone"}
    assert [e["event"] for e in transcript] == ["say", "pause", "hangup"]
    [cb] = webapp.wait_hits("/status")
    assert params(cb)["CallStatus"] == "completed"


def test_phone_hangs_up_during_a_gather(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/done", SAY)
    sid = place(
        tel, webapp.twiml("/voice", '<Response><Gather timeout="500" action="/done"/><Say>x</Say></Response>')
    )
    wait_status(tel, sid, "in-progress")
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    assert tel.call_final(sid, timeout=3).status == "completed"
    assert tel.transcript(sid)[-1] == {"event": "hangup", "by": "phone"}
    assert webapp.hits_for("/done") == []


def test_phone_declines_a_ringing_call(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, Answer="manual")
    sid = place(tel, webapp.twiml("/voice", SAY), timeout=600)
    wait_status(tel, sid, "ringing")
    assert tel.sim("POST", f"/Calls/{sid}/Hangup").status_code == 200
    call = tel.call_final(sid, timeout=3)
    assert call.status in ("busy", "no-answer")
    assert call.start_time is None
    assert webapp.hits_for("/voice") == []


def test_cancel_while_ringing(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, Answer="manual")
    sid = place(tel, webapp.twiml("/voice", SAY), timeout=600, status_callback=webapp.url("/status"))
    wait_status(tel, sid, "ringing")
    call = tel.client().calls(sid).update(status="canceled")
    assert call.sid == sid
    final = tel.call_final(sid, timeout=3)
    assert final.status == "canceled"
    assert final.start_time is None
    assert webapp.hits_for("/voice") == []
    [cb] = webapp.wait_hits("/status")
    assert params(cb)["CallStatus"] == "canceled"
    # The phone can no longer answer a canceled call.
    assert tel.sim("POST", f"/Calls/{sid}/Answer").status_code == 400


def test_complete_a_live_call_over_rest(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", LONG))
    wait_event(tel, sid, "pause")
    tel.client().calls(sid).update(status="completed")
    call = tel.call_final(sid, timeout=3)
    assert call.status == "completed"
    assert tel.transcript(sid)[-1] == {"event": "hangup", "by": "api"}
    assert [e["text"] for e in events(tel, sid, "say")] == ["Please hold"]


def test_update_twiml_mid_pause_runs_at_once(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", LONG))
    wait_event(tel, sid, "pause")
    tel.client().calls(sid).update(twiml="<Response><Say>Your agent is ready</Say></Response>")
    # <Pause length="500"> would take 5 s of real time; the new document runs long before.
    said = wait_event(tel, sid, "say", count=2, timeout=3)
    assert [e["text"] for e in said] == ["Please hold", "Your agent is ready"]
    assert tel.call_final(sid, timeout=3).status == "completed"
    assert tel.transcript(sid)[-1] == {"event": "hangup", "by": "platform"}
    assert len(webapp.hits_for("/voice")) == 1


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_update_url_mid_pause_fetches_the_new_url(tel: Telephonist, webapp: WebApp, method: str) -> None:
    sid = place(tel, webapp.twiml("/voice", LONG))
    wait_event(tel, sid, "pause")
    new_url = webapp.twiml("/agent", "<Response><Say>Connecting you now</Say></Response>")
    tel.client().calls(sid).update(url=new_url, method=method)
    [hit] = webapp.wait_hits("/agent", timeout=3)
    assert hit.method == method
    p = params(hit)
    assert (p["CallSid"], p["CallStatus"], p["Direction"], p["To"]) == (
        sid,
        "in-progress",
        "outbound-api",
        PHONE,
    )
    assert signed(hit)
    assert tel.call_final(sid, timeout=3).status == "completed"
    assert [e["text"] for e in events(tel, sid, "say")] == ["Please hold", "Connecting you now"]


def test_update_twiml_while_ringing_runs_when_answered(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, Answer="manual")
    sid = place(tel, webapp.twiml("/voice", SAY), timeout=600)
    wait_status(tel, sid, "ringing")
    tel.client().calls(sid).update(twiml="<Response><Say>Changed before answer</Say></Response>")
    tel.sim("POST", f"/Calls/{sid}/Answer")
    assert tel.call_final(sid).status == "completed"
    assert [e["text"] for e in events(tel, sid, "say")] == ["Changed before answer"]
    assert webapp.hits_for("/voice") == []


def test_update_url_while_ringing_replaces_inline_twiml(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, Answer="manual")
    sid = place(tel, twiml="<Response><Say>old</Say></Response>", timeout=600)
    wait_status(tel, sid, "ringing")
    tel.client().calls(sid).update(url=webapp.twiml("/new", "<Response><Say>new</Say></Response>"))
    tel.sim("POST", f"/Calls/{sid}/Answer")
    assert tel.call_final(sid).status == "completed"
    assert [e["text"] for e in events(tel, sid, "say")] == ["new"]
    assert len(webapp.hits_for("/new")) == 1


def test_update_a_finished_call_is_refused(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", SAY))
    tel.call_final(sid)
    with pytest.raises(TwilioRestException) as info:
        tel.client().calls(sid).update(twiml="<Response><Say>late</Say></Response>")
    assert info.value.code == 21220 and info.value.status == 400


def test_call_duration_counts_answered_time(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", '<Response><Pause length="30"/></Response>'))
    call = tel.call_final(sid)
    assert 28 <= int(call.duration) <= 120


def test_cancel_does_not_end_a_call_in_progress(tel: Telephonist, webapp: WebApp) -> None:
    # 300 s at the tests' time scale of 0.01 is 3 s: room for the update on a loaded machine.
    script = '<Response><Pause length="300"/><Say>still here</Say></Response>'
    sid = place(tel, webapp.twiml("/voice", script))
    wait_event(tel, sid, "pause")
    assert tel.client().calls(sid).update(status="canceled").status == "in-progress"
    assert tel.call_final(sid).status == "completed"
    assert [e["text"] for e in events(tel, sid, "say")] == ["still here"]


def test_concurrent_calls_keep_their_own_input_and_transcript(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml(
        "/menu", '<Response><Gather numDigits="3" action="/done"><Say>Code?</Say></Gather></Response>'
    )
    webapp.twiml("/done", "<Response><Say>ok</Say></Response>")
    numbers = [f"+1555123{i:04d}" for i in range(10, 18)]
    for i, number in enumerate(numbers):
        phone(tel, number, GatherInput=[f"{i:03d}"])
    sids = {place(tel, webapp.url("/menu"), to=number): f"{i:03d}" for i, number in enumerate(numbers)}
    for sid in sids:
        assert tel.call_final(sid).status == "completed"
    got = {params(h)["CallSid"]: params(h)["Digits"] for h in webapp.wait_hits("/done", len(sids))}
    assert got == sids
    for sid, digits in sids.items():
        assert events(tel, sid, "gather") == [{"event": "gather", "digits": digits}]


def test_phone_lists_its_calls(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", SAY))
    tel.call_final(sid)
    calls = tel.sim("GET", f"/Phones/{PHONE}").json()["calls"]
    assert calls == [
        {"sid": sid, "direction": "outbound-api", "from": "+15005550006", "to": PHONE, "status": "completed"}
    ]
    sim_call = tel.sim("GET", f"/Calls/{sid}").json()
    assert (sim_call["sid"], sim_call["status"], sim_call["direction"]) == (sid, "completed", "outbound-api")
