"""Conferences: `<Dial><Conference>` puts a call in the account's room of that name. The room starts once a
participant with `startConferenceOnEnter` is in (the others hear the wait music until then) and ends when
one with `endConferenceOnExit` leaves, the last one leaves, or the REST API ends it. What a participant's
phone says reaches the others (not while muted or on hold; a coach is heard by the coached one only).

Rooms live in this process; the Conference and Participant rows are what the REST API shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from sqlalchemy import insert, select, update

from telephonist.carriers.sim.network import Seat, SimRoom
from telephonist.sids import new_sid
from telephonist.store.db import utcnow
from telephonist.store.models import conferences, participants
from telephonist.twiml.verbs import ConferenceTarget, Pause, Play, Say
from telephonist.voice.callrecording import CallRecording
from telephonist.voice.dial import until_star
from telephonist.voice.interpreter import Source
from telephonist.voice.queues import drive, play_hold_music
from telephonist.webhooks.callbacks import enqueue_callback

if TYPE_CHECKING:
    from telephonist.app import Platform
    from telephonist.voice.session import CallSession

log = logging.getLogger("telephonist.voice")


@dataclass
class Member:
    session: CallSession
    target: ConferenceTarget
    seat: Seat
    left: asyncio.Event = field(default_factory=asyncio.Event)  # kicked, or the room ended
    kicked: bool = False
    music: asyncio.Future[None] | None = None  # while on hold


@dataclass
class Room:
    sid: str
    account_sid: str
    name: str
    mixer: SimRoom = field(default_factory=SimRoom)
    members: dict[str, Member] = field(default_factory=dict)  # call sid → member
    started: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    callbacks: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    sequence: int = 0
    record: bool = False  # a participant asked for record-from-start
    recording: CallRecording | None = None


class Conferences:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.rooms: dict[tuple[str, str], Room] = {}  # (account, name) → the live room
        self._tasks: set[asyncio.Task[Any]] = set()

    def by_sid(self, sid: str) -> Room | None:
        return next((r for r in self.rooms.values() if r.sid == sid), None)

    def open(self, account_sid: str, name: str) -> Room:
        """The live room of that name, or a new one (a new Conference resource, status init)."""
        room = self.rooms.get((account_sid, name))
        if room is not None:
            return room
        now = utcnow()
        room = Room(new_sid("CF"), account_sid, name)
        room.mixer.on_speech = lambda leg, event: self._speaking(room, leg, event)
        with self.p.db.tx() as conn:
            conn.execute(
                insert(conferences).values(
                    sid=room.sid,
                    account_sid=account_sid,
                    friendly_name=name,
                    status="init",
                    region="us1",
                    date_created=now,
                    date_updated=now,
                )
            )
        self.rooms[(account_sid, name)] = room
        return room

    # -- a participant ------------------------------------------------------------------------------
    async def attend(
        self, session: CallSession, target: ConferenceTarget, hangup_on_star: bool, time_limit: float
    ) -> tuple[str, str]:
        """Join, stay until leaving, and leave: (DialCallStatus, ConferenceSid)."""
        room = self.open(session.account_sid, target.name)
        if len(room.members) >= target.max_participants:
            session._notify(
                13215, f"Conference {target.name} is full ({target.max_participants} participants)"
            )
            return "failed", room.sid
        coached = room.members.get(target.coach or "")
        seat = Seat(muted=target.muted, coaching=coached.session.leg if coached else None)
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
        if target.status_callback:
            url = urljoin(s.document_url, target.status_callback)
            room.callbacks.append((url, target.status_callback_method, target.status_callback_event))
        room.members[s.sid] = member
        room.mixer.add(s.leg, member.seat)
        room.record |= target.record
        if room.recording is not None:
            room.recording.peers.add(s.sid)
        s._event(
            {"event": "conference", "action": "join", "conference": room.name, "conference_sid": room.sid}
        )
        self._tell_others(room, s, "joined")
        self._notify(room, "join", s.sid)
        if not room.started.is_set() and target.start_on_enter:
            self._start(room)
        elif room.started.is_set() and target.beep in ("true", "onEnter"):
            self._beep(room, s.sid)

    @staticmethod
    def _tell_others(room: Room, s: CallSession, action: str) -> None:
        """Each other participant's transcript shows who joined or left (the caller's number)."""
        who = s.call["to"] if s.call["direction"].startswith("outbound") else s.call["from"]
        for sid, other in room.members.items():
            if sid != s.sid:
                other.session._event({"event": "conference", "action": action, "call_sid": s.sid, "who": who})

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
            if room is not None and not room.members:
                self.end(room, "last-participant-left")

    def _leave(self, room: Room, member: Member) -> None:
        s = member.session
        if member.music is not None:
            member.music.cancel()
        room.mixer.remove(s.leg)
        room.members.pop(s.sid, None)
        with self.p.db.tx() as conn:
            conn.execute(
                update(participants)
                .where(participants.c.call_sid == s.sid, participants.c.conference_sid == room.sid)
                .values(status="complete", date_updated=utcnow())
            )
        with contextlib.suppress(Exception):
            s._event({"event": "conference", "action": "leave", "conference": room.name})
        self._tell_others(room, s, "left")
        self._notify(room, "leave", s.sid)
        if room.ended.is_set():
            return
        if member.target.beep in ("true", "onExit") and room.started.is_set():
            self._beep(room, s.sid)
        if member.target.end_on_exit and room.started.is_set():
            reason = "participant-with-end-conference-on-exit-" + ("kicked" if member.kicked else "left")
            self.end(room, reason, s.sid)
        elif not room.members:
            self.end(room, "last-participant-kicked" if member.kicked else "last-participant-left", s.sid)

    def _start(self, room: Room) -> None:
        room.started.set()
        self._set(room, status="in-progress")
        if room.record:
            room.recording = self.p.voice.recorder.start_conference(
                room.account_sid, room.sid, set(room.members)
            )
        self._notify(room, "start")
        for member in room.members.values():
            if member.target.beep in ("true", "onEnter"):
                member.session._event({"event": "beep"})

    def end(self, room: Room, reason: str, call_sid: str | None = None) -> None:
        """The conference is over: every participant's Dial ends and its call goes on."""
        if room.ended.is_set():
            return
        room.ended.set()
        self.rooms.pop((room.account_sid, room.name), None)
        self._set(
            room, status="completed", reason_conference_ended=reason, call_sid_ending_conference=call_sid
        )
        self._notify(room, "end", reason=reason, ending=call_sid)
        if room.recording is not None:
            task = asyncio.ensure_future(self.p.voice.recorder.stop(room.recording))
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
            coached = room.members.get(coach)
            member.seat.coaching = coached.session.leg if coached else None
            self._save(room, call_sid, coaching=coached is not None, call_sid_to_coach=coach or None)
            self._notify(room, "modify", call_sid)

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
        """Play the TwiML at `url` (Say, Play, Pause) to the room, or to one participant."""
        members = [m for sid, m in room.members.items() if only in (None, sid)]
        if not members:
            return
        first = members[0].session
        extra = [("ConferenceSid", room.sid), ("FriendlyName", room.name)]
        loaded = await first._fetch(Source(url=url, method=method), extra)
        if loaded is None:
            return
        for verb in loaded[0].verbs:
            if not isinstance(verb, Say | Play | Pause):
                first._notify(13238, f"<{type(verb).__name__}> cannot be used in an announcement")
                continue
            await asyncio.gather(
                *(member.session._prompt(verb) for member in members), return_exceptions=True
            )
        self._notify(room, "announcement-end")

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
        """`statusCallback` of the participants that asked for this event (each URL once)."""
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
            member = room.members.get(call_sid or "")
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
