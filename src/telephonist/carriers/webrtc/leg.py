"""A call leg to or from a browser phone: its peer connection's audio behind the engine's Leg, and the
signalling state the carrier keeps for it (which tabs ring, which one took the call)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from telephonist.carriers.audio import AudioLeg
from telephonist.carriers.webrtc.media import PeerMedia

if TYPE_CHECKING:
    from telephonist.carriers.webrtc.carrier import WebRtcCarrier
    from telephonist.carriers.webrtc.signalling import Device

MEDIA_TIMEOUT = 10.0  # seconds for ICE and DTLS to connect once the browser took the call


class WebRtcLeg(AudioLeg):
    """One browser party of a call. Outgoing, it rings every tab signed in as the identity (the first to
    accept takes it); incoming, it is the call a tab placed with `device.connect`."""

    log = logging.getLogger("telephonist.webrtc")
    stream: PeerMedia

    def __init__(self, carrier: WebRtcCarrier, call_sid: str, account_sid: str, identity: str) -> None:
        super().__init__(carrier.p, call_sid, PeerMedia(call_sid))
        self.carrier = carrier
        self.account_sid = account_sid
        self.identity = identity  # the browser's
        self.call_id = call_sid  # its name in the signalling (a call the browser placed: the browser's)
        self.caller = ""  # outgoing: the From the browser is shown
        self.device: Device | None = None  # the tab that took the call, or placed it
        self.ringing: set[Device] = set()  # outgoing: the tabs it rings
        self.rejected = False  # a tab declined it
        self.decision: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.stream.on_lost = self.remote_hangup

    async def wait_answer(self, timeout: float) -> str:
        return await self.carrier.place(self, timeout)

    async def answer(self) -> None:
        """The engine answers a call the browser placed: the browser hears `accepted` once media flows."""
        if self.answered or self.ended.is_set():
            return
        self.answered = True
        if not await self.media_up():
            self.log.warning("call %s: the browser's media did not connect: hanging up", self.call_sid)
            self.carrier.fail(self, 53405, "Media connection failed")
            self.remote_hangup()
            return
        if self.device is not None:
            self.device.send({"type": "accepted", "call": self.call_id, "call_sid": self.call_sid})

    async def media_up(self) -> bool:
        """Wait for the peer connection (or the end of the leg): whether it connected."""
        connected = asyncio.ensure_future(self.stream.wait_connected(MEDIA_TIMEOUT))
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({connected, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            connected.cancel()
        return self.stream.connected.is_set() and not self.ended.is_set()

    async def hangup(self) -> None:
        if not self.ended.is_set():
            self.carrier.end(self)
            self._ended()

    async def reject(self, reason: str) -> None:
        if not self.ended.is_set():
            self.carrier.end(self, reason)
            self._ended()

    def _ended(self) -> None:
        super()._ended()
        if not self.decision.done():
            self.decision.set_result("no-answer")
        self.carrier.forget(self)
