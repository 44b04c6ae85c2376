"""A call leg over SIP: the dialog the carrier keeps for it and its RTP stream, behind the engine's Leg."""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING

from telephonist.carriers.audio import AudioLeg
from telephonist.carriers.audio import speech_end as _speech_end
from telephonist.carriers.sip import sdp
from telephonist.carriers.sip.dialog import Dialog
from telephonist.carriers.sip.media import RtpStream
from telephonist.carriers.sip.message import Request

if TYPE_CHECKING:
    from telephonist.carriers.sip.carrier import SipCarrier, Target
    from telephonist.config import SipTrunk

__all__ = ["SipLeg", "_speech_end"]


class SipLeg(AudioLeg):
    """One SIP party of a call. An inbound leg starts with the caller's INVITE; the carrier answers,
    rejects or ends it on the engine's behalf and reports the far end's BYE or CANCEL here."""

    log = logging.getLogger("telephonist.sip")
    stream: RtpStream

    def __init__(self, carrier: SipCarrier, call_sid: str, stream: RtpStream, invite: Request | None) -> None:
        super().__init__(carrier.p, call_sid, stream)
        self.carrier = carrier
        self.invite = invite  # the caller's, or (outgoing) the last we sent
        self.route: Target | None = None  # outgoing: where the INVITE goes
        self.caller = ""  # outgoing: the From
        self.source: tuple[str, int] | None = None  # where in-dialog requests go, when not to the Contact
        self.ack: tuple[Request, tuple[str, int]] | None = None  # outgoing: the ACK of the 2xx and its hop
        self.sip_code: int | None = None  # the last SIP status of the INVITE
        self.trunk: SipTrunk | None = None  # the trunk it came in by or left through
        self.transport = "UDP"  # or TCP: how its signalling goes
        self.started = 0.0  # when it was answered (time.monotonic)
        self.dialog: Dialog | None = None
        self.offer: sdp.SessionDescription | None = None  # the INVITE's (None: a late offer, ours in the 200)
        self.answer_sdp: sdp.SessionDescription | None = None  # what our 200 carries
        self.session_id = secrets.randbelow(2**31)
        self.sdp_version = 0

    # -- ringing and answering ------------------------------------------------------------------------
    async def wait_answer(self, timeout: float) -> str:
        return await self.carrier.place(self, timeout)

    async def answer(self) -> None:
        if not self.answered and not self.ended.is_set():
            self.answered = True
            self.started = time.monotonic()
            self.carrier.answer(self)
            self.stream.start()

    # -- ending -------------------------------------------------------------------------------------
    async def hangup(self) -> None:
        if not self.ended.is_set():
            self.carrier.end(self, 480 if not self.answered else None)
            self._ended()

    async def reject(self, reason: str) -> None:
        if not self.ended.is_set():
            self.carrier.end(self, 486 if reason == "busy" else 603)
            self._ended()

    def _ended(self) -> None:
        super()._ended()
        self.carrier.forget(self)
