"""Calls held by different engines in one conference or queue. A conference: one room (one Conference
SID), everyone hears everyone, one engine sends the status callbacks, REST requests on the conference and
its participants work through any API node, and the room's engine dying ends the conference for the
others, whose calls go on. A queue: an agent on one engine takes a caller waiting on the other, and the
two hear each other."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import ACCOUNT_SID, WebApp, postgres_url, wait_until

from .cluster import Node

pytestmark = pytest.mark.slow

API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
FROM = "+15005550006"
AFTER = "The conference has ended."
_numbers = itertools.count(1)


@dataclass
class Nodes:
    db: str
    api: Node
    engines: list[Node]


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    db = postgres_url(tmp_path)
    log = tmp_path / "nodes.log"
    engines = [Node(db, "engine", "engine-1", log)]
    engines[0].wait_ready()  # the first migrates and makes the account
    engines.append(Node(db, "engine", "engine-2", log))
    api = Node(db, "api", "api-1", log)
    try:
        for node in (*engines, api):
            node.wait_ready()
        yield Nodes(db, api, engines)
    finally:
        for node in (api, *engines):
            node.stop()


def query(db: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(sql, args).fetchall()


def held_by(db: str, sid: str) -> str:
    return str(
        wait_until(lambda: (rows := query(db, "SELECT node FROM calls WHERE sid = %s", sid)) and rows[0][0])
    )


def join(nodes: Nodes, twiml_url: str) -> tuple[str, str]:
    """A call (to a new virtual phone) that joins the room: its sid and its phone's number."""
    number = f"+1555600{next(_numbers):04d}"
    with nodes.api.http() as h:
        r = h.post(f"{API}/Calls.json", data={"To": number, "From": FROM, "Url": twiml_url})
    assert r.status_code == 201, r.text
    return r.json()["sid"], number


def on_both(nodes: Nodes, twiml_url: str) -> dict[str, list[tuple[str, str]]]:
    """Calls until each engine holds at least one (which engine starts a call is up to the engines)."""
    held: dict[str, list[tuple[str, str]]] = {}
    for _ in range(20):
        call = join(nodes, twiml_url)
        held.setdefault(held_by(nodes.db, call[0]), []).append(call)
        if len(held) == 2:
            return held
    raise AssertionError(f"every call went to one engine: {held}")


def transcript(nodes: Nodes, sid: str) -> list[dict[str, Any]]:
    with nodes.api.http() as h:
        r = h.get(f"/sim/v1/Calls/{sid}")
    assert r.status_code == 200, r.text
    return list(r.json()["transcript"])


def heard(nodes: Nodes, sid: str) -> list[tuple[str, str]]:
    return [(e["from"], e["speech"]) for e in transcript(nodes, sid) if e["event"] == "heard"]


def participants(nodes: Nodes, conference_sid: str, status: str = "connected") -> set[str]:
    with nodes.api.http() as h:
        r = h.get(f"{API}/Conferences/{conference_sid}/Participants.json")
    return {p["call_sid"] for p in r.json()["participants"] if p["status"] == status}


def one_room(nodes: Nodes, name: str, sids: Iterable[str]) -> tuple[str, str]:
    """The one room of that name, whichever engine each call is on: its SID and its engine, once every
    call of `sids` is in it."""
    rooms = wait_until(
        lambda: query(nodes.db, "SELECT sid, node FROM conferences WHERE friendly_name = %s", name)
    )
    assert len(rooms) == 1, rooms
    conference_sid, home = rooms[0]
    wait_until(lambda: participants(nodes, conference_sid) == set(sids), 20)
    return str(conference_sid), str(home)


def says(nodes: Nodes, sid: str) -> list[str]:
    return [e["text"] for e in transcript(nodes, sid) if e["event"] == "say"]


def final(nodes: Nodes, sid: str) -> str:
    def done() -> str | None:
        with nodes.api.http() as h:
            status = h.get(f"{API}/Calls/{sid}.json").json()["status"]
        return status if status in ("completed", "failed") else None

    return str(wait_until(done, 20))


def test_participants_on_two_engines_share_one_room(nodes: Nodes, webapp: WebApp) -> None:
    conference = (
        f'<Conference statusCallback="{webapp.url("/conference")}" '
        'statusCallbackEvent="start end join leave mute">team</Conference>'
    )
    url = webapp.twiml("/join", f"<Response><Dial>{conference}</Dial><Say>{AFTER}</Say></Response>")
    held = on_both(nodes, url)
    calls = [call for node_calls in held.values() for call in node_calls]
    sids = [sid for sid, _ in calls]
    conference_sid, home = one_room(nodes, "team", sids)

    # Each engine's caller is heard on the other engine, and by a caller on its own.
    (one, one_number), (two, two_number) = (node_calls[0] for node_calls in held.values())
    with nodes.api.http() as h:
        assert h.post(f"/sim/v1/Calls/{one}/Speech", data={"Text": "hello from one"}).status_code == 200
        assert h.post(f"/sim/v1/Calls/{two}/Speech", data={"Text": "hello from two"}).status_code == 200
    for sid, number in calls:
        expected = {(one_number, "hello from one"), (two_number, "hello from two")} - {
            (number, "hello from one"),
            (number, "hello from two"),
        }
        wait_until(lambda sid=sid, expected=expected: set(heard(nodes, sid)) == expected, 20)
    assert all(len(heard(nodes, sid)) == (1 if sid in (one, two) else 2) for sid in sids)  # heard once each

    # A participant held by the engine that does not run the room is muted through the API node.
    elsewhere = next(sid for node, node_calls in held.items() if node != home for sid, _ in node_calls)
    with nodes.api.http() as h:
        r = h.post(
            f"{API}/Conferences/{conference_sid}/Participants/{elsewhere}.json", data={"Muted": "true"}
        )
        assert r.status_code == 200 and r.json()["muted"] is True, r.text
        h.post(f"/sim/v1/Calls/{elsewhere}/Speech", data={"Text": "nobody hears this"})

    # The room's status callbacks come from one engine: one start, each join once, in sequence.
    hits = webapp.wait_hits("/conference", count=len(sids) + 2, timeout=20)
    events = [(hit.param("StatusCallbackEvent"), hit.param("CallSid")) for hit in hits]
    assert events.count(("conference-start", None)) == 1
    assert sorted(sid for event, sid in events if event == "participant-join") == sorted(sids)
    assert ("participant-mute", elsewhere) in events
    mute = next(hit for hit in hits if hit.param("StatusCallbackEvent") == "participant-mute")
    assert mute.param("Muted") == "true"
    sequence = [int(str(hit.param("SequenceNumber"))) for hit in hits]
    assert sorted(sequence) == list(range(1, len(hits) + 1))  # webhooks may arrive in any order
    assert {hit.param("ConferenceSid") for hit in hits} == {conference_sid}

    # Ending it through the API node ends every participant's Dial, on both engines.
    with nodes.api.http() as h:
        r = h.post(f"{API}/Conferences/{conference_sid}.json", data={"Status": "completed"})
    assert r.status_code == 200, r.text
    for sid in sids:
        assert final(nodes, sid) == "completed"
        assert says(nodes, sid)[-1] == AFTER
        assert all(speech != "nobody hears this" for _, speech in heard(nodes, sid))
    with nodes.api.http() as h:
        room = h.get(f"{API}/Conferences/{conference_sid}.json").json()
    assert (room["status"], room["reason_conference_ended"]) == ("completed", "conference-ended-via-api")
    ended = webapp.wait_hits("/conference", count=len(hits) + len(sids) + 1, timeout=20)
    events = [(hit.param("StatusCallbackEvent"), hit.param("CallSid")) for hit in ended]
    assert events.count(("conference-end", None)) == 1
    assert sorted(sid for event, sid in events if event == "participant-leave") == sorted(sids)


def test_the_rooms_engine_dying_ends_it_for_the_others(nodes: Nodes, webapp: WebApp) -> None:
    url = webapp.twiml(
        "/join", f"<Response><Dial><Conference>standby</Conference></Dial><Say>{AFTER}</Say></Response>"
    )
    held = on_both(nodes, url)
    sids = [sid for node_calls in held.values() for sid, _ in node_calls]
    conference_sid, home = one_room(nodes, "standby", sids)
    next(node for node in nodes.engines if node.id == home).kill()
    for node, node_calls in held.items():
        for sid, _ in node_calls:
            if node == home:
                assert final(nodes, sid) == "failed"  # its media lived there
            else:  # the Dial ends and the call goes on
                assert final(nodes, sid) == "completed"
                assert says(nodes, sid)[-1] == AFTER
    assert query(nodes.db, "SELECT status FROM conferences WHERE sid = %s", conference_sid) == [
        ("completed",)
    ]


def test_an_engine_dying_takes_only_its_participants_away(nodes: Nodes, webapp: WebApp) -> None:
    url = webapp.twiml("/join", "<Response><Dial><Conference>huddle</Conference></Dial></Response>")
    held = on_both(nodes, url)
    sids = [sid for node_calls in held.values() for sid, _ in node_calls]
    conference_sid, home = one_room(nodes, "huddle", sids)
    other = next(node for node in nodes.engines if node.id != home)
    other.kill()
    staying = [sid for sid, _ in held[home]]
    for sid, _ in held[other.id]:
        assert final(nodes, sid) == "failed"
    wait_until(lambda: participants(nodes, conference_sid) == set(staying), 20)
    with nodes.api.http() as h:
        assert h.get(f"{API}/Conferences/{conference_sid}.json").json()["status"] == "in-progress"
        for sid in staying:
            assert h.post(f"/sim/v1/Calls/{sid}/Hangup").status_code == 200
    wait_until(
        lambda: (
            query(nodes.db, "SELECT status FROM conferences WHERE sid = %s", conference_sid)
            == [("completed",)]
        ),
        20,
    )


def test_an_announcement_is_fetched_once_whichever_engines_hold_the_room(
    nodes: Nodes, webapp: WebApp
) -> None:
    url = webapp.twiml("/join", "<Response><Dial><Conference>briefing</Conference></Dial></Response>")
    held = on_both(nodes, url)
    sids = [sid for node_calls in held.values() for sid, _ in node_calls]
    conference_sid, home = one_room(nodes, "briefing", sids)
    home_sids = [sid for sid, _ in held[home]]
    other_sids = [sid for node, node_calls in held.items() if node != home for sid, _ in node_calls]

    def announce(path: str, text: str, participant: str | None = None) -> None:
        target = f"/Participants/{participant}" if participant else ""
        with nodes.api.http() as h:
            r = h.post(
                f"{API}/Conferences/{conference_sid}{target}.json",
                data={"AnnounceUrl": webapp.twiml(path, f"<Response><Say>{text}</Say></Response>")},
            )
        assert r.status_code == 200, r.text

    # To the room: the engine that runs it fetches the TwiML once, and everyone on both engines hears it.
    announce("/all", "Five minutes left.")
    for sid in sids:
        wait_until(lambda sid=sid: "Five minutes left." in says(nodes, sid), 20)
    [hit] = webapp.hits_for("/all")
    assert hit.param("ConferenceSid") == conference_sid and hit.param("CallSid") in home_sids

    # To one participant held by the other engine: that engine fetches it, and only that one hears it.
    announce("/one", "Only for you.", other_sids[0])
    wait_until(lambda: "Only for you." in says(nodes, other_sids[0]), 20)
    [hit] = webapp.hits_for("/one")
    assert hit.param("CallSid") == other_sids[0]
    assert all("Only for you." not in says(nodes, sid) for sid in sids if sid != other_sids[0])

    # Once the room's engine holds nobody, the other engine fetches it for the room, once.
    with nodes.api.http() as h:
        for sid in home_sids:
            assert h.post(f"/sim/v1/Calls/{sid}/Hangup").status_code == 200
    wait_until(lambda: participants(nodes, conference_sid) == set(other_sids), 20)
    announce("/rest", "One minute left.")
    for sid in other_sids:
        wait_until(lambda sid=sid: "One minute left." in says(nodes, sid), 20)
    [hit] = webapp.hits_for("/rest")
    assert hit.param("CallSid") in other_sids


def test_a_coach_on_one_engine_is_heard_by_the_coached_one_on_the_other_alone(
    nodes: Nodes, webapp: WebApp
) -> None:
    url = webapp.twiml("/join", "<Response><Dial><Conference>coaching</Conference></Dial></Response>")
    held = on_both(nodes, url)
    third = join(nodes, url)  # three, so that someone besides the coached one may hear the coach
    held.setdefault(held_by(nodes.db, third[0]), []).append(third)
    calls = [call for node_calls in held.values() for call in node_calls]
    conference_sid, _ = one_room(nodes, "coaching", [sid for sid, _ in calls])
    (coach, coach_number), (agent, agent_number) = (node_calls[0] for node_calls in held.values())
    others = [sid for sid, _ in calls if sid not in (coach, agent)]

    def say(sid: str, text: str) -> None:
        with nodes.api.http() as h:
            assert h.post(f"/sim/v1/Calls/{sid}/Speech", data={"Text": text}).status_code == 200

    with nodes.api.http() as h:  # runs on the coach's engine; the agent is on the other
        r = h.post(
            f"{API}/Conferences/{conference_sid}/Participants/{coach}.json",
            data={"Coaching": "true", "CallSidToCoach": agent},
        )
    assert r.status_code == 200, r.text
    assert (r.json()["coaching"], r.json()["call_sid_to_coach"]) == (True, agent)
    say(coach, "offer the discount")
    wait_until(lambda: (coach_number, "offer the discount") in heard(nodes, agent), 20)
    # The coach still hears the room; the others never hear the coach.
    say(agent, "let me check")
    wait_until(lambda: (agent_number, "let me check") in heard(nodes, coach), 20)
    for sid in others:
        wait_until(lambda sid=sid: (agent_number, "let me check") in heard(nodes, sid), 20)
        assert all(speech != "offer the discount" for _, speech in heard(nodes, sid))

    # Coaching stops: the coach is heard by everyone again.
    with nodes.api.http() as h:
        r = h.post(
            f"{API}/Conferences/{conference_sid}/Participants/{coach}.json", data={"Coaching": "false"}
        )
    assert r.status_code == 200 and r.json()["coaching"] is False, r.text
    say(coach, "welcome, everyone")
    for sid in (agent, *others):
        wait_until(lambda sid=sid: (coach_number, "welcome, everyone") in heard(nodes, sid), 20)
    assert [speech for _, speech in heard(nodes, agent)].count("offer the discount") == 1


@dataclass
class Bridge:
    caller: str
    caller_number: str
    agent: str
    agent_number: str
    engines: dict[str, str]  # call sid → the engine holding it


def bridged(nodes: Nodes, webapp: WebApp) -> Bridge:
    """A caller waiting in the queue "support" on one engine, taken by an agent's `<Dial><Queue>` on the
    other; after their bridge, the caller is thanked and the agent hears "Next caller"."""
    caller_url = webapp.twiml(
        "/caller", "<Response><Enqueue>support</Enqueue><Say>Thanks for waiting</Say></Response>"
    )
    caller, caller_number = join(nodes, caller_url)
    engine = held_by(nodes.db, caller)
    wait_until(lambda: any(e["event"] == "enqueue" for e in transcript(nodes, caller)), 20)
    # An agent's call on the other engine (the calls that go to the caller's engine hang up).
    idle = webapp.twiml("/idle", '<Response><Pause length="3600"/></Response>')
    with nodes.api.http() as h:
        for _ in range(20):
            agent, agent_number = join(nodes, idle)
            if (other_engine := held_by(nodes.db, agent)) != engine:
                break
            h.post(f"{API}/Calls/{agent}.json", data={"Status": "completed"})
        else:
            raise AssertionError("every call went to the caller's engine")
        dial = webapp.twiml(
            "/agent",
            f'<Response><Dial action="{webapp.url("/dialled")}"><Queue>support</Queue></Dial></Response>',
        )
        webapp.twiml("/dialled", "<Response><Say>Next caller</Say></Response>")
        assert h.post(f"{API}/Calls/{agent}.json", data={"Url": dial}).status_code == 200
    for sid, other in ((caller, agent), (agent, caller)):
        wait_until(
            lambda sid=sid, other=other: any(
                e["event"] == "bridged" and e["call_sid"] == other for e in transcript(nodes, sid)
            ),
            20,
        )
    return Bridge(caller, caller_number, agent, agent_number, {caller: engine, agent: other_engine})


def test_an_agent_takes_a_caller_waiting_on_the_other_engine(nodes: Nodes, webapp: WebApp) -> None:
    b = bridged(nodes, webapp)
    caller, caller_number, agent, agent_number = b.caller, b.caller_number, b.agent, b.agent_number
    caller_url = webapp.url("/caller")
    with nodes.api.http() as h:
        h.post(f"/sim/v1/Calls/{caller}/Speech", data={"Text": "I need help"})
        h.post(f"/sim/v1/Calls/{agent}/Speech", data={"Text": "How can I help"})
        wait_until(lambda: heard(nodes, agent) == [(caller_number, "I need help")], 20)
        wait_until(lambda: heard(nodes, caller) == [(agent_number, "How can I help")], 20)
        assert h.post(f"/sim/v1/Calls/{caller}/Hangup").status_code == 200
    dialled = webapp.wait_hits("/dialled", timeout=20)[0]
    assert (dialled.param("DequeueResult"), dialled.param("DequeuedCallSid")) == ("bridged", caller)
    wait_until(
        lambda: "Next caller" in [e.get("text") for e in transcript(nodes, agent) if e["event"] == "say"], 20
    )
    assert final(nodes, caller) == "completed"

    # A REST dequeue of the caller at the front, through the API node, reaches the engine holding it.
    waiting, _ = join(nodes, caller_url)
    wait_until(lambda: any(e["event"] == "enqueue" for e in transcript(nodes, waiting)), 20)
    with nodes.api.http() as h:
        queue = next(
            q for q in h.get(f"{API}/Queues.json").json()["queues"] if q["friendly_name"] == "support"
        )
        out = webapp.twiml("/out", "<Response><Say>Taken out by the API</Say></Response>")
        r = h.post(f"{API}/Queues/{queue['sid']}/Members/Front.json", data={"Url": out})
    assert r.status_code == 200 and r.json()["call_sid"] == waiting, r.text
    wait_until(lambda: "Taken out by the API" in [e.get("text") for e in transcript(nodes, waiting)], 20)


@pytest.mark.parametrize("dying", ["agent", "caller"])
def test_a_bridge_ends_when_the_other_sides_engine_dies(nodes: Nodes, webapp: WebApp, dying: str) -> None:
    """The call on the engine that died failed; the other's `<Enqueue>` or `<Dial>` ends as bridged, as if
    that side had hung up, and its call goes on to its next verb."""
    b = bridged(nodes, webapp)
    gone, staying = (b.agent, b.caller) if dying == "agent" else (b.caller, b.agent)
    next(node for node in nodes.engines if node.id == b.engines[gone]).kill()
    assert final(nodes, gone) == "failed"
    if staying == b.caller:
        wait_until(lambda: says(nodes, b.caller)[-1:] == ["Thanks for waiting"], 20)
        assert final(nodes, b.caller) == "completed"
    else:
        dialled = webapp.wait_hits("/dialled", timeout=20)[0]
        assert (dialled.param("DequeueResult"), dialled.param("DequeuedCallSid")) == ("bridged", b.caller)
        wait_until(lambda: says(nodes, b.agent)[-1:] == ["Next caller"], 20)


def test_participants_added_through_an_api_node(nodes: Nodes, webapp: WebApp) -> None:
    """An API node runs no room: it reserves the conference, and the engine that starts the participant's
    call opens it. A room whose only participant never answered is over."""
    with nodes.api.http() as h:
        assert (
            h.post("/sim/v1/Phones", data={"PhoneNumber": "+15556000901", "Answer": "busy"}).status_code
            == 201
        )
        r = h.post(f"{API}/Conferences/nobody/Participants.json", data={"From": FROM, "To": "+15556000901"})
        assert r.status_code == 201, r.text
        lonely = r.json()["conference_sid"]
        r = h.post(f"{API}/Conferences/board/Participants.json", data={"From": FROM, "To": "+15556000900"})
        assert r.status_code == 201, r.text
        call_sid, conference_sid = r.json()["call_sid"], r.json()["conference_sid"]
        wait_until(lambda: participants(nodes, conference_sid) == {call_sid}, 20)
        engine = held_by(nodes.db, call_sid)
        assert query(nodes.db, "SELECT node FROM conferences WHERE sid = %s", conference_sid) == [(engine,)]
        # A second participant's call is in the same room, whichever engine holds it.
        second = h.post(
            f"{API}/Conferences/{conference_sid}/Participants.json", data={"From": FROM, "To": "+15556000902"}
        )
        assert second.status_code == 201 and second.json()["conference_sid"] == conference_sid, second.text
        wait_until(lambda: participants(nodes, conference_sid) == {call_sid, second.json()["call_sid"]}, 20)
        assert h.get(f"{API}/Conferences/{conference_sid}.json").json()["status"] == "in-progress"
        assert (
            h.post(f"{API}/Conferences/{conference_sid}.json", data={"Status": "completed"}).status_code
            == 200
        )
    wait_until(
        lambda: query(nodes.db, "SELECT status FROM conferences WHERE sid = %s", lonely) == [("completed",)],
        20,
    )
    assert query(nodes.db, "SELECT status FROM participants WHERE conference_sid = %s", lonely) == [
        ("failed",)
    ]
