"""Access tokens of the browser phone, in the shape of Twilio's: a JWT signed (HS256) with an API key's
secret, issued by the key (`iss`) for its account (`sub`), carrying an identity and a voice grant.

`mint` makes one as `twilio.jwt.access_token.AccessToken` with a `VoiceGrant` does; `verify` accepts those
and refuses the rest with Twilio's codes: 20101 malformed, 20102 a header of another kind, 20103 a key that
is unknown, of another account or without a kept secret, 20104 expired, 20105 not yet valid, 20106 no
identity or voice grant, 20107 a bad signature, 20157 valid for longer than a day.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from sqlalchemy import bindparam, select

from telephonist.store.db import Raw
from telephonist.store.models import accounts, api_keys

ALGORITHM = "HS256"
CONTENT_TYPE = "twilio-fpa;v=1"
MAX_TTL = 86400  # seconds: Twilio's longest access token
# Twilio's rule for a client name: no control, space, delimiter or "unwise" characters; 121 at most.
_IDENTITY = re.compile(r"[^\x00-\x20\x7f<>\"#%{}|\\^\[\]`/:?&=]{1,121}")
_KEY = select(api_keys).where(api_keys.c.sid == bindparam("sid"))
_ACCOUNT = select(accounts).where(accounts.c.sid == bindparam("sid"))


class TokenError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VoiceGrant:
    """What a verified token allows."""

    account_sid: str
    key_sid: str
    identity: str
    expires: float  # seconds since the epoch
    incoming: bool = False  # may be called (`<Dial><Client>`, a call to client:identity)
    application_sid: str | None = None  # the Application whose VoiceUrl runs its own calls
    params: dict[str, str] = field(default_factory=dict)  # sent with its calls to that VoiceUrl


def valid_identity(identity: str) -> bool:
    return bool(_IDENTITY.fullmatch(identity))


def mint(
    account_sid: str,
    key_sid: str,
    secret: str,
    identity: str,
    *,
    application_sid: str | None = None,
    params: dict[str, str] | None = None,
    incoming: bool = True,
    ttl: int = 3600,
    now: int | None = None,
) -> str:
    """A token for `identity` of the account, signed with the key `key_sid` and its `secret`."""
    issued = int(time.time()) if now is None else now
    voice: dict[str, Any] = {}
    if incoming:
        voice["incoming"] = {"allow": True}
    if application_sid:
        voice["outgoing"] = {"application_sid": application_sid}
        if params:
            voice["outgoing"]["params"] = params
    payload = {
        "jti": f"{key_sid}-{issued}",
        "iss": key_sid,
        "sub": account_sid,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "grants": {"identity": identity, "voice": voice},
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"typ": "JWT", "cty": CONTENT_TYPE})


def verify(q: Raw, token: str) -> VoiceGrant:
    """The grant of a token one of our API keys signed; TokenError for anything else."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise TokenError(20101, "Invalid Access Token") from None
    if header.get("alg") != ALGORITHM or header.get("cty") != CONTENT_TYPE:
        raise TokenError(20102, f"Invalid Access Token header: expected alg {ALGORITHM}, cty {CONTENT_TYPE}")
    key_sid, account_sid = unverified.get("iss"), unverified.get("sub")
    key = q.first(_KEY, sid=key_sid) if isinstance(key_sid, str) else None
    if key is None or key["account_sid"] != account_sid:
        raise TokenError(20103, "Invalid Access Token issuer/subject: no such API key of that account")
    if not key["secret"]:
        raise TokenError(
            20103,
            f"API key {key_sid} was made before Telephonist kept key secrets, so tokens it signs cannot be "
            "verified: create a new API key",
        )
    account = q.first(_ACCOUNT, sid=account_sid)
    if account is None or account["status"] != "active":
        raise TokenError(20103, f"Invalid Access Token subject: account {account_sid} is not active")
    try:
        claims = jwt.decode(token, key["secret"], algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.InvalidSignatureError:
        raise TokenError(20107, "Invalid Access Token signature") from None
    except (jwt.ExpiredSignatureError, jwt.MissingRequiredClaimError):
        raise TokenError(20104, "Access Token expired or expiration date invalid") from None
    except jwt.ImmatureSignatureError:
        raise TokenError(20105, "Access Token not yet valid") from None
    except jwt.PyJWTError:
        raise TokenError(20101, "Invalid Access Token") from None
    if claims["exp"] - time.time() > MAX_TTL + 60:  # a minute for the clocks of other minters
        raise TokenError(20157, f"Expiration Time Exceeds Maximum Time Allowed ({MAX_TTL} seconds)")
    return _grant(claims, str(account_sid), str(key_sid))


def _grant(claims: dict[str, Any], account_sid: str, key_sid: str) -> VoiceGrant:
    grants = claims.get("grants")
    grants = grants if isinstance(grants, dict) else {}
    identity, voice = grants.get("identity"), grants.get("voice")
    if not isinstance(identity, str) or not valid_identity(identity) or not isinstance(voice, dict):
        raise TokenError(20106, "Invalid Access Token grants: an identity and a voice grant are needed")
    incoming = voice.get("incoming")
    outgoing = voice.get("outgoing")
    outgoing = outgoing if isinstance(outgoing, dict) else {}
    params = outgoing.get("params")
    return VoiceGrant(
        account_sid=account_sid,
        key_sid=key_sid,
        identity=identity,
        expires=float(claims["exp"]),
        incoming=isinstance(incoming, dict) and incoming.get("allow") is True,
        application_sid=str(outgoing["application_sid"]) if outgoing.get("application_sid") else None,
        params={str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {},
    )
