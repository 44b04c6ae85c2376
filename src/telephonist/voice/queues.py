"""Call queues: `<Enqueue>` puts a caller in a queue, where its `waitUrl` document loops (hold music when
there is none); `<Dial><Queue>` or a REST dequeue takes the caller at the head out.

Who waits where is in the database (the REST API lists it); the hand-over between the waiting call and
the agent's call happens in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from sqlalchemy import delete, func, insert, select, update

from telephonist.sids import new_sid
from telephonist.store.db import Row, utcnow
from telephonist.store.models import queue_members, queues
from telephonist.twiml.verbs import Enqueue
from telephonist.voice.interpreter import Capture, DialOut, End, Fetch, Source, Wait, interpret

if TYPE_CHECKING:
    from telephonist.app import Platform
    from telephonist.voice.session import CallSession

DEFAULT_MAX_SIZE = 100
MAX_SIZE = 5000
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


class Queues:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.waiting: dict[str, asyncio.Future[Handover | Source]] = {}  # call sid → how it leaves
        self._arrivals: dict[str, asyncio.Condition] = {}
        self._tasks: set[asyncio.Task[None]] = set()

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
        task = asyncio.ensure_future(self._announce(queue_sid))  # agents waiting on an empty queue
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future

    def leave(self, call_sid: str) -> None:
        """The caller is out of the queue (taken, left, hung up or redirected)."""
        self.waiting.pop(call_sid, None)
        with self.p.db.tx() as conn:
            conn.execute(delete(queue_members).where(queue_members.c.call_sid == call_sid))

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
                if self.hand_over(call_sid, handover):
                    return str(call_sid)
            left = deadline - loop.time()
            if left <= 0:
                return None
            async with arrival:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await arrival.wait()

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
