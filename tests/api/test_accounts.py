"""Accounts and subaccounts through the SDK: fetch, list, create, update, and who may see what."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from conftest import Telephonist, assert_twilio_error, wait_until
from telephonist.api.accounts import create_account

from ._support import delivered

API = "/2010-04-01"


def _raw(tel: Telephonist, sid: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=tel.base_url, auth=(sid, token), timeout=10)


def _top_level_account(tel: Telephonist, name: str = "B") -> Any:
    with tel.db.tx() as conn:
        return create_account(conn, name)


# -- fetch ---------------------------------------------------------------------------------------


def test_fetch_own_account(tel: Telephonist, client: Client) -> None:
    account = client.api.accounts(tel.account_sid).fetch()
    assert account.sid == tel.account_sid
    assert account.owner_account_sid == tel.account_sid
    assert account.auth_token == tel.auth_token
    assert account.status == "active"
    assert account.type in ("Trial", "Full")
    assert account.friendly_name == "Telephonist default account"
    assert account.date_created is not None and account.date_updated is not None
    assert account.uri == f"{API}/Accounts/{tel.account_sid}.json"
    uris = account.subresource_uris
    assert uris["messages"] == f"{API}/Accounts/{tel.account_sid}/Messages.json"
    assert uris["calls"] == f"{API}/Accounts/{tel.account_sid}/Calls.json"
    assert uris["incoming_phone_numbers"] == f"{API}/Accounts/{tel.account_sid}/IncomingPhoneNumbers.json"
    assert uris["notifications"] == f"{API}/Accounts/{tel.account_sid}/Notifications.json"
    assert all(
        u.startswith(f"{API}/Accounts/{tel.account_sid}/") and u.endswith(".json") for u in uris.values()
    )


def test_fetch_via_client_api_account_shortcut(tel: Telephonist, client: Client) -> None:
    assert client.api.account.fetch().sid == tel.account_sid


# -- create --------------------------------------------------------------------------------------


def test_create_subaccount_is_201_with_fresh_credentials(tel: Telephonist) -> None:
    with tel.http as h:
        r = h.post(f"{API}/Accounts.json", data={"FriendlyName": "Sub one"})
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["sid"].startswith("AC") and len(sub["sid"]) == 34 and sub["sid"] != tel.account_sid
    assert sub["owner_account_sid"] == tel.account_sid
    assert sub["friendly_name"] == "Sub one"
    assert sub["status"] == "active"
    assert sub["auth_token"] and sub["auth_token"] != tel.auth_token
    assert sub["uri"] == f"{API}/Accounts/{sub['sid']}.json"
    # The new credentials work on the subaccount's own path.
    fetched = tel.client(sub["sid"], sub["auth_token"]).api.accounts(sub["sid"]).fetch()
    assert fetched.sid == sub["sid"] and fetched.owner_account_sid == tel.account_sid


def test_each_subaccount_gets_its_own_token(client: Client) -> None:
    a = client.api.accounts.create(friendly_name="a")
    b = client.api.accounts.create(friendly_name="b")
    assert a.sid != b.sid
    assert a.auth_token != b.auth_token


def test_create_subaccount_without_friendly_name_gets_a_default(client: Client) -> None:
    sub = client.api.accounts.create()
    assert sub.friendly_name.startswith("SubAccount Created at ")


# -- list ----------------------------------------------------------------------------------------


def test_list_shows_own_account_and_subaccounts_only(tel: Telephonist, client: Client) -> None:
    s1 = client.api.accounts.create(friendly_name="s1")
    s2 = client.api.accounts.create(friendly_name="s2")
    other = _top_level_account(tel)
    sids = {a.sid for a in client.api.accounts.list()}
    assert sids == {tel.account_sid, s1.sid, s2.sid}
    assert other["sid"] not in sids
    # A subaccount lists itself only; the unrelated account lists itself only.
    assert [a.sid for a in tel.client(s1.sid, s1.auth_token).api.accounts.list()] == [s1.sid]
    assert [a.sid for a in tel.client(other["sid"], other["auth_token"]).api.accounts.list()] == [
        other["sid"]
    ]


def test_list_filters_by_friendly_name_and_status(tel: Telephonist, client: Client) -> None:
    s1 = client.api.accounts.create(friendly_name="alpha")
    client.api.accounts.create(friendly_name="beta")
    assert [a.sid for a in client.api.accounts.list(friendly_name="alpha")] == [s1.sid]
    client.api.accounts(s1.sid).update(status="suspended")
    assert [a.sid for a in client.api.accounts.list(status="suspended")] == [s1.sid]
    assert s1.sid not in {a.sid for a in client.api.accounts.list(status="active")}


# -- update --------------------------------------------------------------------------------------


def test_update_friendly_name(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create(friendly_name="before")
    with tel.http as h:
        r = h.post(f"{API}/Accounts/{sub.sid}.json", data={"FriendlyName": "after"})
    assert r.status_code == 200, r.text
    assert r.json()["friendly_name"] == "after"
    assert client.api.accounts(sub.sid).fetch().friendly_name == "after"
    own = client.api.accounts(tel.account_sid).update(friendly_name="Renamed parent")
    assert own.friendly_name == "Renamed parent"
    assert client.api.accounts(tel.account_sid).fetch().friendly_name == "Renamed parent"


def test_update_status_suspend_activate_close(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create(friendly_name="lifecycle")
    assert client.api.accounts(sub.sid).update(status="suspended").status == "suspended"
    assert client.api.accounts(sub.sid).fetch().status == "suspended"
    assert client.api.accounts(sub.sid).update(status="active").status == "active"
    assert client.api.accounts(sub.sid).update(status="closed").status == "closed"
    assert client.api.accounts(sub.sid).fetch().status == "closed"
    # A closed account's own credentials no longer authenticate.
    with _raw(tel, sub.sid, sub.auth_token) as h:
        assert_twilio_error(h.get(f"{API}/Accounts/{sub.sid}.json"), 401, 20003)
    # Closing is irreversible.
    with pytest.raises(TwilioRestException):
        client.api.accounts(sub.sid).update(status="active")
    assert client.api.accounts(sub.sid).fetch().status == "closed"


def test_update_status_rejects_unknown_value(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    with tel.http as h:
        r = h.post(f"{API}/Accounts/{sub.sid}.json", data={"Status": "frozen"})
    assert r.status_code == 400, r.text
    assert client.api.accounts(sub.sid).fetch().status == "active"


def test_suspended_subaccount_keeps_its_data_visible_to_parent(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    client.api.accounts(sub.sid).incoming_phone_numbers.create(phone_number="+15551114001")
    client.api.accounts(sub.sid).update(status="suspended")
    numbers = client.api.accounts(sub.sid).incoming_phone_numbers.list()
    assert [n.phone_number for n in numbers] == ["+15551114001"]


def test_suspended_subaccount_cannot_send(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    client.api.accounts(sub.sid).incoming_phone_numbers.create(phone_number="+15551114002")
    client.api.accounts(sub.sid).update(status="suspended")
    with _raw(tel, sub.sid, sub.auth_token) as h:
        r = h.post(
            f"{API}/Accounts/{sub.sid}/Messages.json",
            data={"To": "+15551114003", "From": "+15551114002", "Body": "suspended"},
        )
    assert r.status_code in (400, 401, 403), r.text
    assert r.json()["code"] in (20003, 20005)
    assert client.api.accounts(sub.sid).messages.list() == []


def test_closed_subaccount_cannot_send_or_call(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    client.api.accounts(sub.sid).incoming_phone_numbers.create(phone_number="+15551114005")
    client.api.accounts(sub.sid).update(status="closed")
    base = f"{API}/Accounts/{sub.sid}"
    with tel.http as h:
        m = h.post(f"{base}/Messages.json", data={"To": "+15551114006", "From": "+15551114005", "Body": "x"})
        c = h.post(
            f"{base}/Calls.json", data={"To": "+15551114006", "From": "+15551114005", "Twiml": "<Response/>"}
        )
    assert m.status_code >= 400 and c.status_code >= 400, (m.text, c.text)
    assert m.json()["code"] in (20003, 20005) and c.json()["code"] in (20003, 20005)
    assert client.api.accounts(sub.sid).messages.list() == []
    assert client.api.accounts(sub.sid).calls.list() == []


def test_subaccount_cannot_create_subaccounts(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    with pytest.raises(TwilioRestException):
        tel.client(sub.sid, sub.auth_token).api.accounts.create(friendly_name="grandchild")
    assert {a.friendly_name for a in client.api.accounts.list()} == {
        "Telephonist default account",
        sub.friendly_name,
    }


# -- a parent acts on its subaccounts ------------------------------------------------------------


def test_parent_credentials_work_on_subaccount_paths(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create(friendly_name="child")
    number = client.api.accounts(sub.sid).incoming_phone_numbers.create(phone_number="+15551114010")
    assert number.account_sid == sub.sid
    message = client.api.accounts(sub.sid).messages.create(
        to="+15551114011", from_="+15551114010", body="from sub"
    )
    assert message.account_sid == sub.sid
    assert message.uri == f"{API}/Accounts/{sub.sid}/Messages/{message.sid}.json"
    # It lives in the subaccount, not in the parent.
    assert [m.sid for m in client.api.accounts(sub.sid).messages.list()] == [message.sid]
    assert message.sid not in {m.sid for m in client.messages.list()}
    # The subaccount's own credentials see it too.
    own = tel.client(sub.sid, sub.auth_token)
    assert own.api.accounts(sub.sid).messages(message.sid).fetch().body == "from sub"
    delivered(client, message.sid, sub.sid)


def test_parent_cannot_send_from_subaccount_number_on_its_own_path(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    client.api.accounts(sub.sid).incoming_phone_numbers.create(phone_number="+15551114020")
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="+15551114021", from_="+15551114020", body="not mine")
    assert exc.value.code == 21606


def test_parent_can_update_subaccount_resources(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    with tel.http as h:
        r = h.post(
            f"{API}/Accounts/{sub.sid}/IncomingPhoneNumbers.json", data={"PhoneNumber": "+15551114030"}
        )
        assert r.status_code == 201, r.text
        r = h.get(f"{API}/Accounts/{sub.sid}/IncomingPhoneNumbers.json")
        assert [n["phone_number"] for n in r.json()["incoming_phone_numbers"]] == ["+15551114030"]


# -- isolation -----------------------------------------------------------------------------------


def test_subaccount_credentials_on_parent_path_are_401(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    with _raw(tel, sub.sid, sub.auth_token) as h:
        for path in (".json", "/Messages.json", "/Calls.json", "/IncomingPhoneNumbers.json"):
            assert_twilio_error(h.get(f"{API}/Accounts/{tel.account_sid}{path}"), 401, 20003)
        r = h.post(
            f"{API}/Accounts/{tel.account_sid}/Messages.json",
            data={"To": "+15551114040", "From": "+15005550006", "Body": "x"},
        )
        assert_twilio_error(r, 401, 20003)
    assert client.messages.list() == []
    with pytest.raises(TwilioRestException) as exc:
        tel.client(sub.sid, sub.auth_token).api.accounts(tel.account_sid).fetch()
    assert exc.value.status == 401 and exc.value.code == 20003


def test_subaccount_cannot_update_its_parent(tel: Telephonist, client: Client) -> None:
    sub = client.api.accounts.create()
    with _raw(tel, sub.sid, sub.auth_token) as h:
        assert_twilio_error(
            h.post(f"{API}/Accounts/{tel.account_sid}.json", data={"FriendlyName": "pwned"}), 401, 20003
        )
    assert client.api.accounts(tel.account_sid).fetch().friendly_name == "Telephonist default account"


def test_sibling_subaccounts_cannot_see_each_other(tel: Telephonist, client: Client) -> None:
    a = client.api.accounts.create()
    b = client.api.accounts.create()
    with _raw(tel, a.sid, a.auth_token) as h:
        assert_twilio_error(h.get(f"{API}/Accounts/{b.sid}.json"), 401, 20003)
        assert_twilio_error(h.get(f"{API}/Accounts/{b.sid}/Messages.json"), 401, 20003)


def test_unrelated_account_credentials_are_401_both_ways(tel: Telephonist, client: Client) -> None:
    b = _top_level_account(tel)
    with _raw(tel, b["sid"], b["auth_token"]) as h:
        assert_twilio_error(h.get(f"{API}/Accounts/{tel.account_sid}.json"), 401, 20003)
        assert_twilio_error(h.get(f"{API}/Accounts/{tel.account_sid}/Messages.json"), 401, 20003)
    with tel.http as h:
        assert_twilio_error(h.get(f"{API}/Accounts/{b['sid']}.json"), 401, 20003)
        assert_twilio_error(h.get(f"{API}/Accounts/{b['sid']}/Calls.json"), 401, 20003)
    # A parent does not reach into an unrelated account's subaccounts either.
    b_sub = tel.client(b["sid"], b["auth_token"]).api.accounts.create()
    with tel.http as h:
        assert_twilio_error(h.get(f"{API}/Accounts/{b_sub.sid}.json"), 401, 20003)


def test_resource_of_another_account_is_404_under_own_path(tel: Telephonist, client: Client) -> None:
    b = _top_level_account(tel)
    b_client = tel.client(b["sid"], b["auth_token"])
    b_number = b_client.incoming_phone_numbers.create(phone_number="+15551114050")
    b_message = b_client.messages.create(to="+15551114051", from_="+15551114050", body="B's secret")
    b_call = b_client.calls.create(
        to="+15551114052", from_="+15551114050", twiml="<Response><Say>B</Say></Response>"
    )
    base = f"{API}/Accounts/{tel.account_sid}"
    with tel.http as h:
        assert_twilio_error(h.get(f"{base}/Messages/{b_message.sid}.json"), 404, 20404)
        assert_twilio_error(h.get(f"{base}/Calls/{b_call.sid}.json"), 404, 20404)
        assert_twilio_error(h.delete(f"{base}/IncomingPhoneNumbers/{b_number.sid}.json"), 404, 20404)
        assert_twilio_error(h.post(f"{base}/Messages/{b_message.sid}.json", data={"Body": ""}), 404, 20404)
        assert_twilio_error(h.delete(f"{base}/Messages/{b_message.sid}.json"), 404, 20404)
    with pytest.raises(TwilioRestException) as exc:
        client.messages(b_message.sid).fetch()
    assert exc.value.status == 404 and exc.value.code == 20404
    # B still has everything, untouched.
    assert b_client.messages(b_message.sid).fetch().body == "B's secret"
    assert [n.sid for n in b_client.incoming_phone_numbers.list()] == [b_number.sid]
    wait_until(lambda: b_client.calls(b_call.sid).fetch().status == "completed")
    assert b_message.sid not in {m.sid for m in client.messages.list()}
    assert b_call.sid not in {c.sid for c in client.calls.list()}


def test_subaccount_cannot_reach_parent_resources_by_sid(tel: Telephonist, client: Client) -> None:
    parent_message = client.messages.create(to="+15551114060", from_="+15005550006", body="parent only")
    sub = client.api.accounts.create()
    with _raw(tel, sub.sid, sub.auth_token) as h:
        assert_twilio_error(h.get(f"{API}/Accounts/{sub.sid}/Messages/{parent_message.sid}.json"), 404, 20404)
