"""`POST /webrtc/v1/Tokens`: an access token for the browser phone. Twilio has no such endpoint (apps mint
tokens with their SDK and an API key, which works here too); this one serves tests and quick starts.

Authenticated like the REST API, for the caller's account. Parameters: `Identity` (required),
`OutgoingApplicationSid`, `IncomingAllow` (default true), `Ttl` (seconds, default 3600, at most a day) and the
key to sign with, `ApiKeySid` with its `ApiKeySecret`; without them the caller's own API key signs (when it
authenticated with one), else the account's browser-phone key, made on first use.
"""

from __future__ import annotations

import hmac

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist import tokens
from telephonist.api.base import Ctx, context, fetch_owned
from telephonist.api.errors import TwilioError
from telephonist.api.keys import insert_key, secret_digest
from telephonist.api.render import json_response
from telephonist.store.models import api_keys, applications

KEY_NAME = "Telephonist browser phone"  # the key made to sign tokens when none is given


async def create_token(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    identity = ctx.params.get("Identity") or ""
    if not identity:
        raise TwilioError(20001, "Identity is required")
    if not tokens.valid_identity(identity):
        raise TwilioError(31105, "Invalid client name: no spaces, control characters or delimiters")
    ttl = ctx.params.integer("Ttl", 3600, code=20001)
    if not 0 < ttl <= tokens.MAX_TTL:
        raise TwilioError(20157, f"Ttl must be between 1 and {tokens.MAX_TTL} seconds")
    application_sid = ctx.params.get("OutgoingApplicationSid") or None
    if application_sid is not None:
        with ctx.tx() as conn:
            found = conn.execute(
                select(applications.c.sid).where(
                    applications.c.sid == application_sid, applications.c.account_sid == ctx.account_sid
                )
            ).first()
        if found is None:
            raise TwilioError(21218, f"Invalid ApplicationSid: {application_sid}")
    key_sid, secret = _signing_key(ctx)
    token = tokens.mint(
        ctx.account_sid,
        key_sid,
        secret,
        identity,
        application_sid=application_sid,
        incoming=ctx.params.boolean("IncomingAllow", True),
        ttl=ttl,
    )
    body = {
        "token": token,
        "identity": identity,
        "account_sid": ctx.account_sid,
        "api_key_sid": key_sid,
        "ttl": ttl,
    }
    return json_response(body, 201)


def _signing_key(ctx: Ctx) -> tuple[str, str]:
    """The SID and secret of the key that signs: the one named, the caller's own, or the account's."""
    named = ctx.params.get("ApiKeySid") or ctx.caller.get("api_key_sid")
    with ctx.tx() as conn:
        if named:
            key = fetch_owned(conn, api_keys, named, ctx.account_sid, ctx.path)
            given = ctx.params.get("ApiKeySecret")
            if given is not None and not hmac.compare_digest(secret_digest(given), key["secret_sha256"]):
                raise TwilioError(20003, "Authenticate: ApiKeySecret is not the secret of ApiKeySid", 401)
            if given is None and ctx.caller.get("api_key_sid") != named:
                raise TwilioError(20001, "ApiKeySecret is required with ApiKeySid")
            if not key["secret"]:
                raise TwilioError(
                    20103,
                    f"API key {named} was made before Telephonist kept key secrets: tokens it signs could "
                    "not be verified; create a new API key",
                )
            return str(key["sid"]), str(key["secret"])
        key = (
            conn.execute(
                select(api_keys)
                .where(
                    api_keys.c.account_sid == ctx.account_sid,
                    api_keys.c.friendly_name == KEY_NAME,
                    api_keys.c.secret.is_not(None),
                )
                .order_by(api_keys.c.seq.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if key is None:
            key, _ = insert_key(conn, ctx.account_sid, KEY_NAME)
        return str(key["sid"]), str(key["secret"])


routes = [Route("/webrtc/v1/Tokens", create_token, methods=["POST"])]
