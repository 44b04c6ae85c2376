"""One live call: rings its leg, moves CallStatus, sends status callbacks and drives the interpreter.

A REST update replaces the running document at once: the program task is cancelled and a new one starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from sqlalchemy import select, update

from telephonist.carriers.base import GatherResult, Leg
from telephonist.messaging.engine import OutboundMessage
from telephonist.numbers import to_e164
from telephonist.states import CALL_FINAL, check_call
from telephonist.store import notifications, transcripts
from telephonist.store.db import Database, Row, Tx, Unavailable, utcnow
from telephonist.store.models import calls
from telephonist.twiml import TwiMLError, parse_voice
from telephonist.twiml.verbs import Dial, Document, Gather, Pause, Play, Prompt, Say
from telephonist.voice.callrecording import recording_options
from telephonist.voice.interpreter import (
    Capture,
    Collect,
    Command,
    DialOut,
    End,
    Fetch,
    Fork,
    Run,
    SendSms,
    Source,
    Streaming,
    Wait,
    Warn,
    interpret,
)
from telephonist.voice.queues import EnqueueVerb
from telephonist.voice.recording import RecordVerb
from telephonist.voice.streams import MediaStream
from telephonist.webhooks.callbacks import account_token, enqueue_callback
from telephonist.webhooks.client import Exchange, FetchError
from telephonist.webhooks.params import geo_params

if TYPE_CHECKING:
    from telephonist.app import Platform

log = logging.getLogger("telephonist.voice")
# loop="0" repeats until the call ends; Twilio stops after 1000 iterations.
MAX_LOOP = 1000
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
TOKEN_SECONDS = 1.0  # calls sign with the auth token last read, as API credentials are cached
# By database (one per platform) and account: the auth token and when it was read.
_TOKENS: weakref.WeakKeyDictionary[Database, dict[str, tuple[str, float]]] = weakref.WeakKeyDictionary()
# Which status change fires which StatusCallbackEvent.
_EVENT_FOR = {"ringing": "ringing", "in-progress": "answered"}


class CallSession:
    def __init__(self, platform: Platform, call: Row, leg: Leg) -> None:
        self.p = platform
        self.sid: str = call["sid"]
        self.account_sid: str = call["account_sid"]
        self.call = call
        self.params: dict[str, Any] = dict(call["params"])
        self.status: str = call["status"]
        self.leg = leg
        leg.on_remote_hangup = self._remote_hangup
        self.sequence = 0
        self.answered = False
        self.hung_up_by: str | None = None
        self.document_url = platform.settings.base_url + "/"  # what relative URLs in TwiML resolve against
        self._program: asyncio.Task[End] | None = None
        # A caller hanging up during <Record>, <Dial> or <Enqueue> ends that verb, whose action is still
        # requested (its TwiML is not run): the verb watches the leg instead of being cancelled.
        self._shielded = False
        self._background: set[asyncio.Task[None]] = set()  # asynchronous answering machine detection
        self.forks: dict[str, tuple[MediaStream, asyncio.Future[Any]]] = {}  # <Start><Stream> by name
        self._next: Source | None = None
        self._done = asyncio.Event()
        self._params: tuple[Row, str, list[tuple[str, str]]] | None = None  # _standard_params' last

    # -- control from the API -----------------------------------------------------------------------
    def redirect(self, source: Source) -> None:
        self._next = source
        if self._program is not None and not self._program.done():
            self._program.cancel()

    def hangup(self) -> None:
        self.hung_up_by = self.hung_up_by or "api"
        if self._program is not None and not self._program.done():
            self._program.cancel()
        self._done.set()

    def _remote_hangup(self) -> None:
        self.hung_up_by = self.hung_up_by or "phone"
        if self._shielded:
            self._done.set()
            return
        if self._program is not None and not self._program.done():
            self._program.cancel()
        self._done.set()

    # -- the call -----------------------------------------------------------------------------------
    async def run_outbound(self) -> None:
        try:
            if await self._ring(float(self.params.get("Timeout", 60))) != "answered":
                return
            self._limit_time()
            if self.params.get("Record"):  # from the answer: the recording is as long as the call
                options = recording_options(self.params, "OutboundAPI")
                self.p.voice.recorder.start(self.call, options, at=self.call["start_time"])
            digits = self.params.get("SendDigits")
            if digits:
                self._event({"event": "play", "digits": digits})
                await self.leg.play_digits(digits)
            elif self.params.get("MachineDetection"):
                await self._detect_machine()
            await self._programs(self._initial_source())
        except Exception:
            log.exception("call %s failed", self.sid)
            await self._finish("failed")

    async def _ring(self, timeout: float) -> str:
        """Ring the leg: 'answered' (the call is then in progress), or how the attempt ended, the call
        finished with that status ('canceled' when it was stopped while ringing)."""
        self._callback_event("initiated", "initiated")
        self._move("ringing")
        ring = asyncio.ensure_future(self.leg.wait_answer(timeout))
        stop = asyncio.ensure_future(self._done.wait())
        try:
            await asyncio.wait({ring, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not ring.done():
                ring.cancel()
        if not ring.done() or ring.cancelled():
            # A REST cancel is 'canceled'; a phone that declines while ringing is busy, as on Twilio.
            await self._finish("busy" if self.hung_up_by == "phone" else "canceled")
            return "canceled"
        outcome = ring.result()
        if outcome != "answered":
            await self._finish(outcome)
            return str(outcome)
        await self._answer()
        return "answered"

    def _limit_time(self) -> None:
        """`TimeLimit`: the call is hung up that many seconds after it was answered."""
        limit = self.params.get("TimeLimit")
        if limit:
            loop = asyncio.get_running_loop()
            loop.call_later(float(limit) * self.p.settings.time_scale, self._time_up)

    def _time_up(self) -> None:
        if self.status not in CALL_FINAL and not self._done.is_set():
            self.hung_up_by = "time-limit"
            self.hangup()

    async def _detect_machine(self) -> None:
        """Answering machine detection: `AnsweredBy` on the call and on the Url request, or (AsyncAmd) in a
        callback while the TwiML already runs."""
        detect_end = self.params["MachineDetection"] == "DetectMessageEnd"

        async def detect() -> None:
            answered_by, millis = await self.leg.detect_machine(detect_end)
            with self.p.db.tx() as conn:
                conn.execute(update(calls).where(calls.c.sid == self.sid).values(answered_by=answered_by))
                self.call = conn.execute(select(calls).where(calls.c.sid == self.sid)).mappings().one()
            callback = self.params.get("AsyncAmdStatusCallback")
            if callback:
                params = [
                    ("AccountSid", self.account_sid),
                    ("CallSid", self.sid),
                    ("AnsweredBy", answered_by),
                    ("MachineDetectionDuration", str(millis)),
                ]
                self._post(callback, self.params.get("AsyncAmdStatusCallbackMethod", "POST"), params)

        if self.params.get("AsyncAmd") == "true":
            task = asyncio.ensure_future(detect())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        else:
            await detect()

    async def run_inbound(self) -> None:
        try:
            await self._programs(self._initial_source())
        except Exception:
            log.exception("call %s failed", self.sid)
            await self._finish("failed")

    def _initial_source(self) -> Source:
        if self.params.get("Twiml"):
            return Source(twiml=self.params["Twiml"])
        return Source(url=self.params["Url"], method=self.params.get("Method", "POST"))

    async def _programs(self, source: Source | None) -> None:
        end: End | None = None
        while source is not None and not self._done.is_set():
            self._next = None
            self._program = asyncio.ensure_future(self._run_program(source))
            try:
                end = await self._program
            except asyncio.CancelledError:
                # Our own cancellation (shutdown) propagates; the program's (redirect, hang-up) does not.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                end = None
            source = self._next
        await self._end(end or End())

    async def _run_program(self, source: Source) -> End:
        loaded = await self._load(source)
        if loaded is None:
            return End(error=True)
        self.document_url = loaded[1]
        gen = interpret(*loaded)
        result: Any = None
        while True:
            try:
                command = gen.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if self._next is not None or (self._done.is_set() and self.hung_up_by != "phone"):
                return End()  # redirected or hung up: the task's cancellation can be lost (Python 3.11)
            if self.leg.ended.is_set() and not isinstance(command, Fetch):
                return End()  # only a <Record> action is requested once the caller has gone
            result = await self._perform(command)

    async def _end(self, end: End) -> None:
        if self.hung_up_by is not None:
            self._event({"event": "hangup", "by": self.hung_up_by})
            await self._finish("completed" if self.answered else "canceled")
            return
        if end.error:
            await self._ensure_answered()
            self._event({"event": "say", "text": APPLICATION_ERROR, "voice": "woman", "language": "en"})
            await self.leg.say(APPLICATION_ERROR, "woman", "en")
        if end.reject is not None and not self.answered:
            self._event({"event": "reject", "reason": end.reject.reason})
            await self.leg.reject(end.reject.reason)
            await self._finish("busy" if end.reject.reason == "busy" else "no-answer")
            return
        self._event({"event": "hangup", "by": "platform"})
        await self.leg.hangup()
        await self._finish("completed")

    # -- commands -----------------------------------------------------------------------------------
    async def _perform(self, command: Command) -> Any:
        if isinstance(command, Run):
            await self._ensure_answered()
            await self._prompt(command.verb)
            return None
        if isinstance(command, Collect):
            await self._ensure_answered()
            return await self._gather(command.gather)
        if isinstance(command, Fetch):
            loaded = await self._fetch(Source(url=command.url, method=command.method), list(command.params))
            if loaded is not None:
                self.document_url = loaded[1]
            return loaded
        if isinstance(command, Streaming):
            try:
                return await MediaStream(self, command.verb.stream).run()
            finally:
                self.leg.drop_input()  # what the caller said went to the application
        if isinstance(command, Fork):
            self._fork(command)
            return None
        if isinstance(command, DialOut | Wait | Capture):
            self._shielded = True
            try:
                if isinstance(command, DialOut):
                    return await self._dial(command.verb)
                if isinstance(command, Wait):
                    return await EnqueueVerb(self, command.verb).run()
                return await RecordVerb(self, command.verb).run()
            finally:
                self._shielded = False
        if isinstance(command, SendSms):
            return self._send_sms(command.verb)
        if isinstance(command, Warn):
            self._notify(command.code, command.message, warning=True)
            return None
        raise AssertionError(f"unknown command {command!r}")

    async def _prompt(self, verb: Prompt, interruptible: bool = False) -> None:
        if isinstance(verb, Say):
            event = {"event": "say", "text": verb.text, "voice": verb.voice, "language": verb.language}
            if verb.ssml is not None:
                event["ssml"] = verb.ssml
            for _ in range(verb.loop or MAX_LOOP):
                self._event(event)
                for stream, _task in self.forks.values():
                    stream.said(verb.text)
                await self.leg.say(verb.text, verb.voice, verb.language, interruptible)
                if interruptible and self.leg.has_input():
                    return
        elif isinstance(verb, Play):
            if verb.digits:
                self._event({"event": "play", "digits": verb.digits})
                await self.leg.play_digits(verb.digits)
                return
            for _ in range(verb.loop or MAX_LOOP):
                self._event({"event": "play", "url": verb.url})
                await self.leg.play(verb.url, interruptible)
                if interruptible and self.leg.has_input():
                    return
        elif isinstance(verb, Pause):
            self._event({"event": "pause", "length": verb.length})
            await self.leg.pause(verb.length, interruptible)

    async def _gather(self, gather: Gather) -> GatherResult:
        self.leg.begin_gather(gather)
        for prompt in gather.prompts:
            await self._prompt(prompt, interruptible=True)
            if self.leg.has_input():
                break  # barge-in: the prompt was heard until the caller answered
        result = await self.leg.collect(gather)
        if result.speech and gather.partial_result_callback:
            self._partial_results(gather, result.speech)
        entered: dict[str, Any] = {"event": "gather", "digits": result.digits}
        if result.speech is not None:
            entered["speech"] = result.speech
        self._event(entered)
        return result

    async def _dial(self, verb: Dial) -> tuple[tuple[str, str], ...]:
        from telephonist.voice.dial import DialRunner  # dial.py builds on this module

        outcome = await DialRunner(self, verb).run()
        return outcome.params()

    def _fork(self, command: Fork) -> None:
        """`<Start><Stream>` runs beside the call until `<Stop>` names it or the call ends."""
        if command.stream is not None:
            stream = MediaStream(self, command.stream)
            self.forks[command.stream.name or stream.sid] = (stream, asyncio.ensure_future(stream.run()))
        elif command.stop in self.forks:
            self.forks.pop(command.stop)[1].cancel()

    def _partial_results(self, gather: Gather, speech: str) -> None:
        """`partialResultCallback`: the words as they were recognised, one request a word."""
        assert gather.partial_result_callback is not None
        words = speech.split()
        for n in range(1, len(words) + 1):
            params = [
                ("AccountSid", self.account_sid),
                ("ApiVersion", "2010-04-01"),
                ("CallSid", self.sid),
                ("LanguageCode", gather.language),
                ("SequenceNumber", str(n)),
                ("Stability", "0.9"),
                ("StableSpeechResult", " ".join(words[: n - 1])),
                ("UnstableSpeechResult", words[n - 1]),
            ]
            self._post(gather.partial_result_callback, gather.partial_result_callback_method, params)

    def _send_sms(self, verb: Any) -> tuple[str, str]:
        for code, attr in ((14101, verb.to), (14102, verb.from_)):
            if attr is not None and to_e164(attr) is None:
                self._notify(code, f"<Sms> has an invalid phone number: {attr}")
                return "", "failed"
        if verb.from_ is not None and not self.p.messaging.can_send_from(self.account_sid, verb.from_):
            self._notify(14108, f"<Sms from> is not a number of this account: {verb.from_}")
            return "", "failed"
        inbound = self.call["direction"] == "inbound"
        caller, platform_number = (
            (self.call["from"], self.call["to"]) if inbound else (self.call["to"], self.call["from"])
        )
        to = to_e164(verb.to or "") or caller
        sender = to_e164(verb.from_ or "") or platform_number
        msg = OutboundMessage(
            account_sid=self.account_sid,
            to=to,
            from_=sender,
            body=verb.body,
            media=list(verb.media),
            status_callback=verb.status_callback,
            status_callback_method="POST",
        )
        with self.p.db.tx() as conn:
            row = self.p.messaging.create_reply(conn, msg, "outbound-call")
        if row is None:
            return "", "failed"
        self.p.jobs.wake()
        self._event({"event": "sms", "to": to, "from": sender, "body": verb.body, "sid": row["sid"]})
        return row["sid"], row["status"]

    # -- documents ----------------------------------------------------------------------------------
    async def _load(self, source: Source) -> tuple[Document, str] | None:
        if source.twiml is not None:
            try:
                return parse_voice(source.twiml), self.p.settings.base_url + "/"
            except TwiMLError as err:
                self._notify(err.code, err.message)
                return None
        return await self._fetch(source, [])

    async def _fetch(self, source: Source, extra: list[tuple[str, str]]) -> tuple[Document, str] | None:
        assert source.url is not None
        token = self._token()
        url, method, params = source.url, source.method, self._standard_params() + extra
        fallback = self.params.get("FallbackUrl")
        while True:
            try:
                fetched = await self.p.webhooks.request(url, method, params, token, self._exchange)
                if fetched.content_type not in ("text/xml", "application/xml", "text/html", ""):
                    raise FetchError(
                        12300,
                        f"Invalid Content-Type: {fetched.content_type}",
                        fetched.url,
                        fetched.status,
                        fetched.body,
                    )
                try:
                    return parse_voice(fetched.body), fetched.url
                except TwiMLError as err:
                    raise FetchError(
                        err.code, err.message, fetched.url, fetched.status, fetched.body
                    ) from None
            except FetchError as err:
                self._notify(err.code, err.message, url=err.url, method=method, params=params, body=err.body)
                if not fallback or url == fallback:
                    return None
                url, method = fallback, self.params.get("FallbackMethod", "POST")
                params = [*params, ("ErrorCode", str(err.code)), ("ErrorUrl", err.url)]

    def _standard_params(self) -> list[tuple[str, str]]:
        # The same for every webhook until the row or the status changes; parsing the numbers for their
        # country (geo_params) cost a tenth of a looping call's CPU.
        cached = self._params
        if cached is None or cached[0] is not self.call or cached[1] != self.status:
            cached = self._params = (self.call, self.status, call_params(self.call, self.status))
        return list(cached[2])

    # -- status -------------------------------------------------------------------------------------
    async def _ensure_answered(self) -> None:
        if not self.answered:
            await self.leg.answer()
            await self._answer()

    async def _answer(self) -> None:
        self.answered = True
        self._move("in-progress", start_time=utcnow())

    def _move(self, status: str, **values: Any) -> None:
        """The new status and its status callback, in one transaction: if it fails (the database is
        unavailable), nothing changed and the move can be made again."""
        check_call(self.status, status)
        event = _EVENT_FOR.get(status) or ("completed" if status in CALL_FINAL else None)
        with self.p.db.tx() as conn:
            conn.execute(
                update(calls)
                .where(calls.c.sid == self.sid)
                .values(status=status, date_updated=utcnow(), **values)
            )
            self.call = conn.execute(select(calls).where(calls.c.sid == self.sid)).mappings().one()
            if event:
                self._callback_event(event, status, conn)
        self.status = status
        self._event({"event": "status", "status": status})

    async def _finish(self, status: str) -> None:
        if self.status in CALL_FINAL:
            return
        now = utcnow()
        start = self.call["start_time"]
        duration = 0
        if start is not None:
            duration = round((now - start).total_seconds() / self.p.settings.time_scale)
        if not self.leg.ended.is_set():
            await self.leg.hangup()
        for _stream, task in self.forks.values():
            task.cancel()
        await self.p.voice.recorder.stop_call(self.sid, now)
        if not self.answered:
            self.p.voice.conferences.abandon(self.sid)
        pause = 0.05
        while True:  # the end of a call is never lost: while the database is down, try again until it is back
            try:
                self._move(status, end_time=now, duration=duration)
                break
            except Unavailable as exc:
                log.warning(
                    "call %s: the database is unavailable (%s); ending it %s when it is back",
                    self.sid,
                    exc,
                    status,
                )
                await asyncio.sleep(pause)
                pause = min(2.0, pause * 2)
        self.p.voice.forget(self.sid)

    def _callback_event(self, event: str, call_status: str, conn: Tx | None = None) -> None:
        url = self.params.get("StatusCallback")
        events = self.params.get("StatusCallbackEvent") or ["completed"]
        if not url or event not in events:
            return
        params = self._standard_params()
        params = [(k, call_status if k == "CallStatus" else v) for k, v in params] + [
            ("CallbackSource", "call-progress-events"),
            ("SequenceNumber", str(self.sequence)),
            ("Timestamp", utcnow().strftime("%a, %d %b %Y %H:%M:%S +0000")),
        ]
        if self.leg.sip_code is not None:
            params.append(("SipResponseCode", str(self.leg.sip_code)))
        self.sequence += 1
        if event == "completed":
            duration = str(self.call["duration"] or 0)
            params += [("CallDuration", duration), ("Duration", str(-(-int(duration) // 60)))]
        self._post(url, self.params.get("StatusCallbackMethod", "POST"), params, conn=conn)

    def _post(
        self,
        url: str,
        method: str,
        params: list[tuple[str, str]],
        key: str | None = None,
        conn: Tx | None = None,
    ) -> None:
        """A callback of this call (its URL resolved against the current document), as a durable job in
        `conn`'s transaction or one of its own; callbacks of one `key` (the call, by default) go out in
        order."""
        if conn is None:
            with self.p.db.tx() as conn:
                self._post(url, method, params, key, conn)
            return
        enqueue_callback(
            conn,
            self.account_sid,
            urljoin(self.document_url, url),
            method,
            params,
            key=key or self.sid,
            call_sid=self.sid,
        )
        self.p.jobs.wake()

    # -- records ------------------------------------------------------------------------------------
    def _event(self, event: dict[str, Any]) -> None:
        try:
            transcripts.add(self.p.db, self.sid, event)
        except Unavailable as exc:  # the call goes on; only its timeline misses what happened meanwhile
            log.warning(
                "call %s: the database is unavailable (%s); event %s not recorded",
                self.sid,
                exc,
                event["event"],
            )

    def _exchange(self, exchange: Exchange) -> None:
        self._event(exchange.as_event())

    def _notify(
        self,
        code: int,
        text: str,
        *,
        url: str | None = None,
        method: str | None = None,
        params: list[tuple[str, str]] | None = None,
        body: str = "",
        warning: bool = False,
    ) -> None:
        log.warning("call %s: %s %s", self.sid, code, text)
        with self.p.db.tx() as conn:
            notifications.record(
                conn,
                self.account_sid,
                code,
                text,
                call_sid=self.sid,
                url=url,
                method=method,
                params=params,
                response_body=body,
                warning=warning,
            )

    def _token(self) -> str:
        # Read again each second for all the account's calls rather than for every webhook: a query
        # per document was a twentieth of a looping call's CPU on SQLite, and round trips on PostgreSQL.
        tokens = _TOKENS.get(self.p.db)
        if tokens is None:
            tokens = _TOKENS[self.p.db] = {}
        now = time.monotonic()
        known = tokens.get(self.account_sid)
        if known is None or now - known[1] > TOKEN_SECONDS:
            with self.p.db.read() as q:
                known = tokens[self.account_sid] = (account_token(q, self.account_sid) or "", now)
        return known[0]


def call_params(c: Row, status: str) -> list[tuple[str, str]]:
    """The parameters every request about the call `c` carries (Twilio's standard set)."""
    params = [
        ("AccountSid", c["account_sid"]),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", c["sid"]),
        ("CallStatus", status),
        ("Called", c["to"]),
        ("Caller", c["from"]),
        ("Direction", c["direction"]),
        ("From", c["from"]),
        ("To", c["to"]),
    ]
    if c["parent_call_sid"]:
        params.append(("ParentCallSid", c["parent_call_sid"]))
    if c["answered_by"]:
        params.append(("AnsweredBy", c["answered_by"]))
    return params + geo_params(c["from"], c["to"], legacy=True)
