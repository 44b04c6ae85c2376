"""Which URLs a platform number answers with: its own, or those of the Application it is set to use."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from telephonist.store.db import Row, Tx, raw
from telephonist.store.models import applications

_APP = select(applications).where(
    applications.c.sid == bindparam("sid"), applications.c.account_sid == bindparam("account_sid")
)


def webhooks_of(conn: Tx, number: Row, kind: str) -> Row:
    """`number`, or its `{kind}_application_sid` application (kind: voice or sms). Both carry the same
    `{kind}_url`, `{kind}_method`, `{kind}_fallback_url`… columns."""
    sid = number[f"{kind}_application_sid"]
    if sid:
        app = raw(conn).first(_APP, sid=sid, account_sid=number["account_sid"])
        if app is not None:
            return app
    return number
