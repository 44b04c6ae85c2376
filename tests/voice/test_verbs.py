"""<Say>, <Play>, <Pause>, <Redirect> and <Hangup> as the phone hears them (the transcript) and as the
application sees them (its webhooks)."""

from __future__ import annotations

from conftest import Telephonist, WebApp
from voice.support import events, params, phone, place, signed, wait_event


def run(tel: Telephonist, webapp: WebApp, body: str) -> tuple[str, list[dict[str, object]]]:
    sid = place(tel, webapp.twiml("/voice", f"<Response>{body}</Response>"))
    assert tel.call_final(sid).status == "completed"
    return sid, tel.transcript(sid)


def test_say_defaults(tel: Telephonist, webapp: WebApp) -> None:
    _, transcript = run(tel, webapp, "<Say>Hello world.</Say>")
    assert transcript == [
        {"event": "say", "text": "Hello world.", "voice": "man", "language": "en"},
        {"event": "hangup", "by": "platform"},
    ]


def test_say_voice_language_and_loop(tel: Telephonist, webapp: WebApp) -> None:
    _, transcript = run(tel, webapp, '<Say voice="Polly.Celine" language="fr-FR" loop="3">Bonjour</Say>')
    said = {"event": "say", "text": "Bonjour", "voice": "Polly.Celine", "language": "fr-FR"}
    assert transcript == [said, said, said, {"event": "hangup", "by": "platform"}]


def test_say_ssml_is_heard_as_its_text(tel: Telephonist, webapp: WebApp) -> None:
    sid, _ = run(
        tel, webapp, '<Say voice="alice">Hello <break time="1s"/><emphasis>dear</emphasis> caller</Say>'
    )
    assert [e["text"] for e in events(tel, sid, "say")] == ["Hello dear caller"]


def test_say_loop_zero_repeats_until_the_phone_hangs_up(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(
        tel, webapp.twiml("/voice", '<Response><Say loop="0">Hold on</Say><Say>Done</Say></Response>')
    )
    wait_event(tel, sid, "say", count=3, timeout=2)
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    tel.call_final(sid)
    texts = [e["text"] for e in events(tel, sid, "say")]
    assert len(texts) >= 3 and "Done" not in texts


def test_play_url_and_loop(tel: Telephonist, webapp: WebApp) -> None:
    _, transcript = run(tel, webapp, '<Play>https://cdn.example/a.mp3</Play><Play loop="2">b.wav</Play>')
    assert transcript == [
        {"event": "play", "url": "https://cdn.example/a.mp3"},
        {"event": "play", "url": "b.wav"},
        {"event": "play", "url": "b.wav"},
        {"event": "hangup", "by": "platform"},
    ]


def test_play_digits(tel: Telephonist, webapp: WebApp) -> None:
    _, transcript = run(tel, webapp, '<Play digits="ww1234#"/>')
    assert transcript == [{"event": "play", "digits": "ww1234#"}, {"event": "hangup", "by": "platform"}]


def test_pause_length(tel: Telephonist, webapp: WebApp) -> None:
    _, transcript = run(tel, webapp, '<Say>a</Say><Pause length="3"/><Pause/><Say>b</Say>')
    assert [(e["event"], e.get("length") or e.get("text")) for e in transcript] == [
        ("say", "a"),
        ("pause", 3),
        ("pause", 1),
        ("say", "b"),
        ("hangup", None),
    ]


def test_pause_takes_simulated_time(tel: Telephonist, webapp: WebApp) -> None:
    # 60 simulated seconds at time scale 0.01 is 0.6 s: the call lasts about a minute of call time.
    sid, _ = run(tel, webapp, '<Pause length="60"/>')
    call = tel.client().calls(sid).fetch()
    assert 55 <= int(call.duration) <= 120


def test_say_play_pause_in_document_order(tel: Telephonist, webapp: WebApp) -> None:
    _, transcript = run(tel, webapp, "<Play>intro.mp3</Play><Say>one</Say><Pause/><Say>two</Say>")
    assert [e["event"] for e in transcript] == ["play", "say", "pause", "say", "hangup"]


# -- <Redirect> ---------------------------------------------------------------------------------------


def test_redirect_relative_url_defaults_to_post(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml(
        "/ivr/start", "<Response><Say>first</Say><Redirect>next</Redirect><Say>never</Say></Response>"
    )
    webapp.twiml("/ivr/next", "<Response><Say>second</Say></Response>")
    sid = place(tel, webapp.url("/ivr/start"))
    tel.call_final(sid)
    [hit] = webapp.hits_for("/ivr/next")
    assert hit.method == "POST"
    assert params(hit)["CallSid"] == sid
    assert signed(hit)
    assert [e["text"] for e in events(tel, sid, "say")] == ["first", "second"]


def test_redirect_get_with_absolute_path(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/ivr/start", '<Response><Redirect method="GET">/other?x=1</Redirect></Response>')
    webapp.twiml("/other", "<Response><Say>other</Say></Response>")
    sid = place(tel, webapp.url("/ivr/start"))
    tel.call_final(sid)
    [hit] = webapp.hits_for("/other")
    assert hit.method == "GET" and hit.form == {}
    assert hit.args["x"] == ["1"] and params(hit)["CallSid"] == sid
    assert signed(hit)
    assert [e["text"] for e in events(tel, sid, "say")] == ["other"]


def test_redirect_chain_back_to_itself_runs_each_document(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/a", "<Response><Say>a</Say><Redirect>/b</Redirect></Response>")
    webapp.twiml("/b", "<Response><Say>b</Say><Redirect>/c</Redirect></Response>")
    webapp.twiml("/c", "<Response><Say>c</Say></Response>")
    sid = place(tel, webapp.url("/a"))
    tel.call_final(sid)
    assert [e["text"] for e in events(tel, sid, "say")] == ["a", "b", "c"]
    assert [h.path for h in webapp.hits] == ["/a", "/b", "/c"]


# -- <Hangup> -----------------------------------------------------------------------------------------


def test_hangup_ends_the_call_and_later_verbs_never_run(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/never", "<Response><Say>never</Say></Response>")
    sid, transcript = run(
        tel, webapp, "<Say>Goodbye</Say><Hangup/><Say>never</Say><Redirect>/never</Redirect>"
    )
    assert [e["event"] for e in transcript] == ["say", "hangup"]
    assert transcript[-1] == {"event": "hangup", "by": "platform"}
    assert webapp.hits_for("/never") == []
    call = tel.client().calls(sid).fetch()
    assert call.start_time is not None and call.end_time is not None


def test_empty_response_hangs_up(tel: Telephonist, webapp: WebApp) -> None:
    sid, transcript = run(tel, webapp, "")
    assert transcript == [{"event": "hangup", "by": "platform"}]


def test_phone_config_does_not_leak_into_transcript(tel: Telephonist, webapp: WebApp) -> None:
    # A phone with queued input and no Gather: nothing is consumed, the input stays queued.
    phone(tel, GatherInput=["1"])
    run(tel, webapp, "<Say>no gather</Say>")
    assert tel.sim("GET", "/Phones/+15551230000").json()["gather_input"] == ["1"]
