"""The voice engine: starts calls (from durable jobs or arriving from the network) and holds live sessions."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from sqlalchemy import Connection, func, insert, select, update

from telephonist.carriers.base import Leg
from telephonist.sids import new_sid
from telephonist.store.applications import webhooks_of
from telephonist.store.db import Row, utcnow
from telephonist.store.jobs import Job, enqueue, finish
from telephonist.store.models import call_events, calls, recordings
from telephonist.voice.callrecording import CallRecorder
from telephonist.voice.clients import ClientCall
from telephonist.voice.conference import Conferences
from telephonist.voice.interpreter import Source
from telephonist.voice.queues import Queues
from telephonist.voice.recording import lost
from telephonist.voice.session import CallSession, call_params
from telephonist.webhooks.callbacks import enqueue_callback

if TYPE_CHECKING:
    from telephonist.app import Platform
    from telephonist.config import SipTrunk

log = logging.getLogger("telephonist.voice")
LIVE = ("initiated", "ringing", "in-progress")
# What a number with no VoiceUrl answers with, in the spirit of Twilio's demo URL.
UNCONFIGURED = (
    "<Response><Say>Thanks for the call. "
    "Configure your number's voice URL to change this message.</Say></Response>"
)


def insert_call(conn: Connection, *, from_: str, **values: Any) -> Row:
    """A new Call row (its SID made here), as the API renders it."""
    now = utcnow()
    sid = new_sid("CA")
    conn.execute(
        insert(calls).values(sid=sid, date_created=now, date_updated=now, **{"from": from_}, **values)
    )
    return conn.execute(select(calls).where(calls.c.sid == sid)).mappings().one()


class VoiceEngine:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.sessions: dict[str, CallSession] = {}
        self.queues = Queues(platform)
        self.recorder = CallRecorder(platform)
        self.conferences = Conferences(platform)
        self._tasks: set[asyncio.Task[None]] = set()

    def create_outbound(
        self,
        conn: Connection,
        account_sid: str,
        to: str,
        from_: str,
        params: dict[str, Any],
        phone_number_sid: str | None,
        start: float | None = None,
    ) -> Row:
        """The row and its start job, in the API's transaction; the job is due at `start` (epoch seconds:
        the call's turn under its account's CPS), or at once, and the call stays queued until then."""
        row = insert_call(
            conn,
            account_sid=account_sid,
            to=to,
            from_=from_,
            status="queued",
            direction="outbound-api",
            phone_number_sid=phone_number_sid,
            params=params,
        )
        enqueue(conn, "call.start", {"sid": row["sid"]}, at=start)
        return row

    def trunk_for(
        self, conn: Connection, to: str, account_sid: str, params: dict[str, Any]
    ) -> SipTrunk | None:
        """The SIP trunk a call to the number `to` would leave through, routed as `connect` does (a
        platform number first): its max_cps paces the call's start."""
        if not self.p.settings.sip_trunks or ":" in to or self.p.sim.owner(conn, to) is not None:
            return None
        target = self.p.sip.target(to, account_sid, params)
        return target.trunk if target is not None else None

    async def handle_start(self, job: Job) -> None:
        with self.p.db.tx() as conn:
            row = conn.execute(select(calls).where(calls.c.sid == job.payload["sid"])).mappings().first()
            finish(conn, job)  # a call is started at most once
            if row is None or row["status"] != "queued":
                return
            # This node holds the call from now on: a REST update reaches it here (relay.py), and if the
            # node dies the call is failed by another (nodes.py).
            conn.execute(update(calls).where(calls.c.sid == row["sid"]).values(node=self.p.nodes.id))
        session = CallSession(self.p, row, self.connect(row))
        self._spawn(session, session.run_outbound())

    def connect(self, row: Row) -> Leg:
        """The leg of an outgoing call: into a platform number of any account, where it comes in with that
        number's own webhooks; to a browser phone signed in as the `client:` identity; over SIP (a trunk's
        number, a SIP URI, a registered phone); else to a virtual endpoint."""
        with self.p.db.read() as q:
            number = self.p.sim.owner(q, row["to"])
        if number is None and self.p.webrtc.reaches(row["to"], row["account_sid"]):
            return self.p.webrtc.outbound(row)
        target = self.p.sip.target(row["to"], row["account_sid"], row["params"]) if number is None else None
        if target is not None:
            if target.trunk is not None:
                with self.p.db.tx() as conn:
                    conn.execute(
                        update(calls).where(calls.c.sid == row["sid"]).values(trunk_sid=target.trunk.sid)
                    )
            return self.p.sip.outbound(row["sid"], target, row["from"])
        if number is None:
            return self.p.sim.leg(row["sid"], row["to"], local=row["from"])
        leg = self.p.sim.leg(row["sid"], None, local=row["from"])
        peer_sid = self.start_inbound(row["from"], number, from_platform=True)
        leg.peer = self.p.sim.legs[peer_sid]
        leg.peer.peer = leg
        return leg

    def start_inbound(
        self,
        from_: str,
        number: Row,
        inputs: list[str] | None = None,
        from_platform: bool = False,
        leg: Leg | None = None,
        trunk_sid: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> str:
        """A call from the network reaches a platform number: ring it and run its VoiceUrl. Its far end is
        `leg` (a real carrier's), else the virtual phone `from_`, or another platform leg
        (`from_platform`: the caller links them). `extra`: parameters its webhooks carry besides the
        standard set (a browser phone's call: ApplicationSid and its custom parameters)."""
        with self.p.db.read() as q:
            config = webhooks_of(q, number, "voice")
        params: dict[str, Any] = {"StatusCallbackEvent": ["completed"]}
        if config["voice_url"]:
            params |= {"Url": config["voice_url"], "Method": config["voice_method"]}
        else:
            params["Twiml"] = UNCONFIGURED
        if config["voice_fallback_url"]:
            params |= {
                "FallbackUrl": config["voice_fallback_url"],
                "FallbackMethod": config["voice_fallback_method"],
            }
        if config["status_callback"]:
            params |= {
                "StatusCallback": config["status_callback"],
                "StatusCallbackMethod": config["status_callback_method"],
            }
        with self.p.db.tx() as conn:
            row = insert_call(
                conn,
                account_sid=number["account_sid"],
                to=number["phone_number"],
                from_=from_,
                status="ringing",
                direction="inbound",
                phone_number_sid=number["sid"],
                trunk_sid=trunk_sid,
                params=params,
                node=self.p.nodes.id,
            )
        if leg is None:
            far = None if from_platform or from_.startswith("client:") else from_
            leg = self.p.sim.leg(row["sid"], far, inputs, local=number["phone_number"])
        session = CallSession(self.p, row, leg) if extra is None else ClientCall(self.p, row, leg, extra)
        self._spawn(session, session.run_inbound())
        return str(row["sid"])

    def _spawn(self, session: CallSession, coro: Any) -> None:
        self.sessions[session.sid] = session
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, sid: str) -> None:
        self.sessions.pop(sid, None)

    def redirect(self, sid: str, source: Source) -> bool:
        session = self.sessions.get(sid)
        if session is None:
            return False
        session.redirect(source)
        return True

    def hangup(self, sid: str) -> bool:
        session = self.sessions.get(sid)
        if session is None:
            return False
        session.hangup()
        return True

    def fail_calls_of(self, conn: Connection, node: str | None) -> int:
        """The live calls of a node that is gone (None: of no node, left by a release before nodes) cannot
        be resumed: they end as failed, and their status callbacks go out as Twilio's would. How many."""
        held = calls.c.node.is_(None) if node is None else calls.c.node == node
        rows = conn.execute(select(calls).where(held, calls.c.status.in_(LIVE))).mappings().all()
        if rows:  # they have left their rooms and queues, and their recordings are lost
            failed = [row["sid"] for row in rows]
            self.conferences.failed(conn, failed)
            self.queues.failed(conn, failed)
            lost(conn, recordings.c.call_sid.in_(failed))
        now = utcnow()
        for row in rows:
            duration = 0
            if row["start_time"] is not None:
                duration = round((now - row["start_time"]).total_seconds() / self.p.settings.time_scale)
            conn.execute(
                update(calls)
                .where(calls.c.sid == row["sid"])
                .values(status="failed", end_time=now, duration=duration, date_updated=now)
            )
            conn.execute(
                insert(call_events).values(
                    call_sid=row["sid"], event={"event": "status", "status": "failed"}, date_created=now
                )
            )
            params = row["params"]
            url = params.get("StatusCallback")
            if not url or "completed" not in (params.get("StatusCallbackEvent") or ["completed"]):
                continue
            sent = conn.execute(
                select(func.count())
                .select_from(call_events)
                .where(
                    call_events.c.call_sid == row["sid"], call_events.c.event["event"].as_string() == "status"
                )
            ).scalar_one()
            callback = call_params(row, "failed") + [
                ("CallbackSource", "call-progress-events"),
                ("SequenceNumber", str(max(0, sent - 1))),
                ("Timestamp", now.strftime("%a, %d %b %Y %H:%M:%S +0000")),
                ("CallDuration", str(duration)),
                ("Duration", str(-(-duration // 60))),
            ]
            url = urljoin(self.p.settings.base_url + "/", url)
            method = params.get("StatusCallbackMethod", "POST")
            enqueue_callback(
                conn, row["account_sid"], url, method, callback, key=row["sid"], call_sid=row["sid"]
            )
            log.warning("call %s: its node %s is gone; failed", row["sid"], node)
        return len(rows)

    async def shutdown(self) -> None:
        for session in list(self.sessions.values()):
            session.hangup()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        for task in self._tasks:
            task.cancel()
