"""Operations: each SMPP bind's state and throughput as JSON for `telephonist carriers`, SIP's trunks,
registrations and live calls for `telephonist sip` (top-level accounts only: carriers are the
operator's), and both as Prometheus metrics at /metrics with the engine's own: calls in progress, messages
queued by sender, job lag, webhook latency, SIP transactions."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from telephonist.api.auth import unauthorized
from telephonist.api.base import Ctx, context
from telephonist.api.render import json_response
from telephonist.store.models import jobs, messages
from telephonist.webhooks.client import LATENCY

if TYPE_CHECKING:
    from telephonist.app import Platform

# The 50 busiest senders (through the partial index of queued messages); job lag over all due jobs.
_QUEUED = (
    select(messages.c["from"].label("sender"), func.count().label("n"))
    .where(messages.c.status == "queued")
    .group_by(messages.c["from"])
    .order_by(func.count().desc())
    .limit(50)
)
_PENDING = select(func.count().label("n"), func.min(jobs.c.run_at).label("oldest")).where(
    jobs.c.run_at <= bindparam("now"), jobs.c.claimed_until < bindparam("now")
)
_COUNTERS = ("submitted", "accepted", "refused", "throttled", "deliver_sm", "reconnects")


async def _operator(request: Request) -> Ctx:
    ctx = await context(request, account_param=None)
    if ctx.caller["owner_account_sid"] != ctx.caller["sid"] or ctx.caller.get("api_key_sid"):
        raise unauthorized()
    return ctx


async def carriers(request: Request) -> Response:
    ctx = await _operator(request)
    return json_response({"carriers": ctx.platform.smpp.status()})


async def sip(request: Request) -> Response:
    ctx = await _operator(request)
    return json_response(ctx.platform.sip.status())


async def metrics(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    lines = [
        "# HELP telephonist_smpp_bound Whether the SMPP carrier's binds are all up.",
        "# TYPE telephonist_smpp_bound gauge",
    ]
    state = platform.smpp.status()
    lines += [f'telephonist_smpp_bound{{carrier="{c["name"]}"}} {int(c["state"] == "bound")}' for c in state]
    for counter in _COUNTERS:
        lines += [f"# TYPE telephonist_smpp_{counter}_total counter"]
        lines += [f'telephonist_smpp_{counter}_total{{carrier="{c["name"]}"}} {c[counter]}' for c in state]
    lines += ["# HELP telephonist_smpp_submit_rate Accepted submit_sm a second over the last 10 s."]
    lines += ["# TYPE telephonist_smpp_submit_rate gauge"]
    lines += [f'telephonist_smpp_submit_rate{{carrier="{c["name"]}"}} {c["per_second"]}' for c in state]
    sip = platform.sip.status()
    lines += [
        "# HELP telephonist_sip_calls SIP call legs in progress, by trunk ('' for none).",
        "# TYPE telephonist_sip_calls gauge",
    ]
    by_trunk: dict[str, int] = {}
    for call in sip["calls"]:
        by_trunk[call["trunk"] or ""] = by_trunk.get(call["trunk"] or "", 0) + 1
    lines += [f'telephonist_sip_calls{{trunk="{t}"}} {n}' for t, n in sorted(by_trunk.items())]
    lines += [
        "# HELP telephonist_sip_registrations Phones registered.",
        "# TYPE telephonist_sip_registrations gauge",
    ]
    lines += [f"telephonist_sip_registrations {len(sip['registrations'])}"]
    lines += [
        "# HELP telephonist_sip_transactions SIP transactions under way.",
        "# TYPE telephonist_sip_transactions gauge",
        f"telephonist_sip_transactions {platform.sip.core.transactions}",
    ]
    return PlainTextResponse(
        "\n".join(lines + _engine(platform)) + "\n", media_type="text/plain; version=0.0.4"
    )


def _engine(platform: Platform) -> list[str]:
    """Calls in progress, messages queued by sender, the job queue's lag, webhook latency."""
    now = time.time()
    with platform.db.read() as q:
        queued = q.all(_QUEUED)
        pending = q.first(_PENDING, now=now)
    assert pending is not None
    lag = max(0.0, now - pending["oldest"]) if pending["oldest"] is not None else 0.0
    lines = [
        "# HELP telephonist_calls_in_progress Calls this process runs now.",
        "# TYPE telephonist_calls_in_progress gauge",
        f"telephonist_calls_in_progress {len(platform.voice.sessions)}",
        "# HELP telephonist_messages_queued Messages waiting for their sender's turn, by sender.",
        "# TYPE telephonist_messages_queued gauge",
        *(f'telephonist_messages_queued{{sender="{r["sender"]}"}} {r["n"]}' for r in queued),
        "# HELP telephonist_jobs_due Durable jobs due and not taken (status callbacks, call starts…).",
        "# TYPE telephonist_jobs_due gauge",
        f"telephonist_jobs_due {pending['n']}",
        "# HELP telephonist_job_lag_seconds How long the oldest due job has waited.",
        "# TYPE telephonist_job_lag_seconds gauge",
        f"telephonist_job_lag_seconds {lag:.3f}",
        "# HELP telephonist_webhook_duration_seconds Webhook requests, each attempt, by time to answer.",
        "# TYPE telephonist_webhook_duration_seconds histogram",
    ]
    for bound, n in zip(LATENCY.BOUNDS, LATENCY.counts, strict=True):
        lines.append(f'telephonist_webhook_duration_seconds_bucket{{le="{bound}"}} {n}')
    lines += [
        f'telephonist_webhook_duration_seconds_bucket{{le="+Inf"}} {LATENCY.count}',
        f"telephonist_webhook_duration_seconds_sum {LATENCY.total:.6f}",
        f"telephonist_webhook_duration_seconds_count {LATENCY.count}",
    ]
    return lines


routes = [
    Route("/carriers.json", carriers, methods=["GET"]),
    Route("/sip.json", sip, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
