"""RTP (RFC 3550) packets, RTCP sender reports and BYE, RFC 4733 telephone-events, and the state a media
leg keeps per stream: a jitter buffer for what it receives and a Sender for what it sends. Sans-IO."""

from __future__ import annotations

import secrets
import struct
from collections import deque
from dataclasses import dataclass

RTP_VERSION = 2
RTP_HEADER_LENGTH = 12
RTP_SEQ_MOD = 1 << 16
RTCP_HEADER_LENGTH = 4
RTCP_SR = 200
RTCP_SDES = 202
RTCP_BYE = 203
SDES_CNAME = 1
# RFC 5761 section 4: RTCP packet types 192-223 cannot be mistaken for RTP payload types 64-95 with marker.
RTCP_DEMUX_RANGE = range(192, 224)
# RFC 3550 appendix A.1: a jump beyond these is a restarted stream, not loss or reordering.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
# Seconds from the NTP epoch (1900) to the Unix epoch (1970).
NTP_UNIX_OFFSET = 2208988800

EVENT_KEYS = "0123456789*#ABCD"
DTMF_PAYLOAD_TYPE = 101
DTMF_VOLUME = 10  # -10 dBm0, the usual level of generated tones
DTMF_PACKET_MS = 20
DTMF_END_PACKETS = 3  # RFC 4733 2.5.1.4: the final packet is sent three times, in case one is lost


class RtpError(ValueError):
    pass


@dataclass
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None  # (profile, data), data a multiple of 4 bytes

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < RTP_HEADER_LENGTH:
            raise RtpError(f"RTP packet length is less than {RTP_HEADER_LENGTH} bytes")
        first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHLL", data)
        if first >> 6 != RTP_VERSION:
            raise RtpError("RTP packet has invalid version")
        pos = RTP_HEADER_LENGTH
        end = pos + 4 * (first & 0x0F)
        if len(data) < end:
            raise RtpError("RTP packet has truncated CSRC list")
        csrc = struct.unpack_from(f"!{first & 0x0F}L", data, pos)
        pos = end
        extension = None
        if first & 0x10:
            if len(data) < pos + 4:
                raise RtpError("RTP packet has truncated extension profile / length")
            profile, words = struct.unpack_from("!HH", data, pos)
            pos += 4
            if len(data) < pos + 4 * words:
                raise RtpError("RTP packet has truncated extension value")
            extension = (profile, bytes(data[pos : pos + 4 * words]))
            pos += 4 * words
        end = len(data)
        if first & 0x20:
            padding = data[-1]
            if not padding or padding > end - pos:
                raise RtpError("RTP packet padding length is invalid")
            end -= padding
        return cls(
            payload_type=second & 0x7F,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=bytes(data[pos:end]),
            marker=bool(second & 0x80),
            csrc=csrc,
            extension=extension,
        )

    def __bytes__(self) -> bytes:
        if not 0 <= self.payload_type <= 127:
            raise RtpError("RTP payload type must be 0 to 127")
        if len(self.csrc) > 15:
            raise RtpError("RTP packet can carry at most 15 CSRC")
        first = RTP_VERSION << 6 | (0x10 if self.extension is not None else 0) | len(self.csrc)
        second = (0x80 if self.marker else 0) | self.payload_type
        header = struct.pack(
            f"!BBHLL{len(self.csrc)}L", first, second, self.sequence, self.timestamp, self.ssrc, *self.csrc
        )
        if self.extension is not None:
            profile, value = self.extension
            if len(value) % 4:
                raise RtpError("RTP header extension length must be a multiple of 4")
            header += struct.pack("!HH", profile, len(value) // 4) + value
        return header + self.payload


def is_rtcp(data: bytes) -> bool:
    return len(data) >= 2 and data[1] in RTCP_DEMUX_RANGE


@dataclass
class DtmfEvent:
    event: int
    end: bool
    volume: int
    duration: int  # in timestamp units since the event began

    @classmethod
    def parse(cls, data: bytes) -> DtmfEvent:
        if len(data) < 4:
            raise RtpError("telephone-event payload length is less than 4 bytes")
        event, flags, duration = struct.unpack_from("!BBH", data)
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)

    def __bytes__(self) -> bytes:
        return struct.pack("!BBH", self.event, (0x80 if self.end else 0) | self.volume, self.duration)


def key_event(key: str) -> int:
    index = EVENT_KEYS.find(key.upper()) if len(key) == 1 else -1
    if index < 0:
        raise ValueError(f"not a DTMF key: {key!r}")
    return index


def ntp_timestamp(unix_time: float) -> int:
    """The 64-bit NTP timestamp (32.32 fixed point since 1900) of a Unix time, for sender reports."""
    return round((unix_time + NTP_UNIX_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def _rtcp_header(count: int, packet_type: int, body_length: int) -> bytes:
    # The length field counts 32-bit words minus one, header included.
    words = (RTCP_HEADER_LENGTH + body_length) // 4 - 1
    return struct.pack("!BBH", RTP_VERSION << 6 | count, packet_type, words)


@dataclass
class SenderReport:
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    # When set, written after the report as the SDES that RFC 3550 section 6.1 wants in every compound.
    cname: str | None = None

    def __bytes__(self) -> bytes:
        body = struct.pack(
            "!LQLLL", self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count, self.octet_count
        )
        packet = _rtcp_header(0, RTCP_SR, len(body)) + body
        if self.cname is None:
            return packet
        cname = self.cname.encode()
        if len(cname) > 255:
            raise RtpError("RTCP CNAME is longer than 255 bytes")
        chunk = struct.pack("!LBB", self.ssrc, SDES_CNAME, len(cname)) + cname
        chunk += b"\x00" * (4 - len(chunk) % 4)  # the item list ends with at least one null octet
        return packet + _rtcp_header(1, RTCP_SDES, len(chunk)) + chunk

    @classmethod
    def parse(cls, data: bytes) -> SenderReport:
        report: SenderReport | None = None
        pos = 0
        while pos < len(data):
            if len(data) < pos + RTCP_HEADER_LENGTH:
                raise RtpError("RTCP packet length is less than 4 bytes")
            first, packet_type, words = struct.unpack_from("!BBH", data, pos)
            end = pos + 4 * (words + 1)
            if first >> 6 != RTP_VERSION:
                raise RtpError("RTCP packet has invalid version")
            if end > len(data):
                raise RtpError("RTCP packet length is invalid")
            if report is None:
                if packet_type != RTCP_SR:
                    raise RtpError("RTCP packet is not a sender report")
                if end - pos < 28:
                    raise RtpError("RTCP sender report is truncated")
                report = cls(*struct.unpack_from("!LQLLL", data, pos + RTCP_HEADER_LENGTH))
            elif packet_type == RTCP_SDES and report.cname is None:
                report.cname = _sdes_cname(data[pos + RTCP_HEADER_LENGTH : end], first & 0x1F, report.ssrc)
            pos = end
        if report is None:
            raise RtpError("RTCP packet length is less than 4 bytes")
        return report


def _sdes_cname(body: bytes, chunks: int, ssrc: int) -> str | None:
    pos = 0
    for _ in range(chunks):
        if len(body) < pos + 4:
            raise RtpError("RTCP SDES chunk is truncated")
        (source,) = struct.unpack_from("!L", body, pos)
        pos += 4
        cname = None
        while pos < len(body) and body[pos]:
            if len(body) < pos + 2 or len(body) < pos + 2 + body[pos + 1]:
                raise RtpError("RTCP SDES chunk is truncated")
            if body[pos] == SDES_CNAME:
                cname = body[pos + 2 : pos + 2 + body[pos + 1]].decode(errors="replace")
            pos += 2 + body[pos + 1]
        pos = (pos // 4 + 1) * 4  # past the null octets to the next 32-bit boundary
        if source == ssrc and cname is not None:
            return cname
    return None


def rtcp_bye(ssrc: int) -> bytes:
    return _rtcp_header(1, RTCP_BYE, 4) + struct.pack("!L", ssrc)


def _seq_delta(a: int, b: int) -> int:
    """How far sequence number a is ahead of b (negative: behind), across the 16-bit wrap."""
    return (a - b + RTP_SEQ_MOD // 2) % RTP_SEQ_MOD - RTP_SEQ_MOD // 2


class JitterBuffer:
    """Holds `depth` packets so that packets reordered within that window come out in order.

    A gap still open when a later packet must be released counts as `lost`; a packet arriving after its
    place was given up counts as `late`, one already released as a duplicate, and either is dropped.
    """

    def __init__(self, depth: int = 3) -> None:
        self.depth = depth
        self.lost = 0
        self.late = 0
        self.duplicates = 0
        self._packets: dict[int, RtpPacket] = {}
        self._next: int | None = None  # the sequence number the next release should have
        self._ssrc: int | None = None
        self._released: deque[int] = deque(maxlen=MAX_MISORDER)

    def push(self, packet: RtpPacket) -> list[RtpPacket]:
        ready: list[RtpPacket] = []
        if self._next is not None:
            delta = _seq_delta(packet.sequence, self._next)
            if packet.ssrc != self._ssrc or not -MAX_MISORDER <= delta < MAX_DROPOUT:
                # A new source or a restarted sequence (re-INVITE, transfer): play the old one out first.
                ready = self.flush()
                self._next = None
                self._released.clear()
            elif packet.sequence in self._packets:
                self.duplicates += 1
                return []
            elif delta < 0:
                if packet.sequence in self._released:
                    self.duplicates += 1
                else:
                    self.late += 1
                return []
        if self._next is None:
            self._next, self._ssrc = packet.sequence, packet.ssrc
        self._packets[packet.sequence] = packet
        while len(self._packets) > self.depth:
            ready.append(self._release())
        return ready

    def flush(self) -> list[RtpPacket]:
        return [self._release() for _ in range(len(self._packets))]

    def _release(self) -> RtpPacket:
        assert self._next is not None
        expected = self._next
        sequence = min(self._packets, key=lambda s: _seq_delta(s, expected))
        self.lost += _seq_delta(sequence, expected)
        self._next = (sequence + 1) % RTP_SEQ_MOD
        self._released.append(sequence)
        return self._packets.pop(sequence)


class Sender:
    """Sequence number, timestamp and counters of one outgoing stream, started at random (RFC 3550 5.1)."""

    def __init__(self, payload_type: int = 0, clock_rate: int = 8000, ssrc: int | None = None) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16)
        self.timestamp = secrets.randbits(32)
        self.packet_count = 0
        self.octet_count = 0

    def packet(
        self, payload: bytes, samples: int, marker: bool = False, payload_type: int | None = None
    ) -> RtpPacket:
        packet = self._packet(payload, marker, self.payload_type if payload_type is None else payload_type)
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        return packet

    def dtmf(self, key: str, duration_ms: int = 100, pt: int = DTMF_PAYLOAD_TYPE) -> list[RtpPacket]:
        """The packets of one key press, to be sent 20 ms apart in place of audio."""
        event = key_event(key)
        step = self.clock_rate * DTMF_PACKET_MS // 1000
        updates = max(1, -(-duration_ms // DTMF_PACKET_MS))
        if updates * step > 0xFFFF:
            raise ValueError(f"DTMF duration is too long: {duration_ms} ms")
        durations = [step * n for n in range(1, updates)] + [step * updates] * DTMF_END_PACKETS
        packets = [
            self._packet(bytes(DtmfEvent(event, n >= updates - 1, DTMF_VOLUME, d)), n == 0, pt)
            for n, d in enumerate(durations)
        ]
        # Every packet of the event carries its start time; the clock then moves on by the time the
        # packets took to send, so that the audio after them keeps pace with the wall clock.
        self.timestamp = (self.timestamp + step * len(packets)) & 0xFFFFFFFF
        return packets

    def report(self, ntp_timestamp: int, cname: str | None = None) -> SenderReport:
        return SenderReport(
            self.ssrc, ntp_timestamp, self.timestamp, self.packet_count, self.octet_count, cname
        )

    def _packet(self, payload: bytes, marker: bool, payload_type: int) -> RtpPacket:
        packet = RtpPacket(payload_type, self.sequence, self.timestamp, self.ssrc, payload, marker)
        self.sequence = (self.sequence + 1) % RTP_SEQ_MOD
        self.packet_count += 1
        self.octet_count += len(payload)
        return packet
