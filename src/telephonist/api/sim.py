"""/sim/v1: drive the simulated network. Configure virtual phones, read what they received and heard,
press keys and speak on live calls, and send SMS or place calls from the outside world to the platform."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import Ctx, context
from telephonist.api.errors import TwilioError, not_found
from telephonist.api.messages import check_content
from telephonist.api.render import json_response, rfc2822
from telephonist.carriers.sim.network import ANSWER_MODES, ANSWERED_BY, Phone, SimLeg, valid_input
from telephonist.messaging.media import urls_of
from telephonist.numbers import MAGIC_INVALID, to_e164
from telephonist.store.db import raw
from telephonist.store.models import accounts, call_events, calls, sim_inbox

SIM = "/sim/v1"


def _family(conn: Connection, ctx: Ctx) -> list[str]:
    """The accounts whose calls and messages the caller may see: itself and its subaccounts."""
    sid = ctx.caller["sid"]
    return list(
        conn.execute(
            select(accounts.c.sid).where(or_(accounts.c.sid == sid, accounts.c.owner_account_sid == sid))
        ).scalars()
    )


def _endpoint(raw: str) -> str:
    """A virtual endpoint: a phone number, a `client:<identity>` or a `sip:` URI (what <Dial> reaches)."""
    if raw.startswith("client:") and len(raw) > len("client:"):
        return raw
    if raw.lower().startswith(("sip:", "sips:")) and len(raw) > len("sips:"):
        return raw
    return _number(raw)


def _number(raw: str, field: str = "PhoneNumber") -> str:
    number = to_e164(raw)
    if number is None or number == MAGIC_INVALID:
        raise TwilioError(21211, f"The {field} {raw} is not a valid phone number.")
    return number


def _inputs(ctx: Ctx) -> list[str]:
    values = ctx.params.getlist("GatherInput")
    for value in values:
        if not valid_input(value):
            raise TwilioError(
                20422, f"GatherInput '{value}' must be digits (0-9, *, #, w) or 'speech:<text>'"
            )
    return values


def render_phone(conn: Connection, ctx: Ctx, phone: Phone) -> dict[str, Any]:
    family = _family(conn, ctx)
    base = ctx.platform.settings.base_url
    inbox = conn.execute(
        select(sim_inbox)
        .where(sim_inbox.c.phone == phone.number, sim_inbox.c.account_sid.in_(family))
        .order_by(sim_inbox.c.seq)
    ).mappings()
    call_rows = conn.execute(
        select(calls)
        .where(
            or_(calls.c.to == phone.number, calls.c["from"] == phone.number), calls.c.account_sid.in_(family)
        )
        .order_by(calls.c.seq)
    ).mappings()
    return {
        "phone_number": phone.number,
        "answer": phone.answer,
        "ring_seconds": phone.ring_seconds,
        "gather_input": phone.gather_input,
        "answered_by": phone.answered_by,
        "messages": [
            {
                "sid": m["message_sid"],
                "from": m["from"],
                "body": m["body"],
                "media": [
                    {"url": url, "content_type": ctype}
                    for url, ctype in urls_of(raw(conn), base, {**m, "sid": m["message_sid"]})
                ]
                if m["message_sid"].startswith("MM")
                else [],
                "date_received": rfc2822(m["date_received"]),
            }
            for m in inbox
        ],
        "calls": [
            {
                "sid": c["sid"],
                "direction": c["direction"],
                "from": c["from"],
                "to": c["to"],
                "status": c["status"],
            }
            for c in call_rows
        ],
        "uri": f"{SIM}/Phones/{phone.number}",
    }


async def configure_phone(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    p = ctx.params
    number = _endpoint(p.get("PhoneNumber") or "")
    answer = p.get("Answer")
    if answer is not None and answer not in ANSWER_MODES:
        raise TwilioError(20422, f"Answer must be one of {', '.join(ANSWER_MODES)}")
    ring = p.get("RingSeconds")
    try:
        ring_seconds = float(ring) if ring else None
    except ValueError:
        raise TwilioError(20422, f"RingSeconds must be a number, not '{ring}'") from None
    if ring_seconds is not None and not 0 <= ring_seconds <= 600:
        raise TwilioError(20422, "RingSeconds must be between 0 and 600")
    answered_by = p.get("AnsweredBy")
    if answered_by is not None and answered_by not in ANSWERED_BY:
        raise TwilioError(20422, f"AnsweredBy must be one of {', '.join(ANSWERED_BY)}")
    inputs = _inputs(ctx) if "GatherInput" in p else None
    with ctx.tx() as conn:
        if ctx.platform.sim.owner(conn, number) is not None:
            raise TwilioError(20409, f"{number} is a platform number, not a virtual phone")
        phone = ctx.platform.sim.configure(conn, number, answer, ring_seconds, inputs, answered_by)
        return json_response(render_phone(conn, ctx, phone), 201)


async def fetch_phone(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    number = _endpoint(request.path_params["Number"])
    with ctx.tx() as conn:
        return json_response(render_phone(conn, ctx, ctx.platform.sim.phone(conn, number)))


def _call(conn: Connection, ctx: Ctx, sid: str) -> Any:
    row = conn.execute(select(calls).where(calls.c.sid == sid)).mappings().first()
    if row is None or row["account_sid"] not in _family(conn, ctx):
        raise not_found(ctx.path)
    return row


async def fetch_call(request: Request) -> Response:
    ctx = await context(request, account_param=None)
    with ctx.tx() as conn:
        row = _call(conn, ctx, request.path_params["CallSid"])
        events = conn.execute(
            select(call_events.c.event)
            .where(call_events.c.call_sid == row["sid"])
            .order_by(call_events.c.seq)
        ).scalars()
        # What the parties heard and did; webhooks (the call's Events) and status changes are the console's.
        transcript = [e for e in events if e["event"] not in ("webhook", "status")]
    return json_response(
        {
            "sid": row["sid"],
            "account_sid": row["account_sid"],
            "status": row["status"],
            "direction": row["direction"],
            "from": row["from"],
            "to": row["to"],
            "duration": row["duration"],
            "transcript": transcript,
            "uri": f"{SIM}/Calls/{row['sid']}",
        }
    )


async def _live_leg(request: Request) -> tuple[Ctx, SimLeg]:
    ctx = await context(request, account_param=None)
    with ctx.tx() as conn:
        row = _call(conn, ctx, request.path_params["CallSid"])
    leg = ctx.platform.sim.legs.get(row["sid"])
    if leg is None:
        raise TwilioError(21220, f"Call {row['sid']} is not live (status: {row['status']})")
    return ctx, leg


async def press_digits(request: Request) -> Response:
    ctx, leg = await _live_leg(request)
    digits = ctx.params.get("Digits") or ""
    if not digits or not valid_input(digits) or digits.startswith("speech:"):
        raise TwilioError(20422, "Digits must be one or more of 0-9, * and #")
    leg.press(digits.replace("w", "").replace("W", ""))
    return json_response({"call_sid": leg.call_sid, "digits": digits})


async def speak(request: Request) -> Response:
    ctx, leg = await _live_leg(request)
    text = ctx.params.get("Text") or ""
    if not text:
        raise TwilioError(20422, "Text is required")
    leg.speak(text)
    return json_response({"call_sid": leg.call_sid, "text": text})


async def answer(request: Request) -> Response:
    _ctx, leg = await _live_leg(request)
    leg.phone_answers()
    return json_response({"call_sid": leg.call_sid, "answered": True})


async def hangup(request: Request) -> Response:
    _ctx, leg = await _live_leg(request)
    leg.remote_hangup()
    return json_response({"call_sid": leg.call_sid, "hung_up": True})


async def phone_sends(request: Request) -> Response:
    """The outside world texts a platform number: the number's SmsUrl runs."""
    ctx = await context(request, account_param=None)
    sender = _number(request.path_params["Number"], "phone number")
    to = _number(ctx.params.get("To") or "", "'To' number")
    body, media = check_content(ctx.params)
    with ctx.tx() as conn:
        number = ctx.platform.sim.owner(conn, to)
        if number is None or number["account_sid"] not in _family(conn, ctx):
            raise TwilioError(21606, f"{to} is not a number of your accounts")
        sid = ctx.platform.messaging.receive(conn, number, sender, body, media)
    ctx.platform.jobs.wake()
    return json_response({"sid": sid, "from": sender, "to": to, "body": body}, 201)


async def phone_calls(request: Request) -> Response:
    """The outside world calls a platform number: the number's VoiceUrl runs."""
    ctx = await context(request, account_param=None)
    sender = _number(request.path_params["Number"], "phone number")
    to = _number(ctx.params.get("To") or "", "'To' number")
    inputs = _inputs(ctx)
    with ctx.tx() as conn:
        number = ctx.platform.sim.owner(conn, to)
        if number is None or number["account_sid"] not in _family(conn, ctx):
            raise TwilioError(21606, f"{to} is not a number of your accounts")
    sid = ctx.platform.voice.start_inbound(sender, number, inputs)
    return json_response({"sid": sid, "from": sender, "to": to, "uri": f"{SIM}/Calls/{sid}"}, 201)


routes = [
    Route(f"{SIM}/Phones", configure_phone, methods=["POST"]),
    Route(f"{SIM}/Phones/{{Number}}", fetch_phone, methods=["GET"]),
    Route(f"{SIM}/Phones/{{Number}}/Messages", phone_sends, methods=["POST"]),
    Route(f"{SIM}/Phones/{{Number}}/Calls", phone_calls, methods=["POST"]),
    Route(f"{SIM}/Calls/{{CallSid}}", fetch_call, methods=["GET"]),
    Route(f"{SIM}/Calls/{{CallSid}}/Digits", press_digits, methods=["POST"]),
    Route(f"{SIM}/Calls/{{CallSid}}/Speech", speak, methods=["POST"]),
    Route(f"{SIM}/Calls/{{CallSid}}/Answer", answer, methods=["POST"]),
    Route(f"{SIM}/Calls/{{CallSid}}/Hangup", hangup, methods=["POST"]),
]
