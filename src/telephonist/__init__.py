"""Telephonist: a self-hosted programmable Voice & SMS platform that speaks Twilio's wire protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twilio.rest import Client

__version__ = "0.1.0"


def client(base_url: str, account_sid: str, auth_token: str) -> Client:
    """Return an official `twilio` SDK client with every domain it uses pointed at Telephonist."""
    from twilio.rest import Client

    c = Client(account_sid, auth_token)
    c.api.base_url = base_url.rstrip("/")
    c.messaging.base_url = base_url.rstrip("/") + "/messaging"  # Messaging Services (messaging/v1)
    return c
