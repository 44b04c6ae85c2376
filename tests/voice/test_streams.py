"""<Connect><Stream> against a real WebSocket server on loopback: Twilio's media-stream messages both ways."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets

from conftest import Telephonist, WebApp, free_port, wait_until

from .support import events, params, place, signed

GREETING = bytes([0xFF]) * 800  # 100 ms of μ-law silence


@dataclass
class StreamApp:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    close: threading.Event = field(default_factory=threading.Event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["event"] == kind]


@pytest.fixture
def stream_app() -> Iterator[StreamApp]:
    port = free_port()
    app = StreamApp(f"ws://127.0.0.1:{port}/media")
    loop = asyncio.new_event_loop()

    async def handler(ws: Any) -> None:
        async for raw in ws:
            message = json.loads(raw)
            app.received.append(message)
            if message["event"] == "start":
                sid = message["streamSid"]
                payload = base64.b64encode(GREETING).decode()
                await ws.send(json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}}))
                await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "greeting"}}))
            if message["event"] == "dtmf" and message["dtmf"]["digit"] == "#":
                await ws.close()

    async def serve() -> None:
        async with websockets.serve(handler, "127.0.0.1", port):
            while not app.close.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    wait_until(lambda: _listening(port))
    yield app
    app.close.set()
    thread.join(timeout=5)
    loop.close()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_media_stream_both_ways(tel: Telephonist, webapp: WebApp, stream_app: StreamApp) -> None:
    webapp.twiml("/after", "<Response><Say>Stream over.</Say></Response>")
    twiml = (
        f'<Response><Connect action="/after"><Stream url="{stream_app.url}" statusCallback="/stream-status">'
        '<Parameter name="ticket" value="42"/></Stream></Connect><Say>never</Say></Response>'
    )
    sid = place(tel, webapp.twiml("/voice", twiml))
    [start] = wait_until(lambda: stream_app.of("start"))
    assert stream_app.received[0]["event"] == "connected"
    assert start["start"]["callSid"] == sid and start["start"]["customParameters"] == {"ticket": "42"}
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    stream_sid = start["streamSid"]
    assert stream_sid.startswith("MZ")
    tel.sim("POST", f"/Calls/{sid}/Speech", Text="I need help with my order")

    def audio_ms() -> int:
        return sum(len(base64.b64decode(m["media"]["payload"])) for m in stream_app.of("media")) // 8

    wait_until(lambda: audio_ms() >= 800)  # "I need help with my order", spoken by espeak-ng
    assert all(m["media"]["track"] == "inbound" for m in stream_app.of("media"))
    [mark] = wait_until(lambda: stream_app.of("mark"))
    assert mark["mark"]["name"] == "greeting"
    tel.sim("POST", f"/Calls/{sid}/Digits", Digits="5#")
    tel.call_final(sid)
    assert [d["dtmf"]["digit"] for d in stream_app.of("dtmf")][:2] == ["5", "#"]
    p = params(webapp.wait_hits("/after")[0])
    assert p["StreamSid"] == stream_sid
    assert [e["text"] for e in events(tel, sid, "say")] == ["Stream over."]
    stop = [e for e in events(tel, sid, "stream") if e["action"] == "stop"][0]
    assert (stop["received_ms"], stop["marks"]) == (100, ["greeting"])
    hits = webapp.wait_hits("/stream-status", 2)
    assert [params(h)["StreamEvent"] for h in hits] == ["stream-started", "stream-stopped"]
    assert all(signed(h) for h in hits)
    sequence = [int(m["sequenceNumber"]) for m in stream_app.received]
    assert sequence == sorted(sequence)


def test_unreachable_stream_is_31902_and_the_call_goes_on(tel: Telephonist) -> None:
    port = free_port()  # nobody listens there
    twiml = (
        f'<Response><Connect><Stream url="ws://127.0.0.1:{port}/x"/></Connect><Say>Fallback</Say></Response>'
    )
    sid = place(tel, twiml=twiml)
    tel.call_final(sid)
    assert [e["text"] for e in events(tel, sid, "say")] == ["Fallback"]
    assert "31902" in [n.error_code for n in tel.client().calls(sid).notifications.list()]


def test_start_stream_forks_both_tracks_and_stop_ends_it(
    tel: Telephonist, webapp: WebApp, stream_app: StreamApp
) -> None:
    twiml = (
        f'<Response><Start><Stream name="fork" track="both_tracks" url="{stream_app.url}"/></Start>'
        "<Say>Your call may be monitored.</Say>"
        '<Gather input="speech" action="/heard" timeout="50"/></Response>'
    )
    webapp.twiml(
        "/heard", '<Response><Stop><Stream name="fork"/></Stop><Say>Thank you, goodbye.</Say></Response>'
    )
    sid = place(tel, webapp.twiml("/voice", twiml))
    wait_until(lambda: stream_app.of("start"))
    [start] = stream_app.of("start")
    assert start["start"]["tracks"] == ["inbound", "outbound"]
    outbound = wait_until(lambda: [m for m in stream_app.of("media") if m["media"]["track"] == "outbound"])
    assert outbound
    tel.sim("POST", f"/Calls/{sid}/Speech", Text="billing please")
    tel.call_final(sid)
    # the Gather still got the words: a fork listens without taking them
    assert params(webapp.wait_hits("/heard")[0])["SpeechResult"] == "billing please"
    wait_until(lambda: stream_app.of("stop"))
    assert any(m["media"]["track"] == "inbound" for m in stream_app.of("media"))
    said = [e["text"] for e in events(tel, sid, "say")]
    assert said == ["Your call may be monitored.", "Thank you, goodbye."]
