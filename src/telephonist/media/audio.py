"""Call audio: 16-bit signed little-endian mono PCM at 8 kHz, as a phone call carries it; WAV and MP3.

Pure functions on bytes: no I/O, no clock.
"""

from __future__ import annotations

import io
import struct
import wave
from array import array

import lameenc

RATE = 8000  # samples a second
WIDTH = 2  # bytes a sample


def silence(seconds: float) -> bytes:
    return bytes(WIDTH * max(0, round(seconds * RATE)))


def duration(pcm: bytes) -> float:
    return len(pcm) / (WIDTH * RATE)


def pcm_of_wav(data: bytes) -> tuple[bytes, int]:
    """The samples and rate of a 16-bit mono WAV, including one written to a pipe (whose chunk sizes
    are placeholders: the data runs to the end)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos, rate = 12, 0
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if tag == b"fmt ":
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body : body + 16])
            if (fmt, channels, bits) != (1, 1, 16):
                raise ValueError("only 16-bit mono PCM WAV is read here")
        elif tag == b"data":
            end = len(data) if body + size > len(data) else body + size
            return data[body:end][: (end - body) // WIDTH * WIDTH], rate
        pos = body + size + (size & 1)
    raise ValueError("WAV file without data")


def resample(pcm: bytes, rate: int) -> bytes:
    """Linear interpolation to 8 kHz after averaging neighbours (enough of a low-pass for speech)."""
    if rate == RATE:
        return pcm
    src = array("h", pcm)
    step = rate / RATE
    span = max(1, int(step))
    out = array("h")
    n = len(src)
    for i in range(int(n / step)):
        pos = i * step
        k = int(pos)
        window = src[k : k + span] or src[n - 1 : n]
        out.append(int(sum(window) / len(window)))
    return out.tobytes()


def wav(pcm: bytes, channels: int = 1) -> bytes:
    """A WAV file of `pcm` (two channels interleaved when `channels` is 2)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(WIDTH)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return buf.getvalue()


def mp3(pcm: bytes, channels: int = 1) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32 * channels)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(channels)
    encoder.set_quality(5)
    return bytes(encoder.encode(pcm) + encoder.flush())


def trim(pcm: bytes, threshold: int = 64) -> bytes:
    """Without the silence before the first and after the last sound (`trim-silence`)."""
    samples = array("h", pcm)
    loud = [i for i, s in enumerate(samples) if abs(s) > threshold]
    if not loud:
        return b""
    return samples[loud[0] : loud[-1] + 1].tobytes()


def overlay(track: array[int], pcm: bytes, at: float) -> None:
    """Mix `pcm` into `track` from `at` seconds on (clipped to 16 bits; what runs past the end is lost)."""
    start = max(0, round(at * RATE))
    sound = array("h", pcm)[: max(0, len(track) - start)]
    for i, sample in enumerate(sound):
        track[start + i] = max(-32768, min(32767, track[start + i] + sample))


def interleave(left: bytes, right: bytes) -> bytes:
    """Two mono tracks of equal length as one two-channel stream."""
    out = array("h", bytes(len(left) * 2))
    out[0::2], out[1::2] = array("h", left), array("h", right)
    return out.tobytes()


def mix(a: bytes, b: bytes) -> bytes:
    track = array("h", a)
    overlay(track, b, 0.0)
    return track.tobytes()
