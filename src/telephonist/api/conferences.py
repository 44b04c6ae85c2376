"""Conferences (list, fetch, end, announce) and their Participants (list, fetch, dial out into the room,
mute, hold, announce to one, kick)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import Connection, insert, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import Ctx, context, fetch_owned
from telephonist.api.calls import validate_create
from telephonist.api.errors import TwilioError, not_found
from telephonist.api.forms import date_filters
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, no_content, rfc2822
from telephonist.numbers import is_url
from telephonist.sids import is_sid
from telephonist.store.db import Row, utcnow
from telephonist.store.models import conferences, incoming_phone_numbers, participants
from telephonist.voice.conference import Room


def render_conference(row: Row) -> dict[str, Any]:
    uri = f"{account_uri(row['account_sid'])}/Conferences/{row['sid']}"
    return {
        "account_sid": row["account_sid"],
        "api_version": "2010-04-01",
        "call_sid_ending_conference": row["call_sid_ending_conference"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "friendly_name": row["friendly_name"],
        "reason_conference_ended": row["reason_conference_ended"],
        "region": row["region"],
        "sid": row["sid"],
        "status": row["status"],
        "subresource_uris": {
            "participants": uri + "/Participants.json",
            "recordings": uri + "/Recordings.json",
        },
        "uri": uri + ".json",
    }


def render_participant(row: Row) -> dict[str, Any]:
    return {
        "account_sid": row["account_sid"],
        "call_sid": row["call_sid"],
        "call_sid_to_coach": row["call_sid_to_coach"],
        "coaching": row["coaching"],
        "conference_sid": row["conference_sid"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "end_conference_on_exit": row["end_conference_on_exit"],
        "hold": row["hold"],
        "label": row["label"],
        "muted": row["muted"],
        "start_conference_on_enter": row["start_conference_on_enter"],
        "status": row["status"],
        "uri": f"{account_uri(row['account_sid'])}/Conferences/{row['conference_sid']}/Participants/"
        f"{row['call_sid']}.json",
    }


async def list_conferences(request: Request) -> Response:
    ctx = await context(request)
    where: list[Any] = [conferences.c.account_sid == ctx.account_sid]
    filters: list[tuple[str, str]] = []
    for name, column in (("FriendlyName", conferences.c.friendly_name), ("Status", conferences.c.status)):
        value = ctx.params.get(name)
        if value:
            where.append(column == value)
            filters.append((name, value))
    created, f1 = date_filters(ctx.params, "DateCreated", conferences.c.date_created)
    updated, f2 = date_filters(ctx.params, "DateUpdated", conferences.c.date_updated)
    with ctx.tx() as conn:
        body = paginate(
            conn,
            conferences,
            where + created + updated,
            ctx.params,
            ctx.path,
            filters + f1 + f2,
            "conferences",
            render_conference,
        )
    return json_response(body)


async def fetch_conference(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, conferences, request.path_params["Sid"], ctx.account_sid, ctx.path)
    return json_response(render_conference(row))


def _live(ctx: Ctx, sid: str) -> Room:
    room = ctx.platform.voice.conferences.by_sid(sid)
    if room is None:
        raise TwilioError(21220, f"Conference {sid} is not in progress")
    return room


def _announce_url(ctx: Ctx) -> tuple[str, str] | None:
    url = ctx.params.get("AnnounceUrl")
    if not url:
        return None
    if not is_url(url):
        raise TwilioError(21205, f"AnnounceUrl is not a valid URL: {url}")
    return url, ctx.params.method("AnnounceMethod")


async def update_conference(request: Request) -> Response:
    """`Status=completed` ends it; `AnnounceUrl` plays TwiML (Say, Play, Pause) to everyone in it."""
    ctx = await context(request)
    status = ctx.params.get("Status")
    if status and status != "completed":
        raise TwilioError(20001, f"Status can only be set to completed, not '{status}'")
    announce = _announce_url(ctx)
    with ctx.tx() as conn:
        row = fetch_owned(conn, conferences, request.path_params["Sid"], ctx.account_sid, ctx.path)
    if status or announce:
        room = _live(ctx, row["sid"])
        if announce:
            await ctx.platform.voice.conferences.announce(room, *announce)
        if status:
            ctx.platform.voice.conferences.end(room, "conference-ended-via-api")
    with ctx.tx() as conn:
        row = conn.execute(select(conferences).where(conferences.c.sid == row["sid"])).mappings().one()
    return json_response(render_conference(row))


def _conference_of(conn: Connection, ctx: Ctx, key: str) -> Row:
    return fetch_owned(conn, conferences, key, ctx.account_sid, ctx.path)


def _participant(conn: Connection, ctx: Ctx, conference_sid: str, key: str) -> Row:
    """A participant by its CallSid or its label."""
    column = participants.c.call_sid if is_sid(key, "CA") else participants.c.label
    row: Row | None = (
        conn.execute(
            select(participants)
            .where(participants.c.conference_sid == conference_sid, column == key)
            .order_by(participants.c.seq.desc())
        )
        .mappings()
        .first()
    )
    if row is None:
        raise not_found(ctx.path)
    return row


async def list_participants(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        conference = _conference_of(conn, ctx, request.path_params["ConferenceSid"])
        where: list[Any] = [
            participants.c.conference_sid == conference["sid"],
            participants.c.status != "complete",
        ]
        filters: list[tuple[str, str]] = []
        for name, column in (
            ("Muted", participants.c.muted),
            ("Hold", participants.c.hold),
            ("Coaching", participants.c.coaching),
        ):
            if name in ctx.params:
                where.append(column == ctx.params.boolean(name))
                filters.append((name, ctx.params.get(name) or ""))
        body = paginate(
            conn, participants, where, ctx.params, ctx.path, filters, "participants", render_participant
        )
    return json_response(body)


async def fetch_participant(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        conference = _conference_of(conn, ctx, request.path_params["ConferenceSid"])
        row = _participant(conn, ctx, conference["sid"], request.path_params["CallSid"])
    return json_response(render_participant(row))


async def update_participant(request: Request) -> Response:
    """`Muted`, `Hold` (with `HoldUrl`), `Coaching` with `CallSidToCoach`, `AnnounceUrl` (to this
    participant only)."""
    ctx = await context(request)
    muted = ctx.params.boolean("Muted") if "Muted" in ctx.params else None
    hold = ctx.params.boolean("Hold") if "Hold" in ctx.params else None
    announce = _announce_url(ctx)
    hold_url = None
    if ctx.params.get("HoldUrl"):
        if not is_url(ctx.params.get("HoldUrl") or ""):
            raise TwilioError(21205, f"HoldUrl is not a valid URL: {ctx.params.get('HoldUrl')}")
        hold_url = (ctx.params.get("HoldUrl") or "", ctx.params.method("HoldMethod", "GET"))
    coach = None
    if "Coaching" in ctx.params:
        coach = (ctx.params.get("CallSidToCoach") or "") if ctx.params.boolean("Coaching") else ""
    with ctx.tx() as conn:
        conference = _conference_of(conn, ctx, request.path_params["ConferenceSid"])
        row = _participant(conn, ctx, conference["sid"], request.path_params["CallSid"])
    room = _live(ctx, conference["sid"])
    if row["call_sid"] not in room.members:
        raise TwilioError(21220, f"Participant {row['call_sid']} is not in the conference")
    if coach and coach not in room.members and not ctx.platform.voice.conferences.node_of(room.sid, coach):
        raise TwilioError(20001, f"CallSidToCoach {coach} is not a participant of this conference")
    ctx.platform.voice.conferences.modify(room, row["call_sid"], muted, hold, hold_url, coach)
    if announce:
        await ctx.platform.voice.conferences.announce(room, *announce, only=row["call_sid"])
    with ctx.tx() as conn:
        row = _participant(conn, ctx, conference["sid"], row["call_sid"])
    return json_response(render_participant(row))


async def kick_participant(request: Request) -> Response:
    """The participant leaves the conference; its call goes on after its `<Dial>`."""
    ctx = await context(request)
    with ctx.tx() as conn:
        conference = _conference_of(conn, ctx, request.path_params["ConferenceSid"])
        row = _participant(conn, ctx, conference["sid"], request.path_params["CallSid"])
    room = _live(ctx, conference["sid"])
    if not ctx.platform.voice.conferences.kick(room, row["call_sid"]):
        raise TwilioError(21220, f"Participant {row['call_sid']} is not in the conference")
    return no_content()


_FLAGS = {
    "Muted": "muted",
    "StartConferenceOnEnter": "startConferenceOnEnter",
    "EndConferenceOnExit": "endConferenceOnExit",
}


async def add_participant(request: Request) -> Response:
    """Dial `To` from `From`; once answered, the call joins this conference (by SID, or by name)."""
    ctx = await context(request)
    to, sender, params = validate_create(ctx, program=False)
    key = request.path_params["ConferenceSid"]
    with ctx.tx() as conn:
        name = _conference_of(conn, ctx, key)["friendly_name"] if is_sid(key, "CF") else key
        number_sid = conn.execute(
            select(incoming_phone_numbers.c.sid).where(
                incoming_phone_numbers.c.phone_number == sender,
                incoming_phone_numbers.c.account_sid == ctx.account_sid,
            )
        ).scalar()
        if number_sid is None and not sender.startswith("client:"):
            raise TwilioError(
                21210, f"The source phone number provided, {sender}, is not a number of your account."
            )
    attrs = ""
    for param, attr in _FLAGS.items():
        if param in ctx.params:
            attrs += f' {attr}="{str(ctx.params.boolean(param)).lower()}"'
    for param, attr in (
        ("Beep", "beep"),
        ("WaitUrl", "waitUrl"),
        ("WaitMethod", "waitMethod"),
        ("Label", "participantLabel"),
    ):
        value = ctx.params.get(param)
        if value is not None:
            attrs += f" {attr}={quoteattr(value)}"
    callback = ctx.params.get("ConferenceStatusCallback")
    if callback:
        events = " ".join(ctx.params.events("ConferenceStatusCallbackEvent") or ["start", "end"])
        attrs += f" statusCallback={quoteattr(callback)} statusCallbackEvent={quoteattr(events)}"
    params["Twiml"] = f"<Response><Dial><Conference{attrs}>{escape(name)}</Conference></Dial></Response>"
    conference_sid = ctx.platform.voice.conferences.reserve(ctx.account_sid, name)
    now = utcnow()
    with ctx.tx() as conn:
        call = ctx.platform.voice.create_outbound(conn, ctx.account_sid, to, sender, params, number_sid)
        conn.execute(
            insert(participants).values(
                conference_sid=conference_sid,
                account_sid=ctx.account_sid,
                call_sid=call["sid"],
                label=ctx.params.get("Label"),
                status="queued",
                muted=ctx.params.boolean("Muted"),
                hold=False,
                coaching=ctx.params.boolean("Coaching"),
                call_sid_to_coach=ctx.params.get("CallSidToCoach"),
                start_conference_on_enter=ctx.params.boolean("StartConferenceOnEnter", True),
                end_conference_on_exit=ctx.params.boolean("EndConferenceOnExit"),
                date_created=now,
                date_updated=now,
            )
        )
        row = _participant(conn, ctx, conference_sid, call["sid"])
    ctx.platform.jobs.wake()
    return json_response(render_participant(row), 201)


_BASE = f"{API}/Accounts/{{AccountSid}}/Conferences"
routes = [
    Route(f"{_BASE}.json", list_conferences, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", fetch_conference, methods=["GET"]),
    Route(f"{_BASE}/{{Sid}}.json", update_conference, methods=["POST"]),
    Route(f"{_BASE}/{{ConferenceSid}}/Participants.json", list_participants, methods=["GET"]),
    Route(f"{_BASE}/{{ConferenceSid}}/Participants.json", add_participant, methods=["POST"]),
    Route(f"{_BASE}/{{ConferenceSid}}/Participants/{{CallSid}}.json", fetch_participant, methods=["GET"]),
    Route(f"{_BASE}/{{ConferenceSid}}/Participants/{{CallSid}}.json", update_participant, methods=["POST"]),
    Route(f"{_BASE}/{{ConferenceSid}}/Participants/{{CallSid}}.json", kick_participant, methods=["DELETE"]),
]
