"""A SIP phone registered with one engine is reached by a call that another engine places: registrations
are in the database (here the phone registers with the engine directly; behind Kamailio it is the same)."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.carriers.sip import baresip, sipp
from twilio.rest import Client

from conftest import ACCOUNT_SID, AUTH_TOKEN, WebApp, postgres_url, wait_until
from telephonist.media import audio

from .cluster import Node
from .test_across_engines import API, held_by, query

pytestmark = [pytest.mark.slow, baresip.needs_baresip]
DOMAIN = "acme.sip.twilio.com"
PASSWORD = "Secret123456x"


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[str, list[Node]]]:
    db = postgres_url(tmp_path)
    log = tmp_path / "nodes.log"
    # Real time: a real phone answers in real time. No trunk: the phone is the only SIP peer.
    settings = {"time_scale": "1", "sip_trunks": "[]"}
    nodes = [Node(db, "engine", "engine-1", log, sip_port=sipp.free_udp_port(), **settings)]
    nodes[0].wait_ready()
    nodes.append(Node(db, "engine", "engine-2", log, sip_port=sipp.free_udp_port(), **settings))
    try:
        nodes[1].wait_ready()
        yield db, nodes
    finally:
        for node in nodes:
            node.stop()


def test_a_phone_registered_with_one_engine_is_called_by_another(
    engines: tuple[str, list[Node]], webapp: WebApp, tmp_path: Path
) -> None:
    db, (first, second) = engines
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = first.base_url
    sd = client.sip.domains.create(domain_name=DOMAIN, voice_url=webapp.url("/domain"), sip_registration=True)
    phones = client.sip.credential_lists.create(friendly_name="phones")
    phones.credentials.create(username="alice", password=PASSWORD)
    client.sip.domains(sd.sid).auth.registrations.credential_list_mappings.create(
        credential_list_sid=phones.sid
    )
    tone = array("h", (round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000 * 4)))
    (tmp_path / "tone.wav").write_bytes(audio.wav(tone.tobytes()))
    alice = baresip.start(
        tmp_path / "alice", "alice", PASSWORD, DOMAIN, first.sip_port, tmp_path / "tone.wav"
    )
    try:
        wait_until(alice.registered, timeout=10)
        assert [row[0] for row in query(db, "SELECT aor FROM sip_registrations")] == [f"alice@{DOMAIN}"]
        # A call that the second engine holds dials the phone, which answers.
        idle = webapp.twiml("/idle", '<Response><Pause length="60"/></Response>')
        dial = webapp.twiml("/dial", '<Response><Dial timeLimit="2"><Client>alice</Client></Dial></Response>')
        with second.http() as h:
            for _ in range(20):
                r = h.post(
                    f"{API}/Calls.json", data={"To": "+15557770001", "From": "+15005550006", "Url": idle}
                )
                sid = r.json()["sid"]
                if held_by(db, sid) == second.id:
                    break
                h.post(f"{API}/Calls/{sid}.json", data={"Status": "completed"})
            else:
                raise AssertionError("every call went to the first engine")
            assert h.post(f"{API}/Calls/{sid}.json", data={"Url": dial}).status_code == 200

            def dialled() -> list[dict[str, str]]:
                calls = h.get(f"{API}/Calls.json", params={"ParentCallSid": sid, "Status": "completed"})
                return list(calls.json()["calls"])

            child = wait_until(dialled, 20)[0]
        assert child["to"] == "client:alice" and int(child["duration"]) >= 1
        assert held_by(db, child["sid"]) == second.id
        assert f"Call with sip:+15005550006@127.0.0.1:{second.sip_port} terminated" in alice.log()
    finally:
        alice.stop()
