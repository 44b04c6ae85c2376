"""Two engines' sides of one room, linked in process (tests/nodes/test_across_engines.py links them over
PostgreSQL): a real phone's audio on one side reaches the members of the other, a tenth of a second at a
time, and a muted member's does not; a virtual phone's words go both ways."""

from __future__ import annotations

import asyncio
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
