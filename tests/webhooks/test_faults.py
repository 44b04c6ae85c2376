"""The webhook application down, slow (20 s), failing with 500 or answering invalid TwiML, end to end on a
real server: what Twilio shows for each (the fallback with ErrorCode and ErrorUrl, notifications, message
statuses, the call's events), and nothing lost or sent twice beyond the retry count."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Telephonist, free_port, running, wait_until
from messaging._support import PLATFORM_NUMBER, inbox, set_sms, settle, text_in, wait_inbox
from voice.support import events, notifications, params, place, signed
from webhooks.support import TOKEN, ScriptedApp, Step, scripted_app

APP_ERROR = "We are sorry, an application error has occurred. Goodbye."
FALLBACK = "<Response><Say>Sorry, we are having trouble.</Say></Response>"
PHONE = "+15551234567"
SLOW = Step(sleep=20.0, body="<Response><Say>too late</Say></Response>")


def down() -> str:
    """The URL of an application that is not running: nothing listens on the port."""
    return f"http://127.0.0.1:{free_port()}/app"


def failing(app: ScriptedApp, path: str, failure: str, invalid: str, read_timeout: str) -> str:
    """The URL of an application that fails so: down, 500, invalid TwiML, or slow (20 s, past the
    read timeout its URL sets)."""
    if failure == "down":
        return down()
    if failure == "500":
        return app.script(path, Step(500, "Internal Server Error"))
    if failure == "invalid TwiML":
        return app.script(path, Step(body=invalid))
    return app.script(path, SLOW) + read_timeout


def call_events(tel: Telephonist, sid: str, count: int) -> list[tuple[str, Any]]:
    """(URL, response code) of each webhook request of a call, attempts included, in order."""
    client = tel.client()
    found = wait_until(lambda: len(e := client.calls(sid).events.list()) >= count and e)
    return [(e.request["url"], e.response["response_code"]) for e in reversed(found)]


# -- voice: the fallback URL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "code", "attempts"),
    [
        ("down", 11205, 2),  # a connection that cannot be made is tried twice (Twilio's default)
        ("500", 11200, 1),
        ("invalid TwiML", 12100, 1),
        ("slow", 11205, 1),  # past the read timeout of its URL, #rt=500
    ],
)
def test_a_failing_voice_app_runs_the_fallback(
    tmp_path: Path, failure: str, code: int, attempts: int
) -> None:
    with scripted_app() as app, running(tmp_path) as tel:
        url = failing(app, "/voice", failure, "<Response><Say>unclosed</Response>", "#rt=500")
        fallback = app.script("/fallback", Step(body=FALLBACK))
        began = time.monotonic()
        sid = place(tel, url, fallback_url=fallback, to=PHONE)
        assert tel.call_final(sid).status == "completed"
        assert time.monotonic() - began < 10.0  # never the 20 s of the slow app
        [hit] = app.hits_for("/fallback")
        failed_url = url.partition("#")[0]
        assert (params(hit)["ErrorCode"], params(hit)["ErrorUrl"]) == (str(code), failed_url)
        assert signed(hit)
        assert [e["text"] for e in events(tel, sid, "say")] == ["Sorry, we are having trouble."]
        [note] = notifications(tel, sid)
        assert (note.error_code, note.log, note.request_url) == (str(code), "0", failed_url)
        # The call's events show every attempt and what came of it, then the fallback.
        status = {"down": None, "500": 500, "invalid TwiML": 200, "slow": None}[failure]
        assert call_events(tel, sid, attempts + 1) == [(failed_url, status)] * attempts + [(fallback, 200)]
        assert len(app.hits_for("/voice")) == (0 if failure == "down" else 1)


@pytest.mark.parametrize(("fragment", "settings"), [("#rt=300", {}), ("", {"webhook_timeout": 1.0})])
def test_a_slow_app_without_fallback_is_an_application_error_within_the_limit(
    tmp_path: Path, fragment: str, settings: dict[str, Any]
) -> None:
    with scripted_app() as app, running(tmp_path, **settings) as tel:
        url = app.script("/voice", SLOW)
        began = time.monotonic()
        sid = place(tel, url + fragment, to=PHONE)
        assert tel.call_final(sid).status == "completed"
        assert time.monotonic() - began < 10.0
        assert [e["text"] for e in events(tel, sid, "say")] == [APP_ERROR]
        assert [n.error_code for n in notifications(tel, sid)] == ["11205"]
        assert len(app.hits_for("/voice")) == 1  # a read timeout is not retried by default


def test_a_fallback_that_is_down_too_is_an_application_error(tmp_path: Path) -> None:
    with running(tmp_path) as tel:
        url, fallback = down(), down()
        sid = place(tel, url, fallback_url=fallback, to=PHONE)
        assert tel.call_final(sid).status == "completed"
        assert [e["text"] for e in events(tel, sid, "say")] == [APP_ERROR]
        assert sorted((n.error_code, n.request_url) for n in notifications(tel, sid)) == sorted(
            [("11205", url), ("11205", fallback)]
        )
        assert call_events(tel, sid, 4) == [(url, None), (url, None), (fallback, None), (fallback, None)]


# -- inbound SMS ------------------------------------------------------------------------------------


CODES = {"down": 11205, "500": 11200, "invalid TwiML": 12100, "slow": 11205}


@pytest.mark.parametrize("failure", list(CODES))
def test_an_inbound_sms_whose_app_fails_is_kept_and_reported(tmp_path: Path, failure: str) -> None:
    with scripted_app() as app, running(tmp_path) as tel:
        client = tel.client()
        url = failing(app, "/sms", failure, "<Response><Message>unclosed</Response>", "#rt=300")
        set_sms(client, sms_url=url)
        sid = text_in(tel, PHONE, "are you there?")
        [note] = wait_until(lambda: client.notifications.list())
        assert (note.error_code, note.request_url) == (str(CODES[failure]), url.partition("#")[0])
        assert f"MessageSid={sid}" in client.notifications(note.sid).fetch().request_variables
        settle(tmp_path)
        msg = client.messages(sid).fetch()  # not lost: stored, and received it stays
        assert (msg.status, msg.direction, msg.body) == ("received", "inbound", "are you there?")
        assert inbox(tel, PHONE) == []  # no reply
        assert len(client.notifications.list()) == 1


@pytest.mark.parametrize("failure", list(CODES))
def test_an_inbound_sms_whose_app_fails_gets_the_fallbacks_reply(tmp_path: Path, failure: str) -> None:
    with scripted_app() as app, running(tmp_path) as tel:
        client = tel.client()
        url = failing(app, "/sms", failure, "<Response><Message>unclosed</Response>", "#rt=300")
        fallback = app.script(
            "/sms-fallback", Step(body="<Response><Message>Back soon.</Message></Response>")
        )
        set_sms(client, sms_url=url, sms_fallback_url=fallback)
        sid = text_in(tel, PHONE, "hello")
        [reply] = wait_inbox(tel, PHONE)
        assert (reply["from"], reply["body"]) == (PLATFORM_NUMBER, "Back soon.")
        [hit] = app.hits_for("/sms-fallback")
        p = params(hit)
        assert (p["ErrorCode"], p["ErrorUrl"], p["MessageSid"]) == (
            str(CODES[failure]),
            url.partition("#")[0],
            sid,
        )
        assert client.messages(sid).fetch().status == "received"
        assert [n.error_code for n in client.notifications.list()] == [str(CODES[failure])]


# -- status callbacks -------------------------------------------------------------------------------


def by_status(app: ScriptedApp, path: str) -> dict[str, list[str]]:
    """The idempotency token of each request to a message status callback, by MessageStatus."""
    out: dict[str, list[str]] = {}
    for hit in app.hits_for(path):
        out.setdefault(params(hit)["MessageStatus"], []).append(hit.headers[TOKEN])
    return out


@pytest.mark.parametrize(("fragment", "attempts"), [("", 1), ("#rp=5xx", 2), ("#rc=2&rp=5xx", 3)])
def test_failing_message_status_callbacks_are_retried_as_many_times_as_asked(
    tmp_path: Path, fragment: str, attempts: int
) -> None:
    with scripted_app() as app, running(tmp_path) as tel:
        client = tel.client()
        url = app.script("/status", Step(503, "busy"))
        msg = client.messages.create(
            to=PHONE, from_=PLATFORM_NUMBER, body="hi", status_callback=url + fragment
        )
        wait_until(lambda: client.messages(msg.sid).fetch().status == "delivered")
        settle(tmp_path)
        tokens = by_status(app, "/status")
        assert set(tokens) == {"sent", "delivered"}
        for status in ("sent", "delivered"):  # every attempt of one callback carries its one token
            assert tokens[status] == [tokens[status][0]] * attempts
        assert tokens["sent"][0] != tokens["delivered"][0]
        notes = client.notifications.list()
        assert sorted((n.error_code, n.request_url) for n in notes) == [("11200", url)] * 2


def test_a_status_callback_that_recovers_is_delivered_once(tmp_path: Path) -> None:
    with scripted_app() as app, running(tmp_path) as tel:
        client = tel.client()
        url = app.script("/status", Step(503), Step(200, ""))
        msg = client.messages.create(
            to=PHONE, from_=PLATFORM_NUMBER, body="hi", status_callback=url + "#rp=5xx"
        )
        wait_until(lambda: client.messages(msg.sid).fetch().status == "delivered")
        settle(tmp_path)
        tokens = by_status(app, "/status")
        assert len(tokens["sent"]) == 2 and len(set(tokens["sent"])) == 1
        assert len(tokens["delivered"]) == 1 and tokens["delivered"] != tokens["sent"][:1]
        assert client.notifications.list() == []


def test_a_call_status_callback_to_an_app_that_is_down_is_tried_twice_then_reported(tmp_path: Path) -> None:
    with running(tmp_path) as tel:
        callback = down()
        sid = place(tel, twiml=FALLBACK, to=PHONE, status_callback=callback)
        assert tel.call_final(sid).status == "completed"
        [note] = wait_until(lambda: notifications(tel, sid))
        assert (note.error_code, note.request_url) == ("11205", callback)
        settle(tmp_path)
        assert call_events(tel, sid, 2) == [(callback, None), (callback, None)]
        assert len(notifications(tel, sid)) == 1
