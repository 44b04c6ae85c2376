"""Audio files of any format FFmpeg reads (WAV of any depth and rate, MP3, Ogg…) as call audio, with PyAV."""

from __future__ import annotations

import io

import av

from telephonist.media import audio


def call_audio(data: bytes) -> bytes:
    """`data`, a whole audio file, as 8 kHz mono 16-bit PCM. Raises ValueError when it is not audio."""
    out = bytearray()
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise ValueError("the file has no audio")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=audio.RATE)
            for frame in container.decode(container.streams.audio[0]):
                for chunk in resampler.resample(frame):
                    out += bytes(chunk.planes[0])[: chunk.samples * audio.WIDTH]
            for chunk in resampler.resample(None):
                out += bytes(chunk.planes[0])[: chunk.samples * audio.WIDTH]
    except av.FFmpegError as err:
        raise ValueError(f"not an audio file FFmpeg reads: {err}") from None
    return bytes(out)
