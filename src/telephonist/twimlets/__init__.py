"""The built-in twimlets, so TwiML URLs on twimlets.com from the guide work offline and unchanged."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape, quoteattr

HOSTS = {"twimlets.com", "www.twimlets.com"}


def indexed(params: list[tuple[str, str]], name: str) -> list[str]:
    """`Name`, `Name[]` and `Name[0]`, `Name[1]`… in index order, as twimlets accept them."""
    plain: list[str] = []
    numbered: list[tuple[int, str]] = []
    for key, value in params:
        if key in (name, name + "[]"):
            plain.append(value)
        elif key.startswith(name + "[") and key.endswith("]") and key[len(name) + 1 : -1].isdigit():
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
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{verbs}</Response>'


TWIMLETS: dict[str, Callable[[list[tuple[str, str]]], str]] = {"message": message}


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
