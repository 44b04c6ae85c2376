"""The browser phone's signalling: one WebSocket a tab, JSON messages both ways, and the module pages
import (`static/telephonist.js`).

The page signs in with its access token as the first message (never in the URL, so it stays out of logs).
From the page: `auth`/`token` {token}, `register`, `unregister`, `connect` {call, params, sdp}, `accept`
{call, sdp}, `reject` {call}, `dtmf` {call, digits}, `hangup` {call}. To the page: `ready` {identity},
`registered`, `unregistered`, `incoming` {call, call_sid, from, to}, `answer` {call, call_sid, sdp}, `call`
{call, call_sid}, `accepted` {call}, `cancel` {call}, `hangup` {call, reason?}, `error` {code, message,
call?}. Calls are named by `call`: the CallSid of a call to the browser, the page's own id for its calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from telephonist import tokens

if TYPE_CHECKING:
    from telephonist.app import Platform
    from telephonist.carriers.webrtc.carrier import WebRtcCarrier
    from telephonist.carriers.webrtc.leg import WebRtcLeg

log = logging.getLogger("telephonist.webrtc")
SIGN_IN_TIMEOUT = 10.0  # seconds a new connection has to send its token
MAX_MESSAGE = 64 * 1024  # characters: an SDP offer is a few kilobytes
POLICY_VIOLATION = 1008  # WebSocket close code: the token was refused
_SCRIPT = Path(__file__).parent / "static" / "telephonist.js"


class Device:
    """One signed-in tab."""

    def __init__(self, carrier: WebRtcCarrier, websocket: WebSocket) -> None:
        self.carrier = carrier
        self.ws = websocket
        self.grant: tokens.VoiceGrant | None = None
        self.wants_calls = False  # registered for incoming calls (while its token is valid)
        self.open = True
        self.calls: dict[str, WebRtcLeg] = {}  # the calls it has, by their name in the signalling
        self.ringing: dict[str, WebRtcLeg] = {}  # calls ringing it
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._expiry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def registered(self) -> bool:
        return self.wants_calls and self.grant is not None and self.grant.incoming and not self.expired

    @property
    def expired(self) -> bool:
        return self.grant is None or self.grant.expires <= time.time()

    def send(self, message: dict[str, Any]) -> None:
        if self.open:
            self._out.put_nowait(message)

    def send_error(self, code: int, message: str, call: str | None = None) -> None:
        body: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if call is not None:
            body["call"] = call
        self.send(body)

    async def run(self) -> None:
        await self.ws.accept()
        writer = asyncio.ensure_future(self._write())
        try:
            if await self._sign_in():
                self.carrier.devices.add(self)
                while True:
                    self._handle(await self.ws.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            self.open = False
            if self._expiry is not None:
                self._expiry.cancel()
            self.carrier.gone(self)
            self._out.put_nowait(None)
            await writer
            for task in list(self._tasks):
                task.cancel()

    async def close(self) -> None:
        """The server stops: the tab is told by the socket closing."""
        with contextlib.suppress(RuntimeError):  # already closed
            await self.ws.close()

    async def _write(self) -> None:
        while (message := await self._out.get()) is not None:
            try:
                await self.ws.send_text(json.dumps(message))
            except (WebSocketDisconnect, RuntimeError, OSError):
                return

    async def _sign_in(self) -> bool:
        try:
            async with asyncio.timeout(SIGN_IN_TIMEOUT):
                first = await self.ws.receive_text()
        except TimeoutError:
            first = ""
        message = _parse(first)
        if message is None or message.get("type") != "auth" or not isinstance(message.get("token"), str):
            await self._refuse(
                31102, "Authorization token missing in request: send {type: auth, token} first"
            )
            return False
        try:
            self._accept_token(message["token"])
        except tokens.TokenError as err:
            await self._refuse(err.code, err.message)
            return False
        assert self.grant is not None
        log.info("browser signed in as client:%s of %s", self.grant.identity, self.grant.account_sid)
        self.send({"type": "ready", "identity": self.grant.identity, "account_sid": self.grant.account_sid})
        return True

    def _accept_token(self, token: str) -> None:
        """Verify a token (the first, or a fresher one for the same identity) and arm its expiry."""
        with self.carrier.p.db.read() as q:
            grant = tokens.verify(q, token)
        if self.grant is not None and (grant.account_sid, grant.identity) != (
            self.grant.account_sid,
            self.grant.identity,
        ):
            raise tokens.TokenError(20103, "A new token must be for the same account and identity")
        renewed = self.grant is not None and self.wants_calls and not self.registered
        self.grant = grant
        if renewed and self.registered:
            self.send({"type": "registered"})
        if self._expiry is not None:
            self._expiry.cancel()
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(max(0.0, grant.expires - time.time()), self._expired)

    def _expired(self) -> None:
        """As Twilio's devices do, a tab stops taking calls when its token expires (calls under way go on)
        until it sends a fresh one."""
        self.send_error(20104, "Access Token expired: update the token to go on")
        if self.wants_calls:
            self.send({"type": "unregistered"})

    async def _refuse(self, code: int, message: str) -> None:
        log.info("browser sign-in refused: %d %s", code, message)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.ws.send_text(json.dumps({"type": "error", "code": code, "message": message}))
            await self.ws.close(POLICY_VIOLATION)

    def _handle(self, text: str) -> None:
        message = _parse(text)
        if message is None:
            self.send_error(31100, "Malformed request: a JSON object with a type is expected")
            return
        kind, call = message.get("type"), str(message.get("call") or "")
        assert self.grant is not None
        if kind == "token":
            try:
                self._accept_token(str(message.get("token") or ""))
            except tokens.TokenError as err:
                self.send_error(err.code, err.message)
        elif self.expired and kind in ("register", "connect"):
            self.send_error(20104, "Access Token expired or expiration date invalid", call or None)
        elif kind == "register":
            if not self.grant.incoming:
                self.send_error(20106, "The token's voice grant does not allow incoming calls")
            else:
                self.wants_calls = True
                self.send({"type": "registered"})
        elif kind == "unregister":
            self.wants_calls = False
            self.send({"type": "unregistered"})
        elif kind in ("connect", "accept") and call and isinstance(message.get("sdp"), str):
            if kind == "connect":
                params = message.get("params")
                params = {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {}
                self._spawn(self.carrier.connect(self, call, params, message["sdp"]))
            else:
                self._spawn(self.carrier.accept(self, call, message["sdp"]))
        elif kind == "reject" and call:
            self.carrier.decline(self, call)
        elif kind == "hangup" and call:
            self.carrier.hung_up(self, call)
        elif kind == "dtmf" and call in self.calls:
            leg = self.calls[call]
            for key in str(message.get("digits") or "").upper():
                if key in "0123456789*#ABCD":
                    leg.stream.on_key(key)
        else:
            self.send_error(31100, f"Malformed request: {str(kind)[:40]!r} with these fields", call or None)

    def _spawn(self, coro: Any) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:  # a fault of ours ends that call, not the tab's connection
                log.exception("browser client:%s: request failed", self.grant.identity if self.grant else "")

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _parse(text: str) -> dict[str, Any] | None:
    if len(text) > MAX_MESSAGE:
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


async def signal(websocket: WebSocket) -> None:
    platform: Platform = websocket.app.state.platform
    await Device(platform.webrtc, websocket).run()


async def script(request: Request) -> Response:
    # Pages of any origin import it (an app embeds the phone in its own site): CORS allows them.
    return Response(
        _SCRIPT.read_bytes(),
        media_type="text/javascript",
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"},
    )


routes = [
    WebSocketRoute("/webrtc/v1/signal", signal),
    Route("/webrtc/v1/telephonist.js", script, methods=["GET"]),
]
