"""In-band DTMF: keys a phone sends as tones in its audio (ITU-T Q.23), found with the Goertzel algorithm,
for far ends that do not send RFC 4733 events. Sans-IO: PCM in, keys out.

Each 20 ms block's power at the eight DTMF frequencies is measured; a key is the strongest row and column
tone when both stand well above the other six and carry most of the block's energy, seen in two blocks in
a row (40 ms, Q.24's shortest tone), reported once until the tone stops."""

from __future__ import annotations

import math
from array import array

RATE = 8000
BLOCK = 160  # samples: 20 ms
ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
_COEFFS = [2 * math.cos(2 * math.pi * f / RATE) for f in (*ROWS, *COLUMNS)]
MIN_POWER = 1e9  # of a tone at the block length: about -30 dBm0, below which nothing counts
DOMINANCE = 4.0  # a tone's power over the next strongest of its group (6 dB)
MAX_TWIST = 6.3  # row against column power, either way (8 dB)


def _powers(block: array[int]) -> list[float]:
    out = []
    for coeff in _COEFFS:
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + coeff * s1 - s2, s1
        out.append(s1 * s1 + s2 * s2 - coeff * s1 * s2)
    return out


def key_in(block: array[int]) -> str | None:
    """The key whose tones fill `block` (BLOCK samples), if one does."""
    powers = _powers(block)
    rows, cols = powers[:4], powers[4:]
    r, c = max(range(4), key=rows.__getitem__), max(range(4), key=cols.__getitem__)
    row, col = rows[r], cols[c]
    if row < MIN_POWER or col < MIN_POWER:
        return None
    if any(p * DOMINANCE > row for i, p in enumerate(rows) if i != r):
        return None
    if any(p * DOMINANCE > col for i, p in enumerate(cols) if i != c):
        return None
    if row > col * MAX_TWIST or col > row * MAX_TWIST:
        return None
    # The two tones carry most of the energy: speech and music spread theirs.
    energy = sum(x * x for x in block) * len(block) / 2
    if row + col < 0.8 * energy:
        return None
    return KEYS[r][c]


class ToneDetector:
    def __init__(self) -> None:
        self._pending = array("h")
        self._last: str | None = None  # the key of the previous block
        self._reported: str | None = None  # the key being held (reported once)

    def feed(self, pcm: bytes) -> list[str]:
        """Keys that began in `pcm` (call audio, any length)."""
        self._pending.frombytes(pcm)
        keys = []
        while len(self._pending) >= BLOCK:
            block, self._pending = self._pending[:BLOCK], self._pending[BLOCK:]
            key = key_in(block)
            if key is not None and key == self._last and key != self._reported:
                keys.append(key)
                self._reported = key
            elif key is None and self._last is None:
                self._reported = None  # two quiet blocks: the same key may come again
            self._last = key
        return keys


def tone(key: str, seconds: float = 0.1, amplitude: int = 8000) -> bytes:
    """The two tones of `key` as call audio (what a phone's keypad sends)."""
    r = next(i for i, row in enumerate(KEYS) if key in row)
    c = KEYS[r].index(key)
    n = round(seconds * RATE)
    samples = (
        round(
            amplitude
            / 2
            * (math.sin(2 * math.pi * ROWS[r] * i / RATE) + math.sin(2 * math.pi * COLUMNS[c] * i / RATE))
        )
        for i in range(n)
    )
    return array("h", samples).tobytes()
