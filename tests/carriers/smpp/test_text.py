"""Message text on the SMPP wire: GSM 03.38 and UCS-2, concatenation, reassembly and delivery receipts."""

from __future__ import annotations

from datetime import datetime
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephonist.carriers.smpp import pdu as P
from telephonist.carriers.smpp.pdu import DeliverSm, SubmitSm
from telephonist.carriers.smpp.text import (
    MESSAGE_STATES,
    Part,
    Partial,
    Reassembler,
    Receipt,
    TextError,
    decode_gsm7,
    decode_text,
    encode_gsm7,
    encode_parts,
    encode_text,
    format_receipt,
    is_receipt,
    parse_receipt,
    receipt_from_pdu,
    split_udh,
)
from telephonist.messaging.segments import segment_info, split_segments

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "\f^{}\\[~]|€"


def test_gsm7_basic_table_is_one_octet_per_character() -> None:
    for code, char in enumerate(GSM_BASIC):
        if code != 0x1B:
            assert encode_gsm7(char) == bytes((code,))
            assert decode_gsm7(bytes((code,))) == char


def test_gsm7_extension_characters_are_escape_pairs() -> None:
    expected = bytes.fromhex("1b0a 1b14 1b28 1b29 1b2f 1b3c 1b3d 1b3e 1b40 1b65")
    assert encode_gsm7(EXTENSION) == expected
    assert decode_gsm7(expected) == EXTENSION
    assert encode_gsm7("Hello @ 5€") == bytes.fromhex("48656c6c6f2000 20351b65")


def test_gsm7_refuses_characters_outside_the_alphabet() -> None:
    with pytest.raises(ValueError) as info:
        encode_gsm7("naïve")
    assert str(info.value) == "'ï' is not in the GSM 03.38 default alphabet"


def test_gsm7_decoding_is_tolerant() -> None:
    assert decode_gsm7(b"\x1bA") == "A"  # unknown extension code: its basic-table character
    assert decode_gsm7(b"a\x1b\x1bb") == "a b"
    assert decode_gsm7(b"end\x1b") == "end"
    assert decode_gsm7(b"\xc8i") == "\ufffdi"


P_UCS2 = 0x08


def test_ucs2_carries_emoji_as_surrogate_pairs() -> None:
    assert encode_text("Hi 😀") == (P_UCS2, bytes.fromhex("0048 0069 0020 d83d de00"))
    assert decode_text(bytes.fromhex("0048 0069 0020 d83d de00"), 0x08) == "Hi 😀"
    assert encode_text("Hi {}") == (0x00, b"Hi \x1b(\x1b)")


@pytest.mark.parametrize(
    ("data", "coding", "text"),
    [
        (b"caf\xe9", 0x03, "café"),
        (b"plain", 0x01, "plain"),
        (b"\x00bc", 0x00, "@bc"),
        (b"\x00bc", 0xF0, "@bc"),  # data coding / message class group, default alphabet
        (b"\x00\x41", 0x18, "A"),  # general group, UCS-2, class 0
        (b"\xe0", 0x06, "р"),  # ISO 8859-5
    ],
)
def test_decode_text_by_data_coding(data: bytes, coding: int, text: str) -> None:
    assert decode_text(data, coding) == text


@pytest.mark.parametrize("coding", [0x02, 0x04, 0xF4, 0x14, 0x09])
def test_binary_data_codings_are_refused(coding: int) -> None:
    with pytest.raises(TextError) as info:
        decode_text(b"\x01\x02", coding)
    assert info.value.status == P.ESME_RINVDCS
    assert str(info.value) == f"data_coding 0x{coding:02x} is not text we can decode"


# Concatenation


def payloads(parts: list[Part]) -> list[bytes]:
    return [split_udh(p.short_message)[1] if p.esm_class & 0x40 else p.short_message for p in parts]


@pytest.mark.parametrize(
    ("body", "count", "coding"),
    [
        ("x" * 160, 1, 0x00),
        ("x" * 161, 2, 0x00),
        ("€" * 80, 1, 0x00),
        ("€" * 81, 2, 0x00),
        ("x" * 153 * 7, 7, 0x00),
        ("Ω" * 70, 1, 0x00),
        ("😀" * 35, 1, 0x08),
        ("😀" * 36, 2, 0x08),
        ("Привет 😀 " * 45, 7, 0x08),
    ],
)
def test_parts_follow_segment_counting(body: str, count: int, coding: int) -> None:
    parts = encode_parts(body, 0x2A)
    assert len(parts) == count == segment_info(body).num_segments
    assert all(p.data_coding == coding and p.tlvs == {} for p in parts)
    if count == 1:
        assert parts == [Part(coding, 0, encode_text(body)[1], {})]
    else:
        for n, part in enumerate(parts, 1):
            assert part.esm_class == P.ESM_CLASS_UDHI
            assert part.short_message[:6] == bytes((0x05, 0x00, 0x03, 0x2A, count, n))
            assert len(part.short_message) <= (6 + 153 if coding == 0 else 6 + 134)
    assert "".join(decode_text(d, coding) for d in payloads(parts)) == body


def test_escape_and_surrogate_pairs_stay_whole_at_the_boundary() -> None:
    gsm = encode_parts("x" * 152 + "€" + "y" * 10, 1)
    assert payloads(gsm)[0] == b"x" * 152  # the escape pair moved whole to part two
    assert payloads(gsm)[1].startswith(b"\x1be")
    ucs = encode_parts("a" * 66 + "😀" + "b" * 10, 1)
    assert payloads(ucs)[0] == "a".encode("utf-16-be") * 66
    assert payloads(ucs)[1].startswith("😀".encode("utf-16-be"))


def test_use_payload_sends_one_pdu() -> None:
    body = "long " * 100
    assert encode_parts(body, 3, use_payload=True) == [
        Part(0x00, 0, b"", {P.MESSAGE_PAYLOAD: encode_gsm7(body)})
    ]
    assert encode_parts("short", 3, use_payload=True) == [Part(0x00, 0, b"short", {})]


def test_empty_body_is_one_empty_part() -> None:
    assert encode_parts("", 0) == [Part(0x00, 0, b"", {})]


def test_parts_refuse_what_a_udh_cannot_say() -> None:
    with pytest.raises(ValueError, match="ref must fit in one octet, got 256"):
        encode_parts("x" * 200, 256)
    with pytest.raises(ValueError, match="body needs 256 segments"):
        encode_parts("x" * 153 * 256, 1)


bodies = st.text(
    st.sampled_from(list(GSM_BASIC.replace("\x1b", "") + EXTENSION)) | st.characters(codec="utf-8"),
    min_size=1,
    max_size=800,
) | st.text(st.sampled_from(list("ab€{" + "😀é")), min_size=1, max_size=800)


def submits(parts: list[Part], source: str = "15551230000", dest: str = "15557654321") -> list[SubmitSm]:
    return [
        SubmitSm(
            source_addr=source,
            destination_addr=dest,
            esm_class=p.esm_class,
            data_coding=p.data_coding,
            short_message=p.short_message,
            tlvs=p.tlvs,
        )
        for p in parts
    ]


@given(bodies, st.randoms(use_true_random=False))
def test_any_body_splits_as_counted_and_reassembles_in_any_order(body: str, random: Random) -> None:
    parts = encode_parts(body, 7)
    assert len(parts) == segment_info(body).num_segments
    coding = parts[0].data_coding
    assert [decode_text(d, coding) for d in payloads(parts)] == split_segments(body)
    pdus = submits(parts)
    random.shuffle(pdus)
    reassembler = Reassembler(timeout=60)
    results = [reassembler.add(pdu, now=0) for pdu in pdus]
    assert results[-1] == body and all(r is None for r in results[:-1])
    assert reassembler.pending == 0


@given(bodies)
def test_message_payload_reassembles(body: str) -> None:
    assert Reassembler().add(submits(encode_parts(body, 1, use_payload=True))[0], now=0) == body


def test_reassembly_from_sar_tlvs_and_16_bit_references() -> None:
    r = Reassembler()
    sar = [
        DeliverSm(source_addr="a", destination_addr="b", short_message=text, tlvs=tlvs)
        for text, tlvs in [
            (
                b"world",
                {
                    P.SAR_MSG_REF_NUM: b"\x12\x34",
                    P.SAR_TOTAL_SEGMENTS: b"\x02",
                    P.SAR_SEGMENT_SEQNUM: b"\x02",
                },
            ),
            (
                b"hello ",
                {
                    P.SAR_MSG_REF_NUM: b"\x12\x34",
                    P.SAR_TOTAL_SEGMENTS: b"\x02",
                    P.SAR_SEGMENT_SEQNUM: b"\x01",
                },
            ),
        ]
    ]
    assert [r.add(p, now=0) for p in sar] == [None, "hello world"]
    udh16 = [
        DeliverSm(source_addr="a", destination_addr="b", esm_class=0x40, data_coding=8, short_message=m)
        for m in (
            bytes.fromhex("06 08 04 beef 02 01") + "Hi ".encode("utf-16-be") + b"\xd8\x3d",
            bytes.fromhex("06 08 04 beef 02 02") + b"\xde\x00",  # a surrogate pair split by a careless sender
        )
    ]
    assert [r.add(p, now=0) for p in udh16] == [None, "Hi 😀"]


def test_parts_are_kept_apart_by_source_destination_and_ref() -> None:
    r = Reassembler()
    one = submits(encode_parts("x" * 200, 9), source="1")
    two = submits(encode_parts("y" * 200, 9), source="2")
    assert r.add(one[0], now=0) is None
    assert r.add(two[0], now=0) is None
    assert r.pending == 2
    assert r.add(two[1], now=0) == "y" * 200
    assert r.add(one[1], now=0) == "x" * 200


def test_incomplete_sets_expire() -> None:
    r = Reassembler(timeout=30)
    first = submits(encode_parts("x" * 400, 5))
    assert r.add(first[1], now=100) is None
    assert r.add(first[0], now=110) is None  # a duplicate would replace, not count twice
    assert r.add(first[0], now=115) is None
    assert r.get_timer() == 130
    assert r.expire(129.9) == []
    assert r.expire(130) == [Partial("15551230000", "15557654321", 5, 3, (1, 2), 100)]
    assert r.pending == 0 and r.get_timer() is None


def test_a_new_total_under_the_same_ref_starts_over() -> None:
    r = Reassembler()
    old = submits(encode_parts("x" * 400, 5))
    new = submits(encode_parts("z" * 200, 5))
    assert r.add(old[0], now=0) is None
    assert r.add(new[0], now=0) is None
    assert r.add(new[1], now=0) == "z" * 200


def test_impossible_concatenation_numbers_leave_a_plain_message() -> None:
    pdu = SubmitSm(esm_class=0x40, short_message=bytes.fromhex("05 00 03 01 02 03") + b"odd")
    assert Reassembler().add(pdu, now=0) == "odd"
    ported = SubmitSm(esm_class=0x40, short_message=bytes.fromhex("06 05 04 0b84 23f0") + b"port")
    assert Reassembler().add(ported, now=0) == "port"


@pytest.mark.parametrize("udh", ["", "07 00 03 01 02 01", "05 00 07 01 02 01"])
def test_malformed_udh_is_refused(udh: str) -> None:
    with pytest.raises(TextError) as info:
        Reassembler().add(SubmitSm(esm_class=0x40, short_message=bytes.fromhex(udh)), now=0)
    assert info.value.status == P.ESME_RINVESMCLASS


def test_unsupported_coding_is_refused_at_the_first_part() -> None:
    pdu = SubmitSm(esm_class=0x40, data_coding=0x04, short_message=bytes.fromhex("05 00 03 01 02 01 ff"))
    with pytest.raises(TextError):
        Reassembler().add(pdu, now=0)


# Delivery receipts

RECEIPT = (
    "id:1a2b3c4d sub:001 dlvrd:001 submit date:2401151200 done date:2401151201 "
    "stat:DELIVRD err:000 text:Hello"
)


def test_parse_receipt_appendix_b() -> None:
    assert parse_receipt(RECEIPT) == Receipt(
        message_id="1a2b3c4d",
        stat="DELIVRD",
        err="000",
        sub=1,
        dlvrd=1,
        submit_date=datetime(2024, 1, 15, 12, 0),
        done_date=datetime(2024, 1, 15, 12, 1),
        text="Hello",
        message_state=2,
    )


def test_parse_receipt_is_tolerant() -> None:
    receipt = parse_receipt(
        "ID:0A1B2C Stat:undeliv ERR:0x45 Done Date:240115120159 text:id:fake stat:DELIVRD"
    )
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.err) == ("0A1B2C", "UNDELIV", "0x45")
    assert receipt.done_date == datetime(2024, 1, 15, 12, 1, 59)
    assert (receipt.sub, receipt.dlvrd, receipt.submit_date) == (None, None, None)
    assert receipt.text == "id:fake stat:DELIVRD"
    assert receipt.message_state == 5
    assert parse_receipt("id:123456789 submit date:99999 stat:EXPIRED").submit_date is None  # type: ignore[union-attr]
    assert parse_receipt("just a message") is None


def test_receipt_dates_in_each_length_and_century() -> None:
    def dates(value: str) -> tuple[datetime | None, datetime | None]:
        receipt = parse_receipt(f"id:1 submit date:{value} done date:{value} stat:DELIVRD")
        assert receipt is not None
        return receipt.submit_date, receipt.done_date

    assert dates("6812312359") == (datetime(2068, 12, 31, 23, 59),) * 2  # two-digit years as %y reads them
    assert dates("690101000005")[0] == datetime(1969, 1, 1, 0, 0, 5)
    assert dates("20240229235958")[0] == datetime(2024, 2, 29, 23, 59, 58)
    for bad in ("2402301200", "2401151260", "24011512", "240115120", "٢٤٠١١٥١٢٠٠", "+401151200"):
        assert dates(bad) == (None, None), bad


def test_receipt_counts_that_are_no_ascii_number_are_left_out() -> None:
    # Found by tests/fuzz/test_smpp.py: "²" and a 5000-digit count made int() raise out of parse_receipt.
    receipt = parse_receipt("id:7 sub:\u00b2 dlvrd:" + "9" * 5000 + " stat:DELIVRD")
    assert receipt is not None
    assert (receipt.message_id, receipt.sub, receipt.dlvrd, receipt.stat) == ("7", None, None, "DELIVRD")


def test_format_receipt_round_trips() -> None:
    receipt = parse_receipt(RECEIPT)
    assert receipt is not None
    assert format_receipt(receipt) == RECEIPT
    assert format_receipt(Receipt("7", stat="ENROUTE", text="x" * 30)) == "id:7 stat:ENROUTE text:" + "x" * 20


def test_is_receipt_reads_esm_class_bits_2_to_5() -> None:
    assert is_receipt(0x04) and is_receipt(0x44) and is_receipt(0x20)
    assert not is_receipt(0x00) and not is_receipt(0x40) and not is_receipt(0x08)


def test_receipt_from_pdu_prefers_tlvs() -> None:
    pdu = DeliverSm(
        esm_class=0x04,
        short_message=RECEIPT.encode(),
        tlvs={
            P.RECEIPTED_MESSAGE_ID: b"1A2B3C4D\x00",
            P.MESSAGE_STATE: b"\x05",
            P.NETWORK_ERROR_CODE: b"\x03\x00\x01",
        },
    )
    receipt = receipt_from_pdu(pdu)
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.message_state) == ("1A2B3C4D", "DELIVRD", 5)
    assert receipt.network_error_code == b"\x03\x00\x01"
    bare = receipt_from_pdu(
        DeliverSm(esm_class=0x04, tlvs={P.RECEIPTED_MESSAGE_ID: b"99\x00", P.MESSAGE_STATE: b"\x03"})
    )
    assert bare == Receipt(message_id="99", stat="EXPIRED", message_state=3)
    assert receipt_from_pdu(DeliverSm(short_message=RECEIPT.encode())) is None


def test_message_states() -> None:
    assert MESSAGE_STATES == {
        1: "ENROUTE",
        2: "DELIVRD",
        3: "EXPIRED",
        4: "DELETED",
        5: "UNDELIV",
        6: "ACCEPTD",
        7: "UNKNOWN",
        8: "REJECTD",
    }
