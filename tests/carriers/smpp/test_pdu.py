"""SMPP v3.4 PDU codec: golden PDUs written out from the specification, exact round trips, bad input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephonist.carriers.smpp import pdu as P
from telephonist.carriers.smpp.pdu import (
    Bind,
    BindResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduError,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    parse_pdu,
)


def h(text: str) -> bytes:
    """Hex written with spaces, line breaks and `#` comments, as the spec lays PDUs out."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))


RECEIPT = (
    b"id:1a2b3c4d sub:001 dlvrd:001 submit date:2401151200 done date:2401151201 "
    b"stat:DELIVRD err:000 text:Hello"
)

GOLDEN: list[tuple[str, bytes, Pdu]] = [
    (
        "bind_transceiver",
        h("""
        00000021 00000009 00000000 00000001  # length 33, bind_transceiver, status 0, sequence 1
        74 65 73 74 00                       # system_id "test"
        73 65 63 72 65 74 00                 # password "secret"
        00                                   # system_type ""
        34                                   # interface_version 3.4
        00 00                                # addr_ton, addr_npi
        00                                   # address_range ""
        """),
        Bind("transceiver", "test", "secret", sequence_number=1),
    ),
    (
        "bind_transceiver_resp",
        h("""
        0000001a 80000009 00000000 00000001  # length 26
        53 4d 53 43 00                       # system_id "SMSC"
        0210 0001 34                         # sc_interface_version TLV = 0x34
        """),
        BindResp("transceiver", "SMSC", 0x34, sequence_number=1),
    ),
    (
        "bind_transmitter_resp refused",
        h("00000010 80000002 0000000e 00000001"),  # ESME_RINVPASWD, body left out
        BindResp("transmitter", sequence_number=1, command_status=P.ESME_RINVPASWD),
    ),
    (
        "submit_sm",
        h("""
        00000042 00000004 00000000 00000002  # length 66, submit_sm, sequence 2
        00                                   # service_type ""
        01 01                                # source_addr_ton international, npi ISDN
        31 35 35 35 31 32 33 34 35 36 37 00  # source_addr "15551234567"
        01 01                                # dest_addr_ton, dest_addr_npi
        31 35 35 35 37 36 35 34 33 32 31 00  # destination_addr "15557654321"
        00 00 00                             # esm_class, protocol_id, priority_flag
        00 00                                # schedule_delivery_time, validity_period
        01 00                                # registered_delivery, replace_if_present_flag
        00 00                                # data_coding (SMSC default), sm_default_msg_id
        0b                                   # sm_length 11
        48 65 6c 6c 6f 20 00 20 35 1b 65     # "Hello @ 5€" in GSM 03.38: @ is 0x00, € is ESC 0x65
        """),
        SubmitSm(
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="15551234567",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="15557654321",
            registered_delivery=1,
            short_message=b"Hello \x00 5\x1be",
            sequence_number=2,
        ),
    ),
    (
        "submit_sm_resp",
        h("""
        00000019 80000004 00000000 00000002  # length 25
        31 61 32 62 33 63 34 64 00           # message_id "1a2b3c4d"
        """),
        SubmitSmResp("1a2b3c4d", sequence_number=2),
    ),
    (
        "submit_sm_resp throttled",
        h("00000010 80000004 00000058 00000003"),  # ESME_RTHROTTLED, body left out
        SubmitSmResp(sequence_number=3, command_status=P.ESME_RTHROTTLED),
    ),
    (
        "deliver_sm receipt",
        h("""
        000000b2 00000005 00000000 00000011  # length 178, deliver_sm, sequence 17
        00                                   # service_type ""
        01 01 31 35 35 35 37 36 35 34 33 32 31 00  # source_addr 15557654321
        01 01 31 35 35 35 31 32 33 34 35 36 37 00  # destination_addr 15551234567
        04 00 00                             # esm_class SMSC delivery receipt, protocol_id, priority
        00 00                                # schedule_delivery_time, validity_period
        00 00 00 00                          # registered_delivery, replace, data_coding, default msg
        69                                   # sm_length 105
        """)
        + RECEIPT
        + h("""
        001e 0009 31 61 32 62 33 63 34 64 00  # receipted_message_id "1a2b3c4d"
        0427 0001 02                          # message_state DELIVERED
        """),
        DeliverSm(
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="15557654321",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="15551234567",
            esm_class=0x04,
            short_message=RECEIPT,
            tlvs={P.RECEIPTED_MESSAGE_ID: b"1a2b3c4d\x00", P.MESSAGE_STATE: b"\x02"},
            sequence_number=17,
        ),
    ),
    ("deliver_sm_resp", h("00000011 80000005 00000000 00000011 00"), DeliverSmResp(sequence_number=17)),
    ("enquire_link", h("00000010 00000015 00000000 00000007"), EnquireLink(sequence_number=7)),
    ("enquire_link_resp", h("00000010 80000015 00000000 00000007"), EnquireLinkResp(sequence_number=7)),
    ("unbind", h("00000010 00000006 00000000 00000008"), Unbind(sequence_number=8)),
    ("unbind_resp", h("00000010 80000006 00000000 00000008"), UnbindResp(sequence_number=8)),
    (
        "generic_nack",
        h("00000010 80000000 00000003 00000009"),  # ESME_RINVCMDID for sequence 9
        GenericNack(sequence_number=9, command_status=P.ESME_RINVCMDID),
    ),
]


@pytest.mark.parametrize(("data", "expected"), [(d, e) for _, d, e in GOLDEN], ids=[n for n, _, _ in GOLDEN])
def test_golden_pdu_decodes_and_reencodes(data: bytes, expected: Pdu) -> None:
    assert parse_pdu(data) == expected
    assert bytes(expected) == data


def test_command_ids_follow_the_spec() -> None:
    assert Bind(kind="transmitter").command_id == P.BIND_TRANSMITTER == 0x00000002
    assert Bind(kind="receiver").command_id == P.BIND_RECEIVER == 0x00000001
    assert BindResp(kind="receiver").command_id == P.BIND_RECEIVER_RESP == 0x80000001
    assert SubmitSm().command_id == 0x00000004 and SubmitSmResp().command_id == 0x80000004
    assert DeliverSm().command_id == 0x00000005 and DeliverSmResp().command_id == 0x80000005
    assert EnquireLink().command_id == 0x15 and GenericNack().command_id == 0x80000000
    assert not SubmitSm().is_response and SubmitSmResp().is_response
    assert P.command_name(P.DATA_SM) == "data_sm" and P.command_name(0x1234) == "command 0x00001234"


def test_every_status_has_a_description() -> None:
    assert set(P.STATUS_DESCRIPTIONS) == set(P.STATUS_NAMES)
    assert P.STATUS_DESCRIPTIONS[P.ESME_RTHROTTLED].startswith("Throttling error")
    assert P.status_name(0x58) == "ESME_RTHROTTLED"
    assert P.status_name(0x400) == "0x00000400"
    assert (P.ESME_RX_T_APPN, P.ESME_RINVDCS, P.ESME_RINVOPTPARAMVAL) == (0x64, 0x104, 0xC4)


def test_error_response_without_body_decodes() -> None:
    assert parse_pdu(h("00000010 80000004 00000045 00000004")) == SubmitSmResp(
        sequence_number=4, command_status=P.ESME_RSUBMITFAIL
    )
    # Some SMSCs keep the empty message_id after an error; it decodes the same.
    assert parse_pdu(h("00000011 80000004 00000045 00000004 00")) == SubmitSmResp(
        sequence_number=4, command_status=P.ESME_RSUBMITFAIL
    )


def test_response_for_builds_the_matching_empty_response() -> None:
    assert P.response_for(P.SUBMIT_SM, 5, P.ESME_RINVBNDSTS) == SubmitSmResp(
        sequence_number=5, command_status=P.ESME_RINVBNDSTS
    )
    assert P.response_for(P.BIND_RECEIVER, 1, P.ESME_RALYBND) == BindResp(
        "receiver", sequence_number=1, command_status=P.ESME_RALYBND
    )
    assert P.response_for(P.QUERY_SM, 2, P.ESME_RINVCMDID) == GenericNack(
        sequence_number=2, command_status=P.ESME_RINVCMDID
    )


# Exact round trips for every PDU type.

u8 = st.integers(0, 0xFF)
seq = st.integers(0, 0xFFFFFFFF)
status = st.integers(0, 0xFFFFFFFF)


def cstr(size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=size - 1)


# Unknown (vendor) tags carry any value; the tags with fixed lengths get values of that length.
tlvs = st.dictionaries(
    st.integers(0x1400, 0x3FFF) | st.sampled_from([P.MESSAGE_PAYLOAD, P.RECEIPTED_MESSAGE_ID]),
    st.binary(max_size=300),
    max_size=4,
) | st.builds(
    lambda ref, total, n: {P.SAR_MSG_REF_NUM: ref, P.SAR_TOTAL_SEGMENTS: total, P.SAR_SEGMENT_SEQNUM: n},
    st.binary(min_size=2, max_size=2),
    st.binary(min_size=1, max_size=1),
    st.binary(min_size=1, max_size=1),
)
kinds = st.sampled_from(["transmitter", "receiver", "transceiver"])


def message(cls: type[SubmitSm] | type[DeliverSm]) -> st.SearchStrategy[Pdu]:
    return st.builds(
        cls,
        service_type=cstr(6),
        source_addr_ton=u8,
        source_addr_npi=u8,
        source_addr=cstr(21),
        dest_addr_ton=u8,
        dest_addr_npi=u8,
        destination_addr=cstr(21),
        esm_class=u8,
        protocol_id=u8,
        priority_flag=u8,
        schedule_delivery_time=cstr(17),
        validity_period=cstr(17),
        registered_delivery=u8,
        replace_if_present_flag=u8,
        data_coding=u8,
        sm_default_msg_id=u8,
        short_message=st.binary(max_size=254),
        tlvs=tlvs,
        sequence_number=seq,
        command_status=status,
    )


any_pdu: st.SearchStrategy[Pdu] = st.one_of(
    st.builds(
        Bind,
        kind=kinds,
        system_id=cstr(16),
        password=cstr(9),
        system_type=cstr(13),
        interface_version=u8,
        addr_ton=u8,
        addr_npi=u8,
        address_range=cstr(41),
        sequence_number=seq,
        command_status=status,
    ),
    st.builds(
        BindResp,
        kind=kinds,
        system_id=cstr(16),
        sc_interface_version=st.none() | u8,
        sequence_number=seq,
        command_status=status,
    ),
    *(st.builds(cls, sequence_number=seq, command_status=status) for cls in (Unbind, UnbindResp)),
    *(st.builds(cls, sequence_number=seq, command_status=status) for cls in (EnquireLink, EnquireLinkResp)),
    st.builds(GenericNack, sequence_number=seq, command_status=status),
    message(SubmitSm),
    message(DeliverSm),
    *(
        st.builds(cls, message_id=cstr(65), tlvs=tlvs, sequence_number=seq, command_status=status)
        for cls in (SubmitSmResp, DeliverSmResp)
    ),
)


@given(any_pdu)
def test_round_trip(pdu: Pdu) -> None:
    data = bytes(pdu)
    assert struct.unpack_from(">II", data) == (len(data), pdu.command_id)
    assert parse_pdu(data) == pdu
    assert bytes(parse_pdu(data)) == data


# Malformed input: each answered with the status the spec gives it.


def bad(data: bytes) -> PduError:
    with pytest.raises(PduError) as info:
        parse_pdu(data)
    return info.value


BIND = GOLDEN[0][1]
SUBMIT = GOLDEN[3][1]


def with_length(data: bytes, length: int) -> bytes:
    return struct.pack(">I", length) + data[4:]


def test_shorter_than_a_header() -> None:
    error = bad(BIND[:10])
    assert (error.status, error.sequence_number) == (P.ESME_RINVCMDLEN, None)
    assert error.message == "10 octets is shorter than the 16-octet header"


def test_truncated_pdu() -> None:
    error = bad(BIND[:-3])
    assert (error.status, error.sequence_number, error.command_id) == (
        P.ESME_RINVCMDLEN,
        1,
        P.BIND_TRANSCEIVER,
    )
    assert error.message == "command_length 33 does not match the 30 octets given"


def test_command_length_below_header() -> None:
    error = bad(with_length(h("00000010 00000015 00000000 00000007"), 12))
    assert (error.status, error.message) == (
        P.ESME_RINVCMDLEN,
        "command_length 12 is shorter than the 16-octet header",
    )


def test_command_length_beyond_64k() -> None:
    error = bad(with_length(h("00000010 00000015 00000000 00000007"), 0x7FFFFFFF))
    assert error.status == P.ESME_RINVCMDLEN
    assert error.message == "command_length 2147483647 exceeds the 65536-octet limit"
    assert error.sequence_number == 7


def test_length_agrees_but_fields_run_out() -> None:
    data = SUBMIT[:45]
    error = bad(with_length(data, len(data)))
    assert (error.status, error.message) == (P.ESME_RINVCMDLEN, "submit_sm body ends before esm_class")


def test_unknown_and_unsupported_commands() -> None:
    error = bad(h("00000010 00000099 00000000 0000002a"))
    assert (error.status, error.sequence_number, error.command_id) == (P.ESME_RINVCMDID, 42, 0x99)
    assert error.message == "unknown command_id 0x00000099"
    for command_id in (P.QUERY_SM, P.DATA_SM, P.OUTBIND):
        error = bad(h("00000010") + struct.pack(">III", command_id, 0, 5))
        assert error.status == P.ESME_RINVCMDID
        assert error.message == f"unsupported command {P.command_name(command_id)}"


def test_header_only_pdu_with_a_body() -> None:
    error = bad(h("00000012 00000015 00000000 00000007 0000"))
    assert (error.status, error.message) == (
        P.ESME_RINVCMDLEN,
        "2 unexpected octets after the enquire_link body",
    )


@pytest.mark.parametrize(
    ("field", "body", "status"),
    [
        ("system_id", b"A" * 16 + b"\0secret\0\0\x34\0\0\0", P.ESME_RINVSYSID),
        ("password", b"test\0" + b"p" * 9 + b"\0\0\x34\0\0\0", P.ESME_RINVPASWD),
        ("system_type", b"test\0secret\0" + b"t" * 13 + b"\0\x34\0\0\0", P.ESME_RINVSYSTYP),
    ],
)
def test_overlong_bind_strings(field: str, body: bytes, status: int) -> None:
    data = struct.pack(">IIII", 16 + len(body), P.BIND_TRANSMITTER, 0, 3) + body
    error = bad(data)
    assert (error.status, error.sequence_number) == (status, 3)
    assert error.message.startswith(f"{field} is longer than")


def test_overlong_addresses_and_message_id() -> None:
    long_source = SUBMIT.replace(b"15551234567\0", b"1" * 25 + b"\0")
    error = bad(with_length(long_source, len(long_source)))
    assert (error.status, error.message) == (P.ESME_RINVSRCADR, "source_addr is longer than 20 octets")
    long_dest = SUBMIT.replace(b"15557654321\0", b"2" * 21 + b"\0")
    assert bad(with_length(long_dest, len(long_dest))).status == P.ESME_RINVDSTADR
    resp = struct.pack(">IIII", 16 + 70, P.SUBMIT_SM_RESP, 0, 2) + b"x" * 69 + b"\0"
    error = bad(resp)
    assert (error.status, error.message) == (P.ESME_RINVMSGID, "message_id is longer than 64 octets")


def test_string_cut_off_by_the_end_of_the_body() -> None:
    data = struct.pack(">IIII", 20, P.SUBMIT_SM_RESP, 0, 2) + b"abcd"
    assert bad(data).message == "submit_sm_resp body ends inside message_id"


def test_short_message_too_long() -> None:
    body = bytes(SubmitSm())[16:-1] + b"\xff" + b"x" * 255
    error = bad(struct.pack(">IIII", 16 + len(body), P.SUBMIT_SM, 0, 4) + body)
    assert (error.status, error.message) == (P.ESME_RINVMSGLEN, "sm_length 255 exceeds 254")


def tlv_pdu(tail: bytes) -> bytes:
    body = bytes(SubmitSm())[16:] + tail
    return struct.pack(">IIII", 16 + len(body), P.SUBMIT_SM, 0, 6) + body


def test_bad_tlvs() -> None:
    error = bad(tlv_pdu(h("0424 0010 00 01 02")))
    assert (error.status, error.message) == (P.ESME_RINVPARLEN, "TLV 0x0424 claims 16 octets but 3 remain")
    error = bad(tlv_pdu(h("020e 0002 0001")))
    assert (error.status, error.message) == (P.ESME_RINVPARLEN, "TLV 0x020e must be 1 octets, got 2")
    error = bad(tlv_pdu(h("0424 00")))
    assert (error.status, error.message) == (P.ESME_RINVOPTPARSTREAM, "3 stray octets after the last TLV")
    assert bad(tlv_pdu(h("0424 00"))).sequence_number == 6


def test_unknown_tlvs_are_kept() -> None:
    pdu = parse_pdu(tlv_pdu(h("1401 0002 abcd 0424 0000")))
    assert isinstance(pdu, SubmitSm)
    assert pdu.tlvs == {0x1401: b"\xab\xcd", P.MESSAGE_PAYLOAD: b""}


@pytest.mark.parametrize(
    ("pdu", "message"),
    [
        (Bind(system_id="x" * 16), "system_id is at most 15 octets, got 16"),
        (Bind(password="p" * 9), "password is at most 8 octets, got 9"),
        (SubmitSm(destination_addr="1" * 21), "destination_addr is at most 20 octets, got 21"),
        (SubmitSm(short_message=b"x" * 255), "short_message is at most 254 octets, got 255"),
        (SubmitSm(esm_class=256), "esm_class must fit in one octet, got 256"),
        (SubmitSm(source_addr="a\0b"), "source_addr must not contain NUL"),
        (SubmitSm(tlvs={P.MESSAGE_STATE: b"\x01\x02"}), "TLV 0x0427 is 1 octets, got 2"),
        (SubmitSmResp(message_id="m" * 65), "message_id is at most 64 octets, got 65"),
        (EnquireLink(sequence_number=-1), "sequence_number must fit in four octets, got -1"),
    ],
)
def test_encoding_refuses_what_the_spec_forbids(pdu: Pdu, message: str) -> None:
    with pytest.raises(ValueError) as info:
        bytes(pdu)
    assert str(info.value) == message


@given(st.binary(max_size=200))
def test_garbage_raises_only_pdu_error(data: bytes) -> None:
    try:
        parse_pdu(data)
    except PduError as error:
        assert error.status in P.STATUS_NAMES


@given(st.sampled_from([d for _, d, _ in GOLDEN]), st.integers(0, 300), st.integers(0, 255))
def test_corrupted_golden_raises_only_pdu_error(data: bytes, position: int, value: int) -> None:
    corrupted = bytearray(data)
    corrupted[position % len(data)] = value
    try:
        parse_pdu(bytes(corrupted))
    except PduError as error:
        assert error.status in P.STATUS_NAMES
