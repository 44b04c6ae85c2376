"""Notifications: the account's (and each call's) record of webhook and TwiML failures."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import context, fetch_owned
from telephonist.api.forms import date_filters
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, rfc2822
from telephonist.store.db import Row
from telephonist.store.models import calls, notifications


def render_notification(row: Row, instance: bool = False) -> dict[str, Any]:
    body = {
        "account_sid": row["account_sid"],
        "api_version": "2010-04-01",
        "call_sid": row["call_sid"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "error_code": row["error_code"],
        "log": row["log"],
        "message_date": rfc2822(row["message_date"]),
        "message_text": row["message_text"],
        "more_info": f"https://www.twilio.com/docs/errors/{row['error_code']}",
        "request_method": row["request_method"],
        "request_url": row["request_url"] or "",
        "sid": row["sid"],
        "uri": f"{account_uri(row['account_sid'])}/Notifications/{row['sid']}.json",
    }
    if instance:
        body |= {
            "request_variables": row["request_variables"],
            "response_body": row["response_body"],
            "response_headers": row["response_headers"],
        }
    return body


async def list_notifications(request: Request) -> Response:
    ctx = await context(request)
    where: list[Any] = [notifications.c.account_sid == ctx.account_sid]
    filters: list[tuple[str, str]] = []
    call_sid = request.path_params.get("CallSid")
    with ctx.tx() as conn:
        if call_sid:
            fetch_owned(conn, calls, call_sid, ctx.account_sid, ctx.path)
            where.append(notifications.c.call_sid == call_sid)
        log = ctx.params.get("Log")
        if log in ("0", "1"):
            where.append(notifications.c.log == log)
            filters.append(("Log", log))
        w, f = date_filters(ctx.params, "MessageDate", notifications.c.message_date)
        body = paginate(
            conn,
            notifications,
            where + w,
            ctx.params,
            ctx.path,
            filters + f,
            "notifications",
            render_notification,
        )
    return json_response(body)


async def fetch_notification(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, notifications, request.path_params["Sid"], ctx.account_sid, ctx.path)
    return json_response(render_notification(row, instance=True))


_BASE = f"{API}/Accounts/{{AccountSid}}"
routes = [
    Route(f"{_BASE}/Notifications.json", list_notifications, methods=["GET"]),
    Route(f"{_BASE}/Notifications/{{Sid}}.json", fetch_notification, methods=["GET"]),
    Route(f"{_BASE}/Calls/{{CallSid}}/Notifications.json", list_notifications, methods=["GET"]),
]
