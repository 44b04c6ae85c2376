"""HTTP Basic authentication: `AccountSid:AuthToken`; a parent's credentials also open its subaccounts."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from sqlalchemy import bindparam, select

from telephonist.api.errors import TwilioError
from telephonist.store.db import Raw, Row
from telephonist.store.models import accounts, api_keys

_DUMMY_TOKEN = "0" * 32
_DUMMY_DIGEST = "0" * 64
_ACCOUNT = select(accounts).where(accounts.c.sid == bindparam("sid"))
_KEY = select(api_keys).where(api_keys.c.sid == bindparam("sid"))


def unauthorized() -> TwilioError:
    return TwilioError(20003, "Authenticate", 401)


def _basic(header: str | None) -> tuple[str, str] | None:
    """The user name and password of a Basic Authorization header, when it is one."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, secret


def claimed_user(header: str | None) -> str:
    """The user name a header claims, unverified ("" for none): what failed attempts are counted by."""
    credentials = _basic(header)
    return credentials[0] if credentials is not None else ""


def authenticate(q: Raw, header: str | None) -> Row:
    """The account whose credentials the request carries; 401 with code 20003 for anything else."""
    credentials = _basic(header)
    if credentials is None:
        raise unauthorized()
    user, secret = credentials
    key = None
    if user.startswith("SK"):  # an API key acts as its account
        key = q.first(_KEY, sid=user)
        row = q.first(_ACCOUNT, sid=key["account_sid"]) if key is not None else None
        expected = key["secret_sha256"] if key is not None else _DUMMY_DIGEST
        given = hashlib.sha256(secret.encode()).hexdigest()
    else:
        row = q.first(_ACCOUNT, sid=user)
        expected = row["auth_token"] if row is not None else _DUMMY_TOKEN
        given = secret
    # Compare even when the SID is unknown, so timing does not tell which SIDs exist.
    ok = hmac.compare_digest(expected.encode(), given.encode())
    if row is None or not ok or row["status"] == "closed":
        raise unauthorized()
    if row["status"] != "active":
        raise TwilioError(20005, "Account not active", 401)
    return {**row, "api_key_sid": key["sid"]} if key is not None else row


def authorize(q: Raw, caller: Row, account_sid: str) -> Row:
    """The account named in the path, if the caller is that account or its parent (an API key opens
    its own account only)."""
    if account_sid == caller["sid"]:
        return caller
    if caller.get("api_key_sid"):
        raise unauthorized()
    row = q.first(_ACCOUNT, sid=account_sid)
    if row is None or row["owner_account_sid"] != caller["sid"]:
        raise unauthorized()
    return row
