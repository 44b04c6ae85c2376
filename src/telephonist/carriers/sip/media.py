"""RTP streams of SIP calls: one UDP socket per call, every stream's next 20 ms frame sent by one shared
clock, received packets through a jitter buffer to keys (RFC 4733) and audio."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import cast

from telephonist.carriers.audio import FRAME, MAX_BACKLOG, PTIME, Outbox
from telephonist.carriers.sip.sdp import Negotiated
from telephonist.media import g711
from telephonist.media.dtmf import ToneDetector
from telephonist.media.rtp import (
    EVENT_KEYS,
    DtmfEvent,
    JitterBuffer,
    RtpError,
    RtpPacket,
    Sender,
    is_rtcp,
    ntp_timestamp,
)

log = logging.getLogger("telephonist.sip.rtp")
REPORT_TICKS = 250  # an RTCP sender report every 5 s of sending
Addr = tuple[str, int]

_ENCODE = {"PCMU": g711.ulaw_encode, "PCMA": g711.alaw_encode}
_DECODE = {"PCMU": g711.ulaw_decode, "PCMA": g711.alaw_decode}


class Clock:
    """Sends the next frame of every active stream each 20 ms, scheduled on absolute times so that
    pacing does not drift with the loop's load."""

    def __init__(self) -> None:
        self.streams: set[RtpStream] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0.0

    def add(self, stream: RtpStream) -> None:
        self.streams.add(stream)
        if self._handle is None:
            loop = asyncio.get_running_loop()
            self._next = loop.time() + PTIME
            self._handle = loop.call_at(self._next, self._tick)

    def discard(self, stream: RtpStream) -> None:
        self.streams.discard(stream)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        for stream in list(self.streams):
            try:
                stream.tick()
            except Exception:  # one broken stream must not stop the others' media
                log.exception("RTP stream of %s failed", stream.call_sid)
                self.streams.discard(stream)
        if not self.streams:
            self._handle = None
            return
        self._next += PTIME
        now = loop.time()
        if self._next < now - 0.1:  # the loop was blocked for long: start over rather than burst
            self._next = now
        self._handle = loop.call_at(self._next, self._tick)


class RtpStream(asyncio.DatagramProtocol):
    """The media of one call leg. What is queued with `play` is sent frame by frame; silence otherwise
    (a steady stream keeps NAT bindings and the far end's jitter buffer happy)."""

    def __init__(self, clock: Clock, call_sid: str) -> None:
        self.clock = clock
        self.call_sid = call_sid
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.remote: Addr | None = None
        self.encoding = "PCMU"
        self.payload_type = 0
        self.dtmf_type: int | None = None
        self.tones: ToneDetector | None = None
        self.sender = Sender()
        self.jitter = JitterBuffer()
        self.sending = False
        self.outbox = Outbox()
        self._events: deque[RtpPacket] = deque()  # RFC 4733 packets to send, one a tick
        self._last_event: int | None = None  # timestamp of the last key received (its packets repeat)
        self.on_key: Callable[[str], None] = lambda key: None
        self.on_audio: Callable[[bytes], None] = lambda pcm: None
        self.on_sent: Callable[[bytes], None] | None = None  # each frame of audio sent, while recorded
        self.latched = False
        self._ticks = 0
        self.cname = f"telephonist-{secrets.token_hex(6)}"  # RFC 7022: a random CNAME a stream
        self.received = 0  # RTP packets
        self.peer = ""  # the far end's signalling host
        self.nat = False

    async def open(self, host: str, ports: tuple[int, int]) -> None:
        """Bind an even port of the range (RFC 3550 §11: RTP on even ports)."""
        loop = asyncio.get_running_loop()
        low, high = ports
        for _ in range(50):
            port = secrets.randbelow((high - low) // 2) * 2 + low
            # Bound here, not by the loop: a port in use then leaves no half-made transport behind.
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            await loop.create_datagram_endpoint(lambda: self, sock=sock)
            self.port = port
            return
        raise OSError(f"no free RTP port in {low}-{high}")

    def configure(self, negotiated: Negotiated, peer: str) -> None:
        """Send as `negotiated`. `peer` is the host the far end's SIP comes from: when its SDP names another
        address, the far end is behind NAT and its media is answered where it comes from (symmetric RTP,
        RFC 4961) — but only when it comes from `peer`, or anyone could take the call's audio."""
        self.peer = peer
        self.nat = negotiated.remote[0] != peer
        if not self.latched:
            self.remote = negotiated.remote
        self.encoding = negotiated.encoding
        self.payload_type = negotiated.payload_type
        self.dtmf_type = negotiated.dtmf_payload_type
        # Without RFC 4733 events the far end's keys can only be tones in its audio.
        self.tones = ToneDetector() if self.dtmf_type is None else None
        self.sending = negotiated.direction in ("sendrecv", "sendonly") and negotiated.remote[1] != 0

    def start(self) -> None:
        self.clock.add(self)

    def close(self) -> None:
        self.clock.discard(self)
        if self.transport is not None:
            self.transport.close()
        self.stop_playing()

    # -- sending ------------------------------------------------------------------------------------
    async def play(self, pcm: bytes) -> None:
        """Queue `pcm` and wait until it has been sent (or `stop_playing`)."""
        await self.outbox.play(pcm)

    def feed(self, pcm: bytes, limit: int | None = MAX_BACKLOG) -> None:
        """Audio from another leg (a bridge, a conference), sent as it comes (see `Outbox.feed`)."""
        self.outbox.feed(pcm, limit)

    def stop_playing(self) -> None:
        self.outbox.stop_playing()

    def send_keys(self, keys: str) -> None:
        for key in keys:
            self._events.extend(self.sender.dtmf(key, pt=self.dtmf_type or 101))

    def tick(self) -> None:
        if self._events:
            packet = self._events.popleft()
        else:
            frame = self.outbox.frame()
            if self.on_sent is not None:
                self.on_sent(frame)
            packet = self.sender.packet(_ENCODE[self.encoding](frame), FRAME, payload_type=self.payload_type)
        if self.sending and self.remote is not None and self.transport is not None:
            self.transport.sendto(bytes(packet), self.remote)
            self._ticks += 1
            if self._ticks % REPORT_TICKS == 0:
                # RFC 3550 §6.4.1: a sender report now and then, to the RTCP port beside the far end's RTP.
                report = self.sender.report(ntp_timestamp(time.time()), cname=self.cname)
                self.transport.sendto(bytes(report), (self.remote[0], self.remote[1] + 1))

    # -- receiving ----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        if is_rtcp(data):
            return
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return
        self.received += 1
        if addr != self.remote:
            if addr[0] != self.peer and (self.remote is None or addr[0] != self.remote[0]):
                return  # not from the far end
            if self.nat and addr[0] == self.peer:
                self.remote, self.latched = addr, True
        if packet.payload_type == self.dtmf_type:
            self._dtmf(packet)
            return
        if packet.payload_type != self.payload_type:
            return
        for ready in self.jitter.push(packet):
            pcm = _DECODE[self.encoding](ready.payload)
            if self.tones is not None:
                for key in self.tones.feed(pcm):
                    self.on_key(key)
            self.on_audio(pcm)

    def _dtmf(self, packet: RtpPacket) -> None:
        """One key per event: the first packet of a new timestamp reports it (its repeats and end
        packets carry the same timestamp)."""
        try:
            event = DtmfEvent.parse(packet.payload)
        except RtpError:
            return
        if packet.timestamp == self._last_event or event.event >= len(EVENT_KEYS):
            return
        self._last_event = packet.timestamp
        self.on_key(EVENT_KEYS[event.event])
