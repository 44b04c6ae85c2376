"""Hold music that needs no network: Twilio's default music lives on its own S3 buckets, which an offline
platform cannot reach, so their URLs play a built-in tune instead (a slow arpeggio of soft sine notes).

Pure functions: no I/O, no clock."""

from __future__ import annotations

import math
from array import array
from functools import lru_cache
from urllib.parse import urlsplit

from telephonist.media import audio

# Where Twilio keeps its hold music (queues' default, the holdmusic twimlet's buckets).
HOSTS = {
    "com.twilio.sounds.music.s3.amazonaws.com",
    "com.twilio.music.classical.s3.amazonaws.com",
    "com.twilio.music.ambient.s3.amazonaws.com",
    "com.twilio.music.electronica.s3.amazonaws.com",
    "com.twilio.music.guitars.s3.amazonaws.com",
    "com.twilio.music.newage.s3.amazonaws.com",
    "com.twilio.music.rock.s3.amazonaws.com",
    "com.twilio.music.soft-rock.s3.amazonaws.com",
}
_NOTES = (261.63, 329.63, 392.00, 523.25, 392.00, 329.63)  # C E G C' G E
_NOTE_SECONDS = 0.5


def is_hold_music(url: str) -> bool:
    return (urlsplit(url).hostname or "") in HOSTS


@lru_cache(maxsize=1)
def hold_music(seconds: float = 12.0) -> bytes:
    """The built-in tune as call audio, `seconds` long (it loops cleanly)."""
    n = round(_NOTE_SECONDS * audio.RATE)
    out = array("h")
    for i in range(round(seconds / _NOTE_SECONDS)):
        hz = _NOTES[i % len(_NOTES)]
        for k in range(n):
            envelope = min(1.0, k / 400, (n - k) / 800)  # no clicks between notes
            out.append(round(4000 * envelope * math.sin(2 * math.pi * hz * k / audio.RATE)))
    return out.tobytes()
