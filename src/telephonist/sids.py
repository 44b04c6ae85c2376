"""Twilio-shaped SIDs: a two-letter prefix and 32 lowercase hex digits."""

from __future__ import annotations

import re
import secrets
import time

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def new_sid(prefix: str) -> str:
    """Time-ordered, like a UUIDv7: 12 hex digits of Unix milliseconds, then 80 random bits.

    SIDs are unique keys in indexes that every create appends to; random ones would land on a
    different B-tree page each, which costs a page write per row at every commit.
    """
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def new_token() -> str:
    return secrets.token_hex(16)


def is_sid(value: str, prefix: str | None = None) -> bool:
    return bool(_SID.match(value)) and (prefix is None or value.startswith(prefix))
