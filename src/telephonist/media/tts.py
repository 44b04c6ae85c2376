"""Speech synthesis with espeak-ng (a Debian package the Makefile installs): text to call audio."""

from __future__ import annotations

import asyncio
import shutil

from telephonist.media import audio

_CACHE: dict[tuple[str, str], bytes] = {}
_CACHE_SIZE = 256


class SpeechError(RuntimeError):
    pass


def available() -> bool:
    return shutil.which("espeak-ng") is not None


async def synthesize(text: str, language: str = "en-us") -> bytes:
    """`text` spoken, as 8 kHz PCM. The text goes to espeak-ng on stdin, never as an argument."""
    key = (text, language)
    if key in _CACHE:
        return _CACHE[key]
    if not available():
        raise SpeechError("espeak-ng is not installed (apt-get install espeak-ng)")
    proc = await asyncio.create_subprocess_exec(
        "espeak-ng",
        "--stdout",
        "-v",
        _voice(language),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(text.encode())
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
