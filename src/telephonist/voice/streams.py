"""`<Connect><Stream>`: the call's audio to the application's WebSocket, in Twilio's media-stream messages
(`connected`, `start`, `media` with base64 μ-law at 8 kHz in 20 ms chunks, `dtmf`, `mark`, `stop`), and the
application's `media`, `mark` and `clear` messages back to the caller.

On the simulated network the caller's words (`/sim/v1/Calls/{Sid}/Speech`) are spoken by espeak-ng into
the inbound track; the stream runs until the application closes it or the call ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

import websockets

from telephonist.media import g711, tts
from telephonist.sids import new_sid
from telephonist.store.db import utcnow
from telephonist.twiml.verbs import Stream

if TYPE_CHECKING:
    from telephonist.voice.session import CallSession

log = logging.getLogger("telephonist.voice")
CHUNK = 160  # bytes of μ-law: 20 ms at 8 kHz
CONNECT_TIMEOUT = 10.0  # seconds to open the WebSocket
FLUSH_SECONDS = 2.0  # at the end, at most this long to send what the caller said just before


class MediaStream:
    """One stream of a call: `<Connect>` (it blocks the call, the application may talk back) or a
    `<Start>` fork (it runs beside the call and may carry the outbound track too)."""

    def __init__(self, session: CallSession, stream: Stream) -> None:
        self.s = session
        self.stream = stream
        self.sid = new_sid("MZ")
        self._audio: asyncio.Queue[tuple[str, str]] = asyncio.Queue()  # (track, key or speech: or words)
        self.sequence = 0
        self.chunk = 0
        self.received_ms = 0  # of audio the application sent the caller
        self.marks: list[str] = []
        self._start = 0.0
        self._playing_until = 0.0
        self._pending: set[asyncio.Task[None]] = set()

    async def run(self) -> tuple[tuple[str, str], ...]:
        s = self.s
        await s._ensure_answered()
        try:
            ws = await websockets.connect(self.stream.url, open_timeout=CONNECT_TIMEOUT, max_size=2**20)
        except Exception as exc:
            code = 31902 if isinstance(exc, OSError) else 31920
            s._notify(code, f"Media stream to {self.stream.url} could not be opened: {exc}")
            self._callback("stream-error", str(exc))
            return (("StreamSid", self.sid), ("StreamEvent", "stream-error"))
        loop = asyncio.get_running_loop()
        self._start = self._playing_until = loop.time()
        s._event({"event": "stream", "action": "start", "stream_sid": self.sid, "url": self.stream.url})
        self._callback("stream-started")
        stop_listening = s.leg.listen(lambda item: self._audio.put_nowait(("inbound", item)))
        sender = asyncio.ensure_future(self._send_audio(ws))
        try:
            await self._send(ws, {"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await self._send(ws, self._start_message())
            await self._receive(ws)  # until the application closes the stream
        except websockets.ConnectionClosed:
            pass
        finally:
            stop_listening()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                # what the caller said before the end still reaches the application
                async with asyncio.timeout(FLUSH_SECONDS):
                    await asyncio.shield(self._audio.join())
            sender.cancel()
            with contextlib.suppress(Exception):
                stop = {"accountSid": s.account_sid, "callSid": s.sid}
                await asyncio.shield(self._send(ws, {"event": "stop", "streamSid": self.sid, "stop": stop}))
            with contextlib.suppress(Exception):
                await asyncio.shield(ws.close())
            s._event(
                {
                    "event": "stream",
                    "action": "stop",
                    "stream_sid": self.sid,
                    "received_ms": self.received_ms,
                    "marks": self.marks,
                }
            )
            self._callback("stream-stopped")
        return (("StreamSid", self.sid), ("StreamEvent", "stream-stopped"))

    def _start_message(self) -> dict[str, Any]:
        s = self.s
        return {
            "event": "start",
            "streamSid": self.sid,
            "start": {
                "accountSid": s.account_sid,
                "streamSid": self.sid,
                "callSid": s.sid,
                "tracks": self._tracks(),
                "customParameters": dict(self.stream.parameters),
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }

    async def _send(self, ws: Any, message: dict[str, Any]) -> None:
        self.sequence += 1
        await ws.send(json.dumps({**message, "sequenceNumber": str(self.sequence)}))

    def _now_ms(self) -> int:
        elapsed = asyncio.get_running_loop().time() - self._start
        return round(elapsed / self.s.p.settings.time_scale * 1000)

    def _tracks(self) -> list[str]:
        return {"inbound_track": ["inbound"], "outbound_track": ["outbound"]}.get(
            self.stream.track, ["inbound", "outbound"]
        )

    def said(self, text: str) -> None:
        """The platform says `text` to the caller: the outbound track, when this stream carries it."""
        if "outbound" in self._tracks():
            self._audio.put_nowait(("outbound", text))

    async def _send_audio(self, ws: Any) -> None:
        """The caller's keys as `dtmf`; their words (inbound) and the platform's (outbound) as `media`."""
        while True:
            track, item = await self._audio.get()
            try:
                await self._send_item(ws, track, item)
            finally:
                self._audio.task_done()

    async def _send_item(self, ws: Any, track: str, item: str) -> None:
        if track == "inbound" and "inbound" not in self._tracks():
            return
        if track == "inbound" and not item.startswith("speech:"):
            dtmf = {"track": "inbound_track", "digit": item}
            await self._send(ws, {"event": "dtmf", "streamSid": self.sid, "dtmf": dtmf})
            return
        data = g711.ulaw_encode(await tts.synthesize(item.removeprefix("speech:")))
        base = self._now_ms()
        for i in range(0, len(data), CHUNK):
            self.chunk += 1
            media = {
                "track": track,
                "chunk": str(self.chunk),
                "timestamp": str(base + i // 8),
                "payload": base64.b64encode(data[i : i + CHUNK]).decode(),
            }
            await self._send(ws, {"event": "media", "streamSid": self.sid, "media": media})

    async def _receive(self, ws: Any) -> None:
        """The application's `media` (played to the caller), `mark` (sent back once what came before it
        has played) and `clear` (what has not played yet is dropped)."""
        loop = asyncio.get_running_loop()
        scale = self.s.p.settings.time_scale
        async for raw in ws:
            try:
                message = json.loads(raw)
                kind = message.get("event")
            except (ValueError, AttributeError):
                self.s._notify(31950, "Media stream message is not JSON", warning=True)
                continue
            if kind == "media":
                try:
                    payload = base64.b64decode(message["media"]["payload"], validate=True)
                except (KeyError, TypeError, ValueError):
                    self.s._notify(31951, "Media stream message has no valid media payload", warning=True)
                    continue
                ms = len(payload) // 8
                self.received_ms += ms
                self._playing_until = max(self._playing_until, loop.time()) + ms / 1000 * scale
            elif kind == "mark":
                name = str((message.get("mark") or {}).get("name", ""))
                delay = max(0.0, self._playing_until - loop.time())
                loop.call_later(delay, self._mark_played, ws, name)
            elif kind == "clear":
                self._playing_until = loop.time()
            else:
                self.s._notify(31951, f"Media stream message of unknown event {kind!r}", warning=True)

    def _mark_played(self, ws: Any, name: str) -> None:
        task = asyncio.ensure_future(self._played(ws, name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _played(self, ws: Any, name: str) -> None:
        self.marks.append(name)
        with contextlib.suppress(Exception):
            await self._send(ws, {"event": "mark", "streamSid": self.sid, "mark": {"name": name}})

    def _callback(self, event: str, error: str | None = None) -> None:
        if not self.stream.status_callback:
            return
        s = self.s
        params = [
            ("AccountSid", s.account_sid),
            ("CallSid", s.sid),
            ("StreamSid", self.sid),
            ("StreamName", self.stream.name or self.sid),
            ("StreamEvent", event),
            ("Timestamp", utcnow().strftime("%a, %d %b %Y %H:%M:%S +0000")),
        ]
        if error:
            params.append(("StreamError", error))
        s._post(self.stream.status_callback, self.stream.status_callback_method, params, self.sid)
