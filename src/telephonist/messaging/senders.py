"""Per-sender pacing, as carriers do it: each sender sends so many segments a second, and holds at most ten
hours of them in its queue (21611 beyond).

A message takes a slot when it is queued: the sender's next free time, which then moves on by the
message's segments over the sender's rate. The slot is when the message may go, so the queue needs no
clock of its own, and its length is how far that next free time is ahead of now.

The slots are rows of the database, so every process of a platform shares them; outbound calls take
theirs the same way (api/limits.py CallPacer, under keys `call:{AccountSid}` and `call:{trunk}`).
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from sqlalchemy import bindparam, case, text, update

from telephonist.store.db import Raw
from telephonist.store.models import message_senders

LONG_CODE_MPS, TOLL_FREE_MPS, SHORT_CODE_MPS = 1.0, 3.0, 100.0
QUEUE_SECONDS = 10 * 3600  # what a sender's queue may hold, in seconds of sending at its rate

_NEXT_SLOT = message_senders.c.next_slot
# One statement takes the slot: the sender's next free time (or now), moved on by the message's time.
_TAKE = (
    update(message_senders)
    .where(message_senders.c.sender == bindparam("sender"))
    .values(
        next_slot=case((_NEXT_SLOT > bindparam("now"), _NEXT_SLOT), else_=bindparam("now"))
        + bindparam("seconds")
    )
    .returning(_NEXT_SLOT)
)
_PUSH = (
    update(message_senders)
    .where(message_senders.c.sender == bindparam("sender"))
    .values(next_slot=case((_NEXT_SLOT > bindparam("at"), _NEXT_SLOT), else_=bindparam("at")))
)
_GIVE_BACK = (
    update(message_senders)
    .where(message_senders.c.sender == bindparam("sender"))
    .values(next_slot=_NEXT_SLOT - bindparam("seconds"))
)
# A sender's first message: several API processes may make its row at once, and one of them wins.
_NEW = text("INSERT INTO message_senders (sender, next_slot) VALUES (:sender, :now) ON CONFLICT DO NOTHING")


def take_slot(q: Raw, key: str, seconds: float, now: float) -> float:
    """Take the first `seconds` that `key` has free from `now` on; when they end."""
    row = q.first(_TAKE, sender=key, now=now, seconds=seconds)
    if row is None:
        q.run(_NEW, sender=key, now=now)
        row = q.first(_TAKE, sender=key, now=now, seconds=seconds)
        assert row is not None
    return float(row["next_slot"])


def push_slot(q: Raw, key: str, at: float) -> None:
    """`key` is busy until `at` at least."""
    q.run(_PUSH, sender=key, at=at)


class QueueFull(Exception):
    """The sender already holds ten hours of segments."""


@lru_cache(maxsize=4096)
def default_mps(sender: str) -> float:
    """Segments a second: 100 for a short code, 3 for a toll-free number, 1 for any other long code."""
    if not sender.startswith("+"):
        return SHORT_CODE_MPS if sender.isdigit() and 3 <= len(sender) <= 8 else LONG_CODE_MPS
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(sender))
    except phonenumbers.NumberParseException:
        return LONG_CODE_MPS
    return TOLL_FREE_MPS if kind == phonenumbers.PhoneNumberType.TOLL_FREE else LONG_CODE_MPS


class Pacer:
    """Reserves send slots. `rates` overrides the default rate of some senders (operator settings);
    `scale` is the platform's time scale, so a simulated second is `scale` real seconds."""

    def __init__(self, rates: dict[str, float], scale: float) -> None:
        self.rates = rates
        self.scale = scale

    def mps(self, sender: str) -> float:
        return self.rates.get(sender) or default_mps(sender)

    def reserve(self, q: Raw, sender: str, segments: int, now: float) -> float:
        """The time the message may go; raises QueueFull when the sender's queue is full."""
        seconds = max(1, segments) / self.mps(sender) * self.scale
        end = take_slot(q, sender, seconds, now)
        if end - now > QUEUE_SECONDS * self.scale:
            q.run(_GIVE_BACK, sender=sender, seconds=seconds)
            raise QueueFull(sender)
        return end - seconds
