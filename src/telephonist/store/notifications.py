"""Notifications: what the debugger shows when a webhook or a TwiML document fails (11200, 12100, …)."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import Connection, insert

from telephonist.sids import new_sid
from telephonist.store.db import utcnow
from telephonist.store.models import notifications


def record(
    conn: Connection,
    account_sid: str,
    code: int,
    text: str,
    *,
    call_sid: str | None = None,
    url: str | None = None,
    method: str | None = None,
    params: list[tuple[str, str]] | None = None,
    response_body: str = "",
    warning: bool = False,
) -> str:
    now = utcnow()
    sid = new_sid("NO")
    conn.execute(
        insert(notifications).values(
            sid=sid,
            account_sid=account_sid,
            call_sid=call_sid,
            error_code=str(code),
            log="1" if warning else "0",
            message_text=urlencode([("Msg", text), ("ErrorCode", str(code)), ("url", url or "")]),
            message_date=now,
            request_method=method,
            request_url=url,
            request_variables=urlencode(params or []),
            response_body=response_body[:65536],
            response_headers="",
            date_created=now,
            date_updated=now,
        )
    )
    return sid
