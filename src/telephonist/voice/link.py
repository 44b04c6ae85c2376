"""A call's side of a link between two engines: another engine's side of a conference room or of a
bridge, seated in this engine's mixer (carriers/sim's SimRoom) like a participant. What the members here
say reaches it and goes to the other engine over LISTEN/NOTIFY (relay.py); what arrives from there is put
in the mixer as said by it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

from telephonist.media import g711

AUDIO_BATCH = 0.1  # seconds of audio sent to the other engine at a time


class Peer:
    """Another engine's side, in this engine's mixer: `send` carries a message to it. A conference over
    several engines links each satellite to the home only, which passes on to each what the others said
    (a star: nothing is heard twice)."""

    room: Any = None

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self.send = send
        self._pcm = bytearray()
        self._flush: asyncio.TimerHandle | None = None

    def to_far_end(self, event: dict[str, Any]) -> None:
        self.send({"op": "event", "event": event})

    def hear_audio(self, pcm: bytes) -> None:
        self._pcm += pcm
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(AUDIO_BATCH, self._send_audio)

    def _send_audio(self) -> None:
        self._flush = None
        pcm, self._pcm = bytes(self._pcm), bytearray()
        self.send({"op": "audio", "pcm": base64.b64encode(g711.ulaw_encode(pcm)).decode()})

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def received(self, mixer: Any, message: dict[str, Any]) -> None:
        """What the other side sent (an `event` or `audio`), into `mixer` as said by it."""
        if message["op"] == "event":
            mixer.send(self, message["event"])
        elif message["op"] == "audio":
            mixer.audio_from(self, g711.ulaw_decode(base64.b64decode(message["pcm"])))
