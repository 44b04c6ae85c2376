"""Recordings of whole calls: `Record=true` on a new call, `<Dial record>`, and the REST controls (start,
pause, resume, stop) of a live call.

On a real carrier (SIP) the leg's audio is captured as it passes: what the far end sent (the inbound
track) and what it was sent (the outbound track: the platform's prompts, or the other party of a Dial).
On the simulated network the audio is rebuilt from the call's transcript when the recording stops: what
the platform said and the other party said or played (the outbound track), what the caller said (the
inbound track), each at the moment it happened, in simulated time. `mono` mixes the two, `dual` keeps
them as two channels.
"""

from __future__ import annotations

import datetime as dt
import logging
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from telephonist.media import audio, tts
from telephonist.sids import new_sid
from telephonist.store.db import utcnow
from telephonist.store.models import call_events, recording_media, recordings
from telephonist.voice.recording import load_audio, recording_uri, status_params
from telephonist.webhooks.callbacks import enqueue_callback

if TYPE_CHECKING:
    from telephonist.app import Platform

log = logging.getLogger("telephonist.voice")
CURRENT = "Twilio.CURRENT"  # the SID that names a call's recording in progress


@dataclass
class Options:
    source: str  # OutboundAPI, DialVerb, StartCallRecordingAPI
    channels: int = 1
    trim: bool = False
    track: str = "both"  # inbound, outbound, both
    callback: str | None = None
    callback_method: str = "POST"
    callback_events: tuple[str, ...] = ("completed",)
    skip_paused: bool = False  # PauseBehavior=skip: paused time is left out instead of kept as silence


def recording_options(params: Any, source: str) -> Options:
    """The Recording* parameters of a call create (or a REST recording start), as Options."""
    events = params.get("RecordingStatusCallbackEvent") or ["completed"]
    return Options(
        source=source,
        channels=2 if params.get("RecordingChannels") == "dual" else 1,
        trim=params.get("Trim", "trim-silence") == "trim-silence",
        track=params.get("RecordingTrack") or "both",
        callback=params.get("RecordingStatusCallback"),
        callback_method=params.get("RecordingStatusCallbackMethod") or "POST",
        callback_events=tuple(events),
        skip_paused=params.get("PauseBehavior") == "skip",
    )


SLACK = round(0.1 * audio.RATE) * audio.WIDTH  # arrival jitter a track absorbs without a gap


@dataclass
class Tracks:
    """A recording's real audio (a call over a real carrier): each track's PCM, placed at the recording
    time it passed, so that a stretch the far end sent nothing is silence."""

    inbound: bytearray = field(default_factory=bytearray)
    outbound: bytearray = field(default_factory=bytearray)
    release: Any = None  # stops the capture

    def add(self, track: str, pcm: bytes, at: float) -> None:
        buf = self.inbound if track == "inbound" else self.outbound
        behind = round(at * audio.RATE) * audio.WIDTH - len(pcm) - len(buf)
        if behind > SLACK:  # a pause in what was sent, not the jitter of its arrival
            buf += bytes(behind)
        buf += pcm


@dataclass
class CallRecording:
    """One recording of a call (the windows of time it covers, and the other leg it also hears: a Dial's),
    or of a conference (`conference_sid`, and every participant's call in `peers`)."""

    sid: str
    call_sid: str | None
    account_sid: str
    options: Options
    peer_sid: str | None = None
    windows: list[list[dt.datetime | None]] = field(default_factory=list)  # [start, end] of each stretch
    conference_sid: str | None = None
    peers: set[str] = field(default_factory=set)
    tracks: Tracks | None = None

    @property
    def status(self) -> str:
        return "in-progress" if self.windows and self.windows[-1][1] is None else "paused"


class CallRecorder:
    """The live recordings of the platform's calls."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.live: dict[str, CallRecording] = {}

    def start(
        self, call: Any, options: Options, peer_sid: str | None = None, at: dt.datetime | None = None
    ) -> CallRecording:
        """A recording of the call from `at` (the call's answer, for Record=true) or from now."""
        rec = CallRecording(
            new_sid("RE"), call["sid"], call["account_sid"], options, peer_sid, [[at or utcnow(), None]]
        )
        session = self.p.voice.sessions.get(call["sid"])
        if session is not None:  # a real carrier's leg: its audio, not a rebuilt transcript
            tracks = Tracks()
            tracks.release = session.leg.capture(lambda track, pcm: self._capture(rec, track, pcm))
            rec.tracks = tracks if tracks.release is not None else None
        return self._begin(rec)

    def _capture(self, rec: CallRecording, track: str, pcm: bytes) -> None:
        at = self._position(rec)
        if rec.tracks is not None and at is not None:
            rec.tracks.add(track, pcm, at)

    def _position(self, rec: CallRecording) -> float | None:
        """Seconds into the recording now (None while paused): real seconds, as real audio is."""
        if rec.status != "in-progress":
            return None
        now, first = utcnow(), rec.windows[0][0]
        assert first is not None
        if not rec.options.skip_paused:
            return (now - first).total_seconds()
        done = sum(((e - s).total_seconds() for s, e in rec.windows[:-1] if s and e), 0.0)
        start = rec.windows[-1][0]
        assert start is not None
        return done + (now - start).total_seconds()

    def start_conference(self, account_sid: str, conference_sid: str, calls: set[str]) -> CallRecording:
        """A conference's recording (source Conference): everything said in the room, once."""
        options = Options(source="Conference", trim=True)
        rec = CallRecording(
            new_sid("RE"),
            None,
            account_sid,
            options,
            windows=[[utcnow(), None]],
            conference_sid=conference_sid,
        )
        rec.peers |= calls
        return self._begin(rec)

    def _begin(self, rec: CallRecording) -> CallRecording:
        now = rec.windows[0][0]
        options = rec.options
        with self.p.db.tx() as conn:
            conn.execute(
                insert(recordings).values(
                    sid=rec.sid,
                    account_sid=rec.account_sid,
                    call_sid=rec.call_sid,
                    conference_sid=rec.conference_sid,
                    status="in-progress",
                    source=options.source,
                    channels=options.channels,
                    track=options.track,
                    start_time=now,
                    date_created=now,
                    date_updated=now,
                )
            )
        self.live[rec.sid] = rec
        self._callback(rec, "in-progress", 0)
        return rec

    def of_call(self, call_sid: str) -> list[CallRecording]:
        return [r for r in self.live.values() if r.call_sid == call_sid]

    def pause(self, rec: CallRecording) -> None:
        if rec.status == "in-progress":
            rec.windows[-1][1] = utcnow()
            self._set_status(rec, "paused")

    def resume(self, rec: CallRecording) -> None:
        if rec.status == "paused":
            rec.windows.append([utcnow(), None])
            self._set_status(rec, "in-progress")

    async def stop(self, rec: CallRecording, at: dt.datetime | None = None) -> tuple[str, int]:
        """Render, keep and report the recording, which ends `at` (the call's end) or now; (its status, its
        duration in seconds)."""
        self.live.pop(rec.sid, None)
        if rec.tracks is not None and rec.tracks.release is not None:
            rec.tracks.release()
        if rec.status == "in-progress":
            rec.windows[-1][1] = at or utcnow()
        try:
            pcm = await self._render(rec)
        except Exception:
            log.exception("recording %s of %s could not be made", rec.sid, rec.call_sid)
            pcm = b""
        frames = len(pcm) // (audio.WIDTH * rec.options.channels)
        duration = round(frames / audio.RATE)
        status = "completed" if duration > 0 else "absent"
        with self.p.db.tx() as conn:
            conn.execute(
                update(recordings)
                .where(recordings.c.sid == rec.sid)
                .values(status=status, duration=duration, date_updated=utcnow())
            )
            if status == "completed":
                conn.execute(insert(recording_media).values(recording_sid=rec.sid, pcm=pcm))
        self._callback(rec, status, duration)
        return status, duration

    async def stop_call(self, call_sid: str, at: dt.datetime) -> None:
        """The call ended `at`: its recordings end with it."""
        for rec in self.of_call(call_sid):
            await self.stop(rec, at)

    def url(self, rec: CallRecording) -> str:
        return self.p.settings.base_url + recording_uri(rec.account_sid, rec.sid)

    def _set_status(self, rec: CallRecording, status: str) -> None:
        with self.p.db.tx() as conn:
            conn.execute(
                update(recordings)
                .where(recordings.c.sid == rec.sid)
                .values(status=status, date_updated=utcnow())
            )

    def _callback(self, rec: CallRecording, status: str, duration: int) -> None:
        o = rec.options
        if not o.callback or status not in o.callback_events:
            return
        start = rec.windows[0][0] or utcnow()
        params = status_params(
            rec.account_sid,
            rec.call_sid,
            rec.sid,
            self.url(rec),
            status,
            duration,
            o.channels,
            o.source,
            o.track,
            start,
        )
        if rec.conference_sid:
            params.append(("ConferenceSid", rec.conference_sid))
        with self.p.db.tx() as conn:
            enqueue_callback(
                conn,
                rec.account_sid,
                o.callback,
                o.callback_method,
                params,
                key=rec.sid,
                call_sid=rec.call_sid,
            )
        self.p.jobs.wake()

    # -- the audio ----------------------------------------------------------------------------------
    def _offset(self, rec: CallRecording, at: dt.datetime) -> float | None:
        """Where `at` falls in the recording, in simulated seconds; None while it was paused."""
        scale = self.p.settings.time_scale
        elapsed = 0.0
        first = rec.windows[0][0]
        assert first is not None
        for start, end in rec.windows:
            assert start is not None and end is not None
            if start <= at <= end:
                base = elapsed if rec.options.skip_paused else (start - first).total_seconds() / scale
                return base + (at - start).total_seconds() / scale
            elapsed += (end - start).total_seconds() / scale
        return None

    def _length(self, rec: CallRecording) -> float:
        scale = self.p.settings.time_scale
        spans = [(s, e) for s, e in rec.windows if s is not None and e is not None]
        if rec.options.skip_paused:
            return sum((e - s).total_seconds() for s, e in spans) / scale
        return (spans[-1][1] - spans[0][0]).total_seconds() / scale

    async def _render(self, rec: CallRecording) -> bytes:
        length = self._length(rec)
        if rec.conference_sid is not None:
            return await self._render_room(rec, length)
        if rec.tracks is not None:
            size = len(audio.silence(length))
            return self._channels(
                rec,
                bytes(rec.tracks.inbound[:size]).ljust(size, b"\0"),
                bytes(rec.tracks.outbound[:size]).ljust(size, b"\0"),
            )
        inbound = array("h", audio.silence(length))
        outbound = array("h", audio.silence(length))
        assert rec.call_sid is not None
        sids = [rec.call_sid] + ([rec.peer_sid] if rec.peer_sid else [])
        with self.p.db.tx() as conn:
            rows = self._events(conn, sids)
            sounds = [(row, await self._sound(conn, row, rec.call_sid)) for row in rows]
        for row, sound in sounds:
            if sound is None:
                continue
            pcm, track, ends_here = sound
            at = self._offset(rec, row["date_created"])
            if at is None:
                continue
            start = at - audio.duration(pcm) if ends_here else at
            audio.overlay(inbound if track == "inbound" else outbound, pcm, max(0.0, start))
        return self._channels(rec, inbound.tobytes(), outbound.tobytes())

    @staticmethod
    def _channels(rec: CallRecording, inbound: bytes, outbound: bytes) -> bytes:
        """The tracks as the recording was asked for: one of them, two channels, or mixed."""
        chosen = {"inbound": inbound, "outbound": outbound}.get(rec.options.track)
        if chosen is not None:
            pcm = chosen
        elif rec.options.channels == 2:
            return audio.interleave(inbound, outbound)
        else:
            pcm = audio.mix(inbound, outbound)
        return audio.trim(pcm) if rec.options.trim else pcm

    @staticmethod
    def _events(conn: Any, sids: list[str]) -> list[Any]:
        return list(
            conn.execute(
                select(call_events.c.call_sid, call_events.c.event, call_events.c.date_created)
                .where(call_events.c.call_sid.in_(sids))
                .order_by(call_events.c.seq)
            ).mappings()
        )

    async def _render_room(self, rec: CallRecording, length: float) -> bytes:
        """A conference, mixed: each participant's words reach the others as `heard` events, and an
        announcement is said to each of them; every utterance counts once."""
        track = array("h", audio.silence(length))
        seen: set[tuple[str, str, int]] = set()
        with self.p.db.tx() as conn:
            rows = self._events(conn, sorted(rec.peers))
        for row in rows:
            event = row["event"]
            words = event.get("text") or event.get("speech")
            if event.get("event") not in ("heard", "say") or not words:
                continue
            at = self._offset(rec, row["date_created"])
            if at is None:
                continue
            key = (str(event.get("from", "platform")), words, round(at))
            if key in seen:
                continue
            seen.add(key)
            audio.overlay(track, await tts.synthesize(words), at)
        pcm = track.tobytes()
        return audio.trim(pcm) if rec.options.trim else pcm

    async def _sound(self, conn: Any, row: Any, call_sid: str) -> tuple[bytes, str, bool] | None:
        """The audio of one transcript event, its track, and whether the event marks its end."""
        event = row["event"]
        kind = event.get("event")
        own = row["call_sid"] == call_sid
        words = event.get("text") or event.get("speech")
        if kind == "say" and own:
            return await tts.synthesize(event["text"]), "outbound", False
        if kind == "heard" and words:
            return await tts.synthesize(words), "outbound" if own else "inbound", False
        if kind == "gather" and own and event.get("speech"):
            return await tts.synthesize(event["speech"]), "inbound", True
        if kind == "record" and own and event.get("recording_sid"):
            pcm = load_audio(conn, event["recording_sid"])
            return (pcm, "inbound", True) if pcm else None
        return None
