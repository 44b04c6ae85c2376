"""The console's pages: sign-in, dashboard, calls, messages, numbers, debugger and account."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import ColumnElement, Connection, Table, or_, select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from telephonist.api.forms import Params
from telephonist.console import Console, auth, signed_in
from telephonist.console.auth import Session
from telephonist.console.charts import activity_chart
from telephonist.console.timeline import call_timeline
from telephonist.messaging.segments import segment_info, split_segments
from telephonist.store.db import Row, utcnow
from telephonist.store.models import (
    accounts,
    api_keys,
    calls,
    incoming_phone_numbers,
    message_media,
    message_parts,
    messages,
    notifications,
)

PAGE = 50
NUMBER_FIELDS = (
    ("FriendlyName", "friendly_name", "Friendly name"),
    ("VoiceUrl", "voice_url", "Voice URL (A call comes in)"),
    ("VoiceMethod", "voice_method", "Voice method"),
    ("VoiceFallbackUrl", "voice_fallback_url", "Voice fallback URL"),
    ("StatusCallback", "status_callback", "Call status callback URL"),
    ("SmsUrl", "sms_url", "Messaging URL (A message comes in)"),
    ("SmsMethod", "sms_method", "Messaging method"),
    ("SmsFallbackUrl", "sms_fallback_url", "Messaging fallback URL"),
)


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _listing(
    conn: Connection, table: Table, where: list[ColumnElement[bool]], before: str | None
) -> tuple[list[Row], int | None]:
    """A page of rows, newest first, and the `before` of the next (older) page if there is one."""
    query = select(table).where(*where)
    if before is not None and re.fullmatch(r"[0-9]{1,18}", before):  # isdigit() would also take "²"
        query = query.where(table.c.seq < int(before))
    rows: list[Row] = [
        dict(r) for r in conn.execute(query.order_by(table.c.seq.desc()).limit(PAGE + 1)).mappings()
    ]
    older = int(rows[PAGE - 1]["seq"]) if len(rows) > PAGE else None
    return rows[:PAGE], older


def query(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()


# -- sign-in ---------------------------------------------------------------------------------------------
async def signin_form(request: Request) -> Response:
    token = request.cookies.get(auth.SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    response = _console(request).render("signin.html", None, signin_csrf=token)
    auth.set_cookie(response, request, auth.SIGNIN_COOKIE, token, max_age=3600)
    return response


async def signin(request: Request) -> Response:
    console = _console(request)
    params = Params.parse(await request.body())
    expected = request.cookies.get(auth.SIGNIN_COOKIE, "")
    if not expected or not auth.csrf_ok(request, expected, params.get("csrf")):
        return Response("Cross-site request refused", status_code=403)
    account = auth.authenticate(request, params.get("AccountSid") or "", params.get("AuthToken") or "")
    if account is None:
        return console.render(
            "signin.html",
            None,
            status=401,
            signin_csrf=expected,
            error="The Account SID or the auth token is wrong.",
            account_sid=params.get("AccountSid") or "",
        )
    response = RedirectResponse(auth.next_page(request), status_code=303)
    auth.set_cookie(response, request, auth.COOKIE, console.sessions.issue(account))
    response.delete_cookie(auth.SIGNIN_COOKIE, path=auth.PATH)
    response.delete_cookie("telephonist_next", path=auth.PATH)
    return response


@signed_in
async def signout(request: Request, session: Session, params: Params) -> Response:
    _console(request).sessions.end(request, session)
    response = RedirectResponse(f"{auth.PATH}/signin", status_code=303)
    response.delete_cookie(auth.COOKIE, path=auth.PATH)
    return response


# -- dashboard -------------------------------------------------------------------------------------------
@signed_in
async def dashboard(request: Request, session: Session, params: Params) -> Response:
    since = utcnow() - dt.timedelta(hours=1)
    sid = session.account_sid
    with request.app.state.platform.db.tx() as conn:
        call_rows = _recent(conn, calls, sid, since, [calls.c.status])
        message_rows = _recent(conn, messages, sid, since, [messages.c.status])
        latest_calls, _ = _listing(conn, calls, [calls.c.account_sid == sid], None)
        latest_messages, _ = _listing(conn, messages, [messages.c.account_sid == sid], None)
    return _console(request).render(
        "dashboard.html",
        session,
        calls_chart=activity_chart("Calls per minute", call_rows, since, CALL_OUTCOMES),
        messages_chart=activity_chart("Messages per minute", message_rows, since, MESSAGE_OUTCOMES),
        calls=latest_calls[:10],
        messages=latest_messages[:10],
    )


CALL_OUTCOMES = {
    "completed": "completed",
    "busy": "busy / no answer",
    "no-answer": "busy / no answer",
    "failed": "failed",
    "canceled": "canceled",
}
MESSAGE_OUTCOMES = {
    "delivered": "delivered",
    "sent": "sent",
    "received": "received",
    "undelivered": "failed / undelivered",
    "failed": "failed / undelivered",
}


def _recent(conn: Connection, table: Table, sid: str, since: dt.datetime, cols: list[Any]) -> list[Row]:
    query = (
        select(table.c.date_created, *cols)
        .where(table.c.account_sid == sid, table.c.date_created >= since)
        .order_by(table.c.seq.desc())
    )
    return [dict(r) for r in conn.execute(query).mappings()]


# -- calls -----------------------------------------------------------------------------------------------
@signed_in
async def call_list(request: Request, session: Session, params: Params) -> Response:
    where = [calls.c.account_sid == session.account_sid]
    q, status = query(request, "q"), query(request, "status")
    if q:
        where.append(or_(calls.c.sid == q, calls.c["from"].contains(q), calls.c.to.contains(q)))
    if status:
        where.append(calls.c.status == status)
    with request.app.state.platform.db.tx() as conn:
        rows, older = _listing(conn, calls, where, query(request, "before"))
    return _console(request).render("calls.html", session, calls=rows, older=older, q=q, wanted=status)


@signed_in
async def call_page(request: Request, session: Session, params: Params) -> Response:
    with request.app.state.platform.db.tx() as conn:
        call = _owned(conn, calls, request.path_params["sid"], session)
        if call is None:
            return _missing(request, session, "call")
        view = call_timeline(conn, call)
    return _console(request).render("call.html", session, call=call, view=view)


# -- messages --------------------------------------------------------------------------------------------
@signed_in
async def message_list(request: Request, session: Session, params: Params) -> Response:
    where = [messages.c.account_sid == session.account_sid]
    q, status = query(request, "q"), query(request, "status")
    if q:
        where.append(
            or_(
                messages.c.sid == q,
                messages.c["from"].contains(q),
                messages.c.to.contains(q),
                messages.c.body.contains(q),
            )
        )
    if status:
        where.append(messages.c.status == status)
    with request.app.state.platform.db.tx() as conn:
        rows, older = _listing(conn, messages, where, query(request, "before"))
    return _console(request).render("messages.html", session, messages=rows, older=older, q=q, wanted=status)


@signed_in
async def message_page(request: Request, session: Session, params: Params) -> Response:
    with request.app.state.platform.db.tx() as conn:
        message = _owned(conn, messages, request.path_params["sid"], session)
        if message is None:
            return _missing(request, session, "message")
        media = [
            dict(r)
            for r in conn.execute(
                select(message_media.c.sid, message_media.c.content_type).where(
                    message_media.c.message_sid == message["sid"]
                )
            ).mappings()
        ]
        receipts = [
            dict(r)
            for r in conn.execute(
                select(message_parts).where(message_parts.c.message_sid == message["sid"]).order_by("part")
            ).mappings()
        ]
        problems = _notifications_of(conn, session.account_sid, message["sid"])
    info = segment_info(message["body"])
    steps = [("created", message["date_created"])]
    if message["date_sent"] is not None:
        steps.append(("sent" if message["direction"] != "inbound" else "received", message["date_sent"]))
    if message["status"] not in ("sent", "received") or message["date_sent"] is None:
        steps.append((message["status"], message["date_updated"]))
    return _console(request).render(
        "message.html",
        session,
        message=message,
        media=media,
        receipts=receipts,
        notifications=problems,
        encoding=info.encoding,
        segments=split_segments(message["body"]),
        steps=steps,
    )


def _notifications_of(conn: Connection, account_sid: str, message_sid: str) -> list[Row]:
    rows = conn.execute(
        select(notifications)
        .where(
            notifications.c.account_sid == account_sid,
            notifications.c.request_variables.contains(message_sid),
        )
        .order_by(notifications.c.seq.desc())
    ).mappings()
    return [_notification(r) for r in rows]


# -- debugger --------------------------------------------------------------------------------------------
def _notification(row: Any) -> Row:
    """A notification with what it concerns: its call, or the message its request named."""
    out = dict(row)
    text = dict(parse_qsl(row["message_text"] or ""))
    out["text"] = text.get("Msg", row["message_text"])
    variables = parse_qsl(row["request_variables"] or "")
    out["variables"] = variables
    named = dict(variables)
    out["message_sid"] = named.get("MessageSid") or named.get("SmsSid")
    return out


@signed_in
async def debugger(request: Request, session: Session, params: Params) -> Response:
    where = [notifications.c.account_sid == session.account_sid]
    code = query(request, "code")
    if code:
        where.append(notifications.c.error_code == code)
    with request.app.state.platform.db.tx() as conn:
        rows, older = _listing(conn, notifications, where, query(request, "before"))
    return _console(request).render(
        "debugger.html", session, notifications=[_notification(r) for r in rows], older=older, code=code
    )


# -- numbers ---------------------------------------------------------------------------------------------
def _field_errors(body: dict[str, Any]) -> tuple[dict[str, str], str]:
    """Twilio's error for a form: under the field its message names (`VoiceUrl is not valid: …`), or
    for the whole form."""
    message = f"{body.get('message', 'The request was refused')} ({body.get('code', '')})"
    first = re.match(r"\w+", str(body.get("message", "")))
    names = {name for name, _, _ in NUMBER_FIELDS} | {"PhoneNumber", "AreaCode", "FriendlyName"}
    if first and first.group() in names:
        return {first.group(): message}, ""
    return {}, message


@signed_in
async def number_list(request: Request, session: Session, params: Params) -> Response:
    with request.app.state.platform.db.tx() as conn:
        rows, older = _listing(
            conn,
            incoming_phone_numbers,
            [incoming_phone_numbers.c.account_sid == session.account_sid],
            query(request, "before"),
        )
    return _console(request).render(
        "numbers.html", session, numbers=rows, older=older, errors={}, form_error="", form={}
    )


@signed_in
async def number_add(request: Request, session: Session, params: Params) -> Response:
    data = [
        (k, v)
        for k, v in params.items()
        if k in ("PhoneNumber", "AreaCode", "FriendlyName", "VoiceUrl", "SmsUrl") and v
    ]
    r = await _console(request).api(
        request, session, "POST", _own(session, "/IncomingPhoneNumbers.json"), data
    )
    if r.status_code == 201:
        return RedirectResponse(f"{auth.PATH}/numbers/{r.json()['sid']}?added=1", status_code=303)
    errors, form_error = _field_errors(r.json())
    with request.app.state.platform.db.tx() as conn:
        rows, older = _listing(
            conn, incoming_phone_numbers, [incoming_phone_numbers.c.account_sid == session.account_sid], None
        )
    return _console(request).render(
        "numbers.html",
        session,
        status=400,
        numbers=rows,
        older=older,
        errors=errors,
        form_error=form_error,
        form=dict(params.items()),
    )


@signed_in
async def number_page(request: Request, session: Session, params: Params) -> Response:
    with request.app.state.platform.db.tx() as conn:
        number = _owned(conn, incoming_phone_numbers, request.path_params["sid"], session)
    if number is None:
        return _missing(request, session, "number")
    form = {name: number[column] or "" for name, column, _ in NUMBER_FIELDS}
    return _console(request).render(
        "number.html",
        session,
        number=number,
        fields=NUMBER_FIELDS,
        form=form,
        errors={},
        form_error="",
        saved=query(request, "saved") or query(request, "added"),
    )


@signed_in
async def number_update(request: Request, session: Session, params: Params) -> Response:
    sid = request.path_params["sid"]
    data = [(name, params.get(name) or "") for name, _, _ in NUMBER_FIELDS if name in params]
    r = await _console(request).api(
        request, session, "POST", _own(session, f"/IncomingPhoneNumbers/{sid}.json"), data
    )
    if r.status_code == 200:
        return RedirectResponse(f"{auth.PATH}/numbers/{sid}?saved=1", status_code=303)
    if r.status_code == 404:
        return _missing(request, session, "number")
    errors, form_error = _field_errors(r.json())
    with request.app.state.platform.db.tx() as conn:
        number = _owned(conn, incoming_phone_numbers, sid, session)
    return _console(request).render(
        "number.html",
        session,
        status=400,
        number=number,
        fields=NUMBER_FIELDS,
        form=dict(data),
        errors=errors,
        form_error=form_error,
        saved="",
    )


@signed_in
async def number_delete(request: Request, session: Session, params: Params) -> Response:
    sid = request.path_params["sid"]
    r = await _console(request).api(
        request, session, "DELETE", _own(session, f"/IncomingPhoneNumbers/{sid}.json")
    )
    if r.status_code == 404:
        return _missing(request, session, "number")
    return RedirectResponse(f"{auth.PATH}/numbers", status_code=303)


# -- account ---------------------------------------------------------------------------------------------
@signed_in
async def account_page(request: Request, session: Session, params: Params) -> Response:
    return _account(request, session)


def _account(request: Request, session: Session, status: int = 200, **extra: Any) -> Response:
    sid = session.account_sid
    with request.app.state.platform.db.tx() as conn:
        subaccounts = [
            dict(r)
            for r in conn.execute(
                select(accounts.c.sid, accounts.c.friendly_name, accounts.c.status, accounts.c.date_created)
                .where(accounts.c.owner_account_sid == sid, accounts.c.sid != sid)
                .order_by(accounts.c.seq)
            ).mappings()
        ]
        key_rows = [
            dict(r)
            for r in conn.execute(
                select(api_keys.c.sid, api_keys.c.friendly_name, api_keys.c.date_created)
                .where(api_keys.c.account_sid == sid)
                .order_by(api_keys.c.seq)
            ).mappings()
        ]
    values: dict[str, Any] = {"new_key": None, "error": ""} | extra
    return _console(request).render(
        "account.html", session, status=status, subaccounts=subaccounts, keys=key_rows, **values
    )


@signed_in
async def reveal_token(request: Request, session: Session, params: Params) -> Response:
    """The auth token, for the page's 'Show' button: in a POST's answer, never in a page or a URL."""
    return JSONResponse({"auth_token": session.account["auth_token"]}, headers={"Cache-Control": "no-store"})


@signed_in
async def add_subaccount(request: Request, session: Session, params: Params) -> Response:
    name = params.get("FriendlyName") or ""
    r = await _console(request).api(
        request, session, "POST", "/2010-04-01/Accounts.json", [("FriendlyName", name)] if name else []
    )
    if r.status_code != 201:
        return _account(request, session, status=400, error=r.json().get("message", ""))
    return RedirectResponse(f"{auth.PATH}/account", status_code=303)


@signed_in
async def add_key(request: Request, session: Session, params: Params) -> Response:
    name = params.get("FriendlyName") or ""
    r = await _console(request).api(
        request, session, "POST", _own(session, "/Keys.json"), [("FriendlyName", name)] if name else []
    )
    if r.status_code != 201:
        return _account(request, session, status=400, error=r.json().get("message", ""))
    return _account(request, session, new_key=r.json())


# -- shared ----------------------------------------------------------------------------------------------
def _own(session: Session, path: str) -> str:
    return f"/2010-04-01/Accounts/{session.account_sid}{path}"


def _owned(conn: Connection, table: Table, sid: str, session: Session) -> Row | None:
    row = (
        conn.execute(select(table).where(table.c.sid == sid, table.c.account_sid == session.account_sid))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def _missing(request: Request, session: Session, what: str) -> Response:
    return _console(request).render("missing.html", session, status=404, what=what)
