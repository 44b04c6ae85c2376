"""Calls through the SDK and the wire: create, follow to the end, list filters, live updates, delete."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from conftest import Telephonist, WebApp, assert_twilio_error, wait_until

from ._support import FROM, count, resource_path, without

LONG = '<Response><Pause length="500"/></Response>'  # 5 s of real time at time scale 0.01
SAY = "<Response><Say>Hello from the test.</Say></Response>"


def _live(tel: Telephonist, client: Client, to: str) -> Any:
    call = client.calls.create(to=to, from_=FROM, twiml=LONG)
    wait_until(lambda: client.calls(call.sid).fetch().status == "in-progress")
    return call


# -- create and follow ---------------------------------------------------------------------------


def test_create_with_url_is_201_queued_and_completes(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/answer", SAY)
    with tel.http as h:
        r = h.post(
            resource_path(tel, "Calls", ".json"), data={"To": "+15551117001", "From": FROM, "Url": url}
        )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["sid"].startswith("CA") and len(c["sid"]) == 34
    assert c["status"] == "queued"
    assert c["direction"] == "outbound-api"
    assert (c["to"], c["from"]) == ("+15551117001", FROM)
    assert c["to_formatted"] == "(555) 111-7001" and c["from_formatted"] == "(500) 555-0006"
    assert c["account_sid"] == tel.account_sid
    assert c["duration"] is None and c["end_time"] is None
    assert c["uri"] == resource_path(tel, "Calls", f"/{c['sid']}.json")
    assert c["subresource_uris"]["notifications"] == resource_path(
        tel, "Calls", f"/{c['sid']}/Notifications.json"
    )
    hit = webapp.wait_hits("/answer")[0]
    assert hit.method == "POST"
    assert hit.param("CallSid") == c["sid"] and hit.param("To") == "+15551117001"
    done = tel.call_final(c["sid"])
    assert done.status == "completed"
    assert done.start_time is not None and done.end_time is not None
    assert done.end_time >= done.start_time
    assert done.duration is not None and done.duration.isdigit()
    said = [e["text"] for e in tel.transcript(c["sid"]) if e["event"] == "say"]
    assert said == ["Hello from the test."]


def test_create_with_url_and_get_method(tel: Telephonist, client: Client, webapp: WebApp) -> None:
    url = webapp.twiml("/get", SAY)
    call = client.calls.create(to="+15551117002", from_=FROM, url=url, method="GET")
    assert webapp.wait_hits("/get")[0].method == "GET"
    assert tel.call_final(call.sid).status == "completed"


def test_create_with_twiml(tel: Telephonist, client: Client) -> None:
    call = client.calls.create(to="+15551117003", from_=FROM, twiml=SAY)
    assert call.status == "queued"
    done = tel.call_final(call.sid)
    assert done.status == "completed"
    assert int(done.duration) >= 0
    assert [e["event"] for e in tel.transcript(call.sid)] == ["say", "hangup"]


def test_fetch_unknown_sid_is_404(client: Client) -> None:
    with pytest.raises(TwilioRestException) as exc:
        client.calls("CA" + "0" * 32).fetch()
    assert exc.value.status == 404 and exc.value.code == 20404


# -- list filters --------------------------------------------------------------------------------


def test_list_filters(tel: Telephonist, client: Client) -> None:
    client.incoming_phone_numbers.create(phone_number="+15551117010")
    a = client.calls.create(to="+15551117011", from_=FROM, twiml=SAY)
    b = client.calls.create(to="+15551117012", from_="+15551117010", twiml=SAY)
    tel.call_final(a.sid)
    tel.call_final(b.sid)
    live = _live(tel, client, "+15551117013")
    assert [c.sid for c in client.calls.list(to="+15551117011")] == [a.sid]
    assert [c.sid for c in client.calls.list(from_="+15551117010")] == [b.sid]
    assert {c.sid for c in client.calls.list(status="completed")} == {a.sid, b.sid}
    assert [c.sid for c in client.calls.list(status="in-progress")] == [live.sid]
    assert [c.sid for c in client.calls.list()] == [live.sid, b.sid, a.sid]  # newest first
    start = client.calls(a.sid).fetch().start_time.astimezone(dt.UTC).replace(tzinfo=None)
    hour = dt.timedelta(hours=1)
    assert {c.sid for c in client.calls.list(start_time_after=start - hour)} == {a.sid, b.sid, live.sid}
    assert client.calls.list(start_time_after=start + hour) == []
    assert {c.sid for c in client.calls.list(start_time_before=start + hour)} == {a.sid, b.sid, live.sid}
    assert client.calls.list(start_time_before=start - hour) == []
    with tel.http as h:
        day = start.date()
        r = h.get(
            resource_path(tel, "Calls", ".json"), params={"To": "+15551117011", "StartTime": day.isoformat()}
        )
        assert [c["sid"] for c in r.json()["calls"]] == [a.sid]
        r = h.get(
            resource_path(tel, "Calls", ".json"),
            params={"StartTime>": (day + dt.timedelta(days=1)).isoformat()},
        )
        assert r.json()["calls"] == []
    client.calls(live.sid).update(status="completed")


def test_list_filter_start_time_exact_day_with_sdk(tel: Telephonist, client: Client) -> None:
    call = client.calls.create(to="+15551117014", from_=FROM, twiml=SAY)
    start = tel.call_final(call.sid).start_time.astimezone(dt.UTC)
    midnight = dt.datetime(start.year, start.month, start.day)
    assert [c.sid for c in client.calls.list(to="+15551117014", start_time=midnight)] == [call.sid]


# -- update --------------------------------------------------------------------------------------


def test_update_status_completed_hangs_up_a_live_call(tel: Telephonist, client: Client) -> None:
    call = _live(tel, client, "+15551117020")
    with tel.http as h:
        r = h.post(resource_path(tel, "Calls", f"/{call.sid}.json"), data={"Status": "completed"})
    assert r.status_code == 200, r.text
    assert r.json()["sid"] == call.sid
    done = tel.call_final(call.sid, timeout=3)  # well before the 5 s pause would end
    assert done.status == "completed"
    assert done.end_time is not None and done.duration is not None
    assert tel.transcript(call.sid)[-1] == {"event": "hangup", "by": "api"}


def test_update_status_canceled_on_a_ringing_call(tel: Telephonist, client: Client) -> None:
    tel.sim("POST", "/Phones", PhoneNumber="+15551117021", Answer="manual", RingSeconds="500")
    call = client.calls.create(to="+15551117021", from_=FROM, twiml=SAY, timeout=600)
    wait_until(lambda: client.calls(call.sid).fetch().status == "ringing")
    client.calls(call.sid).update(status="canceled")
    done = tel.call_final(call.sid, timeout=3)
    assert done.status == "canceled"


def test_update_url_redirects_a_live_call(tel: Telephonist, client: Client, webapp: WebApp) -> None:
    call = _live(tel, client, "+15551117022")
    url = webapp.twiml("/next", "<Response><Say>Redirected.</Say></Response>")
    updated = client.calls(call.sid).update(url=url, method="POST")
    assert updated.sid == call.sid
    hit = webapp.wait_hits("/next")[0]
    assert hit.param("CallSid") == call.sid
    done = tel.call_final(call.sid, timeout=3)
    assert done.status == "completed"
    said = [e["text"] for e in tel.transcript(call.sid) if e["event"] == "say"]
    assert said == ["Redirected."]


def test_update_twiml_redirects_a_live_call(tel: Telephonist, client: Client) -> None:
    call = _live(tel, client, "+15551117023")
    client.calls(call.sid).update(twiml="<Response><Say>New document.</Say></Response>")
    assert tel.call_final(call.sid, timeout=3).status == "completed"
    assert [e["text"] for e in tel.transcript(call.sid) if e["event"] == "say"] == ["New document."]


def test_update_completed_call_is_21220(tel: Telephonist, client: Client, webapp: WebApp) -> None:
    call = client.calls.create(to="+15551117024", from_=FROM, twiml=SAY)
    tel.call_final(call.sid)
    url = webapp.url("/late")
    with tel.http as h:
        assert_twilio_error(
            h.post(resource_path(tel, "Calls", f"/{call.sid}.json"), data={"Url": url}), 400, 21220
        )
        assert_twilio_error(
            h.post(resource_path(tel, "Calls", f"/{call.sid}.json"), data={"Status": "completed"}), 400, 21220
        )
    with pytest.raises(TwilioRestException) as exc:
        client.calls(call.sid).update(twiml=SAY)
    assert exc.value.code == 21220
    assert webapp.hits_for("/late") == []
    assert client.calls(call.sid).fetch().status == "completed"


def test_update_with_bad_url_leaves_the_call_alone(tel: Telephonist, client: Client) -> None:
    call = _live(tel, client, "+15551117025")
    with tel.http as h:
        assert_twilio_error(
            h.post(resource_path(tel, "Calls", f"/{call.sid}.json"), data={"Url": "not a url"}), 400, 21205
        )
    assert client.calls(call.sid).fetch().status == "in-progress"
    client.calls(call.sid).update(status="completed")
    tel.call_final(call.sid, timeout=3)


# -- delete --------------------------------------------------------------------------------------


def test_delete_completed_call_is_204_then_404(tel: Telephonist, client: Client) -> None:
    call = client.calls.create(to="+15551117030", from_=FROM, twiml=SAY)
    tel.call_final(call.sid)
    with tel.http as h:
        r = h.delete(resource_path(tel, "Calls", f"/{call.sid}.json"))
        assert r.status_code == 204 and r.content == b""
        assert_twilio_error(h.get(resource_path(tel, "Calls", f"/{call.sid}.json")), 404, 20404)
        assert_twilio_error(h.delete(resource_path(tel, "Calls", f"/{call.sid}.json")), 404, 20404)
    assert client.calls.list(to="+15551117030") == []


def test_delete_live_call_is_20009_and_the_call_goes_on(tel: Telephonist, client: Client) -> None:
    call = _live(tel, client, "+15551117031")
    with tel.http as h:
        assert_twilio_error(h.delete(resource_path(tel, "Calls", f"/{call.sid}.json")), 400, 20009)
    assert client.calls(call.sid).fetch().status == "in-progress"
    client.calls(call.sid).update(status="completed")
    tel.call_final(call.sid, timeout=3)
    assert client.calls(call.sid).delete() is True


# -- validation ----------------------------------------------------------------------------------

VALID = {"To": "+15551117040", "From": FROM, "Twiml": SAY}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (without(VALID, "To"), 21201),
        (without(VALID, "From"), 21213),
        (without(VALID, "Twiml"), 21205),
        (without(VALID, "Twiml") | {"Url": "not a url"}, 21205),
        (without(VALID, "Twiml") | {"Url": "ftp://example.com/x"}, 21205),
        (VALID | {"To": "not-a-number"}, 21211),
        (VALID | {"To": "+15005550001"}, 21217),
        (VALID | {"To": "+15005550002"}, 21214),
        (VALID | {"From": "+15551117049"}, 21210),  # a valid number this account does not own
        (VALID | {"Timeout": "abc"}, 21208),
        (VALID | {"Timeout": "0"}, 21208),
        (VALID | {"Timeout": "601"}, 21208),
        (VALID | {"SendDigits": "12x"}, 21206),
        (VALID | {"SendDigits": "1" * 33}, 21206),
        (VALID | {"StatusCallbackEvent": "exploded"}, 21626),
    ],
)
def test_create_errors_write_nothing_and_server_keeps_serving(
    tel: Telephonist, data: dict[str, str], code: int
) -> None:
    before = count(tel, "Calls", "calls")
    with tel.http as h:
        r = h.post(resource_path(tel, "Calls", ".json"), data=data)
    assert_twilio_error(r, 400, code)
    assert count(tel, "Calls", "calls") == before
    with tel.http as h:
        assert h.post(resource_path(tel, "Calls", ".json"), data=VALID).status_code == 201
    assert count(tel, "Calls", "calls") == before + 1


def test_valid_options_are_accepted(tel: Telephonist, client: Client, webapp: WebApp) -> None:
    cb = webapp.url("/status")
    call = client.calls.create(
        to="+15551117041",
        from_=FROM,
        twiml=SAY,
        timeout=30,
        send_digits="1234#wW",
        status_callback=cb,
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert tel.call_final(call.sid).status == "completed"
    statuses = [h.param("CallStatus") for h in webapp.wait_hits("/status", 4)]
    assert statuses[-1] == "completed"


def test_sdk_raises_twilio_rest_exception_with_code(client: Client) -> None:
    with pytest.raises(TwilioRestException) as exc:
        client.calls.create(to="+15005550002", from_=FROM, twiml=SAY)
    assert exc.value.status == 400 and exc.value.code == 21214
