"""SMS segment accounting: GSM-7 / UCS-2 detection and carrier-style splitting.

Pure functions, no I/O; the numbers match what Twilio reports as ``num_segments``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# 3GPP TS 23.038 default alphabet (127 chars; 0x1B is the escape, not a character).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape, so each one costs two septets on the wire.
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# Concatenated messages lose room to the 6-byte user data header (UDH).
_GSM7_SINGLE, _GSM7_MULTI = 160, 153
_UCS2_SINGLE, _UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SegmentInfo:
    """How a body will be encoded and billed.

    ``num_segments`` is 0 for an empty body; Twilio reports "0" for media-only
    messages, so callers decide how to present it. ``units`` are septets for
    GSM-7 (extension characters count 2) and UTF-16 code units for UCS-2.
    """

    encoding: Encoding
    num_segments: int
    units: int


_GSM7 = _GSM7_BASIC | _GSM7_EXTENSION


def is_gsm7(body: str) -> bool:
    """True if every character is in the GSM-7 basic or extension table."""
    return _GSM7.issuperset(body)


def _encoding_and_costs(body: str) -> tuple[Encoding, list[int]]:
    # Costing per character (not per unit) is what keeps escape pairs and
    # surrogate pairs atomic when splitting.
    if is_gsm7(body):
        return "GSM-7", [2 if c in _GSM7_EXTENSION else 1 for c in body]
    return "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in body]


def _split(body: str, encoding: Encoding, costs: list[int]) -> list[str]:
    single, multi = (_GSM7_SINGLE, _GSM7_MULTI) if encoding == "GSM-7" else (_UCS2_SINGLE, _UCS2_MULTI)
    if not body:
        return []
    if sum(costs) <= single:
        return [body]
    pieces: list[str] = []
    start = used = 0
    for i, cost in enumerate(costs):
        # A character that would straddle the boundary moves whole to the next
        # segment, leaving the previous one a unit short, as handsets do.
        if used + cost > multi:
            pieces.append(body[start:i])
            start, used = i, 0
        used += cost
    pieces.append(body[start:])
    return pieces


def split_segments(body: str) -> list[str]:
    """Return the text of each segment, in order, as a carrier would send them."""
    encoding, costs = _encoding_and_costs(body)
    return _split(body, encoding, costs)


def segment_info(body: str) -> SegmentInfo:
    """Return the encoding, segment count and unit count for ``body``."""
    if len(body) <= _GSM7_SINGLE and _GSM7_BASIC.issuperset(body):  # the common case, in C
        return SegmentInfo("GSM-7", 1 if body else 0, len(body))
    encoding, costs = _encoding_and_costs(body)
    # Count real pieces rather than ceil(units / 153): pairs pushed across a
    # boundary can add a segment the arithmetic would miss.
    return SegmentInfo(encoding, len(_split(body, encoding, costs)), sum(costs))
