"""Virtual phones in the console: the simulated network of /sim/v1, driven from a page.

Pick any number (or `client:<identity>`), see its inbox and calls, text or call a platform number from
it, answer a call to it, press keys and speak words on a live call. Every action is a /sim/v1 request
made with the signed-in account's credentials, so the page can do exactly what a test can.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from telephonist.api.forms import Params
from telephonist.carriers.sim.network import ANSWER_MODES
from telephonist.console import Console, signed_in
from telephonist.console.auth import PATH, Session
from telephonist.store.models import calls, incoming_phone_numbers, messages

SIM = "/sim/v1"
ACTIONS = {
    "digits": ("Digits", "Digits"),
    "speech": ("Speech", "Text"),
    "answer": ("Answer", ""),
    "hangup": ("Hangup", ""),
}


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _phone_url(number: str) -> str:
    return f"{PATH}/phones/{quote(number, safe='+:@')}"


def _error(r: Any) -> str:
    body = r.json()
    return f"{body.get('message', 'refused')} ({body.get('code', r.status_code)})"


@signed_in
async def phone_list(request: Request, session: Session, params: Params) -> Response:
    """Numbers this account's calls and messages reached that are not its own: the phones it talks to."""
    sid = session.account_sid
    with request.app.state.platform.db.tx() as conn:
        own = set(
            conn.execute(
                select(incoming_phone_numbers.c.phone_number).where(
                    incoming_phone_numbers.c.account_sid == sid
                )
            ).scalars()
        )
        seen: dict[str, None] = {}
        for table in (calls, messages):
            rows = conn.execute(
                select(table.c["from"], table.c.to)
                .where(table.c.account_sid == sid)
                .order_by(table.c.seq.desc())
                .limit(100)
            )
            for row in rows:
                for number in row:
                    if number not in own:
                        seen[number] = None
        platform_numbers = sorted(own)
    number = (request.query_params.get("number") or "").strip()
    if number:
        return RedirectResponse(_phone_url(number), status_code=303)
    return _console(request).render(
        "phones.html", session, phones=list(seen)[:30], numbers=platform_numbers, phone_url=_phone_url
    )


async def _page(request: Request, session: Session, status: int = 200, error: str = "") -> Response:
    console = _console(request)
    number = request.path_params["number"]
    r = await console.api(request, session, "GET", f"{SIM}/Phones/{quote(number, safe='+:@')}")
    if r.status_code != 200:
        return console.render("missing.html", session, status=404, what="phone: " + _error(r))
    phone = r.json()
    with request.app.state.platform.db.tx() as conn:
        numbers = sorted(
            conn.execute(
                select(incoming_phone_numbers.c.phone_number).where(
                    incoming_phone_numbers.c.account_sid == session.account_sid
                )
            ).scalars()
        )
    return console.render(
        "phone.html",
        session,
        status=status,
        phone=phone,
        numbers=numbers,
        modes=ANSWER_MODES,
        error=error,
        phone_url=_phone_url(phone["phone_number"]),
    )


@signed_in
async def phone_page(request: Request, session: Session, params: Params) -> Response:
    return await _page(request, session)


@signed_in
async def phone_action(request: Request, session: Session, params: Params) -> Response:
    """The phone's forms: settings, a text, a call; on a refusal the page comes back with Twilio's error."""
    console = _console(request)
    number = request.path_params["number"]
    action = request.path_params["action"]
    here = quote(number, safe="+:@")
    if action == "settings":
        data = [("PhoneNumber", number), ("Answer", params.get("Answer") or "auto")]
        r = await console.api(request, session, "POST", f"{SIM}/Phones", data)
    elif action == "messages":
        data = [("To", params.get("To") or ""), ("Body", params.get("Body") or "")]
        r = await console.api(request, session, "POST", f"{SIM}/Phones/{here}/Messages", data)
    elif action == "calls":
        r = await console.api(
            request, session, "POST", f"{SIM}/Phones/{here}/Calls", [("To", params.get("To") or "")]
        )
    else:
        return console.render("missing.html", session, status=404, what="action")
    if r.status_code >= 400:
        return await _page(request, session, status=400, error=_error(r))
    return RedirectResponse(_phone_url(number), status_code=303)


@signed_in
async def call_state(request: Request, session: Session, params: Params) -> Response:
    """A call as its virtual phone sees it (status and transcript), for the page to follow."""
    r = await _console(request).api(request, session, "GET", f"{SIM}/Calls/{request.path_params['sid']}")
    return JSONResponse(r.json(), status_code=r.status_code, headers={"Cache-Control": "no-store"})


@signed_in
async def call_action(request: Request, session: Session, params: Params) -> Response:
    """Keys, words, answering and hanging up on a live call, from the page's keypad and buttons."""
    known = ACTIONS.get(request.path_params["action"])
    if known is None:
        return JSONResponse({"message": "No such action", "code": 20404}, status_code=404)
    resource, field = known
    data = [(field, params.get(field) or "")] if field else []
    r = await _console(request).api(
        request, session, "POST", f"{SIM}/Calls/{request.path_params['sid']}/{resource}", data
    )
    return JSONResponse(r.json(), status_code=r.status_code)
