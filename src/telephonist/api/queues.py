"""Queues and their Members: create, list, fetch, update and delete queues; list and fetch the callers
waiting (`Front` is the one at the head) and dequeue one to the TwiML at a `Url`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import Ctx, context, fetch_owned, require
from telephonist.api.errors import TwilioError, not_found
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, no_content, rfc2822
from telephonist.numbers import is_url
from telephonist.store.db import Row, utcnow
from telephonist.store.models import queue_members, queues
from telephonist.voice.interpreter import Source
from telephonist.voice.queues import DEFAULT_MAX_SIZE, MAX_SIZE

MAX_NAME = 64


def render_queue(conn: Any, row: Row) -> dict[str, Any]:
    size = len(conn.execute(select(queue_members.c.seq).where(queue_members.c.queue_sid == row["sid"])).all())
    return {
        "account_sid": row["account_sid"],
        "average_wait_time": row["total_wait"] // row["dequeued"] if row["dequeued"] else 0,
        "current_size": size,
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "friendly_name": row["friendly_name"],
        "max_size": row["max_size"],
        "sid": row["sid"],
        "uri": f"{account_uri(row['account_sid'])}/Queues/{row['sid']}.json",
    }


def _max_size(ctx: Ctx, default: int | None) -> int | None:
    raw = ctx.params.get("MaxSize")
    if raw is None or raw == "":
        return default
    size = ctx.params.integer("MaxSize", DEFAULT_MAX_SIZE)
    if not 1 <= size <= MAX_SIZE:
        raise TwilioError(20001, f"MaxSize must be between 1 and {MAX_SIZE}")
    return size


def _name(ctx: Ctx, required: bool) -> str | None:
    name = ctx.params.get("FriendlyName")
    if required:
        name = require(name, 20001, "Missing required parameter FriendlyName in the post body")
    if name is not None and len(name) > MAX_NAME:
        raise TwilioError(20001, f"FriendlyName must be at most {MAX_NAME} characters")
    return name


async def create_queue(request: Request) -> Response:
    ctx = await context(request)
    name = _name(ctx, required=True)
    size = _max_size(ctx, DEFAULT_MAX_SIZE)
    assert name is not None and size is not None
    with ctx.tx() as conn:
        row = ctx.platform.voice.queues.create(conn, ctx.account_sid, name, size)
        body = render_queue(conn, row)
    return json_response(body, 201)


async def list_queues(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        body = paginate(
            conn,
            queues,
            [queues.c.account_sid == ctx.account_sid],
            ctx.params,
            ctx.path,
            [],
            "queues",
            lambda row: render_queue(conn, row),
        )
    return json_response(body)


async def fetch_queue(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, queues, request.path_params["Sid"], ctx.account_sid, ctx.path)
        body = render_queue(conn, row)
    return json_response(body)


async def update_queue(request: Request) -> Response:
    ctx = await context(request)
    name = _name(ctx, required=False)
    size = _max_size(ctx, None)
    with ctx.tx() as conn:
        row = fetch_owned(conn, queues, request.path_params["Sid"], ctx.account_sid, ctx.path)
        values: dict[str, Any] = {"date_updated": utcnow()}
        if name is not None:
            values["friendly_name"] = name
        if size is not None:
            values["max_size"] = size
        conn.execute(update(queues).where(queues.c.sid == row["sid"]).values(**values))
        row = conn.execute(select(queues).where(queues.c.sid == row["sid"])).mappings().one()
        body = render_queue(conn, row)
    return json_response(body)


async def delete_queue(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, queues, request.path_params["Sid"], ctx.account_sid, ctx.path)
        if conn.execute(select(queue_members.c.seq).where(queue_members.c.queue_sid == row["sid"])).first():
            raise TwilioError(20009, "Cannot delete a queue while callers are waiting in it")
        conn.execute(delete(queues).where(queues.c.sid == row["sid"]))
    return no_content()


def _members(conn: Any, queue_sid: str) -> list[Row]:
    return list(
        conn.execute(
            select(queue_members).where(queue_members.c.queue_sid == queue_sid).order_by(queue_members.c.seq)
        ).mappings()
    )


def render_member(row: Row, position: int, account_sid: str) -> dict[str, Any]:
    waited = max(0, round((utcnow() - row["date_enqueued"]).total_seconds()))
    return {
        "call_sid": row["call_sid"],
        "date_enqueued": rfc2822(row["date_enqueued"]),
        "position": position,
        "queue_sid": row["queue_sid"],
        "uri": f"{account_uri(account_sid)}/Queues/{row['queue_sid']}/Members/{row['call_sid']}.json",
        "wait_time": waited,
    }


async def list_members(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        queue = fetch_owned(conn, queues, request.path_params["QueueSid"], ctx.account_sid, ctx.path)
        members = _members(conn, queue["sid"])
    size = ctx.params.integer("PageSize", 50)
    page = ctx.params.integer("Page", 0)
    chosen = members[page * size : (page + 1) * size]
    uri = f"{ctx.path}?PageSize={size}"
    return json_response(
        {
            "queue_members": [
                render_member(row, page * size + i + 1, ctx.account_sid) for i, row in enumerate(chosen)
            ],
            "uri": f"{uri}&Page={page}",
            "first_page_uri": f"{uri}&Page=0",
            "next_page_uri": f"{uri}&Page={page + 1}" if (page + 1) * size < len(members) else None,
            "previous_page_uri": f"{uri}&Page={page - 1}" if page > 0 else None,
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": page * size + max(0, len(chosen) - 1),
        }
    )


def _member(conn: Any, ctx: Ctx, request: Request) -> tuple[Row, int]:
    queue = fetch_owned(conn, queues, request.path_params["QueueSid"], ctx.account_sid, ctx.path)
    members = _members(conn, queue["sid"])
    wanted = request.path_params["CallSid"]
    for position, row in enumerate(members, start=1):
        if wanted in ("Front", row["call_sid"]):
            return row, position
    raise not_found(ctx.path)


async def fetch_member(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row, position = _member(conn, ctx, request)
    return json_response(render_member(row, position, ctx.account_sid))


async def dequeue_member(request: Request) -> Response:
    """Take the caller out of the queue; its call runs the TwiML at `Url` now."""
    ctx = await context(request)
    url = require(ctx.params.get("Url"), 20001, "Missing required parameter Url in the post body")
    if not is_url(url):
        raise TwilioError(21205, f"Url is not a valid URL: {url}")
    method = ctx.params.method("Method")
    with ctx.tx() as conn:
        row, position = _member(conn, ctx, request)
    body = render_member(row, position, ctx.account_sid)
    if not ctx.platform.voice.queues.hand_over(row["call_sid"], Source(url=url, method=method)):
        raise TwilioError(21220, f"Call {row['call_sid']} is no longer waiting in this queue")
    return json_response(body)


_BASE = f"{API}/Accounts/{{AccountSid}}/Queues"
routes = [
    Route(f"{_BASE}.json", list_queues, methods=["GET"]),
    Route(f"{_BASE}.json", create_queue, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", fetch_queue, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", update_queue, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", delete_queue, methods=["DELETE"]),
    Route(f"{_BASE}/{{QueueSid}}/Members.json", list_members, methods=["GET"]),
    Route(f"{_BASE}/{{QueueSid}}/Members/{{CallSid}}.json", fetch_member, methods=["GET"]),
    Route(f"{_BASE}/{{QueueSid}}/Members/{{CallSid}}.json", dequeue_member, methods=["POST"]),
]
