"""STOP, START and HELP, handled as Twilio does by default: the phone gets Twilio's reply, the app is told
with OptOutType, and an unsubscribed recipient cannot be sent to (21610) until it texts START."""

from __future__ import annotations

from pathlib import Path

from conftest import Telephonist, WebApp, assert_twilio_error

from ._support import PLATFORM_NUMBER, flat, settle, text_in, wait_inbox

PHONE = "+15551239100"
UNSUBSCRIBED = (
    "You have successfully been unsubscribed. You will not receive any more messages from this number. "
    "Reply START to resubscribe."
)


def send(tel: Telephonist, from_: str = PLATFORM_NUMBER, **extra: str):  # type: ignore[no-untyped-def]
    with tel.http as h:
        return h.post(
            f"/2010-04-01/Accounts/{tel.account_sid}/Messages.json",
            data={"To": PHONE, "From": from_, "Body": "news", **extra},
        )


def test_stop_unsubscribes_and_start_resubscribes(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    client.incoming_phone_numbers(client.incoming_phone_numbers.list()[0].sid).update(
        sms_url=webapp.url("/sms")
    )
    text_in(tel, PHONE, " stop ")
    [reply] = wait_inbox(tel, PHONE)
    assert (reply["from"], reply["body"]) == (PLATFORM_NUMBER, UNSUBSCRIBED)
    [hit] = webapp.wait_hits("/sms")
    assert flat(hit)["OptOutType"] == "STOP" and flat(hit)["Body"] == " stop "
    assert_twilio_error(send(tel), 400, 21610)

    # Another number of the account is another sender: its messages still go.
    client.incoming_phone_numbers.create(phone_number="+15005550030")
    assert send(tel, "+15005550030").status_code == 201

    text_in(tel, PHONE, "START")
    replies = wait_inbox(tel, PHONE, 3)
    assert replies[-1]["body"].startswith("You have successfully been re-subscribed")
    assert flat(webapp.wait_hits("/sms", 2)[1])["OptOutType"] == "START"
    assert send(tel).status_code == 201


def test_help_replies_and_does_not_unsubscribe(tel: Telephonist, webapp: WebApp) -> None:
    text_in(tel, PHONE, "help")
    [reply] = wait_inbox(tel, PHONE)
    assert reply["body"] == "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    assert send(tel).status_code == 201


def test_app_replies_to_an_unsubscribed_phone_are_refused(
    tel: Telephonist, webapp: WebApp, tmp_path: Path
) -> None:
    client = tel.client()
    url = webapp.twiml("/sms", "<Response><Message>sorry to see you go</Message></Response>")
    client.incoming_phone_numbers(client.incoming_phone_numbers.list()[0].sid).update(sms_url=url)
    text_in(tel, PHONE, "UNSUBSCRIBE")
    webapp.wait_hits("/sms")
    settle(tmp_path)
    assert [m["body"] for m in wait_inbox(tel, PHONE)] == [UNSUBSCRIBED]
    [alert] = client.notifications.list()
    assert str(alert.error_code) == "21610"


def test_an_opt_out_covers_the_whole_messaging_service(tel: Telephonist) -> None:
    client = tel.client()
    svc = client.messaging.v1.services.create(friendly_name="pool")
    for number in ("+15005550031", "+15005550032"):
        svc.phone_numbers.create(
            phone_number_sid=client.incoming_phone_numbers.create(phone_number=number).sid
        )
    text_in(tel, PHONE, "STOP", to="+15005550031")
    wait_inbox(tel, PHONE)
    assert_twilio_error(send(tel, "+15005550032"), 400, 21610)
    assert_twilio_error(send(tel, "", MessagingServiceSid=svc.sid), 400, 21610)
    assert send(tel).status_code == 201  # the default number is in no service
