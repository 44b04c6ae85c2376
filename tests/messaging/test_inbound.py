"""Inbound SMS: a virtual phone texts a platform number, its SmsUrl runs, and the TwiML reply is sent."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import httpx

from conftest import ACCOUNT_SID, Telephonist, WebApp, wait_until

from ._support import PLATFORM_NUMBER, PNG, buy, flat, inbox, set_sms, settle, signed, text_in, wait_inbox

PHONE = "+15551239999"
# The number the outside world texts: the default one, configured with incoming_phone_numbers(sid).update().
NUMBER = PLATFORM_NUMBER


def replies(tel: Telephonist) -> list:  # type: ignore[type-arg]
    return [m for m in tel.client().messages.list() if m.direction == "outbound-reply"]


def wait_delivered_replies(tel: Telephonist, count: int) -> list:  # type: ignore[type-arg]
    def done() -> list:  # type: ignore[type-arg]
        found = replies(tel)
        return found if len(found) >= count and all(m.status == "delivered" for m in found) else []

    return wait_until(done)  # type: ignore[no-any-return]


def test_incoming_sms_webhook_carries_twilio_params_signed(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    set_sms(client, sms_url=webapp.url("/sms"))
    sid = text_in(tel, PHONE, "hi", to=NUMBER)
    [hit] = webapp.wait_hits("/sms")
    assert hit.method == "POST"
    params = flat(hit)
    assert params["MessageSid"] == sid and sid.startswith("SM")
    assert params["SmsSid"] == sid
    assert params["SmsMessageSid"] == sid
    assert params["AccountSid"] == ACCOUNT_SID
    assert params["From"] == PHONE
    assert params["To"] == NUMBER
    assert params["Body"] == "hi"
    assert params["NumMedia"] == "0"
    assert params["NumSegments"] == "1"
    assert params["SmsStatus"] == "received"
    assert params["ApiVersion"] == "2010-04-01"
    assert {"FromCountry", "ToCountry", "FromCity", "ToState"} <= set(params)
    assert not any(k.startswith("MediaUrl") for k in params)
    assert signed(hit), hit.headers

    msg = client.messages(sid).fetch()
    assert msg.direction == "inbound"
    assert msg.status == "received"
    assert (msg.from_, msg.to, msg.body) == (PHONE, NUMBER, "hi")
    assert msg.date_sent is not None
    assert [m.sid for m in client.messages.list(to=NUMBER)] == [sid]


def test_sms_url_set_by_update_runs(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    set_sms(client, sms_url=webapp.twiml("/sms", "<Response><Message>Thanks</Message></Response>"))
    [owned] = client.incoming_phone_numbers.list(phone_number=PLATFORM_NUMBER)
    assert owned.sms_url == webapp.url("/sms")
    text_in(tel, PHONE, "hi")
    [hit] = webapp.wait_hits("/sms")
    assert hit.param("To") == PLATFORM_NUMBER and signed(hit)
    [got] = wait_inbox(tel, PHONE)
    assert (got["from"], got["body"]) == (PLATFORM_NUMBER, "Thanks")


def test_from_country_of_a_us_sender(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(tel.client(), sms_url=webapp.url("/sms"))
    text_in(tel, "+14155551212", "hello from SF", to=NUMBER)
    [hit] = webapp.wait_hits("/sms")
    assert (hit.param("FromCountry"), hit.param("ToCountry")) == ("US", "US")


def test_from_country_of_a_simulated_phone_is_us(tel: Telephonist, webapp: WebApp) -> None:
    buy(tel.client(), "+15557770100", sms_url=webapp.url("/sms"))
    text_in(tel, PHONE, "hi", to="+15557770100")
    [hit] = webapp.wait_hits("/sms")
    assert (hit.param("FromCountry"), hit.param("ToCountry")) == ("US", "US")


def test_multi_segment_inbound_reports_num_segments(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(tel.client(), sms_url=webapp.url("/sms"))
    text_in(tel, PHONE, "x" * 161, to=NUMBER)
    [hit] = webapp.wait_hits("/sms")
    assert hit.param("NumSegments") == "2"


def test_message_reply_reaches_the_phone(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    set_sms(client, sms_url=webapp.twiml("/sms", "<Response><Message>Thanks</Message></Response>"))
    inbound = text_in(tel, PHONE, "hi", to=NUMBER)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "Thanks" and got["from"] == NUMBER
    [reply] = wait_delivered_replies(tel, 1)
    assert reply.sid == got["sid"] and reply.sid != inbound
    assert (reply.from_, reply.to, reply.body) == (NUMBER, PHONE, "Thanks")
    assert reply.direction == "outbound-reply"
    assert reply.date_sent is not None


def test_two_messages_give_two_replies(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(
        tel.client(),
        sms_url=webapp.twiml("/sms", "<Response><Message>one</Message><Message>two</Message></Response>"),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    got = wait_inbox(tel, PHONE, 2)
    assert sorted(m["body"] for m in got) == ["one", "two"]
    assert len(wait_delivered_replies(tel, 2)) == 2


def test_message_to_and_from_attributes(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(
        tel.client(),
        sms_url=webapp.twiml(
            "/sms", f'<Response><Message to="+15551230777" from="{NUMBER}">forwarded</Message></Response>'
        ),
    )
    text_in(tel, PHONE, "please forward", to=NUMBER)
    [got] = wait_inbox(tel, "+15551230777")
    assert (got["from"], got["body"]) == (NUMBER, "forwarded")
    [reply] = wait_delivered_replies(tel, 1)
    assert reply.to == "+15551230777"
    assert inbox(tel, PHONE) == []


def test_nested_body(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(
        tel.client(),
        sms_url=webapp.twiml("/sms", "<Response><Message><Body>nested</Body></Message></Response>"),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "nested"


def test_messaging_response_helper_output(tel: Telephonist, webapp: WebApp) -> None:
    from twilio.twiml.messaging_response import MessagingResponse

    resp = MessagingResponse()
    resp.message("from the SDK helper")
    set_sms(tel.client(), sms_url=webapp.twiml("/sms", str(resp)))
    text_in(tel, PHONE, "hi", to=NUMBER)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "from the SDK helper"


def test_text_plain_response_is_sent_as_the_reply(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(tel.client(), sms_url=webapp.twiml("/sms", "Plain thanks", content_type="text/plain"))
    text_in(tel, PHONE, "hi", to=NUMBER)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "Plain thanks"


def test_redirect_fetches_more_twiml(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/next", "<Response><Message>from next</Message></Response>")
    set_sms(tel.client(), sms_url=webapp.twiml("/sms", "<Response><Redirect>/next</Redirect></Response>"))
    text_in(tel, PHONE, "hi", to=NUMBER)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "from next"
    [first] = webapp.hits_for("/sms")
    [second] = webapp.hits_for("/next")
    # the redirected request carries the inbound parameters again, signed for its own URL
    assert second.param("Body") == "hi" and second.param("MessageSid") == first.param("MessageSid")
    assert signed(second)


def test_redirect_with_get(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/next", "<Response><Message>via GET</Message></Response>")
    set_sms(
        tel.client(),
        sms_url=webapp.twiml(
            "/sms", f'<Response><Redirect method="GET">{webapp.url("/next")}</Redirect></Response>'
        ),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "via GET"
    [hit] = webapp.hits_for("/next")
    assert hit.method == "GET" and hit.args["Body"] == ["hi"]
    assert signed(hit)


def test_message_action_receives_the_reply_status_callbacks(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(
        tel.client(),
        sms_url=webapp.twiml("/sms", '<Response><Message action="/status">ok</Message></Response>'),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    hits = webapp.wait_hits("/status", 2)
    [reply] = wait_delivered_replies(tel, 1)
    assert [h.param("MessageStatus") for h in hits] == ["sent", "delivered"]
    assert all(h.param("MessageSid") == reply.sid for h in hits)
    assert all(h.param("To") == PHONE and h.param("From") == NUMBER for h in hits)
    assert all(signed(h) for h in hits)


def test_empty_response_sends_nothing(tel: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    set_sms(tel.client(), sms_url=webapp.twiml("/sms", "<Response/>"))
    text_in(tel, PHONE, "hi", to=NUMBER)
    webapp.wait_hits("/sms")
    settle(tmp_path)
    assert replies(tel) == []
    assert inbox(tel, PHONE) == []


def test_sms_url_500_runs_the_fallback_with_error_code(tel: Telephonist, webapp: WebApp) -> None:
    primary = webapp.twiml("/sms", "oops", status=500, content_type="text/plain")
    fallback = webapp.twiml("/fallback", "<Response><Message>sorry, fallback</Message></Response>")
    set_sms(tel.client(), sms_url=primary, sms_fallback_url=fallback)
    sid = text_in(tel, PHONE, "hi", to=NUMBER)
    [hit] = webapp.wait_hits("/fallback")
    assert hit.param("ErrorCode") == "11200"
    assert hit.param("ErrorUrl") == primary
    assert hit.param("MessageSid") == sid and hit.param("Body") == "hi"
    assert signed(hit)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "sorry, fallback"


def test_sms_url_500_without_fallback_records_11200_and_sends_nothing(
    tel: Telephonist,
    webapp: WebApp,
    tmp_path: Path,
) -> None:
    client = tel.client()
    primary = webapp.twiml("/sms", "<Response><Message>never</Message></Response>", status=500)
    set_sms(client, sms_url=primary)
    text_in(tel, PHONE, "hi", to=NUMBER)
    [note] = wait_until(lambda: client.notifications.list())
    assert note.error_code == "11200"
    assert note.request_url == primary
    assert note.request_method == "POST"
    assert note.log == "0"
    detail = client.notifications(note.sid).fetch()
    assert parse_qs(detail.request_variables)["Body"] == ["hi"]
    settle(tmp_path)
    assert replies(tel) == []
    assert inbox(tel, PHONE) == []


def test_invalid_xml_records_12100(tel: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    client = tel.client()
    url = webapp.twiml("/sms", "<Response><Message>broken</Response>")
    set_sms(client, sms_url=url)
    text_in(tel, PHONE, "hi", to=NUMBER)
    [note] = wait_until(lambda: client.notifications.list())
    assert note.error_code == "12100"
    assert note.request_url == url
    settle(tmp_path)
    assert replies(tel) == []


def test_invalid_xml_then_fallback(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/sms", "not xml at all <")
    set_sms(
        tel.client(),
        sms_url=url,
        sms_fallback_url=webapp.twiml("/fallback", "<Response><Message>fallback ran</Message></Response>"),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    [hit] = webapp.wait_hits("/fallback")
    assert (hit.param("ErrorCode"), hit.param("ErrorUrl")) == ("12100", url)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "fallback ran"


def test_number_without_sms_url_stores_the_message_only(
    tel: Telephonist, webapp: WebApp, tmp_path: Path
) -> None:
    client = tel.client()
    sid = text_in(tel, PHONE, "anyone there?", to=PLATFORM_NUMBER)  # the default number has no SmsUrl
    settle(tmp_path)
    msg = client.messages(sid).fetch()
    assert (msg.direction, msg.status, msg.body) == ("inbound", "received", "anyone there?")
    assert [m.sid for m in client.messages.list()] == [sid]
    assert client.notifications.list() == []
    assert webapp.hits == []
    assert inbox(tel, PHONE) == []


def test_sms_method_get(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(
        tel.client(),
        sms_url=webapp.twiml("/sms", "<Response><Message>got it</Message></Response>"),
        sms_method="GET",
    )
    text_in(tel, PHONE, "by get", to=NUMBER)
    [hit] = webapp.wait_hits("/sms")
    assert hit.method == "GET" and hit.args["Body"] == ["by get"] and hit.form == {}
    assert signed(hit)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "got it"


def test_replies_of_one_conversation_keep_order(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(tel.client(), sms_url=webapp.url("/sms"))
    for i in range(5):
        text_in(tel, PHONE, f"msg {i}", to=NUMBER)
    hits = webapp.wait_hits("/sms", 5)
    assert [h.param("Body") for h in hits] == [f"msg {i}" for i in range(5)]


def test_inbound_media_params(tel: Telephonist, webapp: WebApp) -> None:
    """A phone sends a picture: Telephonist keeps a copy, and the app gets its URL and type, as on Twilio."""
    client = tel.client()
    set_sms(client, sms_url=webapp.url("/sms"))
    picture = webapp.file("/cat.png", PNG, "image/png")
    r = tel.sim("POST", f"/Phones/{PHONE}/Messages", To=NUMBER, Body="look", MediaUrl=picture)
    assert r.status_code == 201, r.text
    sid = r.json()["sid"]
    assert sid.startswith("MM")
    [hit] = webapp.wait_hits("/sms")
    assert hit.param("NumMedia") == "1"
    [medium] = client.messages(sid).media.list()
    assert (
        hit.param("MediaUrl0")
        == f"{tel.base_url}/2010-04-01/Accounts/{tel.account_sid}/Messages/{sid}/Media/{medium.sid}"
    )
    assert hit.param("MediaContentType0") == "image/png"
    assert signed(hit)
    assert client.messages(sid).fetch().num_media == "1"
    got = httpx.get(hit.param("MediaUrl0") or "")  # no credentials, as an app fetches it
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"


def test_message_action_with_get(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(
        tel.client(),
        sms_url=webapp.twiml(
            "/sms", '<Response><Message action="/status" method="GET">ok</Message></Response>'
        ),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    hits = webapp.wait_hits("/status", 2)
    assert [(h.method, h.args["MessageStatus"]) for h in hits] == [("GET", ["sent"]), ("GET", ["delivered"])]
    assert all(signed(h) for h in hits)


def test_replies_before_a_redirect_to_text_plain_are_kept(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/plain", "second", content_type="text/plain")
    set_sms(
        tel.client(),
        sms_url=webapp.twiml(
            "/sms", "<Response><Message>first</Message><Redirect>/plain</Redirect></Response>"
        ),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    got = wait_inbox(tel, PHONE, 2, timeout=2)
    assert sorted(m["body"] for m in got) == ["first", "second"]


def test_replies_before_a_redirect_are_kept(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/next", "<Response><Message>second</Message></Response>")
    set_sms(
        tel.client(),
        sms_url=webapp.twiml(
            "/sms",
            "<Response><Message>first</Message><Redirect>/next</Redirect><Message>never</Message></Response>",
        ),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    got = wait_inbox(tel, PHONE, 2)
    assert sorted(m["body"] for m in got) == ["first", "second"]


def test_invalid_to_attribute_is_not_sent_to_the_sender(
    tel: Telephonist,
    webapp: WebApp,
    tmp_path: Path,
) -> None:
    client = tel.client()
    set_sms(
        client,
        sms_url=webapp.twiml("/sms", '<Response><Message to="not-a-number">secret</Message></Response>'),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    webapp.wait_hits("/sms")
    settle(tmp_path)
    assert inbox(tel, PHONE) == []
    assert [n.error_code for n in client.notifications.list()] == ["14101"]


def test_more_than_ten_messages_send_ten_and_record_14109(
    tel: Telephonist, webapp: WebApp, tmp_path: Path
) -> None:
    client = tel.client()
    many = "".join(f"<Message>reply {i}</Message>" for i in range(11))
    set_sms(client, sms_url=webapp.twiml("/sms", f"<Response>{many}</Response>"))
    text_in(tel, PHONE, "hi", to=NUMBER)
    got = wait_inbox(tel, PHONE, 10)
    settle(tmp_path)
    assert sorted(m["body"] for m in inbox(tel, PHONE)) == sorted(f"reply {i}" for i in range(10))
    assert [n.error_code for n in client.notifications.list()] == ["14109"]
    assert len(got) == 10


def test_fallback_failing_too_sends_nothing(tel: Telephonist, webapp: WebApp, tmp_path: Path) -> None:
    client = tel.client()
    primary = webapp.twiml("/sms", "<Response><Message>no</Message></Response>", status=500)
    fallback = webapp.twiml("/fallback", "<Response><Message>no either</Message></Response>", status=503)
    set_sms(client, sms_url=primary, sms_fallback_url=fallback)
    text_in(tel, PHONE, "hi", to=NUMBER)
    webapp.wait_hits("/fallback")
    settle(tmp_path)
    notes = client.notifications.list()
    assert sorted((n.error_code, n.request_url) for n in notes) == [("11200", fallback), ("11200", primary)]
    assert replies(tel) == []
    assert inbox(tel, PHONE) == []


def test_xml_entities_and_unicode_in_replies(tel: Telephonist, webapp: WebApp) -> None:
    set_sms(
        tel.client(),
        sms_url=webapp.twiml(
            "/sms", "<Response><Message>\n  Tom &amp; Jerry ❤ Привет\n</Message></Response>"
        ),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    [got] = wait_inbox(tel, PHONE)
    assert got["body"] == "Tom & Jerry ❤ Привет"
    [reply] = wait_delivered_replies(tel, 1)
    assert reply.num_segments == "1"


def test_message_from_a_number_the_account_does_not_own_is_refused_with_14108(
    tel: Telephonist, webapp: WebApp, tmp_path: Path
) -> None:
    client = tel.client()
    set_sms(
        client,
        sms_url=webapp.twiml(
            "/sms",
            '<Response><Message from="+15551230555">spoofed</Message><Message>genuine</Message></Response>',
        ),
    )
    text_in(tel, PHONE, "hi", to=NUMBER)
    [got] = wait_inbox(tel, PHONE)
    settle(tmp_path)
    assert (got["from"], got["body"]) == (NUMBER, "genuine")
    assert [m.body for m in replies(tel)] == ["genuine"]
    [note] = client.notifications.list()
    assert note.error_code == "14108"
    assert "+15551230555" in parse_qs(note.message_text)["Msg"][0]


def test_redirect_loop_stops_after_fifty_documents_with_14106(
    tel: Telephonist, webapp: WebApp, tmp_path: Path
) -> None:
    client = tel.client()
    set_sms(client, sms_url=webapp.twiml("/sms", "<Response><Redirect>/sms</Redirect></Response>"))
    text_in(tel, PHONE, "hi", to=NUMBER)
    wait_until(lambda: client.notifications.list())
    assert len(webapp.hits_for("/sms")) == 50
    assert [n.error_code for n in client.notifications.list()] == ["14106"]
    assert replies(tel) == []
