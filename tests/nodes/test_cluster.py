"""Several nodes over one PostgreSQL database: two API processes and two engines, as
`telephonist serve --role api|engine` runs them. One engine is killed with SIGKILL in the middle of
1,000 messages and 50 live calls: every accepted message is delivered exactly once, the dead engine's
calls end `failed` with their status callbacks, the survivor's calls are untouched (and hung up through
the API nodes, whose live-call commands reach it over LISTEN/NOTIFY), and new calls go to the survivor:
calls made with the REST API, and calls from a SIP trunk through Kamailio's dispatcher in front of the
engines."""

from __future__ import annotations

import asyncio
import itertools
import math
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from tests.carriers.sip import sipp
from tests.deploy.kamailio import KAMAILIO, NUMBER, check, place_calls, start_kamailio, stop

from conftest import ACCOUNT_SID, AUTH_TOKEN, WebApp, postgres_url, wait_until
from telephonist.media import audio

from .cluster import Node

pytestmark = [
    pytest.mark.slow,
    sipp.needs_sipp,
    pytest.mark.skipif(KAMAILIO is None, reason="Kamailio is not installed (apt-get install kamailio)"),
]

API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
FROM = "+15005550006"
MESSAGES, KILL_AFTER, CONCURRENCY = 1000, 300, 20
CALLS, LATER_CALLS = 50, 6
# A call that stays up for the whole test (pauses are scaled by the time scale, 0.01).
HOLD = (
    '<Response><Say>Hello</Say><Pause length="3600"/><Pause length="3600"/><Pause length="3600"/></Response>'
)


@dataclass
class Cluster:
    db: str
    apis: list[Node]
    engines: list[Node]
    proxy: int  # Kamailio's SIP port, in front of the engines


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    db = postgres_url(tmp_path)
    log = tmp_path / "nodes.log"
    engines = [Node(db, "engine", "engine-1", log, sip_port=sipp.free_udp_port())]
    engines[0].wait_ready()  # the first migrates and makes the account; the others start on it
    engines.append(Node(db, "engine", "engine-2", log, sip_port=sipp.free_udp_port()))
    apis = [Node(db, "api", f"api-{i}", log) for i in (1, 2)]
    kamailio = None
    try:
        for node in [*engines, *apis]:
            node.wait_ready()
        kamailio = start_kamailio(tmp_path, engines)
        yield Cluster(db, apis, engines, kamailio.port)
    finally:
        if kamailio is not None:
            stop(kamailio.proc, group=True)
        for node in [*apis, *engines]:
            node.stop()


def holders(db: str, sids: list[str]) -> dict[str, str]:
    """Which node holds each call (calls.node): what the test looks at inside, to see both engines work."""
    dsn = db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT sid, node FROM calls WHERE sid = ANY(%s)", (sids,)).fetchall()
    return {sid: node for sid, node in rows}


def deliveries(db: str) -> Counter[str]:
    """How many times each message reached its virtual phone's inbox."""
    dsn = db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return Counter(sid for (sid,) in conn.execute("SELECT message_sid FROM sim_inbox").fetchall())


def message_statuses(db: str, sids: list[str]) -> dict[str, str]:
    dsn = db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT sid, status FROM messages WHERE sid = ANY(%s)", (sids,)).fetchall())


def start_calls(apis: list[Node], n: int, twiml_url: str, status_url: str) -> list[str]:
    sids = []
    for i, api in zip(range(n), itertools.cycle(apis), strict=False):
        with api.http() as h:
            r = h.post(
                f"{API}/Calls.json",
                data={"To": f"+1555300{i:04d}", "From": FROM, "Url": twiml_url, "StatusCallback": status_url},
            )
        assert r.status_code == 201, r.text
        sids.append(r.json()["sid"])
    return sids


def statuses(api: Node, sids: list[str]) -> dict[str, str]:
    with api.http() as h:
        return {sid: h.get(f"{API}/Calls/{sid}.json").json()["status"] for sid in sids}


async def burst(apis: list[Node], engine: Node, status_url: str) -> dict[str, str]:
    """MESSAGES messages through both API nodes; SIGKILL `engine` once KILL_AFTER were accepted."""
    accepted: dict[str, str] = {}
    numbers = iter(range(MESSAGES))

    async def worker(client: httpx.AsyncClient) -> None:
        for i in numbers:
            r = await client.post(
                f"{API}/Messages.json",
                data={
                    "To": f"+1555400{i:04d}",
                    "From": FROM,
                    "Body": f"cluster #{i}",
                    "StatusCallback": status_url,
                },
            )
            assert r.status_code == 201, r.text
            accepted[r.json()["sid"]] = f"cluster #{i}"
            if len(accepted) == KILL_AFTER:
                engine.kill()

    clients = [
        httpx.AsyncClient(base_url=api.base_url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=20) for api in apis
    ]
    try:
        await asyncio.gather(*(worker(clients[k % len(clients)]) for k in range(CONCURRENCY)))
    finally:
        for client in clients:
            await client.aclose()
    return accepted


def test_an_engine_killed_mid_traffic_loses_nothing(cluster: Cluster, webapp: WebApp, tmp_path: Path) -> None:
    db, apis, (doomed, survivor), proxy = cluster.db, cluster.apis, cluster.engines, cluster.proxy
    twiml = webapp.twiml("/hold", HOLD)
    call_status, sms_status = webapp.url("/call-status"), webapp.url("/sms-status")
    # Calls from the SIP trunk to the number hear a tone (0.4 s) and are hung up.
    tone = array("h", (round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(3200)))
    tone_url = webapp.file("/tone.wav", audio.wav(tone.tobytes()), "audio/wav")
    with apis[0].http() as h:
        number = h.get(f"{API}/IncomingPhoneNumbers.json", params={"PhoneNumber": NUMBER}).json()
        sid = number["incoming_phone_numbers"][0]["sid"]
        voice_url = webapp.twiml("/voice", f"<Response><Play>{tone_url}</Play></Response>")
        assert (
            h.post(f"{API}/IncomingPhoneNumbers/{sid}.json", data={"VoiceUrl": voice_url}).status_code == 200
        )

    # 50 live calls, started by whichever engine claims their start.
    sids = start_calls(apis, CALLS, twiml, call_status)
    wait_until(lambda: set(statuses(apis[0], sids).values()) == {"in-progress"}, 60)
    held = holders(db, sids)
    on_doomed = [sid for sid in sids if held[sid] == doomed.id]
    on_survivor = [sid for sid in sids if held[sid] == survivor.id]
    assert on_doomed and on_survivor and len(on_doomed) + len(on_survivor) == CALLS, Counter(held.values())

    # Calls from the trunk through Kamailio reach both engines (round robin), and run to their end.
    trunk_calls = place_calls(tmp_path, proxy, ["sip-1", "sip-2"])
    for call in trunk_calls:
        check(call, proxy)
    assert sorted(call.node_port for call in trunk_calls) == sorted([doomed.sip_port, survivor.sip_port])

    # 1,000 messages through both API nodes; the first engine dies after 300 were accepted.
    accepted = asyncio.run(burst(apis, doomed, sms_status))
    assert len(accepted) == MESSAGES and doomed.proc.poll() is not None

    # Every accepted message is delivered, once: in its phone's inbox once, `delivered` over the API, and
    # its `delivered` callback sent once (a callback re-sent after the crash would carry the same
    # I-Twilio-Idempotency-Token, as a Twilio retry does).
    wait_until(lambda: set(message_statuses(db, list(accepted)).values()) == {"delivered"}, 90, interval=0.5)
    got = deliveries(db)
    assert {sid: got[sid] for sid in accepted if got[sid] != 1} == {}
    with apis[1].http() as h:
        for sid in list(accepted)[::50]:
            assert h.get(f"{API}/Messages/{sid}.json").json()["status"] == "delivered"

    def delivered_callbacks() -> dict[str, set[str]]:
        tokens: dict[str, set[str]] = {}
        for hit in webapp.hits_for("/sms-status"):
            if hit.param("MessageStatus") == "delivered":
                tokens.setdefault(hit.param("MessageSid") or "", set()).add(
                    hit.headers["I-Twilio-Idempotency-Token"]
                )
        return tokens

    wait_until(lambda: set(delivered_callbacks()) >= set(accepted), 60, interval=0.5)
    assert {sid: t for sid, t in delivered_callbacks().items() if len(t) != 1} == {}

    # The dead engine's calls end failed, each with its status callback; the survivor's are untouched.
    wait_until(lambda: set(statuses(apis[0], on_doomed).values()) == {"failed"}, 30)
    assert set(statuses(apis[1], on_survivor).values()) == {"in-progress"}

    def callbacks(status: str) -> set[str | None]:
        return {
            h.param("CallSid") for h in webapp.hits_for("/call-status") if h.param("CallStatus") == status
        }

    wait_until(lambda: callbacks("failed") >= set(on_doomed), 30)
    assert callbacks("failed") == set(on_doomed)

    # New calls go to the survivor.
    later = start_calls(apis, LATER_CALLS, twiml, call_status)
    wait_until(lambda: set(statuses(apis[1], later).values()) == {"in-progress"}, 30)
    assert set(holders(db, later).values()) == {survivor.id}
    # And so do calls from the trunk: Kamailio tries the dead engine no more (or, before its probe has
    # found it dead, after its transaction timer), and they run on the survivor.
    trunk_calls = place_calls(tmp_path, proxy, ["sip-3", "sip-4"])
    for call in trunk_calls:
        check(call, proxy)
    assert {call.node_port for call in trunk_calls} == {survivor.sip_port}

    # A REST hang-up on an API node reaches the engine that holds the call, and answers as it ends.
    for sid, api in zip(on_survivor + later, itertools.cycle(apis), strict=False):
        with api.http() as h:
            r = h.post(f"{API}/Calls/{sid}.json", data={"Status": "completed"})
        assert r.status_code == 200, r.text
        assert r.json()["sid"] == sid
    wait_until(lambda: set(statuses(apis[0], on_survivor + later).values()) == {"completed"}, 30)
    wait_until(lambda: callbacks("completed") >= set(on_survivor + later), 20)

    # Nothing else disturbed: the API nodes and the survivor still serve and are ready.
    for node in [*apis, survivor]:
        with node.http() as h:
            assert h.get("/readyz").status_code == 200
            assert h.get(f"{API}.json").status_code == 200
