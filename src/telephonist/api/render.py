"""JSON rendering shared by the resources: RFC 2822 dates, relative URIs, Twilio's string-typed numbers."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import orjson
from starlette.responses import Response

API = "/2010-04-01"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@lru_cache(maxsize=4096)  # a resource shows the same instant several times (created, updated, sent)
def rfc2822(value: dt.datetime | None) -> str | None:
    """`Mon, 23 Nov 2026 11:35:37 +0000`, in English whatever the locale (strftime's %a/%b are not)."""
    if value is None:
        return None
    return (
        f"{_DAYS[value.weekday()]}, {value.day:02d} {_MONTHS[value.month - 1]} {value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} +0000"
    )


def account_uri(account_sid: str) -> str:
    return f"{API}/Accounts/{account_sid}"


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)
