"""SMS over SMPP carriers: messages routed by destination prefix, each carrier's outbox (the messages
`sending` through it), submit_sm answers (sent, or failed with a Twilio code), delivery receipts
(delivered, undelivered, failed) and inbound deliver_sm (reassembled, then received like any message).

A message leaves the outbox only in the transaction that records it sent or failed, so a carrier that
goes down, or a restart, sends it again from the first part the SMSC has not acknowledged. While its SMSC
is down a message waits no longer than its ValidityPeriod, queued or in the outbox: past it, it fails with
30001 as a queued message does.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from telephonist.carriers.smpp.carrier import NotBound, SmppCarrier, SubmitRefused, Unanswered
from telephonist.carriers.smpp.pdu import (
    ESME_RINVDSTADR,
    ESME_ROK,
    ESME_RSYSERR,
    ESME_RX_T_APPN,
    DeliverSm,
    SubmitSm,
    status_name,
)
from telephonist.carriers.smpp.text import Reassembler, TextError, encode_parts, receipt_from_pdu
from telephonist.messaging.engine import QUEUE_OVERFLOW, SEND_ROW
from telephonist.numbers import to_e164
from telephonist.store import notifications
from telephonist.store.db import Raw, Row, Unavailable, utcnow
from telephonist.store.models import message_parts, messages

if TYPE_CHECKING:
    from telephonist.app import Platform

log = logging.getLogger("telephonist.smpp")
INTERMEDIATE = frozenset({"ENROUTE", "ACCEPTD"})
# A receipt's stat as a Twilio status and error (GSM MAP err codes refine UNDELIV).
RECEIPTS: dict[str, tuple[str, int | None, str | None]] = {
    "DELIVRD": ("delivered", None, None),
    "UNDELIV": ("undelivered", 30003, "Unreachable destination handset"),
    "EXPIRED": ("undelivered", 30003, "Unreachable destination handset"),
    "DELETED": ("undelivered", 30008, "Unknown error"),
    "UNKNOWN": ("undelivered", 30008, "Unknown error"),
    "REJECTD": ("failed", 30007, "Message filtered"),
}
UNDELIV_ERRORS = {
    "001": (30005, "Unknown destination handset"),
    "011": (30006, "Landline or unreachable carrier"),
    "013": (30004, "Message blocked"),
}
SUBMIT_ERRORS = {ESME_RINVDSTADR: (30005, "Unknown destination handset")}
RECEIPT_WAIT = 2.0  # a receipt may overtake the commit of its submit_sm_resp: look again this long
DOWN_CHECK = 1.0  # while a carrier is down, how often its outbox is looked at for expired messages
REASSEMBLY_SECONDS = 300.0

# A carrier's outbox on this engine: with several engines bound to one SMSC, each submits its own.
_OUTBOX = (
    select(messages)
    .where(
        messages.c.status == "sending",
        messages.c.carrier == bindparam("carrier"),
        messages.c.node == bindparam("node"),
    )
    .order_by(messages.c.send_after)
)
_SENDING = (
    update(messages)
    .where(messages.c.sid == bindparam("sid"))
    .values(
        status="sending", carrier=bindparam("carrier"), node=bindparam("node"), date_updated=bindparam("now")
    )
)
# The outbox of a node that is gone, taken over by this one (nodes.py); and of none, left before nodes.
_ADOPT = (
    update(messages)
    .where(messages.c.status == "sending", messages.c.node == bindparam("dead"))
    .values(node=bindparam("node"))
)
_ADOPT_ORPHANS = (
    update(messages)
    .where(messages.c.status == "sending", messages.c.node.is_(None))
    .values(node=bindparam("node"))
)
_EXPIRED = _OUTBOX.where(messages.c.expires_at <= bindparam("now"))
_DEFER = update(messages).where(messages.c.sid == bindparam("sid")).values(send_after=bindparam("send_after"))
_PARTS = select(message_parts).where(message_parts.c.message_sid == bindparam("sid"))
_PART = select(message_parts).where(
    message_parts.c.carrier == bindparam("carrier"), message_parts.c.smsc_message_id == bindparam("id")
)
_NEW_PART = message_parts.insert()
_STAT = (
    update(message_parts)
    .where(
        message_parts.c.carrier == bindparam("carrier"), message_parts.c.smsc_message_id == bindparam("id")
    )
    .values(stat=bindparam("stat"))
)
_LAST_REF = (
    select(message_parts.c.ref)
    .join(messages, messages.c.sid == message_parts.c.message_sid)
    .order_by(messages.c.seq.desc())
    .limit(1)
)


def smpp_address(number: str, ton: int | None = None, npi: int | None = None) -> tuple[int, int, str]:
    """(TON, NPI, address) of a number on the wire: +E.164 as international/ISDN without the plus, a short
    code as national, a name as alphanumeric; `ton`/`npi` override."""
    if number.startswith("+") and number[1:].isdigit():
        default = (1, 1, number[1:])
    elif number.isdigit():
        default = (3, 0, number)
    else:
        default = (5, 0, number)
    return (default[0] if ton is None else ton, default[1] if npi is None else npi, default[2])


def platform_address(address: str, ton: int) -> str:
    """An address from the wire as Telephonist writes numbers: E.164 when it is one."""
    if ton == 1 and address.isdigit():
        return "+" + address
    if address.startswith("+") or (address.isdigit() and len(address) >= 10):
        return to_e164("+" + address.lstrip("+")) or address
    return address


def id_forms(message_id: str) -> list[str]:
    """The forms a receipt may give an SMSC message id in: as given, and its hex/decimal twin (SMPP 3.4
    leaves the receipt's id format open, and SMSCs differ)."""
    forms = [message_id]
    stripped = message_id.lstrip("0") or "0"
    if stripped.isdigit():
        forms += [stripped, format(int(stripped), "x"), format(int(stripped), "X")]
    if all(c in "0123456789abcdefABCDEF" for c in stripped):
        forms.append(str(int(stripped, 16)))
    return list(dict.fromkeys(forms))


def outcome(parts: list[Mapping[str, Any]]) -> tuple[str, int | None, str | None] | None:
    """A message's final status from its parts' receipts: the first bad one, or delivered once every
    part is; None while receipts are missing."""
    for part in parts:
        stat = part["stat"]
        if stat and stat != "DELIVRD":
            return RECEIPTS.get(stat, RECEIPTS["UNKNOWN"])
    if parts and all(p["stat"] == "DELIVRD" for p in parts):
        return RECEIPTS["DELIVRD"]
    return None


class SmppGateway:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.carriers = {c.name: SmppCarrier(c, self.on_deliver) for c in platform.settings.smpp_carriers}
        self._routes = sorted(
            ((prefix, c) for c in self.carriers.values() for prefix in c.config.prefixes),
            key=lambda pc: -len(pc[0]),
        )
        self._wake: dict[str, asyncio.Event] = {}
        self._queues: dict[str, deque[Row]] = {name: deque() for name in self.carriers}
        self._reload = set(self.carriers)  # carriers whose outbox must be read from the database
        self._reassembler = Reassembler(timeout=REASSEMBLY_SECONDS)
        self._refs = itertools.cycle(range(256))
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[asyncio.Task[None]] = set()
        # Messages a part of which went out unanswered before a link dropped (this process's life).
        self.unanswered: set[str] = set()

    def route(self, to: str) -> SmppCarrier | None:
        for prefix, carrier in self._routes:
            if to.startswith(prefix):
                return carrier
        return None

    def adopt(self, q: Raw, dead: str | None) -> None:
        """Take over the outbox of a node that is gone (None: messages of no node, from before nodes): what
        it had not submitted is submitted from here, from the first part the SMSC has not acknowledged (a
        part in flight when it died may go twice)."""
        me = self.p.nodes.id
        if q.run(_ADOPT, dead=dead, node=me) if dead is not None else q.run(_ADOPT_ORPHANS, node=me):
            self._reload |= set(self.carriers)
            for wake in self._wake.values():
                wake.set()

    def start(self) -> None:
        with self.p.db.read() as q:  # go on from the last reference used, so a restart reuses none soon
            last = q.first(_LAST_REF)
        first = 0 if last is None else (last["ref"] + 1) % 256
        self._refs = itertools.cycle([*range(first, 256), *range(first)])
        for name, carrier in self.carriers.items():
            carrier.start()
            self._wake[name] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._pump(carrier)))
        if self.carriers:
            self._tasks.append(asyncio.create_task(self._expire_parts()))

    async def stop(self) -> None:
        """Take no more from the outboxes, let the submits under way record their answers (or a part the
        SMSC took would be sent again after the restart), then unbind."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sending:  # a throttled SMSC may hold a submit's answer back for seconds
            await asyncio.wait(self._sending, timeout=15.0)
        await asyncio.gather(*(c.stop() for c in self.carriers.values()), return_exceptions=True)

    # -- from the engine's send poller ----------------------------------------------------------------
    def hand_over(self, q: Raw, rows: list[Row], now: float) -> list[Row]:
        """Put the rows routed to a bound carrier in its outbox (`sending`); keep those whose carrier is
        down queued for another second; return the rest, for the simulated network."""
        rest = []
        for row in rows:
            carrier = self.route(row["to"])
            if carrier is None:
                rest.append(row)
            elif carrier.bound.is_set():
                q.run(_SENDING, sid=row["sid"], carrier=carrier.name, node=self.p.nodes.id, now=utcnow())
                self._queues[carrier.name].append({**row, "status": "sending"})
                self._wake[carrier.name].set()
            else:  # looked at again in a second, or when it expires (then it fails with 30001)
                expires_at = row["expires_at"]
                q.run(_DEFER, sid=row["sid"], send_after=min(now + 1.0, expires_at or now + 1.0))
        return rest

    # -- the outbox -------------------------------------------------------------------------------------
    async def _pump(self, carrier: SmppCarrier) -> None:
        """Submit what is handed over; after a start or a dropped link, first what the database holds
        in the outbox (those may have parts the SMSC already took)."""
        in_flight: set[str] = set()
        slots = asyncio.Semaphore(carrier.config.window * 2)
        wake, queue = self._wake[carrier.name], self._queues[carrier.name]
        while True:
            while not carrier.bound.is_set():
                try:
                    async with asyncio.timeout(DOWN_CHECK):
                        await carrier.bound.wait()
                except TimeoutError:
                    await self._expire_outbox(carrier, in_flight)
            wake.clear()
            if carrier.name in self._reload:
                known = in_flight | {r["sid"] for r in queue}
                try:
                    with self.p.db.read() as q:
                        rows = q.all(_OUTBOX, carrier=carrier.name, node=self.p.nodes.id)
                except Unavailable as exc:  # read once the database is back
                    log.warning("SMSC %s: reading its outbox failed (%s); trying again", carrier.name, exc)
                    await asyncio.sleep(DOWN_CHECK)
                    continue
                self._reload.discard(carrier.name)
                queue.extendleft(reversed([{**r, "resumed": True} for r in rows if r["sid"] not in known]))
            while queue and carrier.bound.is_set():
                row = queue.popleft()
                if row["sid"] in in_flight:
                    continue
                await slots.acquire()
                in_flight.add(row["sid"])
                task = asyncio.create_task(self._send_one(carrier, row, in_flight, slots))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            if not queue:
                try:
                    async with asyncio.timeout(1.0):
                        await wake.wait()
                except TimeoutError:
                    pass

    async def _expire_outbox(self, carrier: SmppCarrier, in_flight: set[str]) -> None:
        """The carrier is down: messages of its outbox past their ValidityPeriod fail with 30001 now, not
        when it is back (a submit under way is left to finish)."""
        try:
            async with self.p.db.write() as q:
                rows = q.all(_EXPIRED, carrier=carrier.name, node=self.p.nodes.id, now=time.time())
                rows = [r for r in rows if r["sid"] not in in_flight]
                now = utcnow()
                for row in rows:
                    self.p.messaging.move(q, row, "failed", now, *QUEUE_OVERFLOW)
        except Exception:
            log.exception("expiring the outbox of SMSC %s failed", carrier.name)
            return
        if not rows:
            return
        expired = {r["sid"] for r in rows}
        queue = self._queues[carrier.name]
        kept = [r for r in queue if r["sid"] not in expired]
        queue.clear()
        queue.extend(kept)
        log.warning("SMSC %s is down: %d messages of its outbox expired (30001)", carrier.name, len(rows))
        self.p.jobs.wake()

    async def _send_one(
        self, carrier: SmppCarrier, row: Row, in_flight: set[str], slots: asyncio.Semaphore
    ) -> None:
        try:
            await self._send(carrier, row)
        except Unavailable as exc:  # before anything went out: it stays in the outbox, read again
            log.warning(
                "sending %s through SMSC %s: the database is unavailable (%s)", row["sid"], carrier.name, exc
            )
            self._reload.add(carrier.name)
        except Exception:
            log.exception("sending %s through SMSC %s failed", row["sid"], carrier.name)
        finally:
            in_flight.discard(row["sid"])
            slots.release()

    async def _send(self, carrier: SmppCarrier, row: Row) -> None:
        engine = self.p.messaging
        if row["expires_at"] is not None and row["expires_at"] <= time.time():
            async with self.p.db.write() as q:
                engine.move(q, row, "failed", utcnow(), 30001, "Queue overflow")
            return
        cfg = carrier.config
        sent = []
        if row.get("resumed"):
            with self.p.db.read() as q:
                sent = q.all(_PARTS, sid=row["sid"])
        # Parts of one message share a reference, also when the rest go after a reconnect; messages in
        # flight together get different ones, or a handset would join parts of two messages.
        ref = sent[0]["ref"] if sent else next(self._refs)
        done = {p["part"] for p in sent}
        parts = encode_parts(row["body"], ref, use_payload=cfg.use_payload)
        src_ton, src_npi, source = smpp_address(row["from"], cfg.source_ton, cfg.source_npi)
        dst_ton, dst_npi, destination = smpp_address(row["to"])
        for index, part in enumerate(parts):
            if index in done:
                continue
            pdu = SubmitSm(
                source_addr_ton=src_ton,
                source_addr_npi=src_npi,
                source_addr=source,
                dest_addr_ton=dst_ton,
                dest_addr_npi=dst_npi,
                destination_addr=destination,
                esm_class=part.esm_class,
                registered_delivery=1,
                data_coding=part.data_coding,
                short_message=part.short_message,
                tlvs=dict(part.tlvs),
            )
            try:
                smsc_id = await carrier.submit(pdu)
            except Unanswered:
                log.warning(
                    "%s part %d: the link to SMSC %s went down before it answered; the part goes again "
                    "once bound, and the SMSC may deliver it twice if it had taken it",
                    row["sid"],
                    index + 1,
                    carrier.name,
                )
                self.unanswered.add(row["sid"])
                self._reload.add(carrier.name)
                return
            except NotBound:
                self._reload.add(carrier.name)
                return  # stays in the outbox: sent again, from this part, once bound
            except SubmitRefused as refused:
                code, text = SUBMIT_ERRORS.get(refused.status, (30008, "Unknown error"))
                log.warning(
                    "%s refused by SMSC %s: %s", row["sid"], carrier.name, status_name(refused.status)
                )
                await self._recorded(row["sid"], functools.partial(self._refusal, row, code, text))
                return
            last = index == len(parts) - 1
            part_row = {
                "carrier": carrier.name,
                "smsc_message_id": smsc_id,
                "message_sid": row["sid"],
                "part": index,
                "ref": ref,
                "stat": None,
            }
            await self._recorded(
                row["sid"], functools.partial(self._part_taken, row, part_row, last, len(parts) > 1)
            )
        self.p.jobs.wake()

    def _part_taken(
        self, row: Row, part: dict[str, Any], last: bool, multipart: bool, q: Raw, again: bool
    ) -> None:
        """The SMSC took a part: it is recorded, and with the last the message is sent."""
        if again and q.first(_PART, carrier=part["carrier"], id=part["smsc_message_id"]) is not None:
            return  # the COMMIT that was lost had been written
        q.run(_NEW_PART, part)
        if last:
            now = utcnow()
            self.p.messaging.move(q, row, "sent", now, date_sent=now)
            if multipart:  # an earlier part's receipt may be in (a part's waits for it)
                self._settle(q, row["sid"])

    def _refusal(self, row: Row, code: int, text: str, q: Raw, again: bool) -> None:
        if not again or self._still_sending(q, row["sid"]):
            self.p.messaging.move(q, row, "failed", utcnow(), code, text)

    async def _recorded(self, sid: str, block: Callable[[Raw, bool], None]) -> None:
        """Run `block` in a write transaction until it is committed: what the SMSC answered must be
        recorded, or the message would leave the outbox again (and reach the handset twice). `block` is
        told whether this is another try, when a lost COMMIT may have been written after all."""
        pause, again = 0.05, False
        while True:
            try:
                async with self.p.db.write() as q:
                    block(q, again)
                return
            except Unavailable as exc:
                log.warning(
                    "%s: the database is unavailable (%s); recording the SMSC's answer later", sid, exc
                )
                await asyncio.sleep(pause)
                pause, again = min(2.0, pause * 2), True

    @staticmethod
    def _still_sending(q: Raw, sid: str) -> bool:
        row = q.first(SEND_ROW, sid=sid)
        return row is not None and row["status"] == "sending"

    def _settle(self, q: Raw, sid: str, err: str | None = None) -> None:
        """Give a sent message its final status once its parts' receipts decide it; `err` of an UNDELIV
        receipt (a GSM MAP error) makes the Twilio code more precise."""
        row = q.first(SEND_ROW, sid=sid)
        if row is None or row["status"] != "sent":
            return
        final = outcome(q.all(_PARTS, sid=sid))
        if final is None:
            return
        status, code, text = final
        if code == RECEIPTS["UNDELIV"][1] and err in UNDELIV_ERRORS:
            code, text = UNDELIV_ERRORS[err]
        self.p.messaging.move(q, row, status, utcnow(), code, text)

    # -- deliver_sm ------------------------------------------------------------------------------------
    async def on_deliver(self, carrier: SmppCarrier, pdu: DeliverSm) -> int:
        receipt = receipt_from_pdu(pdu)
        try:
            if receipt is not None:
                return await self._receipt(carrier, receipt.message_id, receipt.stat, receipt.err)
            return await self._inbound(carrier, pdu)
        except Unavailable as exc:
            log.warning(
                "SMSC %s: deliver_sm refused for now, the database is unavailable (%s)", carrier.name, exc
            )
            return ESME_RX_T_APPN  # a temporary error: the SMSC delivers it again later

    async def _receipt(self, carrier: SmppCarrier, message_id: str, stat: str | None, err: str | None) -> int:
        """Apply a receipt to the part it names. An SMSC may send a receipt before the submit_sm_resp
        of its part has been recorded, so the exact id is looked for again for RECEIPT_WAIT; only then
        its hex/decimal twins, and only among parts with no receipt yet (a twin can be another
        message's id)."""
        if not stat or stat in INTERMEDIATE:
            return ESME_ROK
        deadline = time.monotonic() + RECEIPT_WAIT
        while True:
            late = time.monotonic() > deadline
            async with self.p.db.write() as q:
                part = q.first(_PART, carrier=carrier.name, id=message_id)
                if part is None and late:
                    twins = (q.first(_PART, carrier=carrier.name, id=i) for i in id_forms(message_id)[1:])
                    part = next((t for t in twins if t is not None and t["stat"] is None), None)
                if part is not None:
                    q.run(_STAT, carrier=carrier.name, id=part["smsc_message_id"], stat=stat)
                    self._settle(q, part["message_sid"], err)
                    break
            if late:
                log.warning(
                    "SMSC %s sent a receipt for unknown message id %s (%s)", carrier.name, message_id, stat
                )
                return ESME_ROK
            await asyncio.sleep(0.05)
        self.p.jobs.wake()
        return ESME_ROK

    async def _inbound(self, carrier: SmppCarrier, pdu: DeliverSm) -> int:
        to = platform_address(pdu.destination_addr, pdu.dest_addr_ton)
        sender = platform_address(pdu.source_addr, pdu.source_addr_ton)
        with self.p.db.read() as q:
            number = self.p.number_owner(q, to)
        if number is None:
            log.warning("SMSC %s: inbound message to %s, which is no platform number", carrier.name, to)
            return ESME_RINVDSTADR
        try:
            text = self._reassembler.add(pdu, time.monotonic())
        except TextError as err:
            log.warning("SMSC %s: inbound message from %s refused: %s", carrier.name, sender, err)
            return err.status
        if text is None:
            return ESME_ROK  # a part of a longer message: kept until the rest arrives
        try:
            async with self.p.db.write() as q:
                sid = self.p.messaging.receive(q, number, sender, text)
        except Exception:
            log.exception("SMSC %s: storing an inbound message failed", carrier.name)
            return ESME_RSYSERR
        log.info("SMSC %s: inbound %s from %s to %s", carrier.name, sid, sender, to)
        self.p.jobs.wake()
        return ESME_ROK

    async def _expire_parts(self) -> None:
        """Concatenated messages whose parts stopped coming: the account hears of it (30009)."""
        while True:
            await asyncio.sleep(10.0)
            try:
                self._report_missing_parts()
            except Exception:
                log.exception("reporting missing inbound segments failed")

    def _report_missing_parts(self) -> None:
        """Concatenated messages whose parts stopped coming, each told to its account once."""
        for partial in self._reassembler.expire(time.monotonic()):
            to = platform_address(partial.destination_addr, 1)
            with self.p.db.read() as q:
                number = self.p.number_owner(q, to)
            if number is None:
                continue
            with self.p.db.tx() as conn:
                notifications.record(
                    conn,
                    number["account_sid"],
                    30009,
                    f"Missing inbound segment: {partial.total} parts from {partial.source_addr}, "
                    "not all arrived",
                )

    def status(self) -> list[dict[str, Any]]:
        """Each bind's state and throughput, for `telephonist carriers` and /metrics."""
        now = time.monotonic()
        return [
            {
                "name": c.name,
                "host": c.config.host,
                "port": c.config.port,
                "bind": c.config.bind,
                "state": c.state,
                "bound_since": c.stats.bound_since,
                "submitted": c.stats.submitted,
                "accepted": c.stats.accepted,
                "refused": c.stats.refused,
                "throttled": c.stats.throttled,
                "deliver_sm": c.stats.delivered,
                "reconnects": c.stats.reconnects,
                "per_second": round(c.stats.rate(now), 1),
                "last_error": c.stats.last_error,
            }
            for c in self.carriers.values()
        ]
