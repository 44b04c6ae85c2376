"""Fuzz the SIP codec with the RFC 4475 / RFC 3261 messages of tests/carriers/sip: mutated messages parse or
raise SipError; what parses writes out and parses back the same; a valid stream cut anywhere frames alike."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from carriers.sip.test_message import (
    ESC01,
    ESC02,
    ESCNULL,
    F1_INVITE,
    F2_407,
    F8_180,
    F14_BYE,
    INTMETH,
    IPV6,
    LWSDISP,
    NOREASON,
    SEMIURI,
    TRANSPORTS,
    UNREASON,
    WSINV,
)
from telephonist.carriers.sip.message import (
    Message,
    NameAddr,
    Request,
    SipError,
    StreamParser,
    Uri,
    Via,
    parse,
    parse_auth,
)

from ._support import bounded

SEEDS = [WSINV, INTMETH, ESC01, ESC02, ESCNULL, LWSDISP, SEMIURI, TRANSPORTS, NOREASON, UNREASON, IPV6]
SEEDS += [F1_INVITE, F2_407, F8_180, F14_BYE]
STATUSES = {400, 413, 416, 505, 513}  # the responses SipError documents


def fields(message: Message) -> tuple[object, ...]:
    """What a message says, minus Content-Length, which writing it out sets from the body."""
    start = (
        (message.method, message.uri) if isinstance(message, Request) else (message.status, message.reason)
    )
    headers = [(name, value) for name, value in message.headers.items() if name != "Content-Length"]
    return (type(message), start, headers, message.body)


def parses_or_sip_error(data: bytes) -> Message | None:
    try:
        message = parse(data)
    except SipError as error:
        assert error.status in STATUSES, error
        return None
    written = bytes(message)
    again = parse(written)  # what we write, we read back: same message, same bytes
    assert fields(again) == fields(message)
    assert bytes(again) == written
    return message


def header_values_round_trip(message: Message) -> None:
    """The header values a user agent reads: parse or SipError, and what parses prints and re-parses equal."""
    readers = {"Via": Via.parse, "From": NameAddr.parse, "To": NameAddr.parse, "Contact": NameAddr.parse}
    readers |= {"Route": NameAddr.parse, "Record-Route": NameAddr.parse}
    for name, read in readers.items():
        for value in message.headers.get_all(name):
            if value == "*":  # Contact: * (REGISTER's remove-all) is no name-addr
                continue
            try:
                parsed = read(value)
            except SipError as error:
                assert error.status in STATUSES, error
                continue
            assert read(str(parsed)) == parsed, value
    for name in ("WWW-Authenticate", "Proxy-Authenticate", "Authorization", "Proxy-Authorization"):
        for value in message.headers.get_all(name):
            try:
                parse_auth(value)
            except SipError as error:
                assert error.status in STATUSES, error
    if isinstance(message, Request) and message.uri.lower().startswith(("sip:", "sips:")):
        uri = Uri.parse(message.uri)  # the start line checked it already
        assert Uri.parse(str(uri)) == uri


def mutate_lines(data: bytes, edits: list[tuple[int, int, str, bytes]]) -> bytes:
    """Line-level edits of the header section: drop, duplicate, swap, fold, upper-case or rewrite a value."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for i, j, kind, chunk in edits:
        i, j = i % len(lines), j % len(lines)
        if kind == "drop" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(j, lines[i])
        elif kind == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "fold":
            lines[i] = lines[i].replace(b" ", b"\r\n ", 1)
        elif kind == "upper":
            lines[i] = lines[i].upper()
        elif kind == "value":
            name = lines[i].partition(b":")[0]
            lines[i] = name + b": " + chunk
    return b"\r\n".join(lines) + sep + body


def mutate_bytes(data: bytes, edits: list[tuple[int, str, bytes]]) -> bytes:
    out = bytearray(data)
    for where, kind, chunk in edits:
        at = where % (len(out) + 1)
        if kind == "insert":
            out[at:at] = chunk
        else:
            out[at : at + len(chunk)] = chunk if kind == "replace" else b""
    return bytes(out)


# Values that are legal somewhere and wrong elsewhere: URIs, Via, digest parameters, numbers past limits.
VALUES = st.sampled_from(
    [
        b"", b"0", b"-1", b"2147483648 INVITE", b"70", b"256", b"99999999999", b"1 BYE", b"1 INVITE",
        b"<sip:a@b>", b"sip:a@[::1]:5060", b"<sip:a@[::zz]>", b"\"x\\\" <sip:a@b>;tag=1", b"\"unterminated <",
        b"SIP/2.0/UDP h;branch=z9hG4bK1;rport", b"SIP/2.0/TCP [2001:db8::1]:99999",
        b"Digest realm=\"r\", nonce=", b"tel:+15551234567;phone-context=x",
        b"<sip:x@y>;+sip.instance=\"<urn:uuid:1>\"", b"*", b";;,,", b"\xef\xbb\xbf\xe5\xa4\xa7", b"\xff\xfe",
    ]
) | st.binary(max_size=12)  # fmt: skip
LINE_EDIT = st.tuples(
    st.integers(0, 64),
    st.integers(0, 64),
    st.sampled_from(["drop", "duplicate", "swap", "fold", "upper", "value"]),
    VALUES,
)
BYTE_EDIT = st.tuples(
    st.integers(min_value=0),
    st.sampled_from(["insert", "delete", "replace"]),
    st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\n ", b":", b";", b",", b'"', b"<", b">", b"@", b"[", b"\\"])
    | st.binary(min_size=1, max_size=4),
)


@bounded(500)
@given(st.sampled_from(SEEDS), st.lists(LINE_EDIT, min_size=1, max_size=4))
def test_line_mutations_of_real_messages(seed: bytes, edits: list[tuple[int, int, str, bytes]]) -> None:
    message = parses_or_sip_error(mutate_lines(seed, edits))
    if message is not None:
        header_values_round_trip(message)


@bounded(600)
@given(st.sampled_from(SEEDS), st.lists(BYTE_EDIT, min_size=1, max_size=6))
def test_byte_mutations_of_real_messages(seed: bytes, edits: list[tuple[int, str, bytes]]) -> None:
    message = parses_or_sip_error(mutate_bytes(seed, edits))
    if message is not None:
        header_values_round_trip(message)


@bounded(400)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    parses_or_sip_error(data)
    parses_or_sip_error(b"SIP/2.0 200 OK\r\n" + data)


def test_every_seed_round_trips() -> None:
    for seed in SEEDS:
        message = parses_or_sip_error(seed)
        assert message is not None
        header_values_round_trip(message)


CANONICAL = [bytes(parse(seed)) for seed in SEEDS]  # with Content-Length, which a stream requires
KEEPALIVES = st.sampled_from([b"", b"", b"\r\n", b"\r\n\r\n", b"\n"])


@bounded(200)
@given(
    st.lists(st.tuples(KEEPALIVES, st.sampled_from(CANONICAL)), min_size=1, max_size=4),
    st.lists(st.integers(min_value=0), max_size=12),
)
def test_stream_cut_anywhere_frames_the_same_messages(
    messages: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(keepalive + data for keepalive, data in messages)
    points = sorted({0, len(stream), *(cut % (len(stream) + 1) for cut in cuts)})
    parser = StreamParser()
    framed = [m for a, b in zip(points, points[1:], strict=False) for m in parser.feed(stream[a:b])]
    assert framed == [parse(data) for _, data in messages]
    assert parser.feed(b"") == []


@bounded(200)
@given(
    st.lists(st.sampled_from(CANONICAL), min_size=1, max_size=3),
    st.lists(BYTE_EDIT, min_size=1, max_size=4),
    st.lists(st.integers(min_value=0), max_size=8),
)
def test_mutated_stream_frames_or_raises_sip_error(
    messages: list[bytes], edits: list[tuple[int, str, bytes]], cuts: list[int]
) -> None:
    stream = mutate_bytes(b"".join(messages), edits)
    points = sorted({0, len(stream), *(cut % (len(stream) + 1) for cut in cuts)})
    parser = StreamParser(max_size=4096)
    try:
        for a, b in zip(points, points[1:], strict=False):
            for message in parser.feed(stream[a:b]):
                assert fields(parse(bytes(message))) == fields(message)
    except SipError as error:
        assert error.status in STATUSES, error
