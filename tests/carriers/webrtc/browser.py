"""A browser phone for the tests: Debian's chromium driven by Playwright, its microphone a WAV file (which
chromium loops), on a page that imports Telephonist's module and notes what happens in `window.events`."""

from __future__ import annotations

import math
import wave
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from chromium import ARGS as BASE_ARGS
from chromium import CHROMIUM, MEDIA
from conftest import Telephonist, WebApp
from telephonist.media import audio

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
ARGS = [*BASE_ARGS, *MEDIA]

# The page: the module imported from the server under test, as an app's own page would; incoming calls
# accepted or rejected as `window.answer` says; each accepted call's received audio measured with the Web
# Audio API every 50 ms (`call.levels`: [seconds since accept, RMS of full scale]).
PAGE = """<!doctype html>
<html><head><title>phone</title></head><body>
<script type="module">
import { Device } from "BASE/webrtc/v1/telephonist.js";

// A phone's audio processing would reshape the test's tone: the microphone is taken as it is.
const AS_IT_IS = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
window.events = [];
window.calls = [];
window.answer = "accept";
const note = (name, call, extra = {}) =>
  window.events.push({ name, sid: call ? call.parameters.CallSid || null : null, ...extra });

function meter(call) {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(call.remoteStream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const start = performance.now();
  call.levels = [];
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const x of samples) sum += x * x;
    call.levels.push([(performance.now() - start) / 1000, Math.sqrt(sum / samples.length)]);
  }, 50);
  call.on("disconnect", () => clearInterval(timer));
}

function watch(call) {
  window.calls.push(call);
  call.on("accept", () => { note("accept", call); meter(call); });
  for (const name of ["disconnect", "cancel", "reject"]) call.on(name, () => note(name, call));
  call.on("error", (e) => note("error", call, { code: e.code }));
}

window.signIn = async (token, register) => {
  try {
    const device = new Device(token, { audioConstraints: AS_IT_IS });
    window.device = device;
    device.on("incoming", (call) => {
      watch(call);
      const params = Object.fromEntries(call.customParameters);
      note("incoming", call, { from: call.parameters.From, to: call.parameters.To, params });
      if (window.answer === "accept") call.accept();
      else if (window.answer === "reject") call.reject();
    });
    device.on("error", (e) => window.events.push({ name: "device-error", code: e.code }));
    if (register) await device.register();
    return 0;
  } catch (e) {
    return e.code;
  }
};

// Mute the call's microphone now; `releaseAfterPhrase` lets it through again once a phrase of the looped
// microphone file has ended, so that the next one reaches the call whole. A clone of the microphone,
// never muted, tells when.
window.hold = (i) => {
  const call = window.calls[i];
  call.probe = call.localStream.getAudioTracks()[0].clone();
  call.mute(true);
};
window.releaseAfterPhrase = (i) => new Promise((resolve) => {
  const call = window.calls[i];
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(new MediaStream([call.probe])).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let spoke = false, quiet = 0;
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const x of samples) sum += x * x;
    if (Math.sqrt(sum / samples.length) > 0.02) {
      spoke = true;
      quiet = 0;
    } else if (spoke && ++quiet >= 6) {
      clearInterval(timer);
      call.probe.stop();
      call.mute(false);
      resolve();
    }
  }, 50);
});

window.place = async (params) => {
  const call = await window.device.connect({ params });
  watch(call);
  return window.calls.length - 1;
};
window.ready = true;
</script>
</body></html>
"""


def tone_wav(path: Path, seconds: float, loud: float, amplitude: int = 8000, rate: int = 48000) -> bytes:
    """A 16-bit mono WAV: 440 Hz for `loud` seconds, then quiet to `seconds`; its PCM is returned."""
    samples = array(
        "h",
        (
            round(amplitude * math.sin(2 * math.pi * 440 * i / rate)) if i < loud * rate else 0
            for i in range(round(seconds * rate))
        ),
    )
    write_wav(path, samples.tobytes(), rate)
    return samples.tobytes()


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def rms(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


@contextmanager
def launch(microphone: Path) -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=[*ARGS, f"--use-file-for-fake-audio-capture={microphone}"]
        )
        try:
            yield browser
        finally:
            browser.close()


def open_phone(browser: Browser, tel: Telephonist, webapp: WebApp, urls: list[str] | None = None) -> Page:
    """A tab on the phone page (served by the app's own site, as an app embeds the phone); every URL it
    requests or opens a WebSocket to goes into `urls`."""
    page = browser.new_page()
    page.set_default_timeout(15_000)
    if urls is not None:
        page.on("request", lambda request: urls.append(request.url))
        page.on("websocket", lambda ws: urls.append(ws.url))
    page.goto(webapp.file("/phone.html", PAGE.replace("BASE", tel.base_url).encode(), "text/html"))
    page.wait_for_function("window.ready === true")
    return page


def token(tel: Telephonist, identity: str = "alice", **params: Any) -> dict[str, Any]:
    """A token minted by Telephonist's endpoint for the default account."""
    with tel.http as h:
        r = h.post("/webrtc/v1/Tokens", data={"Identity": identity, **params})
    assert r.status_code == 201, r.text
    return dict(r.json())


def events(page: Page, name: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("window.events")
    return [e for e in found if name is None or e["name"] == name]


def levels(page: Page, call: int) -> list[tuple[float, float]]:
    return [(t, v) for t, v in page.evaluate(f"window.calls[{call}].levels || []")]


def recording(url: str) -> bytes:
    """The audio of a Recording, fetched as an application does (no credentials)."""
    pcm, rate = audio.pcm_of_wav(httpx.get(url + ".wav", timeout=10).content)
    assert rate == audio.RATE
    return pcm
