"""Twilio-shaped SIDs: a two-letter prefix and 32 lowercase hex digits."""

from __future__ import annotations

import re
import secrets

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def new_token() -> str:
    return secrets.token_hex(16)


def is_sid(value: str, prefix: str | None = None) -> bool:
    return bool(_SID.match(value)) and (prefix is None or value.startswith(prefix))
