"""The SMPP server face as messaging sees it: a submit_sm from a bound ESME (its concatenated parts joined
first) becomes a Message of the ESME's account that travels like an API message, and once the message is
final its receipt goes back to the ESME as a deliver_sm. What is owed survives a restart (smpp_submits)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, or_, select, update

from telephonist.carriers.smpp.pdu import (
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_UDHI,
    ESME_RINVDSTADR,
    ESME_RINVMSGLEN,
    ESME_RINVSRCADR,
    ESME_RMSGQFUL,
    ESME_RX_R_APPN,
    MESSAGE_STATE,
    RECEIPTED_MESSAGE_ID,
    DeliverSm,
    SubmitSm,
    SubmitSmResp,
)
from telephonist.carriers.smpp.server import Esme, SmppServer
from telephonist.carriers.smpp.text import (
    Reassembler,
    Receipt,
    TextError,
    format_receipt,
    split_udh,
)
from telephonist.messaging.engine import FINAL_STATUSES, OutboundMessage, Refused
from telephonist.messaging.smpp import platform_address, smpp_address
from telephonist.numbers import MAGIC_INVALID, to_e164
from telephonist.store.db import insert_row, utcnow
from telephonist.store.models import messages, smpp_submits

if TYPE_CHECKING:
    from telephonist.app import Platform

log = logging.getLogger("telephonist.smpp")
MAX_BODY = 1600
# A final Twilio status as a receipt's stat and message_state.
STATS = {"delivered": ("DELIVRD", 2), "undelivered": ("UNDELIV", 5), "failed": ("UNDELIV", 5)}
FAILED_STATS = {30001: ("EXPIRED", 3), 30007: ("REJECTD", 8)}
REFUSALS = {21610: ESME_RX_R_APPN, 21611: ESME_RMSGQFUL}

_NEW = insert_row(smpp_submits)
_JOIN = (
    update(smpp_submits)
    .where(smpp_submits.c.message_id == bindparam("message_id"))
    .values(message_sid=bindparam("message_sid"))
)
_FORGET = delete(smpp_submits).where(smpp_submits.c.message_id == bindparam("message_id"))
_OWED = (
    select(smpp_submits, messages.c.status, messages.c.error_code, messages.c.to, messages.c["from"])
    .join(messages, messages.c.sid == smpp_submits.c.message_sid)
    .where(or_(*(messages.c.status == status for status in sorted(FINAL_STATUSES))))
    .limit(500)
)


class SmppFace:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        settings = platform.settings
        self.users = {u.system_id: u for u in settings.smpp_users}
        self.server = (
            SmppServer(settings.host, settings.smpp_port, self.authenticate, self.on_submit)
            if settings.smpp_port
            else None
        )
        self._reassembler = Reassembler()
        self._groups: dict[tuple[str, str, int, int], list[str]] = {}  # parts' message_ids, until all came
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.server is not None:
            await self.server.start()
            self._task = asyncio.create_task(self._receipts())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.server is not None:
            await self.server.stop()

    def authenticate(self, system_id: str, password: str) -> str | None:
        user = self.users.get(system_id)
        expected = user.password if user is not None else secrets.token_hex(8)
        ok = hmac.compare_digest(password.encode(), expected.encode())
        return user.account_sid if user is not None and ok else None

    async def on_submit(self, esme: Esme, pdu: SubmitSm) -> SubmitSmResp:
        to = to_e164(platform_address(pdu.destination_addr, pdu.dest_addr_ton))
        sender = platform_address(pdu.source_addr, pdu.source_addr_ton)
        if to is None or to == MAGIC_INVALID:
            return SubmitSmResp(command_status=ESME_RINVDSTADR)
        with self.p.db.read() as q:
            owner = self.p.number_owner(q, sender)
        if owner is None or owner["account_sid"] != esme.account_sid:
            log.warning("SMPP %s: source %s is no number of %s", esme.system_id, sender, esme.account_sid)
            return SubmitSmResp(command_status=ESME_RINVSRCADR)
        try:
            group = self._group(pdu, sender, to)
            text = self._reassembler.add(pdu, time.monotonic())
        except TextError as err:
            return SubmitSmResp(command_status=err.status)
        if text is not None and len(text) > MAX_BODY:
            return SubmitSmResp(command_status=ESME_RINVMSGLEN)
        # 18 digits: an ESME may read the id as a signed 64-bit number (Kannel does).
        message_id = str(secrets.randbelow(9 * 10**17) + 10**17)
        ids = self._groups.setdefault(group, []) if group is not None else []
        ids.append(message_id)  # every part's id: all of them name the message once it is whole
        async with self.p.db.write() as q:
            q.run(
                _NEW,
                message_id=message_id,
                system_id=esme.system_id,
                message_sid=None,
                registered_delivery=pdu.registered_delivery & 0x03,
                date_created=utcnow(),
            )
            if text is not None:
                if group is not None:
                    del self._groups[group]
                msg = OutboundMessage(esme.account_sid, to, sender, text)
                try:
                    with q.savepoint():
                        row = self.p.messaging.create_outbound(q, msg, direction="outbound-api")
                except Refused as refused:
                    log.warning("SMPP %s: message to %s refused: %s", esme.system_id, to, refused.message)
                    for part_id in ids:
                        q.run(_FORGET, message_id=part_id)
                    return SubmitSmResp(command_status=REFUSALS.get(refused.code, ESME_RX_R_APPN))
                q.many(_JOIN, [{"message_id": part_id, "message_sid": row["sid"]} for part_id in ids])
                log.info("SMPP %s: %s to %s as %s", esme.system_id, row["sid"], to, message_id)
        self.p.jobs.wake()
        return SubmitSmResp(message_id=message_id)

    @staticmethod
    def _group(pdu: SubmitSm, sender: str, to: str) -> tuple[str, str, int, int] | None:
        """Which concatenated message a part belongs to; None for a whole message."""
        if not pdu.esm_class & ESM_CLASS_UDHI:
            return None
        concat, _ = split_udh(pdu.short_message)
        return None if concat is None else (sender, to, concat.ref, concat.total)

    async def _receipts(self) -> None:
        """Send each receipt owed once its message is final, to a receiving bind of the ESME."""
        while True:
            await asyncio.sleep(0.2)
            try:
                await self._send_receipts()
            except Exception:
                log.exception("sending SMPP receipts failed")

    async def _send_receipts(self) -> None:
        assert self.server is not None
        with self.p.db.read() as q:
            owed = q.all(_OWED)
        for row in owed:
            stat, state = STATS.get(row["status"], ("DELETED", 4))
            if row["status"] == "failed":
                stat, state = FAILED_STATS.get(row["error_code"] or 0, (stat, state))
            wanted = row["registered_delivery"] == 1 or (
                row["registered_delivery"] == 2 and stat != "DELIVRD"
            )
            if wanted:
                receipt = self._receipt(row["message_id"], stat, row["error_code"])
                _, _, source = smpp_address(row["to"])
                _, _, destination = smpp_address(row["from"])
                pdu = DeliverSm(
                    source_addr_ton=1,
                    source_addr_npi=1,
                    source_addr=source,
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=destination,
                    esm_class=ESM_CLASS_DELIVERY_RECEIPT,
                    short_message=format_receipt(receipt).encode("ascii"),
                    tlvs={
                        RECEIPTED_MESSAGE_ID: row["message_id"].encode() + b"\0",
                        MESSAGE_STATE: bytes([state]),
                    },
                )
                if not await self.server.deliver(row["system_id"], pdu):
                    continue  # no receiving bind now: the receipt waits for one
            async with self.p.db.write() as q:
                q.run(_FORGET, message_id=row["message_id"])

    @staticmethod
    def _receipt(message_id: str, stat: str, error_code: int | None) -> Receipt:
        now = utcnow()
        return Receipt(
            message_id=message_id,
            stat=stat,
            err=f"{(error_code or 0) % 1000:03d}",
            sub=1,
            dlvrd=1 if stat == "DELIVRD" else 0,
            submit_date=now,
            done_date=now,
        )
