"""`<Dial>` to numbers, clients and SIP addresses: ring them all at once (or in turn when `sequential`),
bridge the caller with the first that answers and accepts, and report Twilio's Dial* parameters.

Each dialled party is a Call resource of its own (`direction` outbound-dial, `parent_call_sid`) with its
status callbacks; a `url` on the noun runs TwiML on the callee before the bridge (a whisper).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from telephonist.numbers import to_e164
from telephonist.states import CALL_FINAL
from telephonist.store import transcripts
from telephonist.twiml.verbs import Dial, DialTarget
from telephonist.voice.callrecording import CallRecording, Options
from telephonist.voice.interpreter import Source
from telephonist.voice.queues import Handover
from telephonist.voice.session import CallSession

if TYPE_CHECKING:
    from telephonist.carriers.base import Leg

log = logging.getLogger("telephonist.voice")


@dataclass(frozen=True)
class DialOutcome:
    status: str  # completed | busy | no-answer | failed | canceled
    call_sid: str | None = None
    duration: int = 0
    bridged: bool = False
    extra: tuple[tuple[str, str], ...] = ()  # <Dial><Queue>: QueueSid, DequeueResult, DequeuedCall…

    def params(self) -> tuple[tuple[str, str], ...]:
        out = [("DialCallStatus", self.status), ("DialBridged", "true" if self.bridged else "false")]
        if self.call_sid is not None:
            out += [("DialCallSid", self.call_sid), ("DialCallDuration", str(self.duration))]
        return (*out, *self.extra)


class DialedCall(CallSession):
    """One party of a Dial: rings, runs the whisper on the callee, then stays up for the bridge."""

    def __init__(self, runner: DialRunner, row: Any, leg: Leg, target: DialTarget) -> None:
        super().__init__(runner.parent.p, row, leg)
        self.target = target

    async def ring(self, timeout: float) -> str:
        """'answered' once the callee answered and accepted; otherwise how the attempt ended."""
        if self.target.parameters:  # what a <Client> gets with the incoming call
            self._event({"event": "incoming", "parameters": dict(self.target.parameters)})
        outcome = await self._ring(timeout)
        if outcome != "answered":
            return outcome
        if self.params.get("MachineDetection"):
            await self._detect_machine()
        if self.target.send_digits:
            self._event({"event": "play", "digits": self.target.send_digits})
            await self.leg.play_digits(self.target.send_digits)
        if self.target.url and not await self._whisper():
            self._event({"event": "hangup", "by": self.hung_up_by or "platform"})
            await self._finish("completed")
            return "declined"
        return "answered"

    async def _whisper(self) -> bool:
        """Run the noun's TwiML on the callee: accepted if it runs to its end with the callee still there."""
        assert self.target.url is not None
        source = Source(url=self.target.url, method=self.target.method)
        self._program = asyncio.ensure_future(self._run_program(source))
        try:
            end = await self._program
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            return False
        return not (end.hangup or end.error or end.reject or self._done.is_set() or self.leg.ended.is_set())

    async def _dial(self, verb: Dial) -> tuple[tuple[str, str], ...]:
        self._notify(13201, "Cannot Dial out from a Dial call segment (the callee's url TwiML)")
        self.hang_up_leg()
        return DialOutcome("failed").params()

    def hang_up_leg(self) -> None:
        self.hung_up_by = self.hung_up_by or "platform"
        self.hangup()

    async def end_bridge(self) -> None:
        """The bridge is over: hang up this leg (if the callee has not) and complete the call."""
        self._event({"event": "hangup", "by": self.hung_up_by or "platform"})
        await self._finish("completed")


class DialRunner:
    def __init__(self, parent: CallSession, dial: Dial) -> None:
        self.parent = parent
        self.dial = dial
        self.children: list[DialedCall] = []
        self.recording: CallRecording | None = None

    async def run(self) -> DialOutcome:
        parent, dial = self.parent, self.dial
        caller_id = self._caller_id()
        if caller_id is None:
            return DialOutcome("failed")
        if not dial.answer_on_bridge:
            await parent._ensure_answered()
        if dial.record.startswith("record-from-ringing"):
            self._record()
        try:
            if dial.conference is not None:
                outcome = await self._conference()
            elif dial.queue is not None:
                outcome = await self._from_queue()
            else:
                outcome = await self._dial_out(caller_id)
        finally:
            recorded = await self._stop_recording()
        return replace(outcome, extra=outcome.extra + recorded)

    async def _conference(self) -> DialOutcome:
        assert self.dial.conference is not None
        status, conference_sid = await self.parent.p.voice.conferences.attend(
            self.parent,
            self.dial.conference,
            self.dial.hangup_on_star,
            self.dial.time_limit * self.parent.p.settings.time_scale,
        )
        return DialOutcome(status, extra=(("ConferenceSid", conference_sid),))

    async def _dial_out(self, caller_id: str) -> DialOutcome:
        self.parent._event({"event": "dial", "to": [t.address for t in self.dial.targets]})
        try:
            winner, outcomes = await self._ring_all(caller_id)
            if winner is None:
                first = self.children[0].sid if self.children else None
                return DialOutcome(_failure(outcomes), first)
            await self.parent._ensure_answered()
            return await self._bridge(winner)
        finally:
            await self._release()

    def _record(self, peer_sid: str | None = None) -> None:
        """`record`: from ringing (at once) or from answer (at the bridge); `-dual` keeps two channels."""
        if self.recording is not None:
            self.recording.peer_sid = self.recording.peer_sid or peer_sid
            return
        dial = self.dial
        options = Options(
            source="DialVerb",
            channels=2 if dial.record.endswith("-dual") else 1,
            trim=dial.trim == "trim-silence",
            track=dial.recording_track,
            callback=urljoin(self.parent.document_url, dial.recording_status_callback)
            if dial.recording_status_callback
            else None,
            callback_method=dial.recording_status_callback_method,
            callback_events=dial.recording_status_callback_event,
        )
        self.recording = self.parent.p.voice.recorder.start(self.parent.call, options, peer_sid)

    async def _stop_recording(self) -> tuple[tuple[str, str], ...]:
        """The Recording* parameters the Dial action gets, once the recording is kept."""
        rec, self.recording = self.recording, None
        if rec is None:
            return ()
        recorder = self.parent.p.voice.recorder
        status, duration = await recorder.stop(rec)
        if status != "completed":
            return ()
        return (
            ("RecordingUrl", recorder.url(rec)),
            ("RecordingSid", rec.sid),
            ("RecordingDuration", str(duration)),
        )

    def _caller_id(self) -> str | None:
        """The From of the dialled calls: callerId when the account may use it, else the caller's number."""
        call = self.parent.call
        wanted = self.dial.caller_id
        if wanted is None:
            return str(call["from"])
        if wanted.startswith("client:") or all(t.kind == "client" for t in self.dial.targets):
            return wanted if wanted.startswith("client:") or to_e164(wanted) else "client:" + wanted
        number = to_e164(wanted) or wanted
        with self.parent.p.db.read() as q:
            owner = self.parent.p.number_owner(q, number)
        if number in (call["from"], call["to"]) or (owner and owner["account_sid"] == call["account_sid"]):
            return number
        self.parent._notify(13214, f"<Dial> callerId {wanted} is not a number of this account")
        return None

    async def _ring_all(self, caller_id: str) -> tuple[DialedCall | None, list[str]]:
        """Ring the targets (in turn when sequential) until one answers, all give up, or the caller
        hangs up ('canceled')."""
        timeout = float(self.dial.timeout)
        outcomes: list[str] = []
        groups = [[t] for t in self.dial.targets] if self.dial.sequential else [list(self.dial.targets)]
        caller_gone = asyncio.ensure_future(self.parent.leg.ended.wait())
        try:
            for group in groups:
                ringing: dict[asyncio.Future[Any], DialedCall] = {}
                for target in group:
                    child = self._start(target, caller_id)
                    ringing[asyncio.ensure_future(child.ring(timeout))] = child
                try:
                    while ringing:
                        done, _ = await asyncio.wait(
                            [*ringing, caller_gone], return_when=asyncio.FIRST_COMPLETED
                        )
                        if caller_gone in done:
                            return None, [*outcomes, "canceled"]
                        for task in done:
                            child = ringing.pop(task)
                            outcomes.append(task.result())
                            if outcomes[-1] == "answered":
                                return child, outcomes
                finally:
                    for child in ringing.values():  # the others stop ringing: their calls are canceled
                        child.hang_up_leg()
                    await asyncio.gather(*ringing, return_exceptions=True)
            return None, outcomes
        finally:
            caller_gone.cancel()

    def _start(self, target: DialTarget, caller_id: str) -> DialedCall:
        parent = self.parent
        params: dict[str, Any] = {"StatusCallbackEvent": list(target.status_callback_event)}
        if target.status_callback:
            params |= {
                "StatusCallback": urljoin(parent.document_url, target.status_callback),
                "StatusCallbackMethod": target.status_callback_method,
            }
        if target.url:
            params |= {"Url": urljoin(parent.document_url, target.url), "Method": target.method}
        if target.username:  # as the REST API takes them for a sip: To
            params |= {"SipAuthUsername": target.username, "SipAuthPassword": target.password}
        if target.machine_detection:
            params["MachineDetection"] = target.machine_detection
            if target.amd_status_callback:  # as on Twilio, with a callback the detection is asynchronous
                params |= {
                    "AsyncAmd": "true",
                    "AsyncAmdStatusCallback": urljoin(parent.document_url, target.amd_status_callback),
                    "AsyncAmdStatusCallbackMethod": target.amd_status_callback_method,
                }
        from telephonist.voice.engine import insert_call  # the engine imports this module

        with parent.p.db.tx() as conn:
            row = insert_call(
                conn,
                account_sid=parent.account_sid,
                parent_call_sid=parent.sid,
                to=target.address,
                from_=caller_id,
                status="queued",
                direction="outbound-dial",
                params=params,
                node=parent.p.nodes.id,
            )
        target = DialTarget(**{**target.__dict__, "url": params.get("Url")})
        child = DialedCall(self, row, parent.p.voice.connect(row), target)
        parent.p.voice.sessions[child.sid] = child
        self.children.append(child)
        return child

    async def _bridge(self, child: DialedCall) -> DialOutcome:
        await self._bridge_legs(child.leg, child.sid, child.target.address, child._done.wait())
        await child.end_bridge()
        return DialOutcome("completed", child.sid, int(child.call["duration"] or 0), bridged=True)

    async def _from_queue(self) -> DialOutcome:
        """Take the caller at the head of the queue (waiting up to `timeout` for one) and bridge."""
        parent, target = self.parent, self.dial.queue
        assert target is not None
        queues = parent.p.voice.queues
        with parent.p.db.tx() as conn:
            queue = queues.find(conn, parent.account_sid, target.name)
        if queue is None:
            return DialOutcome("failed", extra=(("DequeueResult", "queue-not-found"),))
        parent._event({"event": "dial", "queue": target.name, "queue_sid": queue["sid"]})
        scale = parent.p.settings.time_scale
        url = urljoin(parent.document_url, target.url) if target.url else None
        handover = Handover(parent.sid, queue["sid"], url, target.method)
        taking = asyncio.ensure_future(queues.take(queue["sid"], self.dial.timeout * scale, handover))
        caller_gone = asyncio.ensure_future(parent.leg.ended.wait())
        await asyncio.wait([taking, caller_gone], return_when=asyncio.FIRST_COMPLETED)
        caller_gone.cancel()
        if not taking.done():
            taking.cancel()
            return DialOutcome("canceled", extra=(("QueueSid", queue["sid"]), ("DequeueResult", "hangup")))
        member_sid = taking.result()
        if member_sid is None:
            return DialOutcome(
                "no-answer", extra=(("QueueSid", queue["sid"]), ("DequeueResult", "queue-empty"))
            )
        if handover.node is not None:
            return await self._from_elsewhere(handover, member_sid)
        member = parent.p.voice.sessions[member_sid]
        try:
            gone = asyncio.ensure_future(member.leg.ended.wait())
            pending: list[asyncio.Future[Any]] = [handover.ready, gone]
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            gone.cancel()
            if not handover.ready.done():
                return DialOutcome("completed", member_sid, extra=(("DequeueResult", "hangup"),))
            seconds = await self._bridge_legs(member.leg, member_sid, str(member.call["from"]))
        finally:
            handover.over.set()
        extra = (("QueueSid", queue["sid"]), ("DequeueResult", "bridged"), ("DequeuedCallSid", member_sid))
        return DialOutcome("completed", member_sid, round(seconds), bridged=True, extra=extra)

    async def _from_elsewhere(self, handover: Handover, member_sid: str) -> DialOutcome:
        """The caller taken is on another engine: bridged through a link to it, once its `url` ran."""
        parent = self.parent
        queues = parent.p.voice.queues
        gone = asyncio.ensure_future(parent.leg.ended.wait())
        over = asyncio.ensure_future(handover.over.wait())
        try:
            first: list[asyncio.Future[Any]] = [handover.ready, gone, over]
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
            if not handover.ready.done() or handover.over.is_set():
                return DialOutcome("completed", member_sid, extra=(("DequeueResult", "hangup"),))
            with queues.link(handover, parent.leg):
                seconds = await self._bridge_legs(None, member_sid, handover.caller, handover.over.wait())
        finally:
            gone.cancel()
            over.cancel()
            queues.end_bridge(handover)
        extra = (
            ("QueueSid", handover.queue_sid),
            ("DequeueResult", "bridged"),
            ("DequeuedCallSid", member_sid),
        )
        return DialOutcome("completed", member_sid, round(seconds), bridged=True, extra=extra)

    async def _bridge_legs(
        self, other: Leg | None, other_sid: str, other_address: str, *until: Coroutine[Any, Any, Any]
    ) -> float:
        """Connect the caller with `other` until it ends (or one of `until` happens), the time limit, or
        `*` with hangupOnStar; the simulated seconds it lasted. Without `other`, the caller is linked to
        a call on another engine already."""
        parent = self.parent
        if self.dial.record != "do-not-record":
            self._record(other_sid)
        parent._event({"event": "bridged", "call_sid": other_sid, "with": other_address})
        transcripts.add(
            parent.p.db,
            other_sid,
            {"event": "bridged", "call_sid": parent.sid, "with": str(parent.call["from"])},
        )
        parent.leg.drop_input()
        if other is not None:
            parent.leg.bridge(other)
            until = (other.ended.wait(), *until)
        loop = asyncio.get_running_loop()
        start = loop.time()
        waits: set[asyncio.Future[Any]] = {
            asyncio.ensure_future(c) for c in (parent.leg.ended.wait(), *until)
        }
        if self.dial.hangup_on_star:
            waits.add(asyncio.ensure_future(until_star(parent.leg)))
        try:
            await asyncio.wait(
                waits,
                timeout=self.dial.time_limit * parent.p.settings.time_scale,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in waits:
                task.cancel()
            parent.leg.unbridge()
            parent.leg.drop_input()
        return (loop.time() - start) / parent.p.settings.time_scale

    async def _release(self) -> None:
        """Whatever happens to the caller, no dialled party is left ringing or connected."""
        live = [c for c in self.children if c.status not in CALL_FINAL]
        for child in live:
            child.hang_up_leg()
        for child in live:
            with contextlib.suppress(Exception):
                if child.answered:
                    await child.end_bridge()
                else:
                    await child._finish("canceled")
        for child in self.children:
            self.parent.p.voice.forget(child.sid)


async def until_star(leg: Leg) -> None:
    """Until the far end presses `*` (hangupOnStar)."""
    while await leg.read_key() != "*":
        pass


def _failure(outcomes: list[str]) -> str:
    """DialCallStatus when nobody took the call ('canceled' when the caller hung up first)."""
    if outcomes and outcomes[-1] == "canceled":
        return "canceled"
    for status in ("no-answer", "busy", "canceled"):
        if status in outcomes or (status == "no-answer" and "declined" in outcomes):
            return status
    return "failed"
