"""An SMS between two platform numbers goes out of one and comes in at the other, with its webhooks."""

from __future__ import annotations

from pathlib import Path

from conftest import ACCOUNT_SID, Telephonist, WebApp, wait_until

from ._support import PLATFORM_NUMBER, buy, flat, inbox, settle, signed, text_in

SECOND = "+15557770001"


def delivered(client, sid: str):  # type: ignore[no-untyped-def]
    return wait_until(lambda: (m := client.messages(sid).fetch()).status == "delivered" and m)


def test_send_to_a_second_number_of_the_account(tel: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    client = tel.client()
    buy(client, SECOND, sms_url=webapp.url("/second"))
    out = client.messages.create(
        to=SECOND,
        from_=PLATFORM_NUMBER,
        body="between numbers",
        status_callback=webapp.url("/status"),
    )
    assert delivered(client, out.sid).direction == "outbound-api"
    assert [h.param("MessageStatus") for h in webapp.wait_hits("/status", 2)] == ["sent", "delivered"]

    [hit] = webapp.wait_hits("/second")
    params = flat(hit)
    assert (params["From"], params["To"], params["Body"]) == (PLATFORM_NUMBER, SECOND, "between numbers")
    assert params["AccountSid"] == ACCOUNT_SID and params["SmsStatus"] == "received"
    assert signed(hit)
    inbound_sid = params["MessageSid"]
    assert inbound_sid != out.sid

    received = client.messages(inbound_sid).fetch()
    assert (received.direction, received.status) == ("inbound", "received")
    assert (received.from_, received.to, received.body) == (PLATFORM_NUMBER, SECOND, "between numbers")
    settle(tmp_path)
    # exactly two resources: the outbound and the inbound; no virtual phone got a copy
    assert sorted(m.direction for m in client.messages.list()) == ["inbound", "outbound-api"]
    assert inbox(tel, SECOND) == []


def test_a_reply_comes_back_into_the_first_number(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    buy(client, SECOND, sms_url=webapp.twiml("/second", "<Response><Message>pong</Message></Response>"))
    # the first number answers nothing, so the conversation stops here
    buy(client, "+15557770002", sms_url=webapp.url("/first"))
    client.messages.create(to=SECOND, from_="+15557770002", body="ping")
    [hit] = webapp.wait_hits("/first")
    assert (hit.param("From"), hit.param("To"), hit.param("Body")) == (SECOND, "+15557770002", "pong")
    assert signed(hit)
    [reply] = wait_until(
        lambda: [
            m
            for m in client.messages.list(from_=SECOND)
            if m.direction == "outbound-reply" and m.status == "delivered"
        ]
    )
    assert reply.to == "+15557770002"


def test_send_to_a_subaccount_number(tel: Telephonist, webapp: WebApp) -> None:
    parent = tel.client()
    sub = parent.api.v2010.accounts.create(friendly_name="tenant")
    sub_client = tel.client(sub.sid, sub.auth_token)
    buy(sub_client, SECOND, sms_url=webapp.url("/tenant"))
    out = parent.messages.create(to=SECOND, from_=PLATFORM_NUMBER, body="to the tenant")
    delivered(parent, out.sid)
    [hit] = webapp.wait_hits("/tenant")
    assert hit.param("AccountSid") == sub.sid
    assert (hit.param("From"), hit.param("To"), hit.param("Body")) == (
        PLATFORM_NUMBER,
        SECOND,
        "to the tenant",
    )
    # signed with the auth token of the account that owns the number, not the parent's
    assert signed(hit, sub.auth_token)
    assert not signed(hit)
    [received] = sub_client.messages.list()
    assert (received.sid, received.direction, received.status) == (
        hit.param("MessageSid"),
        "inbound",
        "received",
    )
    assert received.account_sid == sub.sid
    assert [m.sid for m in parent.messages.list()] == [out.sid]


def test_a_phone_texts_a_subaccount_number_with_the_parent_credentials(
    tel: Telephonist, webapp: WebApp
) -> None:
    parent = tel.client()
    sub = parent.api.v2010.accounts.create(friendly_name="tenant")
    sub_client = tel.client(sub.sid, sub.auth_token)
    buy(
        sub_client,
        SECOND,
        sms_url=webapp.twiml("/tenant", "<Response><Message>hello tenant</Message></Response>"),
    )
    text_in(tel, "+15551239999", "hi", to=SECOND)
    [hit] = webapp.wait_hits("/tenant")
    assert hit.param("AccountSid") == sub.sid and signed(hit, sub.auth_token)
    [got] = wait_until(lambda: inbox(tel, "+15551239999"))
    assert (got["from"], got["body"]) == (SECOND, "hello tenant")
