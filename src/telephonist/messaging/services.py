"""Messaging Services (MG…) as the engine uses them: the service a number belongs to, choosing a sender
from a service's pool, and the opt-out keywords (STOP, START, HELP) Twilio handles by default."""

from __future__ import annotations

import zlib
from typing import Literal

from sqlalchemy import bindparam, delete, or_, select

from telephonist.store.db import Raw, Row, insert_row, utcnow
from telephonist.store.models import messages, messaging_service_numbers, messaging_services, opt_outs

OptOutType = Literal["STOP", "START", "HELP"]
KEYWORDS: dict[str, OptOutType] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"), "STOP"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "START"),
    **dict.fromkeys(("HELP", "INFO"), "HELP"),
}
REPLIES: dict[OptOutType, str] = {
    "STOP": "You have successfully been unsubscribed. You will not receive any more messages from this "
    "number. Reply START to resubscribe.",
    "START": "You have successfully been re-subscribed to messages from this number. Reply HELP for help. "
    "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    "HELP": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}

_SERVICE = select(messaging_services).where(messaging_services.c.sid == bindparam("sid"))
_SERVICE_OF = (
    select(messaging_services)
    .join(messaging_service_numbers, messaging_service_numbers.c.service_sid == messaging_services.c.sid)
    .where(messaging_service_numbers.c.phone_number == bindparam("number"))
)
_POOL = (
    select(messaging_service_numbers.c.phone_number)
    .where(messaging_service_numbers.c.service_sid == bindparam("sid"))
    .order_by(messaging_service_numbers.c.seq)
)
_LAST_SENDER = (
    select(messages.c["from"])
    .where(
        messages.c.messaging_service_sid == bindparam("sid"),
        messages.c.to == bindparam("to"),
        messages.c["from"] != "",
    )
    .order_by(messages.c.seq.desc())
    .limit(1)
)
_OPTED_OUT = select(opt_outs.c.scope).where(
    opt_outs.c.scope == bindparam("scope"), opt_outs.c.address == bindparam("address")
)
# Opted out of a sender number: of the number itself, or of the Messaging Service it belongs to.
_OPTED_OUT_OF_NUMBER = (
    select(opt_outs.c.scope)
    .where(
        opt_outs.c.address == bindparam("address"),
        or_(
            opt_outs.c.scope == bindparam("number"),
            opt_outs.c.scope
            == select(messaging_service_numbers.c.service_sid)
            .where(messaging_service_numbers.c.phone_number == bindparam("number"))
            .scalar_subquery(),
        ),
    )
    .limit(1)
)
_OPT_OUT = insert_row(opt_outs)
_OPT_IN = delete(opt_outs).where(
    opt_outs.c.scope == bindparam("scope"), opt_outs.c.address == bindparam("address")
)


def service(q: Raw, sid: str) -> Row | None:
    return q.first(_SERVICE, sid=sid)


def service_of(q: Raw, number: str) -> Row | None:
    """The Messaging Service whose sender pool holds `number`, if any."""
    return q.first(_SERVICE_OF, number=number)


def pick_sender(q: Raw, svc: Row, to: str) -> str | None:
    """The number of the pool that sends to `to`: the one used last (sticky sender), else one in the same
    area code (geomatch), else one chosen by the recipient, so a recipient always hears from the same
    number while the pool stays the same. None for an empty pool."""
    pool = [r["phone_number"] for r in q.all(_POOL, sid=svc["sid"])]
    if not pool:
        return None
    if svc["sticky_sender"]:
        last = q.first(_LAST_SENDER, sid=svc["sid"], to=to)
        if last is not None and last["from"] in pool:
            return str(last["from"])
    if svc["area_code_geomatch"] and to.startswith("+1"):
        for number in pool:
            if number[:5] == to[:5]:
                return str(number)
    return str(pool[zlib.crc32(to.encode()) % len(pool)])


def keyword(body: str) -> OptOutType | None:
    """The opt-out keyword a message is, if it is one: the whole body, in any case."""
    return KEYWORDS.get(body.strip().upper())


_ANY_OPT_OUT = select(opt_outs.c.scope).limit(1)


def any_opt_outs(q: Raw) -> bool:
    return q.first(_ANY_OPT_OUT) is not None


def opted_out(q: Raw, scope_: str, address: str) -> bool:
    return q.first(_OPTED_OUT, scope=scope_, address=address) is not None


def opted_out_of_number(q: Raw, number: str, address: str) -> bool:
    """Whether `address` opted out of messages from `number` (or from its Messaging Service)."""
    return q.first(_OPTED_OUT_OF_NUMBER, number=number, address=address) is not None


def apply_keyword(q: Raw, kind: OptOutType, account_sid: str, scope_: str, address: str) -> None:
    if kind == "STOP" and not opted_out(q, scope_, address):
        q.run(_OPT_OUT, scope=scope_, address=address, account_sid=account_sid, date_created=utcnow())
    elif kind == "START":
        q.run(_OPT_IN, scope=scope_, address=address)
