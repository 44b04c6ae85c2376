"""The messaging engine: outbound sends through a carrier, delivery receipts, inbound SmsUrl webhooks.

Each step is one transaction that moves its messages along the MessageStatus table, writes the status
callback jobs and deletes its own job, so a crash anywhere replays a step at most once. A queued message
needs no job of its own: the runner polls the oldest queued messages (`send_queued`) and sends each in
the transaction that marks it sent, so it reaches the carrier exactly once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from sqlalchemy import DateTime, bindparam, func, select, update

from telephonist.messaging.segments import segment_info
from telephonist.numbers import to_e164
from telephonist.sids import new_sid
from telephonist.states import MESSAGE_FINAL, check_message
from telephonist.store import notifications
from telephonist.store.applications import webhooks_of
from telephonist.store.db import Raw, Row, Tx, insert_row, raw, utcnow
from telephonist.store.jobs import Job, enqueue, finish, finish_all
from telephonist.store.models import messages
from telephonist.twiml import TwiMLError, parse_messaging
from telephonist.twiml.verbs import Message, Redirect
from telephonist.webhooks.callbacks import account_token, enqueue_callback
from telephonist.webhooks.client import FetchError
from telephonist.webhooks.params import geo_params

if TYPE_CHECKING:
    from telephonist.app import Platform

log = logging.getLogger("telephonist.messaging")
FINAL_STATUSES = MESSAGE_FINAL
CALLBACK_STATUSES = {"sent", "delivered", "undelivered", "failed"}
MAX_REPLIES = 10
MAX_DOCUMENTS = 50  # documents per SMS reply session (14106 beyond)

_INSERT = insert_row(messages)
_BY_SID = select(messages).where(messages.c.sid == bindparam("sid"))
# What a send or a receipt needs of a message: no dates, so no date parsing in the hot loop.
_SEND_FIELDS = (
    "sid",
    "account_sid",
    "status",
    "to",
    "from",
    "body",
    "status_callback",
    "status_callback_method",
)
_TO_SEND = select(*(messages.c[f] for f in _SEND_FIELDS)).where(messages.c.sid == bindparam("sid"))
_QUEUED = (
    select(*(messages.c[f] for f in _SEND_FIELDS))
    .where(messages.c.status == "queued")
    .order_by(messages.c.seq)
    .limit(bindparam("n"))
)
_SENT = (
    update(messages)
    .where(messages.c.sid == bindparam("sid"))
    .values(status="sent", date_sent=bindparam("now", type_=DateTime), date_updated=bindparam("now"))
)
_RECEIVED = (
    update(messages)
    .where(messages.c.sid == bindparam("sid"), messages.c.status == "sent")
    .values(
        status=bindparam("status"),
        error_code=bindparam("error_code"),
        error_message=bindparam("error_message"),
        date_updated=bindparam("now", type_=DateTime),
    )
)
_MOVE = (
    update(messages)
    .where(messages.c.sid == bindparam("sid"))
    .values(
        status=bindparam("status"),
        error_code=bindparam("error_code"),
        error_message=bindparam("error_message"),
        date_updated=bindparam("now", type_=DateTime),
        date_sent=func.coalesce(bindparam("date_sent", type_=DateTime), messages.c.date_sent),
    )
)


@dataclass
class OutboundMessage:
    account_sid: str
    to: str
    from_: str
    body: str
    media: list[str] = field(default_factory=list)
    status_callback: str | None = None
    status_callback_method: str = "POST"


@dataclass(frozen=True)
class SubmitResult:
    """What a carrier says at submission: delivered later (receipt), or refused with a 30xxx code."""

    final_status: str  # delivered | undelivered | failed
    error_code: int | None = None
    error_message: str | None = None


class MessagingEngine:
    def __init__(self, platform: Platform) -> None:
        self.p = platform

    # -- outbound ---------------------------------------------------------------------------------
    def create_outbound(self, conn: Tx, msg: OutboundMessage, direction: str) -> Row:
        """Store a queued message (its own send job: see send_queued); the row as the API renders it."""
        now = utcnow()
        sid = new_sid("MM" if msg.media else "SM")
        row: Row = {
            "sid": sid,
            "account_sid": msg.account_sid,
            "to": msg.to,
            "from": msg.from_,
            "body": msg.body,
            "status": "queued",
            "direction": direction,
            "num_segments": segment_info(msg.body).num_segments or 1,
            "num_media": len(msg.media),
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
            "status_callback": msg.status_callback,
            "status_callback_method": msg.status_callback_method,
            "date_sent": None,
            "date_created": now,
            "date_updated": now,
        }
        raw(conn).run(_INSERT, row)
        return row

    def send_queued(self, q: Raw, limit: int) -> int:
        """Hand the oldest queued messages to the carrier: queued → sending → sent (or failed). Their
        delivery receipts travel together in one job. How many messages were taken."""
        rows = q.all(_QUEUED, n=limit)
        if not rows:
            return 0
        results = self.p.sim.submit_all(q, rows)
        now = utcnow()
        receipts = []
        plain = []  # sent, with no status callback: one executemany
        for row, result in zip(rows, results, strict=True):
            check_message("queued", "sending")
            if result.final_status == "failed":
                self._move(q, row, "failed", now, result.error_code, result.error_message, old="sending")
                continue
            has_callback = bool(row["status_callback"])
            if has_callback:
                self._move(q, row, "sent", now, old="sending", date_sent=now)
            else:
                check_message("sending", "sent")
                plain.append({"sid": row["sid"], "now": now})
            receipts.append(
                [row["sid"], result.final_status, result.error_code, result.error_message, has_callback]
            )
        q.many(_SENT, plain)
        if receipts:
            enqueue(q, "message.receipt", {"receipts": receipts}, delay=self.p.sim.receipt_delay())
        return len(rows)

    def receipt_batch(self, q: Raw, jobs: list[Job]) -> None:
        """Delivery receipts: sent → delivered or undelivered."""
        now = utcnow()
        plain = []  # receipts with no status callback: one executemany, nothing to read first
        for job in jobs:
            for sid, status, error_code, error_message, has_callback in job.payload["receipts"]:
                check_message("sent", status)
                if not has_callback:
                    plain.append((sid, status, error_code, error_message))
                    continue
                row = q.first(_TO_SEND, sid=sid)
                if row is not None and row["status"] == "sent":
                    self._move(q, row, status, now, error_code, error_message)
        keys = ("sid", "status", "error_code", "error_message")
        q.many(_RECEIVED, [dict(zip(keys, receipt, strict=True), now=now) for receipt in plain])
        finish_all(q, jobs)

    def _get(self, conn: Tx, sid: str) -> Row | None:
        return raw(conn).first(_BY_SID, sid=sid)

    def _move(
        self,
        q: Raw,
        row: Mapping[str, Any],
        status: str,
        now: dt.datetime,
        error_code: int | None = None,
        error_message: str | None = None,
        old: str | None = None,
        date_sent: dt.datetime | None = None,
    ) -> None:
        check_message(old or row["status"], status)
        q.run(
            _MOVE,
            sid=row["sid"],
            status=status,
            error_code=error_code,
            error_message=error_message,
            now=now,
            date_sent=date_sent,
        )
        if status in CALLBACK_STATUSES and row["status_callback"]:
            params = [
                ("AccountSid", row["account_sid"]),
                ("ApiVersion", "2010-04-01"),
                ("From", row["from"]),
                ("MessageSid", row["sid"]),
                ("MessageStatus", status),
                ("SmsSid", row["sid"]),
                ("SmsStatus", status),
                ("To", row["to"]),
            ]
            if error_code is not None:
                params.append(("ErrorCode", str(error_code)))
            enqueue_callback(
                q,
                row["account_sid"],
                row["status_callback"],
                row["status_callback_method"] or "POST",
                params,
                key=row["sid"],
            )

    # -- inbound ------------------------------------------------------------------------------------
    def receive(
        self,
        conn: Tx,
        number: Mapping[str, Any],
        from_: str,
        body: str,
        media: list[str] | None = None,
    ) -> str:
        """An SMS arrives at a platform number: store it and queue the SmsUrl webhook."""
        now = utcnow()
        media = media or []
        sid = new_sid("MM" if media else "SM")
        q = raw(conn)
        q.run(
            _INSERT,
            sid=sid,
            account_sid=number["account_sid"],
            to=number["phone_number"],
            body=body,
            status="received",
            direction="inbound",
            num_segments=segment_info(body).num_segments or 1,
            num_media=len(media),
            error_code=None,
            error_message=None,
            messaging_service_sid=None,
            status_callback=None,
            status_callback_method=None,
            date_created=now,
            date_updated=now,
            date_sent=now,
            **{"from": from_},
        )
        key = f"inbound:{from_}:{number['sid']}"
        enqueue(q, "message.inbound", {"sid": sid, "media": media, "key": key})
        return sid

    async def handle_inbound(self, job: Job) -> None:
        with self.p.db.tx() as conn:
            row = self._get(conn, job.payload["sid"])
            number = token = None
            if row is not None:
                number = self.p.number_owner(conn, row["to"])
                number = webhooks_of(conn, number, "sms") if number is not None else None
                token = account_token(conn, row["account_sid"])
        if row is None or number is None or not number["sms_url"] or token is None:
            with self.p.db.tx() as conn:
                finish(conn, job)
            return
        media: list[str] = job.payload.get("media", [])
        params = inbound_params(row, media)
        replies = await self._run_sms_url(row, number, params, token)
        with self.p.db.tx() as conn:
            for reply in replies[:MAX_REPLIES]:
                self.create_outbound(conn, reply, direction="outbound-reply")
            if len(replies) > MAX_REPLIES:
                notifications.record(conn, row["account_sid"], 14109, "Reply message limit (10) exceeded")
            finish(conn, job)
        self.p.jobs.wake()

    async def _run_sms_url(
        self, row: Row, number: Row, params: list[tuple[str, str]], token: str
    ) -> list[OutboundMessage]:
        url: str = number["sms_url"]
        method: str = number["sms_method"]
        replies: list[OutboundMessage] = []
        for _ in range(MAX_DOCUMENTS):
            try:
                fetched = await self.p.webhooks.request(url, method, params, token)
                if fetched.content_type == "text/plain":
                    text = fetched.body.strip()
                    return [*replies, self._reply(row, Message(body=text), fetched.url)] if text else replies
                if not fetched.body.strip():
                    return replies
                document = parse_messaging(fetched.body)
            except (FetchError, TwiMLError) as err:
                failed_url = getattr(err, "url", url)
                self._notify(row, err.code, err.message, failed_url, method, params, getattr(err, "body", ""))
                fallback = number["sms_fallback_url"]
                if not fallback or url == fallback:
                    return replies
                url, method = fallback, number["sms_fallback_method"]
                params = [*params, ("ErrorCode", str(err.code)), ("ErrorUrl", failed_url)]
                continue
            redirect = None
            for verb in document.verbs:
                if isinstance(verb, Redirect):
                    redirect = verb
                    break
                bad = [
                    (code, attr)
                    for code, attr in ((14101, verb.to), (14102, verb.from_))
                    if attr is not None and to_e164(attr) is None
                ]
                problem = None
                if bad:
                    problem = (bad[0][0], f"<Message> has an invalid phone number: {bad[0][1]}")
                elif verb.from_ is not None and not self.can_send_from(row["account_sid"], verb.from_):
                    problem = (14108, f"<Message from> is not a number of this account: {verb.from_}")
                if problem is not None:
                    self._notify(row, *problem, fetched.url, method, params, fetched.body)
                    continue
                replies.append(self._reply(row, verb, fetched.url))
            if redirect is None:
                return replies
            url, method = urljoin(fetched.url, redirect.url), redirect.method
        self._notify(
            row, 14106, f"Document retrieval limit ({MAX_DOCUMENTS}) reached", url, method, params, ""
        )
        return replies

    def can_send_from(self, account_sid: str, number: str) -> bool:
        """Whether `number` is a platform number of the account (a `from` of TwiML must be one)."""
        with self.p.db.read() as q:
            owner = self.p.number_owner(q, to_e164(number) or number)
        return owner is not None and owner["account_sid"] == account_sid

    def _reply(self, row: Row, verb: Message, document_url: str) -> OutboundMessage:
        callback = verb.action or verb.status_callback
        return OutboundMessage(
            account_sid=row["account_sid"],
            to=to_e164(verb.to or "") or row["from"],
            from_=to_e164(verb.from_ or "") or row["to"],
            body=verb.body,
            media=list(verb.media),
            status_callback=urljoin(document_url, callback) if callback else None,
            status_callback_method=verb.method,
        )

    def _notify(
        self,
        row: Row,
        code: int,
        text: str,
        url: str,
        method: str,
        params: list[tuple[str, str]],
        body: str,
    ) -> None:
        log.warning("SmsUrl for %s failed: %s %s", row["sid"], code, text)
        with self.p.db.tx() as conn:
            notifications.record(
                conn,
                row["account_sid"],
                code,
                text,
                url=url,
                method=method,
                params=params,
                response_body=body,
            )


def inbound_params(row: Row, media: list[str]) -> list[tuple[str, str]]:
    params = [
        ("AccountSid", row["account_sid"]),
        ("ApiVersion", "2010-04-01"),
        ("Body", row["body"]),
        ("From", row["from"]),
        ("MessageSid", row["sid"]),
        ("NumMedia", str(len(media))),
        ("NumSegments", str(row["num_segments"])),
        ("SmsMessageSid", row["sid"]),
        ("SmsSid", row["sid"]),
        ("SmsStatus", "received"),
        ("To", row["to"]),
    ]
    for i, url in enumerate(media):
        params += [(f"MediaUrl{i}", url), (f"MediaContentType{i}", "application/octet-stream")]
    return params + geo_params(row["from"], row["to"])
