"""Messages through the SDK and the wire: create, fetch, list filters, redact, delete, Twilio's refusals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from conftest import Telephonist, assert_twilio_error

from ._support import FROM, count, delivered, resource_path, without

# -- create --------------------------------------------------------------------------------------


def test_create_is_201_queued_outbound_api(tel: Telephonist) -> None:
    with tel.http as h:
        r = h.post(
            resource_path(tel, "Messages", ".json"),
            data={"To": "+15551116001", "From": FROM, "Body": "Hello there"},
        )
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["sid"].startswith("SM") and len(m["sid"]) == 34
    assert m["account_sid"] == tel.account_sid
    assert m["status"] == "queued"
    assert m["direction"] == "outbound-api"
    assert (m["to"], m["from"], m["body"]) == ("+15551116001", FROM, "Hello there")
    assert m["num_segments"] == "1" and m["num_media"] == "0"
    assert m["price_unit"] == "USD"
    assert m["error_code"] is None and m["error_message"] is None
    assert m["api_version"] == "2010-04-01"
    assert m["date_created"].endswith("+0000")
    assert m["uri"] == resource_path(tel, "Messages", f"/{m['sid']}.json")
    assert m["subresource_uris"]["media"] == resource_path(tel, "Messages", f"/{m['sid']}/Media.json")


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, "1"),
        ("a" * 161, "2"),
        ("a" * 306, "2"),
        ("a" * 307, "3"),
        ("€" * 80, "1"),  # extension characters cost two septets
        ("€" * 81, "2"),
        ("д" * 70, "1"),  # UCS-2
        ("д" * 71, "2"),
        ("д" * 134, "2"),
        ("д" * 135, "3"),
        ("😀" * 35, "1"),  # surrogate pairs: two UTF-16 units each
        ("😀" * 36, "2"),
    ],
)
def test_num_segments(client: Client, body: str, segments: str) -> None:
    m = client.messages.create(to="+15551116002", from_=FROM, body=body)
    assert m.num_segments == segments
    assert m.body == body


def test_body_of_exactly_1600_characters_is_accepted(client: Client) -> None:
    m = client.messages.create(to="+15551116003", from_=FROM, body="x" * 1600)
    assert len(m.body) == 1600


def test_fetch_follows_delivery(tel: Telephonist, client: Client) -> None:
    created = client.messages.create(to="+15551116004", from_=FROM, body="track me")
    fetched = client.messages(created.sid).fetch()
    assert fetched.sid == created.sid and fetched.body == "track me"
    done = delivered(client, created.sid)
    assert done.date_sent is not None
    assert done.error_code is None
    assert done.direction == "outbound-api"


def test_fetch_unknown_sid_is_404(tel: Telephonist, client: Client) -> None:
    with pytest.raises(TwilioRestException) as exc:
        client.messages("SM" + "0" * 32).fetch()
    assert exc.value.status == 404 and exc.value.code == 20404


# -- list filters --------------------------------------------------------------------------------


def test_list_filters_by_to_and_from(tel: Telephonist, client: Client) -> None:
    client.incoming_phone_numbers.create(phone_number="+15551116010")
    a = client.messages.create(to="+15551116011", from_=FROM, body="a")
    b = client.messages.create(to="+15551116012", from_=FROM, body="b")
    c = client.messages.create(to="+15551116011", from_="+15551116010", body="c")
    assert [m.sid for m in client.messages.list(to="+15551116011")] == [c.sid, a.sid]
    assert [m.sid for m in client.messages.list(from_="+15551116010")] == [c.sid]
    assert [m.sid for m in client.messages.list(to="+15551116011", from_=FROM)] == [a.sid]
    assert [m.sid for m in client.messages.list(to="+15551116012")] == [b.sid]
    assert client.messages.list(to="+15551116099") == []
    # Loosely typed filter values are normalised like the create parameters.
    assert [m.sid for m in client.messages.list(to="15551116012")] == [b.sid]


def _sent_message(client: Client, to: str) -> tuple[Any, dt.datetime]:
    m = delivered(client, client.messages.create(to=to, from_=FROM, body="dated").sid)
    sent = m.date_sent
    assert isinstance(sent, dt.datetime) and sent.tzinfo is not None
    return m, sent.astimezone(dt.UTC)


def test_list_filter_date_sent_as_dates(tel: Telephonist) -> None:
    m, sent = _sent_message(tel.client(), "+15551116020")
    day = sent.date()
    one = dt.timedelta(days=1)
    cases = [
        ({"DateSent": day.isoformat()}, True),
        ({"DateSent": (day - one).isoformat()}, False),
        ({"DateSent": (day + one).isoformat()}, False),
        ({"DateSent>": day.isoformat()}, True),
        ({"DateSent>": (day - one).isoformat()}, True),
        ({"DateSent>": (day + one).isoformat()}, False),
        ({"DateSent<": day.isoformat()}, True),  # on or before
        ({"DateSent<": (day + one).isoformat()}, True),
        ({"DateSent<": (day - one).isoformat()}, False),
        ({"DateSent>": (day - one).isoformat(), "DateSent<": (day + one).isoformat()}, True),
    ]
    with tel.http as h:
        for params, expected in cases:
            r = h.get(resource_path(tel, "Messages", ".json"), params={"To": "+15551116020", **params})
            assert r.status_code == 200, r.text
            sids = [x["sid"] for x in r.json()["messages"]]
            assert sids == ([m.sid] if expected else []), params


def test_list_filter_date_sent_with_sdk_datetimes(client: Client) -> None:
    m, sent = _sent_message(client, "+15551116021")
    hour = dt.timedelta(hours=1)
    naive = sent.replace(tzinfo=None)
    assert [x.sid for x in client.messages.list(to="+15551116021", date_sent_after=naive - hour)] == [m.sid]
    assert client.messages.list(to="+15551116021", date_sent_after=naive + hour) == []
    assert [x.sid for x in client.messages.list(to="+15551116021", date_sent_before=naive + hour)] == [m.sid]
    assert client.messages.list(to="+15551116021", date_sent_before=naive - hour) == []
    both = client.messages.list(
        to="+15551116021", date_sent_after=naive - hour, date_sent_before=naive + hour
    )
    assert [x.sid for x in both] == [m.sid]


def test_list_filter_date_sent_as_iso_strings_on_the_wire(tel: Telephonist) -> None:
    m, sent = _sent_message(tel.client(), "+15551116022")
    earlier = (sent - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (sent + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tel.http as h:
        r = h.get(
            resource_path(tel, "Messages", ".json"),
            params={"To": "+15551116022", "DateSent>": earlier, "DateSent<": later},
        )
        assert [x["sid"] for x in r.json()["messages"]] == [m.sid]
        r = h.get(resource_path(tel, "Messages", ".json"), params={"To": "+15551116022", "DateSent>": later})
        assert r.json()["messages"] == []
        # The filters are echoed in the page URIs.
        assert "DateSent%3E=" in r.json()["uri"] or "DateSent>=" in r.json()["uri"]


def test_list_filter_date_sent_exact_day_with_sdk(client: Client) -> None:
    m, sent = _sent_message(client, "+15551116023")
    midnight = dt.datetime(sent.year, sent.month, sent.day)
    assert [x.sid for x in client.messages.list(to="+15551116023", date_sent=midnight)] == [m.sid]


def test_list_filter_unparseable_date_is_an_error_not_a_crash(tel: Telephonist) -> None:
    with tel.http as h:
        r = h.get(resource_path(tel, "Messages", ".json"), params={"DateSent>": "not a date"})
        assert 400 <= r.status_code < 500, r.text
        assert isinstance(r.json()["code"], int)
        assert h.get(resource_path(tel, "Messages", ".json")).status_code == 200


# -- redact --------------------------------------------------------------------------------------


def test_redact_delivered_message(tel: Telephonist, client: Client) -> None:
    m = client.messages.create(to="+15551116030", from_=FROM, body="secret code 1234")
    delivered(client, m.sid)
    redacted = client.messages(m.sid).update(body="")
    assert redacted.sid == m.sid and redacted.body == ""
    assert redacted.status == "delivered"
    assert client.messages(m.sid).fetch().body == ""
    assert [x.body for x in client.messages.list(to="+15551116030")] == [""]


def test_update_with_nonempty_body_is_refused(tel: Telephonist, client: Client) -> None:
    m = delivered(client, client.messages.create(to="+15551116031", from_=FROM, body="keep").sid)
    with tel.http as h:
        r = h.post(resource_path(tel, "Messages", f"/{m.sid}.json"), data={"Body": "rewritten"})
    assert r.status_code == 400, r.text
    assert client.messages(m.sid).fetch().body == "keep"


# -- delete --------------------------------------------------------------------------------------


def test_delete_delivered_is_204_then_404(tel: Telephonist, client: Client) -> None:
    m = delivered(client, client.messages.create(to="+15551116040", from_=FROM, body="bye").sid)
    with tel.http as h:
        r = h.delete(resource_path(tel, "Messages", f"/{m.sid}.json"))
        assert r.status_code == 204 and r.content == b""
        assert_twilio_error(h.get(resource_path(tel, "Messages", f"/{m.sid}.json")), 404, 20404)
        assert_twilio_error(h.delete(resource_path(tel, "Messages", f"/{m.sid}.json")), 404, 20404)
    assert client.messages.list(to="+15551116040") == []


def test_sdk_delete_returns_true(client: Client) -> None:
    m = delivered(client, client.messages.create(to="+15551116041", from_=FROM, body="bye").sid)
    assert client.messages(m.sid).delete() is True


def test_delete_right_after_create_is_204_or_20009(tel: Telephonist, client: Client) -> None:
    m = client.messages.create(to="+15551116042", from_=FROM, body="in flight")
    with tel.http as h:
        r = h.delete(resource_path(tel, "Messages", f"/{m.sid}.json"))
    if r.status_code == 204:
        assert client.messages.list(to="+15551116042") == []
    else:
        assert_twilio_error(r, 400, 20009)
        # Refused: the message is still there and still goes out.
        assert delivered(client, m.sid).sid == m.sid


# -- validation ----------------------------------------------------------------------------------

VALID = {"To": "+15551116050", "From": FROM, "Body": "hello"}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (without(VALID, "To"), 21604),
        (VALID | {"To": ""}, 21604),
        (without(VALID, "From"), 21603),
        (without(VALID, "Body"), 21602),
        (VALID | {"Body": ""}, 21602),
        (VALID | {"Body": "x" * 1601}, 21617),
        (VALID | {"To": "not-a-number"}, 21211),
        (VALID | {"To": "123"}, 21211),
        (VALID | {"From": "nope"}, 21212),
        (VALID | {"From": "+15551116059"}, 21606),  # a valid number this account does not own
        (VALID | {"To": "+15005550001"}, 21211),
        (VALID | {"To": "+15005550002"}, 21612),
        (VALID | {"To": "+15005550003"}, 21408),
        (VALID | {"To": "+15005550004"}, 21610),
        (VALID | {"To": "+15005550009"}, 21614),
        (VALID | {"From": "+15005550001"}, 21212),
        (VALID | {"From": "+15005550007"}, 21606),
        (VALID | {"From": "+15005550008"}, 21611),
        (VALID | {"StatusCallback": "not a url"}, 21609),
        (VALID | {"StatusCallback": "ftp://example.com/cb"}, 21609),
    ],
)
def test_create_errors_write_nothing_and_server_keeps_serving(
    tel: Telephonist, data: dict[str, str], code: int
) -> None:
    before = count(tel, "Messages", "messages")
    with tel.http as h:
        r = h.post(resource_path(tel, "Messages", ".json"), data=data)
    assert_twilio_error(r, 400, code)
    assert isinstance(r.json()["message"], str) and r.json()["message"]
    assert count(tel, "Messages", "messages") == before
    with tel.http as h:
        assert h.post(resource_path(tel, "Messages", ".json"), data=VALID).status_code == 201
    assert count(tel, "Messages", "messages") == before + 1


def test_sdk_raises_twilio_rest_exception_with_code(client: Client) -> None:
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="+15005550002", from_=FROM, body="unreachable")
    assert exc.value.status == 400 and exc.value.code == 21612
    assert exc.value.method == "POST"
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="+15551116060", from_=FROM, body="x" * 1601)
    assert exc.value.code == 21617


def test_magic_valid_from_number_sends(client: Client) -> None:
    # +15005550006 is the default account's number and the one magic From that succeeds.
    m = client.messages.create(to="+15551116061", from_=FROM, body="ok")
    assert m.status == "queued"
    assert m.date_created is not None and m.date_created.utcoffset() == dt.timedelta(0)
