"""Status callbacks as durable jobs: fire-and-forget requests whose response body is ignored.

Retries are the webhook client's, as the URL's connection overrides say (by default a connection that
cannot be made is tried once more); a callback that still fails is recorded as a notification and dropped.
Each callback gets its I-Twilio-Idempotency-Token when it is queued, so every attempt of it carries the
same one, a run again after a crash included.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import bindparam, select

from telephonist.store import notifications, transcripts
from telephonist.store.cache import MISSING, TTLCache
from telephonist.store.db import Tx, raw
from telephonist.store.jobs import Job, JobRunner, enqueue, finish
from telephonist.store.models import accounts
from telephonist.webhooks.client import FetchError, Observer, Webhooks

log = logging.getLogger("telephonist.webhooks")
KIND = "webhook"
_TOKEN = select(accounts.c.auth_token).where(accounts.c.sid == bindparam("sid"))


def account_token(conn: Tx, account_sid: str) -> str | None:
    """The auth token that signs the account's webhooks; None for an account that is gone."""
    row = raw(conn).first(_TOKEN, sid=account_sid)
    return None if row is None else str(row["auth_token"])


def enqueue_callback(
    conn: Tx,
    account_sid: str,
    url: str,
    method: str,
    params: list[tuple[str, str]],
    key: str,
    call_sid: str | None = None,
) -> None:
    payload: dict[str, Any] = {
        "account_sid": account_sid,
        "url": url,
        "method": method,
        "params": params,
        "key": key,
        "call_sid": call_sid,
        "token": str(uuid.uuid4()),
    }
    enqueue(conn, KIND, payload)


class CallbackSender:
    def __init__(self, jobs: JobRunner, webhooks: Webhooks) -> None:
        self.jobs = jobs
        self.db = jobs.db
        self.webhooks = webhooks
        self._tokens: TTLCache[str, str | None] = TTLCache()  # account -> auth token (tokens never change)

    def _observer(self, call_sid: str | None) -> Observer | None:
        """A call's callbacks go into its events (the console's timeline, `Calls/{Sid}/Events`)."""
        if call_sid is None:
            return None
        return lambda exchange: transcripts.add(self.db, call_sid, exchange.as_event())

    async def handle(self, job: Job) -> None:
        p = job.payload
        token = self._tokens.get(p["account_sid"])
        if token is MISSING:
            with self.db.read() as q:
                token = account_token(q, p["account_sid"])
            self._tokens.put(p["account_sid"], token)
        if not isinstance(token, str):  # the account is gone
            self.jobs.done(job)
            return
        params = [(k, v) for k, v in p["params"]]
        # Jobs queued before callbacks had a token of their own: one made from the job, as stable.
        idempotency = p.get("token") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"telephonist:job:{job.id}"))
        try:
            await self.webhooks.request(
                p["url"], p["method"], params, token, self._observer(p.get("call_sid")), idempotency
            )
        except FetchError as err:
            with self.db.tx() as conn:
                log.warning("status callback for %s to %s failed: %s", p["key"], err.url, err.message)
                notifications.record(
                    conn,
                    p["account_sid"],
                    err.code,
                    err.message,
                    call_sid=p.get("call_sid"),
                    url=err.url,
                    method=p["method"],
                    params=params,
                    response_body=err.body,
                )
                finish(conn, job)
            return
        self.jobs.done(job)
