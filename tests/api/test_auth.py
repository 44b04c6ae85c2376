"""HTTP Basic authentication as the SDKs see it: 401, code 20003, a Basic challenge, no side effects."""

from __future__ import annotations

import base64

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import Telephonist

API = "/2010-04-01"


def _assert_unauthorized(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["code"] == 20003
    assert body["status"] == 401
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20003"
    assert body["message"]
    challenge = r.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Basic realm="), challenge


def _message_count(tel: Telephonist) -> int:
    with tel.http as h:
        r = h.get(f"{API}/Accounts/{tel.account_sid}/Messages.json", params={"PageSize": 1000})
    assert r.status_code == 200, r.text
    return len(r.json()["messages"])


def _endpoints(sid: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"{API}/Accounts.json"),
        ("GET", f"{API}/Accounts/{sid}.json"),
        ("GET", f"{API}/Accounts/{sid}/Messages.json"),
        ("GET", f"{API}/Accounts/{sid}/Calls.json"),
        ("GET", f"{API}/Accounts/{sid}/IncomingPhoneNumbers.json"),
        ("GET", f"{API}/Accounts/{sid}/Notifications.json"),
    ]


@pytest.mark.parametrize("index", range(6))
def test_wrong_token_is_401_with_basic_challenge(tel: Telephonist, index: int) -> None:
    method, path = _endpoints(tel.account_sid)[index]
    with httpx.Client(base_url=tel.base_url, auth=(tel.account_sid, "not-the-token"), timeout=10) as h:
        _assert_unauthorized(h.request(method, path))


def test_unknown_account_sid_is_401(tel: Telephonist) -> None:
    unknown = "AC" + "f" * 32
    with httpx.Client(base_url=tel.base_url, auth=(unknown, tel.auth_token), timeout=10) as h:
        _assert_unauthorized(h.get(f"{API}/Accounts/{unknown}.json"))
        _assert_unauthorized(h.get(f"{API}/Accounts/{tel.account_sid}.json"))


def test_no_authorization_header_is_401(tel: Telephonist) -> None:
    with httpx.Client(base_url=tel.base_url, timeout=10) as h:
        _assert_unauthorized(h.get(f"{API}/Accounts/{tel.account_sid}.json"))
        _assert_unauthorized(h.get(f"{API}/Accounts.json"))


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic"],
)
def test_malformed_authorization_header_is_401(tel: Telephonist, header: str) -> None:
    with httpx.Client(base_url=tel.base_url, timeout=10) as h:
        _assert_unauthorized(
            h.get(f"{API}/Accounts/{tel.account_sid}.json", headers={"Authorization": header})
        )


def test_empty_token_is_401(tel: Telephonist) -> None:
    with httpx.Client(base_url=tel.base_url, auth=(tel.account_sid, ""), timeout=10) as h:
        _assert_unauthorized(h.get(f"{API}/Accounts/{tel.account_sid}.json"))


def test_sdk_with_wrong_token_raises_20003(tel: Telephonist) -> None:
    client = tel.client(token="wrong-token")
    with pytest.raises(TwilioRestException) as exc:
        client.api.accounts(tel.account_sid).fetch()
    assert exc.value.status == 401
    assert exc.value.code == 20003


def test_sdk_create_with_wrong_token_raises_20003_and_sends_nothing(tel: Telephonist) -> None:
    before = _message_count(tel)
    client = tel.client(token="wrong-token")
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="+15551239000", from_="+15005550006", body="should not be sent")
    assert exc.value.status == 401 and exc.value.code == 20003
    assert _message_count(tel) == before


def test_unauthenticated_post_has_no_side_effects(tel: Telephonist) -> None:
    # twilio 5.x (httplib2) replays the POST after the challenge: the first attempt must do nothing.
    before = _message_count(tel)
    with httpx.Client(base_url=tel.base_url, timeout=10) as h:
        r = h.post(
            f"{API}/Accounts/{tel.account_sid}/Messages.json",
            data={"To": "+15551239001", "From": "+15005550006", "Body": "hi"},
        )
    _assert_unauthorized(r)
    assert _message_count(tel) == before
    with httpx.Client(base_url=tel.base_url, timeout=10) as h:
        r = h.post(f"{API}/Accounts.json", data={"FriendlyName": "sneaky"})
    _assert_unauthorized(r)
    assert [a.friendly_name for a in tel.client().api.accounts.list()] == ["Telephonist default account"]


def test_correct_credentials_are_accepted(tel: Telephonist) -> None:
    account = tel.client().api.accounts(tel.account_sid).fetch()
    assert account.sid == tel.account_sid
    assert account.status == "active"
