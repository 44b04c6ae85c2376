"""The media edge of a browser call without a browser: an aiortc peer offers as a page does, and what it
sends reaches the call as 8 kHz frames (keypad tones found as keys), what the call plays reaches it, and its
going away is noticed."""

from __future__ import annotations

import asyncio
import fractions
import math
from array import array

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from telephonist.carriers.audio import FRAME_BYTES
from telephonist.carriers.webrtc.media import PeerMedia
from telephonist.media import audio, dtmf

RATE = 48000  # a browser's
SAMPLES = 960  # 20 ms


def tone(seconds: float, amplitude: int, rate: int) -> bytes:
    n = round(seconds * rate)
    return array("h", (round(amplitude * math.sin(2 * math.pi * 440 * i / rate)) for i in range(n))).tobytes()


def rms(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


class Microphone(MediaStreamTrack):
    """A page's microphone: `pcm` (48 kHz) in 20 ms frames, then silence."""

    kind = "audio"

    def __init__(self, pcm: bytes) -> None:
        super().__init__()
        self.pcm = pcm
        self.sent = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await asyncio.sleep(0.02)
        chunk = self.pcm[self.sent : self.sent + SAMPLES * 2]
        chunk += bytes(SAMPLES * 2 - len(chunk))
        frame = av.AudioFrame(format="s16", layout="stereo", samples=SAMPLES)  # as a browser's Opus is
        frame.planes[0].update(audio.interleave(chunk, chunk))
        frame.sample_rate, frame.time_base = RATE, fractions.Fraction(1, RATE)
        frame.pts = self.sent // 2
        self.sent += SAMPLES * 2
        return frame


async def scenario() -> tuple[list[str], list[bytes], bytes, bool]:
    page = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    # 1 s of a tone, then the keys 5 and 9 as a keypad sounds them (upsampled for the page's rate).
    keys = dtmf.tone("5") + audio.silence(0.1) + dtmf.tone("9") + audio.silence(0.1)
    upsampled = array("h", (s for s in array("h", keys) for _ in range(6))).tobytes()
    page.addTrack(Microphone(tone(1.0, 8000, RATE) + upsampled))
    heard = bytearray()

    async def listen(track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=audio.RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            for out in resampler.resample(frame):
                heard.extend(bytes(out.planes[0])[: out.samples * 2])

    listening: list[asyncio.Task[None]] = []
    page.on("track", lambda track: listening.append(asyncio.ensure_future(listen(track))))
    media = PeerMedia("CA" + "0" * 32)
    found: list[str] = []
    frames: list[bytes] = []
    lost = asyncio.Event()
    media.on_key = found.append
    media.on_audio = frames.append
    media.on_lost = lost.set
    await page.setLocalDescription(await page.createOffer())
    answer = await media.answer(page.localDescription.sdp)
    await page.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    assert await media.wait_connected(10)
    await media.play(tone(1.0, 8000, audio.RATE))  # waits until sent, a frame every 20 ms
    await asyncio.sleep(1.0)
    await page.close()  # the page goes away
    await asyncio.wait_for(lost.wait(), 10)
    media.close()
    for task in listening:
        task.cancel()
    return found, frames, bytes(heard), lost.is_set()


def test_audio_both_ways_and_keys_in_tones() -> None:
    found, frames, heard, lost = asyncio.run(scenario())
    assert found == ["5", "9"]
    assert frames and all(len(f) == FRAME_BYTES for f in frames)
    # The page's second of tone arrived whole, as loud as it was sent (the keys' quieter tones follow it).
    received = b"".join(frames)
    windows = [received[i : i + 1600] for i in range(0, len(received), 1600)]  # 0.2 s each
    first = next(i for i, w in enumerate(windows) if rms(w) > 1000)
    assert (
        0.8 * 8000 / math.sqrt(2)
        <= rms(b"".join(windows[first + 1 : first + 4]))
        <= 1.2 * 8000 / math.sqrt(2)
    )
    # The page heard the second played to it, as loud as it was played.
    played = [heard[i : i + 1600] for i in range(0, len(heard), 1600) if rms(heard[i : i + 1600]) > 1000]
    assert 0.8 <= audio.duration(b"".join(played)) <= 1.3
    assert 0.7 * 8000 / math.sqrt(2) <= rms(b"".join(played[1:-1])) <= 1.3 * 8000 / math.sqrt(2)
    assert lost
