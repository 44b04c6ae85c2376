"""Tests for SMS segment counting and splitting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from telephonist.messaging.segments import is_gsm7, segment_info, split_segments

EXTENSION = "\f^{}\\[~]|€"


def septets(text: str) -> int:
    return len(text) + sum(c in EXTENSION for c in text)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-be", "surrogatepass")) // 2


def check_split(body: str) -> None:
    pieces = split_segments(body)
    info = segment_info(body)
    assert "".join(pieces) == body
    assert len(pieces) == info.num_segments
    assert all(pieces)
    if info.encoding == "GSM-7":
        assert info.units == septets(body)
        limits = (160, 153)
        measure = septets
    else:
        assert info.units == utf16_units(body)
        limits = (70, 67)
        measure = utf16_units
    if len(pieces) == 1:
        assert info.units <= limits[0]
    elif len(pieces) > 1:
        assert info.units > limits[0]
        assert all(measure(p) <= limits[1] for p in pieces)


def test_empty_body_has_no_segments() -> None:
    info = segment_info("")
    assert (info.encoding, info.num_segments, info.units) == ("GSM-7", 0, 0)
    assert split_segments("") == []


def test_plain_ascii_is_single_gsm_segment() -> None:
    info = segment_info("Hello world.")
    assert (info.encoding, info.num_segments, info.units) == ("GSM-7", 1, 12)
    assert split_segments("Hello world.") == ["Hello world."]


def test_gsm_boundaries() -> None:
    assert segment_info("a" * 160).num_segments == 1
    assert segment_info("a" * 161).num_segments == 2
    assert segment_info("a" * 306).num_segments == 2
    assert segment_info("a" * 307).num_segments == 3
    assert [len(p) for p in split_segments("a" * 307)] == [153, 153, 1]


def test_long_gsm_body() -> None:
    info = segment_info("x" * 1600)
    assert (info.encoding, info.num_segments, info.units) == ("GSM-7", 11, 1600)


def test_accented_latin_in_basic_table_stays_gsm() -> None:
    assert is_gsm7("é è ù ì ò Ç Ø å Ä ñ ü à ß É ¿ ¡ § ¤ Δ Ω")
    assert segment_info("é" * 160).num_segments == 1


def test_ucs2_boundaries() -> None:
    info = segment_info("ж" * 70)
    assert (info.encoding, info.num_segments, info.units) == ("UCS-2", 1, 70)
    assert segment_info("ж" * 71).num_segments == 2
    assert segment_info("ж" * 134).num_segments == 2
    assert segment_info("ж" * 135).num_segments == 3


def test_emoji_costs_two_units() -> None:
    info = segment_info("👍")
    assert (info.encoding, info.num_segments, info.units) == ("UCS-2", 1, 2)
    assert segment_info("👍" * 35).num_segments == 1
    assert segment_info("👍" * 36).num_segments == 2


def test_surrogate_pair_never_split() -> None:
    body = "ж" * 66 + "👍" + "ж" * 40
    pieces = split_segments(body)
    assert "".join(pieces) == body
    assert pieces[0] == "ж" * 66
    assert pieces[1].startswith("👍")
    for piece in pieces:
        # Strict encoding raises on a lone surrogate, so this also proves atomicity.
        assert len(piece.encode("utf-16-be")) <= 134


def test_extension_chars_cost_two_septets() -> None:
    info = segment_info("€" * 80)
    assert (info.encoding, info.num_segments, info.units) == ("GSM-7", 1, 160)
    pieces = split_segments("€" * 81)
    assert len(pieces) == 2
    assert all(septets(p) <= 153 for p in pieces)
    assert [len(p) for p in pieces] == [76, 5]


def test_escape_pair_not_split_across_boundary() -> None:
    body = "a" * 152 + "€" + "a" * 10
    pieces = split_segments(body)
    assert pieces == ["a" * 152, "€" + "a" * 10]
    assert segment_info(body).num_segments == 2


def test_every_extension_char_is_gsm() -> None:
    assert is_gsm7(EXTENSION)
    assert segment_info(EXTENSION).units == 2 * len(EXTENSION)


def test_curly_quote_forces_ucs2() -> None:
    assert not is_gsm7("It’s here")
    info = segment_info("It’s here")
    assert (info.encoding, info.units) == ("UCS-2", 9)


def test_split_examples_round_trip() -> None:
    for body in ["", "a", "a" * 500, "€{}" * 90, "ж👍" * 100, "hi 👍" * 40, "\r\n" * 200]:
        check_split(body)


@given(st.text(max_size=400))
def test_property_arbitrary_text(body: str) -> None:
    check_split(body)


@given(st.text(alphabet=st.sampled_from(list("a €{\n@Ω") + ["\\"]), max_size=600))
def test_property_gsm_text(body: str) -> None:
    check_split(body)


@given(st.text(alphabet=st.sampled_from(["ж", "👍", "a", "’"]), max_size=300))
def test_property_ucs2_text(body: str) -> None:
    check_split(body)
