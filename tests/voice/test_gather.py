"""<Gather>: what the phone enters (queued GatherInput, or live keys and speech over /sim/v1) reaches the
application's action URL as Digits or SpeechResult + Confidence (twilio-wire.md §3.3, §4.2)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator
from werkzeug.urls import iri_to_uri

from conftest import AUTH_TOKEN, Telephonist, WebApp, wait_until
from voice.support import PHONE, events, params, phone, place, signed, wait_event

DONE = "<Response><Say>Thanks</Say></Response>"


def gather_call(
    tel: Telephonist, webapp: WebApp, gather: str, after: str = "", path: str = "/ivr/menu"
) -> str:
    webapp.twiml("/ivr/done", DONE)
    return place(tel, webapp.twiml(path, f"<Response>{gather}{after}</Response>"))


def test_queued_digits_reach_the_action(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["1234"])
    sid = gather_call(tel, webapp, '<Gather action="/ivr/done"/>', "<Say>never</Say>")
    assert tel.call_final(sid).status == "completed"
    [hit] = webapp.hits_for("/ivr/done")
    assert hit.method == "POST"
    p = params(hit)
    assert p["Digits"] == "1234"
    assert (p["CallSid"], p["CallStatus"], p["Direction"], p["To"]) == (
        sid,
        "in-progress",
        "outbound-api",
        PHONE,
    )
    assert "SpeechResult" not in p
    assert signed(hit)
    assert [e for e in tel.transcript(sid) if e["event"] in ("gather", "say")] == [
        {"event": "gather", "digits": "1234"},
        {"event": "say", "text": "Thanks", "voice": "man", "language": "en"},
    ]


def test_queued_inputs_feed_successive_gathers_and_are_consumed(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["1", "22"])
    webapp.twiml("/second", '<Response><Gather action="/ivr/done"/></Response>')
    sid = gather_call(tel, webapp, '<Gather action="/second"/>')
    tel.call_final(sid)
    assert params(webapp.hits_for("/second")[0])["Digits"] == "1"
    assert params(webapp.hits_for("/ivr/done")[0])["Digits"] == "22"
    assert tel.sim("GET", f"/Phones/{PHONE}").json()["gather_input"] == []


def test_each_gather_input_feeds_only_its_own_gather(tel: Telephonist, webapp: WebApp) -> None:
    # README: "each GatherInput feeds the next <Gather>"; keys beyond numDigits must not leak into the next.
    phone(tel, GatherInput=["12", "5"])
    webapp.twiml("/second", '<Response><Gather numDigits="1" action="/ivr/done"/></Response>')
    sid = gather_call(tel, webapp, '<Gather numDigits="1" action="/second"/>')
    tel.call_final(sid)
    assert params(webapp.hits_for("/second")[0])["Digits"] == "1"
    assert params(webapp.hits_for("/ivr/done")[0])["Digits"] == "5"


def test_num_digits_stops_at_the_count(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["12"])
    sid = gather_call(tel, webapp, '<Gather action="/ivr/done" numDigits="1"/>')
    tel.call_final(sid)
    assert params(webapp.hits_for("/ivr/done")[0])["Digits"] == "1"
    assert events(tel, sid, "gather") == [{"event": "gather", "digits": "1"}]


def test_finish_on_key_ends_input_and_is_not_included(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["1234#"])
    sid = gather_call(tel, webapp, '<Gather action="/ivr/done" timeout="50"/>')
    tel.call_final(sid)
    assert params(webapp.hits_for("/ivr/done")[0])["Digits"] == "1234"


def test_custom_finish_on_key(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["12#3*"])
    sid = gather_call(tel, webapp, '<Gather action="/ivr/done" finishOnKey="*"/>')
    tel.call_final(sid)
    assert params(webapp.hits_for("/ivr/done")[0])["Digits"] == "12#3"


def test_finish_on_key_first_is_no_input(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["#"])
    sid = gather_call(tel, webapp, '<Gather action="/ivr/done"/>', "<Say>No input</Say>")
    tel.call_final(sid)
    assert webapp.hits_for("/ivr/done") == []
    assert [e["text"] for e in events(tel, sid, "say")] == ["No input"]


def test_default_action_is_the_current_document_url(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["5"])
    sid = gather_call(tel, webapp, "<Gather/>", "<Say>Goodbye</Say>")
    tel.call_final(sid)
    first, second = webapp.wait_hits("/ivr/menu", 2)
    assert "Digits" not in params(first)
    assert second.method == "POST" and params(second)["Digits"] == "5"
    assert signed(second)
    # The second run of the document got no input and fell through.
    assert [e["digits"] for e in events(tel, sid, "gather")] == ["5", ""]
    assert [e["text"] for e in events(tel, sid, "say")] == ["Goodbye"]


def test_default_action_keeps_the_document_query_string(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["5"])
    webapp.twiml("/ivr/menu", "<Response><Gather/></Response>")
    sid = place(tel, webapp.url("/ivr/menu?step=2"))
    tel.call_final(sid)
    _, second = webapp.wait_hits("/ivr/menu", 2)
    assert second.args == {"step": ["2"]}
    assert params(second)["Digits"] == "5"
    assert signed(second)


def test_default_action_of_a_get_document_is_the_url_as_configured(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["5"])
    webapp.twiml("/ivr/menu", '<Response><Gather method="GET"/></Response>')
    sid = place(tel, webapp.url("/ivr/menu?step=2"), method="GET")
    tel.call_final(sid)
    _, second = webapp.wait_hits("/ivr/menu", 2)
    assert second.method == "GET"
    query = parse_qs(urlsplit(second.url).query)
    assert query["Digits"] == ["5"] and query["step"] == ["2"]
    assert signed(second)
    # Each parameter once: the first request's query string is not carried into the action URL.
    assert query["CallSid"] == [sid]
    assert {k: len(v) for k, v in query.items() if len(v) > 1} == {}


def test_relative_action_resolves_against_the_document_url(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["7"])
    webapp.twiml("/ivr/sub/next", DONE)
    sid = gather_call(tel, webapp, '<Gather action="sub/next" method="GET"/>')
    tel.call_final(sid)
    [hit] = webapp.hits_for("/ivr/sub/next")
    assert hit.method == "GET" and hit.args["Digits"] == ["7"]
    assert signed(hit)


def test_absolute_action_url(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["7"])
    absolute = webapp.twiml("/elsewhere", DONE)
    sid = gather_call(tel, webapp, f'<Gather action="{absolute}?from=menu"/>')
    tel.call_final(sid)
    [hit] = webapp.hits_for("/elsewhere")
    assert hit.args == {"from": ["menu"]} and hit.form["Digits"] == ["7"]
    assert signed(hit)


def test_speech_input(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["speech:book a table"])
    sid = gather_call(tel, webapp, '<Gather input="speech" action="/ivr/done"/>')
    tel.call_final(sid)
    p = params(webapp.hits_for("/ivr/done")[0])
    assert p["SpeechResult"] == "book a table"
    assert 0.0 <= float(p["Confidence"]) <= 1.0
    assert "Digits" not in p
    assert events(tel, sid, "gather") == [{"event": "gather", "digits": "", "speech": "book a table"}]


def test_non_ascii_speech_is_signed_correctly(tel: Telephonist, webapp: WebApp) -> None:
    text = "cr\u00e8me br\u00fbl\u00e9e, s'il vous pla\u00eet & merci"
    phone(tel, GatherInput=["speech:" + text])
    sid = gather_call(tel, webapp, '<Gather input="speech" action="/ivr/done"/>')
    tel.call_final(sid)
    [hit] = webapp.hits_for("/ivr/done")
    assert hit.form["SpeechResult"] == [text]
    assert signed(hit)


def test_get_action_with_punctuated_speech_is_signed_as_flask_sees_it(
    tel: Telephonist, webapp: WebApp
) -> None:
    phone(tel, GatherInput=["speech:yes, it's me"])
    sid = gather_call(tel, webapp, '<Gather input="speech" method="GET" action="/ivr/done"/>')
    tel.call_final(sid)
    [hit] = webapp.hits_for("/ivr/done")
    assert hit.args["SpeechResult"] == ["yes, it's me"]
    assert signed(hit)


def test_get_action_with_non_ascii_speech_is_signed_over_the_url_as_sent(
    tel: Telephonist, webapp: WebApp
) -> None:
    # The signature covers the URL as requested on the wire: non-ASCII values percent-encoded as UTF-8,
    # which is what Django's build_absolute_uri() gives. Flask's request.url decodes them (an IRI), so
    # a Flask app validates iri_to_uri(request.url) instead (README, "Signed webhooks").
    phone(tel, GatherInput=["speech:cr\u00e8me br\u00fbl\u00e9e"])
    sid = gather_call(
        tel, webapp, '<Gather input="speech" language="fr-FR" method="GET" action="/ivr/done"/>'
    )
    tel.call_final(sid)
    [hit] = webapp.hits_for("/ivr/done")
    assert hit.args["SpeechResult"] == ["cr\u00e8me br\u00fbl\u00e9e"]
    validator = RequestValidator(AUTH_TOKEN)
    assert validator.validate(iri_to_uri(hit.url), {}, hit.headers["X-Twilio-Signature"])


def test_speech_or_dtmf_accepts_speech(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["speech:sales please"])
    sid = gather_call(tel, webapp, '<Gather input="dtmf speech" action="/ivr/done"/>')
    tel.call_final(sid)
    assert params(webapp.hits_for("/ivr/done")[0])["SpeechResult"] == "sales please"


def test_speech_is_not_heard_by_a_dtmf_gather(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["speech:hello"])
    sid = gather_call(tel, webapp, '<Gather action="/ivr/done"/>', "<Say>Nothing</Say>")
    tel.call_final(sid)
    assert webapp.hits_for("/ivr/done") == []
    assert [e["text"] for e in events(tel, sid, "say")] == ["Nothing"]


def test_nested_prompts_are_heard_before_the_gather_ends(tel: Telephonist, webapp: WebApp) -> None:
    sid = gather_call(
        tel,
        webapp,
        '<Gather action="/ivr/done" timeout="1"><Say voice="woman">For sales press one</Say>'
        '<Pause length="2"/><Play>http://x/beep.mp3</Play></Gather>',
        "<Say>Bye</Say>",
    )
    tel.call_final(sid)
    assert tel.transcript(sid) == [
        {"event": "say", "text": "For sales press one", "voice": "woman", "language": "en"},
        {"event": "pause", "length": 2},
        {"event": "play", "url": "http://x/beep.mp3"},
        {"event": "gather", "digits": ""},
        {"event": "say", "text": "Bye", "voice": "man", "language": "en"},
        {"event": "hangup", "by": "platform"},
    ]


def test_a_scripted_caller_hears_the_first_prompt_before_answering(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["1"])
    sid = gather_call(tel, webapp, '<Gather action="/ivr/done"><Say>For sales press one</Say></Gather>')
    tel.call_final(sid)
    kinds = [(e["event"], e.get("text") or e.get("digits")) for e in tel.transcript(sid)]
    assert kinds[:2] == [("say", "For sales press one"), ("gather", "1")]


def test_no_input_falls_through_to_the_next_verb(tel: Telephonist, webapp: WebApp) -> None:
    sid = gather_call(
        tel,
        webapp,
        '<Gather action="/ivr/done" timeout="1"/>',
        "<Say>We didn't receive any input. Goodbye!</Say>",
    )
    assert tel.call_final(sid).status == "completed"
    assert webapp.hits_for("/ivr/done") == []
    assert [e["event"] for e in tel.transcript(sid)] == ["gather", "say", "hangup"]


def test_action_on_empty_result_calls_the_action_with_empty_digits(tel: Telephonist, webapp: WebApp) -> None:
    sid = gather_call(
        tel, webapp, '<Gather action="/ivr/done" timeout="1" actionOnEmptyResult="true"/>', "<Say>never</Say>"
    )
    tel.call_final(sid)
    [hit] = webapp.hits_for("/ivr/done")
    assert hit.form["Digits"] == [""]
    assert signed(hit)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Thanks"]


def test_live_digits_during_a_long_gather(tel: Telephonist, webapp: WebApp) -> None:
    sid = gather_call(
        tel,
        webapp,
        '<Gather action="/ivr/done" timeout="500"><Say>Enter your PIN</Say></Gather>',  # 5 s here
        "<Say>never</Say>",
    )
    wait_event(tel, sid, "say")
    r = tel.sim("POST", f"/Calls/{sid}/Digits", Digits="4321#")
    assert r.status_code == 200, r.text
    [hit] = webapp.wait_hits("/ivr/done")
    assert hit.form["Digits"] == ["4321"]
    assert tel.call_final(sid).status == "completed"
    assert events(tel, sid, "gather") == [{"event": "gather", "digits": "4321"}]


def test_live_digits_one_key_at_a_time(tel: Telephonist, webapp: WebApp) -> None:
    sid = gather_call(tel, webapp, '<Gather action="/ivr/done" timeout="300" numDigits="3"/>')
    wait_until(lambda: tel.client().calls(sid).fetch().status == "in-progress")
    for key in "907":
        assert tel.sim("POST", f"/Calls/{sid}/Digits", Digits=key).status_code == 200
    [hit] = webapp.wait_hits("/ivr/done")
    assert hit.form["Digits"] == ["907"]


def test_live_speech_during_a_long_gather(tel: Telephonist, webapp: WebApp) -> None:
    sid = gather_call(
        tel,
        webapp,
        '<Gather input="speech" action="/ivr/done" timeout="600" speechTimeout="auto">'
        "<Say>How can I help?</Say></Gather>",
    )
    wait_event(tel, sid, "say")
    r = tel.sim("POST", f"/Calls/{sid}/Speech", Text="I want to book a table")
    assert r.status_code == 200, r.text
    [hit] = webapp.wait_hits("/ivr/done")
    assert hit.form["SpeechResult"] == ["I want to book a table"]
    assert 0.0 < float(hit.form["Confidence"][0]) <= 1.0
    assert tel.call_final(sid).status == "completed"


def test_live_input_on_a_finished_call_is_refused(tel: Telephonist, webapp: WebApp) -> None:
    sid = gather_call(tel, webapp, "<Say>short</Say>")
    tel.call_final(sid)
    for path, data in (
        ("Digits", {"Digits": "1"}),
        ("Speech", {"Text": "hi"}),
        ("Answer", {}),
        ("Hangup", {}),
    ):
        r = tel.sim("POST", f"/Calls/{sid}/{path}", **data)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["code"] == 21220


def test_invalid_live_digits_are_refused(tel: Telephonist, webapp: WebApp) -> None:
    sid = gather_call(tel, webapp, '<Gather action="/ivr/done" timeout="300" numDigits="1"/>')
    wait_until(lambda: tel.client().calls(sid).fetch().status == "in-progress")
    for bad in ("12a", "", "speech:hi"):
        r = tel.sim("POST", f"/Calls/{sid}/Digits", Digits=bad)
        assert r.status_code == 400 and r.json()["code"] == 20422, r.text
    tel.sim("POST", f"/Calls/{sid}/Digits", Digits="3")
    assert webapp.wait_hits("/ivr/done")[0].form["Digits"] == ["3"]


def test_invalid_gather_input_is_refused(tel: Telephonist) -> None:
    r = tel.sim("POST", "/Phones", PhoneNumber=PHONE, GatherInput=["12x"])
    assert r.status_code == 400 and r.json()["code"] == 20422
