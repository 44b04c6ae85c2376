"""Call transcripts: what each party of a call heard and did, in order (`GET /sim/v1/Calls/{Sid}`)."""

from __future__ import annotations

from typing import Any

from telephonist.store.db import Database, insert_row, utcnow
from telephonist.store.models import call_events

_INSERT = insert_row(call_events)


def add(db: Database, call_sid: str, event: dict[str, Any]) -> None:
    with db.fast() as q:
        q.run(_INSERT, call_sid=call_sid, event=event, date_created=utcnow())
