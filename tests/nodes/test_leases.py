"""Leases: a node that stops renewing is taken over by the others, and a node started again under its id
takes back its leftovers at once. What a user sees: the calls it held end `failed` with their status
callbacks, and the jobs it had claimed run elsewhere."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from conftest import ACCOUNT_SID, WebApp, database_url, running, wait_until
from telephonist.store.db import utcnow
from telephonist.store.models import (
    calls,
    conferences,
    jobs,
    nodes,
    participants,
    queue_members,
    recordings,
)
from telephonist.webhooks.callbacks import enqueue_callback

from .cluster import Node

API = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
THEIR_ROOM, CALL_RECORDING, ROOM_RECORDING = "CF" + "a" * 32, "RE" + "b" * 32, "RE" + "c" * 32
HOLD = '<Response><Pause length="3600"/><Pause length="3600"/></Response>'


def dying(
    conn: Connection, sids: list[str], started: dt.datetime, params: dict[str, Any] | None = None
) -> None:
    """A node "gone" whose lease runs out in 0.3 s, holding a live call of each of `sids`."""
    conn.execute(insert(nodes).values(id="gone", role="engine", started=0.0, lease_until=time.time() + 0.3))
    for sid in sids:
        conn.execute(
            insert(calls).values(
                sid=sid,
                account_sid=ACCOUNT_SID,
                to="+15558675310",
                **{"from": "+15005550006"},
                status="in-progress",
                direction="outbound-api",
                start_time=started,
                date_created=started,
                date_updated=started,
                node="gone",
                params=params or {},
            )
        )


def test_a_node_whose_lease_ran_out_is_taken_over(tmp_path: Path, webapp: WebApp) -> None:
    with running(tmp_path, node_lease=0.6) as tel:
        db = tel.db
        # A node that died holding a live call and a claimed status-callback job, long before its lease ended.
        started = utcnow()
        with db.tx() as conn:
            params = {"StatusCallback": webapp.url("/status"), "StatusCallbackEvent": ["completed"]}
            dying(conn, ["CA" + "d" * 32], started, params)
            enqueue_callback(conn, ACCOUNT_SID, webapp.url("/held"), "POST", [("Held", "yes")], key="k")
            conn.execute(jobs.update().values(claimed_until=time.time() + 3600, claimed_by="gone"))

        failed = webapp.wait_hits("/status", timeout=10)[0]
        assert failed.param("CallSid") == "CA" + "d" * 32
        assert failed.param("CallStatus") == "failed"
        assert failed.param("CallbackSource") == "call-progress-events"
        assert failed.param("CallDuration") is not None
        with tel.http as h:
            call = h.get(f"{API}/Calls/{'CA' + 'd' * 32}.json").json()
        assert call["status"] == "failed" and call["end_time"] is not None
        # The job the dead node had claimed for an hour runs here, once its lease is up.
        assert webapp.wait_hits("/held", timeout=10)[0].param("Held") == "yes"
        with db.tx() as conn:
            assert conn.execute(select(nodes.c.id)).scalars().all() == [tel.platform.nodes.id]


def test_a_dead_nodes_calls_leave_the_rooms_and_queues_they_were_in(tmp_path: Path) -> None:
    """A call of a dead node in a room another engine runs, or waiting in a queue, is gone from it once the
    call has failed: even when the room's engine never heard of it (its engine died between writing the
    participant and telling the room's engine). The recordings under way there, of a call or of a room it
    ran, end absent: their audio was in that process."""
    with running(tmp_path, node_lease=0.6) as tel:
        db, client = tel.db, tel.client()
        here = client.calls.create(
            to="+15558675311",
            from_="+15005550006",
            twiml="<Response><Dial><Conference>huddle</Conference></Dial></Response>",
        ).sid
        room = wait_until(lambda: client.conferences.list(friendly_name="huddle"))[0]
        queue = client.queues.create(friendly_name="support")
        ghost, waiting = "CA" + "e" * 32, "CA" + "f" * 32
        now = utcnow()
        with db.tx() as conn:
            dying(conn, [ghost, waiting], now)
            conn.execute(
                insert(participants).values(
                    conference_sid=room.sid,
                    account_sid=ACCOUNT_SID,
                    call_sid=ghost,
                    status="connected",
                    muted=False,
                    hold=False,
                    coaching=False,
                    start_conference_on_enter=True,
                    end_conference_on_exit=False,
                    date_created=now,
                    date_updated=now,
                )
            )
            conn.execute(
                insert(queue_members).values(queue_sid=queue.sid, call_sid=waiting, date_enqueued=now)
            )
            conn.execute(
                insert(conferences).values(
                    sid=THEIR_ROOM,
                    account_sid=ACCOUNT_SID,
                    friendly_name="theirs",
                    status="in-progress",
                    region="us1",
                    node="gone",
                    date_created=now,
                    date_updated=now,
                )
            )
            for sid, call_sid, conference_sid, status in (
                (CALL_RECORDING, ghost, None, "in-progress"),
                (ROOM_RECORDING, None, THEIR_ROOM, "paused"),
            ):
                conn.execute(
                    insert(recordings).values(
                        sid=sid,
                        account_sid=ACCOUNT_SID,
                        call_sid=call_sid,
                        conference_sid=conference_sid,
                        status=status,
                        source="OutboundAPI" if call_sid else "Conference",
                        channels=1,
                        track="both",
                        start_time=now,
                        date_created=now,
                        date_updated=now,
                    )
                )
        wait_until(lambda: {p.call_sid for p in client.conferences(room.sid).participants.list()} == {here})
        assert client.conferences(room.sid).participants(ghost).fetch().status == "complete"
        assert client.conferences(room.sid).fetch().status == "in-progress"  # its own caller is still in it
        assert client.queues(queue.sid).fetch().current_size == 0
        assert client.queues(queue.sid).members.list() == []
        assert client.calls(ghost).fetch().status == "failed"
        assert client.conferences(THEIR_ROOM).fetch().status == "completed"
        for sid in (CALL_RECORDING, ROOM_RECORDING):
            recording = client.recordings(sid).fetch()
            assert (recording.status, recording.duration) == ("absent", "0")


def test_a_node_started_again_takes_back_its_calls_at_once(tmp_path: Path, webapp: WebApp) -> None:
    """`make serve` killed with calls up and started again: they end failed with their callbacks at start-up,
    without waiting for the lease (the node's id, host and port, is the same)."""
    db = database_url(tmp_path)
    log = tmp_path / "node.log"
    node = Node(db, "all", "laptop", log)
    node.wait_ready()
    with node.http() as h:
        r = h.post(
            f"{API}/Calls.json",
            data={
                "To": "+15558675310",
                "From": "+15005550006",
                "Twiml": HOLD,
                "StatusCallback": webapp.url("/status"),
            },
        )
        assert r.status_code == 201, r.text
        sid = r.json()["sid"]
        wait_until(lambda: h.get(f"{API}/Calls/{sid}.json").json()["status"] == "in-progress", 20)
    node.kill()
    node.log.close()
    again = Node(db, "all", "laptop", log, port=node.port)
    try:
        again.wait_ready()
        with again.http() as h:
            assert h.get(f"{API}/Calls/{sid}.json").json()["status"] == "failed"  # at start-up, no lease wait
        assert webapp.wait_hits("/status", timeout=10)[0].param("CallStatus") == "failed"
    finally:
        again.stop()
