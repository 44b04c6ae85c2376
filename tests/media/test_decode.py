"""Audio files to call audio with PyAV (WAV of other rates and channel counts, MP3, what is not audio), and
the built-in tune that Twilio's hold-music URLs play offline."""

from __future__ import annotations

import io
import math
import wave
from array import array

import pytest

from telephonist.media import audio, decode, music


def tone(rate: int, seconds: float, channels: int = 1, hz: float = 440.0) -> bytes:
    samples = [round(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(int(rate * seconds))]
    return array("h", [s for s in samples for _ in range(channels)]).tobytes()


def crossings_per_second(pcm: bytes) -> float:
    s = array("h", pcm)
    return sum(1 for a, b in zip(s, s[1:], strict=False) if (a < 0) != (b < 0)) / audio.duration(pcm)


def wav(pcm: bytes, rate: int, channels: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (16000, 1), (44100, 2)])
def test_wav_of_any_rate_and_channels_becomes_8khz_mono(rate: int, channels: int) -> None:
    pcm = decode.call_audio(wav(tone(rate, 1.0, channels), rate, channels))
    assert abs(audio.duration(pcm) - 1.0) < 0.01
    assert abs(crossings_per_second(pcm) - 880) < 10


def test_an_8khz_mono_wav_comes_back_unchanged() -> None:
    pcm = tone(8000, 0.5)
    assert decode.call_audio(wav(pcm, 8000, 1)) == pcm


def test_mp3() -> None:
    pcm = decode.call_audio(audio.mp3(tone(8000, 2.0)))
    assert 2.0 <= audio.duration(pcm) < 2.3  # the encoder's delay and padding
    assert abs(crossings_per_second(pcm[1600:-1600]) - 880) < 45  # 32 kbit/s: coding noise near zero


@pytest.mark.parametrize("data", [b"", b"not audio at all" * 100, b"RIFF\x00\x00\x00\x00WAVEjunk"])
def test_what_is_not_audio_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode.call_audio(data)


def test_hold_music_is_built_in_for_twilios_music_urls() -> None:
    assert music.is_hold_music("http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3")
    assert music.is_hold_music("http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3")
    assert not music.is_hold_music("https://example.com/hold.mp3")
    tune = music.hold_music()
    assert audio.duration(tune) == 12.0
    assert 500 < max(array("h", tune)) <= 4000  # audible, not loud
