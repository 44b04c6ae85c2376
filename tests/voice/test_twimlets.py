"""The built-in twimlets, reached the way the guide's code reaches them: `http://twimlets.com/...` URLs
(served offline, in-process) with their configuration in the query string."""

from __future__ import annotations

from urllib.parse import urlencode

from conftest import Telephonist, WebApp, wait_until

from .support import events, params, phone, place, wait_event

AGENT = "+15551230401"
AGENT2 = "+15551230402"


def twimlet(name: str, **query: str) -> str:
    return f"http://twimlets.com/{name}?{urlencode(query)}"


def test_echo_returns_the_twiml_it_is_given(tel: Telephonist) -> None:
    sid = place(tel, twimlet("echo", Twiml="<Response><Say>Echoed</Say></Response>"))
    tel.call_final(sid)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Echoed"]


def test_forward_dials_the_number(tel: Telephonist) -> None:
    sid = place(tel, twimlet("forward", PhoneNumber=AGENT))
    child = wait_event(tel, sid, "bridged")[0]
    assert child["with"] == AGENT
    tel.sim("POST", f"/Calls/{child['call_sid']}/Hangup")
    assert tel.call_final(sid).status == "completed"


def test_forward_to_a_busy_number_goes_to_the_fail_url(tel: Telephonist) -> None:
    phone(tel, AGENT, Answer="busy")
    fail = twimlet("message", Message="Nobody can take your call.")
    sid = place(tel, twimlet("forward", PhoneNumber=AGENT, FailUrl=fail))
    tel.call_final(sid)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Nobody can take your call."]


def test_forward_refuses_callers_not_allowed(tel: Telephonist) -> None:
    sid = place(tel, twimlet("forward", PhoneNumber=AGENT, **{"AllowedCallers[0]": "+15551239999"}))
    tel.call_final(sid)
    assert events(tel, sid, "dial") == []
    assert "not allowed" in events(tel, sid, "say")[0]["text"]


def test_simulring_connects_the_one_who_answers(tel: Telephonist) -> None:
    phone(tel, AGENT, Answer="no-answer")
    phone(tel, AGENT2, GatherInput=["1"])
    query = {"PhoneNumbers[0]": AGENT, "PhoneNumbers[1]": AGENT2, "Timeout": "10", "HumanCheck": "1"}
    sid = place(tel, twimlet("simulring", **query))
    bridged = wait_event(tel, sid, "bridged")[0]
    assert bridged["with"] == AGENT2
    said = [e["text"] for e in events(tel, bridged["call_sid"], "say")]
    assert said == ["You are receiving a call. Press any key to accept."]
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    tel.call_final(sid)


def test_findme_tries_each_in_turn_and_a_callee_must_accept(tel: Telephonist) -> None:
    phone(tel, AGENT)  # answers but presses nothing: not accepted
    phone(tel, AGENT2, GatherInput=["5"])
    query = {"PhoneNumbers[0]": AGENT, "PhoneNumbers[1]": AGENT2, "Message": "A customer is calling."}
    sid = place(tel, twimlet("findme", **query))
    bridged = wait_event(tel, sid, "bridged")[0]
    assert bridged["with"] == AGENT2
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    tel.call_final(sid)
    statuses = {c.to: c.status for c in tel.client().calls.list(parent_call_sid=sid)}
    assert statuses == {AGENT: "completed", AGENT2: "completed"}


def test_voicemail_records_and_posts_to_the_url(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["speech:Please call me back tomorrow"])
    sid = place(tel, twimlet("voicemail", Url=webapp.url("/vm"), Message="Leave a message for Alice."))
    tel.call_final(sid)
    said = [e["text"] for e in events(tel, sid, "say")]
    assert said == ["Leave a message for Alice.", "Thank you for your message. Goodbye."]
    hits = webapp.wait_hits("/vm", 2)
    got = {params(h).get("RecordingStatus") or "transcription": params(h) for h in hits}
    assert got["completed"]["RecordingUrl"].endswith(got["completed"]["RecordingSid"])
    assert got["transcription"]["TranscriptionText"] == "Please call me back tomorrow"
    [recording] = tel.client().recordings.list()
    assert recording.call_sid == sid and int(recording.duration) >= 1


def test_menu_redirects_to_the_chosen_option(tel: Telephonist) -> None:
    phone(tel, GatherInput=["2"])
    query = {
        "Message": "Press 1 for hours, 2 for directions.",
        "Options[1]": twimlet("message", Message="We are open nine to five."),
        "Options[2]": twimlet("message", Message="We are on Main Street."),
    }
    sid = place(tel, twimlet("menu", **query))
    tel.call_final(sid)
    said = [e["text"] for e in events(tel, sid, "say")]
    assert said == ["Press 1 for hours, 2 for directions.", "We are on Main Street."]


def test_menu_wrong_choice_says_so_and_asks_again(tel: Telephonist) -> None:
    phone(tel, GatherInput=["9", "1"])
    query = {"Message": "Press 1 for hours.", "Options[1]": twimlet("message", Message="Nine to five.")}
    sid = place(tel, twimlet("menu", **query))
    tel.call_final(sid)
    wait_until(lambda: events(tel, sid, "say"))
    said = [e["text"] for e in events(tel, sid, "say")]
    assert said == [
        "Press 1 for hours.",
        "I'm sorry, that wasn't a valid option.",
        "Press 1 for hours.",
        "Nine to five.",
    ]


def test_twimlets_are_served_on_the_platform_too(tel: Telephonist) -> None:
    sid = place(
        tel, f"{tel.base_url}/twimlets/echo?{urlencode({'Twiml': '<Response><Say>Local</Say></Response>'})}"
    )
    tel.call_final(sid)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Local"]


def test_an_index_that_is_no_ascii_number_is_left_out(tel: Telephonist) -> None:
    with tel.http as h:  # "²" passes str.isdigit() but not int()
        r = h.get("/twimlets/message", params={"Message[0]": "First", "Message[²]": "Odd"})
    assert r.status_code == 200
    assert "<Say>First</Say>" in r.text and "Odd" not in r.text
