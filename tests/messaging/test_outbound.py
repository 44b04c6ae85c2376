"""Outbound SMS through the REST API: statuses, status callbacks, signatures, failures, segments."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from conftest import ACCOUNT_SID, Telephonist, WebApp, wait_until

from ._support import PLATFORM_NUMBER, flat, inbox, signed

FINAL = {"delivered", "undelivered", "failed"}


def final(client, sid: str):  # type: ignore[no-untyped-def]
    return wait_until(lambda: (m := client.messages(sid).fetch()).status in FINAL and m)


def test_status_callbacks_report_sent_then_delivered_signed(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    msg = client.messages.create(
        to="+15551230200",
        from_=PLATFORM_NUMBER,
        body="status please",
        status_callback=webapp.url("/status"),
    )
    assert msg.status == "queued"
    hits = webapp.wait_hits("/status", 2)
    assert [h.param("MessageStatus") for h in hits] == ["sent", "delivered"]
    for hit, status in zip(hits, ("sent", "delivered"), strict=True):
        assert hit.method == "POST"
        params = flat(hit)
        assert params["MessageSid"] == msg.sid
        assert params["SmsSid"] == msg.sid
        assert params["MessageStatus"] == status
        assert params["SmsStatus"] == status
        assert params["AccountSid"] == ACCOUNT_SID
        assert params["From"] == PLATFORM_NUMBER
        assert params["To"] == "+15551230200"
        assert params["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in params
        assert signed(hit), hit.headers
    assert final(client, msg.sid).status == "delivered"


def test_a_tampered_callback_does_not_validate(tel: Telephonist, webapp: WebApp) -> None:
    """The signature covers the parameters: the same request with another status must not validate."""
    tel.client().messages.create(
        to="+15551230201",
        from_=PLATFORM_NUMBER,
        body="x",
        status_callback=webapp.url("/status"),
    )
    [hit, *_] = webapp.wait_hits("/status", 1)
    assert signed(hit)
    hit.form["MessageStatus"] = ["delivered" if hit.param("MessageStatus") != "delivered" else "sent"]
    assert not signed(hit)


def test_status_callback_method_get_puts_params_in_the_query(tel: Telephonist, webapp: WebApp) -> None:
    # twilio 9.x has no status_callback_method on messages.create: send the parameter over the wire.
    with tel.http as h:
        r = h.post(
            f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            data={
                "To": "+15551230202",
                "From": PLATFORM_NUMBER,
                "Body": "by GET",
                "StatusCallback": webapp.url("/status?app=1"),
                "StatusCallbackMethod": "GET",
            },
        )
    assert r.status_code == 201, r.text
    sid = r.json()["sid"]
    hits = webapp.wait_hits("/status", 2)
    assert [h.method for h in hits] == ["GET", "GET"]
    assert [h.args["MessageStatus"] for h in hits] == [["sent"], ["delivered"]]
    for hit in hits:
        assert hit.form == {}
        assert hit.args["app"] == ["1"]  # the configured query survives
        assert hit.args["MessageSid"] == [sid] and hit.args["To"] == ["+15551230202"]
        assert urlsplit(hit.url).query.startswith("app=1&")
        assert signed(hit)


def test_phone_off_the_network_ends_undelivered_with_30003(tel: Telephonist, webapp: WebApp) -> None:
    r = tel.sim("POST", "/Phones", PhoneNumber="+15551230203", Answer="fail")
    assert r.status_code == 201, r.text
    client = tel.client()
    msg = client.messages.create(
        to="+15551230203",
        from_=PLATFORM_NUMBER,
        body="anyone?",
        status_callback=webapp.url("/status"),
    )
    done = final(client, msg.sid)
    assert done.status == "undelivered"
    assert done.error_code == 30003
    assert done.error_message
    hits = webapp.wait_hits("/status", 2)
    assert [h.param("MessageStatus") for h in hits] == ["sent", "undelivered"]
    assert hits[0].param("ErrorCode") is None
    assert hits[1].param("ErrorCode") == "30003"
    assert hits[1].param("SmsStatus") == "undelivered"
    assert signed(hits[1])
    assert inbox(tel, "+15551230203") == []


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, "1"),
        ("a" * 161, "2"),
        ("Ж" * 70, "1"),
        ("Ж" * 71, "2"),
        ("Hello 👍", "1"),
        ("👍" * 35, "1"),  # 70 UTF-16 units
        ("👍" * 36, "2"),  # 72 units: past a single UCS-2 segment
    ],
    ids=["gsm-160", "gsm-161", "cyrillic-70", "cyrillic-71", "emoji-short", "emoji-35", "emoji-36"],
)
def test_num_segments(tel: Telephonist, body: str, segments: str) -> None:
    client = tel.client()
    msg = client.messages.create(to="+15551230204", from_=PLATFORM_NUMBER, body=body)
    assert msg.num_segments == segments
    assert client.messages(msg.sid).fetch().num_segments == segments


def test_date_sent_is_set_once_sent_and_body_reaches_inbox(tel: Telephonist) -> None:
    client = tel.client()
    msg = client.messages.create(to="+15551230205", from_=PLATFORM_NUMBER, body="Привет 👋")
    assert msg.date_sent is None
    assert msg.direction == "outbound-api" and msg.num_media == "0"
    done = final(client, msg.sid)
    assert done.status == "delivered"
    assert done.date_sent is not None
    assert done.date_sent >= msg.date_created
    assert done.error_code is None
    [got] = inbox(tel, "+15551230205")
    assert (got["sid"], got["from"], got["body"]) == (msg.sid, PLATFORM_NUMBER, "Привет 👋")


def test_no_callback_requests_without_status_callback(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    msg = client.messages.create(to="+15551230206", from_=PLATFORM_NUMBER, body="quiet")
    assert final(client, msg.sid).status == "delivered"
    assert webapp.hits == []


def test_failing_status_callback_is_recorded_and_the_message_still_delivered(
    tel: Telephonist, webapp: WebApp
) -> None:
    client = tel.client()
    url = webapp.twiml("/status", "nope", status=500)
    msg = client.messages.create(to="+15551230207", from_=PLATFORM_NUMBER, body="x", status_callback=url)
    assert final(client, msg.sid).status == "delivered"
    notes = wait_until(lambda: len(n := client.notifications.list()) >= 2 and n)
    assert {(n.error_code, n.request_url) for n in notes} == {("11200", url)}
    assert len(webapp.hits_for("/status")) == 2
    assert inbox(tel, "+15551230207")[0]["sid"] == msg.sid
