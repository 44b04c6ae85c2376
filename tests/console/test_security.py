"""The console's guards, as a browser or an attacker's page would meet them: no page without a session,
no cross-site form, no account's data in another's pages or live stream, no auth token in a URL or log."""

from __future__ import annotations

import logging
import re
import threading
import time

import httpx
import pytest

from conftest import Telephonist
from console.conftest import signed_in

PAGES = [
    "/console",
    "/console/calls",
    "/console/messages",
    "/console/numbers",
    "/console/debugger",
    "/console/account",
]


def csrf_of(c: httpx.Client, path: str = "/console/numbers") -> str:
    found = re.search(r'name="csrf" content="([^"]+)"', c.get(path).text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_session(tel: Telephonist, path: str) -> None:
    with httpx.Client(base_url=tel.base_url) as c:
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/console/signin"
        assert c.post("/console/numbers", data={"PhoneNumber": "+15550001111"}).status_code == 401
        assert c.get("/console/live").status_code == 401
        c.cookies.set("telephonist_console", "eyJhIjoiQUMifQ.forged.sig", path="/console")
        assert c.get("/console/calls").status_code == 303


def test_signed_in_pages_carry_guards(tel: Telephonist) -> None:
    with signed_in(tel) as c:
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 200, path
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert r.headers["cache-control"] == "no-store"
            assert tel.auth_token not in r.text


def test_cross_site_posts_are_refused_and_change_nothing(tel: Telephonist) -> None:
    with signed_in(tel) as c:
        token = csrf_of(c)
        add = {"PhoneNumber": "+15550001111", "VoiceUrl": "http://example.com/v"}
        assert c.post("/console/numbers", data=add).status_code == 403  # no CSRF token
        assert c.post("/console/numbers", data=add | {"csrf": "guess"}).status_code == 403
        other_site = {"Origin": "http://evil.example"}
        assert c.post("/console/numbers", data=add | {"csrf": token}, headers=other_site).status_code == 403
        assert (
            c.post("/console/account/token", headers=other_site | {"X-CSRF-Token": token}).status_code == 403
        )
        assert not tel.client().incoming_phone_numbers.list(phone_number="+15550001111")
        r = c.post("/console/numbers", data=add | {"csrf": token}, headers={"Origin": tel.base_url})
        assert r.status_code == 303
        assert tel.client().incoming_phone_numbers.list(phone_number="+15550001111")
    with httpx.Client(base_url=tel.base_url) as fresh:  # sign-in itself takes no foreign form
        r = fresh.post("/console/signin", data={"AccountSid": tel.account_sid, "AuthToken": tel.auth_token})
        assert r.status_code == 403


def test_an_account_sees_only_its_own(tel: Telephonist) -> None:
    client = tel.client()
    other = client.api.accounts.create(friendly_name="tenant b")
    mine = client.messages.create(to="+15557654321", from_="+15005550006", body="for A only")
    call = client.calls.create(
        to="+15557654321", from_="+15005550006", twiml="<Response><Say>A</Say></Response>"
    )
    tel.call_final(call.sid)
    with signed_in(tel, other.sid, other.auth_token) as b:
        assert b.get(f"/console/calls/{call.sid}").status_code == 404
        assert b.get(f"/console/messages/{mine.sid}").status_code == 404
        numbers = client.incoming_phone_numbers.list(phone_number="+15005550006")
        assert b.get(f"/console/numbers/{numbers[0].sid}").status_code == 404
        token = csrf_of(b)
        r = b.post(
            f"/console/numbers/{numbers[0].sid}", data={"csrf": token, "VoiceUrl": "http://evil.example/"}
        )
        assert r.status_code == 404
        assert client.incoming_phone_numbers(numbers[0].sid).fetch().voice_url == ""
        for path in PAGES:
            text = b.get(path).text
            assert call.sid not in text and mine.sid not in text and "for A only" not in text
        assert b.post("/console/account/token", headers={"X-CSRF-Token": token}).json() == {
            "auth_token": other.auth_token
        }
        # B's live stream stays silent while A works.
        seen: list[str] = []

        def listen() -> None:
            try:
                with b.stream("GET", "/console/live", timeout=httpx.Timeout(10, read=4)) as s:
                    seen.extend(s.iter_lines())
            except httpx.ReadTimeout:  # a silent stream: what B should get
                pass

        t = threading.Thread(target=listen)
        t.start()
        time.sleep(1.2)
        late = client.messages.create(to="+15557654321", from_="+15005550006", body="A again")
        t.join(timeout=15)
        assert not any(late.sid in line for line in seen)
    with signed_in(tel) as a:  # while A's own stream carries it
        lines: list[str] = []
        with a.stream("GET", "/console/live", timeout=10) as s:
            fresh = client.messages.create(to="+15557654321", from_="+15005550006", body="A live")
            for line in s.iter_lines():
                lines.append(line)
                if fresh.sid in line:
                    break
        assert any(fresh.sid in line for line in lines)


def test_the_auth_token_is_never_logged_nor_in_a_url(
    tel: Telephonist, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    urls: list[str] = []
    with signed_in(tel) as c:
        c.event_hooks["request"] = [lambda request: urls.append(str(request.url))]
        for path in PAGES:
            c.get(path)
        c.post("/console/account/token", headers={"X-CSRF-Token": csrf_of(c)})
    assert urls and all(tel.auth_token not in u for u in urls)
    assert all(tel.auth_token not in record.getMessage() for record in caplog.records)


def test_suspending_an_account_ends_its_sessions(tel: Telephonist) -> None:
    client = tel.client()
    other = client.api.accounts.create(friendly_name="to be suspended")
    with signed_in(tel, other.sid, other.auth_token) as c:
        assert c.get("/console/calls").status_code == 200
        client.api.accounts(other.sid).update(status="suspended")
        assert c.get("/console/calls").status_code == 303


def test_a_signed_out_session_cookie_is_refused_even_if_copied(tel: Telephonist) -> None:
    with signed_in(tel) as c:
        stolen = c.cookies.get("telephonist_console", path="/console")
        assert stolen
        token = csrf_of(c)
        assert c.post("/console/signout", data={"csrf": token}).status_code == 303
    with httpx.Client(base_url=tel.base_url) as thief:
        thief.cookies.set("telephonist_console", stolen, path="/console")
        assert thief.get("/console/calls").status_code == 303
        assert thief.get("/console/live").status_code == 401


def test_odd_paging_values_are_ignored_not_a_server_error(tel: Telephonist) -> None:
    with signed_in(tel) as c:
        for value in ("²", "9" * 40, "-1", "abc"):
            assert c.get("/console/calls", params={"before": value}).status_code == 200
