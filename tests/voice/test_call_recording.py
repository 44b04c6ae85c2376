"""Recordings of whole calls: Record=true on a new call, <Dial record>, and the REST controls of a live
call. The audio is what was said on the call, at the time it was said."""

from __future__ import annotations

import io
import wave

import httpx
import pytest

from conftest import Telephonist, WebApp, assert_twilio_error, wait_until

from .support import PHONE, PLATFORM_NUMBER, events, params, place, signed, wait_event

AGENT = "+15551230501"
CUSTOMER = "+15551230502"
LONG = '<Response><Pause length="600"/></Response>'


def wav_info(url: str) -> tuple[int, float]:
    r = httpx.get(url + ".wav")
    assert r.status_code == 200
    with wave.open(io.BytesIO(r.content)) as w:
        return w.getnchannels(), w.getnframes() / w.getframerate()


def test_record_true_records_the_whole_call(tel: Telephonist, webapp: WebApp) -> None:
    twiml = '<Response><Say>This call is recorded.</Say><Pause length="3"/><Say>Goodbye.</Say></Response>'
    sid = place(
        tel,
        twiml=twiml,
        record=True,
        recording_status_callback=webapp.url("/rec"),
        recording_status_callback_event=["in-progress", "completed"],
        trim="do-not-trim",
    )
    call = tel.call_final(sid)
    hits = webapp.wait_hits("/rec", 2)
    assert [params(h)["RecordingStatus"] for h in hits] == ["in-progress", "completed"]
    done = params(hits[1])
    assert (done["CallSid"], done["RecordingSource"], done["RecordingChannels"]) == (sid, "OutboundAPI", "1")
    assert all(signed(h) for h in hits)
    [rec] = tel.client().calls(sid).recordings.list()
    assert (rec.status, rec.source, rec.channels) == ("completed", "OutboundAPI", 1)
    channels, seconds = wav_info(done["RecordingUrl"])
    assert channels == 1 and abs(seconds - int(rec.duration)) <= 1
    assert int(rec.duration) >= 4 and abs(int(rec.duration) - int(call.duration)) <= 2


def test_click_to_call_dials_an_agent_and_records_both_sides(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/after", "<Response><Say>The call was recorded.</Say></Response>")
    twiml = f'<Response><Dial record="record-from-answer-dual" action="/after">{CUSTOMER}</Dial></Response>'
    agent_call = place(tel, webapp.twiml("/connect", twiml), to=AGENT)
    customer = wait_event(tel, agent_call, "bridged")[0]["call_sid"]
    tel.sim("POST", f"/Calls/{agent_call}/Speech", Text="Hello, this is Dana from the clinic.")
    wait_event(tel, customer, "heard")
    tel.sim("POST", f"/Calls/{customer}/Speech", Text="Hi Dana, thanks for calling back.")
    wait_event(tel, agent_call, "heard")
    tel.sim("POST", f"/Calls/{customer}/Hangup")
    tel.call_final(agent_call)
    p = params(webapp.wait_hits("/after")[0])
    assert p["DialCallStatus"] == "completed" and p["RecordingSid"].startswith("RE")
    channels, seconds = wav_info(p["RecordingUrl"])
    assert channels == 2 and seconds >= 2
    rec = tel.client().recordings(p["RecordingSid"]).fetch()
    assert (rec.call_sid, rec.source, rec.channels) == (agent_call, "DialVerb", 2)
    assert abs(int(rec.duration) - int(p["RecordingDuration"])) <= 1


def test_rest_controls_start_pause_resume_and_stop(tel: Telephonist) -> None:
    client = tel.client()
    sid = place(tel, twiml=LONG)
    wait_until(lambda: client.calls(sid).fetch().status == "in-progress")
    rec = client.calls(sid).recordings.create(recording_channels="dual")
    assert (rec.status, rec.source, rec.channels) == ("in-progress", "StartCallRecordingAPI", 2)
    assert client.calls(sid).recordings(rec.sid).update(status="paused").status == "paused"
    assert client.calls(sid).recordings("Twilio.CURRENT").update(status="in-progress").status == "in-progress"
    stopped = client.calls(sid).recordings(rec.sid).update(status="stopped")
    assert stopped.status in ("completed", "absent")
    with tel.http as h:
        r = h.post(
            f"/2010-04-01/Accounts/{tel.account_sid}/Calls/{sid}/Recordings/{rec.sid}.json",
            data={"Status": "paused"},
        )
    assert_twilio_error(r, 400, 21220)
    client.calls(sid).update(status="completed")
    tel.call_final(sid)
    with tel.http as h:
        r = h.post(f"/2010-04-01/Accounts/{tel.account_sid}/Calls/{sid}/Recordings.json")
    assert_twilio_error(r, 400, 21220)


def test_recording_stops_with_the_call(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    sid = place(tel, twiml='<Response><Say>One moment please.</Say><Pause length="600"/></Response>')
    wait_until(lambda: client.calls(sid).fetch().status == "in-progress")
    rec = client.calls(sid).recordings.create()
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    tel.call_final(sid)
    assert wait_until(lambda: client.recordings(rec.sid).fetch().status in ("completed", "absent"))
    assert events(tel, sid, "hangup") == [{"event": "hangup", "by": "phone"}]


def test_bad_recording_options_are_refused(tel: Telephonist) -> None:
    with tel.http as h:
        r = h.post(
            f"/2010-04-01/Accounts/{tel.account_sid}/Calls.json",
            data={
                "To": PHONE,
                "From": PLATFORM_NUMBER,
                "Twiml": LONG,
                "Record": "true",
                "RecordingChannels": "stereo",
            },
        )
    assert_twilio_error(r, 400, 20001)
    assert tel.client().calls.list() == []


@pytest.mark.parametrize(
    ("mode", "channels"),
    [("record-from-answer", 1), ("true", 1), ("record-from-ringing", 1), ("record-from-ringing-dual", 2)],
)
def test_dial_record_modes(tel: Telephonist, webapp: WebApp, mode: str, channels: int) -> None:
    webapp.twiml("/after", "<Response/>")
    dial = f'<Dial record="{mode}" trim="do-not-trim" timeLimit="3" action="/after">{CUSTOMER}</Dial>'
    twiml = f"<Response>{dial}</Response>"
    sid = place(tel, webapp.twiml("/connect", twiml), to=AGENT)
    tel.call_final(sid)
    p = params(webapp.wait_hits("/after")[0])
    rec = tel.client().recordings(p["RecordingSid"]).fetch()
    assert (rec.source, rec.channels, rec.status) == ("DialVerb", channels, "completed")
    recorded_channels, seconds = wav_info(p["RecordingUrl"])
    assert recorded_channels == channels and seconds >= 2


def test_dial_without_record_keeps_nothing(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/after", "<Response/>")
    sid = place(
        tel,
        webapp.twiml(
            "/connect", f'<Response><Dial timeLimit="1" action="/after">{CUSTOMER}</Dial></Response>'
        ),
    )
    tel.call_final(sid)
    assert "RecordingSid" not in params(webapp.wait_hits("/after")[0])
    assert tel.client().recordings.list() == []


def test_a_silent_dial_with_trim_silence_records_nothing(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/after", "<Response/>")
    twiml = f'<Response><Dial record="true" timeLimit="2" action="/after">{CUSTOMER}</Dial></Response>'
    sid = place(tel, webapp.twiml("/connect", twiml))
    tel.call_final(sid)
    assert "RecordingSid" not in params(webapp.wait_hits("/after")[0])
    assert [r.status for r in tel.client().recordings.list()] == ["absent"]
