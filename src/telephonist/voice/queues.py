"""Call queues: `<Enqueue>` puts a caller in a queue, where its `waitUrl` document loops (hold music when
there is none); `<Dial><Queue>` or a REST dequeue takes the caller at the head out.

Who waits where is in the database (the REST API lists it). An agent takes a caller whose call another
engine holds by asking that engine (the caller may be taken there meanwhile: then it says no), and the
two calls are bridged through a private room on each side, linked as a conference's engines are
(voice/conference.py's `Peer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from sqlalchemy import delete, func, insert, select, update

from telephonist.carriers.sim.network import Seat, SimRoom
from telephonist.sids import new_sid
from telephonist.store.db import Row, utcnow
from telephonist.store.models import calls, queue_members, queues
from telephonist.twiml.verbs import Enqueue
from telephonist.voice.interpreter import Capture, DialOut, End, Fetch, Source, Wait, interpret
from telephonist.voice.link import Peer

if TYPE_CHECKING:
    from telephonist.app import Platform
    from telephonist.carriers.base import Leg
    from telephonist.voice.session import CallSession

log = logging.getLogger("telephonist.voice")

DEFAULT_MAX_SIZE = 100
MAX_SIZE = 5000
ASK_TIMEOUT = 5.0  # seconds an agent waits for another engine to hand over a caller
LOOK_AGAIN = 0.25  # seconds between looks at the queue for callers enqueued on other engines
# What a caller hears in a queue with no waitUrl (Twilio plays its classical playlist).
HOLD_MUSIC = "http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3"


@dataclass
class Handover:
    """An agent's `<Dial><Queue>` taking a waiting caller: the caller hears `url` first, says it is ready,
    and waits for the bridge to end."""

    agent_sid: str
    queue_sid: str
    url: str | None = None
    method: str = "POST"
    ready: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    over: asyncio.Event = field(default_factory=asyncio.Event)
    node: str | None = None  # the agent's engine, when another holds the caller (or the caller's, agent side)
    bridge: str = field(default_factory=lambda: uuid.uuid4().hex)  # the link's id between the two engines
    caller: str = ""  # agent side, caller elsewhere: its number


class Link:
    """One side of a bridge between calls on two engines: the local leg and the other side, seated in a
    private room."""

    def __init__(self, queues: Queues, handover: Handover, leg: Leg) -> None:
        assert handover.node is not None
        self.mixer = SimRoom()
        self.leg = leg
        self.peer = Peer(lambda message: queues._send(handover.node or "", handover.bridge, message))
        self.mixer.add(self.peer, Seat())
        self.mixer.add(leg, Seat())

    def close(self) -> None:
        self.mixer.remove(self.leg)
        self.mixer.remove(self.peer)
        self.peer.close()


class Queues:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.waiting: dict[str, asyncio.Future[Handover | Source]] = {}  # call sid → how it leaves
        self._arrivals: dict[str, asyncio.Condition] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._asked: dict[
            str, asyncio.Future[dict[str, Any]]
        ] = {}  # bridge id → the caller's engine's answer
        self.handovers: dict[str, Handover] = {}  # bridge id → a hand-over between two engines, either side
        self.links: dict[str, Link] = {}  # bridge id → this engine's side of the bridge

    def find(self, conn: Any, account_sid: str, name: str) -> Row | None:
        row: Row | None = (
            conn.execute(
                select(queues)
                .where(queues.c.account_sid == account_sid, queues.c.friendly_name == name)
                .order_by(queues.c.seq)
                .limit(1)
            )
            .mappings()
            .first()
        )
        return row

    def create(self, conn: Any, account_sid: str, name: str, max_size: int = DEFAULT_MAX_SIZE) -> Row:
        now = utcnow()
        sid = new_sid("QU")
        conn.execute(
            insert(queues).values(
                sid=sid,
                account_sid=account_sid,
                friendly_name=name,
                max_size=max_size,
                dequeued=0,
                total_wait=0,
                date_created=now,
                date_updated=now,
            )
        )
        row: Row = conn.execute(select(queues).where(queues.c.sid == sid)).mappings().one()
        return row

    @staticmethod
    def size(conn: Any, queue_sid: str) -> int:
        return int(
            conn.execute(select(func.count()).where(queue_members.c.queue_sid == queue_sid)).scalar() or 0
        )

    @staticmethod
    def position(conn: Any, queue_sid: str, call_sid: str) -> int:
        mine = select(queue_members.c.seq).where(queue_members.c.call_sid == call_sid).scalar_subquery()
        ahead = select(func.count()).where(
            queue_members.c.queue_sid == queue_sid, queue_members.c.seq <= mine
        )
        return int(conn.execute(ahead).scalar() or 0)

    def join(self, queue_sid: str, call_sid: str) -> asyncio.Future[Handover | Source]:
        with self.p.db.tx() as conn:
            conn.execute(
                insert(queue_members).values(queue_sid=queue_sid, call_sid=call_sid, date_enqueued=utcnow())
            )
        future: asyncio.Future[Handover | Source] = asyncio.get_running_loop().create_future()
        self.waiting[call_sid] = future
        self._spawn(self._announce(queue_sid))  # agents waiting on an empty queue
        return future

    def leave(self, call_sid: str) -> None:
        """The caller is out of the queue (taken, left, hung up or redirected)."""
        self.waiting.pop(call_sid, None)
        with self.p.db.tx() as conn:
            conn.execute(delete(queue_members).where(queue_members.c.call_sid == call_sid))

    @staticmethod
    def failed(conn: Any, call_sids: list[str]) -> None:
        """Callers that failed with their node are out of their queues: no agent waits on them."""
        conn.execute(delete(queue_members).where(queue_members.c.call_sid.in_(call_sids)))

    def taken(self, queue_sid: str, waited: int) -> None:
        with self.p.db.tx() as conn:
            conn.execute(
                update(queues)
                .where(queues.c.sid == queue_sid)
                .values(dequeued=queues.c.dequeued + 1, total_wait=queues.c.total_wait + waited)
            )

    def hand_over(self, call_sid: str, how: Handover | Source) -> bool:
        """Take a waiting caller out: to an agent, or to the TwiML at a URL (REST dequeue)."""
        future = self.waiting.pop(call_sid, None)
        if future is None or future.done():
            return False
        future.set_result(how)
        return True

    async def take(self, queue_sid: str, timeout: float, handover: Handover) -> str | None:
        """Hand the call at the head of the queue over to an agent, once there is one (within `timeout`
        real seconds); the call's SID. Taking and handing over are one step: two agents never get one
        caller."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        arrival = self._arrival(queue_sid)
        while True:
            with self.p.db.tx() as conn:
                front = conn.execute(
                    select(queue_members.c.call_sid)
                    .where(queue_members.c.queue_sid == queue_sid)
                    .order_by(queue_members.c.seq)
                ).scalars()
                waiting = list(front)
            for call_sid in waiting:
                if self.hand_over(call_sid, handover) or await self._ask(call_sid, handover):
                    return str(call_sid)
            left = deadline - loop.time()
            if left <= 0:
                return None
            async with arrival:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(left, LOOK_AGAIN) if self.p.relay.active else left):
                        await arrival.wait()

    # -- callers on other engines ---------------------------------------------------------------------
    async def _ask(self, call_sid: str, handover: Handover) -> bool:
        """Ask the engine holding a waiting caller to hand it over to this agent: whether it did."""
        if not self.p.relay.active or call_sid in self.waiting:
            return False
        with self.p.db.tx() as conn:
            node = conn.execute(select(calls.c.node).where(calls.c.sid == call_sid)).scalar()
        if node is None or node == self.p.nodes.id:
            return False
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._asked[handover.bridge] = answer
        handover.node = node
        self.handovers[handover.bridge] = handover
        self._send(
            node,
            handover.bridge,
            {"op": "take", "call": call_sid, "agent": handover.agent_sid, "queue": handover.queue_sid}
            | {"url": handover.url, "method": handover.method},
        )
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                reply = await answer
        except TimeoutError:
            log.warning("call %s: engine %s did not hand over caller %s", handover.agent_sid, node, call_sid)
            reply = {"op": "refused"}
        except asyncio.CancelledError:  # the agent is gone: a caller handed over meanwhile is let go
            self.end_bridge(handover)
            raise
        finally:
            self._asked.pop(handover.bridge, None)
        if reply["op"] != "taken":
            self.handovers.pop(handover.bridge, None)
            handover.node = None
            handover.bridge = uuid.uuid4().hex  # a late answer to this ask finds nothing
            return False
        handover.caller = reply["caller"]
        return True

    def check_nodes(self) -> None:
        """A bridge to an engine that died is over, as if the other side had hung up: that call failed."""
        gone = self.p.nodes.gone({h.node for h in self.handovers.values() if h.node is not None})
        for handover in [h for h in self.handovers.values() if h.node in gone]:
            log.warning("the bridge of agent %s: engine %s is gone", handover.agent_sid, handover.node)
            handover.over.set()

    def _send(self, node: str, bridge: str, message: dict[str, Any]) -> None:
        self.p.relay.send(node, {"bridge": bridge, "from": self.p.nodes.id} | message)

    def received(self, m: dict[str, Any]) -> None:
        """A message about a bridge between engines (relay.py)."""
        bridge, op = m["bridge"], m["op"]
        if op == "take":  # an agent elsewhere asks for a caller waiting here
            handover = Handover(m["agent"], m["queue"], m["url"], m["method"], node=m["from"], bridge=bridge)
            session = self.p.voice.sessions.get(m["call"])
            if session is None or not self.hand_over(m["call"], handover):
                self._send(m["from"], bridge, {"op": "refused"})
                return
            self.handovers[bridge] = handover
            self._send(m["from"], bridge, {"op": "taken", "caller": str(session.call["from"])})
            self._spawn(self._caller_side(handover, session.leg))
        elif op in ("taken", "refused"):
            if (answer := self._asked.get(bridge)) is not None and not answer.done():
                answer.set_result(m)
        elif op in ("ready", "over"):
            known = self.handovers.get(bridge)
            if known is not None and op == "over":
                known.over.set()
            elif known is not None and not known.ready.done():
                known.ready.set_result(True)
        elif (link := self.links.get(bridge)) is not None:
            link.peer.received(link.mixer, m)

    async def _caller_side(self, handover: Handover, leg: Leg) -> None:
        """The caller, handed over to an agent on another engine: once its `url` document has run
        (EnqueueVerb sets `ready`), it is linked to the agent until either side ends."""
        assert handover.node is not None
        ended = asyncio.ensure_future(leg.ended.wait())
        over = asyncio.ensure_future(handover.over.wait())
        try:
            first: list[asyncio.Future[Any]] = [handover.ready, ended, over]
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
            if handover.ready.done() and not leg.ended.is_set() and not handover.over.is_set():
                with self.link(handover, leg):
                    self._send(handover.node, handover.bridge, {"op": "ready"})
                    await asyncio.wait([ended, over], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            over.cancel()
            self.end_bridge(handover)

    @contextlib.contextmanager
    def link(self, handover: Handover, leg: Leg) -> Iterator[None]:
        """Meanwhile `leg` hears, and is heard by, the other side of the bridge."""
        link = self.links[handover.bridge] = Link(self, handover, leg)
        try:
            yield
        finally:
            link.close()
            self.links.pop(handover.bridge, None)

    def end_bridge(self, handover: Handover) -> None:
        """This side is done with the bridge: the other is told, unless it said so first."""
        if not handover.over.is_set() and handover.node is not None:
            self._send(handover.node, handover.bridge, {"op": "over"})
        handover.over.set()
        self.handovers.pop(handover.bridge, None)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _arrival(self, queue_sid: str) -> asyncio.Condition:
        return self._arrivals.setdefault(queue_sid, asyncio.Condition())

    async def _announce(self, queue_sid: str) -> None:
        arrival = self._arrival(queue_sid)
        async with arrival:
            arrival.notify_all()


class EnqueueVerb:
    """One `<Enqueue>`: wait in the queue until taken, `<Leave>`, a hang-up or a REST dequeue."""

    def __init__(self, session: CallSession, verb: Enqueue) -> None:
        self.s = session
        self.verb = verb
        self.queues: Queues = session.p.voice.queues

    async def run(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        s, verb = self.s, self.verb
        await s._ensure_answered()
        with s.p.db.tx() as conn:
            queue = self.queues.find(conn, s.account_sid, verb.name) or self.queues.create(
                conn, s.account_sid, verb.name, min(MAX_SIZE, verb.max_size or DEFAULT_MAX_SIZE)
            )
            full = self.queues.size(conn, queue["sid"]) >= queue["max_size"]
        if full:
            s._notify(14207, f"Queue {verb.name} is full ({queue['max_size']} callers)", warning=True)
            return self._result("queue-full", queue, 0.0)
        loop = asyncio.get_running_loop()
        start = loop.time()
        future = self.queues.join(queue["sid"], s.sid)
        s._event({"event": "enqueue", "queue": verb.name, "queue_sid": queue["sid"]})
        waiting: asyncio.Future[str] = asyncio.ensure_future(self._wait(queue, start))
        gone = asyncio.ensure_future(s.leg.ended.wait())
        try:
            pending: list[asyncio.Future[Any]] = [future, waiting, gone]
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, gone):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await waiting
            self.queues.leave(s.sid)
        waited = (loop.time() - start) / s.p.settings.time_scale
        if not future.done():
            if s.leg.ended.is_set():  # the caller hung up while waiting
                return self._result("hangup", queue, waited)
            return self._result(waiting.result(), queue, waited)
        how = future.result()
        if isinstance(how, Source):  # dequeued over REST: the call runs that TwiML now
            s._event({"event": "dequeued", "queue_sid": queue["sid"]})
            if verb.action:  # told, as on Twilio, with QueueResult=redirected; its answer is not run
                _, params = self._result("redirected", queue, waited)
                s._post(verb.action, verb.method, s._standard_params() + list(params))
            s.redirect(how)
            await asyncio.Event().wait()  # cancelled by the redirect
        assert isinstance(how, Handover)
        self.queues.taken(queue["sid"], round(waited))
        s._event({"event": "dequeued", "queue_sid": queue["sid"], "by": how.agent_sid})
        if how.url:
            extra = [
                ("QueueSid", queue["sid"]),
                ("QueueTime", str(round(waited))),
                ("DequeingCallSid", how.agent_sid),
            ]
            loaded = await s._fetch(Source(url=how.url, method=how.method), extra)
            if loaded is not None:
                await drive(self.s, *loaded, extra=extra)
        how.ready.set_result(True)
        await how.over.wait()
        return self._result("bridged", queue, waited)

    def _result(self, result: str, queue: Row, waited: float) -> tuple[str, tuple[tuple[str, str], ...]]:
        return result, (
            ("QueueResult", result),
            ("QueueSid", queue["sid"]),
            ("QueueTime", str(round(waited))),
        )

    async def _wait(self, queue: Row, start: float) -> str:
        """The wait document, again and again: 'leave' or 'hangup' when it says so."""
        s, verb = self.s, self.verb
        while True:
            if not verb.wait_url:
                await play_hold_music(s)
                continue
            extra = self._wait_params(queue, start)
            url = urljoin(s.document_url, verb.wait_url)
            loaded = await s._fetch(Source(url=url, method=verb.wait_url_method), extra)
            if loaded is None:  # the failure is a notification; the caller hears music meanwhile
                await play_hold_music(s)
                continue
            end = await drive(self.s, *loaded, extra=extra)
            if end.leave:
                return "leave"
            if end.hangup:
                return "hung-up"  # <Hangup> in the wait document: the call ends

    def _wait_params(self, queue: Row, start: float) -> list[tuple[str, str]]:
        s = self.s
        with s.p.db.tx() as conn:
            size = self.queues.size(conn, queue["sid"])
            position = self.queues.position(conn, queue["sid"], s.sid)
            row = conn.execute(select(queues).where(queues.c.sid == queue["sid"])).mappings().one()
        waited = round((asyncio.get_running_loop().time() - start) / s.p.settings.time_scale)
        average = row["total_wait"] // row["dequeued"] if row["dequeued"] else 0
        return [
            ("QueueSid", queue["sid"]),
            ("QueuePosition", str(position)),
            ("QueueTime", str(waited)),
            ("AvgQueueTime", str(average)),
            ("CurrentQueueSize", str(size)),
            ("MaxQueueSize", str(row["max_size"])),
        ]


async def play_hold_music(s: CallSession) -> None:
    """Once through the hold music a caller hears while it waits."""
    s._event({"event": "play", "url": HOLD_MUSIC})
    await s.leg.play(HOLD_MUSIC)


async def drive(s: CallSession, document: Any, url: str, extra: list[tuple[str, str]]) -> End:
    """Run a document that may only play to the caller while it waits (a queue's or a conference's wait
    document, a dequeue or hold URL): prompts, Gather, Redirect, Leave and Hangup; `extra` goes with
    each fetch."""
    gen = interpret(document, url, in_queue=True)
    result: Any = None
    while True:
        try:
            command = gen.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if isinstance(command, Fetch):
            result = await s._fetch(Source(url=command.url, method=command.method), [*extra, *command.params])
        elif isinstance(command, DialOut | Capture | Wait):
            s._notify(12200, "Only Play, Say, Pause, Gather, Redirect, Leave and Hangup run while waiting")
            result = {DialOut: (("DialCallStatus", "failed"),), Capture: None, Wait: ("error", ())}[
                type(command)
            ]
        else:
            result = await s._perform(command)
