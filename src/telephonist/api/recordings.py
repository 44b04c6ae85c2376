"""Recordings (account-wide and per call), their audio as WAV or MP3, and Transcriptions.

The audio at a recording's URI without `.json` is public, as Twilio serves it by default: an application
fetches `RecordingUrl` without credentials, and the SID (80 random bits) is the secret.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from telephonist.api.base import context, fetch_owned
from telephonist.api.calls import recording_params
from telephonist.api.errors import TwilioError, not_found
from telephonist.api.forms import date_filters
from telephonist.api.paging import paginate
from telephonist.api.render import API, account_uri, json_response, no_content, rfc2822
from telephonist.media import audio
from telephonist.sids import is_sid
from telephonist.store.db import Row
from telephonist.store.models import calls, conferences, recording_media, recordings, transcriptions
from telephonist.voice.callrecording import CURRENT, recording_options
from telephonist.voice.recording import load_audio, recording_uri

_MEDIA_TYPES = {"": "audio/x-wav", ".wav": "audio/x-wav", ".mp3": "audio/mpeg"}


def render_recording(row: Row, base_url: str = "") -> dict[str, Any]:
    uri = recording_uri(row["account_sid"], row["sid"])
    return {
        "account_sid": row["account_sid"],
        "api_version": "2010-04-01",
        "call_sid": row["call_sid"],
        "conference_sid": row["conference_sid"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "start_time": rfc2822(row["start_time"]),
        "duration": str(row["duration"]) if row["duration"] is not None else "-1",
        "sid": row["sid"],
        "price": None,
        "price_unit": "USD",
        "status": row["status"],
        "channels": row["channels"],
        "source": row["source"],
        "error_code": row["error_code"],
        "track": row["track"],
        "uri": uri + ".json",
        "encryption_details": None,
        "media_url": base_url + uri,
        "subresource_uris": {
            "add_on_results": uri + "/AddOnResults.json",
            "transcriptions": uri + "/Transcriptions.json",
        },
    }


def render_transcription(row: Row) -> dict[str, Any]:
    return {
        "account_sid": row["account_sid"],
        "api_version": "2010-04-01",
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "duration": str(row["duration"]),
        "price": None,
        "price_unit": "USD",
        "recording_sid": row["recording_sid"],
        "sid": row["sid"],
        "status": row["status"],
        "transcription_text": row["transcription_text"],
        "type": "fast",
        "uri": f"{account_uri(row['account_sid'])}/Transcriptions/{row['sid']}.json",
    }


async def list_recordings(request: Request) -> Response:
    ctx = await context(request)
    where: list[Any] = [recordings.c.account_sid == ctx.account_sid]
    filters: list[tuple[str, str]] = []
    call_sid = request.path_params.get("CallSid") or ctx.params.get("CallSid")
    base = ctx.platform.settings.base_url
    with ctx.tx() as conn:
        if "CallSid" in request.path_params:
            fetch_owned(conn, calls, call_sid or "", ctx.account_sid, ctx.path)
        if call_sid:
            where.append(recordings.c.call_sid == call_sid)
            if "CallSid" not in request.path_params:
                filters.append(("CallSid", call_sid))
        conference = request.path_params.get("ConferenceSid") or ctx.params.get("ConferenceSid")
        if "ConferenceSid" in request.path_params:
            fetch_owned(conn, conferences, conference or "", ctx.account_sid, ctx.path)
        if conference:
            where.append(recordings.c.conference_sid == conference)
            if "ConferenceSid" not in request.path_params:
                filters.append(("ConferenceSid", conference))
        w, f = date_filters(ctx.params, "DateCreated", recordings.c.date_created)
        body = paginate(
            conn,
            recordings,
            where + w,
            ctx.params,
            ctx.path,
            filters + f,
            "recordings",
            lambda row: render_recording(row, base),
        )
    return json_response(body)


def _owned_recording(conn: Any, request: Request, account_sid: str, path: str) -> Row:
    row = fetch_owned(conn, recordings, request.path_params["Sid"], account_sid, path)
    call_sid = request.path_params.get("CallSid")
    if call_sid is not None and row["call_sid"] != call_sid:
        raise not_found(path)
    return row


async def fetch_recording(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = _owned_recording(conn, request, ctx.account_sid, ctx.path)
    return json_response(render_recording(row, ctx.platform.settings.base_url))


async def delete_recording(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = _owned_recording(conn, request, ctx.account_sid, ctx.path)
        if row["status"] in ("in-progress", "paused"):
            raise TwilioError(21220, f"Recording {row['sid']} is still being recorded: stop it first.")
        conn.execute(delete(recording_media).where(recording_media.c.recording_sid == row["sid"]))
        conn.execute(delete(transcriptions).where(transcriptions.c.recording_sid == row["sid"]))
        conn.execute(delete(recordings).where(recordings.c.sid == row["sid"]))
    return no_content()


async def recording_media_file(request: Request) -> Response:
    """The audio, without credentials: `{RE}` and `{RE}.wav` as WAV, `{RE}.mp3` as MP3."""
    sid, ext = request.path_params["Media"], ""
    for suffix in (".wav", ".mp3"):
        if sid.endswith(suffix):
            sid, ext = sid[: -len(suffix)], suffix
    path = request.scope["path"]
    if not is_sid(sid, "RE"):
        raise not_found(path)
    platform = request.app.state.platform
    with platform.db.tx() as conn:
        row = conn.execute(select(recordings).where(recordings.c.sid == sid)).mappings().first()
        pcm = load_audio(conn, sid) if row is not None else None
    if row is None or row["account_sid"] != request.path_params["AccountSid"] or pcm is None:
        raise not_found(path)
    channels = int(row["channels"])
    body = audio.mp3(pcm, channels) if ext == ".mp3" else audio.wav(pcm, channels)
    return Response(body, media_type=_MEDIA_TYPES[ext])


async def start_call_recording(request: Request) -> Response:
    """Start recording a call in progress (source StartCallRecordingAPI)."""
    ctx = await context(request)
    options = recording_options(recording_params(ctx, record=True), "StartCallRecordingAPI")
    with ctx.tx() as conn:
        call = fetch_owned(conn, calls, request.path_params["CallSid"], ctx.account_sid, ctx.path)
    if call["status"] != "in-progress" or call["sid"] not in ctx.platform.voice.sessions:
        raise TwilioError(21220, f"Call {call['sid']} is not in progress: it cannot be recorded")
    rec = ctx.platform.voice.recorder.start(call, options)
    with ctx.tx() as conn:
        row = conn.execute(select(recordings).where(recordings.c.sid == rec.sid)).mappings().one()
    return json_response(render_recording(row, ctx.platform.settings.base_url), 201)


async def update_call_recording(request: Request) -> Response:
    """Pause, resume or stop a recording of a live call (`Twilio.CURRENT` names its current one)."""
    ctx = await context(request)
    status = ctx.params.get("Status")
    if status not in ("paused", "in-progress", "stopped"):
        raise TwilioError(20001, f"Status must be paused, in-progress or stopped, not '{status}'")
    call_sid, sid = request.path_params["CallSid"], request.path_params["Sid"]
    recorder = ctx.platform.voice.recorder
    with ctx.tx() as conn:
        fetch_owned(conn, calls, call_sid, ctx.account_sid, ctx.path)
    live = recorder.of_call(call_sid)
    rec = next((r for r in live if sid in (r.sid, CURRENT)), None)
    if rec is None:
        with ctx.tx() as conn:
            _owned_recording(conn, request, ctx.account_sid, ctx.path)  # 404 if it is not this call's at all
        raise TwilioError(21220, f"Recording {sid} is not in progress or paused")
    if status == "paused":
        recorder.pause(rec)
    elif status == "in-progress":
        recorder.resume(rec)
    else:
        await recorder.stop(rec)
    with ctx.tx() as conn:
        row = conn.execute(select(recordings).where(recordings.c.sid == rec.sid)).mappings().one()
    return json_response(render_recording(row, ctx.platform.settings.base_url))


async def list_transcriptions(request: Request) -> Response:
    ctx = await context(request)
    where: list[Any] = [transcriptions.c.account_sid == ctx.account_sid]
    with ctx.tx() as conn:
        recording_sid = request.path_params.get("Sid")
        if recording_sid is not None:
            fetch_owned(conn, recordings, recording_sid, ctx.account_sid, ctx.path)
            where.append(transcriptions.c.recording_sid == recording_sid)
        body = paginate(
            conn, transcriptions, where, ctx.params, ctx.path, [], "transcriptions", render_transcription
        )
    return json_response(body)


async def fetch_transcription(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, transcriptions, request.path_params["Sid"], ctx.account_sid, ctx.path)
    return json_response(render_transcription(row))


async def delete_transcription(request: Request) -> Response:
    ctx = await context(request)
    with ctx.tx() as conn:
        row = fetch_owned(conn, transcriptions, request.path_params["Sid"], ctx.account_sid, ctx.path)
        conn.execute(delete(transcriptions).where(transcriptions.c.sid == row["sid"]))
    return no_content()


_BASE = f"{API}/Accounts/{{AccountSid}}"
routes = [
    Route(f"{_BASE}/Recordings.json", list_recordings, methods=["GET"]),
    Route(f"{_BASE}/Recordings/{{Sid}}.json", fetch_recording, methods=["GET"]),
    Route(f"{_BASE}/Recordings/{{Sid}}.json", delete_recording, methods=["DELETE"]),
    Route(f"{_BASE}/Recordings/{{Sid}}/Transcriptions.json", list_transcriptions, methods=["GET"]),
    Route(f"{_BASE}/Recordings/{{Media}}", recording_media_file, methods=["GET"]),
    Route(f"{_BASE}/Calls/{{CallSid}}/Recordings.json", list_recordings, methods=["GET"]),
    Route(f"{_BASE}/Calls/{{CallSid}}/Recordings.json", start_call_recording, methods=["POST"]),
    Route(f"{_BASE}/Calls/{{CallSid}}/Recordings/{{Sid}}.json", fetch_recording, methods=["GET"]),
    Route(f"{_BASE}/Calls/{{CallSid}}/Recordings/{{Sid}}.json", update_call_recording, methods=["POST"]),
    Route(f"{_BASE}/Calls/{{CallSid}}/Recordings/{{Sid}}.json", delete_recording, methods=["DELETE"]),
    Route(f"{_BASE}/Conferences/{{ConferenceSid}}/Recordings.json", list_recordings, methods=["GET"]),
    Route(f"{_BASE}/Transcriptions.json", list_transcriptions, methods=["GET"]),
    Route(f"{_BASE}/Transcriptions/{{Sid}}.json", fetch_transcription, methods=["GET"]),
    Route(f"{_BASE}/Transcriptions/{{Sid}}.json", delete_transcription, methods=["DELETE"]),
]
