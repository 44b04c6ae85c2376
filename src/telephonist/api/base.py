"""What every account-scoped handler starts from: the authenticated account and the request's parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Select, Table, bindparam, select
from starlette.requests import Request

from telephonist.api.auth import authenticate, authorize, claimed_user
from telephonist.api.errors import TwilioError, not_found
from telephonist.api.forms import Params
from telephonist.numbers import is_url
from telephonist.store.cache import MISSING
from telephonist.store.db import Row, Tx, raw

if TYPE_CHECKING:
    from telephonist.api.limits import Limits
    from telephonist.app import Platform


@dataclass
class Ctx:
    platform: Platform
    caller: Row  # whose credentials
    account: Row  # the account in the path
    params: Params
    path: str

    @property
    def account_sid(self) -> str:
        return str(self.account["sid"])

    def tx(self) -> Any:
        return self.platform.db.tx()


async def context(request: Request, account_param: str | None = "AccountSid") -> Ctx:
    """Authenticate, count the request against its account's limits, then read its parameters (so that
    a refused request costs no body, and a slow body holds its account's slot)."""
    platform: Platform = request.app.state.platform
    limits: Limits = request.app.state.limits
    header = request.headers.get("authorization") or ""
    limits.logins.check(request.scope, header)  # even a right (cached) header, while locked out
    caller = platform.credentials.get(header)
    if caller is MISSING:
        try:
            with platform.db.read() as q:
                caller = authenticate(q, header)
        except TwilioError as err:
            if err.code == 20003 and header:  # a request without credentials guesses nothing (SDK 5's first)
                limits.logins.failed(request.scope, claimed_user(header))
            raise
        platform.credentials.put(header, caller)  # only credentials of an active account get here
    account = caller = cast(Row, caller)
    if account_param is not None and request.path_params[account_param] != caller["sid"]:
        with platform.db.read() as q:
            account = authorize(q, caller, request.path_params[account_param])
    limits.admit(request.scope, account["sid"])  # a subaccount has limits of its own
    if account_param == "AccountSid" and request.method != "GET" and account["status"] != "active":
        # A suspended or closed subaccount's records stay readable; nothing new is made on it.
        raise TwilioError(20005, "Account not active", 401)
    if request.method in ("POST", "PUT"):
        params = Params.parse(await request.body())
    else:
        params = Params.parse(request.scope["query_string"])
    return Ctx(platform, caller, account, params, request.scope["path"])


_OWNED: dict[Table, Select[Any]] = {}


def fetch_owned(conn: Tx, table: Table, sid: str, account_sid: str, path: str) -> Row:
    """A resource of the account, or 20404."""
    stmt = _OWNED.get(table)
    if stmt is None:
        stmt = _OWNED[table] = select(table).where(
            table.c.sid == bindparam("sid"), table.c.account_sid == bindparam("account_sid")
        )
    row = raw(conn).first(stmt, sid=sid, account_sid=account_sid)
    if row is None:
        raise not_found(path)
    return row


def require(value: str | None, code: int, message: str) -> str:
    if value is None or value == "":
        raise TwilioError(code, message)
    return value


def config_values(ctx: Ctx, fields: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Columns set by the request's parameters, for resources configured with webhook URLs (numbers,
    applications): `fields` maps each parameter to (column, kind), kind being url, method, bool or text."""
    values: dict[str, Any] = {}
    for name, (column, kind) in fields.items():
        if name not in ctx.params:
            continue
        value = ctx.params.get(name) or ""
        if kind == "url":
            if value and not is_url(value):
                raise TwilioError(21402, f"{name} is not valid: {value}")
            values[column] = value or None
        elif kind == "method":
            values[column] = ctx.params.method(name)
        elif kind == "bool":
            values[column] = ctx.params.boolean(name)
        else:
            values[column] = value[:64] if column == "friendly_name" else (value or None)
    return values
