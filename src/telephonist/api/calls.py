"""Calls: create (queued with its start job), list with filters, fetch, update a live call, delete."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlalchemy import delete, select, update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.applications import application_params, owned_application
from telephonist.api.base import Ctx, context, fetch_owned
from telephonist.api.errors import TwilioError
from telephonist.api.forms import date_filters
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, no_content, rfc2822
from telephonist.numbers import MAGIC_INVALID, address, formatted, is_url, to_e164
from telephonist.states import CALL_FINAL
from telephonist.store.db import Row, raw, utcnow
from telephonist.store.models import call_events, calls
from telephonist.store.models import incoming_phone_numbers as ipn
from telephonist.voice.interpreter import Source

MAX_TWIML = 4000
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
_MAGIC_TO = {
    "+15005550001": (21217, "Phone number {n} does not appear to be valid"),
    "+15005550002": (21214, "'To' phone number {n} cannot be reached"),
    "+15005550003": (
        21215,
        "Account not authorized to call {n}. Perhaps you need to enable some international permissions",
    ),
    "+15005550004": (21216, "Call blocked by Twilio blocklist: {n}"),
}
_SUBRESOURCES = (
    "notifications",
    "recordings",
    "events",
    "payments",
    "siprec",
    "streams",
    "transcriptions",
    "user_defined_message_subscriptions",
    "user_defined_messages",
)


def render_call(row: Row) -> dict[str, Any]:
    uri = f"{account_uri(row['account_sid'])}/Calls/{row['sid']}"
    return {
        "account_sid": row["account_sid"],
        "answered_by": row["answered_by"],
        "api_version": "2010-04-01",
        "caller_name": row["caller_name"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "direction": row["direction"],
        "duration": None if row["duration"] is None else str(row["duration"]),
        "end_time": rfc2822(row["end_time"]),
        "forwarded_from": row["forwarded_from"],
        "from": row["from"],
        "from_formatted": formatted(row["from"]),
        "group_sid": None,
        "parent_call_sid": row["parent_call_sid"],
        "phone_number_sid": row["phone_number_sid"],
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": row["sid"],
        "start_time": rfc2822(row["start_time"]),
        "status": row["status"],
        "subresource_uris": {
            name: f"{uri}/{''.join(p.title() for p in name.split('_'))}.json" for name in _SUBRESOURCES
        },
        "to": row["to"],
        "to_formatted": formatted(row["to"]),
        "trunk_sid": row["trunk_sid"],
        "uri": f"{uri}.json",
    }


def _program(ctx: Ctx, code_url: int) -> dict[str, Any]:
    """Url/Method/Twiml/FallbackUrl/StatusCallback… as the engine will use them."""
    p = ctx.params
    out: dict[str, Any] = {}
    url, twiml = p.get("Url"), p.get("Twiml")
    if url:
        if not is_url(url):
            raise TwilioError(code_url, f"Url is not a valid URL: {url}")
        out |= {"Url": url, "Method": p.method("Method", code=21209)}
    elif twiml:
        if len(twiml) > MAX_TWIML:
            raise TwilioError(21205, f"Twiml is longer than {MAX_TWIML} characters")
        out["Twiml"] = twiml
    out |= url_param(ctx, "FallbackUrl", "FallbackMethod")
    out |= url_param(ctx, "StatusCallback", "StatusCallbackMethod")
    for name in ("SipAuthUsername", "SipAuthPassword"):  # for a sip: To that challenges
        if p.get(name):
            out[name] = p.get(name)
    return out


def url_param(ctx: Ctx, name: str, method: str) -> dict[str, Any]:
    """An optional webhook URL parameter and its method (21205 for a URL that is not one, 21209 for a
    method other than GET or POST); nothing when it is not given."""
    url = ctx.params.get(name)
    if not url:
        return {}
    if not is_url(url):
        raise TwilioError(21205, f"{name} is not a valid URL: {url}")
    return {name: url, method: ctx.params.method(method, code=21209)}


RECORDING_EVENTS = ("in-progress", "completed", "absent")


def recording_params(ctx: Ctx, record: bool) -> dict[str, Any]:
    """`Record=true` and its Recording* options (call create), or the options of a REST recording start."""
    p = ctx.params
    if not record:
        return {}
    out: dict[str, Any] = {"Record": True}
    for name, allowed in (
        ("RecordingChannels", ("mono", "dual")),
        ("Trim", ("trim-silence", "do-not-trim")),
        ("RecordingTrack", ("inbound", "outbound", "both")),
        ("PauseBehavior", ("skip", "silence")),
    ):
        value = p.get(name)
        if value:
            if value not in allowed:
                raise TwilioError(20001, f"{name} must be one of {', '.join(allowed)}, not '{value}'")
            out[name] = value
    out |= url_param(ctx, "RecordingStatusCallback", "RecordingStatusCallbackMethod")
    events = p.events("RecordingStatusCallbackEvent")
    if any(e not in RECORDING_EVENTS for e in events):
        raise TwilioError(20001, f"RecordingStatusCallbackEvent must be among {', '.join(RECORDING_EVENTS)}")
    if events:
        out["RecordingStatusCallbackEvent"] = events
    return out


def validate_create(ctx: Ctx, program: bool = True) -> tuple[str, str, dict[str, Any]]:
    """To, From and the engine's parameters of a new call; `program`: it needs Url, Twiml or an
    ApplicationSid (a conference participant's call has its TwiML made for it)."""
    p = ctx.params
    raw_to, raw_from = p.get("To"), p.get("From")
    if not raw_to:
        raise TwilioError(21201, "No 'To' number is specified")
    if not raw_from:
        raise TwilioError(21213, "No 'From' number is specified")
    if program and not p.get("Url") and not p.get("Twiml") and not p.get("ApplicationSid"):
        raise TwilioError(21205, "Url parameter is required. Provide Url, Twiml or ApplicationSid.")
    to = address(raw_to)
    if to is None:
        raise TwilioError(21211, f"The 'To' number {raw_to} is not a valid phone number.")
    if to in _MAGIC_TO:
        code, text = _MAGIC_TO[to]
        raise TwilioError(code, text.format(n=to))
    sender = address(raw_from)
    if sender is None or sender == MAGIC_INVALID or sender.startswith("sip:"):
        raise TwilioError(
            21212, f"The 'From' number {raw_from} is not a valid phone number or client identifier."
        )
    if to_e164(to) and sender.startswith("client:"):
        raise TwilioError(21212, "The 'From' must be a phone number when calling a phone number.")
    params = _program(ctx, 21205) if program else {}
    if not program and p.get("StatusCallback"):
        params = {k: v for k, v in _program(ctx, 21205).items() if k.startswith("StatusCallback")}
    timeout = p.integer("Timeout", 60, code=21208)
    if not 1 <= timeout <= 600:
        raise TwilioError(21208, f"Timeout must be between 1 and 600 seconds, not {timeout}")
    digits = p.get("SendDigits") or ""
    if digits and (len(digits) > 32 or not re.fullmatch(r"[0-9A-D#*wW]+", digits)):
        raise TwilioError(21206, f"SendDigits '{digits}' is invalid")
    events = p.events("StatusCallbackEvent") or ["completed"]
    for event in events:
        if event not in CALL_EVENTS:
            raise TwilioError(21626, f"StatusCallbackEvent '{event}' is invalid")
    params |= {"Timeout": timeout, "StatusCallbackEvent": events}
    limit = p.get("TimeLimit")
    if limit:
        seconds = p.integer("TimeLimit", 14400, code=20001)
        if not 1 <= seconds <= 86400:
            raise TwilioError(20001, f"TimeLimit must be between 1 and 86400 seconds, not {seconds}")
        params["TimeLimit"] = seconds
    params |= recording_params(ctx, "Record" in p and p.boolean("Record"))
    amd = p.get("MachineDetection")
    if amd:
        if amd not in ("Enable", "DetectMessageEnd"):
            raise TwilioError(21207, f"MachineDetection must be Enable or DetectMessageEnd, not '{amd}'")
        params["MachineDetection"] = amd
        if p.boolean("AsyncAmd"):
            params["AsyncAmd"] = "true"
            params |= url_param(ctx, "AsyncAmdStatusCallback", "AsyncAmdStatusCallbackMethod")
    if digits:
        params["SendDigits"] = digits
    return to, sender, params


async def create_call(request: Request) -> Response:
    ctx = await context(request)
    to, sender, params = validate_create(ctx)
    with ctx.tx() as conn:
        number_sid = None
        if not sender.startswith("client:"):
            number_sid = conn.execute(
                select(ipn.c.sid).where(ipn.c.phone_number == sender, ipn.c.account_sid == ctx.account_sid)
            ).scalar()
            if number_sid is None:
                raise TwilioError(
                    21210,
                    f"The source phone number provided, {sender}, is not yet verified for your account. "
                    "You may only make calls from phone numbers that you've verified or purchased "
                    "from Twilio.",
                )
        app_sid = ctx.params.get("ApplicationSid")
        if app_sid:  # the application's URLs replace Url, FallbackUrl and StatusCallback
            app = owned_application(conn, ctx.account_sid, app_sid, 21218, "ApplicationSid")
            if not app["voice_url"]:
                raise TwilioError(21218, f"ApplicationSid {app_sid} has no VoiceUrl")
            params = {
                k: v
                for k, v in params.items()
                if k not in ("Url", "Method", "Twiml", "StatusCallback", "StatusCallbackMethod")
                and "Fallback" not in k
            }
            params |= application_params(app)
        trunk = ctx.platform.voice.trunk_for(conn, to, ctx.account_sid, params)
        start = request.app.state.limits.calls.reserve(raw(conn), ctx.account_sid, trunk)  # beyond the CPS
        row = ctx.platform.voice.create_outbound(conn, ctx.account_sid, to, sender, params, number_sid, start)
    ctx.platform.jobs.wake()
    return json_response(render_call(row), 201)


async def list_calls(request: Request) -> Response:
    ctx = await context(request)
    where: list[Any] = [calls.c.account_sid == ctx.account_sid]
    filters: list[tuple[str, str]] = []
    for name, column in (
        ("To", calls.c.to),
        ("From", calls.c["from"]),
        ("ParentCallSid", calls.c.parent_call_sid),
        ("Status", calls.c.status),
    ):
        value = ctx.params.get(name)
        if value:
            where.append(column == (address(value) or value if name in ("To", "From") else value))
            filters.append((name, value))
    for name, column in (("StartTime", calls.c.start_time), ("EndTime", calls.c.end_time)):
        w, f = date_filters(ctx.params, name, column)
        where += w
        filters += f
    with ctx.tx() as conn:
        body = paginate(conn, calls, where, ctx.params, ctx.path, filters, "calls", render_call)
    return json_response(body)


async def fetch_call(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, calls, request.path_params["Sid"], ctx.account_sid, ctx.path)
    return json_response(render_call(row))


async def update_call(request: Request) -> Response:
    ctx = await context(request)
    p = ctx.params
    status = p.get("Status")
    if status and status not in ("canceled", "completed"):
        raise TwilioError(21220, f"Status must be canceled or completed, not '{status}'")
    program = _program(ctx, 21205)
    voice = ctx.platform.voice
    with ctx.tx() as conn:
        row = fetch_owned(conn, calls, request.path_params["Sid"], ctx.account_sid, ctx.path)
        sid = row["sid"]
        if row["status"] in CALL_FINAL:
            raise TwilioError(21220, f"Call is not in-progress. Cannot redirect. (status: {row['status']})")
        if program:
            new = dict(row["params"])
            if "Url" in program or "Twiml" in program:
                new.pop("Url", None)
                new.pop("Twiml", None)
            conn.execute(
                update(calls).where(calls.c.sid == sid).values(params=new | program, date_updated=utcnow())
            )
        if status and row["status"] == "queued":
            # Not started yet: the start job will find it canceled and do nothing.
            conn.execute(
                update(calls)
                .where(calls.c.sid == sid)
                .values(status="canceled", end_time=utcnow(), date_updated=utcnow())
            )
    live = voice.sessions.get(sid)
    if live is not None:
        if "Url" in program or "Twiml" in program:
            live.params.pop("Url", None)
            live.params.pop("Twiml", None)
        live.params.update(program)
        if status == "completed" or (status == "canceled" and row["status"] in ("queued", "ringing")):
            voice.hangup(sid)
        elif "Url" in program or "Twiml" in program:
            voice.redirect(
                sid,
                Source(
                    url=program.get("Url"), method=program.get("Method", "POST"), twiml=program.get("Twiml")
                ),
            )
    await _settle()
    with ctx.tx() as conn:
        row = fetch_owned(conn, calls, sid, ctx.account_sid, ctx.path)
    return json_response(render_call(row))


async def _settle() -> None:
    """Let a hang-up or redirect run its first step so the response shows the new state."""
    for _ in range(3):
        await asyncio.sleep(0)


async def delete_call(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, calls, request.path_params["Sid"], ctx.account_sid, ctx.path)
        if row["status"] not in CALL_FINAL:
            raise TwilioError(20009, "Cannot delete this resource before it is complete", 400)
        conn.execute(delete(calls).where(calls.c.sid == row["sid"]))
        conn.execute(delete(call_events).where(call_events.c.call_sid == row["sid"]))
    return no_content()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def render_event(row: Row) -> dict[str, Any]:
    """A webhook request of the call and the application's answer, as Twilio's Call Event shows them
    (parameter names in snake case)."""
    e = row["event"]
    return {
        "request": {
            "method": e["method"],
            "url": e["url"],
            "parameters": {_snake(k): v for k, v in e["parameters"]},
        },
        "response": {
            "date_created": rfc2822(row["date_created"]),
            "request_duration": e["request_duration"],
            "response_code": e["response_code"],
            "content_type": e["content_type"],
            "response_body": e["response_body"],
        },
    }


async def list_events(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        sid = fetch_owned(conn, calls, request.path_params["Sid"], ctx.account_sid, ctx.path)["sid"]
        where = [call_events.c.call_sid == sid, call_events.c.event["event"].as_string() == "webhook"]
        page = paginate(conn, call_events, where, ctx.params, ctx.path, [], "events", render_event)
    return json_response(page)


_BASE = f"{API}/Accounts/{{AccountSid}}/Calls"
routes = [
    Route(f"{_BASE}.json", list_calls, methods=["GET"]),
    Route(f"{_BASE}.json", create_call, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", fetch_call, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", update_call, methods=["POST"]),
    Route(f"{_BASE}/{{Sid}}.json", delete_call, methods=["DELETE"]),
    Route(f"{_BASE}/{{Sid}}/Events.json", list_events, methods=["GET"]),
]
