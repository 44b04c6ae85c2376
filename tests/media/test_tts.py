"""<Say> voices: Twilio's voice names pick a male or a female espeak-ng voice."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

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


def test_a_synthesis_cancelled_leaves_no_espeak_behind() -> None:
    """A call that ends (or a server that stops) while its <Say> is being synthesized: espeak-ng is
    stopped, so no process or pipe outlives the event loop."""

    def espeaks() -> list[str]:
        children = Path(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/children").read_text().split()
        return [pid for pid in children if Path(f"/proc/{pid}/comm").read_text().strip() == "espeak-ng"]

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(tts.synthesize("A long announcement, " * 400 + str(os.getpid())))
        wait = asyncio.get_running_loop().time() + 5
        while not espeaks() and asyncio.get_running_loop().time() < wait:
            await asyncio.sleep(0.005)
        assert espeaks(), "espeak-ng did not start"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert espeaks() == []
