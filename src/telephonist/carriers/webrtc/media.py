"""The audio of a browser call over WebRTC (aiortc): call PCM in 20 ms frames to and from the browser's
Opus, resampled at the edge, with the `Media` interface audio legs use. The browser offers; we answer.

Keys come over the signalling channel (browsers send no RFC 4733 events to aiortc) and as tones in the
browser's audio, which the tone detector finds; keys to the browser are tones in what it hears.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import aioice.ice
import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from telephonist.carriers.audio import FRAME, FRAME_BYTES, MAX_BACKLOG, PTIME, Outbox
from telephonist.media import audio, dtmf

log = logging.getLogger("telephonist.webrtc")
_TIME_BASE = fractions.Fraction(1, audio.RATE)


class CallTrack(MediaStreamTrack):
    """What the browser hears: the next frame of the outbox every 20 ms. aiortc pulls frames once the
    connection is up, so what is queued before that waits instead of being lost."""

    kind = "audio"

    def __init__(self, media: PeerMedia) -> None:
        super().__init__()
        self.media = media
        self._next: float | None = None
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next is None or self._next < now - 0.1:  # first frame, or the loop was blocked: no burst
            self._next = now
        elif self._next > now:
            await asyncio.sleep(self._next - now)
        self._next += PTIME
        # Two equal channels: aiortc encodes stereo Opus, and its resampler would take a mono frame's
        # channel down 3 dB into each of the two.
        frame = av.AudioFrame(format="s16", layout="stereo", samples=FRAME)
        pcm = self.media.next_frame()
        frame.planes[0].update(audio.interleave(pcm, pcm))
        frame.sample_rate = audio.RATE
        frame.time_base = _TIME_BASE
        frame.pts = self._pts
        self._pts += FRAME
        return frame


_every_address = aioice.ice.get_host_addresses


def offer_address(address: str | None) -> None:
    """The address our ICE candidates offer browsers: `address`, or (None) every address of the machine
    but loopback, aioice's default. aioice takes no such setting, hence the replaced look-up (one per
    process, as the settings are)."""
    aioice.ice.get_host_addresses = (
        _every_address if address is None else (lambda use_ipv4, use_ipv6: [address])
    )


class PeerMedia:
    """One browser call's peer connection. `on_lost` is called when the connection fails or closes
    without our closing it."""

    def __init__(self, call_sid: str) -> None:
        self.call_sid = call_sid
        # Host candidates only: Telephonist and its browsers reach each other directly, and no STUN server
        # is asked (aiortc's default would be a public one).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.outbox = Outbox()
        self.track = CallTrack(self)
        self.tones = dtmf.ToneDetector()
        self.connected = asyncio.Event()
        self.on_key: Callable[[str], None] = lambda key: None
        self.on_audio: Callable[[bytes], None] = lambda pcm: None
        self.on_sent: Callable[[bytes], None] | None = None
        self.on_lost: Callable[[], None] = lambda: None
        self.received = 0  # frames of the browser's audio
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.pc.on("track", self._track)
        self.pc.on("connectionstatechange", self._state)

    async def answer(self, offer: str) -> str:
        """Our SDP answer to the browser's offer, with our ICE candidates in it (nothing trickles)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if not any(t.kind == "audio" for t in self.pc.getTransceivers()):
            raise ValueError("the offer has no audio")
        self.pc.addTrack(self.track)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def wait_connected(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self.connected.wait()
        except TimeoutError:
            return False
        return True

    def _state(self) -> None:
        state = self.pc.connectionState
        log.debug("call %s: WebRTC connection %s", self.call_sid, state)
        if state == "connected":
            self.connected.set()
        elif state in ("failed", "closed") and not self._closed:
            self.on_lost()

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        """The browser's audio (48 kHz Opus, decoded by aiortc) as call frames."""
        resampler = av.AudioResampler(format="s16", layout="mono", rate=audio.RATE)
        pending = bytearray()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            for out in resampler.resample(frame):
                pending += bytes(out.planes[0])[: out.samples * audio.WIDTH]
            while len(pending) >= FRAME_BYTES:
                pcm = bytes(pending[:FRAME_BYTES])
                del pending[:FRAME_BYTES]
                self.received += 1
                try:
                    for key in self.tones.feed(pcm):
                        self.on_key(key)
                    self.on_audio(pcm)
                except Exception:  # a fault of ours must not stop the call's audio
                    log.exception("call %s: the browser's audio could not be taken", self.call_sid)

    # -- the Media interface --------------------------------------------------------------------------
    def next_frame(self) -> bytes:
        frame = self.outbox.frame()
        if self.on_sent is not None:
            self.on_sent(frame)
        return frame

    async def play(self, pcm: bytes) -> None:
        await self.outbox.play(pcm)

    def feed(self, pcm: bytes, limit: int | None = MAX_BACKLOG) -> None:
        self.outbox.feed(pcm, limit)

    def stop_playing(self) -> None:
        self.outbox.stop_playing()

    def send_keys(self, keys: str) -> None:
        """Keys as a keypad sounds them: a tenth of a second of each key's tones, a tenth of quiet."""
        for key in keys.upper():
            if any(key in row for row in dtmf.KEYS):
                self.outbox.feed(dtmf.tone(key) + audio.silence(0.1), limit=None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.outbox.stop_playing()
        self.track.stop()
        self._spawn(self.pc.close())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
