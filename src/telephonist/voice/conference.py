"""Conferences: `<Dial><Conference>` puts a call in the account's room of that name. The room starts once a
participant with `startConferenceOnEnter` is in (the others hear the wait music until then) and ends when
one with `endConferenceOnExit` leaves, the last one leaves, or the REST API ends it. What a participant's
phone says reaches the others (not while muted or on hold; a coach is heard by the coached one only).

A room is run by one engine, its home (`conferences.node`): the first to open it. Participants whose calls
another engine holds sit in a satellite room there, which sends the home what they say (as events, and
audio a tenth of a second at a time) and their comings and goings, and hears from the home what everyone
else says, the start, the end, the beeps and announcements. The home alone decides when the room starts
and ends and sends its status callbacks. A coach whose coached participant is on another engine is heard
there through a link of its own to that participant alone. The Conference and Participant rows are what
the REST API shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from telephonist.carriers.sim.network import Seat, SimRoom
from telephonist.sids import new_sid
from telephonist.store.db import utcnow
from telephonist.store.models import calls, conferences, participants, recordings
from telephonist.twiml.verbs import ConferenceTarget, Pause, Play, Say
from telephonist.voice.callrecording import CallRecording
from telephonist.voice.dial import until_star
from telephonist.voice.interpreter import Source
from telephonist.voice.link import Peer
from telephonist.voice.queues import drive, play_hold_music
from telephonist.voice.recording import lost
from telephonist.webhooks.callbacks import enqueue_callback

if TYPE_CHECKING:
    from telephonist.app import Platform
    from telephonist.voice.session import CallSession

log = logging.getLogger("telephonist.voice")
LIVE = ("init", "in-progress")
GONE = "last-participant-left"  # the reason a room ends when the engine that ran it is gone


@dataclass
class Member:
    session: CallSession
    target: ConferenceTarget
    seat: Seat
    left: asyncio.Event = field(default_factory=asyncio.Event)  # kicked, or the room ended
    kicked: bool = False
    music: asyncio.Future[None] | None = None  # while on hold


class _Elsewhere:
    """Whom a coach coaches when that participant is in no engine's side of the room: nobody hears the
    coach, as a whisper must not reach the others (the REST API refuses such coaching). Also what a coach's
    link on the coached one's engine listens to: nothing."""

    room: Any = None

    def to_far_end(self, event: dict[str, Any]) -> None:
        pass

    def hear_audio(self, pcm: bytes) -> None:
        pass


ELSEWHERE = _Elsewhere()


class _Raced(Exception):
    """Another engine claimed the room first."""


@dataclass
class Remote:
    """On the home: a participant whose call another engine holds."""

    node: str
    target: ConferenceTarget
    seat: Seat
    who: str


@dataclass
class Room:
    sid: str
    account_sid: str
    name: str
    home: str  # the node that runs it
    mixer: SimRoom = field(default_factory=SimRoom)
    members: dict[str, Member] = field(default_factory=dict)  # call sid → member
    started: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    callbacks: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    sequence: int = 0
    record: bool = False  # a participant asked for record-from-start
    recording: CallRecording | None = None
    peers: dict[str, Peer] = field(default_factory=dict)  # node → its side of the room
    remote: dict[str, Remote] = field(default_factory=dict)  # on the home: call sid → a member elsewhere
    # A coach here whose coached one is on another engine: coach's call sid → the link hearing it alone.
    whispers: dict[str, Peer] = field(default_factory=dict)
    # A coach elsewhere of a participant here: (its node, the coached call sid) → heard by that one alone.
    whisperers: dict[tuple[str, str], Peer] = field(default_factory=dict)


class Conferences:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.rooms: dict[tuple[str, str], Room] = {}  # (account, name) → the live room
        self._tasks: set[asyncio.Task[Any]] = set()

    def by_sid(self, sid: str) -> Room | None:
        return next((r for r in self.rooms.values() if r.sid == sid), None)

    @property
    def me(self) -> str:
        return self.p.nodes.id

    def open(self, account_sid: str, name: str) -> Room:
        """The live room of that name here: the home's, a satellite of another engine's live room, or a new
        one (a new Conference resource, status init) that this engine runs."""
        room = self.rooms.get((account_sid, name))
        if room is not None:
            return room
        sid, home, started = self._settle(account_sid, name)
        room = Room(sid, account_sid, name, home)
        if started:
            room.started.set()
        room.mixer.on_speech = lambda leg, event: self._speaking(room, leg, event)
        if home != self.me:
            self._link(room, home)
        self.rooms[(account_sid, name)] = room
        return room

    def _settle(self, account_sid: str, name: str) -> tuple[str, str, bool]:
        """`_find_or_make` in a transaction of its own, again when another engine opened or claimed the
        same room at the same moment (then this one joins it)."""
        for _ in range(5):
            try:
                with self.p.db.tx() as conn:
                    return self._find_or_make(conn, account_sid, name)
            except (IntegrityError, _Raced):
                continue
        raise RuntimeError(f"conference {name}: could not open its room")

    def _find_or_make(self, conn: Connection, account_sid: str, name: str) -> tuple[str, str, bool]:
        """(the room's sid, its home, whether it started) of the live room of that name, claimed or made
        when no live engine runs it."""
        now = utcnow()
        row = conn.execute(
            select(conferences.c.sid, conferences.c.node, conferences.c.status).where(
                conferences.c.account_sid == account_sid,
                conferences.c.friendly_name == name,
                conferences.c.status.in_(LIVE),
            )
        ).first()
        if row is not None and row.node not in (None, self.me) and self.p.nodes.alive(conn, row.node):
            return row.sid, row.node, row.status == "in-progress"
        if row is not None and row.node is None and self.p.nodes.engine:
            # Reserved by an API node for a participant it dialled: this engine runs it.
            if conn.execute(
                update(conferences)
                .where(conferences.c.sid == row.sid, conferences.c.node.is_(None))
                .values(node=self.me, date_updated=now)
            ).rowcount:
                return row.sid, self.me, False
            raise _Raced
        if row is not None and row.node is None:
            return row.sid, "", False  # an API node's reservation: no room here
        if row is not None:  # left by a process that is gone: over
            self._over(conn, conferences.c.sid == row.sid)
        sid, home = new_sid("CF"), self.me if self.p.nodes.engine else None
        conn.execute(
            insert(conferences).values(
                sid=sid,
                account_sid=account_sid,
                friendly_name=name,
                status="init",
                region="us1",
                node=home,
                date_created=now,
                date_updated=now,
            )
        )
        return sid, home or "", False

    @staticmethod
    def _over(conn: Connection, *where: Any) -> None:
        """The live rooms `where` says are over: no engine runs them any more."""
        conn.execute(
            update(conferences)
            .where(conferences.c.status.in_(LIVE), *where)
            .values(status="completed", reason_conference_ended=GONE, date_updated=utcnow())
        )

    def reserve(self, account_sid: str, name: str) -> str:
        """The SID of the live room of that name for a participant added over REST; on an API node, which
        runs no room, a row that the first engine to open it claims."""
        if self.p.nodes.engine:
            return self.open(account_sid, name).sid
        return self._settle(account_sid, name)[0]

    def over_for(self, conn: Connection, node: str) -> None:
        """A dead node's rooms are over (their satellites end theirs when they see the home gone), and
        their recordings lost."""
        rooms = select(conferences.c.sid).where(conferences.c.node == node, conferences.c.status.in_(LIVE))
        lost(conn, recordings.c.conference_sid.in_(rooms))
        self._over(conn, conferences.c.node == node)

    @staticmethod
    def failed(conn: Connection, call_sids: list[str]) -> None:
        """Calls that failed with their node have left their rooms. Done here in the database, as the home
        of a room may never have heard of one: a participant's row is written before its engine tells the
        home, and the engine may die in between."""
        for before, after in (("connected", "complete"), ("queued", "failed")):
            conn.execute(
                update(participants)
                .where(participants.c.call_sid.in_(call_sids), participants.c.status == before)
                .values(status=after, date_updated=utcnow())
            )

    def check_nodes(self) -> None:
        """A satellite room whose home engine died ends here (its participants' calls go on); on the home,
        the participants of an engine that died have left (their calls failed with it)."""
        nodes = {room.home for room in self.rooms.values()} | {
            node for room in self.rooms.values() for node in room.peers
        }
        nodes.discard(self.me)
        gone = self.p.nodes.gone(nodes)
        for room in list(self.rooms.values()):
            if room.home in gone:
                log.warning("conference %s: its engine %s is gone; the room ends here", room.sid, room.home)
                self._close(room)
            elif room.home == self.me:
                for call_sid in [sid for sid, r in room.remote.items() if r.node in gone]:
                    self._remote_left(room, call_sid, False)

    # -- a participant ------------------------------------------------------------------------------
    async def attend(
        self, session: CallSession, target: ConferenceTarget, hangup_on_star: bool, time_limit: float
    ) -> tuple[str, str]:
        """Join, stay until leaving, and leave: (DialCallStatus, ConferenceSid)."""
        room = self.open(session.account_sid, target.name)
        if self._count(room) >= target.max_participants:
            session._notify(
                13215, f"Conference {target.name} is full ({target.max_participants} participants)"
            )
            return "failed", room.sid
        seat = Seat(muted=target.muted, coaching=self._coaching(room, session, target.coach))
        member = Member(session, target, seat)
        self._join(room, member)
        waits: set[asyncio.Future[Any]] = {
            asyncio.ensure_future(member.left.wait()),
            asyncio.ensure_future(room.ended.wait()),
            asyncio.ensure_future(session.leg.ended.wait()),
        }
        if hangup_on_star:
            waits.add(asyncio.ensure_future(until_star(session.leg)))
        music = None if room.started.is_set() else asyncio.ensure_future(self._wait_music(room, member))
        try:
            await asyncio.wait(waits, timeout=time_limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*waits, *([music] if music else [])):
                task.cancel()
            self._leave(room, member)
        return "completed", room.sid

    def _join(self, room: Room, member: Member) -> None:
        s, target = member.session, member.target
        now = utcnow()
        with self.p.db.tx() as conn:
            existing = conn.execute(
                select(participants.c.seq).where(
                    participants.c.call_sid == s.sid, participants.c.conference_sid == room.sid
                )
            ).scalar()
            values = {
                "status": "connected",
                "muted": target.muted,
                "hold": False,
                "coaching": target.coach is not None,
                "call_sid_to_coach": target.coach,
                "start_conference_on_enter": target.start_on_enter,
                "end_conference_on_exit": target.end_on_exit,
                "label": target.label,
                "date_updated": now,
            }
            if existing is None:  # joined by TwiML; a REST-created participant has its row already
                conn.execute(
                    insert(participants).values(
                        conference_sid=room.sid,
                        account_sid=room.account_sid,
                        call_sid=s.sid,
                        date_created=now,
                        **values,
                    )
                )
            else:
                conn.execute(update(participants).where(participants.c.seq == existing).values(**values))
        callback = None
        if target.status_callback:
            url = urljoin(s.document_url, target.status_callback)
            callback = (url, target.status_callback_method, target.status_callback_event)
        room.members[s.sid] = member
        room.mixer.add(s.leg, member.seat)
        s._event(
            {"event": "conference", "action": "join", "conference": room.name, "conference_sid": room.sid}
        )
        who = self._who(s)
        self._tell(room, s.sid, who, "joined", self.me)
        if room.home == self.me:
            self._joined(room, s.sid, target, callback)
        else:
            what = {"op": "join", "call": s.sid, "who": who, "target": dataclasses.asdict(target)}
            self._send(room, room.home, what | {"callback": callback})

    def _joined(
        self,
        room: Room,
        call_sid: str,
        target: ConferenceTarget,
        callback: tuple[str, str, tuple[str, ...]] | None,
    ) -> None:
        """On the home: a participant joined, here or elsewhere."""
        if callback is not None:
            room.callbacks.append(callback)
        room.record |= target.record
        if room.recording is not None:
            room.recording.peers.add(call_sid)
        self._notify(room, "join", call_sid)
        if not room.started.is_set() and target.start_on_enter:
            self._start(room)
        elif room.started.is_set() and target.beep in ("true", "onEnter"):
            self._beep(room, call_sid)

    def _count(self, room: Room) -> int:
        """Participants in the room, on every engine."""
        with self.p.db.tx() as conn:
            return int(
                conn.scalar(
                    select(func.count()).where(
                        participants.c.conference_sid == room.sid, participants.c.status == "connected"
                    )
                )
                or 0
            )

    @staticmethod
    def _who(s: CallSession) -> str:
        return str(s.call["to"] if s.call["direction"].startswith("outbound") else s.call["from"])

    def _tell(self, room: Room, call_sid: str, who: str, action: str, origin: str) -> None:
        """Each other participant's transcript shows who joined or left (the caller's number); the home
        tells the other engines, but for the one it heard it from."""
        for sid, other in room.members.items():
            if sid != call_sid:
                other.session._event(
                    {"event": "conference", "action": action, "call_sid": call_sid, "who": who}
                )
        if room.home == self.me:
            for node in room.peers:
                if node != origin:
                    self._send(room, node, {"op": "told", "call": call_sid, "who": who, "action": action})

    def abandon(self, call_sid: str) -> None:
        """A participant added over REST whose call ended before it joined: it failed, and a room that
        nobody is in ends."""
        with self.p.db.tx() as conn:
            rows = list(
                conn.execute(
                    select(participants.c.conference_sid).where(
                        participants.c.call_sid == call_sid, participants.c.status == "queued"
                    )
                ).scalars()
            )
            if rows:
                conn.execute(
                    update(participants)
                    .where(participants.c.call_sid == call_sid, participants.c.status == "queued")
                    .values(status="failed", date_updated=utcnow())
                )
        for conference_sid in rows:
            room = self.by_sid(conference_sid)
            if room is not None and room.home == self.me and not room.members and not room.remote:
                self.end(room, "last-participant-left")
            elif room is None:  # reserved by an API node, and nobody else is coming: over
                with self.p.db.tx() as conn:
                    coming = conn.scalar(
                        select(func.count()).where(
                            participants.c.conference_sid == conference_sid,
                            participants.c.status.in_(("queued", "connected")),
                        )
                    )
                    if not coming:
                        self._over(conn, conferences.c.sid == conference_sid, conferences.c.node.is_(None))

    def _leave(self, room: Room, member: Member) -> None:
        s = member.session
        if member.music is not None:
            member.music.cancel()
        room.mixer.remove(s.leg)
        room.members.pop(s.sid, None)
        self._unwhisper(room, s.sid)
        for key in [key for key in room.whisperers if key[1] == s.sid]:
            room.mixer.remove(room.whisperers.pop(key))
        with self.p.db.tx() as conn:
            conn.execute(
                update(participants)
                .where(participants.c.call_sid == s.sid, participants.c.conference_sid == room.sid)
                .values(status="complete", date_updated=utcnow())
            )
        with contextlib.suppress(Exception):
            s._event({"event": "conference", "action": "leave", "conference": room.name})
        self._tell(room, s.sid, self._who(s), "left", self.me)
        if room.home == self.me:
            self._left(room, s.sid, member.target, member.kicked)
            return
        self._send(room, room.home, {"op": "leave", "call": s.sid, "kicked": member.kicked})
        if not room.members:  # nobody here any more: the home carries on without this engine
            self._close(room)

    def _left(self, room: Room, call_sid: str, target: ConferenceTarget, kicked: bool) -> None:
        """On the home: a participant left, here or elsewhere."""
        self._notify(room, "leave", call_sid)
        if room.ended.is_set():
            return
        if target.beep in ("true", "onExit") and room.started.is_set():
            self._beep(room, call_sid)
        if target.end_on_exit and room.started.is_set():
            reason = "participant-with-end-conference-on-exit-" + ("kicked" if kicked else "left")
            self.end(room, reason, call_sid)
        elif not room.members and not room.remote:
            self.end(room, "last-participant-kicked" if kicked else "last-participant-left", call_sid)

    def _start(self, room: Room) -> None:
        self._set(room, status="in-progress")
        if room.record:
            room.recording = self.p.voice.recorder.start_conference(
                room.account_sid, room.sid, set(room.members) | set(room.remote)
            )
        self._notify(room, "start")
        for node in room.peers:
            self._send(room, node, {"op": "start"})
        self._started(room)

    @staticmethod
    def _started(room: Room) -> None:
        room.started.set()
        for member in room.members.values():
            if member.target.beep in ("true", "onEnter"):
                member.session._event({"event": "beep"})

    def end(self, room: Room, reason: str, call_sid: str | None = None) -> None:
        """The conference is over: every participant's Dial ends and its call goes on."""
        if room.ended.is_set() or room.home != self.me:
            return
        for node in room.peers:
            self._send(room, node, {"op": "end"})
        self._close(room)
        self._set(
            room, status="completed", reason_conference_ended=reason, call_sid_ending_conference=call_sid
        )
        self._notify(room, "end", reason=reason, ending=call_sid)
        for remote in list(room.remote):  # the other engines' participants leave with the room
            room.remote.pop(remote)
            self._notify(room, "leave", remote)
        if room.recording is not None:
            self._spawn(self.p.voice.recorder.stop(room.recording))

    def _close(self, room: Room) -> None:
        """The room is over here: its participants' Dials end."""
        room.ended.set()
        if self.rooms.get((room.account_sid, room.name)) is room:
            del self.rooms[(room.account_sid, room.name)]
        for node in list(room.peers):
            self._unlink(room, node)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def kick(self, room: Room, call_sid: str) -> bool:
        member = room.members.get(call_sid)
        if member is None:
            return False
        member.kicked = True
        member.left.set()
        return True

    def modify(
        self,
        room: Room,
        call_sid: str,
        muted: bool | None = None,
        hold: bool | None = None,
        hold_url: tuple[str, str] | None = None,
        coach: str | None = None,
    ) -> None:
        """Mute or unmute, hold (hearing `hold_url`, or hold music) or unhold, coach another participant
        (`coach` is its CallSid; "" stops coaching)."""
        member = room.members[call_sid]
        for flag, value, event in (("muted", muted, "mute"), ("hold", hold, "hold")):
            if value is None or getattr(member.seat, flag) == value:
                continue
            setattr(member.seat, flag, value)
            self._save(room, call_sid, **{flag: value})
            member.session._event({"event": "conference", "action": event if value else "un" + event})
            self._notify(room, event if value else "un" + event, call_sid)
        if hold is True:
            member.music = asyncio.ensure_future(self._hold_music(member, room, hold_url))
        elif hold is False and member.music is not None:
            member.music.cancel()
            member.music = None
        if coach is not None:
            member.seat.coaching = self._coaching(room, member.session, coach)
            self._save(room, call_sid, coaching=bool(coach), call_sid_to_coach=coach or None)
            self._notify(room, "modify", call_sid)

    # -- coaching -----------------------------------------------------------------------------------
    def _coaching(self, room: Room, coach: CallSession, coached_sid: str | None) -> Any:
        """Whom the coach's seat is heard by: the coached participant's leg here, a link to it on the
        engine that holds it, ELSEWHERE when it is in the room nowhere, None for no coaching."""
        self._unwhisper(room, coach.sid)
        if not coached_sid:
            return None
        if (coached := room.members.get(coached_sid)) is not None:
            return coached.session.leg
        node = self.node_of(room.sid, coached_sid)
        if node is None or node == self.me:
            return ELSEWHERE
        peer = Peer(lambda message: self._send(room, node, message | {"to": coached_sid}))
        room.whispers[coach.sid] = peer
        room.mixer.add(peer, Seat(only=coach.leg))
        return peer

    def node_of(self, conference_sid: str, call_sid: str) -> str | None:
        """The engine that holds a participant of the conference (None when it is in it no more)."""
        with self.p.db.tx() as conn:
            node = conn.execute(
                select(calls.c.node)
                .join(participants, participants.c.call_sid == calls.c.sid)
                .where(
                    participants.c.conference_sid == conference_sid,
                    participants.c.call_sid == call_sid,
                    participants.c.status == "connected",
                )
            ).scalar()
        return None if node is None else str(node)

    def _unwhisper(self, room: Room, coach_sid: str) -> None:
        peer = room.whispers.pop(coach_sid, None)
        if peer is not None:
            room.mixer.remove(peer)
            peer.close()

    def _whisperer(self, room: Room, node: str, coached_sid: str) -> Peer | None:
        """The side here of a coach on `node`: heard by the coached participant alone."""
        coached = room.members.get(coached_sid)
        if coached is None:
            return None
        peer = room.whisperers.get((node, coached_sid))
        if peer is None:
            peer = room.whisperers[(node, coached_sid)] = Peer(lambda message: None)
            room.mixer.add(peer, Seat(coaching=coached.session.leg, only=ELSEWHERE))
        return peer

    def _save(self, room: Room, call_sid: str, **values: Any) -> None:
        with self.p.db.tx() as conn:
            conn.execute(
                update(participants)
                .where(participants.c.call_sid == call_sid, participants.c.conference_sid == room.sid)
                .values(date_updated=utcnow(), **values)
            )

    async def _hold_music(self, member: Member, room: Room, hold_url: tuple[str, str] | None) -> None:
        """What a held participant hears: the TwiML at HoldUrl again and again, or hold music."""
        url, method = hold_url or (None, "POST")
        await self._loop_music(member.session, room, url, method)

    async def announce(self, room: Room, url: str, method: str, only: str | None = None) -> None:
        """Play the TwiML at `url` (Say, Play, Pause) to the room, or to one participant. It is fetched
        once, as on Twilio: by this engine when it holds one of them, else by the first other engine that
        does, and its verbs go to the other engines that hold some."""
        here = [m for sid, m in room.members.items() if only in (None, sid)]
        elsewhere = sorted({r.node for sid, r in room.remote.items() if only in (None, sid)})
        if here:
            if await self._fetch_announcement(room, here, url, method, only, elsewhere):
                self._notify(room, "announcement-end")
        elif elsewhere:
            fetch = {"url": url, "method": method, "share": elsewhere[1:]}
            self._send(room, elsewhere[0], {"op": "announce", "only": only, "fetch": fetch})
            self._notify(room, "announcement-end")

    async def _fetch_announcement(
        self, room: Room, members: list[Member], url: str, method: str, only: str | None, share: list[str]
    ) -> bool:
        """Fetch the announcement (as the first of `members`), pass its verbs to the engines in `share`,
        and play them to `members`; False when it could not be fetched (a notification says why)."""
        first = members[0].session
        extra = [("ConferenceSid", room.sid), ("FriendlyName", room.name)]
        loaded = await first._fetch(Source(url=url, method=method), extra)
        if loaded is None:
            return False
        verbs: list[Say | Play | Pause] = []
        for verb in loaded[0].verbs:
            if isinstance(verb, Say | Play | Pause):
                verbs.append(verb)
            else:
                first._notify(13238, f"<{type(verb).__name__}> cannot be used in an announcement")
        said = [{"verb": type(verb).__name__} | dataclasses.asdict(verb) for verb in verbs]
        for node in share:
            self._send(room, node, {"op": "announce", "only": only, "verbs": said})
        await self._play_announcement(members, verbs)
        return True

    @staticmethod
    async def _play_announcement(members: list[Member], verbs: list[Say | Play | Pause]) -> None:
        for verb in verbs:
            await asyncio.gather(
                *(member.session._prompt(verb) for member in members), return_exceptions=True
            )

    def _announced(self, room: Room, m: dict[str, Any]) -> None:
        """Another engine's announcement: its verbs to play, or the TwiML to fetch for everyone."""
        members = [member for sid, member in room.members.items() if m["only"] in (None, sid)]
        if not members:
            return
        if (fetch := m.get("fetch")) is not None:
            url, method, share = fetch["url"], fetch["method"], fetch["share"]
            self._spawn(self._fetch_announcement(room, members, url, method, m["only"], share))
            return
        kinds: dict[str, type[Say | Play | Pause]] = {"Say": Say, "Play": Play, "Pause": Pause}
        verbs = [kinds[v.pop("verb")](**v) for v in m["verbs"]]
        self._spawn(self._play_announcement(members, verbs))

    async def _wait_music(self, room: Room, member: Member) -> None:
        """What a participant hears until the conference starts: `waitUrl` TwiML, hold music, or silence."""
        music = asyncio.ensure_future(self._music(member.session, member.target, room))
        try:
            await room.started.wait()
        finally:
            music.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await music

    async def _music(self, s: CallSession, target: ConferenceTarget, room: Room) -> None:
        url = urljoin(s.document_url, target.wait_url) if target.wait_url else target.wait_url
        await self._loop_music(s, room, url, target.wait_method)

    @staticmethod
    async def _loop_music(s: CallSession, room: Room, url: str | None, method: str) -> None:
        """The TwiML at `url` again and again; hold music when `url` is None, silence when it is ""."""
        extra = [("ConferenceSid", room.sid), ("FriendlyName", room.name)]
        while url != "":
            if url is None:
                await play_hold_music(s)
                continue
            loaded = await s._fetch(Source(url=url, method=method), extra)
            if loaded is None:
                break  # the failure is a notification; silence from then on
            await drive(s, *loaded, extra=extra)
        await asyncio.Event().wait()

    def _speaking(self, room: Room, leg: Any, event: dict[str, Any]) -> None:
        """`speaker` events: a participant started, and (the utterance being one) stopped, speaking."""
        who = next((sid for sid, m in room.members.items() if m.session.leg is leg), None)
        if who is not None:
            self._notify(room, "speech-start", who)
            self._notify(room, "speech-stop", who)

    def _beep(self, room: Room, except_sid: str) -> None:
        for sid, member in room.members.items():
            if sid != except_sid:
                member.session._event({"event": "beep"})
        if room.home == self.me:
            for node in room.peers:
                self._send(room, node, {"op": "beep", "except": except_sid})

    def _set(self, room: Room, **values: Any) -> None:
        with self.p.db.tx() as conn:
            conn.execute(
                update(conferences)
                .where(conferences.c.sid == room.sid)
                .values(date_updated=utcnow(), **values)
            )

    def _notify(
        self,
        room: Room,
        what: str,
        call_sid: str | None = None,
        reason: str | None = None,
        ending: str | None = None,
    ) -> None:
        """`statusCallback` of the participants that asked for this event (each URL once), sent by the
        home: another engine tells it."""
        if room.home != self.me:
            here = room.members.get(call_sid or "")
            flags = {"muted": here.seat.muted, "hold": here.seat.hold} if here else {}
            self._send(room, room.home, {"op": "notify", "what": what, "call": call_sid} | flags)
            return
        kind = "speaker" if what.startswith("speech") else what.removeprefix("un")
        names = {"start": "conference-start", "end": "conference-end", "announcement-end": "announcement-end"}
        event = names.get(what, f"participant-{what}")
        sent: set[str] = set()
        for url, method, events in room.callbacks:
            if url in sent or kind.split("-")[0] not in events:
                continue
            sent.add(url)
            room.sequence += 1
            params = [
                ("AccountSid", room.account_sid),
                ("ConferenceSid", room.sid),
                ("FriendlyName", room.name),
                ("StatusCallbackEvent", event),
                ("SequenceNumber", str(room.sequence)),
                ("Timestamp", utcnow().strftime("%a, %d %b %Y %H:%M:%S +0000")),
            ]
            member: Member | Remote | None = room.members.get(call_sid or "") or room.remote.get(
                call_sid or ""
            )
            if call_sid:
                params.append(("CallSid", call_sid))
            if member is not None:
                params += [
                    ("Muted", str(member.seat.muted).lower()),
                    ("Hold", str(member.seat.hold).lower()),
                    ("Coaching", str(member.target.coach is not None).lower()),
                    ("EndConferenceOnExit", str(member.target.end_on_exit).lower()),
                    ("StartConferenceOnEnter", str(member.target.start_on_enter).lower()),
                ]
                if member.target.label:
                    params.append(("ParticipantLabel", member.target.label))
            if reason:
                params.append(("ReasonConferenceEnded", reason))
            if ending:
                params.append(("CallSidEndingConference", ending))
            with self.p.db.tx() as conn:
                enqueue_callback(conn, room.account_sid, url, method, params, key=room.sid)
        if sent:
            self.p.jobs.wake()

    # -- the room's engines ---------------------------------------------------------------------------
    def _send(self, room: Room, node: str, message: dict[str, Any]) -> None:
        self.p.relay.send(node, {"room": room.sid, "from": self.me} | message)

    def _link(self, room: Room, node: str) -> None:
        peer = Peer(lambda message: self._send(room, node, message))
        room.peers[node] = peer
        room.mixer.add(peer, Seat())

    def _unlink(self, room: Room, node: str) -> None:
        peer = room.peers.pop(node, None)
        if peer is not None:
            room.mixer.remove(peer)
            peer.close()

    def _remote_left(self, room: Room, call_sid: str, kicked: bool) -> None:
        remote = room.remote.pop(call_sid, None)
        if remote is None:
            return
        with self.p.db.tx() as conn:  # its engine did, unless it died
            conn.execute(
                update(participants)
                .where(
                    participants.c.call_sid == call_sid,
                    participants.c.conference_sid == room.sid,
                    participants.c.status == "connected",
                )
                .values(status="complete", date_updated=utcnow())
            )
        if not any(r.node == remote.node for r in room.remote.values()):
            self._unlink(room, remote.node)
        self._tell(room, call_sid, remote.who, "left", remote.node)
        self._left(room, call_sid, remote.target, kicked)

    def received(self, m: dict[str, Any]) -> None:
        """A message from another engine's side of a room (relay.py)."""
        room = self.by_sid(m["room"])
        if room is None or room.ended.is_set():
            return  # over here already
        node, op, home = m["from"], m["op"], room.home == self.me
        if op in ("event", "audio"):
            peer = self._whisperer(room, node, m["to"]) if "to" in m else room.peers.get(node)
            if peer is not None:
                peer.received(room.mixer, m)
        elif op == "join" and home:
            fields = m["target"] | {"status_callback_event": tuple(m["target"]["status_callback_event"])}
            target = ConferenceTarget(**fields)
            room.remote[m["call"]] = Remote(node, target, Seat(muted=target.muted), m["who"])
            if node not in room.peers:
                self._link(room, node)
            self._tell(room, m["call"], m["who"], "joined", node)
            callback = m["callback"]
            self._joined(room, m["call"], target, (*callback[:2], tuple(callback[2])) if callback else None)
        elif op == "leave" and home:
            self._remote_left(room, m["call"], m["kicked"])
        elif op == "notify" and home:
            if (remote := room.remote.get(m["call"] or "")) is not None and "muted" in m:
                remote.seat.muted, remote.seat.hold = m["muted"], m["hold"]
            self._notify(room, m["what"], m["call"])
        elif op == "start" and not home:
            self._started(room)
        elif op == "end" and not home:
            self._close(room)
        elif op == "beep":
            self._beep(room, m["except"])
        elif op == "told":
            self._tell(room, m["call"], m["who"], m["action"], node)
        elif op == "announce":
            self._announced(room, m)
