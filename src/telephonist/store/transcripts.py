"""Call transcripts: what each party of a call heard and did, in order (`GET /sim/v1/Calls/{Sid}`)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.sql import ClauseElement

from telephonist.store.db import Database, insert_row, utcnow
from telephonist.store.models import call_events

_INSERT = insert_row(call_events)


def add(db: Database, call_sid: str, event: dict[str, Any]) -> None:
    write_soon(db, _INSERT, call_sid=call_sid, event=event, date_created=utcnow())


def write_soon(db: Database, stmt: ClauseElement, /, **params: Any) -> None:
    """One write whose caller need not wait for its commit. On SQLite it joins this loop turn's group
    commit (Database.write) rather than paying for a commit of its own, and the one connection sees it at
    once; a failing statement undoes only itself. Elsewhere, or outside a loop, a transaction of its own.
    A looping call writes an event for every prompt, gather and webhook: their commits were a fifth of
    its CPU."""
    if db._held is not None and _in_loop():
        q, _committed = db._join_group()
        q.run(stmt, **params)
        return
    with db.fast() as q:
        q.run(stmt, **params)


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
