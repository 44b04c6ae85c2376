"""The state machines of calls and messages, as tables. An illegal transition is a bug and raises.

CallStatus:    queued → ringing → in-progress → completed | busy | failed | no-answer | canceled
MessageStatus: accepted → queued → sending → sent → delivered | undelivered | failed; receiving → received
"""

from __future__ import annotations

CALL_TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"ringing", "failed", "canceled", "busy", "no-answer"}),
    "ringing": frozenset({"in-progress", "busy", "no-answer", "failed", "canceled", "completed"}),
    "in-progress": frozenset({"completed", "failed"}),
    "completed": frozenset(),
    "busy": frozenset(),
    "failed": frozenset(),
    "no-answer": frozenset(),
    "canceled": frozenset(),
}
CALL_FINAL = frozenset(s for s, nxt in CALL_TRANSITIONS.items() if not nxt)

MESSAGE_TRANSITIONS: dict[str, frozenset[str]] = {
    "accepted": frozenset({"queued", "scheduled", "failed", "canceled"}),
    "scheduled": frozenset({"queued", "canceled"}),
    "queued": frozenset({"sending", "failed", "canceled"}),
    "sending": frozenset({"sent", "failed", "undelivered"}),
    "sent": frozenset({"delivered", "undelivered", "failed", "read"}),
    "delivered": frozenset({"read"}),
    "read": frozenset(),
    "undelivered": frozenset(),
    "failed": frozenset(),
    "canceled": frozenset(),
    "receiving": frozenset({"received"}),
    "received": frozenset(),
}
MESSAGE_FINAL = frozenset({"delivered", "read", "undelivered", "failed", "canceled", "received"})


class IllegalTransition(RuntimeError):
    pass


def check_call(old: str, new: str) -> str:
    if new not in CALL_TRANSITIONS[old]:
        raise IllegalTransition(f"call status {old} → {new}")
    return new


def check_message(old: str, new: str) -> str:
    if new not in MESSAGE_TRANSITIONS[old]:
        raise IllegalTransition(f"message status {old} → {new}")
    return new
