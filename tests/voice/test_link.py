"""Two engines' sides of one room, linked in process (tests/nodes/test_across_engines.py links them over
PostgreSQL): a real phone's audio on one side reaches the members of the other, a tenth of a second at a
time, and a muted member's does not; a virtual phone's words go both ways."""

from __future__ import annotations

import asyncio
import base64
import math
from array import array
from typing import Any

from telephonist.carriers.sim.network import Seat, SimRoom
from telephonist.media import g711
from telephonist.voice.link import AUDIO_BATCH, Peer

FRAME = 320


class Phone:
    """A member with real audio: what it hears, frame by frame."""

    room: Any = None

    def __init__(self) -> None:
        self.heard: list[bytes] = []
        self.events: list[dict[str, Any]] = []

    def to_far_end(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def hear_audio(self, pcm: bytes) -> None:
        self.heard.append(pcm)


def tone(frames: int) -> bytes:
    return array(
        "h", (round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(frames * 160))
    ).tobytes()


def linked() -> tuple[SimRoom, SimRoom]:
    """Rooms `a` and `b`, each with the other's side seated in it; what one's peer sends the other takes."""
    a, b = SimRoom(), SimRoom()
    peers: dict[str, Peer] = {}

    def deliver(to: SimRoom, name: str) -> Any:
        def send(message: dict[str, Any]) -> None:
            peers[name].received(to, message)

        return send

    peers["a"], peers["b"] = Peer(deliver(b, "b")), Peer(deliver(a, "a"))
    a.add(peers["a"], Seat())  # a's link to b: what a's members say goes to b
    b.add(peers["b"], Seat())
    return a, b


def test_audio_and_words_cross_to_the_other_engine() -> None:
    asyncio.run(_cross())


async def _cross() -> None:
    a, b = linked()
    speaker, muted, listener, neighbour = Phone(), Phone(), Phone(), Phone()
    a.add(speaker, Seat())  # type: ignore[arg-type]
    a.add(muted, Seat(muted=True))  # type: ignore[arg-type]
    b.add(listener, Seat())  # type: ignore[arg-type]
    b.add(neighbour, Seat())  # type: ignore[arg-type]
    sent = tone(25)
    for i in range(25):  # half a second, paced as a phone sends it
        a.audio_from(speaker, sent[i * FRAME : (i + 1) * FRAME])  # type: ignore[arg-type]
        a.audio_from(muted, tone(1))  # type: ignore[arg-type]
        await asyncio.sleep(0.02)
    await asyncio.sleep(AUDIO_BATCH * 4)
    got = b"".join(listener.heard)
    assert len(got) >= 20 * FRAME  # all but what the batching and jitter hold back
    # μ-law on the way: the same tone, within its quantisation
    samples, expected = array("h", got), array("h", g711.ulaw_decode(g711.ulaw_encode(sent)))
    start = next(i for i in range(len(expected)) if samples[:160] == expected[i : i + 160])
    assert samples[:4000] == expected[start : start + 4000]
    assert b"".join(neighbour.heard) == got  # every member of the other side hears it
    assert speaker.heard == [] and listener.events == []

    b.send(listener, {"from": "+15551230001", "speech": "over here"})  # type: ignore[arg-type]
    assert speaker.events == [{"from": "+15551230001", "speech": "over here"}]
    assert muted.events == speaker.events and neighbour.events == speaker.events


def test_a_coach_is_heard_on_the_other_engine_by_the_coached_one_alone() -> None:
    asyncio.run(_whisper())


async def _whisper() -> None:
    """As voice/conference.py links a coach to a participant on another engine: a link on the coach's
    side that hears the coach alone, and one on the coached one's side heard by that one alone."""
    a, b = linked()
    coach, caller, agent, customer = Phone(), Phone(), Phone(), Phone()
    a.add(caller, Seat())  # type: ignore[arg-type]
    b.add(agent, Seat())  # type: ignore[arg-type]
    b.add(customer, Seat())  # type: ignore[arg-type]
    deaf = Phone()  # never speaks: what the coached side's link listens to
    whisperer = Peer(lambda message: None)
    b.add(whisperer, Seat(coaching=agent, only=deaf))  # type: ignore[arg-type]
    whispered: list[bytes] = []

    def carry(message: dict[str, Any]) -> None:
        if message["op"] == "audio":
            whispered.append(g711.ulaw_decode(base64.b64decode(message["pcm"])))
        whisperer.received(b, message)

    whisper = Peer(carry)
    a.add(whisper, Seat(only=coach))  # type: ignore[arg-type]
    a.add(coach, Seat(coaching=whisper))  # type: ignore[arg-type]
    said, hum = tone(25), array("h", [3000] * 160).tobytes()
    for i in range(25):  # the coach and, at the same time, the caller (a constant hum) speak
        a.audio_from(coach, said[i * FRAME : (i + 1) * FRAME])  # type: ignore[arg-type]
        a.audio_from(caller, hum)  # type: ignore[arg-type]
        await asyncio.sleep(0.02)
    await asyncio.sleep(AUDIO_BATCH * 4)
    # What crossed for the coached one is the coach's voice alone, none of the caller's.
    samples = array("h", b"".join(whispered))
    expected = array("h", g711.ulaw_decode(g711.ulaw_encode(said)))
    assert len(samples) >= 20 * 160
    start = next(i for i in range(len(expected)) if samples[:160] == expected[i : i + 160])
    assert samples[:3000] == expected[start : start + 3000]
    assert len(b"".join(agent.heard)) >= 20 * FRAME and caller.heard == []
    # The customer hears the caller's hum and nothing of the coach.
    assert customer.heard
    assert set(array("h", b"".join(customer.heard))) == set(
        array("h", g711.ulaw_decode(g711.ulaw_encode(hum)))
    )
    a.send(coach, {"from": "+15551230009", "speech": "offer the discount"})  # type: ignore[arg-type]
    assert agent.events == [{"from": "+15551230009", "speech": "offer the discount"}]
    assert customer.events == [] and caller.events == []
