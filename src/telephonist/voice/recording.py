"""Recordings of calls: `<Record>` takes what the caller says, keeps it as audio (served as WAV and MP3),
reports it to `recordingStatusCallback`, and transcribes it when asked.

On the simulated network a caller's words (`speech:` input) are synthesized with espeak-ng, so the file
holds speech of the right length, and the transcription is those words.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from telephonist.carriers.base import Heard
from telephonist.media import audio, tts
from telephonist.sids import new_sid
from telephonist.store.db import utcnow
from telephonist.store.models import recording_media, recordings, transcriptions
from telephonist.twiml.verbs import Record

if TYPE_CHECKING:
    from telephonist.voice.session import CallSession

log = logging.getLogger("telephonist.voice")


def status_params(
    account_sid: str,
    call_sid: str | None,
    sid: str,
    url: str,
    status: str,
    duration: int,
    channels: int,
    source: str,
    track: str,
    start: dt.datetime,
) -> list[tuple[str, str]]:
    """What a `recordingStatusCallback` receives."""
    return [
        ("AccountSid", account_sid),
        ("CallSid", call_sid or ""),
        ("RecordingSid", sid),
        ("RecordingUrl", url),
        ("RecordingStatus", status),
        ("RecordingDuration", str(duration)),
        ("RecordingChannels", str(channels)),
        ("RecordingSource", source),
        ("RecordingTrack", track),
        ("RecordingStartTime", start.strftime("%a, %d %b %Y %H:%M:%S +0000")),
    ]


def recording_uri(account_sid: str, sid: str) -> str:
    """Where the audio is served (`.wav` or `.mp3` may be appended; bare, it is WAV)."""
    return f"/2010-04-01/Accounts/{account_sid}/Recordings/{sid}"


async def render_audio(heard: Heard, trim: bool, max_seconds: float) -> bytes:
    parts: list[bytes] = []
    for sound in heard.sounds:
        if sound.pcm is not None:
            parts.append(sound.pcm)
        elif sound.text:
            parts.append(await tts.synthesize(sound.text))
        else:
            parts.append(audio.silence(sound.seconds))
    pcm = b"".join(parts)[: audio.WIDTH * round(max_seconds * audio.RATE)]
    return audio.trim(pcm) if trim else pcm


class RecordVerb:
    """One `<Record>` on a live call."""

    def __init__(self, session: CallSession, verb: Record) -> None:
        self.s = session
        self.verb = verb
        self.sid = new_sid("RE")
        self.start = utcnow()

    async def run(self) -> tuple[tuple[str, str], ...] | None:
        """The action parameters, or None when nothing was recorded (the call goes on to the next verb)."""
        s, verb = self.s, self.verb
        await s._ensure_answered()
        if verb.play_beep:
            s._event({"event": "beep"})
            await s.leg.beep()
        start = self.start = utcnow()
        with s.p.db.tx() as conn:
            conn.execute(
                insert(recordings).values(
                    sid=self.sid,
                    account_sid=s.account_sid,
                    call_sid=s.sid,
                    status="in-progress",
                    source="RecordVerb",
                    channels=1,
                    track="inbound",
                    start_time=start,
                    date_created=start,
                    date_updated=start,
                )
            )
        self._callback("in-progress", 0)
        try:
            heard = await s.leg.record(float(verb.max_length), float(verb.timeout), verb.finish_on_key)
        except asyncio.CancelledError:  # a REST update took the call elsewhere: nothing is kept
            with s.p.db.tx() as conn:
                conn.execute(update(recordings).where(recordings.c.sid == self.sid).values(status="absent"))
            raise
        pcm = await render_audio(heard, verb.trim == "trim-silence", verb.max_length)
        duration = round(audio.duration(pcm))
        digits = "hangup" if heard.hangup else heard.digits
        s._event({"event": "record", "recording_sid": self.sid, "duration": duration, "digits": digits})
        status = "completed" if duration > 0 else "absent"
        with s.p.db.tx() as conn:
            conn.execute(
                update(recordings)
                .where(recordings.c.sid == self.sid)
                .values(status=status, duration=duration, date_updated=utcnow())
            )
            if status == "completed":
                conn.execute(insert(recording_media).values(recording_sid=self.sid, pcm=pcm))
        self._callback(status, duration)
        if status == "absent":
            return None
        if verb.transcribe:
            self._transcribe(heard.words, duration)
        return (
            ("RecordingUrl", self.url),
            ("RecordingSid", self.sid),
            ("RecordingDuration", str(duration)),
            ("Digits", digits),
        )

    @property
    def url(self) -> str:
        return self.s.p.settings.base_url + recording_uri(self.s.account_sid, self.sid)

    def _callback(self, status: str, duration: int) -> None:
        verb = self.verb
        if not verb.recording_status_callback or status not in verb.recording_status_callback_event:
            return
        params = status_params(
            self.s.account_sid,
            self.s.sid,
            self.sid,
            self.url,
            status,
            duration,
            1,
            "RecordVerb",
            "inbound",
            self.start,
        )
        self.s._post(verb.recording_status_callback, verb.recording_status_callback_method, params, self.sid)

    def _transcribe(self, words: str, duration: int) -> None:
        sid = new_sid("TR")
        now = utcnow()
        text = words.strip()
        with self.s.p.db.tx() as conn:
            conn.execute(
                insert(transcriptions).values(
                    sid=sid,
                    account_sid=self.s.account_sid,
                    recording_sid=self.sid,
                    status="completed",
                    transcription_text=text,
                    duration=duration,
                    date_created=now,
                    date_updated=now,
                )
            )
        if self.verb.transcribe_callback:
            base = self.s.p.settings.base_url
            params = self.s._standard_params() + [
                ("TranscriptionSid", sid),
                ("TranscriptionText", text),
                ("TranscriptionStatus", "completed"),
                ("TranscriptionUrl", f"{base}/2010-04-01/Accounts/{self.s.account_sid}/Transcriptions/{sid}"),
                ("TranscriptionType", "fast"),
                ("RecordingSid", self.sid),
                ("RecordingUrl", self.url),
            ]
            self.s._post(self.verb.transcribe_callback, "POST", params, self.sid)


def load_audio(conn: Any, sid: str) -> bytes | None:
    pcm = conn.execute(select(recording_media.c.pcm).where(recording_media.c.recording_sid == sid)).scalar()
    return None if pcm is None else bytes(pcm)


def lost(conn: Any, *where: Any) -> None:
    """The recordings `where` says that were under way in a process that died: their audio was there, so
    they end absent. (Their status callbacks were in that process too, and are not sent.)"""
    conn.execute(
        update(recordings)
        .where(recordings.c.status.in_(("in-progress", "paused")), *where)
        .values(status="absent", duration=0, date_updated=utcnow())
    )
