"""<Say> voices: Twilio's voice names pick a male or a female espeak-ng voice."""

from __future__ import annotations

import asyncio

import pytest

from telephonist.media import tts
from telephonist.media.tts import _variant

pytestmark = pytest.mark.skipif(not tts.available(), reason="espeak-ng is not installed")


@pytest.mark.parametrize(
    ("voice", "variant"),
    [
        ("man", "+m3"),
        ("woman", "+f3"),
        ("alice", "+f3"),
        ("Polly.Joanna", "+f3"),
        ("Polly.Matthew-Neural", "+m3"),
        ("Polly.Brian", "+m3"),
        ("Google.en-US-Standard-B", "+m3"),
        ("Google.en-US-Wavenet-C", "+f3"),
        ("", ""),
    ],
)
def test_voice_names(voice: str, variant: str) -> None:
    assert _variant(voice) == variant


def test_a_woman_and_a_man_do_not_sound_alike() -> None:
    woman = asyncio.run(tts.synthesize("Thank you for calling", voice="woman"))
    man = asyncio.run(tts.synthesize("Thank you for calling", voice="man"))
    assert woman != man and woman and man
