"""Accounts and subaccounts: a parent lists, creates and updates its subaccounts; nobody sees anyone else."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import context
from telephonist.api.errors import TwilioError
from telephonist.api.keys import forbid_keys
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, rfc2822
from telephonist.sids import new_sid, new_token
from telephonist.store.db import Row, utcnow
from telephonist.store.models import accounts

_SUBRESOURCES = (
    "available_phone_numbers calls conferences incoming_phone_numbers notifications outgoing_caller_ids "
    "recordings transcriptions addresses signing_keys connect_apps sip authorized_connect_apps usage keys "
    "applications short_codes queues messages balance"
).split()
_SUBRESOURCE_PATHS = {"sip": "SIP", "usage": "Usage"}


def render_account(row: Row) -> dict[str, Any]:
    base = account_uri(row["sid"])

    def camel(name: str) -> str:
        return _SUBRESOURCE_PATHS.get(name) or "".join(p.title() for p in name.split("_"))

    return {
        "auth_token": row["auth_token"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "friendly_name": row["friendly_name"],
        "owner_account_sid": row["owner_account_sid"],
        "sid": row["sid"],
        "status": row["status"],
        "subresource_uris": {name: f"{base}/{camel(name)}.json" for name in _SUBRESOURCES},
        "type": row["type"],
        "uri": f"{base}.json",
    }


def create_account(
    conn: Connection,
    friendly_name: str,
    owner: str | None = None,
    sid: str | None = None,
    auth_token: str | None = None,
) -> Row:
    now = utcnow()
    sid = sid or new_sid("AC")
    conn.execute(
        insert(accounts).values(
            sid=sid,
            owner_account_sid=owner or sid,
            friendly_name=friendly_name,
            status="active",
            type="Full",
            auth_token=auth_token or new_token(),
            date_created=now,
            date_updated=now,
        )
    )
    return conn.execute(select(accounts).where(accounts.c.sid == sid)).mappings().one()


async def list_accounts(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    forbid_keys(ctx)
    sid = ctx.caller["sid"]
    where = [or_(accounts.c.sid == sid, accounts.c.owner_account_sid == sid)]
    filters = []
    for name, column in (("FriendlyName", accounts.c.friendly_name), ("Status", accounts.c.status)):
        value = ctx.params.get(name)
        if value:
            where.append(column == value)
            filters.append((name, value))
    with ctx.tx() as conn:
        body = paginate(conn, accounts, where, ctx.params, ctx.path, filters, "accounts", render_account)
    return json_response(body)


async def create_subaccount(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    forbid_keys(ctx)
    if ctx.caller["owner_account_sid"] != ctx.caller["sid"]:
        raise TwilioError(20003, "Subaccounts cannot create subaccounts", 401)
    name = ctx.params.get("FriendlyName") or f"SubAccount Created at {utcnow():%Y-%m-%d %I:%M %p}"
    with ctx.tx() as conn:
        row = create_account(conn, name[:64], owner=ctx.caller["sid"])
    return json_response(render_account(row), 201)


async def fetch_account(request: Request) -> Response:
    ctx = await context(request, account_param="Sid")
    return json_response(render_account(ctx.account))


async def update_account(request: Request) -> Response:
    ctx = await context(request, account_param="Sid")
    forbid_keys(ctx)
    values: dict[str, Any] = {}
    if "FriendlyName" in ctx.params:
        values["friendly_name"] = (ctx.params.get("FriendlyName") or "")[:64]
    status = ctx.params.get("Status")
    if status:
        if status not in ("active", "suspended", "closed"):
            raise TwilioError(20422, f"Invalid Status: {status}")
        if ctx.account["status"] == "closed" and status != "closed":
            raise TwilioError(20005, "Account is closed and cannot be reactivated")
        if ctx.account["sid"] == ctx.caller["sid"] and status != "active":
            raise TwilioError(20003, "An account cannot suspend or close itself", 401)
        values["status"] = status
    with ctx.tx() as conn:
        if values:
            conn.execute(
                update(accounts)
                .where(accounts.c.sid == ctx.account_sid)
                .values(**values, date_updated=utcnow())
            )
        row = conn.execute(select(accounts).where(accounts.c.sid == ctx.account_sid)).mappings().one()
    ctx.platform.credentials.clear()
    return json_response(render_account(row))


routes = [
    Route(f"{API}/Accounts.json", list_accounts, methods=["GET"]),
    Route(f"{API}/Accounts.json", create_subaccount, methods=["POST"]),
    Route(f"{API}/Accounts/{{Sid}}.json", fetch_account, methods=["GET"]),
    Route(f"{API}/Accounts/{{Sid}}.json", update_account, methods=["POST"]),
]
