"""Fuzz the SMPP v3.4 codec, the session's framing and the message-text layer: malformed PDUs raise PduError
with a status the spec defines, decoded PDUs re-encode, a stream of PDUs cut anywhere yields the same PDUs."""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from carriers.smpp.test_pdu import GOLDEN, any_pdu
from telephonist.carriers.smpp import pdu as P
from telephonist.carriers.smpp.pdu import DeliverSm, Pdu, PduError, parse_pdu
from telephonist.carriers.smpp.session import NEED_DATA, BadPdu, Response, Role, Session
from telephonist.carriers.smpp.text import (
    MESSAGE_STATES,
    Reassembler,
    Receipt,
    TextError,
    decode_text,
    format_receipt,
    parse_receipt,
    receipt_from_pdu,
)

from ._support import bounded

GOLDEN_PDUS = [data for _, data, _ in GOLDEN]
HEADER = P.HEADER_LENGTH
COMMAND_IDS = sorted(P.COMMAND_NAMES) + [0x99, 0x7FFFFFFF]


def decodes_or_pdu_error(data: bytes) -> Pdu | None:
    """PduError with a defined command_status; a PDU that decodes encodes without error and decodes equal."""
    try:
        pdu = parse_pdu(data)
    except PduError as error:
        assert error.status in P.STATUS_NAMES, error.status
        assert error.message
        return None
    assert parse_pdu(bytes(pdu)) == pdu
    return pdu


def with_length(data: bytes | bytearray) -> bytes:
    """command_length set to the real length, so decoding gets past the header into the body."""
    return struct.pack(">I", len(data)) + bytes(data[4:])


EDIT = st.tuples(
    st.integers(min_value=0),
    st.sampled_from(["insert", "delete", "replace"]),
    st.sampled_from([b"\0", b"\xff", b"\0\0\0\0", b"\x04\x24\x00\x10", b"\x02\x0e\x00\x02"])
    | st.binary(min_size=1, max_size=4),
)


@bounded(600)
@given(
    st.sampled_from(GOLDEN_PDUS),
    st.lists(EDIT, min_size=1, max_size=5),
    st.none() | st.sampled_from(COMMAND_IDS),
)
def test_mutated_golden_pdus(
    golden: bytes, edits: list[tuple[int, str, bytes]], command_id: int | None
) -> None:
    data = bytearray(golden)
    for where, kind, chunk in edits:
        at = HEADER + where % (len(data) - HEADER + 1)  # the body: the header's fields get their own test
        if kind == "insert":
            data[at:at] = chunk
        else:
            data[at : at + len(chunk)] = chunk if kind == "replace" else b""
    if command_id is not None:  # the body read by another command's decoder
        data[4:8] = struct.pack(">I", command_id)
    decodes_or_pdu_error(with_length(data))
    decodes_or_pdu_error(bytes(data))  # command_length left as it was


@bounded(500)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    decodes_or_pdu_error(data)
    decodes_or_pdu_error(with_length(b"\0\0\0\0" + data))


@bounded(200)
@given(any_pdu)
def test_generated_pdus_round_trip(pdu: Pdu) -> None:
    data = bytes(pdu)
    assert parse_pdu(data) == pdu
    assert bytes(parse_pdu(data)) == data


def chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(stream), *(cut % (len(stream) + 1) for cut in cuts)})
    return [stream[a:b] for a, b in zip(points, points[1:], strict=False)]


def answers_decode(session: Session) -> None:
    """What the session sent by itself (enquire_link off) is well-formed responses, one after another."""
    out = session.data_to_send()
    while out:
        (length,) = struct.unpack_from(">I", out)
        assert parse_pdu(out[:length]).is_response
        out = out[length:]


@bounded(300)
@given(
    st.sampled_from(["esme", "smsc"]),
    st.lists(any_pdu, min_size=1, max_size=5),
    st.lists(st.integers(min_value=0), max_size=10),
)
def test_session_frames_a_stream_cut_anywhere(role: Role, pdus: list[Pdu], cuts: list[int]) -> None:
    session = Session(role, enquire_link_interval=None, response_timeout=None)
    seen: list[Pdu] = []
    for chunk in chunked(b"".join(bytes(pdu) for pdu in pdus), cuts):
        session.receive_data(chunk)
        for event in session.events():
            pdu = event.response if isinstance(event, Response) else event
            if isinstance(pdu, BadPdu):  # refused for the session state, decoded all the same
                assert pdu.pdu is not None, pdu
                pdu = pdu.pdu
            assert isinstance(pdu, Pdu), event
            seen.append(pdu)
        answers_decode(session)
    # enquire_link is answered by the session itself and is no event
    assert seen == [pdu for pdu in pdus if pdu.command_id != P.ENQUIRE_LINK]
    assert session.next_event() is NEED_DATA


@bounded(300)
@given(
    st.sampled_from(["esme", "smsc"]),
    st.lists(st.sampled_from(GOLDEN_PDUS) | st.binary(max_size=40), max_size=5),
    st.lists(st.integers(min_value=0), max_size=10),
)
def test_session_takes_any_bytes(role: Role, frames: list[bytes], cuts: list[int]) -> None:
    session = Session(role, enquire_link_interval=None, response_timeout=None)
    for chunk in [*chunked(b"".join(frames), cuts), b""]:
        session.receive_data(chunk)
        for event in session.events():
            if isinstance(event, BadPdu):
                assert event.status in P.STATUS_NAMES, event
        answers_decode(session)


# Appendix B fields with values at and past what they hold: dates of each length, digits that are not ASCII
# (str.isdigit() takes "²" and "٣"), numbers longer than int() reads.
RECEIPT_FIELDS = [
    "id:", "sub:", "dlvrd:", "submit date:", "done_date:", "stat:", "err:", "text:", "Stat: ", "x",
]  # fmt: skip
RECEIPT_VALUES = [
    "", "1", "001", "2401151200", "240115120000", "20240115120000", "DELIVRD", "²", "٣٣٣", "9" * 5000,
]  # fmt: skip
RECEIPTS = st.lists(
    st.tuples(st.sampled_from(RECEIPT_FIELDS), st.sampled_from(RECEIPT_VALUES) | st.text(max_size=8)),
    max_size=8,
).map(lambda fields: " ".join(name + value for name, value in fields))
TEXT_TLVS = st.dictionaries(
    st.sampled_from([P.MESSAGE_PAYLOAD, P.RECEIPTED_MESSAGE_ID, P.SAR_MSG_REF_NUM, P.MESSAGE_STATE]),
    st.binary(max_size=20),
    max_size=3,
) | st.builds(
    lambda ref, total, seq: {P.SAR_MSG_REF_NUM: ref, P.SAR_TOTAL_SEGMENTS: total, P.SAR_SEGMENT_SEQNUM: seq},
    st.binary(min_size=2, max_size=2),
    st.integers(0, 4).map(lambda n: bytes((n,))),
    st.integers(0, 4).map(lambda n: bytes((n,))),
)
UDH_CONCAT = st.builds(
    lambda ref, total, seq, text: bytes((5, 0, 3, ref, total, seq)) + text,
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    st.binary(max_size=20),
)
MESSAGES = st.builds(
    DeliverSm,
    source_addr=st.sampled_from(["1555", "1666"]),
    esm_class=st.sampled_from([0, 0x04, 0x20, 0x40, 0x44]) | st.integers(0, 255),
    data_coding=st.sampled_from([0, 1, 3, 6, 7, 8, 0x11, 0x18, 0xF0, 0xF4]) | st.integers(0, 255),
    short_message=st.binary(max_size=40) | UDH_CONCAT | RECEIPTS.map(lambda text: text.encode()[:254]),
    tlvs=TEXT_TLVS,
)


@bounded(300)
@given(st.lists(MESSAGES, min_size=1, max_size=6))
def test_reassembly_and_receipts_of_any_message_pdu(pdus: list[DeliverSm]) -> None:
    reassembler = Reassembler(timeout=10)
    for now, pdu in enumerate(pdus):
        try:
            text = reassembler.add(pdu, now=now)
        except TextError as error:
            assert error.status in (P.ESME_RINVDCS, P.ESME_RINVESMCLASS), error
        else:
            assert text is None or isinstance(text, str)
        receipt = receipt_from_pdu(pdu)
        assert receipt is None or isinstance(receipt, Receipt)
    reassembler.expire(now=len(pdus) + 10)
    assert reassembler.pending == 0


@bounded(200)
@given(st.binary(max_size=60), st.integers(0, 255))
def test_decode_text_any_coding(data: bytes, data_coding: int) -> None:
    try:
        assert isinstance(decode_text(data, data_coding), str)
    except TextError as error:
        assert error.status == P.ESME_RINVDCS


@bounded(200)
@given(st.text(max_size=120) | RECEIPTS)
def test_parse_receipt_any_text(text: str) -> None:
    receipt = parse_receipt(text)
    assert receipt is None or isinstance(receipt, Receipt)


# Appendix B dates have two-digit years, which strptime reads as 1969-2068: receipts are dated now.
MINUTES = st.datetimes(datetime(2000, 1, 1), datetime(2068, 12, 31)).map(
    lambda moment: moment.replace(second=0, microsecond=0)
)


@bounded(150)
@given(
    st.builds(
        Receipt,
        message_id=st.from_regex(r"[0-9A-Za-z-]{1,20}", fullmatch=True),
        stat=st.none() | st.sampled_from(sorted(MESSAGE_STATES.values())),
        err=st.none() | st.from_regex(r"[0-9]{3}", fullmatch=True),
        sub=st.none() | st.integers(0, 999),
        dlvrd=st.none() | st.integers(0, 999),
        submit_date=st.none() | MINUTES,
        done_date=st.none() | MINUTES,
        text=st.text(max_size=20),
    )
)
def test_receipt_text_round_trips(receipt: Receipt) -> None:
    states = {stat: number for number, stat in MESSAGE_STATES.items()}
    expected = replace(receipt, message_state=states[receipt.stat] if receipt.stat else None)
    assert parse_receipt(format_receipt(receipt)) == expected
