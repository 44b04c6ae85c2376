"""A call's Events: every webhook request the platform made for it and how the application answered."""

from __future__ import annotations

from conftest import Telephonist, WebApp, assert_twilio_error, wait_until
from voice.support import PHONE, phone, place


def test_events_show_each_request_and_answer(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel)
    url = webapp.twiml("/voice", "<Response><Say>Hello</Say></Response>")
    cb = webapp.url("/status")
    sid = place(tel, url, status_callback=cb, status_callback_event=["completed"])
    tel.call_final(sid)
    webapp.wait_hits("/status")
    client = tel.client()
    events = wait_until(lambda: len(e := client.calls(sid).events.list()) >= 2 and e)
    by_url = {e.request["url"]: e for e in events}
    voice, status = by_url[url], by_url[cb]
    assert voice.request["method"] == "POST"
    assert voice.request["parameters"]["call_sid"] == sid
    assert voice.request["parameters"]["to"] == PHONE
    assert voice.response["response_code"] == 200
    assert voice.response["content_type"] == "text/xml"
    assert voice.response["response_body"] == "<Response><Say>Hello</Say></Response>"
    assert isinstance(voice.response["request_duration"], int)
    assert voice.response["date_created"].endswith("+0000")
    assert status.request["parameters"]["call_status"] == "completed"
    # The virtual phone's transcript stays what the parties heard and did.
    assert all(e["event"] != "webhook" for e in tel.transcript(sid))


def test_failed_request_is_an_event_with_its_status(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel)
    url = webapp.twiml("/broken", "oops", status=500, content_type="text/plain")
    sid = place(tel, url)
    tel.call_final(sid)
    events = wait_until(lambda: tel.client().calls(sid).events.list())
    assert events[0].response["response_code"] == 500
    assert events[0].response["response_body"] == "oops"


def test_events_of_another_accounts_call_are_not_found(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel)
    sid = place(tel, webapp.twiml("/v", "<Response/>"))
    tel.call_final(sid)
    other = tel.client().api.accounts.create(friendly_name="other")
    with tel.http as h:
        r = h.get(
            f"/2010-04-01/Accounts/{other.sid}/Calls/{sid}/Events.json", auth=(other.sid, other.auth_token)
        )
    assert_twilio_error(r, 404, 20404)
