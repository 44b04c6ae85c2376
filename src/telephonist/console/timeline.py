"""A call's timeline: its legs, status changes, webhooks, verbs, input and notifications in time order,
as a list and as a picture (SVG, one lane a leg)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from markupsafe import Markup, escape
from sqlalchemy import Connection, select

from telephonist.store.db import Row, utcnow
from telephonist.store.models import call_events, calls, notifications, recordings

WIDTH, LEFT, RIGHT, LANE, TOP = 1000, 170, 20, 60, 26
COLOURS = {
    "webhook": "#4f7cac",
    "status": "#555555",
    "say": "#3a7d44",
    "play": "#2a9d8f",
    "gather": "#d9822b",
    "heard": "#8e6c8a",
    "record": "#b5523b",
    "dial": "#6a4c93",
    "notification": "#c0392b",
}


@dataclass
class Item:
    n: int
    at: dt.datetime
    lane: int
    kind: str
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    error: bool = False
    offset: float = 0.0


def _summary(event: dict[str, Any]) -> tuple[str, bool]:
    kind = event.get("event", "")
    if kind == "webhook":
        code = event.get("response_code")
        took = event.get("request_duration")
        failed = event.get("error_code") is not None
        outcome = f"error {event['error_code']}" if failed and not code else str(code)
        return f"{event['method']} {event['url']} → {outcome} ({took} ms)", failed
    if kind == "status":
        return f"status: {event['status']}", event["status"] in ("failed", "busy", "no-answer")
    if kind == "say":
        return f"<Say> “{event.get('text', '')}”", False
    if kind == "play":
        return f"<Play> {event.get('url') or event.get('digits', '')}", False
    if kind == "gather":
        if event.get("speech"):
            return f"caller said “{event['speech']}”", False
        return f"caller entered “{event.get('digits', '')}”" if event.get(
            "digits"
        ) else "<Gather>: no input", False
    if kind == "heard":
        words = event.get("text") or event.get("speech") or event.get("digits") or ""
        return f"heard from {event.get('from', 'the other party')}: “{words}”", False
    if kind == "pause":
        return f"<Pause> {event.get('length')} s", False
    if kind == "hangup":
        return f"hung up by {event.get('by', '?')}", False
    rest = ", ".join(f"{k}={v}" for k, v in event.items() if k != "event" and not isinstance(v, dict | list))
    return f"{kind} {rest}".strip(), kind == "reject"


def call_timeline(conn: Connection, call: Row) -> dict[str, Any]:
    """Everything the console shows of `call` and the legs of its family (its parent and children)."""
    account = call["account_sid"]
    family = [call]
    if call["parent_call_sid"]:
        parent = conn.execute(
            select(calls).where(calls.c.sid == call["parent_call_sid"], calls.c.account_sid == account)
        ).mappings()
        family = [*(dict(p) for p in parent), call]
    children = conn.execute(
        select(calls)
        .where(calls.c.parent_call_sid == family[0]["sid"], calls.c.account_sid == account)
        .order_by(calls.c.seq)
    ).mappings()
    family += [dict(c) for c in children if c["sid"] != call["sid"]]
    sids = [leg["sid"] for leg in family]
    lane = {sid: i for i, sid in enumerate(sids)}
    items: list[Item] = []
    events = conn.execute(
        select(call_events).where(call_events.c.call_sid.in_(sids)).order_by(call_events.c.seq)
    ).mappings()
    for row in events:
        summary, error = _summary(row["event"])
        items.append(
            Item(
                0,
                row["date_created"],
                lane[row["call_sid"]],
                row["event"]["event"],
                summary,
                row["event"],
                error,
            )
        )
    problems = conn.execute(
        select(notifications)
        .where(notifications.c.account_sid == account, notifications.c.call_sid.in_(sids))
        .order_by(notifications.c.seq)
    ).mappings()
    for note in problems:
        text = dict(parse_qsl(note["message_text"] or "")).get("Msg", note["message_text"])
        summary = f"{note['error_code']}: {text}"
        items.append(
            Item(0, note["message_date"], lane[note["call_sid"]], "notification", summary, dict(note), True)
        )
    items.sort(key=lambda i: i.at)
    legs = [{**leg, "recordings": []} for leg in family]
    for rec in conn.execute(
        select(recordings).where(recordings.c.call_sid.in_(sids), recordings.c.account_sid == account)
    ).mappings():
        legs[lane[rec["call_sid"]]]["recordings"].append(dict(rec))
    start = min([leg["date_created"] for leg in family] + [i.at for i in items])
    end = max([leg["end_time"] or utcnow() for leg in family] + [i.at for i in items])
    for n, item in enumerate(items):
        item.n = n
        item.offset = (item.at - start).total_seconds()
    return {"legs": legs, "items": items, "svg": _picture(legs, items, start, end)}


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 2 else f"{value:.1f} s"


def _picture(legs: list[dict[str, Any]], items: list[Item], start: dt.datetime, end: dt.datetime) -> Markup:
    span = max((end - start).total_seconds(), 0.001)
    plot = WIDTH - LEFT - RIGHT
    height = TOP + LANE * len(legs) + 24

    def x(at: dt.datetime) -> float:
        return LEFT + (at - start).total_seconds() / span * plot

    out = [f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="Call timeline">']
    for i in range(6):  # the time axis
        tick = x(start + dt.timedelta(seconds=span * i / 5))
        out.append(f'<line x1="{tick:.1f}" y1="{TOP - 8}" x2="{tick:.1f}" y2="{height - 20}" class="grid"/>')
        out.append(
            f'<text x="{tick:.1f}" y="{height - 6}" class="tick" text-anchor="middle">'
            f"{_seconds(span * i / 5)}</text>"
        )
    for i, leg in enumerate(legs):
        mid = TOP + LANE * i + LANE / 2
        out.append(f'<text x="8" y="{mid - 9:.1f}" class="lane">{escape(leg["from"][:24])}</text>')
        out.append(f'<text x="8" y="{mid + 5:.1f}" class="lane">→ {escape(leg["to"][:22])}</text>')
        out.append(
            f'<text x="8" y="{mid + 18:.1f}" class="sid">{leg["sid"][:16]}… {escape(leg["status"])}</text>'
        )
        began, over = leg["date_created"], leg["end_time"] or end
        out.append(
            f'<line x1="{x(began):.1f}" y1="{mid:.1f}" x2="{x(over):.1f}" y2="{mid:.1f}" class="leg"/>'
        )
        if leg["start_time"] is not None:  # answered: the part of the leg that talked
            out.append(
                f'<rect x="{x(leg["start_time"]):.1f}" y="{mid - 5:.1f}" '
                f'width="{max(x(over) - x(leg["start_time"]), 1):.1f}" height="10" class="talk"/>'
            )
    for item in items:
        mid = TOP + LANE * item.lane + LANE / 2
        colour = COLOURS["notification"] if item.error else COLOURS.get(item.kind, "#777777")
        title = f"<title>{_seconds(item.offset)}: {escape(item.summary)}</title>"
        at = x(item.at)
        if item.kind == "webhook":
            took = (item.detail.get("request_duration") or 0) / 1000
            sent = x(item.at - dt.timedelta(seconds=took))
            shape = (
                f'<rect x="{sent:.1f}" y="{mid - 20:.1f}" width="{max(at - sent, 3):.1f}" height="9" '
                f'fill="{colour}">{title}</rect>'
            )
        elif item.kind == "status":
            shape = (
                f'<line x1="{at:.1f}" y1="{mid - 12:.1f}" x2="{at:.1f}" y2="{mid + 12:.1f}" '
                f'stroke="{colour}" stroke-width="2">{title}</line>'
            )
        elif item.kind == "notification":
            shape = f'<path d="M{at:.1f},{mid + 8:.1f} l6,12 l-12,0 z" fill="{colour}">{title}</path>'
        else:
            shape = f'<circle cx="{at:.1f}" cy="{mid + 15:.1f}" r="5" fill="{colour}">{title}</circle>'
        out.append(f'<a href="#e{item.n}">{shape}</a>')
    out.append("</svg>")
    return Markup("".join(out))
