"""Parse TwiML with defusedxml (no entity expansion, no external references) into typed verbs.

Malformed XML is 12100, a root other than <Response> 12102, a bad attribute value the verb's own code
(13xxx); unknown elements and attributes are 12200 warnings and are skipped, as on Twilio.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from telephonist.twiml.verbs import (
    Document,
    Gather,
    Hangup,
    Message,
    MessagingDocument,
    MessagingVerb,
    Pause,
    Play,
    Prompt,
    Redirect,
    Reject,
    Say,
    Unsupported,
    VoiceVerb,
)

MAX_SAY_CHARS = 4096
# Verbs Twilio runs that this release parses but does not execute yet.
_LATER = {
    "Dial",
    "Record",
    "Enqueue",
    "Leave",
    "Connect",
    "Start",
    "Stop",
    "Pay",
    "Refer",
    "Echo",
    "Queue",
    "Prompt",
}


class TwiMLError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Reader:
    """Reads one element's attributes, collecting 12200 warnings for the ones the verb does not know."""

    def __init__(self, el: Element, known: set[str], warnings: list[tuple[int, str]]) -> None:
        self.el = el
        for name in el.attrib:
            if name not in known:
                warnings.append((12200, f"Attribute '{name}' is not allowed on <{el.tag}>"))

    def text(self, name: str, default: str | None = None) -> str | None:
        return self.el.attrib.get(name, default)

    def integer(self, name: str, default: int, code: int, minimum: int = 0) -> int:
        raw = self.el.attrib.get(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise TwiMLError(code, f"<{self.el.tag}> attribute {name}='{raw}' is not an integer") from None
        if value < minimum:
            raise TwiMLError(code, f"<{self.el.tag}> attribute {name}='{raw}' must be at least {minimum}")
        return value

    def method(self, name: str, code: int) -> str:
        raw = self.el.attrib.get(name, "POST")
        if raw.upper() not in ("GET", "POST"):
            raise TwiMLError(code, f"<{self.el.tag}> attribute {name}='{raw}' must be GET or POST")
        return raw.upper()

    def boolean(self, name: str, default: bool, code: int) -> bool:
        raw = self.el.attrib.get(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            raise TwiMLError(code, f"<{self.el.tag}> attribute {name}='{raw}' must be true or false")
        return raw.lower() == "true"


def _root(xml: str | bytes) -> Element:
    try:
        root: Element = fromstring(xml)
    except (ParseError, DefusedXmlException) as exc:
        raise TwiMLError(12100, f"Document parse failure: {exc}") from None
    if root.tag != "Response":
        raise TwiMLError(12102, f"The root element must be Response, not <{root.tag}>")
    return root


def _text(el: Element) -> str:
    return (el.text or "").strip()


def _say(el: Element, w: list[tuple[int, str]]) -> Say:
    r = _Reader(el, {"voice", "language", "loop"}, w)
    # SSML children (<break>, <emphasis>, <prosody>…) contribute their text.
    text = " ".join(" ".join(el.itertext()).split())
    if not text:
        raise TwiMLError(13520, "<Say> must contain text")
    if len(text) > MAX_SAY_CHARS:
        raise TwiMLError(13521, f"<Say> text is longer than {MAX_SAY_CHARS} characters")
    return Say(
        text, r.text("voice", "man") or "man", r.text("language", "en") or "en", r.integer("loop", 1, 13510)
    )


def _play(el: Element, w: list[tuple[int, str]]) -> Play:
    r = _Reader(el, {"loop", "digits"}, w)
    digits = r.text("digits", "") or ""
    if digits and not re.fullmatch(r"[0-9*#wW]+", digits):
        raise TwiMLError(13430, f"<Play> digits='{digits}' may only contain 0-9, *, # and w")
    url = _text(el)
    if not url and not digits:
        raise TwiMLError(13420, "<Play> needs an audio URL or digits")
    return Play(url, r.integer("loop", 1, 13410), digits)


def _pause(el: Element, w: list[tuple[int, str]]) -> Pause:
    return Pause(_Reader(el, {"length"}, w).integer("length", 1, 13910, minimum=1))


_GATHER_ATTRS = {
    "action",
    "method",
    "input",
    "timeout",
    "finishOnKey",
    "numDigits",
    "speechTimeout",
    "maxSpeechTime",
    "partialResultCallback",
    "partialResultCallbackMethod",
    "language",
    "hints",
    "profanityFilter",
    "bargeIn",
    "actionOnEmptyResult",
    "speechModel",
    "enhanced",
    "debug",
}
_PROMPTS: dict[str, Callable[[Element, list[tuple[int, str]]], Prompt]] = {
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
}


def _gather(el: Element, w: list[tuple[int, str]]) -> Gather:
    r = _Reader(el, _GATHER_ATTRS, w)
    finish = r.text("finishOnKey", "#") or ""
    if len(finish) > 1 or (finish and finish not in "0123456789*#"):
        raise TwiMLError(13310, f"<Gather> finishOnKey='{finish}' must be one of 0-9, * or #")
    inputs = tuple((r.text("input", "dtmf") or "dtmf").split())
    if not inputs or any(i not in ("dtmf", "speech") for i in inputs):
        raise TwiMLError(13326, f"<Gather> input='{r.text('input')}' must be dtmf, speech or both")
    num = r.text("numDigits")
    prompts: list[Prompt] = []
    for child in el:
        make = _PROMPTS.get(child.tag)
        if make is None:
            raise TwiMLError(13320, f"<{child.tag}> cannot be nested in <Gather>")
        if child.tag == "Play" and child.attrib.get("digits"):
            raise TwiMLError(13320, "<Play digits> cannot be nested in <Gather>")
        prompts.append(make(child, w))
    return Gather(
        action=r.text("action"),
        method=r.method("method", 13312),
        input=inputs,
        timeout=r.integer("timeout", 5, 13313),
        finish_on_key=finish,
        num_digits=r.integer("numDigits", 0, 13314, minimum=1) if num is not None else None,
        speech_timeout=r.text("speechTimeout"),
        language=r.text("language", "en-US") or "en-US",
        hints=r.text("hints", "") or "",
        action_on_empty_result=r.boolean("actionOnEmptyResult", False, 13338),
        prompts=tuple(prompts),
    )


def _hangup(el: Element, w: list[tuple[int, str]]) -> Hangup:
    _Reader(el, set(), w)  # no attributes: each one is a 12200 warning
    return Hangup()


def _redirect(el: Element, w: list[tuple[int, str]]) -> Redirect:
    r = _Reader(el, {"method"}, w)
    url = _text(el)
    if not url:
        raise TwiMLError(13710, "<Redirect> needs a URL")
    return Redirect(url, r.method("method", 13710))


def _reject(el: Element, w: list[tuple[int, str]]) -> Reject:
    reason = _Reader(el, {"reason"}, w).text("reason", "rejected") or "rejected"
    if reason not in ("rejected", "busy"):
        raise TwiMLError(13810, f"<Reject> reason='{reason}' must be rejected or busy")
    return Reject(reason)


def _message(el: Element, w: list[tuple[int, str]]) -> Message:
    r = _Reader(el, {"to", "from", "action", "method", "statusCallback"}, w)
    body = (el.text or "").strip()
    media: list[str] = []
    for child in el:
        if child.tag == "Body":
            body = _text(child)
        elif child.tag == "Media":
            media.append(_text(child))
        else:
            w.append((12200, f"<{child.tag}> is not allowed in <{el.tag}>"))
    if not body and not media:
        raise TwiMLError(14103, f"<{el.tag}> must have a body or media")
    return Message(
        body=body,
        to=r.text("to"),
        from_=r.text("from"),
        action=r.text("action"),
        method=r.method("method", 14104),
        status_callback=r.text("statusCallback"),
        media=tuple(media),
    )


_VOICE: dict[str, Callable[[Element, list[tuple[int, str]]], VoiceVerb]] = {
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
    "Gather": _gather,
    "Redirect": _redirect,
    "Reject": _reject,
    "Hangup": _hangup,
    "Sms": _message,
    "Message": _message,
}


def parse_voice(xml: str | bytes) -> Document:
    root = _root(xml)
    warnings: list[tuple[int, str]] = []
    verbs: list[VoiceVerb] = []
    for el in root:
        make = _VOICE.get(el.tag)
        if make is not None:
            verbs.append(make(el, warnings))
        elif el.tag in _LATER:
            verbs.append(Unsupported(el.tag))
        else:
            warnings.append((12200, f"<{el.tag}> is not a TwiML verb"))
    return Document(tuple(verbs), tuple(warnings))


def parse_messaging(xml: str | bytes) -> MessagingDocument:
    root = _root(xml)
    warnings: list[tuple[int, str]] = []
    verbs: list[MessagingVerb] = []
    for el in root:
        if el.tag == "Message":
            verbs.append(_message(el, warnings))
        elif el.tag == "Redirect":
            verbs.append(_redirect(el, warnings))
        else:
            warnings.append(
                (14110 if el.tag in _VOICE else 12200, f"<{el.tag}> is not allowed in messaging TwiML")
            )
    return MessagingDocument(tuple(verbs), tuple(warnings))
