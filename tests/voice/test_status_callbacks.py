"""Call status callbacks (twilio-wire.md §3.4): the subscribed StatusCallbackEvents, in SequenceNumber order,
with CallStatus, Timestamp, CallbackSource and CallDuration; only `completed` by default."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from conftest import Hit, Telephonist, WebApp
from voice.support import PHONE, PLATFORM_NUMBER, params, phone, place, signed

EVENTS = ["initiated", "ringing", "answered", "completed"]
SAY = "<Response><Say>Hello</Say><Pause length='2'/></Response>"


def ordered(hits: list[Hit]) -> list[dict[str, str]]:
    return sorted((params(h) for h in hits), key=lambda p: int(p["SequenceNumber"]))


def test_all_events_in_order(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(
        tel, webapp.twiml("/voice", SAY), status_callback=webapp.url("/status"), status_callback_event=EVENTS
    )
    call = tel.call_final(sid)
    assert call.status == "completed"
    hits = webapp.wait_hits("/status", 4)
    assert all(h.method == "POST" for h in hits)
    assert all(signed(h) for h in hits)
    cbs = ordered(hits)
    assert [p["SequenceNumber"] for p in cbs] == ["0", "1", "2", "3"]
    assert [p["CallStatus"] for p in cbs] == ["initiated", "ringing", "in-progress", "completed"]
    for p in cbs:
        assert p["CallSid"] == sid and p["AccountSid"] == tel.account_sid
        assert (p["From"], p["To"], p["Direction"], p["ApiVersion"]) == (
            PLATFORM_NUMBER,
            PHONE,
            "outbound-api",
            "2010-04-01",
        )
        assert p["CallbackSource"] == "call-progress-events"
        assert parsedate_to_datetime(p["Timestamp"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    stamps = [parsedate_to_datetime(p["Timestamp"]) for p in cbs]
    assert stamps == sorted(stamps)
    assert "CallDuration" not in cbs[0] and "CallDuration" not in cbs[2]
    assert cbs[3]["CallDuration"] == call.duration
    assert int(cbs[3]["CallDuration"]) >= 2


def test_default_is_completed_only(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", SAY), status_callback=webapp.url("/status"))
    call = tel.call_final(sid)
    [hit] = webapp.wait_hits("/status")
    p = params(hit)
    assert (p["CallSid"], p["CallStatus"], p["SequenceNumber"]) == (sid, "completed", "0")
    assert p["CallDuration"] == call.duration
    assert signed(hit)


def test_subset_of_events(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(
        tel,
        webapp.twiml("/voice", SAY),
        status_callback=webapp.url("/status"),
        status_callback_event=["answered", "completed"],
    )
    tel.call_final(sid)
    cbs = ordered(webapp.wait_hits("/status", 2))
    assert [p["CallStatus"] for p in cbs] == ["in-progress", "completed"]
    assert [p["SequenceNumber"] for p in cbs] == ["0", "1"]


def test_status_callback_method_get(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(
        tel,
        webapp.twiml("/voice", SAY),
        status_callback=webapp.url("/status"),
        status_callback_method="GET",
        status_callback_event=["ringing", "completed"],
    )
    tel.call_final(sid)
    hits = webapp.wait_hits("/status", 2)
    assert all(h.method == "GET" and h.form == {} for h in hits)
    assert sorted(params(h)["CallStatus"] for h in hits) == ["completed", "ringing"]
    assert all(params(h)["CallSid"] == sid and params(h)["Timestamp"] for h in hits)


def test_get_status_callback_signature_validates_in_flask(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(
        tel, webapp.twiml("/voice", SAY), status_callback=webapp.url("/status"), status_callback_method="GET"
    )
    tel.call_final(sid)
    [hit] = webapp.wait_hits("/status")
    assert "," in params(hit)["Timestamp"]
    assert signed(hit)


def test_status_callback_with_space_separated_events(tel: Telephonist, webapp: WebApp) -> None:
    # Twilio also accepts one space-separated value (twilio-wire.md §1.2).
    with tel.http as http:
        r = http.post(
            f"/2010-04-01/Accounts/{tel.account_sid}/Calls.json",
            data={
                "To": PHONE,
                "From": PLATFORM_NUMBER,
                "Url": webapp.twiml("/voice", SAY),
                "StatusCallback": webapp.url("/status"),
                "StatusCallbackEvent": "initiated completed",
            },
        )
    assert r.status_code == 201, r.text
    tel.call_final(r.json()["sid"])
    cbs = ordered(webapp.wait_hits("/status", 2))
    assert [p["CallStatus"] for p in cbs] == ["initiated", "completed"]


@pytest.mark.parametrize(("answer", "final"), [("busy", "busy"), ("fail", "failed")])
def test_unanswered_outcomes_are_reported_as_completed_events(
    tel: Telephonist, webapp: WebApp, answer: str, final: str
) -> None:
    phone(tel, Answer=answer)
    sid = place(
        tel, webapp.twiml("/voice", SAY), status_callback=webapp.url("/status"), status_callback_event=EVENTS
    )
    assert tel.call_final(sid).status == final
    cbs = ordered(webapp.wait_hits("/status", 3))
    assert [p["CallStatus"] for p in cbs] == ["initiated", "ringing", final]
    assert cbs[-1]["CallDuration"] == "0"
    assert webapp.hits_for("/voice") == []


def test_invalid_status_callback_event_is_refused(tel: Telephonist, webapp: WebApp) -> None:
    from twilio.base.exceptions import TwilioRestException

    with pytest.raises(TwilioRestException) as info:
        place(
            tel, webapp.url("/voice"), status_callback=webapp.url("/status"), status_callback_event=["hungup"]
        )
    assert info.value.code == 21626


def test_failing_status_callback_does_not_disturb_the_call(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/status", "oops", status=500)
    sid = place(
        tel, webapp.twiml("/voice", SAY), status_callback=webapp.url("/status"), status_callback_event=EVENTS
    )
    assert tel.call_final(sid).status == "completed"
    webapp.wait_hits("/status", 4)
    assert [e["event"] for e in tel.transcript(sid)] == ["say", "pause", "hangup"]
