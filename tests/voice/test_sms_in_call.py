"""<Sms> and <Message> inside a call: a message with direction outbound-call, sent to the caller by default,
that reaches the phone; with an action, the action gets SmsSid and SmsStatus."""

from __future__ import annotations

import pytest

from conftest import Telephonist, WebApp, wait_until
from voice.support import PHONE, PLATFORM_NUMBER, buy, events, params, place, signed


def inbox(tel: Telephonist, number: str = PHONE) -> list[dict[str, str]]:
    return list(tel.sim("GET", f"/Phones/{number}").json()["messages"])


@pytest.mark.parametrize("verb", ["Sms", "Message"])
def test_sms_in_an_outbound_call_reaches_the_phone(tel: Telephonist, webapp: WebApp, verb: str) -> None:
    sid = place(
        tel, webapp.twiml("/voice", f"<Response><{verb}>Your code is 1234</{verb}><Say>Sent</Say></Response>")
    )
    assert tel.call_final(sid).status == "completed"
    [sms] = events(tel, sid, "sms")
    assert (sms["to"], sms["from"], sms["body"]) == (PHONE, PLATFORM_NUMBER, "Your code is 1234")
    assert sms["sid"].startswith(("SM", "MM"))
    assert [e["event"] for e in tel.transcript(sid)] == ["sms", "say", "hangup"]
    client = tel.client()
    message = client.messages(sms["sid"]).fetch()
    assert message.direction == "outbound-call"
    assert (message.to, message.from_, message.body) == (PHONE, PLATFORM_NUMBER, "Your code is 1234")
    wait_until(lambda: client.messages(sms["sid"]).fetch().status == "delivered")
    assert [(m["sid"], m["from"], m["body"]) for m in inbox(tel)] == [
        (sms["sid"], PLATFORM_NUMBER, "Your code is 1234")
    ]


def test_sms_with_explicit_to(tel: Telephonist, webapp: WebApp) -> None:
    other = "+15551234444"
    sid = place(tel, webapp.twiml("/voice", f'<Response><Sms to="{other}">For you</Sms></Response>'))
    tel.call_final(sid)
    [sms] = events(tel, sid, "sms")
    assert sms["to"] == other and sms["from"] == PLATFORM_NUMBER
    wait_until(lambda: [m["body"] for m in inbox(tel, other)] == ["For you"])
    assert inbox(tel) == []


@pytest.mark.parametrize("verb", ["Sms", "Message"])
def test_sms_action_gets_sms_sid_and_status(tel: Telephonist, webapp: WebApp, verb: str) -> None:
    webapp.twiml("/sent", "<Response><Say>Text sent</Say></Response>")
    sid = place(
        tel,
        webapp.twiml("/voice", f'<Response><{verb} action="/sent">Hi</{verb}><Say>never</Say></Response>'),
    )
    tel.call_final(sid)
    [hit] = webapp.hits_for("/sent")
    assert hit.method == "POST"
    p = params(hit)
    [sms] = events(tel, sid, "sms")
    assert p["SmsSid"] == sms["sid"]
    assert p["SmsStatus"] in ("queued", "sending", "sent", "delivered", "failed")
    assert (p["CallSid"], p["CallStatus"], p["Direction"]) == (sid, "in-progress", "outbound-api")
    assert signed(hit)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Text sent"]


def test_sms_action_get(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/sent", "<Response/>")
    sid = place(tel, webapp.twiml("/voice", '<Response><Sms action="/sent" method="GET">Hi</Sms></Response>'))
    tel.call_final(sid)
    [hit] = webapp.hits_for("/sent")
    assert hit.method == "GET" and hit.args["SmsSid"] == [events(tel, sid, "sms")[0]["sid"]]
    assert signed(hit)


def test_sms_in_an_inbound_call_goes_to_the_caller(tel: Telephonist, webapp: WebApp) -> None:
    number = "+15557770002"
    buy(
        tel,
        number,
        voice_url=webapp.twiml("/in", "<Response><Message>Thanks for calling</Message></Response>"),
    )
    r = tel.sim("POST", f"/Phones/{PHONE}/Calls", To=number)
    sid = r.json()["sid"]
    tel.call_final(sid)
    [sms] = events(tel, sid, "sms")
    assert (sms["to"], sms["from"], sms["body"]) == (PHONE, number, "Thanks for calling")
    assert tel.client().messages(sms["sid"]).fetch().direction == "outbound-call"
    wait_until(lambda: [m["body"] for m in inbox(tel)] == ["Thanks for calling"])


def test_sms_status_callback_of_the_message(tel: Telephonist, webapp: WebApp) -> None:
    status = webapp.url("/sms-status")
    sid = place(tel, webapp.twiml("/voice", f'<Response><Sms statusCallback="{status}">Hi</Sms></Response>'))
    tel.call_final(sid)
    [sms] = events(tel, sid, "sms")
    hits = webapp.wait_hits("/sms-status")
    p = params(hits[0])
    assert p["MessageSid"] == sms["sid"] and p["SmsSid"] == sms["sid"]
    assert signed(hits[0])


def test_invalid_to_is_refused_not_sent_to_the_caller(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(
        tel,
        webapp.twiml(
            "/voice", '<Response><Sms to="agent-42">Caller PIN is 1234</Sms><Say>Bye</Say></Response>'
        ),
    )
    tel.call_final(sid)
    assert events(tel, sid, "sms") == []
    assert tel.client().messages.list() == []
    assert "14101" in [n.error_code for n in tel.client().calls(sid).notifications.list()]
    assert inbox(tel) == []


def test_sms_from_a_number_the_account_does_not_own_is_refused_with_14108(
    tel: Telephonist, webapp: WebApp
) -> None:
    sid = place(
        tel, webapp.twiml("/voice", '<Response><Sms from="+15551230555">Hi</Sms><Say>Bye</Say></Response>')
    )
    tel.call_final(sid)
    assert events(tel, sid, "sms") == []
    assert tel.client().messages.list() == []
    assert "14108" in [n.error_code for n in tel.client().calls(sid).notifications.list()]
    assert [e["text"] for e in events(tel, sid, "say")] == ["Bye"]
