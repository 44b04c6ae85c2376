"""Legs with real audio, whatever carries it (RTP for SIP, WebRTC for browsers): prompts spoken and played
into the call, keys and speech taken from it, recordings, bridges and conferences over 8 kHz 16-bit mono
PCM in 20 ms frames. A carrier supplies the `Media` that moves those frames and the signalling."""

from __future__ import annotations

import asyncio
import logging
import math
from array import array
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from telephonist.carriers.base import GatherResult, Heard, Leg, Sound
from telephonist.media import asr, audio, decode, music, tts
from telephonist.twiml.verbs import Gather
from telephonist.webhooks.client import FetchError

if TYPE_CHECKING:
    from telephonist.app import Platform

PTIME = 0.020  # seconds a frame
FRAME = 160  # samples a frame at 8 kHz
FRAME_BYTES = FRAME * 2  # of 16-bit PCM
SILENCE = bytes(FRAME_BYTES)
MAX_BACKLOG = 10 * FRAME_BYTES  # bridged audio queued beyond 200 ms is dropped, not delayed
# Seconds a <Record> that reached maxLength waits for audio sent in time but not yet taken in.
LATE_AUDIO = 0.5
AUTO_SPEECH_END = 1.0  # seconds of quiet that end an utterance with speechTimeout="auto"
MAX_UTTERANCE = 60.0
SILENT = 300  # mean absolute amplitude below which a 20 ms frame counts as silence (about -40 dBFS)
MAX_PROMPT_BYTES = 20 * 1024 * 1024  # a <Play> file larger than this is refused (11751)
# The beep before a recording: a quarter second of 1 kHz, faded in and out.
BEEP = array(
    "h",
    (
        round(6000 * min(1.0, i / 80, (2000 - i) / 80) * math.sin(2 * math.pi * 1000 * i / 8000))
        for i in range(2000)
    ),
).tobytes()
_PLAYED: dict[str, bytes] = {}  # fetched <Play> audio as call PCM, by URL
_PLAYED_SIZE = 64


def speech_end(gather: Gather) -> float:
    """Seconds of quiet that end an utterance: `speechTimeout` (`auto`: one second), else `timeout`."""
    given = gather.speech_timeout or str(gather.timeout)
    try:
        return AUTO_SPEECH_END if given == "auto" else max(0.5, float(given))
    except ValueError:  # not a number: Twilio's default
        return AUTO_SPEECH_END


def loud(pcm: bytes) -> bool:
    samples = array("h", pcm)
    return sum(map(abs, samples)) > SILENT * len(samples)


class Listener:
    """What a caller says to a `<Gather input="speech">`: audio from a little before the first loud frame
    until `end_after` seconds of quiet."""

    LEAD = 15  # frames kept from before the speech began (about 0.3 s)

    def __init__(self, end_after: float) -> None:
        self.end_after = end_after
        self.frames: deque[bytes] = deque(maxlen=self.LEAD)
        self.started = False
        self.quiet = 0.0
        self.done = asyncio.Event()

    def feed(self, pcm: bytes) -> bool:
        """Take a frame of what the caller sends; True when speech begins with it."""
        if self.done.is_set():
            return False
        self.frames.append(pcm)
        if not self.started:
            if loud(pcm):
                self.started = True
                self.frames = deque(self.frames)  # from here on everything is kept
                return True
            return False
        self.quiet = 0.0 if loud(pcm) else self.quiet + audio.duration(pcm)
        if self.quiet >= self.end_after:
            self.done.set()
        return False

    def pcm(self) -> bytes:
        return b"".join(self.frames)


class Outbox:
    """Call audio waiting to be sent, taken a frame at a time by the carrier's clock. What `play` queues is
    awaited until sent; what `feed` queues (another leg's audio, arriving on its own clock) is sent as it
    comes, never more than a bound behind."""

    def __init__(self) -> None:
        self._priming = False  # fed audio held until two frames have come
        self._out = bytearray()  # PCM still to send
        self._sent = 0  # PCM bytes sent since the stream began (play marks count against it)
        self._queued = 0
        self._marks: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def play(self, pcm: bytes) -> None:
        """Queue `pcm` and wait until it has been sent (or `stop_playing`)."""
        if not pcm:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._out += pcm
        self._queued += len(pcm)
        self._marks.append((self._sent + self._queued, done))
        await done

    def feed(self, pcm: bytes, limit: int | None = MAX_BACKLOG) -> None:
        """Audio sent as it comes, never more than `limit` bytes behind. After a pause it starts once two
        frames are in hand, so that audio arriving on another clock is not cut into pieces."""
        if not self._out:
            self._priming = True
        if limit is None or len(self._out) < limit:
            self._out += pcm
            self._queued += len(pcm)

    def stop_playing(self) -> None:
        self._sent += self._queued
        self._out.clear()
        self._queued = 0
        while self._marks:
            _, done = self._marks.popleft()
            if not done.done():
                done.set_result(None)

    def frame(self) -> bytes:
        """The next 20 ms to send: what is queued, else silence."""
        if self._priming and len(self._out) < 2 * FRAME_BYTES and not self._marks:
            frame = b""  # fed audio waits for its second frame: silence meanwhile
        else:
            self._priming = False
            frame = bytes(self._out[:FRAME_BYTES])
            del self._out[:FRAME_BYTES]
        self._sent += len(frame)
        self._queued -= len(frame)
        while self._marks and self._marks[0][0] <= self._sent:
            _, done = self._marks.popleft()
            if not done.done():
                done.set_result(None)
        return frame + SILENCE[len(frame) :]


class Media(Protocol):
    """What an audio leg needs of its carrier's media: frames out (`play`, `feed`) and in (`on_audio`),
    keys both ways."""

    on_key: Callable[[str], None]
    on_audio: Callable[[bytes], None]
    on_sent: Callable[[bytes], None] | None  # each frame of audio sent, while recorded

    async def play(self, pcm: bytes) -> None: ...

    def feed(self, pcm: bytes, limit: int | None = MAX_BACKLOG) -> None: ...

    def stop_playing(self) -> None: ...

    def send_keys(self, keys: str) -> None: ...

    def close(self) -> None: ...


class AudioLeg(Leg):
    """The carrier-neutral part of a leg with real audio. A carrier's leg adds ringing, answering and
    ending, and calls `remote_hangup` when the far end goes."""

    log = logging.getLogger("telephonist.voice")

    def __init__(self, platform: Platform, call_sid: str, stream: Media) -> None:
        self.platform = platform
        self.call_sid = call_sid
        self.stream = stream
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self._input = asyncio.Event()
        self.ended = asyncio.Event()
        self.answered = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._captures: list[Callable[[str, bytes], None]] = []  # recordings of the call's audio
        self.taps: list[Callable[[str], None]] = []
        self._recording: list[bytes] | None = None
        self._listener: Listener | None = None  # while a <Gather input="speech"> listens
        self._last_sound = 0.0
        stream.on_key = self._key
        stream.on_audio = self._audio

    async def detect_machine(self, detect_end: bool) -> tuple[str, int]:
        return "unknown", 0  # no detector runs on real audio yet: Twilio's answer when it cannot tell

    # -- what the far end hears -----------------------------------------------------------------------
    async def _send(self, pcm: bytes, interruptible: bool) -> None:
        if self.ended.is_set():
            return
        if not interruptible:
            await self.stream.play(pcm)
            return
        if self.has_input():
            return
        self._input.clear()
        playing = asyncio.ensure_future(self.stream.play(pcm))
        barge = asyncio.ensure_future(self._input.wait())
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({playing, barge, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (barge, ended):
                task.cancel()
            if not playing.done():
                self.stream.stop_playing()
                await playing

    async def say(self, text: str, voice: str, language: str, interruptible: bool = False) -> None:
        await self._send(await tts.synthesize(text, language, voice), interruptible)

    async def play(self, url: str, interruptible: bool = False) -> None:
        try:
            pcm = await self._fetch(url)
        except (FetchError, ValueError) as err:  # as on Twilio: the verb is skipped, the call goes on
            self.log.warning("call %s: <Play> %s cannot be played: %s", self.call_sid, url, err)
            return
        await self._send(pcm, interruptible)

    async def _fetch(self, url: str) -> bytes:
        """A <Play> URL as call audio (WAV, MP3, any file FFmpeg reads), fetched and decoded once."""
        if music.is_hold_music(url):
            return music.hold_music()
        if url not in _PLAYED:
            _, data = await self.platform.webhooks.download(url, MAX_PROMPT_BYTES)
            pcm = await asyncio.to_thread(decode.call_audio, data)
            if len(_PLAYED) >= _PLAYED_SIZE:
                _PLAYED.clear()
            _PLAYED[url] = pcm
        return _PLAYED[url]

    async def play_digits(self, digits: str) -> None:
        """Keys as the carrier sends them, 'w' a half-second pause."""
        for part in digits.lower().split("w"):
            if part:
                self.stream.send_keys(part)
                await asyncio.sleep(0.2 * len(part))
            await asyncio.sleep(0.5)

    async def beep(self) -> None:
        await self._send(BEEP, False)

    async def pause(self, seconds: float, interruptible: bool = False) -> None:
        await self._send(audio.silence(seconds), interruptible)

    # -- what the far end sends -----------------------------------------------------------------------
    def _key(self, key: str) -> None:
        self.keys.put_nowait(key)
        self._input.set()
        for tap in list(self.taps):
            tap(key)
        if isinstance(self.bridged, AudioLeg):
            self.bridged.stream.send_keys(key)
        elif self.bridged is not None:
            self.bridged.to_far_end({"digits": key})

    def _audio(self, pcm: bytes) -> None:
        for sink in list(self._captures):
            sink("inbound", pcm)
        if isinstance(self.bridged, AudioLeg):
            self.bridged.stream.feed(pcm)
        if self.room is not None:
            self.room.audio_from(self, pcm)
        if self._recording is not None:
            self._recording.append(pcm)
            if loud(pcm):
                self._last_sound = asyncio.get_running_loop().time()
        if self._listener is not None and self._listener.feed(pcm):
            self._input.set()  # the caller speaks: prompts stop (barge-in)

    def begin_gather(self, gather: Gather) -> None:
        """Keys are taken as they arrive; for speech, what the caller says from now on is kept."""
        self._listener = None
        if "speech" in gather.input:
            self._listener = Listener(speech_end(gather))

    def has_input(self) -> bool:
        return not self.keys.empty()

    async def collect(self, gather: Gather) -> GatherResult:
        listener, self._listener = self._listener, None
        try:
            return await self._collect(gather, listener)
        finally:
            if listener is not None:
                listener.done.set()

    async def _collect(self, gather: Gather, listener: Listener | None) -> GatherResult:
        if listener is not None:
            self._listener = listener
            heard = await self._speech_or_key(listener, gather.timeout, keys="dtmf" in gather.input)
            self._listener = None
            if heard == "speech":
                words = await asyncio.to_thread(asr.transcribe, listener.pcm(), gather.hints)
                return GatherResult(speech=words[0], confidence=words[1]) if words else GatherResult()
            if heard == "nothing":
                return GatherResult()
        digits = ""  # keys: the first input decides, as on Twilio
        while True:
            key = await self._next_key(gather.timeout)
            if not key:  # quiet for `timeout` seconds, or hung up
                return GatherResult(digits)
            if "dtmf" not in gather.input:
                continue
            if gather.finish_on_key and key == gather.finish_on_key:
                return GatherResult(digits)
            digits += key
            if gather.num_digits is not None and len(digits) >= gather.num_digits:
                return GatherResult(digits)

    async def _speech_or_key(self, listener: Listener, timeout: float, keys: bool) -> str:
        """'speech' once the caller has said something and gone quiet; 'key' when a key comes first (and
        keys count); 'nothing' after `timeout` seconds with nothing said, or when the call ends. An
        utterance under way may run to MAX_UTTERANCE."""
        waits: dict[str, asyncio.Future[Any]] = {
            "speech": asyncio.ensure_future(listener.done.wait()),
            "ended": asyncio.ensure_future(self.ended.wait()),
        }
        if keys:
            waits["key"] = asyncio.ensure_future(self._key_arrives())
        try:
            await asyncio.wait(waits.values(), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if listener.started and not any(w.done() for w in waits.values()):
                await asyncio.wait(waits.values(), timeout=MAX_UTTERANCE, return_when=asyncio.FIRST_COMPLETED)
            if waits["ended"].done():
                return "nothing"
            if "key" in waits and waits["key"].done():
                return "key"
            return "speech" if listener.started else "nothing"
        finally:
            for task in waits.values():
                task.cancel()

    async def _key_arrives(self) -> None:
        while self.keys.empty():
            self._input.clear()
            await self._input.wait()

    async def _next_key(self, timeout: float) -> str | None:
        """The next key; '' once the far end has hung up; None after `timeout` seconds without one."""
        key = asyncio.ensure_future(self.keys.get())
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({key, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            key.cancel()  # a get cancelled before it returned takes nothing from the queue
        if key.done() and not key.cancelled():
            return key.result()
        return "" if self.ended.is_set() else None

    async def record(self, max_length: float, timeout: float, finish_on_key: str) -> Heard:
        loop = asyncio.get_running_loop()
        start = self._last_sound = loop.time()
        self._recording = []
        digits, hangup = "", False
        try:
            while True:
                now = loop.time()
                left = start + max_length - now
                if timeout > 0:
                    left = min(left, self._last_sound + timeout - now)
                if left <= 0:
                    break
                key = await self._next_key(min(left, 0.1))
                if key == "":
                    hangup = True
                    break
                if key and key in finish_on_key:
                    digits = key
                    break
            if not (digits or hangup) and loop.time() >= start + max_length:
                # maxLength is up by the clock. Audio sent before then that this process has not taken in
                # yet (its loop running late on a loaded machine) still belongs in it: wait for it a little.
                late = loop.time() + LATE_AUDIO
                short = audio.WIDTH * round((max_length - PTIME) * audio.RATE)
                while sum(map(len, self._recording)) < short and loop.time() < late:
                    if await self._next_key(PTIME) == "":
                        break
        finally:
            pcm, self._recording = b"".join(self._recording), None
        return Heard((Sound(seconds=audio.duration(pcm), pcm=pcm),), digits=digits, hangup=hangup)

    async def read_key(self) -> str:
        return await self.keys.get()

    def listen(self, tap: Callable[[str], None]) -> Callable[[], None]:
        self.taps.append(tap)
        return lambda: self.taps.remove(tap) if tap in self.taps else None

    def drop_input(self) -> None:
        while not self.keys.empty():
            self.keys.get_nowait()

    # -- two parties ------------------------------------------------------------------------------------
    # Bridged with another audio leg (of any carrier), audio and keys are relayed as they come; with a
    # virtual phone's leg, its keys are sent as the carrier sends keys and its words spoken by espeak-ng,
    # and our keys reach it.
    def to_far_end(self, event: dict[str, Any]) -> None:
        if event.get("digits"):
            self.stream.send_keys(event["digits"])
        words = event.get("speech") or event.get("text")
        if words and not self.ended.is_set():
            task = asyncio.ensure_future(self._speak(str(words)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def capture(self, sink: Callable[[str, bytes], None]) -> Callable[[], None] | None:
        self._captures.append(sink)
        self.stream.on_sent = self._sent

        def release() -> None:
            if sink in self._captures:
                self._captures.remove(sink)
            if not self._captures:
                self.stream.on_sent = None

        return release

    def _sent(self, pcm: bytes) -> None:
        for sink in list(self._captures):
            sink("outbound", pcm)

    def hear_audio(self, pcm: bytes) -> None:
        self.stream.feed(pcm)

    async def _speak(self, words: str) -> None:
        self.stream.feed(await tts.synthesize(words), limit=None)

    # -- ending -------------------------------------------------------------------------------------
    def remote_hangup(self) -> None:
        """The far end hung up (or went away)."""
        if not self.ended.is_set():
            self._ended()
            self.on_remote_hangup()

    def _ended(self) -> None:
        self.ended.set()
        self.unbridge()
        self.stream.close()
