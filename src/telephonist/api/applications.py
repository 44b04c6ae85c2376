"""Applications: a named set of voice and messaging URLs that calls (`ApplicationSid`) and numbers
(`VoiceApplicationSid`, `SmsApplicationSid`) use instead of their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import config_values, context, fetch_owned
from telephonist.api.errors import TwilioError
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, no_content, rfc2822
from telephonist.sids import is_sid, new_sid
from telephonist.store.db import Row, utcnow
from telephonist.store.models import applications, incoming_phone_numbers

_FIELDS = {
    "FriendlyName": ("friendly_name", "text"),
    "VoiceUrl": ("voice_url", "url"),
    "VoiceMethod": ("voice_method", "method"),
    "VoiceFallbackUrl": ("voice_fallback_url", "url"),
    "VoiceFallbackMethod": ("voice_fallback_method", "method"),
    "StatusCallback": ("status_callback", "url"),
    "StatusCallbackMethod": ("status_callback_method", "method"),
    "VoiceCallerIdLookup": ("voice_caller_id_lookup", "bool"),
    "SmsUrl": ("sms_url", "url"),
    "SmsMethod": ("sms_method", "method"),
    "SmsFallbackUrl": ("sms_fallback_url", "url"),
    "SmsFallbackMethod": ("sms_fallback_method", "method"),
    "SmsStatusCallback": ("sms_status_callback", "url"),
    "MessageStatusCallback": ("message_status_callback", "url"),
    "PublicApplicationConnectEnabled": ("public_application_connect_enabled", "bool"),
}
_DEFAULTS: dict[str, Any] = {
    "friendly_name": "",
    "voice_method": "POST",
    "voice_fallback_method": "POST",
    "status_callback_method": "POST",
    "voice_caller_id_lookup": False,
    "sms_method": "POST",
    "sms_fallback_method": "POST",
    "public_application_connect_enabled": False,
}


def render_application(row: Row) -> dict[str, Any]:
    body = {key: row[key] for key in (column for column, _ in _FIELDS.values())}
    return body | {
        "account_sid": row["account_sid"],
        "api_version": "2010-04-01",
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "sid": row["sid"],
        "uri": f"{account_uri(row['account_sid'])}/Applications/{row['sid']}.json",
    }


def owned_application(conn: Connection, account_sid: str, sid: str | None, code: int, name: str) -> Row:
    """The account's application `sid`, or Twilio's error `code` naming the parameter."""
    row = None
    if sid and is_sid(sid, "AP"):
        row = (
            conn.execute(
                select(applications).where(
                    applications.c.sid == sid, applications.c.account_sid == account_sid
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise TwilioError(code, f"{name} {sid} is not an application of this account")
    return row


def application_params(app: Row) -> dict[str, Any]:
    """What a call runs when it is made with (or comes in through) this application."""
    params: dict[str, Any] = {"Url": app["voice_url"] or "", "Method": app["voice_method"]}
    if app["voice_fallback_url"]:
        params |= {"FallbackUrl": app["voice_fallback_url"], "FallbackMethod": app["voice_fallback_method"]}
    if app["status_callback"]:
        params |= {
            "StatusCallback": app["status_callback"],
            "StatusCallbackMethod": app["status_callback_method"],
        }
    return params


async def create_application(request: Request) -> Response:
    ctx = await context(request)
    values = _DEFAULTS | config_values(ctx, _FIELDS)
    now = utcnow()
    sid = new_sid("AP")
    with ctx.tx() as conn:
        conn.execute(
            insert(applications).values(
                sid=sid, account_sid=ctx.account_sid, date_created=now, date_updated=now, **values
            )
        )
        row = conn.execute(select(applications).where(applications.c.sid == sid)).mappings().one()
    return json_response(render_application(row), 201)


async def list_applications(request: Request) -> Response:
    ctx = await context(request)
    where: list[Any] = [applications.c.account_sid == ctx.account_sid]
    filters: list[tuple[str, str]] = []
    name = ctx.params.get("FriendlyName")
    if name:
        where.append(applications.c.friendly_name == name)
        filters.append(("FriendlyName", name))
    with ctx.tx() as conn:
        body = paginate(
            conn, applications, where, ctx.params, ctx.path, filters, "applications", render_application
        )
    return json_response(body)


async def fetch_application(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, applications, request.path_params["Sid"], ctx.account_sid, ctx.path)
    return json_response(render_application(row))


async def update_application(request: Request) -> Response:
    ctx = await context(request)
    values = config_values(ctx, _FIELDS)
    with ctx.tx() as conn:
        row = fetch_owned(conn, applications, request.path_params["Sid"], ctx.account_sid, ctx.path)
        conn.execute(
            update(applications)
            .where(applications.c.sid == row["sid"])
            .values(date_updated=utcnow(), **values)
        )
        row = conn.execute(select(applications).where(applications.c.sid == row["sid"])).mappings().one()
    ctx.platform.owners.clear()  # numbers that use it answer with its new URLs
    return json_response(render_application(row))


async def delete_application(request: Request) -> Response:
    """Numbers that used it go back to their own URLs, as on Twilio."""
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, applications, request.path_params["Sid"], ctx.account_sid, ctx.path)
        ipn = incoming_phone_numbers
        for column in (ipn.c.voice_application_sid, ipn.c.sms_application_sid):
            conn.execute(update(ipn).where(column == row["sid"]).values({column.key: None}))
        conn.execute(delete(applications).where(applications.c.sid == row["sid"]))
    ctx.platform.owners.clear()
    return no_content()


_BASE = f"{API}/Accounts/{{AccountSid}}/Applications"
routes = [
    Route(f"{_BASE}.json", list_applications, methods=["GET"]),
    Route(f"{_BASE}.json", create_application, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", fetch_application, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", update_application, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", delete_application, methods=["DELETE"]),
]
