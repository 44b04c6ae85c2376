"""The web console at /console: an account's calls, messages, numbers and notifications, live.

Pages read the store directly, always within the signed-in account; changes go through the REST API
in process, so a form is validated exactly as an API request is and shows Twilio's error inline.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from telephonist.api.forms import Params
from telephonist.console.auth import Session, Sessions, csrf_ok, to_signin

if TYPE_CHECKING:
    from telephonist.app import Platform

Handler = Callable[[Request, Session, Params], Awaitable[Response]]
HEADERS = {
    # Pages load nothing from elsewhere; media of messages and recordings come from this server too.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


class Console:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        # Several API processes behind one load balancer share TELEPHONIST_CONSOLE_SECRET; without it a
        # restart signs everyone out, which is all it costs.
        self.sessions = Sessions(platform.settings.console_secret or secrets.token_hex(32))
        self.templates = Environment(
            loader=PackageLoader("telephonist.console", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = _when

    def render(self, name: str, session: Session | None, status: int = 200, **values: Any) -> Response:
        page = self.templates.get_template(name).render(session=session, **values)
        return HTMLResponse(page, status_code=status, headers=HEADERS)

    async def api(
        self,
        request: Request,
        session: Session,
        method: str,
        path: str,
        data: list[tuple[str, str]] | None = None,
    ) -> httpx.Response:
        """A request of the REST or /sim/v1 API with the signed-in account's credentials."""
        transport = httpx.ASGITransport(app=request.app)
        credentials = (session.account_sid, session.account["auth_token"])
        async with httpx.AsyncClient(
            transport=transport, base_url="http://console", auth=credentials
        ) as client:
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {}
            return await client.request(method, path, content=urlencode(data or []), headers=headers)


def signed_in(handler: Handler, page: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """A page for a signed-in visitor only (others are sent to sign in; for what is not a `page`, 401);
    a POST must also carry the session's CSRF token (a form field or the X-CSRF-Token header) and come
    from this site."""

    async def endpoint(request: Request) -> Response:
        console: Console = request.app.state.console
        session = console.sessions.load(request)
        if session is None:
            if page and request.method == "GET":
                return to_signin(request)
            return PlainTextResponse("Sign in first", status_code=401)
        params = Params.parse(await request.body()) if request.method == "POST" else Params.parse(b"")
        if request.method == "POST":
            given = params.get("csrf") or request.headers.get("x-csrf-token")
            if not csrf_ok(request, session.csrf, given):
                return PlainTextResponse("Cross-site request refused", status_code=403)
        return await handler(request, session, params)

    return endpoint
