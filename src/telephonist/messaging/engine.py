"""The messaging engine: outbound sends through a carrier, delivery receipts, inbound SmsUrl webhooks.

Each step is one transaction that moves its messages along the MessageStatus table, writes the status
callback jobs and deletes its own job, so a crash anywhere replays a step at most once. A queued message
needs no job of its own: it carries the time it may go (`send_after`: its sender's pacing slot, or its
expiry), and the runner polls the messages due (`send_queued`) and sends each in the transaction that
marks it sent, so it reaches the carrier exactly once. A message that must wait first (for its media, a
sender from its Messaging Service, or its SendAt) is queued by a `message.prepare` job.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from sqlalchemy import Connection, DateTime, bindparam, func, select, update

from telephonist.messaging import media as media_files
from telephonist.messaging import services
from telephonist.messaging.segments import segment_info
from telephonist.messaging.senders import Pacer, QueueFull
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
# Every change after creation is reported (Twilio sends no callback for the initial status).
CALLBACK_STATUSES = {"queued", "sent", "delivered", "undelivered", "failed", "canceled"}
QUEUE_OVERFLOW = (30001, "Queue overflow")
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
    "messaging_service_sid",
    "expires_at",
)
SEND_ROW = select(*(messages.c[f] for f in _SEND_FIELDS)).where(messages.c.sid == bindparam("sid"))
_DUE = (
    select(*(messages.c[f] for f in _SEND_FIELDS))
    .where(messages.c.status == "queued", messages.c.send_after <= bindparam("now"))
    .order_by(messages.c.send_after)
    .limit(bindparam("n"))
    # Several engines on one PostgreSQL database each take messages no other has locked (SQLite: ignored).
    .with_for_update(skip_locked=True)
)
_NEXT_DUE = select(func.min(messages.c.send_after).label("due")).where(messages.c.status == "queued")
_READY = (
    update(messages)
    .where(messages.c.sid == bindparam("sid"))
    .values(
        send_after=bindparam("send_after"),
        expires_at=bindparam("expires_at"),
        num_media=bindparam("num_media"),
        date_updated=bindparam("now", type_=DateTime),
    )
)
_NUM_MEDIA = (
    update(messages).where(messages.c.sid == bindparam("sid")).values(num_media=bindparam("num_media"))
)
_SENDER = update(messages).where(messages.c.sid == bindparam("sid")).values(**{"from": bindparam("sender")})
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


def new_row(**fields: Any) -> Row:
    """A messages row: `fields`, and None for every column they leave out; updated when created."""
    return {**_EMPTY, "date_updated": fields["date_created"], **fields}


_EMPTY: Row = {c.key: None for c in messages.columns if c.key != "seq"}


@dataclass
class OutboundMessage:
    """A message to send. With no `from_`, its Messaging Service picks the sender (status `accepted`);
    with `send_at`, it waits until then (status `scheduled`)."""

    account_sid: str
    to: str
    from_: str | None
    body: str
    media: list[str] = field(default_factory=list)
    status_callback: str | None = None
    status_callback_method: str = "POST"
    messaging_service_sid: str | None = None
    validity: int = 36000  # ValidityPeriod, seconds
    send_at: dt.datetime | None = None


class Refused(Exception):
    """A message that cannot be taken: 21610 (the recipient opted out), 21611 (the sender's queue is full)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SubmitResult:
    """What a carrier says at submission: delivered later (receipt), or refused with a 30xxx code."""

    final_status: str  # delivered | undelivered | failed
    error_code: int | None = None
    error_message: str | None = None


class MessagingEngine:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.pacer = Pacer(platform.settings.sender_mps, platform.settings.time_scale)
        self._opt_outs, self._opt_outs_checked = True, 0.0

    # -- outbound ---------------------------------------------------------------------------------
    def create_outbound(self, conn: Tx, msg: OutboundMessage, direction: str, opt_in: bool = False) -> Row:
        """Store a message; the row as the API renders it. A message from a number takes its sender's
        next pacing slot and is due then, unless it has media to fetch first; any other goes through
        `prepare`. Raises Refused for a recipient who opted out (unless `opt_in`: the reply to the
        keyword itself) or a full sender queue."""
        now, t = utcnow(), time.time()
        q = raw(conn)
        if (
            not opt_in
            and self._any_opt_outs(q, t)
            and (
                services.opted_out(q, msg.messaging_service_sid, msg.to)
                if msg.messaging_service_sid
                else services.opted_out_of_number(q, msg.from_ or "", msg.to)
            )
        ):
            raise Refused(21610, "Attempt to send to unsubscribed recipient")
        sid = new_sid("MM" if msg.media else "SM")
        segments = segment_info(msg.body).num_segments or 1
        status = "scheduled" if msg.send_at else "queued" if msg.from_ else "accepted"
        slot = send_after = expires_at = None
        if status == "queued":
            assert msg.from_ is not None
            try:
                slot = self.pacer.reserve(q, msg.from_, segments, t)
            except QueueFull:
                raise Refused(
                    21611,
                    f"This 'From' number ({msg.from_}) has exceeded the maximum number of queued messages",
                ) from None
            expires_at = t + msg.validity * self.pacer.scale
            send_after = None if msg.media else min(slot, expires_at)
        row = new_row(
            sid=sid,
            account_sid=msg.account_sid,
            to=msg.to,
            body=msg.body,
            status=status,
            direction=direction,
            num_segments=segments,
            num_media=len(msg.media),
            messaging_service_sid=msg.messaging_service_sid,
            status_callback=msg.status_callback,
            status_callback_method=msg.status_callback_method,
            date_created=now,
            send_after=send_after,
            expires_at=expires_at,
            send_at=msg.send_at,
            **{"from": msg.from_ or ""},
        )
        q.run(_INSERT, row)
        if send_after is None:
            delay = (msg.send_at - now).total_seconds() * self.pacer.scale if msg.send_at else 0.0
            payload = {"sid": sid, "media": msg.media, "slot": slot, "validity": msg.validity}
            enqueue(q, "message.prepare", payload, delay=max(0.0, delay))
        return row

    async def prepare(self, job: Job) -> None:
        """Ready a message for its send: fetch its media, let its Messaging Service pick its sender (and
        take that sender's slot), then make it due. A canceled message is left alone."""
        sid: str = job.payload["sid"]
        with self.p.db.read() as q:
            row = q.first(_BY_SID, sid=sid)
        if row is None or row["status"] not in ("accepted", "scheduled", "queued") or row["send_after"]:
            with self.p.db.fast() as q:
                finish(q, job)
            return
        files: list[media_files.File] = []
        failure: tuple[int, str] | None = None
        try:
            files = await media_files.fetch_all(self.p, job.payload["media"])
        except FetchError as err:
            log.warning("media of %s: %s %s (%s)", sid, err.code, err.message, err.url)
            failure = (err.code, err.message)
        now, t = utcnow(), time.time()
        with self.p.db.fast() as q:
            row = q.first(_BY_SID, sid=sid)
            if row is None or row["status"] not in ("accepted", "scheduled", "queued") or row["send_after"]:
                finish(q, job)
                return
            slot = job.payload["slot"]
            if failure is None and row["status"] != "queued":
                failure, slot = self._take_sender(q, row, t)
            if failure is not None:
                self.move(q, row, "failed", now, *failure)
            else:
                media_files.store(q, row["account_sid"], sid, files)
                expires_at = row["expires_at"] or t + job.payload["validity"] * self.pacer.scale
                q.run(
                    _READY,
                    sid=sid,
                    send_after=min(slot, expires_at),
                    expires_at=expires_at,
                    num_media=len(files),
                    now=now,
                )
            finish(q, job)
        self.p.jobs.wake()

    def _take_sender(self, q: Raw, row: Row, t: float) -> tuple[tuple[int, str] | None, float]:
        """Queue an accepted or scheduled message: its service picks the sender, and it takes a slot."""
        svc = services.service(q, row["messaging_service_sid"] or "")
        sender = None if svc is None else services.pick_sender(q, svc, row["to"])
        if sender is None:
            return (21704, "The Messaging Service contains no phone numbers"), t
        try:
            slot = self.pacer.reserve(q, sender, row["num_segments"], t)
        except QueueFull:
            return QUEUE_OVERFLOW, t
        q.run(_SENDER, sid=row["sid"], sender=sender)
        self.move(q, {**row, "from": sender}, "queued", utcnow())
        return None, slot

    def create_reply(self, conn: Connection, msg: OutboundMessage, direction: str) -> Row | None:
        """A message TwiML sends (<Message>, <Sms>): one that is refused is a notification, not an error
        (create_outbound refuses before it writes anything)."""
        try:
            return self.create_outbound(conn, msg, direction)
        except Refused as err:
            log.warning("%s to %s refused: %s %s", direction, msg.to, err.code, err.message)
            notifications.record(conn, msg.account_sid, err.code, err.message)
            return None

    def _any_opt_outs(self, q: Raw, t: float) -> bool:
        """Whether anyone opted out at all, asked of the database once a second (a STOP taken here
        counts at once): most platforms have no opt-outs, and then a send needs no look-up."""
        if t - self._opt_outs_checked > 1.0:
            self._opt_outs, self._opt_outs_checked = services.any_opt_outs(q), t
        return self._opt_outs

    def cancel(self, q: Raw, row: Row) -> None:
        """Status=canceled on a scheduled message."""
        self.move(q, row, "canceled", utcnow())

    def next_send(self, q: Raw) -> float | None:
        """When the next queued message is due (the runner sleeps until then)."""
        row = q.first(_NEXT_DUE)
        return None if row is None or row["due"] is None else float(row["due"])

    def send_queued(self, q: Raw, limit: int) -> int:
        """Hand the messages due to the carrier: queued → sending → sent (or failed); one past its
        validity fails with 30001. Their delivery receipts travel together in one job. How many
        messages were taken."""
        t = time.time()
        rows = q.all(_DUE, now=t, n=limit)
        if not rows:
            return 0
        now = utcnow()
        expired = [r for r in rows if r["expires_at"] is not None and r["expires_at"] <= t]
        for row in expired:
            self.move(q, row, "failed", now, *QUEUE_OVERFLOW)
        if expired:
            rows = [r for r in rows if not (r["expires_at"] is not None and r["expires_at"] <= t)]
        if self.p.smpp.carriers:
            rows = self.p.smpp.hand_over(q, rows, t)
        results = self.p.sim.submit_all(q, rows)
        receipts = []
        plain = []  # sent, with no status callback: one executemany
        for row, result in zip(rows, results, strict=True):
            check_message("queued", "sending")
            if result.final_status == "failed":
                self.move(q, row, "failed", now, result.error_code, result.error_message, old="sending")
                continue
            has_callback = bool(row["status_callback"])
            if has_callback:
                self.move(q, row, "sent", now, old="sending", date_sent=now)
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
                row = q.first(SEND_ROW, sid=sid)
                if row is not None and row["status"] == "sent":
                    self.move(q, row, status, now, error_code, error_message)
        keys = ("sid", "status", "error_code", "error_message")
        q.many(_RECEIVED, [dict(zip(keys, receipt, strict=True), now=now) for receipt in plain])
        finish_all(q, jobs)

    def _get(self, conn: Tx, sid: str) -> Row | None:
        return raw(conn).first(_BY_SID, sid=sid)

    def move(
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
            if row["messaging_service_sid"]:
                params.append(("MessagingServiceSid", row["messaging_service_sid"]))
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
        """A message arrives at a platform number: store it and queue the SmsUrl webhook. STOP, START
        and HELP are answered here, as Twilio does by default, and the app is told with OptOutType."""
        now = utcnow()
        media = media or []
        sid = new_sid("MM" if media else "SM")
        q = raw(conn)
        svc = services.service_of(q, number["phone_number"])
        q.run(
            _INSERT,
            new_row(
                sid=sid,
                account_sid=number["account_sid"],
                to=number["phone_number"],
                body=body,
                status="received",
                direction="inbound",
                num_segments=segment_info(body).num_segments or 1,
                num_media=len(media),
                messaging_service_sid=svc["sid"] if svc is not None else None,
                date_created=now,
                date_sent=now,
                **{"from": from_},
            ),
        )
        opt_out = services.keyword(body)
        if opt_out is not None:
            scope = svc["sid"] if svc is not None else number["phone_number"]
            services.apply_keyword(q, opt_out, number["account_sid"], scope, from_)
            self._opt_outs = self._opt_outs or opt_out == "STOP"
            reply = OutboundMessage(
                number["account_sid"], from_, number["phone_number"], services.REPLIES[opt_out]
            )
            try:
                self.create_outbound(q, reply, direction="outbound-reply", opt_in=True)
            except Refused as err:  # the sender's queue is full: the keyword still counts
                log.warning("%s reply to %s refused: %s %s", opt_out, from_, err.code, err.message)
        key = f"inbound:{from_}:{number['sid']}"
        enqueue(q, "message.inbound", {"sid": sid, "media": media, "key": key, "opt_out": opt_out})
        return sid

    async def handle_inbound(self, job: Job) -> None:
        with self.p.db.tx() as conn:
            row = self._get(conn, job.payload["sid"])
            hook = token = None
            if row is not None:
                hook = self._inbound_hook(raw(conn), row)
                token = account_token(conn, row["account_sid"])
        if row is None or hook is None or token is None:
            with self.p.db.tx() as conn:
                finish(conn, job)
            return
        media: list[tuple[str, str]] = []
        if job.payload.get("media"):
            media = await self._inbound_media(row, job.payload["media"])
        params = inbound_params(row, media, job.payload.get("opt_out"))
        replies = await self._run_sms_url(row, hook, params, token)
        with self.p.db.tx() as conn:
            for reply in replies[:MAX_REPLIES]:
                self.create_reply(conn, reply, "outbound-reply")
            if len(replies) > MAX_REPLIES:
                notifications.record(conn, row["account_sid"], 14109, "Reply message limit (10) exceeded")
            finish(conn, job)
        self.p.jobs.wake()

    def _inbound_hook(self, q: Raw, row: Row) -> dict[str, Any] | None:
        """Where an inbound message goes: the Messaging Service's inbound URL, unless the service defers
        to the number's own webhook or has none; None when there is nowhere to send it."""
        svc = services.service(q, row["messaging_service_sid"]) if row["messaging_service_sid"] else None
        hook: dict[str, Any] | None
        if svc is not None and not svc["use_inbound_webhook_on_number"] and svc["inbound_request_url"]:
            hook = {
                "sms_url": svc["inbound_request_url"],
                "sms_method": svc["inbound_method"],
                "sms_fallback_url": svc["fallback_url"],
                "sms_fallback_method": svc["fallback_method"],
            }
        else:
            number = self.p.number_owner(q, row["to"])
            hook = None if number is None else dict(webhooks_of(q, number, "sms"))
        return hook if hook is not None and hook["sms_url"] else None

    async def _inbound_media(self, row: Row, urls: list[str]) -> list[tuple[str, str]]:
        """Fetch and keep an inbound message's media; (URL, content type) of each as the app sees it.
        Media that cannot be had is left out, and the account is told (11200, 11751, 12300)."""
        try:
            files = await media_files.fetch_all(self.p, urls)
        except FetchError as err:
            self._notify(row, err.code, err.message, err.url, "GET", [], "")
            files = []
        with self.p.db.fast() as q:
            media_files.store(q, row["account_sid"], row["sid"], files)
            q.run(_NUM_MEDIA, sid=row["sid"], num_media=len(files))
            return media_files.urls_of(q, self.p.settings.base_url, row)

    async def _run_sms_url(
        self, row: Row, number: Mapping[str, Any], params: list[tuple[str, str]], token: str
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


def inbound_params(row: Row, media: list[tuple[str, str]], opt_out: str | None) -> list[tuple[str, str]]:
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
    if row["messaging_service_sid"]:
        params.append(("MessagingServiceSid", row["messaging_service_sid"]))
    if opt_out is not None:
        params.append(("OptOutType", opt_out))
    for i, (url, content_type) in enumerate(media):
        params += [(f"MediaUrl{i}", url), (f"MediaContentType{i}", content_type)]
    return params + geo_params(row["from"], row["to"])
