"""The TwiML interpreter, sans-IO: a generator that yields commands and is sent their results.

The driver (voice/session.py) performs each command against a carrier leg or the application's webhook;
the interpreter only decides what comes next, so it runs in tests without sockets or clocks.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from telephonist.carriers.base import GatherResult
from telephonist.twiml.verbs import (
    Connect,
    Dial,
    Document,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Message,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Say,
    StartStream,
    StopStream,
    Stream,
    Unsupported,
)


@dataclass(frozen=True)
class Source:
    """Where a document comes from: a URL to fetch, or TwiML given inline."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None


@dataclass(frozen=True)
class Fetch:
    """Request TwiML; the result is (Document, final URL), or None when it failed beyond the fallback."""

    url: str
    method: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Run:
    verb: Say | Play | Pause


@dataclass(frozen=True)
class Collect:
    """Run a Gather (prompts and input); the result is a GatherResult."""

    gather: Gather


@dataclass(frozen=True)
class SendSms:
    """Send an SMS during the call; the result is (MessageSid, status)."""

    verb: Message


@dataclass(frozen=True)
class DialOut:
    """Run a Dial; the result is its Dial* action parameters."""

    verb: Dial


@dataclass(frozen=True)
class Capture:
    """Run a Record; the result is its action parameters, or None when nothing was recorded."""

    verb: Record


@dataclass(frozen=True)
class Wait:
    """Run an Enqueue; the result is (QueueResult, the action parameters)."""

    verb: Enqueue


@dataclass(frozen=True)
class Streaming:
    """Run a `<Connect><Stream>` until the stream ends; the result is the action parameters."""

    verb: Connect


@dataclass(frozen=True)
class Fork:
    """Start a stream beside the call (`<Start><Stream>`), or stop one by name (`stop`)."""

    stream: Stream | None = None
    stop: str | None = None


@dataclass(frozen=True)
class Warn:
    code: int
    message: str


@dataclass(frozen=True)
class End:
    hangup: bool = False  # ended by <Hangup>, not by running out of verbs
    leave: bool = False  # <Leave> in a queue's wait document
    reject: Reject | None = None
    error: bool = False  # a document could not be fetched or parsed: the caller hears the error message


Command = Fetch | Run | Collect | SendSms | DialOut | Capture | Wait | Streaming | Fork | Warn

# Twilio stops a document that loops on itself (a Gather with no input redirecting to itself) eventually.
MAX_DOCUMENTS = 1000


def interpret(document: Document, url: str, in_queue: bool = False) -> Generator[Command, Any, End]:
    """Run `document` (fetched from `url`); `in_queue` when it is a queue's wait document."""
    for _ in range(MAX_DOCUMENTS):
        for code, text in document.warnings:
            yield Warn(code, text)
        fetch: Fetch | None = None
        for verb in document.verbs:
            if isinstance(verb, Say | Play | Pause):
                yield Run(verb)
            elif isinstance(verb, Gather):
                result: GatherResult = yield Collect(verb)
                if not result.empty or verb.action_on_empty_result:
                    fetch = Fetch(
                        urljoin(url, verb.action) if verb.action else url, verb.method, _input(result)
                    )
                    break
            elif isinstance(verb, Redirect):
                fetch = Fetch(urljoin(url, verb.url), verb.method)
                break
            elif isinstance(verb, Message):
                sid, status = yield SendSms(verb)
                if verb.action:
                    fetch = Fetch(
                        urljoin(url, verb.action), verb.method, (("SmsSid", sid), ("SmsStatus", status))
                    )
                    break
            elif isinstance(verb, Dial):
                outcome = yield DialOut(verb)
                if verb.action:
                    fetch = Fetch(urljoin(url, verb.action), verb.method, outcome)
                    break
            elif isinstance(verb, Record):
                captured = yield Capture(verb)
                if captured is not None:  # nothing recorded: on to the next verb, as on Twilio
                    fetch = Fetch(urljoin(url, verb.action) if verb.action else url, verb.method, captured)
                    break
            elif isinstance(verb, Enqueue):
                queue_result, params = yield Wait(verb)
                if queue_result == "hung-up":  # <Hangup> in the wait document
                    return End(hangup=True)
                if verb.action:
                    fetch = Fetch(urljoin(url, verb.action), verb.method, params)
                    break
            elif isinstance(verb, Connect):
                streamed = yield Streaming(verb)
                if verb.action:
                    fetch = Fetch(urljoin(url, verb.action), verb.method, streamed)
                    break
            elif isinstance(verb, StartStream):
                yield Fork(stream=verb.stream)
            elif isinstance(verb, StopStream):
                yield Fork(stop=verb.name)
            elif isinstance(verb, Leave):
                if in_queue:
                    return End(leave=True)
                yield Warn(12200, "<Leave> outside a queue's wait document is ignored")
            elif isinstance(verb, Hangup):
                return End(hangup=True)
            elif isinstance(verb, Reject):
                return End(reject=verb)
            elif isinstance(verb, Unsupported):
                yield Warn(12200, f"<{verb.name}> is not supported by this version of Telephonist; skipped")
        if fetch is None:
            return End()
        loaded = yield fetch
        if loaded is None:
            return End(error=True)
        document, url = loaded
    return End()


def _input(result: GatherResult) -> tuple[tuple[str, str], ...]:
    if result.speech is not None:
        return (("SpeechResult", result.speech), ("Confidence", f"{result.confidence or 0.0:.2f}"))
    return (("Digits", result.digits),)
