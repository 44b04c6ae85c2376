"""The bare baseline for bench/rest.py: a Starlette app with no database.

It serves the two Message routes that the REST benchmark loads, does the same per-request work a
Twilio-compatible server cannot avoid (Basic auth check, form parsing into a multi-dict, building
a Message resource of Twilio's shape, JSON encoding) and nothing else. Credentials come from
TELEPHONIST_ACCOUNT_SID / TELEPHONIST_AUTH_TOKEN, like the real server's.

Run alone:  uvicorn --app-dir bench bare_app:app --port 8081
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_VERSION = "2010-04-01"
ACCOUNT_SID = os.environ.get("TELEPHONIST_ACCOUNT_SID", "AC" + "0" * 32)
AUTH_TOKEN = os.environ.get("TELEPHONIST_AUTH_TOKEN", "0" * 32)


def _error(status: int, code: int, message: str) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _authorized(request: Request) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(user.encode(), ACCOUNT_SID.encode()) and hmac.compare_digest(
        password.encode(), AUTH_TOKEN.encode()
    )


def _message(account_sid: str, sid: str, to: str, from_: str, body: str, status: str) -> dict[str, Any]:
    now = format_datetime(datetime.now(UTC))  # RFC 2822, "+0000"
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": None if status == "queued" else now,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": uri[: -len(".json")] + "/Media.json"},
        "to": to,
        "uri": uri,
    }


async def create_message(request: Request) -> JSONResponse:
    account_sid = request.path_params["AccountSid"]
    if not _authorized(request):
        return _error(401, 20003, "Authenticate")
    if account_sid != ACCOUNT_SID:
        return _error(403, 20003, "Permission denied")
    form: dict[str, list[str]] = {}
    for key, value in parse_qsl((await request.body()).decode(), keep_blank_values=True):
        form.setdefault(key, []).append(value)
    to, from_, body = (form.get(name, [""])[0] for name in ("To", "From", "Body"))
    if not to:
        return _error(400, 21604, "A 'To' phone number is required.")
    if not from_:
        return _error(400, 21603, "A 'From' phone number is required.")
    if not body:
        return _error(400, 21602, "Message body is required.")
    return JSONResponse(_message(account_sid, "SM" + uuid.uuid4().hex, to, from_, body, "queued"), 201)


async def fetch_message(request: Request) -> JSONResponse:
    account_sid = request.path_params["AccountSid"]
    if not _authorized(request):
        return _error(401, 20003, "Authenticate")
    if account_sid != ACCOUNT_SID:
        return _error(403, 20003, "Permission denied")
    sid = request.path_params["Sid"]
    return JSONResponse(
        _message(account_sid, sid, "+15551230001", "+15005550006", "Hello from the benchmark", "delivered")
    )


MESSAGES = f"/{API_VERSION}/Accounts/{{AccountSid}}/Messages"
app = Starlette(
    routes=[
        Route(MESSAGES + ".json", create_message, methods=["POST"]),
        Route(MESSAGES + "/{Sid}.json", fetch_message, methods=["GET"]),
    ]
)
