"""Virtual phones in the console: text and call a platform number from a page, answer a call, press keys
and speak on it, through the same simulated network as /sim/v1."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from conftest import Telephonist, WebApp
from console.conftest import shot, sign_in

pytestmark = pytest.mark.slow
PHONE = "+15557654321"
NUMBER = "+15005550006"


def open_phone(page: Page, tel: Telephonist, number: str = PHONE) -> None:
    sign_in(page, tel)
    page.click("nav >> text=Phones")
    page.fill("input[name=number]", number)
    page.click("text=Open phone")
    expect(page.locator("h1")).to_have_text(f"Phone {number}")
    expect(page.locator("body[data-live=open]")).to_have_count(1)


def test_text_a_number_and_read_the_reply(page: Page, tel: Telephonist, webapp: WebApp) -> None:
    sms = webapp.twiml("/sms", "<Response><Message>Got it, thanks</Message></Response>")
    tel.client().incoming_phone_numbers.list(phone_number=NUMBER)[0].update(sms_url=sms)
    open_phone(page, tel)
    page.select_option("#send-sms select[name=To]", NUMBER)
    page.fill("#send-sms input[name=Body]", "Hello from a page")
    page.click("#send-sms >> text=Send")
    hit = webapp.wait_hits("/sms")[0]
    assert hit.param("Body") == "Hello from a page" and hit.param("From") == PHONE
    for _ in range(20):  # the reply travels as a message of its own
        if "Got it, thanks" in page.locator("#inbox").inner_text():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.locator("#inbox")).to_contain_text("Got it, thanks")
    shot(page, "phone-sms")


def test_call_a_number_and_press_a_key(page: Page, tel: Telephonist, webapp: WebApp) -> None:
    voice = webapp.twiml(
        "/voice",
        '<Response><Gather numDigits="1" timeout="30" action="/pressed">'
        "<Say>Press a key</Say></Gather></Response>",
    )
    webapp.twiml("/pressed", "<Response><Say>Thank you</Say></Response>")
    tel.client().incoming_phone_numbers.list(phone_number=NUMBER)[0].update(voice_url=voice)
    open_phone(page, tel)
    page.click("#place-call >> text=Call")
    panel = page.locator("#call-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#transcript")).to_contain_text("Press a key")
    page.click("#call-panel [data-key='5']")
    assert webapp.wait_hits("/pressed")[0].param("Digits") == "5"
    expect(page.locator("#transcript")).to_contain_text("Thank you")
    expect(page.locator("#call-status")).to_have_text("completed", timeout=15_000)
    shot(page, "phone-call")


def test_answer_a_call_speak_and_hang_up(page: Page, tel: Telephonist, webapp: WebApp) -> None:
    open_phone(page, tel)
    page.select_option("#phone-settings select[name=Answer]", "manual")
    page.click("#phone-settings >> text=Save")
    expect(page.locator("#phone-settings select[name=Answer]")).to_have_value("manual")
    voice = webapp.twiml(
        "/ask",
        '<Response><Say>Who is this</Say><Gather input="speech" timeout="30" action="/said"/></Response>',
    )
    webapp.twiml("/said", '<Response><Pause length="100"/></Response>')
    call = tel.client().calls.create(to=PHONE, from_=NUMBER, url=voice)
    expect(page.locator("#call-sid")).to_have_text(call.sid)
    expect(page.locator("#call-status")).to_have_text("ringing")
    page.click("[data-call-action=answer]")
    expect(page.locator("#call-status")).to_have_text("in-progress")
    expect(page.locator("#transcript")).to_contain_text("Who is this")
    page.fill("#speak input[name=Text]", "it is the console")
    page.click("#speak >> text=Speak")
    said = webapp.wait_hits("/said")[0]
    assert said.param("SpeechResult") == "it is the console"
    shot(page, "phone-answered")
    page.click("[data-call-action=hangup]")
    expect(page.locator("#call-status")).to_have_text("completed")
    assert tel.client().calls(call.sid).fetch().status == "completed"
    row = page.locator(f"table[data-phone] tr[data-sid={call.sid}]")
    expect(row.locator("td.st")).to_have_text("completed")


def test_refusals_show_twilios_error(page: Page, tel: Telephonist) -> None:
    open_phone(page, tel)
    page.fill("#send-sms input[name=Body]", "x" * 1601)
    page.click("#send-sms >> text=Send")
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"\(21617\)"))
    page.goto(tel.base_url + "/console/phones/not-a-number")
    expect(page.locator("h1")).to_contain_text("No such phone")
