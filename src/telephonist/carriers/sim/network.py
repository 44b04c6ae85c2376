"""Virtual phones, their inboxes and their call legs, in process and in the platform's database.

Time runs `time_scale` times real time: with 0.01 a ten-second <Pause> lasts 0.1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, bindparam, select, update

from telephonist.carriers.base import GatherResult, Heard, Leg, Sound
from telephonist.media import audio
from telephonist.messaging.engine import SubmitResult
from telephonist.messaging.media import urls_of
from telephonist.store import transcripts
from telephonist.store.db import Raw, Row, Tx, insert_row, raw, utcnow
from telephonist.store.models import sim_inbox, sim_phones
from telephonist.twiml.verbs import Gather

if TYPE_CHECKING:
    from telephonist.app import Platform

log = logging.getLogger("telephonist.sim")
ANSWER_MODES = ("auto", "busy", "no-answer", "fail", "manual")
DEFAULT_RING_SECONDS = 1.0
RECEIPT_SECONDS = 1.0
SPEECH_CONFIDENCE = 0.92
ANSWERED_BY = (
    "human",
    "machine",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)
HUMAN_DETECTION = 2.0  # seconds answering machine detection takes to tell
MACHINE_GREETING = 8.0  # seconds until a machine's greeting ends (DetectMessageEnd)
_PHONE = select(sim_phones).where(sim_phones.c.number == bindparam("number"))
_TAKE_INPUT = (
    update(sim_phones)
    .where(sim_phones.c.number == bindparam("number"))
    .values(gather_input=bindparam("rest", type_=sim_phones.c.gather_input.type))
)
_NEW_PHONE = insert_row(sim_phones)
_DELIVER = insert_row(sim_inbox)
_DELIVERED = SubmitResult("delivered")
_UNREACHABLE = SubmitResult("undelivered", 30003, "Unreachable destination handset")
_UNKNOWN_ERROR = SubmitResult("failed", 30008, "Unknown error")
_INPUT = re.compile(r"^(speech:.*|[0-9*#wW]*)$", re.S)


def valid_input(value: str) -> bool:
    return bool(_INPUT.match(value))


def say_seconds(text: str) -> float:
    """How long a TTS voice takes to say text: about 150 words a minute."""
    return max(0.5, len(text.split()) * 0.4)


@dataclass(frozen=True)
class Phone:
    number: str
    answer: str
    ring_seconds: float
    gather_input: list[str]
    answered_by: str


class SimNetwork:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.legs: dict[str, SimLeg] = {}
        self._phones: dict[str, Phone] = {}  # the sim lives in this process: it alone changes phones

    @property
    def scale(self) -> float:
        return self.p.settings.time_scale

    # -- phones -------------------------------------------------------------------------------------
    def phone(self, conn: Tx, number: str) -> Phone:
        """A virtual phone's settings; it exists, with the defaults, from its first use."""
        phone = self._phones.get(number)
        if phone is not None:
            return phone
        q = raw(conn)
        row = q.first(_PHONE, number=number)
        if row is None:  # not cached until committed and read back
            row = {"number": number, "date_created": utcnow(), **PHONE_DEFAULTS}
            q.run(_NEW_PHONE, **row)
            return _phone(row)
        phone = self._phones[number] = _phone(row)
        return phone

    def configure(
        self,
        conn: Connection,
        number: str,
        answer: str | None = None,
        ring_seconds: float | None = None,
        gather_input: list[str] | None = None,
        answered_by: str | None = None,
    ) -> Phone:
        current = self.phone(conn, number)
        values: dict[str, Any] = {
            k: v
            for k, v in (
                ("answer", answer),
                ("ring_seconds", ring_seconds),
                ("gather_input", gather_input),
                ("answered_by", answered_by),
            )
            if v is not None
        }
        if not values:
            return current
        self._phones.pop(number, None)  # read again once committed
        conn.execute(update(sim_phones).where(sim_phones.c.number == number).values(**values))
        return replace(current, **values)

    def phone_now(self, number: str) -> Phone:
        phone = self._phones.get(number)
        if phone is not None:  # every call asks at its start and at each <Gather>: no transaction
            return phone
        with self.p.db.fast() as q:
            return self.phone(q, number)

    def take_input(self, number: str) -> str | None:
        """The next queued GatherInput of a phone, consumed."""
        phone = self.phone_now(number)
        if not phone.gather_input:
            return None
        rest = phone.gather_input[1:]
        transcripts.write_soon(self.p.db, _TAKE_INPUT, number=number, rest=rest)
        if self._phones.get(number) is phone:
            self._phones[number] = replace(phone, gather_input=rest)
        return phone.gather_input[0]

    def owner(self, conn: Tx, number: str) -> Row | None:
        """The platform number record of `number`, when an account owns it."""
        return self.p.number_owner(conn, number)

    # -- messaging carrier --------------------------------------------------------------------------
    def submit_all(self, q: Raw, messages: Sequence[Mapping[str, Any]]) -> list[SubmitResult]:
        """Hand messages to the network in the caller's transaction, so each reaches its phone exactly
        once. The virtual phones' inboxes take one executemany; a message to a platform number arrives
        there under a savepoint of its own. A message that cannot be handed over fails alone (30008)."""
        now = utcnow()
        results: list[SubmitResult] = []
        inbox: list[dict[str, Any]] = []
        for message in messages:
            try:
                number = self.owner(q, message["to"])
                if number is not None:
                    media = []
                    if message["sid"].startswith("MM"):
                        media = [url for url, _ in urls_of(q, self.p.settings.base_url, message)]
                    with q.savepoint():
                        self.p.messaging.receive(q, number, message["from"], message["body"], media)
                    results.append(_DELIVERED)
                    continue
                if self.phone(q, message["to"]).answer == "fail":
                    results.append(_UNREACHABLE)
                    continue
            except Exception:
                log.exception("handing %s to the simulated network failed", message["sid"])
                results.append(_UNKNOWN_ERROR)
                continue
            inbox.append(
                {
                    "phone": message["to"],
                    "message_sid": message["sid"],
                    "account_sid": message["account_sid"],
                    "from": message["from"],
                    "body": message["body"],
                    "date_received": now,
                }
            )
            results.append(_DELIVERED)
        q.many(_DELIVER, inbox)
        return results

    def receipt_delay(self) -> float:
        return RECEIPT_SECONDS * self.scale

    # -- voice carrier ------------------------------------------------------------------------------
    def leg(
        self, call_sid: str, number: str | None, inputs: list[str] | None = None, local: str = ""
    ) -> SimLeg:
        """A leg whose far end is a virtual phone (`number`) or another platform leg (`number` None);
        `local` is the address of the platform's side (the call's platform number or caller ID)."""
        leg = SimLeg(self, call_sid, number, list(inputs or []), local)
        self.legs[call_sid] = leg
        return leg

    def forget(self, call_sid: str) -> None:
        self.legs.pop(call_sid, None)


PHONE_DEFAULTS: dict[str, Any] = {
    "answer": "auto",
    "ring_seconds": DEFAULT_RING_SECONDS,
    "gather_input": [],
    "answered_by": "human",
}


def _phone(row: Mapping[str, Any]) -> Phone:
    return Phone(
        row["number"], row["answer"], row["ring_seconds"], list(row["gather_input"]), row["answered_by"]
    )


class SimLeg(Leg):
    def __init__(
        self, network: SimNetwork, call_sid: str, number: str | None, inputs: list[str], local: str = ""
    ) -> None:
        self.net = network
        self.call_sid = call_sid
        self.number = number
        self.local = local
        self.bridged: Leg | None = None
        self.taps: list[Callable[[str], None]] = []  # media streams listening to the far end
        self.inputs = inputs  # per-call GatherInput; the phone's own queue is used when this runs out
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self._input = asyncio.Event()  # a key or utterance arrived (interrupts a prompt)
        self.answered = asyncio.Event()
        self.ended = asyncio.Event()
        self.peer: SimLeg | None = None
        self.on_remote_hangup: Callable[[], None] = lambda: None
        self.outcome: str | None = None

    def _sleep_scale(self, seconds: float) -> float:
        return seconds * self.net.scale

    async def _wait(self, seconds: float, interruptible: bool) -> None:
        if not interruptible:
            await asyncio.sleep(self._sleep_scale(seconds))
            return
        if self.has_input():
            return
        self._input.clear()  # set again by the next key or utterance
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result of an awaitable that
        # finished as its task was cancelled, losing the cancellation (a REST hang-up or redirect).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._sleep_scale(seconds)):
                await self._input.wait()

    # -- ringing ------------------------------------------------------------------------------------
    async def wait_answer(self, timeout: float) -> str:
        if self.number is None:  # another platform number: answered when its TwiML answers
            return await self._wait_peer(timeout)
        phone = self.net.phone_now(self.number)
        ring = self._sleep_scale(min(phone.ring_seconds, timeout))
        if phone.answer == "fail":
            return "failed"
        if phone.answer == "busy":
            await asyncio.sleep(self._sleep_scale(0.5))
            return "busy"
        if phone.answer in ("no-answer", "manual"):
            try:
                async with asyncio.timeout(self._sleep_scale(timeout)):
                    await self.answered.wait()
                return "answered"
            except TimeoutError:
                return "no-answer"
        if phone.ring_seconds > timeout:
            await asyncio.sleep(self._sleep_scale(timeout))
            return "no-answer"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ring):
                await self.answered.wait()
        self.answered.set()
        return "answered"

    async def _wait_peer(self, timeout: float) -> str:
        assert self.peer is not None
        answered = asyncio.ensure_future(self.peer.answered.wait())
        ended = asyncio.ensure_future(self.peer.ended.wait())
        done, pending = await asyncio.wait(
            {answered, ended}, timeout=self._sleep_scale(timeout), return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if answered in done:
            self.answered.set()
            return "answered"
        if ended in done:
            return {"rejected": "no-answer", "busy": "busy"}.get(self.peer.outcome or "", "failed")
        return "no-answer"

    def phone_answers(self) -> None:
        """The virtual phone picks up (POST /sim/v1/Calls/{Sid}/Answer)."""
        self.answered.set()

    async def answer(self) -> None:
        self.answered.set()

    async def detect_machine(self, detect_end: bool) -> tuple[str, int]:
        """The phone's `AnsweredBy` setting decides; a machine's greeting takes MACHINE_GREETING seconds."""
        phone = self.net.phone_now(self.number) if self.number else None
        declared = phone.answered_by if phone is not None else "human"
        if declared == "machine":
            declared = "machine_end_beep" if detect_end else "machine_start"
        elif declared.startswith("machine_end") and not detect_end:
            declared = "machine_start"
        seconds = MACHINE_GREETING if detect_end and declared.startswith("machine_end") else HUMAN_DETECTION
        await asyncio.sleep(self._sleep_scale(seconds))
        return declared, round(seconds * 1000)

    # -- media --------------------------------------------------------------------------------------
    # What the platform says reaches a far end that is another platform leg once it has been said.
    async def say(self, text: str, voice: str, language: str, interruptible: bool = False) -> None:
        await self._wait(say_seconds(text), interruptible)
        self._to_peer({"text": text})

    async def play(self, url: str, interruptible: bool = False) -> None:
        await self._wait(2.0, interruptible)
        self._to_peer({"play": url})

    async def play_digits(self, digits: str) -> None:
        await self._wait(0.1 * len(digits) + 0.5 * digits.lower().count("w"), False)
        self._to_peer({"digits": digits.replace("w", "").replace("W", "")})

    # -- media between parties ----------------------------------------------------------------------
    # A virtual phone's transcript already shows what the platform said to it; what reaches it from
    # the other party of a bridge (`bridge` and `unbridge` are the base class's) is a `heard` event. A
    # far end that is another platform leg gets the platform's audio as input from its own far end, and
    # passes it on if it is bridged in turn.
    def _to_peer(self, event: dict[str, Any]) -> None:
        """The platform sends audio down a leg whose far end is another platform leg."""
        if self.number is None and self.peer is not None:
            self.peer._from_far_end({"from": self.local, **event})

    def _from_far_end(self, event: dict[str, Any]) -> None:
        if self.number is None:  # another platform leg's audio: input here, as a phone's would be
            for key in event.get("digits", ""):
                self._put(key)
            if "speech" in event:
                self._put("speech:" + event["speech"])
        self._pass_on(event)

    def hear_audio(self, pcm: bytes) -> None:
        """A virtual phone hears words (events), not audio: a real member's sound does not reach it."""

    def to_far_end(self, event: dict[str, Any]) -> None:
        if self.number is not None:
            transcripts.add(self.net.p.db, self.call_sid, {"event": "heard", **event})
        elif self.peer is not None:
            self.peer._from_far_end(event)

    async def pause(self, seconds: float, interruptible: bool = False) -> None:
        await self._wait(seconds, interruptible)

    async def beep(self) -> None:
        """A virtual phone's transcript shows the beep (the session's event): nothing to wait for."""

    # -- input --------------------------------------------------------------------------------------
    def _put(self, key: str) -> None:
        self.keys.put_nowait(key)
        self._input.set()
        for tap in list(self.taps):
            tap(key)

    def press(self, keys: str) -> None:
        """The virtual phone presses keys."""
        for key in keys:
            self._put(key)
        self._pass_on({"from": self.number, "digits": keys})

    def speak(self, text: str) -> None:
        """The virtual phone says something."""
        self._put("speech:" + text)
        self._pass_on({"from": self.number, "speech": text})

    def _pass_on(self, event: dict[str, Any]) -> None:
        """What the far end sent reaches the other party of a bridge, or the others in a conference."""
        if self.bridged is not None:
            self.bridged.to_far_end(event)
        if self.room is not None:
            self.room.send(self, event)

    async def record(self, max_length: float, timeout: float, finish_on_key: str) -> Heard:
        """A scripted GatherInput entry (or live /Speech and /Digits) is what the phone says; silence
        is measured in simulated seconds."""
        self._script()
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        sounds: list[Sound] = []

        def elapsed(since: float) -> float:
            return (loop.time() - since) / self.net.scale

        while True:
            left = max_length - elapsed(start)
            wait = left if timeout <= 0 else min(left, timeout)
            if wait <= 0:
                return Heard(tuple(sounds))
            key_task = asyncio.ensure_future(self.keys.get())
            end_task = asyncio.ensure_future(self.ended.wait())
            done, _ = await asyncio.wait(
                {key_task, end_task}, timeout=self._sleep_scale(wait), return_when=asyncio.FIRST_COMPLETED
            )
            for task in (key_task, end_task):
                task.cancel()
            if key_task in done:
                key = key_task.result()
            elif end_task in done:
                sounds.append(Sound(seconds=elapsed(last)))
                return Heard(tuple(sounds), hangup=True)
            else:  # silence: the recording ends after `timeout` of it, or at max_length
                sounds.append(Sound(seconds=min(wait, elapsed(last))))
                return Heard(tuple(sounds))
            if key.startswith("speech:"):
                text = key[len("speech:") :]
                sounds.append(Sound(seconds=elapsed(last)))
                speaking = min(say_seconds(text), max(0.0, max_length - elapsed(start)))
                await asyncio.sleep(self._sleep_scale(speaking))
                sounds.append(Sound(seconds=speaking, text=text))
                last = loop.time()
            elif key in finish_on_key:
                sounds.append(Sound(seconds=elapsed(last)))
                return Heard(tuple(sounds), digits=key)

    async def read_key(self) -> str:
        while True:
            key = await self.keys.get()
            if not key.startswith("speech:"):
                return key

    def listen(self, tap: Callable[[str], None]) -> Callable[[], None]:
        self.taps.append(tap)
        return lambda: self.taps.remove(tap) if tap in self.taps else None

    def drop_input(self) -> None:
        while not self.keys.empty():
            self.keys.get_nowait()

    def begin_gather(self, gather: Gather) -> None:
        self._script()

    def _script(self) -> None:
        """The next scripted GatherInput entry (of this call, else of the phone) is the answer now."""
        entry = self.inputs.pop(0) if self.inputs else None
        if entry is None and self.number is not None:
            entry = self.net.take_input(self.number)
        if entry is None:
            return
        self.drop_input()  # a scripted entry is the whole answer: keys left from before are gone
        if entry.startswith("speech:"):
            self._put(entry)
        else:
            self.press(entry.replace("w", "").replace("W", ""))

    def has_input(self) -> bool:
        return not self.keys.empty()

    async def collect(self, gather: Gather) -> GatherResult:
        digits = ""
        while True:
            try:
                async with asyncio.timeout(self._sleep_scale(gather.timeout)):
                    key = await self.keys.get()
            except TimeoutError:
                return GatherResult(digits)
            if key.startswith("speech:"):
                if "speech" in gather.input:
                    return GatherResult(speech=key[7:], confidence=SPEECH_CONFIDENCE)
                continue
            if "dtmf" not in gather.input:
                continue
            if gather.finish_on_key and key == gather.finish_on_key:
                return GatherResult(digits)
            digits += key
            if gather.num_digits is not None and len(digits) >= gather.num_digits:
                return GatherResult(digits)

    # -- ending -------------------------------------------------------------------------------------
    async def hangup(self) -> None:
        self._end("completed")

    async def reject(self, reason: str) -> None:
        self._end("busy" if reason == "busy" else "rejected")

    def _end(self, outcome: str) -> None:
        if self.ended.is_set():
            return
        self.outcome = outcome
        self.ended.set()
        self.net.forget(self.call_sid)
        if self.peer is not None and not self.peer.ended.is_set():
            self.peer.remote_hangup()

    def remote_hangup(self) -> None:
        """The far end hangs up (a virtual phone via /sim/v1, or the other platform leg)."""
        if self.ended.is_set():
            return
        self.outcome = "remote"
        self.ended.set()
        self.net.forget(self.call_sid)
        self.on_remote_hangup()


FRAME_BYTES = 320  # 20 ms of call audio
FRAME_SECONDS = 0.020


class Seated(Protocol):
    """What sits in a room: a call leg, or another engine's side of the same room (voice/conference.py)."""

    room: Any

    def to_far_end(self, event: dict[str, Any]) -> None: ...

    def hear_audio(self, pcm: bytes) -> None: ...


@dataclass
class Seat:
    """How a leg sits in a conference: muted (not heard), on hold (neither hears nor is heard), coaching
    one other leg (heard by that one only), or hearing only one other leg (what carries a coach's words to
    another engine)."""

    muted: bool = False
    hold: bool = False
    coaching: Seated | None = None
    only: Seated | None = None


class SimRoom:
    """A conference's audio: what one member's far end sends reaches every member that may hear it. A
    virtual phone's keys and words go as events; a real phone's audio is mixed, 20 ms at a time, into
    what each other real member hears (all but its own, as a conference bridge does)."""

    def __init__(self, on_speech: Callable[[Seated, dict[str, Any]], None] | None = None) -> None:
        self.seats: dict[Seated, Seat] = {}
        self.on_speech = on_speech  # told of each utterance a member's far end sends (speaker events)
        self._audio: dict[Seated, bytearray] = {}  # what each member sent, not mixed yet
        self._dry: set[Seated] = set()  # members with too little audio waiting to be heard smoothly
        self._ticking: asyncio.TimerHandle | None = None
        self._next = 0.0

    def add(self, leg: Seated, seat: Seat) -> None:
        leg.room = self
        self.seats[leg] = seat

    def seat(self, leg: Seated) -> Seat:
        return self.seats[leg]

    def remove(self, leg: Seated) -> None:
        self.seats.pop(leg, None)
        self._audio.pop(leg, None)
        self._dry.discard(leg)
        leg.room = None

    def _hears(self, listener: Seated, source: Seated) -> bool:
        seat, heard = self.seats.get(listener), self.seats.get(source)
        if seat is None or heard is None or listener is source or seat.hold or heard.muted or heard.hold:
            return False
        if seat.only is not None and seat.only is not source:
            return False
        return heard.coaching is None or heard.coaching is listener  # a coach is heard by its agent only

    def audio_from(self, source: Seated, pcm: bytes) -> None:
        """Audio a real member's far end sent; mixed on the room's next 20 ms."""
        if source not in self.seats:
            return
        pending = self._audio.setdefault(source, bytearray())
        if len(pending) < 10 * FRAME_BYTES:  # a member far ahead loses audio rather than lagging
            pending += pcm
        if self._ticking is None:
            loop = asyncio.get_running_loop()
            self._next = loop.time() + FRAME_SECONDS
            self._ticking = loop.call_at(self._next, self._tick)

    def _tick(self) -> None:
        frames = {}
        for leg, pending in self._audio.items():
            # Whole frames only, and a member that ran dry waits for two before it is heard again:
            # packets arrive unevenly, and a half-empty frame would be a click in everyone's ear.
            if len(pending) >= (2 if leg in self._dry else 1) * FRAME_BYTES:
                self._dry.discard(leg)
                frames[leg] = bytes(pending[:FRAME_BYTES])
                del pending[:FRAME_BYTES]
            else:
                self._dry.add(leg)
        for listener in list(self.seats):
            heard = [frame for source, frame in frames.items() if self._hears(listener, source)]
            if heard:
                mixed = heard[0]
                for frame in heard[1:]:
                    mixed = audio.mix(mixed, frame)
                listener.hear_audio(mixed)
        if not any(self._audio.values()):
            self._ticking = None
            return
        loop = asyncio.get_running_loop()
        self._next = max(self._next + FRAME_SECONDS, loop.time())
        self._ticking = loop.call_at(self._next, self._tick)

    def send(self, source: Seated, event: dict[str, Any]) -> None:
        seat = self.seats.get(source)
        if seat is None or seat.muted or seat.hold:
            return
        if self.on_speech is not None and ("speech" in event or "text" in event):
            self.on_speech(source, event)
        for leg, other in list(self.seats.items()):
            if leg is source or other.hold or (seat.coaching is not None and leg is not seat.coaching):
                continue
            if other.only is not None and other.only is not source:
                continue
            leg.to_far_end(event)
