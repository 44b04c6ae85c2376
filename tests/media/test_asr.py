"""The offline recogniser on espeak-ng's voice at telephone quality: with hints it picks the phrase said
most of the time (the figure is printed: `pytest -s`); silence is nothing."""

from __future__ import annotations

import asyncio

import pytest

from telephonist.media import asr, audio, g711, tts

pytestmark = pytest.mark.skipif(not tts.available(), reason="espeak-ng is not installed")
HINTS = [
    "yes please",
    "no thanks",
    "sales",
    "support",
    "billing",
    "speak to an agent",
    "cancel my order",
    "track my order",
    "one two three four",
]


def spoken(text: str) -> bytes:
    """`text` as a caller's phone sends it: through μ-law, with a little quiet around it."""
    pcm = asyncio.run(tts.synthesize(text))
    return audio.silence(0.3) + g711.ulaw_decode(g711.ulaw_encode(pcm)) + audio.silence(0.5)


def test_with_hints_most_phrases_are_recognised() -> None:
    right = 0
    for phrase in HINTS:
        heard = asr.transcribe(spoken(phrase), ", ".join(HINTS))
        right += heard is not None and heard[0] == phrase
        assert heard is None or (heard[0] in HINTS and 0.0 <= heard[1] <= 1.0)  # only hinted phrases
    print(f"\nrecognised {right} of {len(HINTS)} hinted phrases")
    assert right >= 6


def test_free_dictation_hears_words_and_silence_is_nothing() -> None:
    heard = asr.transcribe(spoken("hello world"))
    assert heard is not None and heard[0]
    assert asr.transcribe(audio.silence(1.0)) is None
    assert asr.transcribe(b"") is None


def test_hints_with_unknown_words_are_left_out() -> None:
    heard = asr.transcribe(spoken("billing"), "billing, xyzzyq frobnicate")
    assert heard is not None and heard[0] == "billing"
