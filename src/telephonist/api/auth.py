"""HTTP Basic authentication: `AccountSid:AuthToken`; a parent's credentials also open its subaccounts."""

from __future__ import annotations

import base64
import binascii
import hmac

from sqlalchemy import bindparam, select

from telephonist.api.errors import TwilioError
from telephonist.store.db import Raw, Row
from telephonist.store.models import accounts

_DUMMY_TOKEN = "0" * 32
_ACCOUNT = select(accounts).where(accounts.c.sid == bindparam("sid"))


def unauthorized() -> TwilioError:
    return TwilioError(20003, "Authenticate", 401)


def authenticate(q: Raw, header: str | None) -> Row:
    """The account whose credentials the request carries; 401 with code 20003 for anything else."""
    if not header or not header.startswith("Basic "):
        raise unauthorized()
    try:
        user, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized() from None
    row = q.first(_ACCOUNT, sid=user)
    expected = row["auth_token"] if row is not None else _DUMMY_TOKEN
    # Compare even when the account is unknown, so timing does not tell which SIDs exist.
    ok = hmac.compare_digest(expected.encode(), secret.encode())
    if row is None or not ok or row["status"] == "closed":
        raise unauthorized()
    if row["status"] != "active":
        raise TwilioError(20005, "Account not active", 401)
    return row


def authorize(q: Raw, caller: Row, account_sid: str) -> Row:
    """The account named in the path, if the caller is that account or its parent."""
    if account_sid == caller["sid"]:
        return caller
    row = q.first(_ACCOUNT, sid=account_sid)
    if row is None or row["owner_account_sid"] != caller["sid"]:
        raise unauthorized()
    return row
