"""Messaging Services through the SDK's messaging.v1 domain: a sender pool, sends that start `accepted`,
sticky senders, scheduled messages (SendAt, ScheduleType=fixed) and their cancelation, inbound routing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from twilio.base.exceptions import TwilioRestException

from conftest import Telephonist, WebApp, assert_twilio_error, running, wait_until

from ._support import PLATFORM_NUMBER, flat, inbox, number_sid, text_in, wait_inbox

POOL = ("+15005550020", "+15005550021")


def pool_service(tel: Telephonist, **config: object):  # type: ignore[no-untyped-def]
    client = tel.client()
    svc = client.messaging.v1.services.create(friendly_name="notifications", **config)
    for number in POOL:
        pn = client.incoming_phone_numbers.create(phone_number=number)
        svc.phone_numbers.create(phone_number_sid=pn.sid)
    return svc


def final(tel: Telephonist, sid: str):  # type: ignore[no-untyped-def]
    client = tel.client()
    finals = ("delivered", "failed", "canceled")
    return wait_until(lambda: (m := client.messages(sid).fetch()).status in finals and m)


def test_service_crud_and_sender_pool(tel: Telephonist) -> None:
    client = tel.client()
    svc = client.messaging.v1.services.create(friendly_name="alerts", status_callback="https://example.com/s")
    assert svc.sid.startswith("MG") and svc.account_sid == tel.account_sid
    assert svc.url == f"{tel.base_url}/messaging/v1/Services/{svc.sid}"
    assert svc.validity_period == 14400 and svc.sticky_sender is True
    assert [s.sid for s in client.messaging.v1.services.list()] == [svc.sid]
    updated = client.messaging.v1.services(svc.sid).update(friendly_name="renamed", validity_period=600)
    assert (updated.friendly_name, updated.validity_period) == ("renamed", 600)

    pn = number_sid(client)
    added = client.messaging.v1.services(svc.sid).phone_numbers.create(phone_number_sid=pn)
    assert (added.sid, added.phone_number, added.service_sid) == (pn, PLATFORM_NUMBER, svc.sid)
    assert [n.sid for n in client.messaging.v1.services(svc.sid).phone_numbers.list()] == [pn]
    other = client.messaging.v1.services.create(friendly_name="other")
    for service_sid, code in ((svc.sid, 21710), (other.sid, 21712)):
        try:
            client.messaging.v1.services(service_sid).phone_numbers.create(phone_number_sid=pn)
        except TwilioRestException as err:
            assert err.code == code
        else:
            raise AssertionError(f"adding the number twice should fail with {code}")
    assert client.messaging.v1.services(svc.sid).phone_numbers(pn).delete() is True
    assert client.messaging.v1.services(svc.sid).phone_numbers.list() == []
    assert client.messaging.v1.services(svc.sid).delete() is True
    assert [s.sid for s in client.messaging.v1.services.list()] == [other.sid]


def test_a_service_send_is_accepted_then_queued_from_a_pool_number(tel: Telephonist, webapp: WebApp) -> None:
    svc = pool_service(tel, status_callback=webapp.url("/service-status"))
    client = tel.client()
    msg = client.messages.create(to="+15551238000", messaging_service_sid=svc.sid, body="from the pool")
    assert (msg.status, msg.from_, msg.messaging_service_sid) == ("accepted", None, svc.sid)
    hits = webapp.wait_hits("/service-status", 3)
    assert [h.param("MessageStatus") for h in hits] == ["queued", "sent", "delivered"]
    assert all(flat(h)["MessagingServiceSid"] == svc.sid for h in hits)
    sender = final(tel, msg.sid).from_
    assert sender in POOL
    [got] = wait_inbox(tel, "+15551238000")
    assert got["from"] == sender
    # Sticky sender: the same recipient hears from the same number every time.
    again = client.messages.create(to="+15551238000", messaging_service_sid=svc.sid, body="again")
    assert final(tel, again.sid).from_ == sender


def test_a_service_with_no_numbers_fails_the_message(tel: Telephonist) -> None:
    client = tel.client()
    svc = client.messaging.v1.services.create(friendly_name="empty")
    msg = client.messages.create(to="+15551238001", messaging_service_sid=svc.sid, body="nobody sends me")
    failed = final(tel, msg.sid)
    assert (failed.status, failed.error_code) == ("failed", 21704)


def test_service_errors_on_create(tel: Telephonist) -> None:
    svc = tel.client().messaging.v1.services.create(friendly_name="s")
    path = f"/2010-04-01/Accounts/{tel.account_sid}/Messages.json"
    with tel.http as h:
        r = h.post(path, data={"To": "+15551238002", "Body": "x"})
        assert_twilio_error(r, 400, 21603)
        r = h.post(path, data={"To": "+15551238002", "Body": "x", "MessagingServiceSid": "MG123"})
        assert_twilio_error(r, 400, 21705)
        r = h.post(path, data={"To": "+15551238002", "Body": "x", "MessagingServiceSid": "MG" + "0" * 32})
        assert_twilio_error(r, 400, 21701)
        data = {"To": "+15551238002", "Body": "x", "MessagingServiceSid": svc.sid, "From": PLATFORM_NUMBER}
        r = h.post(path, data=data)
        assert_twilio_error(r, 400, 21711)
    assert tel.client().messages.list() == []


def test_scheduled_message_is_sent_at_send_at(tmp_path: Path, webapp: WebApp) -> None:
    # time_scale 0.001: SendAt thirty minutes ahead comes 1.8 s later (time to look before it is due).
    with running(tmp_path, time_scale=0.001) as tel:
        svc = pool_service(tel)
        client = tel.client()
        send_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
        msg = client.messages.create(
            to="+15551238003",
            messaging_service_sid=svc.sid,
            body="later",
            schedule_type="fixed",
            send_at=send_at,
            status_callback=webapp.url("/status"),
        )
        assert msg.status == "scheduled"
        assert inbox(tel, "+15551238003") == []
        hits = webapp.wait_hits("/status", 3)
        assert [h.param("MessageStatus") for h in hits] == ["queued", "sent", "delivered"]
        assert [m["body"] for m in wait_inbox(tel, "+15551238003")] == ["later"]


def test_a_scheduled_message_can_be_canceled(tel: Telephonist, webapp: WebApp) -> None:
    svc = pool_service(tel)
    client = tel.client()
    msg = client.messages.create(
        to="+15551238004",
        messaging_service_sid=svc.sid,
        body="never",
        schedule_type="fixed",
        send_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30),  # 18 s here: canceled long before
        status_callback=webapp.url("/status"),
    )
    canceled = client.messages(msg.sid).update(status="canceled")
    assert canceled.status == "canceled"
    [hit] = webapp.wait_hits("/status")
    assert hit.param("MessageStatus") == "canceled"
    with tel.http as h:  # canceled is final: a second cancel is refused
        r = h.post(
            f"/2010-04-01/Accounts/{tel.account_sid}/Messages/{msg.sid}.json", data={"Status": "canceled"}
        )
        assert_twilio_error(r, 400, 21220)
    assert inbox(tel, "+15551238004") == []


def test_schedule_errors(tel: Telephonist) -> None:
    svc = tel.client().messaging.v1.services.create(friendly_name="s")
    now = dt.datetime.now(dt.UTC)
    base = {"To": "+15551238005", "Body": "x", "MessagingServiceSid": svc.sid}

    def at(delta: dt.timedelta) -> str:
        return (now + delta).strftime("%Y-%m-%dT%H:%M:%SZ")

    cases = [
        ({"ScheduleType": "fixed"}, 35111),
        ({"ScheduleType": "sometime", "SendAt": at(dt.timedelta(hours=1))}, 35126),
        ({"ScheduleType": "fixed", "SendAt": at(dt.timedelta(minutes=1))}, 35114),
        ({"ScheduleType": "fixed", "SendAt": at(dt.timedelta(days=40))}, 35114),
        ({"ScheduleType": "fixed", "SendAt": "next tuesday-ish"}, 35114),
    ]
    with tel.http as h:
        path = f"/2010-04-01/Accounts/{tel.account_sid}/Messages.json"
        for extra, code in cases:
            assert_twilio_error(h.post(path, data={**base, **extra}), 400, code)
        no_service = {"To": "+15551238005", "Body": "x", "From": PLATFORM_NUMBER}
        r = h.post(path, data={**no_service, "ScheduleType": "fixed", "SendAt": at(dt.timedelta(hours=1))})
        assert_twilio_error(r, 400, 35118)
        sent = h.post(path, data={**no_service})
        assert sent.status_code == 201
        r = h.post(f"{path.removesuffix('.json')}/{sent.json()['sid']}.json", data={"Status": "canceled"})
        assert_twilio_error(r, 400, 21220)
    assert len(tel.client().messages.list()) == 1


def test_inbound_to_a_pool_number_goes_to_the_service(tel: Telephonist, webapp: WebApp) -> None:
    svc = pool_service(tel, inbound_request_url=webapp.url("/service-inbound"))
    client = tel.client()
    client.incoming_phone_numbers(number_sid(client, POOL[0])).update(sms_url=webapp.url("/number-inbound"))
    text_in(tel, "+15551238006", "to the service", to=POOL[0])
    [hit] = webapp.wait_hits("/service-inbound")
    assert flat(hit)["MessagingServiceSid"] == svc.sid and flat(hit)["Body"] == "to the service"
    client.messaging.v1.services(svc.sid).update(use_inbound_webhook_on_number=True)
    text_in(tel, "+15551238006", "to the number", to=POOL[0])
    [hit] = webapp.wait_hits("/number-inbound")
    assert flat(hit)["Body"] == "to the number"
    assert len(webapp.hits_for("/service-inbound")) == 1
