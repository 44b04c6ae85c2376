"""Bad input to /sim/v1 messaging: Twilio-style error bodies, and the server keeps serving."""

from __future__ import annotations

import pytest

from conftest import Telephonist, WebApp

from ._support import PLATFORM_NUMBER, buy, inbox, text_in, wait_inbox


def error(r, status: int = 400) -> int:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["status"] == status and body["message"]
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}"
    return int(body["code"])


@pytest.mark.parametrize(
    ("sender", "data", "code"),
    [
        ("+15551239999", {"To": "+15557779999", "Body": "hi"}, 21606),  # nobody owns it: a virtual phone
        ("+15551239999", {"To": PLATFORM_NUMBER, "Body": ""}, 21602),
        ("+15551239999", {"To": PLATFORM_NUMBER}, 21602),
        ("not-a-phone", {"To": PLATFORM_NUMBER, "Body": "hi"}, 21211),
        ("+15005550001", {"To": PLATFORM_NUMBER, "Body": "hi"}, 21211),  # Twilio's magic invalid number
        ("+15551239999", {"To": "12", "Body": "hi"}, 21211),
        ("+15551239999", {"Body": "hi"}, 21211),
        ("+15551239999", {"To": PLATFORM_NUMBER, "Body": "x" * 1601}, 21617),
        ("+15551239999", {"To": PLATFORM_NUMBER, "Body": "hi", "MediaUrl": "ftp://example.com/a.png"}, 21620),
    ],
    ids=[
        "unknown-number",
        "empty-body",
        "no-body",
        "bad-sender",
        "magic-invalid",
        "bad-to",
        "no-to",
        "too-long",
        "bad-media",
    ],
)
def test_phone_sends_bad_input(tel: Telephonist, sender: str, data: dict[str, str], code: int) -> None:
    r = tel.sim("POST", f"/Phones/{sender}/Messages", **data)
    assert error(r) == code
    assert tel.client().messages.list() == []


def test_the_server_keeps_serving_after_bad_input(tel: Telephonist, webapp: WebApp) -> None:
    for _ in range(3):
        assert error(tel.sim("POST", "/Phones/+15551239999/Messages", To="+15557779999", Body="hi")) == 21606
        assert error(tel.sim("POST", "/Phones/+15551239999/Messages", To=PLATFORM_NUMBER, Body="")) == 21602
        assert error(tel.sim("POST", "/Phones/garbage/Messages", To=PLATFORM_NUMBER, Body="hi")) == 21211
    buy(
        tel.client(),
        "+15557770100",
        sms_url=webapp.twiml("/sms", "<Response><Message>still here</Message></Response>"),
    )
    sid = text_in(tel, "+15551239999", "hi", to="+15557770100")
    assert tel.client().messages(sid).fetch().status == "received"
    [got] = wait_inbox(tel, "+15551239999")
    assert got["body"] == "still here"


def test_a_subaccount_cannot_text_its_parents_number(tel: Telephonist) -> None:
    sub = tel.client().api.v2010.accounts.create(friendly_name="tenant")
    r = tel.sim("GET", "/Phones/+15551239999")  # warm the phone up with the parent's credentials
    assert r.status_code == 200
    with tel.http as h:
        h.auth = (sub.sid, sub.auth_token)
        r = h.post("/sim/v1/Phones/+15551239999/Messages", data={"To": PLATFORM_NUMBER, "Body": "hi"})
    assert error(r) == 21606
    assert tel.client().messages.list() == []


def test_sim_requires_credentials(tel: Telephonist) -> None:
    with tel.http as h:
        h.auth = (tel.account_sid, "wrong-token-0123456789")
        r = h.post("/sim/v1/Phones/+15551239999/Messages", data={"To": PLATFORM_NUMBER, "Body": "hi"})
    assert r.status_code == 401
    assert tel.client().messages.list() == []


def test_configure_phone_rejects_bad_answer_mode(tel: Telephonist) -> None:
    assert error(tel.sim("POST", "/Phones", PhoneNumber="+15551230300", Answer="sometimes")) == 20422
    assert error(tel.sim("POST", "/Phones", PhoneNumber="nope", Answer="fail")) == 21211
    # a platform number is not a virtual phone
    assert error(tel.sim("POST", "/Phones", PhoneNumber=PLATFORM_NUMBER, Answer="fail"), 400) == 20409
    # and nothing changed: a message to the phone is still delivered
    client = tel.client()
    msg = client.messages.create(to="+15551230300", from_=PLATFORM_NUMBER, body="ok")
    assert wait_inbox(tel, "+15551230300")[0]["sid"] == msg.sid
    assert inbox(tel, "+15551230300")[0]["body"] == "ok"
