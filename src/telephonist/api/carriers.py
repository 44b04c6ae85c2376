"""Operations: each SMPP bind's state and throughput as JSON for `telephonist carriers`, SIP's trunks,
registrations and live calls for `telephonist sip` (top-level accounts only: carriers are the
operator's), and both as Prometheus metrics at /metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from telephonist.api.auth import unauthorized
from telephonist.api.base import Ctx, context
from telephonist.api.render import json_response

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
    lines = [
        "# HELP telephonist_smpp_bound Whether the SMPP carrier's binds are all up.",
        "# TYPE telephonist_smpp_bound gauge",
    ]
    state = request.app.state.platform.smpp.status()
    lines += [f'telephonist_smpp_bound{{carrier="{c["name"]}"}} {int(c["state"] == "bound")}' for c in state]
    for counter in _COUNTERS:
        lines += [f"# TYPE telephonist_smpp_{counter}_total counter"]
        lines += [f'telephonist_smpp_{counter}_total{{carrier="{c["name"]}"}} {c[counter]}' for c in state]
    lines += ["# HELP telephonist_smpp_submit_rate Accepted submit_sm a second over the last 10 s."]
    lines += ["# TYPE telephonist_smpp_submit_rate gauge"]
    lines += [f'telephonist_smpp_submit_rate{{carrier="{c["name"]}"}} {c["per_second"]}' for c in state]
    sip = request.app.state.platform.sip.status()
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
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


routes = [
    Route("/carriers.json", carriers, methods=["GET"]),
    Route("/sip.json", sip, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
