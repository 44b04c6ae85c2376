"""Fuzz SMS segmenting: the segments of any body re-join to it, each within its encoding's size limit, and
`segment_info` counts what `split_segments` and the SMPP encoder produce."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from telephonist.carriers.smpp.pdu import ESM_CLASS_UDHI
from telephonist.carriers.smpp.text import decode_text, encode_parts, split_udh
from telephonist.messaging.segments import is_gsm7, segment_info, split_segments

from ._support import bounded

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"  # two septets each
# Mostly-GSM bodies with escape characters at every position, UCS-2 ones with astral characters (two
# UTF-16 units each), and anything at all.
BODIES = (
    st.text(st.sampled_from(list(GSM_BASIC + GSM_EXTENSION * 4)), max_size=700)
    | st.text(st.sampled_from(list("aé€{😀👍🏽中")), max_size=300)
    | st.text(max_size=400)
)


def units(text: str, gsm: bool) -> int:
    """Septets for GSM-7 (extension characters two), UTF-16 code units for UCS-2."""
    if gsm:
        return sum(2 if c in GSM_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-be")) // 2


@bounded(500)
@given(BODIES)
def test_segments_rejoin_and_fit(body: str) -> None:
    pieces = split_segments(body)
    assert "".join(pieces) == body and all(pieces)
    gsm = is_gsm7(body)  # a message is sent in one encoding: every piece in the body's
    single, multi = (160, 153) if gsm else (70, 67)
    limit = single if len(pieces) == 1 else multi  # the UDH of a concatenated message takes room
    assert all(units(piece, gsm) <= limit for piece in pieces)
    info = segment_info(body)
    assert (info.encoding, info.num_segments, info.units) == (
        "GSM-7" if gsm else "UCS-2",
        len(pieces),
        units(body, gsm),
    )


@bounded(200)
@given(BODIES.filter(lambda body: len(split_segments(body)) <= 255))
def test_smpp_parts_carry_the_segments(body: str) -> None:
    parts = encode_parts(body, ref=7)
    assert len(parts) == max(1, len(split_segments(body)))
    texts = []
    for part in parts:
        assert len(part.short_message) <= 254
        data = part.short_message
        if part.esm_class & ESM_CLASS_UDHI:
            _, data = split_udh(data)
        texts.append(decode_text(data, part.data_coding))
    assert "".join(texts) == body
