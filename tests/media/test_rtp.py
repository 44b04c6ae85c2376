"""RTP, RTCP and RFC 4733 events: golden packets written out by hand from the RFCs' layouts, exact round
trips, every parse error, the jitter buffer's reordering and counters, and the sender's clocks."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephonist.media.rtp import (
    EVENT_KEYS,
    DtmfEvent,
    JitterBuffer,
    RtpError,
    RtpPacket,
    Sender,
    SenderReport,
    is_rtcp,
    key_event,
    ntp_timestamp,
    rtcp_bye,
)


def h(text: str) -> bytes:
    """Hex with spaces, line breaks and `#` comments, laid out one 32-bit word a line as the RFCs draw it."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))


PCMU_FRAME = bytes(range(160))

PCMU = (
    h("""
    80 00 1a 2b   # V=2, no padding/extension/CSRC; M=0, PT=0 (PCMU); sequence 6699
    00 00 a0 00   # timestamp 40960
    12 34 56 78   # SSRC
""")
    + PCMU_FRAME
)

DTMF_START = h("""
    80 e5 1a 2c   # M=1, PT=101
    00 00 a0 a0   # timestamp 41120
    12 34 56 78
    05 0a 00 a0   # event 5, E=0, volume 10, duration 160
""")

FULL = h("""
    92 88 ff ff   # V=2, X=1, CC=2; M=1, PT=8 (PCMA); sequence 65535
    ff ff ff ff   # timestamp 2^32 - 1
    de ad be ef   # SSRC
    00 00 00 01   # CSRC 1
    00 00 00 02   # CSRC 2
    be de 00 01   # RFC 8285 one-byte extension profile, one word
    10 7f 00 00   # audio level (id 1, one byte), two bytes of padding
    d5 d5 d5 d5   # payload
""")


def test_golden_packets() -> None:
    assert RtpPacket.parse(PCMU) == RtpPacket(0, 6699, 40960, 0x12345678, PCMU_FRAME)
    assert RtpPacket.parse(DTMF_START) == RtpPacket(101, 6700, 41120, 0x12345678, h("05 0a 00 a0"), True)
    assert RtpPacket.parse(FULL) == RtpPacket(
        payload_type=8,
        sequence=65535,
        timestamp=0xFFFFFFFF,
        ssrc=0xDEADBEEF,
        payload=b"\xd5" * 4,
        marker=True,
        csrc=(1, 2),
        extension=(0xBEDE, h("10 7f 00 00")),
    )
    for data in (PCMU, DTMF_START, FULL):
        assert bytes(RtpPacket.parse(data)) == data


def test_padding_is_stripped() -> None:
    padded = h("a0 00 00 01  00 00 00 02  00 00 00 03  ff fe 00 00 00 04")
    packet = RtpPacket.parse(padded)
    assert packet.payload == b"\xff\xfe"
    assert bytes(packet) == h("80 00 00 01  00 00 00 02  00 00 00 03  ff fe")
    # Padding only (a keep-alive some endpoints send): an empty payload.
    assert RtpPacket.parse(h("a0 00 00 01  00 00 00 02  00 00 00 03  00 00 00 04")).payload == b""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTP packet length is less than 12 bytes"),
        (PCMU[:11], "RTP packet length is less than 12 bytes"),
        (b"\x40" + PCMU[1:], "RTP packet has invalid version"),
        (b"\x00" * 12, "RTP packet has invalid version"),
        (b"\x81" + PCMU[1:12] + b"\x00\x00", "RTP packet has truncated CSRC list"),
        (b"\x90" + PCMU[1:12] + b"\xbe\xde", "RTP packet has truncated extension profile / length"),
        (b"\x90" + PCMU[1:12] + h("be de 00 02 00 00 00 00"), "RTP packet has truncated extension value"),
        (b"\xa0" + PCMU[1:12] + b"\x01\x00", "RTP packet padding length is invalid"),
        (b"\xa0" + PCMU[1:12] + b"\x01\x03", "RTP packet padding length is invalid"),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(RtpError) as caught:
        RtpPacket.parse(data)
    assert str(caught.value) == message


def test_unwritable_packets() -> None:
    with pytest.raises(RtpError, match="^RTP payload type must be 0 to 127$"):
        bytes(RtpPacket(128, 0, 0, 0))
    with pytest.raises(RtpError, match="^RTP packet can carry at most 15 CSRC$"):
        bytes(RtpPacket(0, 0, 0, 0, csrc=tuple(range(16))))
    with pytest.raises(RtpError, match="^RTP header extension length must be a multiple of 4$"):
        bytes(RtpPacket(0, 0, 0, 0, extension=(0xBEDE, b"\x10\x7f")))


def test_is_rtcp() -> None:
    assert is_rtcp(rtcp_bye(1))
    assert is_rtcp(h("81 c9 00 07"))  # receiver report
    assert not is_rtcp(PCMU)
    assert not is_rtcp(DTMF_START)  # marker + PT 101 is 229, outside 192-223
    assert not is_rtcp(h("80 e0"))  # marker + PT 96 is 224, the first byte past RTCP's range
    assert not is_rtcp(b"\x80")


def test_dtmf_event() -> None:
    assert DtmfEvent.parse(h("05 0a 00 a0")) == DtmfEvent(5, False, 10, 160)
    assert DtmfEvent.parse(h("0b 8a 03 20")) == DtmfEvent(11, True, 10, 800)
    assert bytes(DtmfEvent(11, True, 10, 800)) == h("0b 8a 03 20")
    # The reserved bit is ignored on receipt.
    assert DtmfEvent.parse(h("01 c0 00 00")) == DtmfEvent(1, True, 0, 0)
    with pytest.raises(RtpError, match="^telephone-event payload length is less than 4 bytes$"):
        DtmfEvent.parse(b"\x01\x80\x00")


def test_key_event() -> None:
    assert [key_event(k) for k in EVENT_KEYS] == list(range(16))
    assert key_event("#") == 11
    assert key_event("a") == 12
    for bad in ("", "E", "12", "w"):
        with pytest.raises(ValueError, match="^not a DTMF key: "):
            key_event(bad)


SENDER_REPORT = h("""
    80 c8 00 06   # V=2, RC=0, PT=200 (SR), length 6
    12 34 56 78   # SSRC
    e9 4f 5e 00   # NTP timestamp, seconds
    80 00 00 00   #   and fraction (one half)
    00 00 a0 00   # RTP timestamp
    00 00 00 64   # packet count 100
    00 00 3e 80   # octet count 16000
""")

SDES = h("""
    81 ca 00 04   # V=2, SC=1, PT=202 (SDES), length 4
    12 34 56 78   # SSRC
    01 09 74 65   # CNAME, 9 bytes: "te
    6c 65 70 68   # leph
    6f 6e 65 00   # one" then the terminating null octet
""")


def test_sender_report_golden() -> None:
    report = SenderReport(0x12345678, 0xE94F5E0080000000, 40960, 100, 16000)
    assert bytes(report) == SENDER_REPORT
    assert SenderReport.parse(SENDER_REPORT) == report
    report.cname = "telephone"
    assert bytes(report) == SENDER_REPORT + SDES
    assert SenderReport.parse(SENDER_REPORT + SDES) == report


def test_sender_report_skips_report_blocks_and_other_packets() -> None:
    block = h("aa aa aa aa  00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00")
    with_block = h("81 c8 00 0c") + SENDER_REPORT[4:] + block
    other_sdes = h("81 ca 00 02  99 99 99 99  01 01 78 00")  # a CNAME of another source
    report = SenderReport.parse(with_block + other_sdes + SDES + rtcp_bye(0x12345678))
    assert (report.ssrc, report.packet_count, report.cname) == (0x12345678, 100, "telephone")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTCP packet length is less than 4 bytes"),
        (b"\x80\xc8", "RTCP packet length is less than 4 bytes"),
        (b"\x40" + SENDER_REPORT[1:], "RTCP packet has invalid version"),
        (SENDER_REPORT[:-4], "RTCP packet length is invalid"),
        (h("80 c8 00 01 12 34 56 78"), "RTCP sender report is truncated"),
        (h("80 c9 00 01 12 34 56 78"), "RTCP packet is not a sender report"),
        (SENDER_REPORT + SDES[:-4], "RTCP packet length is invalid"),
        (SENDER_REPORT + h("82 ca 00 01 12 34 56 78"), "RTCP SDES chunk is truncated"),
        (SENDER_REPORT + h("81 ca 00 02 12 34 56 78 01 09 74 65"), "RTCP SDES chunk is truncated"),
    ],
)
def test_sender_report_errors(data: bytes, message: str) -> None:
    with pytest.raises(RtpError) as caught:
        SenderReport.parse(data)
    assert str(caught.value) == message


def test_cname_too_long() -> None:
    with pytest.raises(RtpError, match="^RTCP CNAME is longer than 255 bytes$"):
        bytes(SenderReport(1, 0, 0, 0, 0, "x" * 256))


def test_bye_and_ntp() -> None:
    assert rtcp_bye(0x12345678) == h("81 cb 00 01 12 34 56 78")
    assert ntp_timestamp(0.0) == 2208988800 << 32
    assert ntp_timestamp(1.5) == (2208988801 << 32) | 0x80000000


# -- jitter buffer ----------------------------------------------------------------------------------


def pkt(sequence: int, ssrc: int = 7) -> RtpPacket:
    return RtpPacket(0, sequence % 65536, 160 * sequence, ssrc, sequence.to_bytes(4, "big", signed=True))


def run(buffer: JitterBuffer, sequences: list[int], ssrc: int = 7) -> list[int]:
    out = [p for s in sequences for p in buffer.push(pkt(s, ssrc))]
    return [p.sequence for p in out]


def test_jitter_buffer_holds_depth_packets() -> None:
    buffer = JitterBuffer()
    assert run(buffer, [10, 11, 12]) == []
    assert run(buffer, [13]) == [10]
    assert run(buffer, [14]) == [11]
    assert [p.sequence for p in buffer.flush()] == [12, 13, 14]
    assert buffer.flush() == []
    assert (buffer.lost, buffer.late, buffer.duplicates) == (0, 0, 0)


def test_jitter_buffer_reorders_within_depth() -> None:
    buffer = JitterBuffer()
    assert run(buffer, [1, 3, 2, 5, 4, 6, 8, 7]) == [1, 2, 3, 4, 5]
    assert [p.sequence for p in buffer.flush()] == [6, 7, 8]
    assert buffer.lost == 0


def test_jitter_buffer_counts_loss_late_and_duplicates() -> None:
    buffer = JitterBuffer(depth=2)
    # 2 comes again while held and again once released; 3 is given up when 6 arrives, so comes too late.
    assert run(buffer, [1, 2, 2, 4, 5, 6, 2, 3]) == [1, 2, 4]
    assert (buffer.lost, buffer.late, buffer.duplicates) == (1, 1, 2)


def test_jitter_buffer_wraps_around() -> None:
    buffer = JitterBuffer()
    assert run(buffer, [65534, 0, 65535, 1, 3, 2]) == [65534, 65535, 0]
    assert [p.sequence for p in buffer.flush()] == [1, 2, 3]
    assert buffer.lost == 0


def test_jitter_buffer_depth_zero_passes_through() -> None:
    buffer = JitterBuffer(depth=0)
    assert run(buffer, [5, 6, 8, 7]) == [5, 6, 8]
    assert (buffer.lost, buffer.late) == (1, 1)


def test_jitter_buffer_restarts_on_new_source_or_jump() -> None:
    buffer = JitterBuffer()
    assert run(buffer, [100, 101]) == []
    # A new SSRC (a transfer): the old packets play out first, the new stream starts from its own first.
    assert run(buffer, [9000], ssrc=8) == [100, 101]
    assert run(buffer, [9001, 9002, 9003], ssrc=8) == [9000]
    # A jump of the sequence far beyond a dropout (a sender restarting its counter) is no loss.
    assert run(buffer, [20000], ssrc=8) == [9001, 9002, 9003]
    assert run(buffer, [19000], ssrc=8) == [20000]
    assert (buffer.lost, buffer.late, buffer.duplicates) == (0, 0, 0)


@given(st.permutations(range(40)), st.integers(0, 65535))
def test_jitter_buffer_releases_in_order(order: list[int], start: int) -> None:
    buffer = JitterBuffer(depth=3)
    released = run(buffer, [start + s for s in order]) + [p.sequence for p in buffer.flush()]
    deltas = [(s - start) % 65536 for s in released]
    assert deltas == sorted(set(deltas))
    assert len(released) + buffer.late + buffer.duplicates == 40
    # Packets older than the first one pushed are late without ever having been expected.
    assert buffer.lost == deltas[-1] - deltas[0] + 1 - len(deltas)


# -- sender -----------------------------------------------------------------------------------------


def test_sender_starts_at_random() -> None:
    a, b = Sender(), Sender()
    assert (a.ssrc, a.sequence, a.timestamp) != (b.ssrc, b.sequence, b.timestamp)
    assert Sender(ssrc=42).ssrc == 42


def test_sender_packets_advance_and_wrap() -> None:
    sender = Sender(payload_type=8, ssrc=1)
    sender.sequence, sender.timestamp = 65535, 0xFFFFFF60
    first = sender.packet(b"\xd5" * 160, 160, marker=True)
    second = sender.packet(b"\xd5" * 160, 160, payload_type=13)
    assert (first.sequence, first.timestamp, first.payload_type, first.marker) == (65535, 0xFFFFFF60, 8, True)
    assert (second.sequence, second.timestamp, second.payload_type, second.marker) == (0, 0, 13, False)
    assert (sender.sequence, sender.timestamp, sender.packet_count, sender.octet_count) == (1, 0xA0, 2, 320)


def test_sender_dtmf() -> None:
    sender = Sender(ssrc=1)
    sender.sequence, sender.timestamp = 100, 8000
    packets = sender.dtmf("#", duration_ms=100)
    events = [DtmfEvent.parse(p.payload) for p in packets]
    assert [p.sequence for p in packets] == list(range(100, 107))
    assert {p.timestamp for p in packets} == {8000}
    assert {p.payload_type for p in packets} == {101}
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert {(e.event, e.volume) for e in events} == {(11, 10)}
    # The clock moves on by the 7 packets' 140 ms, and the next audio packet starts there.
    assert sender.packet(b"", 160).timestamp == 8000 + 7 * 160
    assert (sender.packet_count, sender.octet_count) == (8, 28)


def test_sender_short_dtmf_and_limits() -> None:
    sender = Sender()
    packets = sender.dtmf("1", duration_ms=20, pt=96)
    assert [(p.marker, p.payload_type, DtmfEvent.parse(p.payload)) for p in packets] == [
        (True, 96, DtmfEvent(1, True, 10, 160)),
        (False, 96, DtmfEvent(1, True, 10, 160)),
        (False, 96, DtmfEvent(1, True, 10, 160)),
    ]
    with pytest.raises(ValueError, match="^DTMF duration is too long: 9000 ms$"):
        sender.dtmf("1", duration_ms=9000)
    with pytest.raises(ValueError, match="^not a DTMF key: 'x'$"):
        sender.dtmf("x")


def test_sender_report() -> None:
    sender = Sender(ssrc=5)
    sender.timestamp = 1000
    sender.packet(b"abc", 160)
    assert sender.report(99, cname="x") == SenderReport(5, 99, 1160, 1, 3, "x")


# -- properties -------------------------------------------------------------------------------------

u32 = st.integers(0, 0xFFFFFFFF)
packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=64),
    marker=st.booleans(),
    csrc=st.lists(u32, max_size=15).map(tuple),
    extension=st.none() | st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=16).map(lambda b: b * 4)),
)


@given(packets)
def test_packet_round_trip(packet: RtpPacket) -> None:
    assert RtpPacket.parse(bytes(packet)) == packet


@given(st.binary(max_size=80))
def test_parse_raises_only_rtp_error(data: bytes) -> None:
    for parse in (RtpPacket.parse, SenderReport.parse, DtmfEvent.parse):
        try:
            parse(data)
        except RtpError:
            pass


@given(st.binary(max_size=40), st.integers(0, 15), st.integers(0, 255))
def test_parse_of_rtcp_looking_data_raises_only_rtp_error(body: bytes, count: int, length: int) -> None:
    for packet_type in (200, 202):
        try:
            SenderReport.parse(SENDER_REPORT + struct.pack("!BBH", 0x80 | count, packet_type, length) + body)
        except RtpError:
            pass


@given(u32, st.integers(0, 2**64 - 1), u32, u32, u32, st.none() | st.text(max_size=60))
def test_sender_report_round_trip(
    ssrc: int, ntp: int, rtp: int, packets: int, octets: int, cname: str | None
) -> None:
    report = SenderReport(ssrc, ntp, rtp, packets, octets, cname)
    assert SenderReport.parse(bytes(report)) == report
