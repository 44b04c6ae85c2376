"""IncomingPhoneNumbers: buy (by number or area code), configure, list, fetch, release, and every refusal."""

from __future__ import annotations

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from conftest import Telephonist, assert_twilio_error
from telephonist.api.accounts import create_account

API = "/2010-04-01"


def _base(tel: Telephonist) -> str:
    return f"{API}/Accounts/{tel.account_sid}/IncomingPhoneNumbers"


def _numbers(tel: Telephonist) -> list[str]:
    with tel.http as h:
        r = h.get(_base(tel) + ".json", params={"PageSize": 1000})
    assert r.status_code == 200, r.text
    return sorted(n["phone_number"] for n in r.json()["incoming_phone_numbers"])


# -- create --------------------------------------------------------------------------------------


def test_create_with_phone_number_is_201_with_defaults(tel: Telephonist) -> None:
    with tel.http as h:
        r = h.post(_base(tel) + ".json", data={"PhoneNumber": "+15551115001"})
    assert r.status_code == 201, r.text
    n = r.json()
    assert n["sid"].startswith("PN") and len(n["sid"]) == 34
    assert n["account_sid"] == tel.account_sid
    assert n["phone_number"] == "+15551115001"
    assert n["friendly_name"] == "(555) 111-5001"
    assert n["capabilities"] == {"fax": False, "mms": True, "sms": True, "voice": True}
    assert n["voice_method"] == "POST" and n["sms_method"] == "POST"
    assert n["voice_fallback_method"] == "POST" and n["sms_fallback_method"] == "POST"
    assert n["status_callback_method"] == "POST"
    assert n["voice_url"] in ("", None) and n["sms_url"] in ("", None)
    assert n["api_version"] == "2010-04-01"
    assert n["uri"] == f"{_base(tel)}/{n['sid']}.json"
    assert n["date_created"].endswith("+0000")


def test_create_with_configuration(tel: Telephonist, client: Client) -> None:
    n = client.incoming_phone_numbers.create(
        phone_number="+15551115002",
        friendly_name="Front desk",
        voice_url="http://example.com/voice",
        voice_method="GET",
        sms_url="https://example.com/sms",
        status_callback="http://example.com/status",
    )
    assert n.friendly_name == "Front desk"
    assert n.voice_url == "http://example.com/voice" and n.voice_method == "GET"
    assert n.sms_url == "https://example.com/sms" and n.sms_method == "POST"
    assert n.status_callback == "http://example.com/status"


@pytest.mark.parametrize("typed", ["15551115003", "(555) 111-5003", "+1 555 111 5003"])
def test_create_normalises_loosely_typed_numbers(client: Client, typed: str) -> None:
    assert client.incoming_phone_numbers.create(phone_number=typed).phone_number == "+15551115003"


def test_create_with_area_code(tel: Telephonist, client: Client) -> None:
    n = client.incoming_phone_numbers.create(area_code="415")
    assert n.phone_number.startswith("+1415") and len(n.phone_number) == 12
    assert n.account_sid == tel.account_sid
    m = client.incoming_phone_numbers.create(area_code="415")
    assert m.phone_number != n.phone_number
    assert n.phone_number in _numbers(tel) and m.phone_number in _numbers(tel)


def test_bought_number_can_send(client: Client) -> None:
    client.incoming_phone_numbers.create(phone_number="+15551115004")
    assert client.messages.create(to="+15551115005", from_="+15551115004", body="hi").status == "queued"


# -- create errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"PhoneNumber": "not-a-number"}, 21421),
        ({"PhoneNumber": "123"}, 21421),
        ({"PhoneNumber": "+15005550001"}, 21421),
        ({"PhoneNumber": "+15005550000"}, 21422),
        ({"PhoneNumber": "+15005550006"}, 21422),  # already owned (the default number)
        ({"AreaCode": "533"}, 21452),
        ({"AreaCode": "41"}, 21452),
        ({"PhoneNumber": "+15551115010", "VoiceUrl": "not a url"}, 21402),
        ({"PhoneNumber": "+15551115010", "VoiceUrl": "ftp://example.com/x"}, 21402),
        ({"PhoneNumber": "+15551115010", "SmsUrl": "example.com"}, 21402),
        ({"PhoneNumber": "+15551115010", "VoiceFallbackUrl": "nope"}, 21402),
        ({"PhoneNumber": "+15551115010", "StatusCallback": "nope"}, 21402),
        ({"PhoneNumber": "+15551115010", "VoiceMethod": "PUT"}, 21403),
        ({"PhoneNumber": "+15551115010", "SmsMethod": "DELETE"}, 21403),
    ],
)
def test_create_errors_write_nothing(tel: Telephonist, data: dict[str, str], code: int) -> None:
    before = _numbers(tel)
    with tel.http as h:
        assert_twilio_error(h.post(_base(tel) + ".json", data=data), 400, code)
    assert _numbers(tel) == before
    # The server keeps serving.
    with tel.http as h:
        assert h.post(_base(tel) + ".json", data={"PhoneNumber": "+15551115011"}).status_code == 201


def test_number_owned_by_another_account_is_not_available(tel: Telephonist, client: Client) -> None:
    with tel.db.tx() as conn:
        b = create_account(conn, "B")
    tel.client(b["sid"], b["auth_token"]).incoming_phone_numbers.create(phone_number="+15551115020")
    with pytest.raises(TwilioRestException) as exc:
        client.incoming_phone_numbers.create(phone_number="+15551115020")
    assert exc.value.status == 400 and exc.value.code == 21422
    assert "+15551115020" not in _numbers(tel)


def test_create_twice_is_21422(client: Client) -> None:
    client.incoming_phone_numbers.create(phone_number="+15551115021")
    with pytest.raises(TwilioRestException) as exc:
        client.incoming_phone_numbers.create(phone_number="+15551115021")
    assert exc.value.code == 21422


# -- list ----------------------------------------------------------------------------------------


def test_list_and_filters(tel: Telephonist, client: Client) -> None:
    a = client.incoming_phone_numbers.create(phone_number="+15551115030", friendly_name="Sales")
    b = client.incoming_phone_numbers.create(phone_number="+15551115031", friendly_name="Support")
    assert {n.sid for n in client.incoming_phone_numbers.list()} >= {a.sid, b.sid}
    assert [n.sid for n in client.incoming_phone_numbers.list(phone_number="+15551115030")] == [a.sid]
    assert [n.sid for n in client.incoming_phone_numbers.list(friendly_name="Support")] == [b.sid]
    assert {n.sid for n in client.incoming_phone_numbers.list(phone_number="555111503")} == {a.sid, b.sid}
    assert client.incoming_phone_numbers.list(friendly_name="Nobody") == []
    with tel.http as h:
        r = h.get(_base(tel) + ".json", params={"FriendlyName": "Sales"})
    body = r.json()
    assert [n["sid"] for n in body["incoming_phone_numbers"]] == [a.sid]
    assert "FriendlyName=Sales" in body["uri"]


def test_list_is_scoped_to_the_account(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    client.api.accounts(sub.sid).incoming_phone_numbers.create(phone_number="+15551115040")
    assert "+15551115040" not in _numbers(tel)
    assert [n.phone_number for n in client.api.accounts(sub.sid).incoming_phone_numbers.list()] == [
        "+15551115040"
    ]


# -- fetch / update ------------------------------------------------------------------------------


def test_fetch(tel: Telephonist, client: Client) -> None:
    n = client.incoming_phone_numbers.create(phone_number="+15551115050", friendly_name="Fetch me")
    fetched = client.incoming_phone_numbers(n.sid).fetch()
    assert fetched.sid == n.sid
    assert fetched.phone_number == "+15551115050"
    assert fetched.friendly_name == "Fetch me"


def test_update_webhooks(tel: Telephonist, client: Client) -> None:
    n = client.incoming_phone_numbers.create(phone_number="+15551115051")
    updated = client.incoming_phone_numbers(n.sid).update(
        voice_url="http://example.com/v",
        voice_method="GET",
        voice_fallback_url="http://example.com/vf",
        sms_url="http://example.com/s",
        sms_method="GET",
        sms_fallback_url="http://example.com/sf",
        status_callback="http://example.com/cb",
        friendly_name="Configured",
    )
    assert updated.sid == n.sid
    assert (updated.voice_url, updated.voice_method, updated.voice_fallback_url) == (
        "http://example.com/v",
        "GET",
        "http://example.com/vf",
    )
    assert (updated.sms_url, updated.sms_method, updated.sms_fallback_url) == (
        "http://example.com/s",
        "GET",
        "http://example.com/sf",
    )
    assert updated.status_callback == "http://example.com/cb"
    assert updated.friendly_name == "Configured"
    # No second number was bought, and the change is what later reads see.
    assert [x.sid for x in client.incoming_phone_numbers.list(phone_number="+15551115051")] == [n.sid]
    listed = client.incoming_phone_numbers.list(phone_number="+15551115051")[0]
    assert listed.voice_url == "http://example.com/v" and listed.sms_method == "GET"


@pytest.mark.parametrize(("data", "code"), [({"VoiceUrl": "nope"}, 21402), ({"VoiceMethod": "PUT"}, 21403)])
def test_update_errors(tel: Telephonist, client: Client, data: dict[str, str], code: int) -> None:
    n = client.incoming_phone_numbers.create(phone_number="+15551115052", voice_url="http://example.com/keep")
    with tel.http as h:
        assert_twilio_error(h.post(f"{_base(tel)}/{n.sid}.json", data=data), 400, code)
    assert (
        client.incoming_phone_numbers.list(phone_number="+15551115052")[0].voice_url
        == "http://example.com/keep"
    )


def test_update_unknown_sid_is_404(tel: Telephonist) -> None:
    with tel.http as h:
        assert_twilio_error(
            h.post(f"{_base(tel)}/PN{'0' * 32}.json", data={"VoiceUrl": "http://x.com/"}), 404, 20404
        )


# -- moving a number between accounts of one family ----------------------------------------------


def test_parent_moves_a_number_to_its_subaccount(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    n = client.incoming_phone_numbers.create(phone_number="+15551115070")
    moved = client.incoming_phone_numbers(n.sid).update(account_sid=sub.sid)
    assert moved.account_sid == sub.sid
    assert moved.uri == f"{API}/Accounts/{sub.sid}/IncomingPhoneNumbers/{n.sid}.json"
    assert "+15551115070" not in _numbers(tel)
    assert [x.sid for x in client.api.accounts(sub.sid).incoming_phone_numbers.list()] == [n.sid]
    # The subaccount can now send from it; the parent cannot.
    sub_client = tel.client(sub.sid, sub.auth_token)
    sent = sub_client.messages.create(to="+15551115071", from_="+15551115070", body="mine now")
    assert sent.status == "queued"
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="+15551115071", from_="+15551115070", body="not mine")
    assert exc.value.code == 21606


def test_number_cannot_be_moved_out_of_the_family(tel: Telephonist, client: Client) -> None:
    with tel.db.tx() as conn:
        b = create_account(conn, "B")
    n = client.incoming_phone_numbers.create(phone_number="+15551115072")
    with tel.http as h:
        r = h.post(f"{_base(tel)}/{n.sid}.json", data={"AccountSid": b["sid"]})
    assert_twilio_error(r, 401, 20003)
    assert "+15551115072" in _numbers(tel)
    assert tel.client(b["sid"], b["auth_token"]).incoming_phone_numbers.list() == []


def test_subaccount_cannot_move_its_number_to_the_parent(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    n = client.api.accounts(sub.sid).incoming_phone_numbers.create(phone_number="+15551115073")
    with httpx.Client(base_url=tel.base_url, auth=(sub.sid, sub.auth_token), timeout=10) as h:
        path = f"{API}/Accounts/{sub.sid}/IncomingPhoneNumbers/{n.sid}.json"
        r = h.post(path, data={"AccountSid": tel.account_sid})
    assert_twilio_error(r, 401, 20003)
    assert "+15551115073" not in _numbers(tel)


# -- delete --------------------------------------------------------------------------------------


def test_delete_is_204_then_404(tel: Telephonist, client: Client) -> None:
    n = client.incoming_phone_numbers.create(phone_number="+15551115060")
    with tel.http as h:
        r = h.delete(f"{_base(tel)}/{n.sid}.json")
        assert r.status_code == 204 and r.content == b""
        assert_twilio_error(h.get(f"{_base(tel)}/{n.sid}.json"), 404, 20404)
        assert_twilio_error(h.delete(f"{_base(tel)}/{n.sid}.json"), 404, 20404)
    assert "+15551115060" not in _numbers(tel)
    # Released: it can no longer send, and it can be bought again.
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="+15551115061", from_="+15551115060", body="gone")
    assert exc.value.code == 21606
    assert client.incoming_phone_numbers.create(phone_number="+15551115060").sid != n.sid


def test_sdk_delete_returns_true(client: Client) -> None:
    n = client.incoming_phone_numbers.create(phone_number="+15551115062")
    assert client.incoming_phone_numbers(n.sid).delete() is True
    assert client.incoming_phone_numbers.list(phone_number="+15551115062") == []


# -- typed lists ---------------------------------------------------------------------------------


def test_typed_lists_split_local_and_toll_free(client: Client) -> None:
    client.incoming_phone_numbers.create(phone_number="+18005551234")
    local = {n.phone_number for n in client.incoming_phone_numbers.local.list()}
    toll_free = {n.phone_number for n in client.incoming_phone_numbers.toll_free.list()}
    assert "+15005550006" in local and "+18005551234" not in local
    assert toll_free == {"+18005551234"}


def test_typed_list_pages_are_full(tel: Telephonist, client: Client) -> None:
    # The newest number is toll-free; page 0 of Local.json with PageSize=1 must still hold one local number.
    client.incoming_phone_numbers.create(phone_number="+18005551235")
    with tel.http as h:
        r = h.get(f"{_base(tel)}/Local.json", params={"PageSize": 1})
    assert r.status_code == 200, r.text
    assert [n["phone_number"] for n in r.json()["incoming_phone_numbers"]] == ["+15005550006"]
