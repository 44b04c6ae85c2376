"""When the application fails: an error notification on the call (11200, 11205, 11750, 12100, 12102, 12300),
the FallbackUrl with ErrorCode and ErrorUrl, or the caller hears the application error message. Warnings
(12200) are recorded and the call goes on. The server keeps serving after each."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Telephonist, WebApp, free_port
from voice.support import events, notifications, params, phone, place, server_alive, signed

APP_ERROR = "We are sorry, an application error has occurred. Goodbye."


def failed_call(tel: Telephonist, url: str, **kwargs: Any) -> str:
    sid = place(tel, url, **kwargs)
    assert tel.call_final(sid).status == "completed"
    return sid


def assert_app_error(tel: Telephonist, sid: str, code: int, url: str | None = None) -> Any:
    errors = [n for n in notifications(tel, sid) if n.log == "0"]
    assert [n.error_code for n in errors] == [str(code)]
    [note] = errors
    assert note.call_sid == sid and note.account_sid == tel.account_sid
    assert note.more_info.endswith(f"/{code}")
    if url is not None:
        assert note.request_url.startswith(url)
    said = events(tel, sid, "say")
    assert said[-1]["text"] == APP_ERROR
    assert tel.transcript(sid)[-1] == {"event": "hangup", "by": "platform"}
    return note


def test_http_500_is_11200_and_the_caller_hears_the_error(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/voice", "<Response><Say>unused</Say></Response>", status=500)
    sid = failed_call(tel, url)
    note = assert_app_error(tel, sid, 11200, url)
    assert note.request_method == "POST"
    assert [e["text"] for e in events(tel, sid, "say")] == [APP_ERROR]
    # Also on the account's list, and fetchable with the request and response.
    account_notes = tel.client().notifications.list()
    assert [n.sid for n in account_notes] == [note.sid]
    full = tel.client().notifications(note.sid).fetch()
    assert "CallSid=" + sid in full.request_variables
    server_alive(tel)


def test_http_404_on_a_redirect_is_11200(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/missing", "not here", status=404)
    sid = failed_call(
        tel, webapp.twiml("/voice", "<Response><Say>first</Say><Redirect>/missing</Redirect></Response>")
    )
    assert_app_error(tel, sid, 11200, webapp.url("/missing"))
    assert [e["text"] for e in events(tel, sid, "say")] == ["first", APP_ERROR]


def test_fallback_url_gets_error_code_and_url_and_its_twiml_runs(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/voice", "boom", status=500)
    fallback = webapp.twiml("/fallback", "<Response><Say>Sorry, try again later</Say></Response>")
    sid = place(tel, url, fallback_url=fallback)
    assert tel.call_final(sid).status == "completed"
    [hit] = webapp.hits_for("/fallback")
    assert hit.method == "POST"
    p = params(hit)
    assert (p["ErrorCode"], p["ErrorUrl"]) == ("11200", url)
    assert (p["CallSid"], p["CallStatus"], p["Direction"]) == (sid, "in-progress", "outbound-api")
    assert signed(hit)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Sorry, try again later"]
    assert [n.error_code for n in notifications(tel, sid)] == ["11200"]


def test_fallback_method_get(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/voice", "<Response><Bad", status=200)
    fallback = webapp.twiml("/fallback", "<Response><Say>fallback</Say></Response>")
    sid = place(tel, url, fallback_url=fallback, fallback_method="GET")
    tel.call_final(sid)
    [hit] = webapp.hits_for("/fallback")
    assert hit.method == "GET" and hit.args["ErrorCode"] == ["12100"] and hit.args["ErrorUrl"] == [url]
    assert [e["text"] for e in events(tel, sid, "say")] == ["fallback"]


def test_get_fallback_signature_validates_in_flask(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/voice", "boom", status=500)
    sid = place(tel, url, fallback_url=webapp.url("/fallback"), fallback_method="GET")
    tel.call_final(sid)
    [hit] = webapp.hits_for("/fallback")
    assert signed(hit)


def test_fallback_that_fails_too_plays_the_error(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/voice", "boom", status=500)
    fallback = webapp.twiml("/fallback", "also boom", status=503)
    sid = place(tel, url, fallback_url=fallback)
    assert tel.call_final(sid).status == "completed"
    assert [e["text"] for e in events(tel, sid, "say")] == [APP_ERROR]
    assert sorted(n.request_url for n in notifications(tel, sid)) == sorted([url, fallback])
    assert [n.error_code for n in notifications(tel, sid)] == ["11200", "11200"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("<Response><Say>unclosed</Response>", 12100),
        ("this is not xml", 12100),
        ("", 12100),
        ("<Document><Say>Hi</Say></Document>", 12102),
        ('<Response><Say loop="many">Hi</Say></Response>', 13510),
        ('<Response><Gather numDigits="0"/></Response>', 13314),
        ('<Response><Reject reason="maybe"/></Response>', 13810),
        ("<Response><Dial>" + "<Number>+15551230001</Number>" * 11 + "</Dial></Response>", 13250),
        ("<Response><Gather><Dial>+15551230001</Dial></Gather></Response>", 13320),
        ("<Response><Dial><Say>hi</Say></Dial></Response>", 13215),
        ('<Response><Record maxLength="none"/></Response>', 13612),
        ("<Response><Enqueue/></Response>", 14204),
        ('<Response><Dial><Conference beep="loud">room</Conference></Dial></Response>', 13235),
    ],
)
def test_invalid_twiml(tel: Telephonist, webapp: WebApp, body: str, code: int) -> None:
    url = webapp.twiml("/voice", body)
    sid = failed_call(tel, url)
    note = assert_app_error(tel, sid, code, url)
    assert note.message_text
    server_alive(tel)


def test_invalid_twiml_from_an_action_url(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/next", "<Response><Say>oops</Response>")
    sid = failed_call(
        tel, webapp.twiml("/voice", "<Response><Say>one</Say><Redirect>/next</Redirect></Response>")
    )
    assert_app_error(tel, sid, 12100, webapp.url("/next"))
    assert [e["text"] for e in events(tel, sid, "say")] == ["one", APP_ERROR]


def test_billion_laughs_document_is_refused_and_the_server_survives(tel: Telephonist, webapp: WebApp) -> None:
    lol = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE Response [<!ENTITY l0 "lol">{lol}]>'
        "<Response><Say>&l9;</Say></Response>"
    )
    sid = failed_call(tel, webapp.twiml("/voice", body))
    assert_app_error(tel, sid, 12100)
    server_alive(tel)


def test_unknown_verb_is_a_warning_and_the_call_continues(tel: Telephonist, webapp: WebApp) -> None:
    sid = failed_call(
        tel, webapp.twiml("/voice", "<Response><Say>one</Say><Shout>hey</Shout><Say>two</Say></Response>")
    )
    assert [e["text"] for e in events(tel, sid, "say")] == ["one", "two"]
    notes = notifications(tel, sid)
    assert [(n.error_code, n.log) for n in notes] == [("12200", "1")]
    assert "Shout" in notes[0].message_text
    assert [n.sid for n in tel.client().calls(sid).notifications.list(log=1)] == [notes[0].sid]
    assert tel.client().calls(sid).notifications.list(log=0) == []


def test_unknown_attribute_is_a_warning(tel: Telephonist, webapp: WebApp) -> None:
    sid = failed_call(tel, webapp.twiml("/voice", '<Response><Say colour="blue">Hi</Say></Response>'))
    assert [e["text"] for e in events(tel, sid, "say")] == ["Hi"]
    assert [(n.error_code, n.log) for n in notifications(tel, sid)] == [("12200", "1")]


def test_verbs_not_run_yet_are_warnings_and_skipped(tel: Telephonist, webapp: WebApp) -> None:
    sid = failed_call(tel, webapp.twiml("/voice", "<Response><Echo/><Say>after echo</Say></Response>"))
    assert [e["text"] for e in events(tel, sid, "say")] == ["after echo"]
    notes = notifications(tel, sid)
    assert [(n.error_code, n.log) for n in notes] == [("12200", "1")]
    assert "Echo" in notes[0].message_text


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", "image/png"])
def test_wrong_content_type_is_12300(tel: Telephonist, webapp: WebApp, ctype: str) -> None:
    url = webapp.twiml("/voice", "<Response><Say>Hi</Say></Response>", content_type=ctype)
    sid = failed_call(tel, url)
    assert_app_error(tel, sid, 12300, url)
    assert [e["text"] for e in events(tel, sid, "say")] == [APP_ERROR]
    server_alive(tel)


@pytest.mark.parametrize("ctype", ["application/xml", "text/html", "text/xml; charset=utf-8"])
def test_xml_content_types_are_accepted(tel: Telephonist, webapp: WebApp, ctype: str) -> None:
    sid = failed_call(tel, webapp.twiml("/voice", "<Response><Say>Hi</Say></Response>", content_type=ctype))
    assert [e["text"] for e in events(tel, sid, "say")] == ["Hi"]
    assert notifications(tel, sid) == []


def test_response_over_64_kb_is_11750(tel: Telephonist, webapp: WebApp) -> None:
    says = "".join(f"<Say>Sentence number {i} of a very long document.</Say>" for i in range(1600))
    body = f"<Response>{says}</Response>"
    assert len(body.encode()) > 64 * 1024
    url = webapp.twiml("/voice", body)
    sid = failed_call(tel, url)
    assert_app_error(tel, sid, 11750, url)
    assert [e["text"] for e in events(tel, sid, "say")] == [APP_ERROR]
    server_alive(tel)


def test_response_just_under_64_kb_runs(tel: Telephonist, webapp: WebApp) -> None:
    body = "<Response><Say>Hi</Say>" + " " * (60 * 1024) + "</Response>"
    sid = failed_call(tel, webapp.twiml("/voice", body))
    assert [e["text"] for e in events(tel, sid, "say")] == ["Hi"]


def test_connection_refused_is_11205(tel: Telephonist) -> None:
    url = f"http://127.0.0.1:{free_port()}/voice"
    sid = failed_call(tel, url)
    assert_app_error(tel, sid, 11205, url)
    server_alive(tel)


def test_connection_refused_uses_the_fallback(tel: Telephonist, webapp: WebApp) -> None:
    url = f"http://127.0.0.1:{free_port()}/voice"
    sid = place(tel, url, fallback_url=webapp.twiml("/fallback", "<Response><Say>fallback</Say></Response>"))
    tel.call_final(sid)
    p = params(webapp.hits_for("/fallback")[0])
    assert (p["ErrorCode"], p["ErrorUrl"]) == ("11205", url)
    assert [e["text"] for e in events(tel, sid, "say")] == ["fallback"]


def test_invalid_inline_twiml_is_12100(tel: Telephonist) -> None:
    sid = place(tel, twiml="<Response><Say>Hi</Response>")
    assert tel.call_final(sid).status == "completed"
    assert [n.error_code for n in notifications(tel, sid)] == ["12100"]
    assert [e["text"] for e in events(tel, sid, "say")] == [APP_ERROR]


def test_failed_gather_action_plays_the_error(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["1"])
    webapp.twiml("/action", "nope", status=500)
    sid = failed_call(
        tel, webapp.twiml("/voice", '<Response><Gather action="/action"/><Say>never</Say></Response>')
    )
    assert_app_error(tel, sid, 11200, webapp.url("/action"))
    assert [e["event"] for e in tel.transcript(sid)] == ["gather", "say", "hangup"]
