"""API keys: `SK…` SIDs with a secret shown once, at creation. Basic auth with `SK…:secret` acts as the
key's account (and only that account). Standard keys cannot manage accounts or keys: that takes the
account's own credentials."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import Ctx, context, fetch_owned
from telephonist.api.errors import TwilioError
from telephonist.api.paging import paginate
from telephonist.api.render import API, json_response, no_content, rfc2822
from telephonist.sids import new_sid, new_token
from telephonist.store.db import Row, utcnow
from telephonist.store.models import api_keys


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def forbid_keys(ctx: Ctx) -> None:
    """Accounts and Keys are managed with the account's own credentials, not with an API key."""
    if ctx.caller.get("api_key_sid"):
        raise TwilioError(
            20403, "API keys cannot manage accounts or keys: use the account's credentials", 403
        )


def render_key(row: Row) -> dict[str, Any]:
    return {
        "sid": row["sid"],
        "friendly_name": row["friendly_name"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
    }


def _name(ctx: Ctx) -> str:
    name = ctx.params.get("FriendlyName") or ""
    if len(name) > 64:
        raise TwilioError(20001, "FriendlyName must be at most 64 characters")
    return name


def insert_key(conn: Connection, account_sid: str, friendly_name: str) -> tuple[Row, str]:
    """A new key of the account, and its secret (kept too: it verifies the access tokens the key signs)."""
    now = utcnow()
    sid, secret = new_sid("SK"), new_token()
    conn.execute(
        insert(api_keys).values(
            sid=sid,
            account_sid=account_sid,
            friendly_name=friendly_name,
            secret_sha256=secret_digest(secret),
            secret=secret,
            date_created=now,
            date_updated=now,
        )
    )
    return conn.execute(select(api_keys).where(api_keys.c.sid == sid)).mappings().one(), secret


async def create_key(request: Request) -> Response:
    ctx = await context(request)
    forbid_keys(ctx)
    with ctx.tx() as conn:
        row, secret = insert_key(conn, ctx.account_sid, _name(ctx))
    return json_response(render_key(row) | {"secret": secret}, 201)


async def list_keys(request: Request) -> Response:
    ctx = await context(request)
    forbid_keys(ctx)
    with ctx.tx() as conn:
        body = paginate(
            conn,
            api_keys,
            [api_keys.c.account_sid == ctx.account_sid],
            ctx.params,
            ctx.path,
            [],
            "keys",
            render_key,
        )
    return json_response(body)


async def fetch_key(request: Request) -> Response:
    ctx = await context(request)
    forbid_keys(ctx)
    with ctx.tx() as conn:
        row = fetch_owned(conn, api_keys, request.path_params["Sid"], ctx.account_sid, ctx.path)
    return json_response(render_key(row))


async def update_key(request: Request) -> Response:
    ctx = await context(request)
    forbid_keys(ctx)
    with ctx.tx() as conn:
        row = fetch_owned(conn, api_keys, request.path_params["Sid"], ctx.account_sid, ctx.path)
        if "FriendlyName" in ctx.params:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.sid == row["sid"])
                .values(friendly_name=_name(ctx), date_updated=utcnow())
            )
        row = conn.execute(select(api_keys).where(api_keys.c.sid == row["sid"])).mappings().one()
    return json_response(render_key(row))


async def delete_key(request: Request) -> Response:
    ctx = await context(request)
    forbid_keys(ctx)
    with ctx.tx() as conn:
        row = fetch_owned(conn, api_keys, request.path_params["Sid"], ctx.account_sid, ctx.path)
        conn.execute(delete(api_keys).where(api_keys.c.sid == row["sid"]))
    ctx.platform.credentials.clear()  # the key stops working at once
    return no_content()


_BASE = f"{API}/Accounts/{{AccountSid}}/Keys"
routes = [
    Route(f"{_BASE}.json", list_keys, methods=["GET"]),
    Route(f"{_BASE}.json", create_key, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", fetch_key, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", update_key, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", delete_key, methods=["DELETE"]),
]
