"""The interface every voice carrier offers the engine: a call leg."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telephonist.twiml.verbs import Gather


@dataclass(frozen=True)
class GatherResult:
    digits: str = ""
    speech: str | None = None
    confidence: float | None = None

    @property
    def empty(self) -> bool:
        return not self.digits and self.speech is None


@dataclass(frozen=True)
class Sound:
    """A stretch of what a far end sent: silence, words of a simulated voice (the engine synthesizes
    them), or samples of a real one (8 kHz 16-bit PCM)."""

    seconds: float = 0.0
    text: str | None = None
    pcm: bytes | None = None


@dataclass(frozen=True)
class Heard:
    """What a `record` took: the sounds in order, and the key that ended it (or a hang-up)."""

    sounds: tuple[Sound, ...] = ()
    digits: str = ""
    hangup: bool = False

    @property
    def words(self) -> str:
        return " ".join(s.text for s in self.sounds if s.text)


class Leg(ABC):
    """One party of a call as the engine sees it. `on_remote_hangup` is set by the engine; `ended` is set
    once the leg is over, whichever side ended it."""

    on_remote_hangup: Callable[[], None] = staticmethod(lambda: None)
    ended: asyncio.Event
    sip_code: int | None = None  # a SIP leg's last answer to its INVITE (SipResponseCode in callbacks)

    @abstractmethod
    async def wait_answer(self, timeout: float) -> str:
        """Ring an outbound leg: 'answered', 'busy', 'no-answer' or 'failed'."""

    @abstractmethod
    async def answer(self) -> None:
        """Answer an inbound leg."""

    @abstractmethod
    async def detect_machine(self, detect_end: bool) -> tuple[str, int]:
        """Who answered (human, machine_start, machine_end_beep, …, fax, unknown) and how many
        milliseconds it took to tell; with `detect_end`, a machine is reported once its greeting ends."""

    @abstractmethod
    async def say(self, text: str, voice: str, language: str, interruptible: bool = False) -> None: ...

    @abstractmethod
    async def play(self, url: str, interruptible: bool = False) -> None: ...

    @abstractmethod
    async def play_digits(self, digits: str) -> None: ...

    @abstractmethod
    async def pause(self, seconds: float, interruptible: bool = False) -> None: ...

    @abstractmethod
    async def beep(self) -> None:
        """The tone before a recording starts."""

    @abstractmethod
    def begin_gather(self, gather: Gather) -> None:
        """Start listening for input (prompts may still be playing; input barges in)."""

    @abstractmethod
    def has_input(self) -> bool: ...

    @abstractmethod
    async def collect(self, gather: Gather) -> GatherResult:
        """Wait for the input of a Gather to complete (numDigits, finishOnKey, timeout)."""

    @abstractmethod
    async def record(self, max_length: float, timeout: float, finish_on_key: str) -> Heard:
        """Take what the far end sends until a key of `finish_on_key`, `timeout` seconds of silence
        (0: no limit), `max_length` seconds, or a hang-up."""

    bridged: Leg | None = None
    room: Any = None  # the conference mixer it is in (carriers/sim's SimRoom), if any

    def capture(self, sink: Callable[[str, bytes], None]) -> Callable[[], None] | None:
        """Call `sink(track, pcm)` with the leg's real audio from now on ("inbound": what the far end sends,
        "outbound": what it is sent), until the function returned is called; None for a carrier without
        audio (the simulated network, whose recordings are rebuilt from the transcript)."""
        return None

    @abstractmethod
    def hear_audio(self, pcm: bytes) -> None:
        """Audio (call PCM) from the other members of a conference, for the far end to hear."""

    def bridge(self, other: Leg) -> None:
        """Connect this leg's far end with `other`'s: each hears what the other sends, until unbridged."""
        self.bridged, other.bridged = other, self

    def unbridge(self) -> None:
        if self.bridged is not None and self.bridged.bridged is self:
            self.bridged.bridged = None
        self.bridged = None

    @abstractmethod
    def to_far_end(self, event: dict[str, Any]) -> None:
        """What the other party of a bridge sent reaches this leg's far end: `digits`, or the words of a
        virtual phone (`speech`, `text`). Audio between two legs of one carrier goes its own way."""

    @abstractmethod
    async def read_key(self) -> str:
        """The next key the far end presses (what `hangupOnStar` listens for during a bridge)."""

    @abstractmethod
    def listen(self, tap: Callable[[str], None]) -> Callable[[], None]:
        """Call `tap` with each key, or `speech:<words>`, the far end sends from now on (what a media
        stream carries), without taking it from a Gather; the function returned stops it."""

    @abstractmethod
    def drop_input(self) -> None:
        """Forget keys and speech not taken yet: what was said to the other party is not a later answer."""

    @abstractmethod
    async def hangup(self) -> None:
        """The platform ends the leg."""

    @abstractmethod
    async def reject(self, reason: str) -> None:
        """Refuse an inbound leg without answering."""
