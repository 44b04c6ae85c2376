"""Live updates for the console's pages, as server-sent events.

Each open page polls the store once a second for the account's newest calls, messages and notifications
and is sent the rows that are new or changed. Reading the store (through the account's newest-first
indexes) rather than listening inside one process means a page sees what every engine node does.

A page connects after it was rendered (and again after a dropped connection), so a stream starts as if
it had been open for the last RECENT seconds: the rows that changed in them are sent at once. A page
already showing one takes it again as it is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy import Table, select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from telephonist.api.forms import Params
from telephonist.console import signed_in
from telephonist.console.auth import MAX_AGE, Session
from telephonist.store.db import utcnow
from telephonist.store.models import calls, messages, notifications

POLL = 1.0
WATCHED = 50  # the newest rows of each kind a page can show
HEARTBEAT = 15.0
RECENT = dt.timedelta(seconds=10)  # what a new stream sends at once: rows changed this long ago or less

_FIELDS: dict[str, tuple[Table, tuple[str, ...]]] = {
    "call": (
        calls,
        ("sid", "from", "to", "status", "direction", "duration", "date_created", "parent_call_sid"),
    ),
    "message": (messages, ("sid", "from", "to", "status", "direction", "body", "date_created", "error_code")),
    "notification": (notifications, ("sid", "call_sid", "error_code", "message_text", "date_created")),
}


def _snapshot(
    request: Request, account_sid: str, before: dt.datetime | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """The newest rows of each kind; with `before`, only those last changed before then."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with request.app.state.platform.db.tx() as conn:
        for kind, (table, names) in _FIELDS.items():
            rows = conn.execute(
                select(*(table.c[n] for n in names), table.c.date_updated)
                .where(table.c.account_sid == account_sid)
                .order_by(table.c.seq.desc())
                .limit(WATCHED)
            )
            out[kind] = {}
            for *values, changed in rows:
                if before is not None and changed >= before:
                    continue
                row = dict(zip(names, values, strict=True))
                row["date_created"] = row["date_created"].strftime("%Y-%m-%d %H:%M:%S")
                out[kind][row["sid"]] = row
    return out


async def _events(request: Request, session: Session) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    seen = _snapshot(request, session.account_sid, before=utcnow() - RECENT)
    quiet_since = began = loop.time()
    yield b"retry: 2000\n\n"
    while loop.time() - began < MAX_AGE:
        await asyncio.sleep(POLL)
        now = _snapshot(request, session.account_sid)
        for kind, rows in now.items():
            for sid, row in reversed(rows.items()):  # oldest first, so a page prepends in order
                if seen[kind].get(sid) != row:
                    yield b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(row) + b"\n\n"
                    quiet_since = loop.time()
        seen = now
        if loop.time() - quiet_since > HEARTBEAT:
            yield b": still here\n\n"
            quiet_since = loop.time()


async def _live(request: Request, session: Session, params: Params) -> Response:
    return StreamingResponse(
        _events(request, session),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


live = signed_in(_live, page=False)
