"""Conferences on the simulated network: rooms that wait for a moderator, what each participant hears,
the Conference and Participant resources, and the conference status callbacks."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import Telephonist, WebApp, wait_until
from openapi import validate_response

from .support import events, params, place, signed, wait_event

CALLERS = [f"+1555123060{i}" for i in range(1, 5)]
MODERATOR = "+15551230699"
AFTER = "<Say>The conference has ended.</Say>"


def join(
    tel: Telephonist, number: str, conference: str = "<Conference>standup</Conference>", after: str = AFTER
) -> str:
    return place(tel, to=number, twiml=f"<Response><Dial>{conference}</Dial>{after}</Response>")


def room(tel: Telephonist, name: str = "standup") -> Any:
    return wait_until(lambda: tel.client().conferences.list(friendly_name=name))[0]


def in_room(tel: Telephonist, conference_sid: str) -> set[str]:
    return {p.call_sid for p in tel.client().conferences(conference_sid).participants.list()}


def test_five_party_conference_waits_for_the_moderator_and_ends_when_they_leave(
    tel: Telephonist, webapp: WebApp
) -> None:
    waiting = '<Conference startConferenceOnEnter="false">standup</Conference>'
    calls = [join(tel, number, waiting) for number in CALLERS]
    conf = room(tel)
    wait_until(lambda: in_room(tel, conf.sid) == set(calls))
    assert tel.client().conferences(conf.sid).fetch().status == "init"
    wait_until(lambda: all(events(tel, sid, "play") for sid in calls))  # hold music while waiting
    moderator = join(
        tel,
        MODERATOR,
        '<Conference startConferenceOnEnter="true" endConferenceOnExit="true">standup</Conference>',
    )
    wait_until(lambda: tel.client().conferences(conf.sid).fetch().status == "in-progress")
    assert len(tel.client().conferences(conf.sid).participants.list()) == 5
    wait_until(lambda: all(events(tel, sid, "beep") for sid in calls))
    # everyone hears the moderator
    tel.sim("POST", f"/Calls/{moderator}/Speech", Text="Good morning everyone")
    for sid in calls:
        heard = wait_event(tel, sid, "heard")
        assert heard[0] == {"event": "heard", "from": MODERATOR, "speech": "Good morning everyone"}
    tel.sim("POST", f"/Calls/{moderator}/Hangup")
    for sid in calls:
        tel.call_final(sid)
        assert events(tel, sid, "say")[-1]["text"] == "The conference has ended."
    ended = tel.client().conferences(conf.sid).fetch()
    assert (ended.status, ended.reason_conference_ended, ended.call_sid_ending_conference) == (
        "completed",
        "participant-with-end-conference-on-exit-left",
        moderator,
    )
    seen = [(e["action"], e.get("who")) for e in events(tel, calls[0], "conference")]
    assert seen[0] == ("join", None) and seen[-1] == ("leave", None)
    assert ("joined", CALLERS[1]) in seen and ("joined", MODERATOR) in seen and ("left", MODERATOR) in seen


def test_muted_and_held_participants_are_not_heard(tel: Telephonist) -> None:
    a, b, c = (join(tel, n) for n in CALLERS[:3])
    conf = room(tel)
    wait_until(lambda: in_room(tel, conf.sid) == {a, b, c})
    client = tel.client()
    muted = client.conferences(conf.sid).participants(a).update(muted=True)
    assert muted.muted is True
    assert [p.call_sid for p in client.conferences(conf.sid).participants.list(muted=True)] == [a]
    tel.sim("POST", f"/Calls/{a}/Speech", Text="can anyone hear me")
    client.conferences(conf.sid).participants(c).update(hold=True)
    tel.sim("POST", f"/Calls/{b}/Speech", Text="only the unheld hear this")
    assert wait_event(tel, a, "heard")[0]["speech"] == "only the unheld hear this"
    assert [e for e in events(tel, b, "heard")] == []
    assert events(tel, c, "heard") == []
    client.conferences(conf.sid).update(status="completed")
    for sid in (a, b, c):
        tel.call_final(sid)


def test_kicked_participant_goes_on_after_the_dial(tel: Telephonist) -> None:
    a, b = join(tel, CALLERS[0]), join(tel, CALLERS[1])
    conf = room(tel)
    wait_until(lambda: in_room(tel, conf.sid) == {a, b})
    assert tel.client().conferences(conf.sid).participants(a).delete() is True
    tel.call_final(a)
    assert events(tel, a, "say")[-1]["text"] == "The conference has ended."
    assert in_room(tel, conf.sid) == {b}
    with pytest.raises(TwilioRestException) as info:
        tel.client().conferences(conf.sid).participants(a).update(muted=True)
    assert info.value.code == 21220
    tel.sim("POST", f"/Calls/{b}/Hangup")
    tel.call_final(b)
    assert tel.client().conferences(conf.sid).fetch().reason_conference_ended == "last-participant-left"


def test_announcement_is_heard_by_everyone(tel: Telephonist, webapp: WebApp) -> None:
    a, b = join(tel, CALLERS[0]), join(tel, CALLERS[1])
    conf = room(tel)
    wait_until(lambda: in_room(tel, conf.sid) == {a, b})
    url = webapp.twiml("/announce", "<Response><Say>Five minutes left.</Say></Response>")
    tel.client().conferences(conf.sid).update(announce_url=url)
    for sid in (a, b):
        assert "Five minutes left." in [e["text"] for e in wait_event(tel, sid, "say")]
    assert params(webapp.wait_hits("/announce")[0])["ConferenceSid"] == conf.sid
    tel.client().conferences(conf.sid).update(status="completed")
    for sid in (a, b):
        tel.call_final(sid)


def test_participant_created_over_rest_dials_into_the_room(tel: Telephonist) -> None:
    a = join(tel, CALLERS[0])
    conf = room(tel)
    wait_until(lambda: in_room(tel, conf.sid) == {a})
    added = (
        tel.client()
        .conferences(conf.sid)
        .participants.create(from_="+15005550006", to=CALLERS[1], label="expert", muted=True)
    )
    assert (added.status, added.label, added.muted) == ("queued", "expert", True)
    participant = tel.client().conferences(conf.sid).participants("expert")
    fetched = wait_until(lambda: (p := participant.fetch()).status == "connected" and p)
    assert fetched.call_sid == added.call_sid and in_room(tel, conf.sid) == {a, added.call_sid}
    tel.client().conferences(conf.sid).update(status="completed")
    tel.call_final(added.call_sid)
    tel.call_final(a)


def test_conference_status_callbacks(tel: Telephonist, webapp: WebApp) -> None:
    status = webapp.url("/conf-status")
    events_wanted = 'statusCallbackEvent="start end join leave"'
    noun = f'<Conference statusCallback="{status}" {events_wanted}>standup</Conference>'
    a = join(tel, CALLERS[0], noun)
    conf = room(tel)
    wait_until(lambda: in_room(tel, conf.sid) == {a})
    tel.sim("POST", f"/Calls/{a}/Hangup")
    tel.call_final(a)
    hits = webapp.wait_hits("/conf-status", 4)
    got = [params(h)["StatusCallbackEvent"] for h in hits]
    assert got == ["participant-join", "conference-start", "participant-leave", "conference-end"]
    assert all(params(h)["ConferenceSid"] == conf.sid and signed(h) for h in hits)
    assert params(hits[-1])["ReasonConferenceEnded"] == "last-participant-left"


def test_conferences_list_filters(tel: Telephonist) -> None:
    a = join(tel, CALLERS[0], "<Conference>alpha</Conference>")
    conf = room(tel, "alpha")
    assert [c.sid for c in tel.client().conferences.list(status="in-progress")] == [conf.sid]
    tel.client().conferences(conf.sid).update(status="completed")
    tel.call_final(a)
    assert [c.sid for c in tel.client().conferences.list(status="completed")] == [conf.sid]
    with pytest.raises(TwilioRestException) as info:
        tel.client().conferences(conf.sid).update(status="completed")
    assert info.value.code == 21220


def test_a_coach_is_heard_by_the_coached_participant_only(tel: Telephonist) -> None:
    agent, customer = join(tel, CALLERS[0]), join(tel, CALLERS[1])
    conf = room(tel)
    wait_until(lambda: in_room(tel, conf.sid) == {agent, customer})
    coach = join(tel, CALLERS[2], f'<Conference coach="{agent}">standup</Conference>')
    wait_until(lambda: in_room(tel, conf.sid) == {agent, customer, coach})
    participant = tel.client().conferences(conf.sid).participants(coach).fetch()
    assert (participant.coaching, participant.call_sid_to_coach) == (True, agent)
    tel.sim("POST", f"/Calls/{coach}/Speech", Text="offer the discount")
    assert wait_event(tel, agent, "heard")[0]["speech"] == "offer the discount"
    tel.sim("POST", f"/Calls/{customer}/Speech", Text="is there a discount")
    assert wait_event(tel, coach, "heard")[0]["speech"] == "is there a discount"  # the coach hears everyone
    assert [e.get("speech") for e in events(tel, customer, "heard")] == []
    tel.client().conferences(conf.sid).update(status="completed")
    for sid in (agent, customer, coach):
        tel.call_final(sid)


def test_conference_recorded_from_start(tel: Telephonist) -> None:
    a = join(tel, CALLERS[0], '<Conference record="record-from-start">standup</Conference>')
    b = join(tel, CALLERS[1])
    conf = room(tel)
    wait_until(lambda: in_room(tel, conf.sid) == {a, b})
    tel.sim("POST", f"/Calls/{a}/Speech", Text="Let us start the meeting")
    wait_event(tel, b, "heard")
    tel.client().conferences(conf.sid).update(status="completed")
    for sid in (a, b):
        tel.call_final(sid)
    path = f"/2010-04-01/Accounts/{tel.account_sid}/Conferences/{conf.sid}/Recordings.json"
    with tel.http as h:
        body = wait_until(
            lambda: (
                (r := h.get(path).json())["recordings"]
                and r["recordings"][0]["status"] != "in-progress"
                and r
            )
        )
    validate_response("GET", path, 200, body)
    [rec] = body["recordings"]
    assert (rec["source"], rec["conference_sid"], rec["call_sid"], rec["status"]) == (
        "Conference",
        conf.sid,
        None,
        "completed",
    )
    assert int(rec["duration"]) >= 1


def test_hold_url_plays_to_the_held_participant_and_coaching_is_set_over_rest(
    tel: Telephonist, webapp: WebApp
) -> None:
    a, b, c = (join(tel, n) for n in CALLERS[:3])
    conf = room(tel)
    wait_until(lambda: in_room(tel, conf.sid) == {a, b, c})
    held = webapp.twiml("/held", "<Response><Say>You are on hold.</Say></Response>")
    participants = tel.client().conferences(conf.sid).participants
    assert participants(a).update(hold=True, hold_url=held, hold_method="POST").hold is True
    assert "You are on hold." in [e["text"] for e in wait_event(tel, a, "say")]
    assert params(webapp.wait_hits("/held")[0])["ConferenceSid"] == conf.sid
    participants(a).update(hold=False)
    coach = participants(c).update(coaching=True, call_sid_to_coach=b)
    assert (coach.coaching, coach.call_sid_to_coach) == (True, b)
    tel.sim("POST", f"/Calls/{c}/Speech", Text="ask about the renewal")
    assert wait_event(tel, b, "heard")[0]["speech"] == "ask about the renewal"
    assert all(e.get("speech") != "ask about the renewal" for e in events(tel, a, "heard"))
    tel.client().conferences(conf.sid).update(status="completed")
    for sid in (a, b, c):
        tel.call_final(sid)


def test_speaker_events_and_a_full_room(tel: Telephonist, webapp: WebApp) -> None:
    status = webapp.url("/speaker")
    attrs = f'maxParticipants="2" statusCallback="{status}" statusCallbackEvent="speaker"'
    noun = f"<Conference {attrs}>small</Conference>"
    a, b = join(tel, CALLERS[0], noun), join(tel, CALLERS[1], noun)
    conf = room(tel, "small")
    wait_until(lambda: in_room(tel, conf.sid) == {a, b})
    third = join(tel, CALLERS[2], noun, after="<Say>The room is full.</Say>")
    tel.call_final(third)
    assert events(tel, third, "say")[-1]["text"] == "The room is full."
    assert "13215" in [n.error_code for n in tel.client().calls(third).notifications.list()]
    tel.sim("POST", f"/Calls/{a}/Speech", Text="hello")
    hits = webapp.wait_hits("/speaker", 2)
    got = [(params(h)["StatusCallbackEvent"], params(h)["CallSid"]) for h in hits]
    assert got == [("participant-speech-start", a), ("participant-speech-stop", a)]
    tel.client().conferences(conf.sid).update(status="completed")
    for sid in (a, b):
        tel.call_final(sid)


def test_wait_url_twiml_plays_until_the_conference_starts(tel: Telephonist, webapp: WebApp) -> None:
    wait = webapp.twiml("/conf-wait", "<Response><Say>Waiting for the host.</Say></Response>")
    guest = join(
        tel, CALLERS[0], f'<Conference startConferenceOnEnter="false" waitUrl="{wait}">late</Conference>'
    )
    assert "Waiting for the host." in [e["text"] for e in wait_event(tel, guest, "say")]
    assert params(webapp.wait_hits("/conf-wait")[0])["FriendlyName"] == "late"
    host = join(tel, CALLERS[1], "<Conference>late</Conference>")
    conf = room(tel, "late")
    wait_until(lambda: tel.client().conferences(conf.sid).fetch().status == "in-progress")
    tel.client().conferences(conf.sid).update(status="completed")
    for sid in (guest, host):
        tel.call_final(sid)


def test_a_rest_participant_who_does_not_answer_fails_and_the_empty_room_ends(tel: Telephonist) -> None:
    tel.sim("POST", "/Phones", PhoneNumber=CALLERS[3], Answer="busy")
    added = tel.client().conferences("lonely").participants.create(from_="+15005550006", to=CALLERS[3])
    assert tel.call_final(added.call_sid).status == "busy"
    conf = room(tel, "lonely")
    assert wait_until(lambda: (c := tel.client().conferences(conf.sid).fetch()).status == "completed" and c)
    with tel.http as h:
        path = f"/2010-04-01/Accounts/{tel.account_sid}/Conferences/{conf.sid}/Participants"
        assert h.get(f"{path}/{added.call_sid}.json").json()["status"] == "failed"
