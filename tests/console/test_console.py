"""The console in a real browser against a real server: sign in, add a number, watch a call and a message
happen live, read a call's timeline, the debugger and the account page."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from conftest import Telephonist, WebApp, wait_until
from console.conftest import shot, sign_in, signed_in
from telephonist.console import live

pytestmark = pytest.mark.slow
CALLER = "+15557654321"


def test_sign_in_refuses_a_wrong_token_and_lands_on_the_asked_page(page: Page, tel: Telephonist) -> None:
    page.goto(tel.base_url + "/console/numbers")
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    sign_in(page, tel, token="not-the-token-0000")
    expect(page.get_by_role("alert")).to_contain_text("wrong")
    shot(page, "signin-refused")
    page.fill("input[name=AuthToken]", tel.auth_token)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/numbers$"))
    expect(page.locator("h1")).to_have_text("Phone numbers")
    cookie = next(c for c in page.context.cookies() if c["name"] == "telephonist_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert tel.auth_token not in cookie["value"]
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    page.goto(tel.base_url + "/console/calls")
    expect(page).to_have_url(re.compile(r"/console/signin$"))


def test_number_call_and_timeline(
    page: Page, tel: Telephonist, webapp: WebApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    voice = webapp.twiml(
        "/voice",
        '<Response><Say>Hello from the console</Say><Gather numDigits="1" timeout="3"/>'
        '<Pause length="20"/></Response>',
    )
    sign_in(page, tel)
    expect(page.locator("h1")).to_have_text("The last hour")
    shot(page, "dashboard-empty")

    # A number with a bad webhook URL: Twilio's error beside the field, and no number made.
    page.click("nav >> text=Numbers")
    page.fill("input[name=PhoneNumber]", "+15551112222")
    page.fill("input[name=VoiceUrl]", "not a url")
    page.click("text=Add number")
    expect(page.locator("#err-VoiceUrl")).to_contain_text("21402")
    shot(page, "numbers-invalid")
    assert not tel.client().incoming_phone_numbers.list(phone_number="+15551112222")
    page.fill("input[name=VoiceUrl]", voice)
    page.click("text=Add number")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("input[name=VoiceUrl]")).to_have_value(voice)
    shot(page, "number-added")

    # Watch the calls page while a virtual phone calls the number: the row comes and changes live.
    page.click("nav >> text=Calls")
    expect(page.locator("body[data-live=open]")).to_have_count(1)
    r = tel.sim("POST", f"/Phones/{CALLER}/Calls", To="+15551112222", GatherInput="7")
    assert r.status_code == 201, r.text
    sid = r.json()["sid"]
    row = page.locator(f"tr[data-sid={sid}]")
    expect(row.locator("td.st")).to_have_text("in-progress")
    shot(page, "calls-live")
    expect(row.locator("td.st")).to_have_text("completed", timeout=15_000)

    row.locator("a").click()
    expect(page.locator("svg.timeline")).to_be_visible()
    events = page.locator("ol.events")
    expect(events).to_contain_text("<Say> “Hello from the console”")
    expect(events).to_contain_text("caller entered “7”")
    expect(events).to_contain_text("status: completed")
    request = events.locator("li.k-webhook").first
    expect(request).to_contain_text(f"POST {voice} → 200")
    request.locator("summary").click()
    expect(request.locator("table.params")).to_contain_text(sid)
    expect(request.locator("pre.body")).to_contain_text("<Say>Hello from the console</Say>")
    expect(request).to_contain_text("X-Twilio-Signature")
    assert page.locator("svg.timeline rect[fill]").count() >= 2  # the two webhook requests, drawn
    shot(page, "call-timeline")

    # Nothing the browser was sent or asked for, nothing logged, carries the auth token.
    assert tel.auth_token not in page.content()
    assert all(tel.auth_token not in r.message for r in caplog.records)
    assert tel.auth_token not in page.url


def test_message_delivered_live(page: Page, tel: Telephonist, webapp: WebApp) -> None:
    sign_in(page, tel)
    page.click("nav >> text=Messages")
    expect(page.locator("body[data-live=open]")).to_have_count(1)
    body = "Hello from the console test, long enough to need two segments. " * 3
    msg = tel.client().messages.create(to=CALLER, from_="+15005550006", body=body)
    row = page.locator(f"tr[data-sid={msg.sid}]")
    expect(row.locator("td.st")).to_have_text("delivered", timeout=15_000)
    shot(page, "messages-live")
    row.locator("a").click()
    expect(page.locator("h1")).to_contain_text("delivered")
    expect(page.locator("dl.facts")).to_contain_text("2 segments")
    expect(page.locator("ol.segments li")).to_have_count(2)
    expect(page.locator("ol.steps")).to_contain_text("created")
    shot(page, "message")


def test_a_live_stream_starts_with_what_changed_just_before_it(
    tel: Telephonist, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page connects its live stream after it was rendered: a message that came meanwhile still reaches
    it (the page of a phone missed a ringing call so), and one from long before is not sent again."""
    monkeypatch.setattr(live, "RECENT", dt.timedelta(seconds=2))
    client = tel.client()

    def delivered(body: str) -> str:
        sid = client.messages.create(to=CALLER, from_="+15005550006", body=body).sid
        wait_until(lambda: client.messages(sid).fetch().status == "delivered")
        return str(sid)

    old = delivered("long before")
    time.sleep(2.5)
    meanwhile = delivered("after the page, before its stream")
    lines: list[str] = []
    with signed_in(tel) as c, c.stream("GET", "/console/live", timeout=httpx.Timeout(10, read=5)) as s:
        for line in s.iter_lines():
            lines.append(line)
            if meanwhile in line:
                break
    assert any(meanwhile in line and '"delivered"' in line for line in lines)
    assert not any(old in line for line in lines)


def test_debugger_links_a_failed_webhook_to_its_call(page: Page, tel: Telephonist, webapp: WebApp) -> None:
    broken = webapp.twiml("/broken", "down for maintenance", status=503, content_type="text/plain")
    tel.client().incoming_phone_numbers.create(phone_number="+15553334444", voice_url=broken)
    sign_in(page, tel)
    page.click("nav >> text=Debugger")
    expect(page.locator("body[data-live=open]")).to_have_count(1)
    sid = tel.sim("POST", f"/Phones/{CALLER}/Calls", To="+15553334444").json()["sid"]
    expect(page.locator("table[data-live=notification] tbody")).to_contain_text("11200", timeout=15_000)
    page.reload()
    entry = page.locator("table[data-live=notification] tbody tr").first
    expect(entry).to_contain_text("HTTP retrieval failure: status 503")
    entry.locator("summary").click()
    expect(entry.locator("pre.body")).to_have_text("down for maintenance")
    shot(page, "debugger")
    entry.locator(f"a[href='/console/calls/{sid}']").click()
    expect(page.locator("ol.events li.bad").first).to_be_visible()
    shot(page, "call-failed")


def test_account_page_reveals_the_token_on_click_and_shows_a_key_secret_once(
    page: Page, tel: Telephonist
) -> None:
    sign_in(page, tel)
    page.click("nav >> text=Account")
    expect(page.locator("#account-sid")).to_have_text(tel.account_sid)
    assert tel.auth_token not in page.content()
    page.click("#reveal-token")
    expect(page.locator("#auth-token")).to_have_text(tel.auth_token)
    page.fill("input[aria-label='Key name']", "ci key")
    page.click("text=Create API key")
    secret = page.locator("#new-key code").nth(1).inner_text()
    assert len(secret) >= 32
    expect(page.locator("table.list").nth(1)).to_contain_text("ci key")
    page.fill("input[aria-label='Subaccount name']", "team b")
    page.click("text=Create subaccount")
    expect(page.locator("table.list").first).to_contain_text("team b")
    shot(page, "account")
    page.reload()
    assert secret not in page.content()


def test_dashboard_charts_count_the_hour(page: Page, tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    for _ in range(3):
        client.messages.create(to=CALLER, from_="+15005550006", body="hi")
    wait_until(lambda: all(m.status == "delivered" for m in client.messages.list()))
    sign_in(page, tel)
    charts = page.locator(".charts figure")
    expect(charts.nth(1).locator("figcaption")).to_contain_text("3 in all")
    expect(charts.nth(1).locator(".legend")).to_contain_text("delivered 3")
    expect(charts.nth(1).locator("svg.chart rect")).to_have_count(1)
    shot(page, "dashboard")


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_mms_shows_its_picture(page: Page, tel: Telephonist, webapp: WebApp) -> None:
    picture = webapp.file("/dot.png", PNG, "image/png")
    msg = tel.client().messages.create(to=CALLER, from_="+15005550006", body="a dot", media_url=[picture])
    wait_until(lambda: tel.client().messages(msg.sid).fetch().status == "delivered")
    sign_in(page, tel)
    page.goto(f"{tel.base_url}/console/messages/{msg.sid}")
    img = page.locator(".media img")
    expect(img).to_have_count(1)
    assert img.evaluate("i => i.complete && i.naturalWidth") == 1  # loaded, past the page's CSP


def test_call_page_plays_its_recording(page: Page, tel: Telephonist, webapp: WebApp) -> None:
    tel.sim("POST", "/Phones", PhoneNumber=CALLER, GatherInput="speech:please call me back about the invoice")
    webapp.twiml("/done", "<Response><Hangup/></Response>")
    voice = webapp.twiml(
        "/rec", '<Response><Say>Leave a message</Say><Record maxLength="10" action="/done"/></Response>'
    )
    call = tel.client().calls.create(to=CALLER, from_="+15005550006", url=voice)
    tel.call_final(call.sid, timeout=30)
    wait_until(lambda: tel.client().recordings.list(call_sid=call.sid), timeout=20)
    wait_until(lambda: tel.client().recordings.list(call_sid=call.sid)[0].status == "completed", timeout=20)
    sign_in(page, tel)
    page.goto(f"{tel.base_url}/console/calls/{call.sid}")
    audio = page.locator("audio")
    expect(audio).to_have_count(1)
    seconds = audio.evaluate(
        "a => new Promise(ok => { a.onloadedmetadata = () => ok(a.duration); a.preload = 'metadata'; "
        "a.load(); })"
    )
    assert 1 < seconds < 15
    shot(page, "call-recording")
