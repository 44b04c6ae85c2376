"""Message Media: list, fetch and delete the ME… resources of a message, and the files themselves.

A file at its Media `uri` without `.json` is public, as Twilio serves it by default (MediaUrl0 is
fetched by applications without credentials); the SID (80 random bits) is the secret.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import Ctx, context, fetch_owned
from telephonist.api.errors import not_found
from telephonist.api.forms import date_filters
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, no_content, rfc2822
from telephonist.sids import is_sid
from telephonist.store.db import Row
from telephonist.store.models import message_media, messages

_FIELDS = [c for c in message_media.c if c.key != "content"]


def render_media(row: Row) -> dict[str, Any]:
    return {
        "account_sid": row["account_sid"],
        "content_type": row["content_type"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "parent_sid": row["message_sid"],
        "sid": row["sid"],
        "uri": f"{account_uri(row['account_sid'])}/Messages/{row['message_sid']}/Media/{row['sid']}.json",
    }


def _one(ctx: Ctx, request: Request, conn: Any) -> Row:
    """The medium in the path, of the message in the path, of the account in the path; else 20404."""
    message = fetch_owned(conn, messages, request.path_params["MessageSid"], ctx.account_sid, ctx.path)
    row = fetch_owned(conn, message_media, request.path_params["Sid"], ctx.account_sid, ctx.path)
    if row["message_sid"] != message["sid"]:
        raise not_found(ctx.path)
    return row


async def list_media(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        message = fetch_owned(conn, messages, request.path_params["MessageSid"], ctx.account_sid, ctx.path)
        w, f = date_filters(ctx.params, "DateCreated", message_media.c.date_created)
        body = paginate(
            conn,
            message_media,
            [message_media.c.message_sid == message["sid"], *w],
            ctx.params,
            ctx.path,
            f,
            "media_list",
            render_media,
            columns=_FIELDS,
        )
    return json_response(body)


async def fetch_media(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = _one(ctx, request, conn)
    return json_response(render_media(row))


async def delete_media(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = _one(ctx, request, conn)
        conn.execute(delete(message_media).where(message_media.c.sid == row["sid"]))
    return no_content()


async def media_file(request: Request) -> Response:
    """The file itself, without credentials."""
    sid = request.path_params["Sid"]
    path = request.url.path
    if not is_sid(sid, "ME"):
        raise not_found(path)
    platform = request.app.state.platform
    with platform.db.read() as q:
        row = q.first(select(message_media).where(message_media.c.sid == sid))
    p = request.path_params
    if row is None or row["account_sid"] != p["AccountSid"] or row["message_sid"] != p["MessageSid"]:
        raise not_found(path)
    return Response(bytes(row["content"]), media_type=row["content_type"])


_BASE = f"{API}/Accounts/{{AccountSid}}/Messages/{{MessageSid}}/Media"
routes = [
    Route(f"{_BASE}.json", list_media, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", fetch_media, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", delete_media, methods=["DELETE"]),
    Route(f"{_BASE}/{{Sid}}", media_file, methods=["GET"]),
]
