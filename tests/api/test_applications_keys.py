"""Applications (and the calls and numbers that use them) and API keys (and what they may open)."""

from __future__ import annotations

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from conftest import Telephonist, WebApp, assert_twilio_error, wait_until

from ._support import API, FROM

PHONE = "+15551117701"


def _client(tel: Telephonist, sid: str, secret: str) -> Client:
    c = Client(sid, secret, tel.account_sid)
    c.api.base_url = tel.base_url
    return c


def test_application_crud(tel: Telephonist) -> None:
    client = tel.client()
    app = client.applications.create(
        friendly_name="IVR",
        voice_url="https://app.example/voice",
        voice_method="GET",
        sms_url="https://app.example/sms",
    )
    assert app.sid.startswith("AP")
    assert (app.voice_url, app.voice_method, app.sms_url, app.sms_method) == (
        "https://app.example/voice",
        "GET",
        "https://app.example/sms",
        "POST",
    )
    assert [a.sid for a in client.applications.list(friendly_name="IVR")] == [app.sid]
    assert client.applications.list(friendly_name="other") == []
    app = client.applications(app.sid).update(
        voice_url="https://app.example/v2", status_callback="https://app.example/s"
    )
    assert (app.voice_url, app.status_callback, app.friendly_name) == (
        "https://app.example/v2",
        "https://app.example/s",
        "IVR",
    )
    assert client.applications(app.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        client.applications(app.sid).fetch()
    assert info.value.code == 20404


def test_application_bad_url_is_21402(tel: Telephonist) -> None:
    with tel.http as h:
        r = h.post(f"{API}/Accounts/{tel.account_sid}/Applications.json", data={"VoiceUrl": "not a url"})
    assert_twilio_error(r, 400, 21402)
    assert tel.client().applications.list() == []


def test_call_with_application_sid_runs_its_voice_url(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    app = client.applications.create(
        voice_url=webapp.twiml("/app-voice", "<Response><Say>From the app</Say></Response>"),
        status_callback=webapp.url("/app-status"),
    )
    call = client.calls.create(to=PHONE, from_=FROM, application_sid=app.sid)
    tel.call_final(call.sid)
    assert webapp.wait_hits("/app-voice")[0].form["CallSid"] == [call.sid]
    assert webapp.wait_hits("/app-status")[0].form["CallStatus"] == ["completed"]


@pytest.mark.parametrize("sid", ["AP" + "0" * 32, "nonsense"])
def test_call_with_unknown_application_is_21218(tel: Telephonist, sid: str) -> None:
    with tel.http as h:
        r = h.post(
            f"{API}/Accounts/{tel.account_sid}/Calls.json",
            data={"To": PHONE, "From": FROM, "ApplicationSid": sid},
        )
    assert_twilio_error(r, 400, 21218)
    assert tel.client().calls.list() == []


def test_number_with_applications_uses_their_urls(tel: Telephonist, webapp: WebApp) -> None:
    client = tel.client()
    app = client.applications.create(
        voice_url=webapp.twiml("/app-voice", "<Response><Say>Application answering</Say></Response>"),
        sms_url=webapp.twiml("/app-sms", "<Response><Message>Application replying</Message></Response>"),
    )
    [number] = client.incoming_phone_numbers.list(phone_number=FROM)
    number = number.update(
        voice_url=webapp.url("/number-voice"), voice_application_sid=app.sid, sms_application_sid=app.sid
    )
    assert (number.voice_application_sid, number.sms_application_sid) == (app.sid, app.sid)
    r = tel.sim("POST", f"/Phones/{PHONE}/Calls", To=FROM)
    call = tel.call_final(r.json()["sid"])
    assert call.status == "completed"
    webapp.wait_hits("/app-voice")
    assert webapp.hits_for("/number-voice") == []
    tel.sim("POST", f"/Phones/{PHONE}/Messages", To=FROM, Body="hello")
    webapp.wait_hits("/app-sms")
    wait_until(lambda: tel.sim("GET", f"/Phones/{PHONE}").json()["messages"])
    # deleting the application sends the number back to its own URLs
    client.applications(app.sid).delete()
    assert client.incoming_phone_numbers(number.sid).fetch().voice_application_sid is None


def test_number_with_another_accounts_application_is_21420(tel: Telephonist) -> None:
    client = tel.client()
    sub = client.api.accounts.create(friendly_name="other")
    sub_client = tel.client(sub.sid, sub.auth_token)
    foreign = sub_client.api.accounts(sub.sid).applications.create(voice_url="https://app.example/v")
    [number] = client.incoming_phone_numbers.list(phone_number=FROM)
    with pytest.raises(TwilioRestException) as info:
        number.update(voice_application_sid=foreign.sid)
    assert info.value.code == 21420
    assert client.incoming_phone_numbers(number.sid).fetch().voice_application_sid is None


def test_api_key_secret_is_shown_once_and_authenticates(tel: Telephonist) -> None:
    client = tel.client()
    key = client.new_keys.create(friendly_name="ci")
    assert key.sid.startswith("SK") and key.secret
    fetched = client.keys(key.sid).fetch()
    assert (fetched.sid, fetched.friendly_name) == (key.sid, "ci")
    with tel.http as h:
        assert "secret" not in h.get(f"{API}/Accounts/{tel.account_sid}/Keys/{key.sid}.json").json()
    with_key = _client(tel, key.sid, key.secret)
    message = with_key.messages.create(to=PHONE, from_=FROM, body="sent with a key")
    assert message.account_sid == tel.account_sid
    assert [k.sid for k in client.keys.list()] == [key.sid]
    assert client.keys(key.sid).update(friendly_name="ci-2").friendly_name == "ci-2"


def test_api_key_wrong_secret_and_deleted_key_are_refused(tel: Telephonist) -> None:
    client = tel.client()
    key = client.new_keys.create(friendly_name="ci")
    url = f"{tel.base_url}{API}/Accounts/{tel.account_sid}/Messages.json"
    assert_twilio_error(httpx.get(url, auth=(key.sid, "wrong")), 401, 20003)
    assert httpx.get(url, auth=(key.sid, key.secret)).status_code == 200
    client.keys(key.sid).delete()
    assert_twilio_error(httpx.get(url, auth=(key.sid, key.secret)), 401, 20003)


def test_standard_key_cannot_manage_accounts_or_keys(tel: Telephonist) -> None:
    key = tel.client().new_keys.create(friendly_name="ci")
    auth = (key.sid, key.secret)
    base = f"{tel.base_url}{API}/Accounts"
    for method, url in [
        ("GET", f"{base}.json"),
        ("POST", f"{base}.json"),
        ("POST", f"{base}/{tel.account_sid}.json"),
        ("GET", f"{base}/{tel.account_sid}/Keys.json"),
        ("POST", f"{base}/{tel.account_sid}/Keys.json"),
    ]:
        assert_twilio_error(httpx.request(method, url, auth=auth), 403, 20403)
    assert len(tel.client().api.accounts.list()) == 1


def test_key_opens_its_own_account_only(tel: Telephonist) -> None:
    client = tel.client()
    sub = client.api.accounts.create(friendly_name="sub")
    key = client.new_keys.create(friendly_name="parent key")
    r = httpx.get(f"{tel.base_url}{API}/Accounts/{sub.sid}/Messages.json", auth=(key.sid, key.secret))
    assert_twilio_error(r, 401, 20003)
