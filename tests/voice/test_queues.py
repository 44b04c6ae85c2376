"""Call queues on the simulated network: <Enqueue> with its wait document, <Leave>, <Dial><Queue>, and the
Queues and Members resources (including a REST dequeue)."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import Telephonist, WebApp, wait_until

from .support import PLATFORM_NUMBER, events, params, place, signed, wait_event

CALLERS = ["+15551230201", "+15551230202", "+15551230203"]
AGENTS = ["+15551230301", "+15551230302"]
WAIT = "<Response><Say>Please hold.</Say><Play>http://music.example/hold.mp3</Play></Response>"


def support_line(webapp: WebApp, tel: Telephonist, enqueue: str = "") -> None:
    webapp.twiml("/wait", WAIT)
    webapp.twiml("/left", "<Response><Say>Thanks for waiting.</Say></Response>")
    twiml = enqueue or '<Response><Enqueue waitUrl="/wait" action="/left">support</Enqueue></Response>'
    [number] = tel.client().incoming_phone_numbers.list(phone_number=PLATFORM_NUMBER)
    number.update(voice_url=webapp.twiml("/support", twiml))


def call_in(tel: Telephonist, caller: str) -> str:
    r = tel.sim("POST", f"/Phones/{caller}/Calls", To=PLATFORM_NUMBER)
    assert r.status_code == 201, r.text
    return str(r.json()["sid"])


def queue_of(tel: Telephonist, name: str = "support") -> Any:
    return wait_until(lambda: [q for q in tel.client().queues.list() if q.friendly_name == name])[0]


def waiting(tel: Telephonist, queue_sid: str) -> list[str]:
    return [m.call_sid for m in tel.client().queues(queue_sid).members.list()]


def test_three_callers_wait_with_hold_music_and_two_agents_take_them_in_order(
    tel: Telephonist, webapp: WebApp
) -> None:
    support_line(webapp, tel)
    callers: list[str] = []
    for number in CALLERS:  # one at a time, so that they queue in this order
        callers.append(call_in(tel, number))
        queue = queue_of(tel)
        count, queue_sid = len(callers), queue.sid
        wait_until(lambda: len(waiting(tel, queue_sid)) == count)  # noqa: B023
    assert waiting(tel, queue.sid) == callers
    assert tel.client().queues(queue.sid).fetch().current_size == 3
    front = tel.client().queues(queue.sid).members("Front").fetch()
    assert (front.call_sid, front.position) == (callers[0], 1)
    # the wait document runs with the caller's place in the queue
    hits = webapp.wait_hits("/wait", 3)
    positions = {params(h)["CallSid"]: params(h)["QueuePosition"] for h in hits}
    assert positions[callers[2]] == "3"
    assert {params(h)["MaxQueueSize"] for h in hits} == {"100"} and all(signed(h) for h in hits)
    wait_until(lambda: events(tel, callers[0], "play"))
    assert events(tel, callers[0], "say")[0]["text"] == "Please hold."

    agents = [
        place(tel, to=agent, twiml="<Response><Dial><Queue>support</Queue></Dial></Response>")
        for agent in AGENTS
    ]
    for agent, caller in zip(agents, callers, strict=False):
        bridged = wait_event(tel, agent, "bridged")[0]
        assert bridged["call_sid"] == caller
    assert waiting(tel, queue.sid) == [callers[2]]
    # the callers hear each other once bridged
    tel.sim("POST", f"/Calls/{agents[0]}/Speech", Text="Hello, this is support")
    assert wait_event(tel, callers[0], "heard")[0]["speech"] == "Hello, this is support"
    # the agent hangs up: the caller's Enqueue action says it was bridged
    tel.sim("POST", f"/Calls/{agents[0]}/Hangup")
    hit = webapp.wait_hits("/left")[0]
    p = params(hit)
    assert (p["CallSid"], p["QueueResult"], p["QueueSid"]) == (callers[0], "bridged", queue.sid)
    assert int(p["QueueTime"]) >= 0 and signed(hit)
    wait_until(lambda: [e["text"] for e in events(tel, callers[0], "say")][-1] == "Thanks for waiting.")
    for sid in (agents[1], callers[2]):
        tel.sim("POST", f"/Calls/{sid}/Hangup")
    assert tel.call_final(callers[2]).status == "completed"
    wait_until(lambda: waiting(tel, queue.sid) == [])
    assert tel.client().queues(queue.sid).fetch().average_wait_time >= 0


def test_agent_dial_action_reports_the_dequeued_call(tel: Telephonist, webapp: WebApp) -> None:
    support_line(webapp, tel)
    caller = call_in(tel, CALLERS[0])
    queue = queue_of(tel)
    wait_until(lambda: waiting(tel, queue.sid))
    webapp.twiml("/agent-done", "<Response/>")
    twiml = '<Response><Dial action="/agent-done" timeLimit="2"><Queue>support</Queue></Dial></Response>'
    agent = place(tel, webapp.twiml("/agent", twiml), to=AGENTS[0])
    tel.call_final(agent)
    p = params(webapp.wait_hits("/agent-done")[0])
    assert (p["DialCallStatus"], p["DialCallSid"], p["DequeuedCallSid"], p["DequeueResult"]) == (
        "completed",
        caller,
        caller,
        "bridged",
    )
    assert p["QueueSid"] == queue.sid and p["DialBridged"] == "true"


def test_queue_url_runs_on_the_dequeued_caller_first(tel: Telephonist, webapp: WebApp) -> None:
    support_line(webapp, tel)
    caller = call_in(tel, CALLERS[0])
    queue = queue_of(tel)
    wait_until(lambda: waiting(tel, queue.sid))
    announce = webapp.twiml("/announce", "<Response><Say>Connecting you to an agent.</Say></Response>")
    agent = place(
        tel,
        to=AGENTS[0],
        twiml=f'<Response><Dial timeLimit="1"><Queue url="{announce}">support</Queue></Dial></Response>',
    )
    tel.call_final(agent)
    [hit] = webapp.wait_hits("/announce")
    p = params(hit)
    assert (p["CallSid"], p["QueueSid"], p["DequeingCallSid"]) == (caller, queue.sid, agent)
    said = [e["text"] for e in events(tel, caller, "say")]
    assert "Connecting you to an agent." in said


def test_leave_in_the_wait_document_goes_on_after_enqueue(tel: Telephonist, webapp: WebApp) -> None:
    support_line(
        webapp,
        tel,
        '<Response><Enqueue waitUrl="/wait-leave" action="/left">support</Enqueue>'
        "<Say>never</Say></Response>",
    )
    webapp.twiml("/wait-leave", "<Response><Say>Nobody is here, sorry.</Say><Leave/></Response>")
    caller = call_in(tel, CALLERS[0])
    assert params(webapp.wait_hits("/left")[0])["QueueResult"] == "leave"
    tel.call_final(caller)
    assert [e["text"] for e in events(tel, caller, "say")] == [
        "Nobody is here, sorry.",
        "Thanks for waiting.",
    ]
    assert waiting(tel, queue_of(tel).sid) == []


def test_full_queue_is_queue_full(tel: Telephonist, webapp: WebApp) -> None:
    tel.client().queues.create(friendly_name="support", max_size=1)
    support_line(webapp, tel)
    first = call_in(tel, CALLERS[0])
    queue = queue_of(tel)
    wait_until(lambda: waiting(tel, queue.sid) == [first])
    second = call_in(tel, CALLERS[1])
    hit = webapp.wait_hits("/left")[0]
    assert (params(hit)["CallSid"], params(hit)["QueueResult"]) == (second, "queue-full")
    tel.sim("POST", f"/Calls/{first}/Hangup")
    tel.call_final(first)
    wait_until(lambda: waiting(tel, queue.sid) == [])


def test_rest_dequeue_sends_the_caller_to_the_url(tel: Telephonist, webapp: WebApp) -> None:
    support_line(webapp, tel)
    caller = call_in(tel, CALLERS[0])
    queue = queue_of(tel)
    wait_until(lambda: waiting(tel, queue.sid))
    out = webapp.twiml("/out", "<Response><Say>An agent will call you back.</Say></Response>")
    member = tel.client().queues(queue.sid).members("Front").update(url=out, method="POST")
    assert member.call_sid == caller
    tel.call_final(caller)
    assert events(tel, caller, "say")[-1]["text"] == "An agent will call you back."
    assert params(webapp.wait_hits("/out")[0])["CallSid"] == caller
    assert waiting(tel, queue.sid) == []
    left = params(webapp.wait_hits("/left")[0])  # the Enqueue action is told; its answer is not run
    assert (left["QueueResult"], left["CallSid"]) == ("redirected", caller)
    assert "Thanks for waiting." not in [e["text"] for e in events(tel, caller, "say")]


def test_dialling_an_empty_queue_times_out(tel: Telephonist, webapp: WebApp) -> None:
    tel.client().queues.create(friendly_name="support")
    webapp.twiml("/done", "<Response/>")
    agent = place(
        tel,
        webapp.twiml(
            "/agent", '<Response><Dial action="/done" timeout="5"><Queue>support</Queue></Dial></Response>'
        ),
    )
    tel.call_final(agent)
    p = params(webapp.wait_hits("/done")[0])
    assert (p["DialCallStatus"], p["DequeueResult"]) == ("no-answer", "queue-empty")


def test_dialling_an_unknown_queue(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/done", "<Response/>")
    agent = place(
        tel, webapp.twiml("/agent", '<Response><Dial action="/done"><Queue>nobody</Queue></Dial></Response>')
    )
    tel.call_final(agent)
    assert params(webapp.wait_hits("/done")[0])["DequeueResult"] == "queue-not-found"


def test_queue_resource_crud(tel: Telephonist) -> None:
    client = tel.client()
    q = client.queues.create(friendly_name="sales", max_size=10)
    assert (q.friendly_name, q.max_size, q.current_size, q.average_wait_time) == ("sales", 10, 0, 0)
    assert q.sid.startswith("QU")
    assert [x.sid for x in client.queues.list()] == [q.sid]
    q = client.queues(q.sid).update(friendly_name="sales-eu", max_size=20)
    assert (q.friendly_name, q.max_size) == ("sales-eu", 20)
    assert client.queues(q.sid).members.list() == []
    with pytest.raises(TwilioRestException) as info:
        client.queues(q.sid).members("Front").fetch()
    assert info.value.status == 404
    assert client.queues(q.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        client.queues(q.sid).fetch()
    assert info.value.code == 20404


@pytest.mark.parametrize(
    ("data", "code"),
    [({}, 20001), ({"FriendlyName": "x" * 65}, 20001), ({"FriendlyName": "q", "MaxSize": "0"}, 20001)],
)
def test_queue_create_validation(tel: Telephonist, data: dict[str, str], code: int) -> None:
    with tel.http as h:
        r = h.post(f"/2010-04-01/Accounts/{tel.account_sid}/Queues.json", data=data)
    assert r.status_code == 400 and r.json()["code"] == code
    assert tel.client().queues.list() == []


def test_a_queue_with_callers_cannot_be_deleted(tel: Telephonist, webapp: WebApp) -> None:
    support_line(webapp, tel)
    caller = call_in(tel, CALLERS[0])
    queue = queue_of(tel)
    wait_until(lambda: waiting(tel, queue.sid))
    with pytest.raises(TwilioRestException) as info:
        tel.client().queues(queue.sid).delete()
    assert info.value.code == 20009
    tel.sim("POST", f"/Calls/{caller}/Hangup")
    tel.call_final(caller)
    wait_until(lambda: waiting(tel, queue.sid) == [])
    assert tel.client().queues(queue.sid).delete() is True


def test_caller_hanging_up_in_the_queue_gets_the_action_with_hangup(tel: Telephonist, webapp: WebApp) -> None:
    support_line(webapp, tel)
    caller = call_in(tel, CALLERS[0])
    queue = queue_of(tel)
    wait_until(lambda: waiting(tel, queue.sid))
    tel.sim("POST", f"/Calls/{caller}/Hangup")
    p = params(webapp.wait_hits("/left")[0])
    assert (p["QueueResult"], p["CallSid"]) == ("hangup", caller)
    tel.call_final(caller)
    assert "Thanks for waiting." not in [e["text"] for e in events(tel, caller, "say")]
    assert waiting(tel, queue.sid) == []
