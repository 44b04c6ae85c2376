"""G.711 μ-law and A-law: values from the standard, its decoding formulas, round-trip error over 16 bits."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephonist.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

ALL_SAMPLES = array("h", range(-32768, 32768))
ALL_CODES = bytes(range(256))


def pcm(*samples: int) -> bytes:
    return array("h", samples).tobytes()


def samples(data: bytes) -> list[int]:
    return array("h", data).tolist()


def ulaw_formula(code: int) -> int:
    """G.711 μ-law: codes are sent inverted; a value is ((2m + 33) << e) - 33 steps of 4."""
    code ^= 0xFF
    exponent, mantissa = (code >> 4) & 7, code & 0x0F
    value = 4 * (((2 * mantissa + 33) << exponent) - 33)
    return -value if code & 0x80 else value


def alaw_formula(code: int) -> int:
    """G.711 A-law: even bits inverted; segment 0 is 2m + 1, segment e (2m + 33) << (e - 1); steps of 8."""
    code ^= 0x55
    segment, mantissa = (code >> 4) & 7, code & 0x0F
    value = 8 * ((2 * mantissa + 1) if segment == 0 else (2 * mantissa + 33) << (segment - 1))
    return value if code & 0x80 else -value


@pytest.mark.parametrize(
    ("sample", "ulaw", "alaw"),
    [
        (0, 0xFF, 0xD5),
        (-1, 0x7F, 0x55),
        (8, 0xFE, 0xD5),
        (-8, 0x7E, 0x55),
        (1000, 0xCE, 0xFA),
        (-1000, 0x4E, 0x7A),
        (32767, 0x80, 0xAA),
        (-32768, 0x00, 0x2A),
    ],
)
def test_known_values(sample: int, ulaw: int, alaw: int) -> None:
    assert ulaw_encode(pcm(sample)) == bytes([ulaw])
    assert alaw_encode(pcm(sample)) == bytes([alaw])


def test_silence_and_extremes_decode() -> None:
    assert samples(ulaw_decode(b"\xff\x7f\x80\x00")) == [0, 0, 32124, -32124]
    assert samples(alaw_decode(b"\xd5\x55\xaa\x2a")) == [8, -8, 32256, -32256]


def test_decode_tables_follow_the_standard_formula() -> None:
    assert samples(ulaw_decode(ALL_CODES)) == [ulaw_formula(c) for c in ALL_CODES]
    assert samples(alaw_decode(ALL_CODES)) == [alaw_formula(c) for c in ALL_CODES]


def test_every_code_survives_decode_then_encode() -> None:
    # μ-law has two zeros (0xFF and 0x7F); both decode to 0, which encodes as 0xFF.
    assert ulaw_encode(ulaw_decode(ALL_CODES)) == ALL_CODES.replace(b"\x7f", b"\xff")
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES


def test_ulaw_round_trip_error_over_the_whole_range() -> None:
    decoded = array("h", ulaw_decode(ulaw_encode(ALL_SAMPLES.tobytes())))
    for x, y in zip(ALL_SAMPLES, decoded, strict=True):
        # Half a quantisation step: 2^(e+2) where the biased magnitude |x| + 132 has e + 8 bits;
        # above the 32635 clip the error grows to at most 644.
        assert abs(x - y) <= (abs(x) + 132) >> 5, x


def test_alaw_round_trip_error_over_the_whole_range() -> None:
    decoded = array("h", alaw_decode(alaw_encode(ALL_SAMPLES.tobytes())))
    for x, y in zip(ALL_SAMPLES, decoded, strict=True):
        # Half a quantisation step: 8 in the two lowest segments, then |x| / 32 at the bottom of each one.
        assert abs(x - y) <= max(8, abs(x) >> 5), x


def test_encoding_is_monotonic() -> None:
    for decode, encode in ((ulaw_decode, ulaw_encode), (alaw_decode, alaw_encode)):
        values = samples(decode(encode(ALL_SAMPLES.tobytes())))
        assert values == sorted(values)


def test_empty_and_odd_input() -> None:
    for encode in (ulaw_encode, alaw_encode):
        assert encode(b"") == b""
        with pytest.raises(ValueError):
            encode(b"\x00")
    assert ulaw_decode(b"") == alaw_decode(b"") == b""


@given(st.lists(st.integers(-32768, 32767), max_size=400))
def test_frames_encode_sample_by_sample(values: list[int]) -> None:
    data = pcm(*values)
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        encoded = encode(data)
        assert len(encoded) == len(values)
        assert encoded == b"".join(encode(pcm(v)) for v in values)
        assert len(decode(encoded)) == 2 * len(values)
