"""Messaging Services (messaging.twilio.com/v1, served under /messaging/v1): the services and their sender
pools. v1 renders ISO 8601 dates, absolute `url`s and a `meta` paging envelope, unlike 2010-04-01."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import Ctx, config_values, context
from telephonist.api.errors import TwilioError, not_found
from telephonist.api.paging import paginate
from telephonist.api.render import json_response, no_content
from telephonist.sids import new_sid
from telephonist.store.db import Row, utcnow
from telephonist.store.models import incoming_phone_numbers, messaging_service_numbers, messaging_services

V1 = "/messaging/v1"
DEFAULT_VALIDITY = 14400
_FIELDS = {
    "FriendlyName": ("friendly_name", "text"),
    "InboundRequestUrl": ("inbound_request_url", "url"),
    "InboundMethod": ("inbound_method", "method"),
    "FallbackUrl": ("fallback_url", "url"),
    "FallbackMethod": ("fallback_method", "method"),
    "StatusCallback": ("status_callback", "url"),
    "StickySender": ("sticky_sender", "bool"),
    "MmsConverter": ("mms_converter", "bool"),
    "SmartEncoding": ("smart_encoding", "bool"),
    "FallbackToLongCode": ("fallback_to_long_code", "bool"),
    "AreaCodeGeomatch": ("area_code_geomatch", "bool"),
    "SynchronousValidation": ("synchronous_validation", "bool"),
    "UseInboundWebhookOnNumber": ("use_inbound_webhook_on_number", "bool"),
}


def iso8601(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_service(row: Row, base: str) -> dict[str, Any]:
    url = f"{base}{V1}/Services/{row['sid']}"
    return {
        "account_sid": row["account_sid"],
        "area_code_geomatch": row["area_code_geomatch"],
        "date_created": iso8601(row["date_created"]),
        "date_updated": iso8601(row["date_updated"]),
        "fallback_method": row["fallback_method"],
        "fallback_to_long_code": row["fallback_to_long_code"],
        "fallback_url": row["fallback_url"],
        "friendly_name": row["friendly_name"],
        "inbound_method": row["inbound_method"],
        "inbound_request_url": row["inbound_request_url"],
        "links": {
            "phone_numbers": f"{url}/PhoneNumbers",
            "short_codes": f"{url}/ShortCodes",
            "alpha_senders": f"{url}/AlphaSenders",
            "us_app_to_person": f"{url}/Compliance/Usa2p",
            "us_app_to_person_usecases": f"{url}/Compliance/Usa2p/Usecases",
            "channel_senders": f"{url}/ChannelSenders",
        },
        "mms_converter": row["mms_converter"],
        "scan_message_content": "inherit",
        "sid": row["sid"],
        "smart_encoding": row["smart_encoding"],
        "status_callback": row["status_callback"],
        "sticky_sender": row["sticky_sender"],
        "synchronous_validation": row["synchronous_validation"],
        "url": url,
        "us_app_to_person_registered": False,
        "use_inbound_webhook_on_number": row["use_inbound_webhook_on_number"],
        "usecase": row["usecase"],
        "validity_period": row["validity_period"],
    }


def render_sender(row: Row, base: str) -> dict[str, Any]:
    return {
        "account_sid": row["account_sid"],
        "capabilities": ["MMS", "SMS", "Voice"],
        "country_code": "US" if row["phone_number"].startswith("+1") else None,
        "date_created": iso8601(row["date_created"]),
        "date_updated": iso8601(row["date_updated"]),
        "phone_number": row["phone_number"],
        "service_sid": row["service_sid"],
        "sid": row["sid"],
        "url": f"{base}{V1}/Services/{row['service_sid']}/PhoneNumbers/{row['sid']}",
    }


def v1_page(ctx: Ctx, conn: Any, table: Any, where: list[Any], key: str, render: Any) -> dict[str, Any]:
    """A page in v1's envelope: the items under `key`, and `meta` with absolute page URLs."""
    base = ctx.platform.settings.base_url
    page = paginate(conn, table, where, ctx.params, ctx.path, [], key, lambda r: render(r, base))

    def absolute(uri: str | None) -> str | None:
        return None if uri is None else base + uri

    return {
        key: page[key],
        "meta": {
            "page": page["page"],
            "page_size": page["page_size"],
            "first_page_url": absolute(page["first_page_uri"]),
            "previous_page_url": absolute(page["previous_page_uri"]),
            "url": absolute(page["uri"]),
            "next_page_url": absolute(page["next_page_uri"]),
            "key": key,
        },
    }


def _validity(ctx: Ctx) -> dict[str, Any]:
    if "ValidityPeriod" not in ctx.params:
        return {}
    validity = ctx.params.integer("ValidityPeriod", DEFAULT_VALIDITY, code=21624)
    if not 1 <= validity <= 36000:
        raise TwilioError(21624, f"Invalid validity period value: {validity} (1 to 36000 seconds)")
    return {"validity_period": validity}


def _service(ctx: Ctx, conn: Any, sid: str) -> Row:
    row: Row | None = (
        conn.execute(
            select(messaging_services).where(
                messaging_services.c.sid == sid, messaging_services.c.account_sid == ctx.account_sid
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise not_found(ctx.path)
    return row


async def create_service(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    if not ctx.params.get("FriendlyName"):
        raise TwilioError(20001, "Missing required parameter FriendlyName in the post body")
    now = utcnow()
    row: dict[str, Any] = {
        "sid": new_sid("MG"),
        "account_sid": ctx.account_sid,
        "inbound_request_url": None,
        "inbound_method": "POST",
        "fallback_url": None,
        "fallback_method": "POST",
        "status_callback": None,
        "sticky_sender": True,
        "mms_converter": True,
        "smart_encoding": True,
        "fallback_to_long_code": True,
        "area_code_geomatch": True,
        "validity_period": DEFAULT_VALIDITY,
        "synchronous_validation": True,
        "usecase": ctx.params.get("Usecase") or "undeclared",
        "use_inbound_webhook_on_number": False,
        "date_created": now,
        "date_updated": now,
        **config_values(ctx, _FIELDS),
        **_validity(ctx),
    }
    with ctx.tx() as conn:
        conn.execute(messaging_services.insert().values(row))
        stored = _service(ctx, conn, row["sid"])
    return json_response(render_service(stored, ctx.platform.settings.base_url), 201)


async def list_services(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    with ctx.tx() as conn:
        where = [messaging_services.c.account_sid == ctx.account_sid]
        body = v1_page(ctx, conn, messaging_services, where, "services", render_service)
    return json_response(body)


async def fetch_service(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    with ctx.tx() as conn:
        row = _service(ctx, conn, request.path_params["Sid"])
    return json_response(render_service(row, ctx.platform.settings.base_url))


async def update_service(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    with ctx.tx() as conn:
        row = _service(ctx, conn, request.path_params["Sid"])
        values = {**config_values(ctx, _FIELDS), **_validity(ctx)}
        if "Usecase" in ctx.params:
            values["usecase"] = ctx.params.get("Usecase") or "undeclared"
        if values:
            conn.execute(
                update(messaging_services)
                .where(messaging_services.c.sid == row["sid"])
                .values(**values, date_updated=utcnow())
            )
        row = _service(ctx, conn, row["sid"])
    return json_response(render_service(row, ctx.platform.settings.base_url))


async def delete_service(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    with ctx.tx() as conn:
        row = _service(ctx, conn, request.path_params["Sid"])
        conn.execute(
            delete(messaging_service_numbers).where(messaging_service_numbers.c.service_sid == row["sid"])
        )
        conn.execute(delete(messaging_services).where(messaging_services.c.sid == row["sid"]))
    return no_content()


def _sender(ctx: Ctx, conn: Any, service_sid: str, sid: str) -> Row:
    row: Row | None = (
        conn.execute(
            select(messaging_service_numbers).where(
                messaging_service_numbers.c.sid == sid, messaging_service_numbers.c.service_sid == service_sid
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise not_found(ctx.path)
    return row


async def add_sender(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    number_sid = ctx.params.get("PhoneNumberSid")
    if not number_sid:
        raise TwilioError(20001, "Missing required parameter PhoneNumberSid in the post body")
    with ctx.tx() as conn:
        svc = _service(ctx, conn, request.path_params["Sid"])
        number = (
            conn.execute(
                select(incoming_phone_numbers).where(
                    incoming_phone_numbers.c.sid == number_sid,
                    incoming_phone_numbers.c.account_sid == ctx.account_sid,
                )
            )
            .mappings()
            .first()
        )
        if number is None:
            raise TwilioError(21606, f"The phone number {number_sid} is not a number of this account.")
        member = (
            conn.execute(
                select(messaging_service_numbers).where(messaging_service_numbers.c.sid == number_sid)
            )
            .mappings()
            .first()
        )
        if member is not None and member["service_sid"] == svc["sid"]:
            raise TwilioError(21710, "Phone Number Already Exists in Messaging Service", 409)
        if member is not None:
            raise TwilioError(
                21712, "Phone Number or Short Code is associated with another Messaging Service.", 409
            )
        now = utcnow()
        conn.execute(
            messaging_service_numbers.insert().values(
                sid=number_sid,
                service_sid=svc["sid"],
                account_sid=ctx.account_sid,
                phone_number=number["phone_number"],
                date_created=now,
                date_updated=now,
            )
        )
        row = _sender(ctx, conn, svc["sid"], number_sid)
    return json_response(render_sender(row, ctx.platform.settings.base_url), 201)


async def list_senders(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    with ctx.tx() as conn:
        svc = _service(ctx, conn, request.path_params["Sid"])
        where = [messaging_service_numbers.c.service_sid == svc["sid"]]
        body = v1_page(ctx, conn, messaging_service_numbers, where, "phone_numbers", render_sender)
    return json_response(body)


async def fetch_sender(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    with ctx.tx() as conn:
        svc = _service(ctx, conn, request.path_params["Sid"])
        row = _sender(ctx, conn, svc["sid"], request.path_params["PhoneNumberSid"])
    return json_response(render_sender(row, ctx.platform.settings.base_url))


async def remove_sender(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    with ctx.tx() as conn:
        svc = _service(ctx, conn, request.path_params["Sid"])
        row = _sender(ctx, conn, svc["sid"], request.path_params["PhoneNumberSid"])
        conn.execute(delete(messaging_service_numbers).where(messaging_service_numbers.c.sid == row["sid"]))
    return no_content()


_BASE = f"{V1}/Services"
routes = [
    Route(_BASE, list_services, methods=["GET"]),
    Route(_BASE, create_service, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}", fetch_service, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}", update_service, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}", delete_service, methods=["DELETE"]),
    Route(f"{_BASE}/{{Sid}}/PhoneNumbers", list_senders, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}/PhoneNumbers", add_sender, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}/PhoneNumbers/{{PhoneNumberSid}}", fetch_sender, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}/PhoneNumbers/{{PhoneNumberSid}}", remove_sender, methods=["DELETE"]),
]
