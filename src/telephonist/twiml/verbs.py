"""Typed TwiML verbs with Twilio's defaults (twilio-wire.md §4.2, §4.3)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Say:
    text: str
    voice: str = "man"
    language: str = "en"
    loop: int = 1


@dataclass(frozen=True)
class Play:
    url: str = ""
    loop: int = 1
    digits: str = ""


@dataclass(frozen=True)
class Pause:
    length: int = 1


Prompt = Say | Play | Pause


@dataclass(frozen=True)
class Gather:
    action: str | None = None  # None: the current document's URL
    method: str = "POST"
    input: tuple[str, ...] = ("dtmf",)
    timeout: int = 5
    finish_on_key: str = "#"
    num_digits: int | None = None
    speech_timeout: str | None = None
    language: str = "en-US"
    hints: str = ""
    action_on_empty_result: bool = False
    prompts: tuple[Prompt, ...] = ()


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str = "rejected"


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Message:
    """`<Message>` in messaging TwiML, and `<Sms>` / `<Message>` inside a call."""

    body: str
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = "POST"
    status_callback: str | None = None
    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unsupported:
    """A Twilio verb this version of Telephonist does not run yet; the interpreter skips it with a warning."""

    name: str


VoiceVerb = Say | Play | Pause | Gather | Hangup | Reject | Redirect | Message | Unsupported
MessagingVerb = Message | Redirect


@dataclass(frozen=True)
class Document:
    verbs: tuple[VoiceVerb, ...]
    warnings: tuple[tuple[int, str], ...] = field(default=())


@dataclass(frozen=True)
class MessagingDocument:
    verbs: tuple[MessagingVerb, ...]
    warnings: tuple[tuple[int, str], ...] = field(default=())
