"""The WebRTC carrier: browser phones signed in with access tokens. A call to `client:<identity>` rings the
tabs registered as that identity (before the SIP phones and the simulated network), and a tab's own calls
run its token's Application, as Twilio's Voice SDK calls do."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from telephonist.carriers.webrtc.leg import MEDIA_TIMEOUT, WebRtcLeg
from telephonist.carriers.webrtc.media import offer_address
from telephonist.store.db import Row
from telephonist.store.models import applications, call_events

if TYPE_CHECKING:
    from telephonist.app import Platform
    from telephonist.carriers.webrtc.signalling import Device

log = logging.getLogger("telephonist.webrtc")
_APP = select(applications).where(
    applications.c.sid == bindparam("sid"), applications.c.account_sid == bindparam("account_sid")
)


class WebRtcCarrier:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.devices: set[Device] = set()  # signed-in tabs
        self.legs: dict[str, WebRtcLeg] = {}  # live legs, by CallSid
        self._tasks: set[asyncio.Task[None]] = set()
        offer_address(platform.settings.webrtc_host)

    def registered(self, account_sid: str, identity: str) -> list[Device]:
        return [
            d
            for d in self.devices
            if d.registered
            and d.grant is not None
            and (d.grant.account_sid, d.grant.identity) == (account_sid, identity)
        ]

    def reaches(self, to: str, account_sid: str) -> bool:
        """Whether a call to `to` goes to a browser: a `client:` identity with a registered tab."""
        return to.startswith("client:") and bool(self.registered(account_sid, to[7:]))

    async def stop(self) -> None:
        for leg in list(self.legs.values()):
            await leg.hangup()
        for device in list(self.devices):
            await device.close()
        for task in list(self._tasks):
            task.cancel()

    # -- calls to a browser ------------------------------------------------------------------------------
    def outbound(self, row: Row) -> WebRtcLeg:
        """The leg of a call to `client:<identity>`; `wait_answer` rings the identity's tabs."""
        leg = WebRtcLeg(self, row["sid"], row["account_sid"], str(row["to"])[7:])
        leg.caller = str(row["from"])
        return leg

    async def place(self, leg: WebRtcLeg, timeout: float) -> str:
        """Ring every registered tab of the identity: 'answered' once one accepted and its media is up;
        'busy' when all of them rejected; 'no-answer' after `timeout` or when none is left ringing."""
        leg.ringing = set(self.registered(leg.account_sid, leg.identity))
        if not leg.ringing:
            return "no-answer"
        self.legs[leg.call_sid] = leg
        incoming = {
            "type": "incoming",
            "call": leg.call_id,
            "call_sid": leg.call_sid,
            "account_sid": leg.account_sid,
            "from": leg.caller,
            "to": f"client:{leg.identity}",
            "params": self._parameters(leg.call_sid),
        }
        for device in leg.ringing:
            device.ringing[leg.call_id] = leg
            device.send(incoming)
        log.info("call %s: ringing client:%s in %d tab(s)", leg.call_sid, leg.identity, len(leg.ringing))
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(leg.decision)
        except TimeoutError:
            return "no-answer"
        finally:
            if not leg.decision.done():  # a tab taking the call from now on is too late
                leg.decision.set_result("no-answer")
            self._stop_ringing(leg)

    def _parameters(self, call_sid: str) -> dict[str, str]:
        """The `<Client><Parameter>`s of the call, which its Dial noted among its events."""
        with self.p.db.tx() as conn:
            found = conn.execute(
                select(call_events.c.event)
                .where(call_events.c.call_sid == call_sid)
                .order_by(call_events.c.seq)
            ).scalars()
            for event in found:
                if event.get("event") == "incoming":
                    return {str(k): str(v) for k, v in event["parameters"].items()}
        return {}

    def _stop_ringing(self, leg: WebRtcLeg) -> None:
        for device in leg.ringing:
            device.ringing.pop(leg.call_id, None)
            device.send({"type": "cancel", "call": leg.call_id})
        leg.ringing.clear()

    async def accept(self, device: Device, call_id: str, offer: str) -> None:
        """A tab takes a ringing call with its SDP offer; the others stop ringing."""
        leg = device.ringing.pop(call_id, None)
        if leg is None or leg.device is not None or leg.decision.done():
            device.send({"type": "cancel", "call": call_id})  # taken elsewhere, or over
            return
        leg.ringing.discard(device)
        leg.device = device
        device.calls[call_id] = leg
        self._stop_ringing(leg)
        if not await self._answer(leg, offer):
            if not leg.decision.done():
                leg.decision.set_result("failed")
            return
        up = await leg.media_up()
        if leg.decision.done():  # the caller gave up meanwhile
            return
        if not up:
            self.fail(leg, 53405, "Media connection failed")
            leg.decision.set_result("failed")
            return
        leg.answered = True
        device.send({"type": "accepted", "call": call_id, "call_sid": leg.call_sid})
        leg.decision.set_result("answered")

    def decline(self, device: Device, call_id: str) -> None:
        """A tab rejects a ringing call (or goes away while it rings): busy once no tab rings and one
        rejected."""
        leg = device.ringing.pop(call_id, None)
        if leg is None:
            return
        leg.ringing.discard(device)
        leg.rejected = leg.rejected or device.open
        if not leg.ringing and leg.device is None and not leg.decision.done():
            leg.decision.set_result("busy" if leg.rejected else "no-answer")

    async def _answer(self, leg: WebRtcLeg, offer: str) -> bool:
        try:
            sdp = await leg.stream.answer(offer)
        except Exception as err:  # aiortc raises several kinds on an SDP it cannot take
            log.warning("call %s: the browser's SDP offer cannot be answered: %s", leg.call_sid, err)
            self.fail(leg, 53403, "Server is unable to apply a remote media description")
            return False
        assert leg.device is not None
        leg.device.send({"type": "answer", "call": leg.call_id, "call_sid": leg.call_sid, "sdp": sdp})
        return True

    # -- calls from a browser ------------------------------------------------------------------------------
    async def connect(self, device: Device, call_id: str, params: dict[str, str], offer: str) -> None:
        """A tab places a call: its token's Application answers it, with the token's and the call's
        parameters (`To` among them)."""
        grant = device.grant
        assert grant is not None
        if not grant.application_sid:
            device.send_error(20106, "The token's voice grant has no outgoing application", call_id)
            return
        with self.p.db.read() as q:
            app = q.first(_APP, sid=grant.application_sid, account_sid=grant.account_sid)
        if app is None:
            device.send_error(31001, f"Application not found: {grant.application_sid}", call_id)
            return
        leg = WebRtcLeg(self, "", grant.account_sid, grant.identity)
        leg.call_id, leg.device = call_id, device
        device.calls[call_id] = leg
        if not await self._answer(leg, offer):
            device.calls.pop(call_id, None)
            leg.stream.close()
            return
        if leg.ended.is_set():  # the tab hung up or went away meanwhile
            return
        params = {**grant.params, **params}
        leg.call_sid = leg.stream.call_sid = self._start(leg, app, params)
        self.legs[leg.call_sid] = leg
        device.send({"type": "call", "call": call_id, "call_sid": leg.call_sid})
        log.info("call %s: placed by client:%s through %s", leg.call_sid, grant.identity, app["sid"])
        self._watch(leg)

    def _start(self, leg: WebRtcLeg, app: Row, params: dict[str, str]) -> str:
        """Ring the platform as a SIP phone's call does, the Application standing for the number."""
        owner = {**app, "sid": None, "phone_number": params.get("To", ""), "voice_application_sid": None}
        extra = [("ApplicationSid", str(app["sid"])), *params.items()]
        return self.p.voice.start_inbound(f"client:{leg.identity}", owner, leg=leg, extra=extra)

    def _watch(self, leg: WebRtcLeg) -> None:
        """A placed call whose media never connects is hung up, answered or not."""

        async def watch() -> None:
            if not await leg.stream.wait_connected(MEDIA_TIMEOUT) and not leg.ended.is_set():
                log.warning("call %s: the browser's media did not connect: hanging up", leg.call_sid)
                self.fail(leg, 53405, "Media connection failed")
                leg.remote_hangup()

        task = asyncio.ensure_future(watch())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- ending ----------------------------------------------------------------------------------------------
    def fail(self, leg: WebRtcLeg, code: int, message: str) -> None:
        if leg.device is not None:
            leg.device.send_error(code, message, leg.call_id)

    def end(self, leg: WebRtcLeg, reason: str | None = None) -> None:
        """The platform ends a leg: the tab that has it hears `hangup`, tabs still ringing `cancel`."""
        self._stop_ringing(leg)
        if leg.device is not None:
            message = {"type": "hangup", "call": leg.call_id}
            if reason is not None:
                message["reason"] = reason
            leg.device.send(message)

    def hung_up(self, device: Device, call_id: str) -> None:
        """The tab hangs up a call it has, or declines one ringing."""
        leg = device.calls.get(call_id)
        if leg is not None:
            leg.remote_hangup()
        else:
            self.decline(device, call_id)

    def gone(self, device: Device) -> None:
        """A tab closed or lost its connection: its calls end, its ringing stops."""
        self.devices.discard(device)
        for call_id in list(device.ringing):
            self.decline(device, call_id)
        for leg in list(device.calls.values()):
            leg.remote_hangup()

    def forget(self, leg: WebRtcLeg) -> None:
        self.legs.pop(leg.call_sid, None)
        if leg.device is not None:
            leg.device.calls.pop(leg.call_id, None)
