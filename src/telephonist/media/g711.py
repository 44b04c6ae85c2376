"""G.711 μ-law (PCMU), the encoding of Twilio's media streams: 16-bit PCM in, one byte a sample out.

Pure functions on bytes (the standard algorithm, with tables built once).
"""

from __future__ import annotations

from array import array

_BIAS = 0x84
_CLIP = 32635


def _encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(_CLIP, -sample if sample < 0 else sample) + _BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _decode(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return -magnitude if sign else magnitude


_ENCODE = bytes(_encode(s) for s in range(-32768, 32768))
_DECODE = array("h", (_decode(b) for b in range(256)))


def ulaw_encode(pcm: bytes) -> bytes:
    return bytes(_ENCODE[s + 32768] for s in array("h", pcm))


def ulaw_decode(data: bytes) -> bytes:
    return array("h", (_DECODE[b] for b in data)).tobytes()
