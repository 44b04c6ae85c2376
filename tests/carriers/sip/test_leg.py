"""How long a caller's quiet ends an utterance of `<Gather input="speech">` on a SIP call."""

from __future__ import annotations

import pytest

from telephonist.carriers.sip.leg import _speech_end
from telephonist.twiml.verbs import Gather


@pytest.mark.parametrize(
    ("speech_timeout", "timeout", "seconds"),
    [("auto", 5, 1.0), ("3", 5, 3.0), (None, 4, 4.0), ("0", 5, 0.5), ("soon", 5, 1.0)],
)
def test_speech_timeout(speech_timeout: str | None, timeout: int, seconds: float) -> None:
    gather = Gather(input=("speech",), speech_timeout=speech_timeout, timeout=timeout)
    assert _speech_end(gather) == seconds
