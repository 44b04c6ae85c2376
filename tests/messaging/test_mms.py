"""MMS: MediaUrl on create is fetched and kept as Media resources (ME…), served like Twilio serves them, and
reaches the virtual phone; bad media fails the message with Twilio's codes and disturbs nothing else."""

from __future__ import annotations

import httpx

from conftest import Telephonist, WebApp, assert_twilio_error, wait_until

from ._support import PLATFORM_NUMBER, PNG, flat, inbox, wait_inbox

PHONE = "+15551237000"


def final(tel: Telephonist, sid: str):  # type: ignore[no-untyped-def]
    client = tel.client()
    return wait_until(lambda: (m := client.messages(sid).fetch()).status in ("delivered", "failed") and m)


def test_mms_media_fetched_stored_listed_and_served(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    pictures = [webapp.file("/a.png", PNG, "image/png"), webapp.file("/b.jpg", b"\xff\xd8jpeg", "image/jpeg")]
    msg = client.messages.create(to=PHONE, from_=PLATFORM_NUMBER, body="two pictures", media_url=pictures)
    assert msg.sid.startswith("MM") and msg.status == "queued" and msg.num_media == "2"
    assert msg.subresource_uris["media"].endswith(f"/Messages/{msg.sid}/Media.json")
    assert final(tel, msg.sid).status == "delivered"
    assert len(webapp.hits_for("/a.png")) == 1 and webapp.hits_for("/a.png")[0].method == "GET"

    media = client.messages(msg.sid).media.list()
    assert [m.content_type for m in reversed(media)] == ["image/png", "image/jpeg"]
    for m in media:
        assert m.sid.startswith("ME") and m.parent_sid == msg.sid
        assert m.uri == f"/2010-04-01/Accounts/{tel.account_sid}/Messages/{msg.sid}/Media/{m.sid}.json"
        assert client.messages(msg.sid).media(m.sid).fetch().content_type == m.content_type
    png = next(m for m in media if m.content_type == "image/png")
    got = httpx.get(tel.base_url + png.uri.removesuffix(".json"))  # public, as on Twilio
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"

    [received] = wait_inbox(tel, PHONE)
    assert received["body"] == "two pictures"
    assert [m["content_type"] for m in received["media"]] == ["image/png", "image/jpeg"]
    assert httpx.get(received["media"][0]["url"]).content == PNG


def test_media_only_message_and_delete(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    msg = client.messages.create(
        to=PHONE, from_=PLATFORM_NUMBER, media_url=[webapp.file("/c.gif", b"GIF89a", "image/gif")]
    )
    assert final(tel, msg.sid).status == "delivered"
    [medium] = client.messages(msg.sid).media.list()
    assert client.messages(msg.sid).media(medium.sid).delete() is True
    assert client.messages(msg.sid).media.list() == []
    assert httpx.get(tel.base_url + medium.uri.removesuffix(".json")).status_code == 404


def test_platform_to_platform_mms_reaches_the_app(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    client.incoming_phone_numbers.create(phone_number="+15005550010", sms_url=webapp.url("/sms"))
    msg = client.messages.create(
        to="+15005550010",
        from_=PLATFORM_NUMBER,
        body="pic",
        media_url=[webapp.file("/d.png", PNG, "image/png")],
    )
    [hit] = webapp.wait_hits("/sms")
    params = flat(hit)
    assert params["NumMedia"] == "1" and params["MediaContentType0"] == "image/png"
    assert params["MessageSid"] != msg.sid
    assert httpx.get(params["MediaUrl0"]).content == PNG
    assert len(webapp.hits_for("/d.png")) == 1  # the copy is read from the platform, not fetched again


def test_bad_media_fails_the_message_with_twilio_codes(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    cases = {
        11200: webapp.twiml("/missing.png", "not here", status=404),
        11751: webapp.file("/huge.png", b"\0" * (20 * 1024 * 1024), "image/png"),
        12300: webapp.file("/app.exe", b"MZ", "application/x-msdownload"),
    }
    sids = {
        code: client.messages.create(to=PHONE, from_=PLATFORM_NUMBER, body=f"m{code}", media_url=[url]).sid
        for code, url in cases.items()
    }
    ok = client.messages.create(to=PHONE, from_=PLATFORM_NUMBER, body="plain text still goes")
    for code, sid in sids.items():
        failed = final(tel, sid)
        assert (failed.status, failed.error_code) == ("failed", code)
        assert client.messages(sid).media.list() == []
    assert final(tel, ok.sid).status == "delivered"
    assert [m["body"] for m in inbox(tel, PHONE)] == ["plain text still goes"]


def test_media_url_limits_on_create(tel: Telephonist) -> None:
    with tel.http as h:
        path = f"/2010-04-01/Accounts/{tel.account_sid}/Messages.json"
        eleven = [f"https://example.com/{i}.png" for i in range(11)]
        r = h.post(path, data={"To": PHONE, "From": PLATFORM_NUMBER, "MediaUrl": eleven})
        assert_twilio_error(r, 400, 21623)
        r = h.post(path, data={"To": PHONE, "From": PLATFORM_NUMBER, "MediaUrl": "ftp://example.com/x.png"})
        assert_twilio_error(r, 400, 21620)
        r = h.post(path, data={"To": PHONE, "From": PLATFORM_NUMBER, "Body": "x" * 1601})
        assert_twilio_error(r, 400, 21617)
    assert tel.client().messages.list() == []


def test_media_of_another_account_is_not_found(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    msg = client.messages.create(
        to=PHONE, from_=PLATFORM_NUMBER, media_url=[webapp.file("/e.png", PNG, "image/png")]
    )
    final(tel, msg.sid)
    [medium] = client.messages(msg.sid).media.list()
    sub = client.api.accounts.create(friendly_name="other")
    other = tel.client(sub.sid, sub.auth_token)
    with tel.http as h:
        r = h.get(
            f"/2010-04-01/Accounts/{sub.sid}/Messages/{msg.sid}/Media/{medium.sid}.json",
            auth=(sub.sid, sub.auth_token),
        )
        assert_twilio_error(r, 404, 20404)
    assert other.messages.list() == []
    url = f"{tel.base_url}/2010-04-01/Accounts/{sub.sid}/Messages/{msg.sid}/Media/{medium.sid}"
    assert httpx.get(url).status_code == 404
