"""The console's browser phone: this browser signed in as a Client identity of the account, with real
audio over WebRTC (carriers/webrtc), through the same module and access tokens an app's own page uses."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from telephonist.api.forms import Params
from telephonist.console import Console, signed_in
from telephonist.console.auth import Session
from telephonist.store.models import applications


@signed_in
async def softphone_page(request: Request, session: Session, params: Params) -> Response:
    console: Console = request.app.state.console
    with request.app.state.platform.db.tx() as conn:
        apps = [
            dict(r)
            for r in conn.execute(
                select(applications.c.sid, applications.c.friendly_name)
                .where(applications.c.account_sid == session.account_sid)
                .order_by(applications.c.seq)
            ).mappings()
        ]
    return console.render("softphone.html", session, applications=apps)


@signed_in
async def softphone_token(request: Request, session: Session, params: Params) -> Response:
    """An access token for the page, minted by `POST /webrtc/v1/Tokens` as the signed-in account."""
    data = [("Identity", params.get("Identity") or "")]
    if params.get("OutgoingApplicationSid"):
        data.append(("OutgoingApplicationSid", params.get("OutgoingApplicationSid") or ""))
    console: Console = request.app.state.console
    r = await console.api(request, session, "POST", "/webrtc/v1/Tokens", data)
    body = r.json()
    answer = {"token": body["token"]} if r.status_code == 201 else body
    return JSONResponse(answer, status_code=r.status_code, headers={"Cache-Control": "no-store"})
