"""<Dial> on the simulated network: numbers, clients and SIP addresses, one at a time or all at once, the
child Call resources, the Dial* action parameters, and what each party heard."""

from __future__ import annotations

from conftest import Telephonist, WebApp, wait_until

from .support import PHONE, PLATFORM_NUMBER, buy, events, params, phone, place, signed, wait_event

AGENT = "+15551230101"
AGENT2 = "+15551230102"
# For a phone the test answers or hangs up by hand: at time scale 0.01 Dial's default 30 s timeout is 0.3 s,
# which a loaded machine can spend between seeing the phone ring and acting on it.
LONG_RING = 'timeout="600"'


def dial_call(tel: Telephonist, webapp: WebApp, dial: str, after: str = "") -> str:
    """An outbound call to PHONE whose TwiML is `dial` (and `after` it); returns the parent's sid."""
    return place(tel, webapp.twiml("/voice", f"<Response>{dial}{after}</Response>"))


def children(tel: Telephonist, parent: str) -> list:  # type: ignore[type-arg]
    return list(tel.client().calls.list(parent_call_sid=parent))


def test_bare_number_bridges_and_reports_to_the_action(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/after", "<Response><Say>Back with you</Say></Response>")
    sid = dial_call(tel, webapp, '<Dial action="/after" timeout="10">+15551230101</Dial>')
    child_sid = wait_event(tel, sid, "bridged")[0]["call_sid"]
    tel.sim("POST", f"/Calls/{child_sid}/Hangup")
    parent = tel.call_final(sid)
    child = tel.call_final(child_sid)
    assert (child.direction, child.parent_call_sid, child.to, child._from) == (
        "outbound-dial",
        sid,
        AGENT,
        PLATFORM_NUMBER,
    )
    assert child.status == "completed" and parent.status == "completed"
    [hit] = webapp.wait_hits("/after")
    p = params(hit)
    assert (p["DialCallStatus"], p["DialCallSid"], p["DialBridged"], p["CallSid"]) == (
        "completed",
        child_sid,
        "true",
        sid,
    )
    assert p["DialCallDuration"] == str(child.duration)
    assert signed(hit)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Back with you"]
    assert events(tel, sid, "dial") == [{"event": "dial", "to": [AGENT]}]
    assert events(tel, child_sid, "hangup") == [{"event": "hangup", "by": "phone"}]


def test_callee_hears_the_caller_and_the_caller_hears_the_callee(tel: Telephonist, webapp: WebApp) -> None:
    sid = dial_call(tel, webapp, f"<Dial>{AGENT}</Dial>")
    child_sid = wait_event(tel, sid, "bridged")[0]["call_sid"]
    tel.sim("POST", f"/Calls/{child_sid}/Speech", Text="Support, how can I help?")
    tel.sim("POST", f"/Calls/{sid}/Speech", Text="My order is late")
    tel.sim("POST", f"/Calls/{sid}/Digits", Digits="42")
    heard_by_caller = wait_event(tel, sid, "heard")
    heard_by_agent = wait_event(tel, child_sid, "heard", 2)
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    assert heard_by_caller == [{"event": "heard", "from": AGENT, "speech": "Support, how can I help?"}]
    assert heard_by_agent == [
        {"event": "heard", "from": PHONE, "speech": "My order is late"},
        {"event": "heard", "from": PHONE, "digits": "42"},
    ]
    assert tel.call_final(child_sid).status == "completed"
    assert tel.call_final(sid).status == "completed"


def test_no_answer_falls_through_to_the_next_verb(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, AGENT, Answer="no-answer")
    sid = dial_call(tel, webapp, '<Dial timeout="5">+15551230101</Dial>', "<Say>Nobody is free</Say>")
    assert tel.call_final(sid).status == "completed"
    [child] = children(tel, sid)
    assert child.status == "no-answer"
    assert [e["text"] for e in events(tel, sid, "say")] == ["Nobody is free"]


def test_busy_and_failed_are_reported(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, AGENT, Answer="busy")
    phone(tel, AGENT2, Answer="fail")
    webapp.twiml("/after", "<Response/>")
    sid = dial_call(tel, webapp, f'<Dial action="/after">{AGENT}</Dial><Dial action="/after">{AGENT2}</Dial>')
    tel.call_final(sid)
    [hit] = webapp.wait_hits("/after")
    assert (params(hit)["DialCallStatus"], params(hit)["DialBridged"]) == ("busy", "false")
    # the action's document replaced the rest: the second Dial never ran
    assert [c.to for c in children(tel, sid)] == [AGENT]


def test_parallel_first_answer_wins_and_the_others_are_canceled(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, AGENT, Answer="manual")
    phone(tel, AGENT2, RingSeconds="2")
    sid = dial_call(tel, webapp, f"<Dial><Number>{AGENT}</Number><Number>{AGENT2}</Number></Dial>")
    bridged = wait_event(tel, sid, "bridged")[0]
    assert bridged["with"] == AGENT2
    tel.sim("POST", f"/Calls/{bridged['call_sid']}/Hangup")
    tel.call_final(sid)
    got = {c.to: c.status for c in children(tel, sid)}
    assert got == {AGENT: "canceled", AGENT2: "completed"}


def test_sequential_tries_each_in_turn(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, AGENT, Answer="busy")
    sid = dial_call(
        tel,
        webapp,
        f'<Dial sequential="true"><Number>{AGENT}</Number><Number>{AGENT2}</Number></Dial>',
    )
    bridged = wait_event(tel, sid, "bridged")[0]
    assert bridged["with"] == AGENT2
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    tel.call_final(sid)
    assert {c.to: c.status for c in children(tel, sid)} == {AGENT: "busy", AGENT2: "completed"}


def test_caller_id_of_the_account_is_the_from_of_the_dialled_call(tel: Telephonist, webapp: WebApp) -> None:
    buy(tel, "+15005550010")
    sid = dial_call(tel, webapp, f'<Dial callerId="+15005550010" timeLimit="1">{AGENT}</Dial>')
    tel.call_final(sid)
    assert [c._from for c in children(tel, sid)] == ["+15005550010"]


def test_caller_id_not_of_the_account_is_13214_and_nobody_is_dialled(
    tel: Telephonist, webapp: WebApp
) -> None:
    webapp.twiml("/after", "<Response/>")
    sid = dial_call(tel, webapp, f'<Dial action="/after" callerId="+15551239876">{AGENT}</Dial>')
    tel.call_final(sid)
    assert params(webapp.wait_hits("/after")[0])["DialCallStatus"] == "failed"
    assert children(tel, sid) == []
    assert "13214" in [n.error_code for n in tel.client().calls(sid).notifications.list()]


def test_time_limit_ends_the_bridge(tel: Telephonist, webapp: WebApp) -> None:
    sid = dial_call(tel, webapp, f'<Dial timeLimit="3">{AGENT}</Dial>', "<Say>Time is up</Say>")
    assert tel.call_final(sid).status == "completed"
    [child] = children(tel, sid)
    assert child.status == "completed" and 2 <= int(child.duration) <= 30  # the agent would stay on
    assert [e["text"] for e in events(tel, sid, "say")] == ["Time is up"]
    assert events(tel, child.sid, "hangup") == [{"event": "hangup", "by": "platform"}]


def test_hangup_on_star_ends_the_bridge_and_the_caller_goes_on(tel: Telephonist, webapp: WebApp) -> None:
    sid = dial_call(tel, webapp, f'<Dial hangupOnStar="true">{AGENT}</Dial>', "<Say>Main menu</Say>")
    child_sid = wait_event(tel, sid, "bridged")[0]["call_sid"]
    tel.sim("POST", f"/Calls/{sid}/Digits", Digits="*")
    wait_event(tel, sid, "say")
    assert tel.call_final(child_sid).status == "completed"
    assert tel.call_final(sid).status == "completed"


def test_send_digits_and_whisper_run_on_the_callee(tel: Telephonist, webapp: WebApp) -> None:
    whisper = webapp.twiml("/whisper", "<Response><Say>Call from the support line</Say></Response>")
    sid = dial_call(tel, webapp, f'<Dial><Number sendDigits="12w3" url="{whisper}">{AGENT}</Number></Dial>')
    child_sid = wait_event(tel, sid, "bridged")[0]["call_sid"]
    tel.sim("POST", f"/Calls/{child_sid}/Hangup")
    tel.call_final(sid)
    kinds = [(e["event"], e.get("digits") or e.get("text")) for e in events(tel, child_sid)][:3]
    assert kinds == [("play", "12w3"), ("say", "Call from the support line"), ("bridged", None)]
    [hit] = webapp.hits_for("/whisper")
    p = params(hit)
    assert (p["CallSid"], p["ParentCallSid"], p["Direction"]) == (child_sid, sid, "outbound-dial")
    assert signed(hit)


def test_whisper_hangup_declines_the_call(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/after", "<Response/>")
    whisper = webapp.twiml("/whisper", "<Response><Hangup/></Response>")
    sid = dial_call(tel, webapp, f'<Dial action="/after"><Number url="{whisper}">{AGENT}</Number></Dial>')
    tel.call_final(sid)
    assert params(webapp.wait_hits("/after")[0])["DialCallStatus"] == "no-answer"
    assert events(tel, sid, "bridged") == []


def test_dial_inside_a_whisper_is_13201(tel: Telephonist, webapp: WebApp) -> None:
    whisper = webapp.twiml("/whisper", f"<Response><Dial>{AGENT2}</Dial></Response>")
    sid = dial_call(tel, webapp, f'<Dial><Number url="{whisper}">{AGENT}</Number></Dial>', "<Say>Sorry</Say>")
    tel.call_final(sid)
    [child] = children(tel, sid)
    assert "13201" in [n.error_code for n in tel.client().calls(child.sid).notifications.list()]
    assert [e["text"] for e in events(tel, sid, "say")] == ["Sorry"]


def test_noun_status_callback_events(tel: Telephonist, webapp: WebApp) -> None:
    status = webapp.url("/child-status")
    sid = dial_call(
        tel,
        webapp,
        f'<Dial timeLimit="1"><Number statusCallback="{status}" '
        f'statusCallbackEvent="initiated ringing answered completed">{AGENT}</Number></Dial>',
    )
    tel.call_final(sid)
    hits = webapp.wait_hits("/child-status", 4)
    assert [params(h)["CallStatus"] for h in hits] == ["initiated", "ringing", "in-progress", "completed"]
    assert {params(h)["ParentCallSid"] for h in hits} == {sid}
    assert all(signed(h) for h in hits)


def test_client_and_sip_are_virtual_endpoints(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, "client:alice", Answer="busy")
    sid = dial_call(
        tel, webapp, '<Dial timeLimit="1"><Client>alice</Client><Sip>sip:bob@pbx.example.com</Sip></Dial>'
    )
    tel.call_final(sid)
    got = {c.to: c.status for c in children(tel, sid)}
    assert got == {"client:alice": "busy", "sip:bob@pbx.example.com": "completed"}


def test_dialling_a_platform_number_runs_its_voice_url(tel: Telephonist, webapp: WebApp) -> None:
    desk = '<Response><Pause length="50"/><Say>Front desk</Say></Response>'  # said once bridged
    buy(tel, "+15005550011", voice_url=webapp.twiml("/desk", desk))
    sid = dial_call(tel, webapp, "<Dial>+15005550011</Dial>")
    heard = wait_event(tel, sid, "heard")
    assert heard == [{"event": "heard", "from": "+15005550011", "text": "Front desk"}]
    tel.call_final(sid)
    [hit] = webapp.hits_for("/desk")
    assert params(hit)["Direction"] == "inbound"


def test_rest_update_mid_dial_hangs_up_the_callee(tel: Telephonist, webapp: WebApp) -> None:
    sid = dial_call(tel, webapp, f"<Dial>{AGENT}</Dial>")
    child_sid = wait_event(tel, sid, "bridged")[0]["call_sid"]
    tel.client().calls(sid).update(twiml="<Response><Say>Transferred</Say></Response>")
    assert tel.call_final(child_sid).status == "completed"
    wait_until(lambda: [e["text"] for e in events(tel, sid, "say")] == ["Transferred"])
    tel.call_final(sid)


def call_in(tel: Telephonist, webapp: WebApp, twiml: str) -> str:
    """PHONE calls the default number, whose VoiceUrl answers with `twiml`; the inbound call's sid."""
    buy_url = webapp.twiml("/in", twiml)
    [number] = tel.client().incoming_phone_numbers.list(phone_number=PLATFORM_NUMBER)
    number.update(voice_url=buy_url)
    r = tel.sim("POST", f"/Phones/{PHONE}/Calls", To=PLATFORM_NUMBER)
    assert r.status_code == 201, r.text
    return str(r.json()["sid"])


def test_answer_on_bridge_keeps_the_caller_ringing_until_the_callee_answers(
    tel: Telephonist, webapp: WebApp
) -> None:
    phone(tel, AGENT, Answer="manual")
    sid = call_in(tel, webapp, f'<Response><Dial answerOnBridge="true" {LONG_RING}>{AGENT}</Dial></Response>')
    child = wait_until(lambda: [c for c in children(tel, sid) if c.status == "ringing"])[0]
    assert tel.client().calls(sid).fetch().status == "ringing"
    tel.sim("POST", f"/Calls/{child.sid}/Answer")
    wait_event(tel, sid, "bridged")
    assert tel.client().calls(sid).fetch().status == "in-progress"
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    assert tel.call_final(sid).status == "completed"
    assert tel.call_final(child.sid).status == "completed"


def test_without_answer_on_bridge_the_caller_is_answered_while_the_callee_rings(
    tel: Telephonist, webapp: WebApp
) -> None:
    phone(tel, AGENT, Answer="manual")
    sid = call_in(tel, webapp, f"<Response><Dial {LONG_RING}>{AGENT}</Dial></Response>")
    child = wait_until(lambda: [c for c in children(tel, sid) if c.status == "ringing"])[0]
    assert tel.client().calls(sid).fetch().status == "in-progress"
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    assert tel.call_final(child.sid).status == "canceled"
    assert tel.call_final(sid).status == "completed"


def test_caller_hanging_up_while_ringing_cancels_every_dialled_call(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, AGENT, Answer="manual")
    phone(tel, AGENT2, Answer="manual")
    numbers = f"<Number>{AGENT}</Number><Number>{AGENT2}</Number>"
    sid = dial_call(tel, webapp, f"<Dial {LONG_RING}>{numbers}</Dial>")
    wait_until(lambda: len([c for c in children(tel, sid) if c.status == "ringing"]) == 2)
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    tel.call_final(sid)
    wait_until(lambda: {c.status for c in children(tel, sid)} == {"canceled"})


def test_caller_hanging_up_while_bridged_still_gets_the_action(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/after", "<Response><Say>never heard</Say></Response>")
    sid = dial_call(tel, webapp, f'<Dial action="/after">{AGENT}</Dial>')
    child_sid = wait_event(tel, sid, "bridged")[0]["call_sid"]
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    p = params(webapp.wait_hits("/after")[0])
    assert (p["DialCallStatus"], p["DialCallSid"], p["DialBridged"]) == ("completed", child_sid, "true")
    assert tel.call_final(sid).status == "completed"
    assert tel.call_final(child_sid).status == "completed"
    assert events(tel, sid, "say") == []


def test_caller_hanging_up_while_ringing_gets_the_action_with_canceled(
    tel: Telephonist, webapp: WebApp
) -> None:
    phone(tel, AGENT, Answer="manual")
    webapp.twiml("/after", "<Response/>")
    sid = dial_call(tel, webapp, f'<Dial action="/after" {LONG_RING}>{AGENT}</Dial>')
    child = wait_until(lambda: [c for c in children(tel, sid) if c.status == "ringing"])[0]
    tel.sim("POST", f"/Calls/{sid}/Hangup")
    assert params(webapp.wait_hits("/after")[0])["DialCallStatus"] == "canceled"
    assert tel.call_final(child.sid).status == "canceled"


def test_number_machine_detection_with_amd_callback(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, AGENT, AnsweredBy="machine")
    amd = webapp.url("/amd")
    sid = dial_call(
        tel,
        webapp,
        f'<Dial timeLimit="2"><Number machineDetection="Enable" amdStatusCallback="{amd}">'
        f"{AGENT}</Number></Dial>",
    )
    tel.call_final(sid)
    [hit] = webapp.wait_hits("/amd")
    [child] = children(tel, sid)
    assert (params(hit)["CallSid"], params(hit)["AnsweredBy"]) == (child.sid, "machine_start")
    assert signed(hit)
    assert tel.client().calls(child.sid).fetch().answered_by == "machine_start"


def test_client_parameters_reach_the_client(tel: Telephonist, webapp: WebApp) -> None:
    dial = (
        '<Dial timeLimit="1"><Client><Identity>alice</Identity>'
        '<Parameter name="ticket" value="42"/><Parameter name="tier" value="gold"/></Client></Dial>'
    )
    sid = dial_call(tel, webapp, dial)
    tel.call_final(sid)
    [child] = children(tel, sid)
    assert child.to == "client:alice"
    assert events(tel, child.sid, "incoming") == [
        {"event": "incoming", "parameters": {"ticket": "42", "tier": "gold"}}
    ]
