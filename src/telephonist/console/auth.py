"""Signing in to the console: an account's SID and auth token exchanged for a signed session cookie.

The cookie carries a session id, the account SID, a digest of its auth token (so a new token ends every
session made with the old one) and the CSRF token its forms must send back. It is HttpOnly, SameSite=Strict
and scoped to /console; the auth token itself never leaves the sign-in form's POST body. Signing out records
the session id, so a copy of the cookie is worthless from then on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import bindparam, delete, insert, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from telephonist.api.limits import guarded_sign_in
from telephonist.store.db import Row, utcnow
from telephonist.store.models import accounts, console_signouts

COOKIE = "telephonist_console"
SIGNIN_COOKIE = "telephonist_signin"  # the sign-in form's own CSRF token, before there is a session
MAX_AGE = 12 * 3600
PATH = "/console"
_ACCOUNT = select(accounts).where(accounts.c.sid == bindparam("sid"))
_SIGNED_OUT = select(console_signouts.c.session_id).where(console_signouts.c.session_id == bindparam("id"))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Session:
    id: str
    account: Row
    csrf: str

    @property
    def account_sid(self) -> str:
        return str(self.account["sid"])


class Sessions:
    def __init__(self, secret: str) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="telephonist.console")

    def issue(self, account: Row) -> str:
        return self._signer.dumps(
            {
                "s": secrets.token_hex(16),
                "a": account["sid"],
                "t": _digest(account["auth_token"]),
                "c": secrets.token_urlsafe(24),
            }
        )

    def load(self, request: Request) -> Session | None:
        """The request's session, if its cookie is genuine, recent, and its account still active with the
        same auth token."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data: dict[str, Any] = self._signer.loads(raw, max_age=MAX_AGE)
        except BadSignature:
            return None
        platform = request.app.state.platform
        session_id = str(data.get("s"))
        with platform.db.read() as q:
            account = q.first(_ACCOUNT, sid=str(data.get("a")))
            ended = q.first(_SIGNED_OUT, id=session_id) is not None
        if account is None or account["status"] != "active" or ended:
            return None
        if not hmac.compare_digest(str(data.get("t")), _digest(account["auth_token"])):
            return None
        return Session(session_id, account, str(data.get("c")))

    @staticmethod
    def end(request: Request, session: Session) -> None:
        """Sign out: the session is refused from now on, whoever holds its cookie."""
        now = utcnow()
        with request.app.state.platform.db.tx() as conn:
            conn.execute(delete(console_signouts).where(console_signouts.c.expires < now))
            expires = now + dt.timedelta(seconds=MAX_AGE)
            conn.execute(insert(console_signouts).values(session_id=session.id, expires=expires))


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int = MAX_AGE) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def same_origin(request: Request) -> bool:
    """A browser names the page a POST came from; a form of another site is refused even before the
    CSRF token is looked at."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


def csrf_ok(request: Request, expected: str, given: str | None) -> bool:
    return same_origin(request) and bool(given) and hmac.compare_digest(expected, given or "")


@guarded_sign_in
def authenticate(request: Request, sid: str, token: str) -> Row | None:
    """The active account whose SID and auth token these are (compared in constant time)."""
    platform = request.app.state.platform
    with platform.db.read() as q:
        account = q.first(_ACCOUNT, sid=sid.strip())
    expected = account["auth_token"] if account is not None else secrets.token_hex(16)
    if not hmac.compare_digest(expected.encode(), token.strip().encode()):
        return None
    if account is None or account["status"] != "active":
        return None
    return dict(account)


def to_signin(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{PATH}/signin", status_code=303)
    set_cookie(response, request, "telephonist_next", target, max_age=600)
    return response


def next_page(request: Request) -> str:
    """Where to go after signing in: a console page the visitor asked for, never another site."""
    target = request.cookies.get("telephonist_next", "")
    if target.startswith(PATH + "/") and not target.startswith(PATH + "//") and "\\" not in target:
        return target
    return PATH
