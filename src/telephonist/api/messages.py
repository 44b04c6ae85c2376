"""Messages: create (validated as Twilio does; row and send job in one transaction), list, fetch,
redact, delete."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import Ctx, context, fetch_owned
from telephonist.api.errors import TwilioError
from telephonist.api.forms import Params, date_filters, parse_date_filter
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, no_content, rfc2822
from telephonist.messaging import services
from telephonist.messaging.engine import FINAL_STATUSES, OutboundMessage, Refused
from telephonist.numbers import MAGIC_INVALID, is_url, to_e164
from telephonist.sids import is_sid
from telephonist.store.db import raw, utcnow
from telephonist.store.models import applications, message_media, messages

MAX_BODY = 1600
MAX_VALIDITY = 36000
SCHEDULE_MIN, SCHEDULE_MAX = dt.timedelta(minutes=5), dt.timedelta(days=35)
_APP = select(applications).where(
    applications.c.sid == bindparam("sid"), applications.c.account_sid == bindparam("account_sid")
)

# Twilio's test numbers: what sending to or from them does (twilio-wire.md, magic numbers).
_MAGIC_TO = {
    "+15005550002": (
        21612,
        "The 'To' phone number: {n}, is not currently reachable using the 'From' phone number via SMS.",
    ),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {n}.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number {n} is not a valid mobile number"),
}
_MAGIC_FROM = {
    "+15005550007": (
        21606,
        "The 'From' phone number provided ({n}) is not a valid message-capable Twilio phone number "
        "for this destination.",
    ),
    "+15005550008": (21611, "This 'From' number ({n}) has exceeded the maximum number of queued messages"),
}


def render_message(row: Mapping[str, Any]) -> dict[str, Any]:
    uri = f"{account_uri(row['account_sid'])}/Messages/{row['sid']}"
    return {
        "account_sid": row["account_sid"],
        "api_version": "2010-04-01",
        "body": row["body"],
        "date_created": rfc2822(row["date_created"]),
        "date_sent": rfc2822(row["date_sent"]),
        "date_updated": rfc2822(row["date_updated"]),
        "direction": row["direction"],
        "error_code": row["error_code"],
        "error_message": row["error_message"],
        "from": row["from"] or None,
        "messaging_service_sid": row["messaging_service_sid"],
        "num_media": str(row["num_media"]),
        "num_segments": str(row["num_segments"]),
        "price": None,
        "price_unit": "USD",
        "sid": row["sid"],
        "status": row["status"],
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": row["to"],
        "uri": f"{uri}.json",
    }


def check_content(p: Params) -> tuple[str, list[str]]:
    """Body and MediaUrl of a message, wherever it is sent from (the API or a virtual phone)."""
    body = p.get("Body") or ""
    media = p.getlist("MediaUrl")
    if not body and not media:
        raise TwilioError(21602, "Message body is required.")
    if len(body) > MAX_BODY:
        raise TwilioError(21617, "The concatenated message body exceeds the 1600 character limit.")
    if len(media) > 10:
        raise TwilioError(21623, "The number of media files exceeds 10.")
    for url in media:
        if not is_url(url):
            raise TwilioError(21620, f"Media URL {url} is invalid.")
    return body, media


def validate_create(ctx: Ctx) -> tuple[OutboundMessage, str | None]:
    """The message a create request asks for, checked as far as the request alone allows; and the
    ApplicationSid whose MessageStatusCallback is wanted, if any."""
    p = ctx.params
    raw_to = p.get("To")
    if not raw_to:
        raise TwilioError(21604, "A 'To' phone number is required.")
    raw_from = p.get("From")
    service_sid = p.get("MessagingServiceSid") or None
    if not raw_from and not service_sid:
        raise TwilioError(21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message")
    if service_sid is not None and not is_sid(service_sid, "MG"):
        raise TwilioError(21705, f"The Messaging Service Sid {service_sid} is invalid.")
    body, media = check_content(p)
    to = to_e164(raw_to)
    if to is None or to == MAGIC_INVALID:
        raise TwilioError(21211, f"The 'To' number {raw_to} is not a valid phone number.")
    if to in _MAGIC_TO:
        code, text = _MAGIC_TO[to]
        raise TwilioError(code, text.format(n=to))
    sender = None
    if raw_from:
        sender = to_e164(raw_from)
        if sender is None or sender == MAGIC_INVALID:
            raise TwilioError(
                21212,
                f"The 'From' number {raw_from} is not a valid phone number, shortcode, "
                "or alphanumeric sender ID.",
            )
        if sender in _MAGIC_FROM:
            code, text = _MAGIC_FROM[sender]
            raise TwilioError(code, text.format(n=sender))
    callback = p.get("StatusCallback") or None
    if callback and not is_url(callback):
        raise TwilioError(21609, f"The StatusCallback URL {callback} is not a valid URL.")
    validity = p.integer("ValidityPeriod", 0, code=21624)
    if "ValidityPeriod" in p and not 1 <= validity <= MAX_VALIDITY:
        raise TwilioError(21624, f"Invalid validity period value: {validity} (1 to {MAX_VALIDITY} seconds)")
    p.integer("Attempt", 1)
    application_sid = p.get("ApplicationSid") or None
    if application_sid is not None and not is_sid(application_sid, "AP"):
        raise TwilioError(21421, f"ApplicationSid {application_sid} is not valid.")
    return (
        OutboundMessage(
            account_sid=ctx.account_sid,
            to=to,
            from_=sender,
            body=body,
            media=media,
            status_callback=callback,
            status_callback_method=p.method("StatusCallbackMethod", code=21609),
            messaging_service_sid=service_sid,
            validity=validity,
            send_at=_send_at(p, service_sid),
        ),
        application_sid,
    )


def _send_at(p: Params, service_sid: str | None) -> dt.datetime | None:
    """SendAt of a scheduled message (ScheduleType=fixed): 5 minutes to 35 days ahead, with a Messaging
    Service. SendAt without ScheduleType is not a schedule: the message goes now, as on Twilio."""
    schedule = p.get("ScheduleType")
    if not schedule:
        return None
    if schedule != "fixed":
        raise TwilioError(35126, "The ScheduleType value provided is not supported for this channel")
    raw_at = p.get("SendAt")
    if not raw_at:
        raise TwilioError(35111, "SendAt timestamp is missing")
    if service_sid is None:
        raise TwilioError(35118, "MessagingServiceSid is required to schedule a message")
    try:
        send_at = parse_date_filter("SendAt", raw_at)
    except TwilioError:
        raise TwilioError(35114, f"Scheduling does not support this timestamp: {raw_at}") from None
    ahead = send_at - utcnow()
    if not SCHEDULE_MIN <= ahead <= SCHEDULE_MAX:
        raise TwilioError(
            35114,
            f"Scheduling does not support this timestamp: {raw_at} "
            "(SendAt must be 5 minutes to 35 days ahead)",
        )
    return send_at


async def create_message(request: Request) -> Response:
    ctx = await context(request)
    msg, application_sid = validate_create(ctx)
    platform = ctx.platform
    async with platform.db.write() as q:
        if msg.messaging_service_sid is not None:
            svc = services.service(q, msg.messaging_service_sid)
            if svc is None or svc["account_sid"] != ctx.account_sid:
                raise TwilioError(21701, f"The Messaging Service {msg.messaging_service_sid} does not exist")
            if msg.from_ is not None and services.service_of(q, msg.from_) != svc:
                raise TwilioError(
                    21711, f"{msg.from_} is not associated to the Messaging Service {svc['sid']}."
                )
            if "ValidityPeriod" not in ctx.params:
                msg.validity = svc["validity_period"]
            msg.status_callback = msg.status_callback or svc["status_callback"]
        if application_sid is not None:
            app = q.first(_APP, sid=application_sid, account_sid=ctx.account_sid)
            if app is None:
                raise TwilioError(21421, f"ApplicationSid {application_sid} is not valid.")
            msg.status_callback = msg.status_callback or app["message_status_callback"]
        msg.validity = msg.validity or MAX_VALIDITY
        if msg.from_ is not None:
            owner = platform.number_owner(q, msg.from_)
            if owner is None or owner["account_sid"] != ctx.account_sid:
                raise TwilioError(
                    21606,
                    f"The 'From' phone number provided ({msg.from_}) is not a valid message-capable Twilio "
                    "phone number for this destination.",
                )
        try:
            row = platform.messaging.create_outbound(q, msg, direction="outbound-api")
        except Refused as err:
            raise TwilioError(err.code, err.message) from None
    platform.jobs.wake()
    return json_response(render_message(row), 201)


async def list_messages(request: Request) -> Response:
    ctx = await context(request)
    where: list[Any] = [messages.c.account_sid == ctx.account_sid]
    filters: list[tuple[str, str]] = []
    for name, column in (("To", messages.c.to), ("From", messages.c["from"])):
        value = ctx.params.get(name)
        if value:
            where.append(column == (to_e164(value) or value))
            filters.append((name, value))
    w, f = date_filters(ctx.params, "DateSent", messages.c.date_sent)
    with ctx.tx() as conn:
        body = paginate(
            conn, messages, where + w, ctx.params, ctx.path, filters + f, "messages", render_message
        )
    return json_response(body)


async def fetch_message(request: Request) -> Response:
    ctx = await context(request)
    with ctx.platform.db.read() as q:
        row = fetch_owned(q, messages, request.path_params["Sid"], ctx.account_sid, ctx.path)
    return json_response(render_message(row))


async def update_message(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, messages, request.path_params["Sid"], ctx.account_sid, ctx.path)
        if "Body" in ctx.params:
            if ctx.params.get("Body"):
                raise TwilioError(20422, "Body can only be redacted: send Body with an empty value.")
            if row["status"] not in FINAL_STATUSES:
                raise TwilioError(20009, "Cannot redact a message that is still being sent.")
            conn.execute(
                update(messages).where(messages.c.sid == row["sid"]).values(body="", date_updated=utcnow())
            )
        status = ctx.params.get("Status")
        if status:
            if status != "canceled":
                raise TwilioError(20422, f"Invalid Status '{status}': a message can only be set to canceled.")
            if row["status"] not in ("scheduled", "accepted"):
                raise TwilioError(
                    21220,
                    f"Message {row['sid']} cannot be canceled: it is {row['status']}, "
                    "and only scheduled messages can be canceled.",
                )
            ctx.platform.messaging.cancel(raw(conn), row)
        row = conn.execute(select(messages).where(messages.c.sid == row["sid"])).mappings().one()
    return json_response(render_message(row))


async def delete_message(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, messages, request.path_params["Sid"], ctx.account_sid, ctx.path)
        if row["status"] not in FINAL_STATUSES:
            raise TwilioError(20009, "Cannot delete this resource before it is complete")
        conn.execute(delete(messages).where(messages.c.sid == row["sid"]))
        conn.execute(delete(message_media).where(message_media.c.message_sid == row["sid"]))
    return no_content()


_BASE = f"{API}/Accounts/{{AccountSid}}/Messages"
# The two busiest endpoints, also served by app.HotRoutes past Starlette's routing.
hot_routes = [
    ("POST", re.compile(rf"{API}/Accounts/(?P<AccountSid>[^/]+)/Messages\.json"), create_message),
    (
        "GET",
        re.compile(rf"{API}/Accounts/(?P<AccountSid>[^/]+)/Messages/(?P<Sid>[^/]+)\.json"),
        fetch_message,
    ),
]
routes = [
    Route(f"{_BASE}.json", list_messages, methods=["GET"]),
    Route(f"{_BASE}.json", create_message, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", fetch_message, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", update_message, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", delete_message, methods=["DELETE"]),
]
