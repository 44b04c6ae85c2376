"""<Record> on the simulated network: the caller's words become a real recording (WAV and MP3 of the right
length), the action and callbacks carry Twilio's parameters, and the Recordings and Transcriptions
resources list, fetch and delete them."""

from __future__ import annotations

import io
import wave

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import Telephonist, WebApp, assert_twilio_error, wait_until

from .support import events, params, phone, place, signed

MESSAGE = "Hi, this is Bob from accounting. Please call me back about the invoice."
VOICEMAIL = (
    "<Response><Say>Please leave a message after the beep.</Say>"
    '<Record maxLength="30" action="/recorded" transcribe="true" transcribeCallback="/transcribed" '
    'recordingStatusCallback="/recording-status"/><Say>We did not get a message.</Say></Response>'
)


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        return w.getnframes() / w.getframerate()


def test_voicemail_records_the_caller_and_the_recording_is_a_wav_of_its_duration(
    tel: Telephonist, webapp: WebApp
) -> None:
    phone(tel, GatherInput=[f"speech:{MESSAGE}"])
    webapp.twiml("/recorded", "<Response><Say>Thank you, goodbye.</Say></Response>")
    sid = place(tel, webapp.twiml("/voice", VOICEMAIL))
    tel.call_final(sid)
    [hit] = webapp.wait_hits("/recorded")
    p = params(hit)
    assert signed(hit)
    assert p["RecordingSid"].startswith("RE") and p["Digits"] == ""
    duration = int(p["RecordingDuration"])
    assert 3 <= duration <= 8
    media = f"/2010-04-01/Accounts/{tel.account_sid}/Recordings/{p['RecordingSid']}"
    assert p["RecordingUrl"] == tel.base_url + media
    # the audio is public, as on Twilio: no credentials
    for suffix in ("", ".wav"):
        r = httpx.get(p["RecordingUrl"] + suffix)
        assert r.status_code == 200 and r.headers["content-type"] == "audio/x-wav"
        assert abs(wav_seconds(r.content) - duration) <= 1
    mp3 = httpx.get(p["RecordingUrl"] + ".mp3")
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    assert mp3.content[:2] == b"\xff\xe3" or mp3.content[:3] == b"ID3"
    said = [e["text"] for e in events(tel, sid, "say")]
    assert said == ["Please leave a message after the beep.", "Thank you, goodbye."]
    assert events(tel, sid, "beep") == [{"event": "beep"}]
    [record] = events(tel, sid, "record")
    assert record["recording_sid"] == p["RecordingSid"] and record["duration"] == duration


def test_recording_resource_and_transcription(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=[f"speech:{MESSAGE}"])
    sid = place(tel, webapp.twiml("/voice", VOICEMAIL))
    tel.call_final(sid)
    client = tel.client()
    [recording] = client.recordings.list()
    assert (recording.call_sid, recording.status, recording.source, recording.channels) == (
        sid,
        "completed",
        "RecordVerb",
        1,
    )
    assert int(recording.duration) >= 3
    assert client.recordings(recording.sid).fetch().sid == recording.sid
    assert [r.sid for r in client.calls(sid).recordings.list()] == [recording.sid]
    assert [r.sid for r in client.recordings.list(call_sid=sid)] == [recording.sid]
    [tr] = wait_until(lambda: client.transcriptions.list())
    assert (tr.recording_sid, tr.status, tr.transcription_text) == (recording.sid, "completed", MESSAGE)
    [hit] = webapp.wait_hits("/transcribed")
    p = params(hit)
    assert (p["TranscriptionText"], p["TranscriptionStatus"], p["RecordingSid"], p["CallSid"]) == (
        MESSAGE,
        "completed",
        recording.sid,
        sid,
    )
    assert signed(hit)
    [status] = webapp.wait_hits("/recording-status")
    s = params(status)
    assert (s["RecordingStatus"], s["RecordingSid"], s["RecordingSource"]) == (
        "completed",
        recording.sid,
        "RecordVerb",
    )
    assert signed(status)
    # delete: the row, the audio and the transcription go
    assert client.recordings(recording.sid).delete() is True
    assert httpx.get(f"{tel.base_url}{recording.uri[:-5]}.wav").status_code == 404
    assert client.transcriptions.list() == []
    with pytest.raises(TwilioRestException) as info:
        client.recordings(recording.sid).fetch()
    assert info.value.status == 404 and info.value.code == 20404


def test_silence_records_nothing_and_goes_on_to_the_next_verb(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", VOICEMAIL))
    tel.call_final(sid)
    assert webapp.hits_for("/recorded") == []
    said = [e["text"] for e in events(tel, sid, "say")]
    assert said == ["Please leave a message after the beep.", "We did not get a message."]
    [recording] = tel.client().recordings.list()
    assert recording.status == "absent"
    assert httpx.get(f"{tel.base_url}{recording.uri[:-5]}").status_code == 404


def test_finish_on_key_ends_the_recording_with_its_digit(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["speech:Short message"])
    twiml = '<Response><Record timeout="60" finishOnKey="#" action="/recorded" playBeep="false"/></Response>'
    sid = place(tel, webapp.twiml("/voice", twiml))
    wait_until(lambda: tel.client().recordings.list())
    tel.sim("POST", f"/Calls/{sid}/Digits", Digits="#")
    tel.call_final(sid)
    [hit] = webapp.wait_hits("/recorded")
    assert params(hit)["Digits"] == "#" and int(params(hit)["RecordingDuration"]) >= 1
    assert events(tel, sid, "beep") == []


def test_caller_hanging_up_still_gets_the_action_with_digits_hangup(tel: Telephonist, webapp: WebApp) -> None:
    twiml = '<Response><Record timeout="60" action="/recorded"/><Say>never</Say></Response>'
    sid = place(tel, webapp.twiml("/voice", twiml))
    wait_until(lambda: events(tel, sid, "beep"))
    tel.sim("POST", f"/Calls/{sid}/Speech", Text="Call me when you can")
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    call = tel.call_final(sid)
    assert call.status == "completed"
    [hit] = webapp.wait_hits("/recorded")
    assert params(hit)["Digits"] == "hangup" and int(params(hit)["RecordingDuration"]) >= 1
    assert [e["text"] for e in events(tel, sid, "say")] == []
    assert events(tel, sid, "hangup") == [{"event": "hangup", "by": "phone"}]


def test_max_length_cuts_the_recording(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=[f"speech:{MESSAGE} {MESSAGE}"])
    twiml = '<Response><Record maxLength="2" trim="do-not-trim" action="/recorded"/></Response>'
    sid = place(tel, webapp.twiml("/voice", twiml))
    tel.call_final(sid)
    assert int(params(webapp.wait_hits("/recorded")[0])["RecordingDuration"]) <= 3


@pytest.mark.parametrize(
    ("attrs", "code"),
    [
        ('method="PUT"', 13610),
        ('timeout="soon"', 13611),
        ('maxLength="0"', 13612),
        ('finishOnKey="a"', 13613),
        ('transcribe="maybe"', 13614),
        ('playBeep="yes"', 13616),
        ('recordingStatusCallbackEvent="started"', 13621),
        ('trim="some"', 13699),
    ],
)
def test_bad_record_attributes_fail_the_document(
    tel: Telephonist, webapp: WebApp, attrs: str, code: int
) -> None:
    sid = place(tel, webapp.twiml("/voice", f"<Response><Record {attrs}/></Response>"))
    tel.call_final(sid)
    assert str(code) in [n.error_code for n in tel.client().calls(sid).notifications.list()]
    assert tel.client().recordings.list() == []


def test_another_accounts_recording_is_not_found(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=[f"speech:{MESSAGE}"])
    sid = place(tel, webapp.twiml("/voice", '<Response><Record maxLength="10" action="/done"/></Response>'))
    tel.call_final(sid)
    [recording] = tel.client().recordings.list()
    sub = tel.client().api.accounts.create(friendly_name="other")
    with httpx.Client(base_url=tel.base_url, auth=(sub.sid, sub.auth_token)) as h:
        r = h.get(f"/2010-04-01/Accounts/{sub.sid}/Recordings/{recording.sid}.json")
        assert_twilio_error(r, 404, 20404)
        assert h.get(f"/2010-04-01/Accounts/{sub.sid}/Recordings.json").json()["recordings"] == []
    other_media = f"{tel.base_url}/2010-04-01/Accounts/{sub.sid}/Recordings/{recording.sid}.wav"
    assert httpx.get(other_media).status_code == 404


def test_default_action_is_the_current_document_so_an_unanswered_prompt_loops_once(
    tel: Telephonist, webapp: WebApp
) -> None:
    phone(tel, GatherInput=[f"speech:{MESSAGE}"])
    sid = place(tel, webapp.twiml("/voice", '<Response><Record maxLength="10"/></Response>'))
    tel.call_final(sid)
    first, second = webapp.wait_hits("/voice", 2)
    assert "RecordingSid" not in params(first) and params(second)["RecordingSid"].startswith("RE")
    assert sorted(r.status for r in tel.client().recordings.list()) == ["absent", "completed"]
