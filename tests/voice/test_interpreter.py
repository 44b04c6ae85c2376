"""The sans-IO interpreter, driven by hand: no sockets, no clock. Each test sends the results a driver would
send and checks the commands that come back and how the program ends."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from telephonist.carriers.base import GatherResult
from telephonist.twiml import parse_voice
from telephonist.twiml.verbs import Document, Gather, Message, Pause, Play, Reject, Say
from telephonist.voice.interpreter import (
    MAX_DOCUMENTS,
    Collect,
    DialOut,
    End,
    Fetch,
    Run,
    SendSms,
    Warn,
    interpret,
)

URL = "http://app.example/voice/start?lang=en"


class Driver:
    """Steps a program: `send(result)` returns the next command, or the End once it returns."""

    def __init__(self, xml: str, url: str = URL) -> None:
        self.gen: Generator[Any, Any, End] = interpret(parse_voice(xml), url)
        self.end: End | None = None

    def send(self, result: Any = None) -> Any:
        assert self.end is None, "the program already ended"
        try:
            return self.gen.send(result)
        except StopIteration as stop:
            self.end = stop.value
            return stop.value

    def start(self) -> Any:
        return self.send(None)


def doc(xml: str) -> Document:
    return parse_voice(xml)


def test_end_of_document_ends_the_call() -> None:
    d = Driver("<Response><Say>Hi</Say><Pause length='2'/><Play>a.mp3</Play></Response>")
    assert d.start() == Run(Say("Hi"))
    assert d.send() == Run(Pause(2))
    assert d.send() == Run(Play("a.mp3"))
    assert d.send() == End()
    assert d.end == End(reject=None, error=False)


def test_empty_document_ends_at_once() -> None:
    d = Driver("<Response/>")
    assert d.start() == End()


def test_gather_with_digits_fetches_the_action_with_digits() -> None:
    d = Driver(
        '<Response><Gather action="/menu" numDigits="1"><Say>Press</Say></Gather><Say>never</Say></Response>'
    )
    cmd = d.start()
    assert isinstance(cmd, Collect) and cmd.gather.prompts == (Say("Press"),)
    assert d.send(GatherResult("1")) == Fetch("http://app.example/menu", "POST", (("Digits", "1"),))
    # The action's document replaces the old one: "never" is not said.
    assert d.send((doc("<Response><Say>Menu</Say></Response>"), "http://app.example/menu")) == Run(
        Say("Menu")
    )
    assert d.send() == End()


def test_gather_with_speech_sends_speech_result_and_confidence() -> None:
    d = Driver('<Response><Gather input="speech" action="next" method="GET"/></Response>')
    assert isinstance(d.start(), Collect)
    fetch = d.send(GatherResult(speech="book a table", confidence=0.92))
    assert fetch == Fetch(
        "http://app.example/voice/next", "GET", (("SpeechResult", "book a table"), ("Confidence", "0.92"))
    )


def test_gather_without_action_posts_back_to_the_document_url() -> None:
    d = Driver("<Response><Gather/></Response>")
    d.start()
    assert d.send(GatherResult("42")) == Fetch(URL, "POST", (("Digits", "42"),))


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("/abs/path", "http://app.example/abs/path"),
        ("sibling", "http://app.example/voice/sibling"),
        ("../up", "http://app.example/up"),
        ("?q=1", "http://app.example/voice/start?q=1"),
        ("https://other.example/x", "https://other.example/x"),
    ],
)
def test_gather_action_resolves_against_the_document_url(action: str, expected: str) -> None:
    d = Driver(f'<Response><Gather action="{action}"/></Response>')
    d.start()
    assert d.send(GatherResult("1")).url == expected


def test_gather_without_input_falls_through_to_the_next_verb() -> None:
    d = Driver('<Response><Gather action="/menu"/><Say>We did not receive input</Say></Response>')
    assert isinstance(d.start(), Collect)
    assert d.send(GatherResult()) == Run(Say("We did not receive input"))
    assert d.send() == End()


def test_gather_action_on_empty_result_fetches_with_empty_digits() -> None:
    d = Driver('<Response><Gather action="/menu" actionOnEmptyResult="true"/><Say>never</Say></Response>')
    d.start()
    assert d.send(GatherResult()) == Fetch("http://app.example/menu", "POST", (("Digits", ""),))


def test_redirect_fetches_and_skips_the_rest() -> None:
    d = Driver("<Response><Redirect>/next</Redirect><Say>never</Say></Response>")
    assert d.start() == Fetch("http://app.example/next", "POST", ())
    assert d.send((doc("<Response><Say>next</Say></Response>"), "http://app.example/next")) == Run(
        Say("next")
    )


def test_redirect_get() -> None:
    d = Driver('<Response><Redirect method="GET">again</Redirect></Response>')
    assert d.start() == Fetch("http://app.example/voice/again", "GET", ())


def test_relative_urls_resolve_against_the_url_of_the_latest_document() -> None:
    d = Driver("<Response><Redirect>/a/b</Redirect></Response>")
    d.start()
    cmd = d.send((doc("<Response><Redirect>c</Redirect></Response>"), "http://app.example/a/b"))
    assert cmd == Fetch("http://app.example/a/c", "POST", ())


def test_fetch_failure_ends_with_error() -> None:
    d = Driver("<Response><Redirect>/next</Redirect></Response>")
    d.start()
    assert d.send(None) == End(error=True)


def test_gather_fetch_failure_ends_with_error() -> None:
    d = Driver("<Response><Gather/></Response>")
    d.start()
    assert isinstance(d.send(GatherResult("9")), Fetch)
    assert d.send(None) == End(error=True)


def test_hangup_ends_and_skips_the_rest() -> None:
    d = Driver("<Response><Say>bye</Say><Hangup/><Say>never</Say></Response>")
    assert d.start() == Run(Say("bye"))
    assert d.send() == End(hangup=True)


def test_reject_ends_with_the_reason() -> None:
    assert Driver('<Response><Reject reason="busy"/><Say>x</Say></Response>').start() == End(
        reject=Reject("busy")
    )
    assert Driver("<Response><Reject/></Response>").start() == End(reject=Reject("rejected"))


def test_sms_without_action_continues() -> None:
    d = Driver("<Response><Sms>Your code is 1234</Sms><Say>Sent</Say></Response>")
    assert d.start() == SendSms(Message("Your code is 1234"))
    assert d.send(("SM123", "queued")) == Run(Say("Sent"))


def test_sms_with_action_fetches_with_sms_sid_and_status() -> None:
    d = Driver('<Response><Message action="/sms-done" method="GET">Hi</Message><Say>never</Say></Response>')
    assert isinstance(d.start(), SendSms)
    assert d.send(("SM123", "queued")) == Fetch(
        "http://app.example/sms-done", "GET", (("SmsSid", "SM123"), ("SmsStatus", "queued"))
    )


def test_warnings_are_yielded_before_the_verbs() -> None:
    d = Driver("<Response><Bogus/><Say>Hi</Say></Response>")
    first = d.start()
    assert isinstance(first, Warn) and first.code == 12200
    assert d.send() == Run(Say("Hi"))


def test_warnings_of_a_fetched_document_are_yielded() -> None:
    d = Driver("<Response><Redirect>/n</Redirect></Response>")
    d.start()
    cmd = d.send((doc('<Response><Say foo="1">Hi</Say></Response>'), "http://app.example/n"))
    assert isinstance(cmd, Warn) and cmd.code == 12200
    assert d.send() == Run(Say("Hi"))


def test_unsupported_verbs_warn_and_continue() -> None:
    d = Driver("<Response><Echo/><Say>after</Say></Response>")
    cmd = d.start()
    assert isinstance(cmd, Warn) and cmd.code == 12200 and "Echo" in cmd.message
    assert d.send() == Run(Say("after"))


def test_gather_loop_on_itself_stops_after_max_documents() -> None:
    xml = "<Response><Redirect>/loop</Redirect></Response>"
    d = Driver(xml)
    cmd = d.start()
    fetches = 0
    while isinstance(cmd, Fetch):
        fetches += 1
        assert fetches <= MAX_DOCUMENTS + 1
        cmd = d.send((doc(xml), "http://app.example/loop"))
    assert cmd == End()
    assert fetches == MAX_DOCUMENTS


def test_gather_command_carries_the_parsed_gather() -> None:
    d = Driver('<Response><Gather numDigits="2" timeout="3" finishOnKey="*"/></Response>')
    assert d.start() == Collect(Gather(num_digits=2, timeout=3, finish_on_key="*"))


def test_dial_with_an_action_fetches_it_with_the_dial_outcome() -> None:
    d = Driver('<Response><Dial action="/after">+15551230101</Dial><Say>never</Say></Response>')
    cmd = d.start()
    assert isinstance(cmd, DialOut) and cmd.verb.targets[0].address == "+15551230101"
    outcome = (("DialCallStatus", "busy"), ("DialBridged", "false"))
    assert d.send(outcome) == Fetch("http://app.example/after", "POST", outcome)


def test_dial_without_an_action_falls_through() -> None:
    d = Driver("<Response><Dial>+15551230101</Dial><Say>next</Say></Response>")
    assert isinstance(d.start(), DialOut)
    assert d.send((("DialCallStatus", "completed"),)) == Run(Say("next"))
