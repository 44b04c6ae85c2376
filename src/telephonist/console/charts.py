"""The dashboard's charts: an hour of calls or messages a minute, stacked by outcome, drawn as SVG."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 180, 36, 22, 10
MINUTES = 60
# Outcome colours, in stacking order; "in progress" is whatever has no outcome yet.
COLOURS = {
    "completed": "#3a7d44",
    "delivered": "#3a7d44",
    "sent": "#7fb685",
    "received": "#4f7cac",
    "busy / no answer": "#d9a441",
    "canceled": "#9a9a9a",
    "failed": "#c0392b",
    "failed / undelivered": "#c0392b",
    "in progress": "#b8c4d6",
}


def activity_chart(
    title: str, rows: Sequence[Mapping[str, Any]], since: dt.datetime, outcomes: Mapping[str, str]
) -> dict[str, Any]:
    """`rows` (date_created, status) of the hour after `since`, counted per minute and outcome."""
    order = [*dict.fromkeys(outcomes.values()), "in progress"]
    counts = [dict.fromkeys(order, 0) for _ in range(MINUTES)]
    totals = dict.fromkeys(order, 0)
    for row in rows:
        minute = int((row["date_created"] - since).total_seconds() // 60)
        if 0 <= minute < MINUTES:
            outcome = outcomes.get(row["status"], "in progress")
            counts[minute][outcome] += 1
            totals[outcome] += 1
    peak = max([sum(c.values()) for c in counts] + [1])
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - TOP - BOTTOM
    bar_w = plot_w / MINUTES
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 4}" y2="{TOP + plot_h}" class="axis"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 8}" class="tick" text-anchor="end">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    for minute, bucket in enumerate(counts):
        y = float(TOP + plot_h)
        for outcome in order:
            n = bucket[outcome]
            if not n:
                continue
            h = n / peak * plot_h
            y -= h
            at = (since + dt.timedelta(minutes=minute)).strftime("%H:%M")
            parts.append(
                f'<rect x="{LEFT + minute * bar_w + 1:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[outcome]}">'
                f"<title>{at}: {n} {escape(outcome)}</title></rect>"
            )
    for minute in range(0, MINUTES + 1, 15):
        label = (since + dt.timedelta(minutes=minute)).strftime("%H:%M")
        x = LEFT + minute * bar_w
        anchor = "end" if minute == MINUTES else "middle"
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" class="tick" text-anchor="{anchor}">{label}</text>')
    parts.append("</svg>")
    legend = [(name, COLOURS[name], totals[name]) for name in order]
    return {"title": title, "svg": Markup("".join(parts)), "legend": legend, "total": sum(totals.values())}
