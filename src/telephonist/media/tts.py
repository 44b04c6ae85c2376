"""Speech synthesis with espeak-ng (a Debian package the Makefile installs): text to call audio."""

from __future__ import annotations

import asyncio
import contextlib
import shutil

from telephonist.media import audio

_CACHE: dict[tuple[str, str, str], bytes] = {}
_CACHE_SIZE = 256


class SpeechError(RuntimeError):
    pass


def available() -> bool:
    return shutil.which("espeak-ng") is not None


async def synthesize(text: str, language: str = "en-us", voice: str = "") -> bytes:
    """`text` spoken, as 8 kHz PCM, in a male or female espeak-ng voice as Twilio's `voice` names one. The
    text goes to espeak-ng on stdin, never as an argument."""
    key = (text, language, voice)
    if key in _CACHE:
        return _CACHE[key]
    if not available():
        raise SpeechError("espeak-ng is not installed (apt-get install espeak-ng)")
    proc = await asyncio.create_subprocess_exec(
        "espeak-ng",
        "--stdout",
        "-v",
        _voice(language) + _variant(voice),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate(text.encode())
    except BaseException:  # cancelled (the call ended, the server stops): no espeak-ng is left behind
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise SpeechError(f"espeak-ng failed ({proc.returncode}): {err.decode(errors='replace')[:200]}")
    pcm, rate = audio.pcm_of_wav(out)
    pcm = audio.resample(pcm, rate)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = pcm
    return pcm


def _voice(language: str) -> str:
    """An espeak-ng voice for a Twilio language code (`en-US`, `en-gb`, `es`, `fr-FR`…)."""
    code = language.lower().replace("_", "-")
    if code in ("en", "en-us"):
        return "en-us"
    return code if all(c.isalnum() or c == "-" for c in code) and code else "en-us"


# Twilio's male voices (Amazon Polly's and the classic `man`); the others, and Google's odd letters, are
# taken as female, as `woman`, `alice` and most Polly voices are.
_MALE = {
    "man", "matthew", "joey", "justin", "kevin", "stephen", "gregory", "brian", "arthur", "russell",
    "geraint", "mathieu", "remi", "hans", "daniel", "enrique", "miguel", "andres", "pedro", "giorgio",
    "adriano", "takumi", "ricardo", "thiago", "cristiano", "ruben", "jacek", "jan", "mads", "maxim",
    "karl", "liam", "sergio", "hyunsu", "zhiyu-male",
}  # fmt: skip
_GOOGLE_MALE = {"b", "d", "i", "j"}


def _variant(voice: str) -> str:
    """espeak-ng's `+m3`/`+f3` variant for a Twilio voice name (`man`, `Polly.Matthew-Neural`,
    `Google.en-US-Standard-B`…)."""
    name = voice.lower().split(".", 1)[-1].removesuffix("-neural").removesuffix("-generative")
    if voice.lower().startswith("google."):
        return "+m3" if name.rsplit("-", 1)[-1] in _GOOGLE_MALE else "+f3"
    if not name:
        return ""
    return "+m3" if name in _MALE else "+f3"
