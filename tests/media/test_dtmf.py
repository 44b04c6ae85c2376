"""In-band DTMF: every key found once in its tones, through G.711, and never in speech or silence."""

from __future__ import annotations

import asyncio

import pytest

from telephonist.media import audio, dtmf, g711, tts


def through_ulaw(pcm: bytes) -> bytes:
    return g711.ulaw_decode(g711.ulaw_encode(pcm))


def test_every_key_once_through_ulaw() -> None:
    keys = "1234567890*#ABCD"
    pcm = b"".join(dtmf.tone(k, 0.08) + audio.silence(0.06) for k in keys)
    assert "".join(dtmf.ToneDetector().feed(through_ulaw(pcm))) == keys


def test_a_held_key_is_one_key_and_a_repeated_key_two() -> None:
    held = dtmf.tone("5", 1.0)
    repeated = dtmf.tone("5") + audio.silence(0.06) + dtmf.tone("5")
    assert dtmf.ToneDetector().feed(held) == ["5"]
    assert dtmf.ToneDetector().feed(repeated) == ["5", "5"]


def test_keys_arriving_in_odd_sized_pieces() -> None:
    pcm = dtmf.tone("7") + audio.silence(0.1) + dtmf.tone("#")
    detector, found = dtmf.ToneDetector(), []
    for i in range(0, len(pcm), 222):  # 111 samples at a time
        found += detector.feed(pcm[i : i + 222])
    assert found == ["7", "#"]


def test_too_short_or_too_quiet_tones_are_not_keys() -> None:
    assert dtmf.ToneDetector().feed(dtmf.tone("1", 0.02) + audio.silence(0.1)) == []
    assert dtmf.ToneDetector().feed(dtmf.tone("1", 0.2, amplitude=50)) == []


@pytest.mark.skipif(not tts.available(), reason="espeak-ng is not installed")
def test_speech_is_not_keys() -> None:
    texts = (
        "one two three four five six seven eight nine",
        "press the pound key to finish",
        "your account number is nine eight seven",
        "thank you for calling, please hold",
    )
    for voice in ("woman", "man"):
        for text in texts:
            speech = asyncio.run(tts.synthesize(text, voice=voice))
            assert dtmf.ToneDetector().feed(through_ulaw(speech)) == [], (voice, text)
