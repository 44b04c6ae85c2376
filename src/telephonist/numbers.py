"""Phone numbers and addresses as Twilio takes them: E.164 (loosely typed input normalised), client:, sip:."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

import phonenumbers


@lru_cache(maxsize=65536)  # a pure function; a parse costs ~25 µs, and the same few numbers recur
def to_e164(value: str) -> str | None:
    """Normalise a phone number a user typed (`+14155551212`, `14155551212`, `(415) 555-1212`), else None.

    Possible (right length) is enough: test numbers such as +1555… are not assigned but must work here.
    """
    value = value.strip()
    if not value or value.startswith(("client:", "sip:")):
        return None
    try:
        parsed = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def address(value: str) -> str | None:
    """A call endpoint: an E.164 number, `client:identity` or a `sip:` URI; None if it is none of these."""
    value = value.strip()
    if value.startswith("client:") and len(value) > 7:
        return value
    if value.startswith("sip:") and "@" in value:
        return value
    return to_e164(value)


def formatted(value: str) -> str:
    """`(415) 867-5309` for North American numbers, E.164 for the rest, as Twilio's *_formatted fields."""
    if value.startswith("+1") and len(value) == 12:
        return f"({value[2:5]}) {value[5:8]}-{value[8:]}"
    return value


def is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(value) <= 4000


# Twilio's test-credential magic numbers, honoured for every account (twilio-wire.md, test credentials).
MAGIC_INVALID = "+15005550001"
MAGIC_NUMBERS = {f"+1500555000{i}" for i in range(10)}
