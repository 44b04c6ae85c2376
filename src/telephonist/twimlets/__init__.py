"""The built-in twimlets, so TwiML URLs on twimlets.com from the guide work offline and unchanged."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

HOSTS = {"twimlets.com", "www.twimlets.com"}


_INDEX = re.compile(r"[0-9]{1,9}")  # str.isdigit() also takes "²", which int() refuses


def indexed(params: list[tuple[str, str]], name: str) -> list[str]:
    """`Name`, `Name[]` and `Name[0]`, `Name[1]`… in index order, as twimlets accept them."""
    plain: list[str] = []
    numbered: list[tuple[int, str]] = []
    for key, value in params:
        if key in (name, name + "[]"):
            plain.append(value)
        elif key.startswith(name + "[") and key.endswith("]") and _INDEX.fullmatch(key[len(name) + 1 : -1]):
            numbered.append((int(key[len(name) + 1 : -1]), value))
    return plain + [v for _, v in sorted(numbered)]


def say_or_play(text: str, voice: str | None = None, language: str | None = None) -> str:
    if text.startswith(("http://", "https://")):
        return f"<Play>{escape(text)}</Play>"
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in (("voice", voice), ("language", language)) if v)
    return f"<Say{attrs}>{escape(text)}</Say>"


def message(params: list[tuple[str, str]]) -> str:
    first = dict(params)
    verbs = "".join(
        say_or_play(m, first.get("Voice"), first.get("Language")) for m in indexed(params, "Message") if m
    )
    return _response(verbs)


def _response(verbs: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{verbs}</Response>'


def _again(name: str, params: list[tuple[str, str]], keys: tuple[str, ...], **extra: str) -> str:
    """A relative URL back into twimlet `name` with its own configuration (not the call's parameters)."""
    mine = [(k, v) for k, v in params if k in keys or k.split("[")[0] in keys]
    return f"{name}?{urlencode(mine + list(extra.items()))}"


def echo(params: list[tuple[str, str]]) -> str:
    """The TwiML given in `Twiml`, as it is."""
    return dict(params).get("Twiml") or _response("")


_FORWARD = ("PhoneNumber", "CallerId", "Timeout", "FailUrl", "AllowedCallers")


def _after_dial(params: dict[str, str]) -> str | None:
    """Re-entry after the Dial: done when answered, else the FailUrl (or hang up)."""
    if params.get("Dial") != "true":
        return None
    if params.get("DialCallStatus") in ("completed", "answered") or not params.get("FailUrl"):
        return _response("<Hangup/>")
    return _response(f"<Redirect>{escape(params['FailUrl'])}</Redirect>")


def _dial_attrs(params: dict[str, str], action: str) -> str:
    attrs = f" action={quoteattr(action)}"
    for name, attr in (("Timeout", "timeout"), ("CallerId", "callerId")):
        if params.get(name):
            attrs += f" {attr}={quoteattr(params[name])}"
    return attrs


def forward(params: list[tuple[str, str]]) -> str:
    """`<Dial>` the `PhoneNumber`; on no answer, `FailUrl`. `AllowedCallers[…]` limits who may call."""
    p = dict(params)
    done = _after_dial(p)
    if done is not None:
        return done
    allowed = indexed(params, "AllowedCallers")
    if allowed and p.get("From") not in allowed:
        return _response("<Say>Sorry, you are not allowed to call this number.</Say><Hangup/>")
    action = _again("forward", params, _FORWARD, Dial="true")
    return _response(f"<Dial{_dial_attrs(p, action)}>{escape(p.get('PhoneNumber', ''))}</Dial>")


_RING = ("PhoneNumbers", "Message", "Timeout", "FailUrl", "HumanCheck", "CallerId")


def _ring(name: str, params: list[tuple[str, str]], sequential: bool) -> str:
    p = dict(params)
    done = _after_dial(p)
    if done is not None:
        return done
    screen = [("HumanCheck", "1" if p.get("HumanCheck", "1" if sequential else "0") != "0" else "0")]
    if p.get("Message"):
        screen.append(("Message", p["Message"]))
    whisper = quoteattr(f"whisper?{urlencode(screen)}")
    numbers = "".join(f"<Number url={whisper}>{escape(n)}</Number>" for n in indexed(params, "PhoneNumbers"))
    attrs = _dial_attrs(p, _again(name, params, _RING, Dial="true"))
    attrs += ' sequential="true"' if sequential else ""
    return _response(f"<Dial{attrs}>{numbers}</Dial>")


def simulring(params: list[tuple[str, str]]) -> str:
    """Ring `PhoneNumbers[…]` at once; the first to answer (and accept, with HumanCheck) is connected."""
    return _ring("simulring", params, sequential=False)


def findme(params: list[tuple[str, str]]) -> str:
    """Ring `PhoneNumbers[…]` in turn, each asked to press a key to accept."""
    return _ring("findme", params, sequential=True)


def whisper(params: list[tuple[str, str]]) -> str:
    """Run on the callee before a bridge: say `Message`; with `HumanCheck`, a key must be pressed."""
    p = dict(params)
    text = p.get("Message") or "You are receiving a call. Press any key to accept."
    if p.get("HumanCheck", "0") in ("0", "false", ""):
        return _response(say_or_play(text))
    if p.get("Accepted") == "1":
        return _response("" if p.get("Digits") else "<Hangup/>")
    action = quoteattr(f"whisper?{urlencode([('HumanCheck', '1'), ('Accepted', '1')])}")
    return _response(f'<Gather numDigits="1" action={action}>{say_or_play(text)}</Gather><Hangup/>')


def voicemail(params: list[tuple[str, str]]) -> str:
    """Greet (`Message`), record a message and keep it; nothing is e-mailed: `Url`, when given, receives the
    recording's status callback (and the transcription's, with `Transcribe`, true by default)."""
    p = dict(params)
    if p.get("RecordingSid"):
        return _response("<Say>Thank you for your message. Goodbye.</Say><Hangup/>")
    greeting = p.get("Message") or "Please leave a message after the beep."
    attrs = ' action="voicemail?Recorded=1"'
    if p.get("Url"):
        attrs += f" recordingStatusCallback={quoteattr(p['Url'])}"
        if p.get("Transcribe", "true").lower() != "false":
            attrs += f" transcribeCallback={quoteattr(p['Url'])}"
    if p.get("Transcribe", "true").lower() != "false":
        attrs += ' transcribe="true" maxLength="120"'
    return _response(f"{say_or_play(greeting)}<Record{attrs}/><Say>No message was recorded. Goodbye.</Say>")


def menu(params: list[tuple[str, str]]) -> str:
    """Say `Message`, gather a choice and `<Redirect>` to its `Options[digits]` URL."""
    p = dict(params)
    options = {k[len("Options[") : -1]: v for k, v in params if k.startswith("Options[") and k.endswith("]")}
    again = _again("menu", params, ("Message", "Options", "ErrorMessage"))
    digits = p.get("Digits")
    if digits is not None:
        if digits in options:
            return _response(f"<Redirect>{escape(options[digits])}</Redirect>")
        error = p.get("ErrorMessage") or "I'm sorry, that wasn't a valid option."
        return _response(f"{say_or_play(error)}<Redirect>{escape(again)}</Redirect>")
    length = max((len(k) for k in options), default=1)
    prompt = say_or_play(p["Message"]) if p.get("Message") else ""
    return _response(f'<Gather numDigits="{length}" action={quoteattr(again)}>{prompt}</Gather>')


TWIMLETS: dict[str, Callable[[list[tuple[str, str]]], str]] = {
    "message": message,
    "echo": echo,
    "forward": forward,
    "simulring": simulring,
    "findme": findme,
    "whisper": whisper,
    "voicemail": voicemail,
    "menu": menu,
}


def serve(url: str, body_params: list[tuple[str, str]]) -> str | None:
    """The TwiML for a twimlets.com URL, or None when the URL is not one of ours."""
    parts = urlsplit(url)
    if parts.hostname not in HOSTS:
        return None
    return render(parts.path.strip("/"), parse_qsl(parts.query, keep_blank_values=True) + body_params)


def render(name: str, params: list[tuple[str, str]]) -> str:
    """Raises LookupError for a twimlet that does not exist (a 404 to the caller)."""
    make = TWIMLETS.get(name)
    if make is None:
        raise LookupError(name)
    return make(params)
