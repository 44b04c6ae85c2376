"""Twilio's paging: the SDK walks every page, and the raw envelope is exactly what SDKs 9.x and 5.x expect."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from twilio.rest import Client

from conftest import Telephonist, assert_twilio_error, wait_until

API = "/2010-04-01"
FROM = "+15005550006"
TO = "+15551118000"
META = {"first_page_uri", "end", "previous_page_uri", "uri", "page_size", "start", "next_page_uri", "page"}


@pytest.fixture
def seven(client: Client) -> list[str]:
    """Seven messages to one number (oldest first) and one to another number, which filters must leave out."""
    sids = [client.messages.create(to=TO, from_=FROM, body=f"m{i}").sid for i in range(7)]
    client.messages.create(to="+15551118099", from_=FROM, body="other")
    return sids


def _get(tel: Telephonist, uri: str, **params: Any) -> dict[str, Any]:
    with tel.http as h:
        r = h.get(uri, params=params or None)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _messages_path(tel: Telephonist) -> str:
    return f"{API}/Accounts/{tel.account_sid}/Messages.json"


def test_sdk_list_walks_all_pages_newest_first(client: Client, seven: list[str]) -> None:
    listed = [m.sid for m in client.messages.list(to=TO, page_size=3)]
    assert listed == list(reversed(seven))


def test_sdk_stream_walks_all_pages_newest_first(client: Client, seven: list[str]) -> None:
    streamed = [m.sid for m in client.messages.stream(to=TO, page_size=3)]
    assert streamed == list(reversed(seven))
    assert len(set(streamed)) == 7


def test_sdk_list_with_limit_stops_early(client: Client, seven: list[str]) -> None:
    assert [m.sid for m in client.messages.list(to=TO, limit=4, page_size=3)] == list(reversed(seven))[:4]


def test_sdk_list_limit_over_1000_is_capped_not_refused(client: Client, seven: list[str]) -> None:
    # twilio 9.x sends PageSize=<limit> when no page_size is given.
    assert [m.sid for m in client.messages.list(to=TO, limit=2000)] == list(reversed(seven))


def test_sdk_page_objects(client: Client, seven: list[str]) -> None:
    page = client.messages.page(to=TO, page_size=3)
    assert [m.sid for m in page] == list(reversed(seven))[:3]
    second = page.next_page()
    assert [m.sid for m in second] == list(reversed(seven))[3:6]
    third = second.next_page()
    assert [m.sid for m in third] == list(reversed(seven))[6:]
    assert third.next_page() is None
    back = second.previous_page()
    assert [m.sid for m in back] == list(reversed(seven))[:3]


def test_raw_page_walk(tel: Telephonist, seven: list[str]) -> None:
    newest_first = list(reversed(seven))
    first = _get(tel, _messages_path(tel), To=TO, PageSize=3)
    assert set(first) == META | {"messages"}
    assert [m["sid"] for m in first["messages"]] == newest_first[:3]
    assert (first["page"], first["page_size"], first["start"], first["end"]) == (0, 3, 0, 2)
    assert first["previous_page_uri"] is None
    for key in ("uri", "first_page_uri", "next_page_uri"):
        assert first[key].startswith(f"{API}/Accounts/{tel.account_sid}/Messages.json?"), first[key]
    query = parse_qs(urlsplit(first["next_page_uri"]).query)
    assert query["To"] == [TO]
    assert query["PageSize"] == ["3"] and query["Page"] == ["1"]
    assert query["PageToken"][0]
    assert parse_qs(urlsplit(first["first_page_uri"]).query)["To"] == [TO]
    assert parse_qs(urlsplit(first["uri"]).query)["To"] == [TO]

    second = _get(tel, first["next_page_uri"])
    assert set(second) == META | {"messages"}
    assert [m["sid"] for m in second["messages"]] == newest_first[3:6]
    assert (second["page"], second["page_size"], second["start"], second["end"]) == (1, 3, 3, 5)
    assert second["previous_page_uri"] is not None

    back = _get(tel, second["previous_page_uri"])
    assert [m["sid"] for m in back["messages"]] == newest_first[:3]
    assert back["page"] == 0 and back["start"] == 0 and back["end"] == 2
    assert back["previous_page_uri"] is None
    assert back["next_page_uri"] is not None
    assert [m["sid"] for m in _get(tel, back["next_page_uri"])["messages"]] == newest_first[3:6]

    third = _get(tel, second["next_page_uri"])
    assert [m["sid"] for m in third["messages"]] == newest_first[6:]
    assert (third["page"], third["start"], third["end"]) == (2, 6, 6)
    assert third["next_page_uri"] is None

    back_from_third = _get(tel, third["previous_page_uri"])
    assert [m["sid"] for m in back_from_third["messages"]] == newest_first[3:6]
    assert (back_from_third["page"], back_from_third["start"], back_from_third["end"]) == (1, 3, 5)
    assert [m["sid"] for m in _get(tel, back_from_third["previous_page_uri"])["messages"]] == newest_first[:3]
    assert [m["sid"] for m in _get(tel, back_from_third["next_page_uri"])["messages"]] == newest_first[6:]

    again = _get(tel, first["first_page_uri"])
    assert [m["sid"] for m in again["messages"]] == newest_first[:3]


def test_walk_is_stable_while_new_items_arrive(tel: Telephonist, client: Client, seven: list[str]) -> None:
    newest_first = list(reversed(seven))
    first = _get(tel, _messages_path(tel), To=TO, PageSize=3)
    client.messages.create(to=TO, from_=FROM, body="late arrival")
    second = _get(tel, first["next_page_uri"])
    assert [m["sid"] for m in second["messages"]] == newest_first[3:6]


def test_single_page_has_no_next_or_previous(tel: Telephonist, seven: list[str]) -> None:
    page = _get(tel, _messages_path(tel), To=TO)
    assert page["page_size"] == 50
    assert (page["start"], page["end"]) == (0, 6)
    assert page["next_page_uri"] is None and page["previous_page_uri"] is None
    assert len(page["messages"]) == 7


def test_empty_page(tel: Telephonist) -> None:
    page = _get(tel, _messages_path(tel), To="+15551118098")
    assert set(page) == META | {"messages"}
    assert page["messages"] == []
    assert (page["start"], page["end"], page["page"]) == (0, 0, 0)
    assert page["next_page_uri"] is None and page["previous_page_uri"] is None


def test_page_size_is_capped_at_1000(tel: Telephonist) -> None:
    page = _get(tel, _messages_path(tel), PageSize=2000)
    assert page["page_size"] == 1000
    assert "PageSize=1000" in page["uri"]


def test_page_number_without_token_offsets(tel: Telephonist, seven: list[str]) -> None:
    page = _get(tel, _messages_path(tel), To=TO, PageSize=3, Page=2)
    assert [m["sid"] for m in page["messages"]] == list(reversed(seven))[6:]
    assert (page["page"], page["start"], page["end"]) == (2, 6, 6)


def test_page_or_token_past_64_bits_is_no_server_error(tel: Telephonist, seven: list[str]) -> None:
    # Found by tests/fuzz/test_schemathesis.py: SQLite took neither number, and int() not "²": each a 500.
    with tel.http as h:
        assert_twilio_error(h.get(_messages_path(tel), params={"Page": 2**64}), 400, 20422)
    for token in ("PA" + "9" * 19, "PB" + "9" * 5000, "PA\u00b2"):  # no token of ours: the page by number
        page = _get(tel, _messages_path(tel), To=TO, PageToken=token)
        assert len(page["messages"]) == 7


@pytest.mark.parametrize(
    ("suffix", "key"),
    [
        ("/Calls.json", "calls"),
        ("/IncomingPhoneNumbers.json", "incoming_phone_numbers"),
        ("/Notifications.json", "notifications"),
    ],
)
def test_every_list_has_the_envelope(tel: Telephonist, suffix: str, key: str) -> None:
    page = _get(tel, f"{API}/Accounts/{tel.account_sid}{suffix}")
    assert set(page) == META | {key}
    assert isinstance(page[key], list)


def test_accounts_list_envelope_and_paging(tel: Telephonist, client: Client) -> None:
    subs = [client.api.accounts.create(friendly_name=f"s{i}").sid for i in range(3)]
    page = _get(tel, f"{API}/Accounts.json", PageSize=2)
    assert set(page) == META | {"accounts"}
    assert page["uri"].startswith(f"{API}/Accounts.json?")
    assert len(page["accounts"]) == 2 and page["next_page_uri"]
    assert {a.sid for a in client.api.accounts.list(page_size=2)} == {tel.account_sid, *subs}


def test_calls_paging_with_sdk(tel: Telephonist, client: Client) -> None:
    sids = [client.calls.create(to=f"+1555111810{i}", from_=FROM, twiml="<Response/>").sid for i in range(5)]
    for sid in sids:
        tel.call_final(sid)
    assert [c.sid for c in client.calls.list(page_size=2)] == list(reversed(sids))


def test_deleting_while_streaming_reaches_every_item(
    tel: Telephonist, client: Client, seven: list[str]
) -> None:
    for sid in seven:
        wait_until(lambda sid=sid: client.messages(sid).fetch().status == "delivered")
    deleted = [m.sid for m in client.messages.stream(to=TO, page_size=3) if m.delete()]
    assert sorted(deleted) == sorted(seven)
    assert client.messages.list(to=TO) == []
