"""JSON rendering shared by the resources: RFC 2822 dates, relative URIs, Twilio's string-typed numbers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from starlette.responses import Response

API = "/2010-04-01"


def rfc2822(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%a, %d %b %Y %H:%M:%S +0000")


def account_uri(account_sid: str) -> str:
    return f"{API}/Accounts/{account_sid}"


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)
