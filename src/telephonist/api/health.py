"""Probes for load balancers and orchestrators: `/healthz` (the process serves) and `/readyz` (it can do
its work: the database answers, on an engine the job runner runs, SIP listens when configured)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import literal, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from telephonist.app import Platform

_PING = select(literal(1))


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def problems(platform: Platform) -> list[str]:
    """What keeps the platform from being ready; empty when it is."""
    found: list[str] = []
    try:
        with platform.db.read() as q:
            q.first(_PING)
    except Exception as exc:  # whatever the database's failure, traffic should go elsewhere
        found.append(f"database: {type(exc).__name__}")
    if platform.nodes.engine and (platform.runner is None or platform.runner.done()):
        found.append("jobs: the job runner is not running")
    if platform.settings.sip_port and not platform.sip.running:
        found.append("sip: not listening")
    return found


async def readyz(request: Request) -> Response:
    found = problems(request.app.state.platform)
    if found:
        return JSONResponse({"status": "unavailable", "problems": found}, status_code=503)
    return JSONResponse({"status": "ready"})


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
