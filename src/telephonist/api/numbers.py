"""IncomingPhoneNumbers: the numbers an account owns and the webhooks that answer them."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import Connection, delete, false, func, insert, select, update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.applications import owned_application
from telephonist.api.base import config_values, context, fetch_owned
from telephonist.api.errors import TwilioError
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, no_content, rfc2822
from telephonist.numbers import MAGIC_INVALID, formatted, to_e164
from telephonist.sids import new_sid
from telephonist.store.db import Row, utcnow
from telephonist.store.models import accounts
from telephonist.store.models import incoming_phone_numbers as ipn

# Form parameter → (column, kind). Kinds: url (21402), method (21403), bool, text.
_FIELDS: dict[str, tuple[str, str]] = {
    "FriendlyName": ("friendly_name", "text"),
    "VoiceUrl": ("voice_url", "url"),
    "VoiceMethod": ("voice_method", "method"),
    "VoiceFallbackUrl": ("voice_fallback_url", "url"),
    "VoiceFallbackMethod": ("voice_fallback_method", "method"),
    "StatusCallback": ("status_callback", "url"),
    "StatusCallbackMethod": ("status_callback_method", "method"),
    "VoiceCallerIdLookup": ("voice_caller_id_lookup", "bool"),
    "VoiceApplicationSid": ("voice_application_sid", "text"),
    "SmsUrl": ("sms_url", "url"),
    "SmsMethod": ("sms_method", "method"),
    "SmsFallbackUrl": ("sms_fallback_url", "url"),
    "SmsFallbackMethod": ("sms_fallback_method", "method"),
    "SmsApplicationSid": ("sms_application_sid", "text"),
}
_TYPES = {"Local": "local", "Mobile": "mobile", "TollFree": "tollfree"}


TOLL_FREE = ("800", "833", "844", "855", "866", "877", "888")


def number_type(phone_number: str) -> str:
    return "tollfree" if phone_number.startswith("+1") and phone_number[2:5] in TOLL_FREE else "local"


def render_number(row: Row) -> dict[str, Any]:
    uri = f"{account_uri(row['account_sid'])}/IncomingPhoneNumbers/{row['sid']}"
    return {
        "account_sid": row["account_sid"],
        "address_requirements": "none",
        "address_sid": None,
        "api_version": "2010-04-01",
        "beta": False,
        "bundle_sid": None,
        "capabilities": {"fax": False, "mms": True, "sms": True, "voice": True},
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": row["friendly_name"],
        "identity_sid": None,
        "origin": "twilio",
        "phone_number": row["phone_number"],
        "sid": row["sid"],
        "sms_application_sid": row["sms_application_sid"],
        "sms_fallback_method": row["sms_fallback_method"],
        "sms_fallback_url": row["sms_fallback_url"] or "",
        "sms_method": row["sms_method"],
        "sms_url": row["sms_url"] or "",
        "status": "in-use",
        "status_callback": row["status_callback"] or "",
        "status_callback_method": row["status_callback_method"],
        "subresource_uris": {"assigned_add_ons": f"{uri}/AssignedAddOns.json"},
        "trunk_sid": None,
        "type": number_type(row["phone_number"]),
        "uri": f"{uri}.json",
        "voice_application_sid": row["voice_application_sid"],
        "voice_caller_id_lookup": row["voice_caller_id_lookup"],
        "voice_fallback_method": row["voice_fallback_method"],
        "voice_fallback_url": row["voice_fallback_url"] or "",
        "voice_method": row["voice_method"],
        "voice_receive_mode": "voice",
        "voice_url": row["voice_url"] or "",
    }


def _check_applications(conn: Connection, account_sid: str, values: dict[str, Any]) -> None:
    for column, name in (
        ("voice_application_sid", "VoiceApplicationSid"),
        ("sms_application_sid", "SmsApplicationSid"),
    ):
        if values.get(column):
            owned_application(conn, account_sid, values[column], 21420, name)


def add_number(conn: Connection, account_sid: str, phone_number: str, **config: Any) -> Row:
    now = utcnow()
    sid = new_sid("PN")
    values: dict[str, Any] = {
        "friendly_name": formatted(phone_number),
        "voice_method": "POST",
        "voice_fallback_method": "POST",
        "status_callback_method": "POST",
        "sms_method": "POST",
        "sms_fallback_method": "POST",
        "voice_caller_id_lookup": False,
    } | config
    conn.execute(
        insert(ipn).values(
            sid=sid,
            account_sid=account_sid,
            phone_number=phone_number,
            date_created=now,
            date_updated=now,
            **values,
        )
    )
    return conn.execute(select(ipn).where(ipn.c.sid == sid)).mappings().one()


def _pick_number(conn: Connection, area_code: str) -> str:
    if not (area_code.isdigit() and len(area_code) == 3) or area_code == "533":
        raise TwilioError(21452, f"No phone numbers found in area code {area_code}")
    for _ in range(50):
        candidate = f"+1{area_code}555{random.randrange(10000):04d}"
        if conn.execute(select(ipn.c.sid).where(ipn.c.phone_number == candidate)).first() is None:
            return candidate
    raise TwilioError(21452, f"No phone numbers found in area code {area_code}")


async def create_number(request: Request) -> Response:
    ctx = await context(request)
    raw = ctx.params.get("PhoneNumber")
    area = ctx.params.get("AreaCode")
    if not raw and not area:
        raise TwilioError(21421, "PhoneNumber or AreaCode is required")
    config = config_values(ctx, _FIELDS)
    with ctx.tx() as conn:
        if raw:
            number = to_e164(raw)
            if number is None or number == MAGIC_INVALID:
                raise TwilioError(21421, f"PhoneNumber {raw} is invalid")
            taken = conn.execute(select(ipn.c.sid).where(ipn.c.phone_number == number)).first()
            if taken is not None or number == "+15005550000":
                raise TwilioError(21422, f"PhoneNumber {number} is not available")
        else:
            number = _pick_number(conn, area or "")
        _check_applications(conn, ctx.account_sid, config)
        row = add_number(conn, ctx.account_sid, number, **config)
    ctx.platform.owners.clear()
    return json_response(render_number(row), 201)


async def list_numbers(request: Request) -> Response:
    ctx = await context(request)
    where = [ipn.c.account_sid == ctx.account_sid]
    filters = []
    name = ctx.params.get("FriendlyName")
    if name:
        where.append(ipn.c.friendly_name == name)
        filters.append(("FriendlyName", name))
    pattern = ctx.params.get("PhoneNumber")
    if pattern:
        # Partial match; `*` matches any one character, as on Twilio.
        where.append(ipn.c.phone_number.like("%" + pattern.strip().replace("*", "_") + "%"))
        filters.append(("PhoneNumber", pattern))
    kind = _TYPES.get(ctx.path.rsplit("/", 1)[-1].removesuffix(".json"))
    area = func.substr(ipn.c.phone_number, 3, 3)
    if kind == "tollfree":
        where.append(area.in_(TOLL_FREE))
    elif kind == "local":
        where.append(area.not_in(TOLL_FREE))
    elif kind == "mobile":  # the simulated network sells no mobile numbers
        where.append(false())
    with ctx.tx() as conn:
        body = paginate(
            conn, ipn, where, ctx.params, ctx.path, filters, "incoming_phone_numbers", render_number
        )
    return json_response(body)


async def fetch_number(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, ipn, request.path_params["Sid"], ctx.account_sid, ctx.path)
    return json_response(render_number(row))


async def update_number(request: Request) -> Response:
    ctx = await context(request)
    values = config_values(ctx, _FIELDS)
    with ctx.tx() as conn:
        row = fetch_owned(conn, ipn, request.path_params["Sid"], ctx.account_sid, ctx.path)
        target = ctx.params.get("AccountSid")
        if target and target != ctx.account_sid:
            # Moving a number between accounts of one family; the caller must control both.
            owner = conn.execute(select(accounts).where(accounts.c.sid == target)).mappings().first()
            if owner is None or ctx.caller["sid"] not in (owner["sid"], owner["owner_account_sid"]):
                raise TwilioError(20003, "Authenticate", 401)
            values["account_sid"] = target
        _check_applications(conn, values.get("account_sid", ctx.account_sid), values)
        if values:
            conn.execute(update(ipn).where(ipn.c.sid == row["sid"]).values(**values, date_updated=utcnow()))
        row = conn.execute(select(ipn).where(ipn.c.sid == row["sid"])).mappings().one()
    ctx.platform.owners.clear()
    return json_response(render_number(row))


async def delete_number(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, ipn, request.path_params["Sid"], ctx.account_sid, ctx.path)
        conn.execute(delete(ipn).where(ipn.c.sid == row["sid"]))
    ctx.platform.owners.clear()
    return no_content()


_BASE = f"{API}/Accounts/{{AccountSid}}/IncomingPhoneNumbers"
routes = [
    Route(f"{_BASE}.json", list_numbers, methods=["GET"]),
    Route(f"{_BASE}.json", create_number, methods=["POST"]),
    *(Route(f"{_BASE}/{kind}.json", list_numbers, methods=["GET"]) for kind in _TYPES),
    *(Route(f"{_BASE}/{kind}.json", create_number, methods=["POST"]) for kind in _TYPES),
    Route(f"{_BASE}/{{Sid}}.json", fetch_number, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", update_number, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", delete_number, methods=["DELETE"]),
]
