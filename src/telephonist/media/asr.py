"""Offline speech recognition for `<Gather input="speech">` on real calls, with pocketsphinx (CMU Sphinx,
its US English model inside the wheel). With `hints`, the recogniser listens for those phrases only (a
JSGF grammar), which it does far better than free dictation of a telephone-band voice.

Pure functions on PCM: no I/O beyond loading the model, no clock. Decoding takes tens of milliseconds an
utterance with a grammar; run it in a thread."""

from __future__ import annotations

import re
import threading
from array import array
from functools import lru_cache

from pocketsphinx import Decoder

_LOCK = threading.Lock()  # a decoder is not thread-safe; calls are short
_WORD = re.compile(r"[a-z']+")
QUIET = 300  # mean absolute amplitude of a frame below which it is not speech


def _phrases(hints: str) -> tuple[str, ...]:
    """Twilio's comma-separated hints as lower-case phrases of dictionary-like words."""
    out = []
    for hint in hints.split(","):
        words = _WORD.findall(hint.lower())
        if words:
            out.append(" ".join(words))
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=32)
def _decoder(phrases: tuple[str, ...]) -> Decoder:
    decoder = Decoder(samprate=16000, loglevel="FATAL")
    if phrases:
        known = [p for p in phrases if all(decoder.lookup_word(w) for w in p.split())]
        if known:
            body = " | ".join(known)
            decoder.add_jsgf_string("hints", f"#JSGF V1.0;\ngrammar hints;\npublic <hint> = {body};\n")
            decoder.activate_search("hints")
    return decoder


def _to_16k(pcm: bytes) -> bytes:
    """Call audio (8 kHz) at the model's 16 kHz: each sample, then the mean of it and the next."""
    samples = array("h", pcm)
    out = array("h", bytes(4 * len(samples)))
    out[0::2] = samples
    out[1::2] = array("h", ((a + b) >> 1 for a, b in zip(samples, samples[1:] + samples[-1:], strict=True)))
    return out.tobytes()


def _speech_in(pcm: bytes) -> bool:
    """Some 20 ms of `pcm` are loud enough to be speech (the recogniser makes words of silence too)."""
    samples = array("h", pcm)
    return any(sum(map(abs, samples[i : i + 160])) > QUIET * 160 for i in range(0, len(samples), 160))


def transcribe(pcm: bytes, hints: str = "") -> tuple[str, float] | None:
    """The words in `pcm` (8 kHz call audio) and a confidence from 0 to 1, or None when none are heard.
    With hints, only a whole hinted phrase counts."""
    if not _speech_in(pcm):
        return None
    phrases = _phrases(hints)
    with _LOCK:
        decoder = _decoder(phrases)
        decoder.start_utt()
        decoder.process_raw(_to_16k(pcm), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
    if hyp is None or not hyp.hypstr.strip():
        return None
    if phrases and decoder.current_search() == "hints" and hyp.hypstr not in phrases:
        return None  # the grammar's best path stopped part-way through a phrase
    return hyp.hypstr, max(0.0, min(1.0, float(hyp.prob)))
