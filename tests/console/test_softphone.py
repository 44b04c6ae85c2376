"""The console's browser phone: this browser signed in as a Client identity rings on a call to it, answers,
hangs up; and calls out through an Application. Real WebRTC media, on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from chromium import ARGS, CHROMIUM, MEDIA
from conftest import Telephonist, WebApp, running, wait_until
from console.conftest import shot, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def phone_browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *MEDIA])
        yield b
        b.close()


@pytest.fixture
def tel(tmp_path: Path) -> Iterator[Telephonist]:
    with running(tmp_path, time_scale=1.0, webrtc_host="127.0.0.1") as t:
        yield t


@pytest.fixture
def page(phone_browser: Browser) -> Iterator[Page]:
    context = phone_browser.new_context()
    p = context.new_page()
    p.set_default_timeout(15_000)
    yield p
    context.close()


def test_a_call_to_the_identity_rings_here_and_is_answered(page: Page, tel: Telephonist) -> None:
    sign_in(page, tel)
    page.click("nav >> text=Browser phone")
    page.fill("input[name=Identity]", "alice")
    page.click("text=Sign in this browser")
    expect(page.locator("#softphone-state")).to_have_text("Ready as client:alice")
    expect(page.locator("#softphone-call")).to_be_hidden()  # no Application: no calls from here
    call = tel.client().calls.create(
        to="client:alice",
        from_="+15005550006",
        twiml='<Response><Say>Hello</Say><Pause length="30"/></Response>',
    )
    expect(page.locator("#softphone-from")).to_have_text("+15005550006")
    shot(page, "softphone-ringing")
    page.click("#softphone-accept")
    expect(page.locator("#softphone-call-state")).to_have_text("in progress")
    wait_until(lambda: tel.client().calls(call.sid).fetch().status == "in-progress")
    shot(page, "softphone-call")
    page.click("#softphone-hangup")
    tel.call_final(call.sid)
    assert tel.client().calls(call.sid).fetch().status == "completed"
    expect(page.locator("#softphone-live")).to_be_hidden()


def test_a_call_from_here_runs_the_application(page: Page, tel: Telephonist, webapp: WebApp) -> None:
    voice = webapp.twiml("/outgoing", '<Response><Say>Calling</Say><Pause length="30"/></Response>')
    app = tel.client().applications.create(voice_url=voice, friendly_name="Outgoing")
    sign_in(page, tel)
    page.goto(tel.base_url + "/console/softphone")
    page.fill("input[name=Identity]", "bob")
    page.select_option("select[name=OutgoingApplicationSid]", app.sid)
    page.click("text=Sign in this browser")
    expect(page.locator("#softphone-call")).to_be_visible()
    page.fill("#softphone-call input[name=To]", "+15557654321")
    page.click("#softphone-call >> text=Call")
    hit = webapp.wait_hits("/outgoing")[0]
    assert hit.param("From") == "client:bob" and hit.param("To") == "+15557654321"
    assert hit.param("ApplicationSid") == app.sid
    expect(page.locator("#softphone-call-state")).to_have_text("in progress")
    page.click("#softphone-hangup")
    calls = tel.client().calls.list(from_="client:bob")
    tel.call_final(calls[0].sid)
