"""Every response body the SDK will parse, checked against Twilio's OpenAPI document for that operation."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from conftest import Telephonist, WebApp, wait_until
from openapi import validate_response

API = "/2010-04-01"
FROM = "+15005550006"
SAY = "<Response><Say>Schema.</Say></Response>"


def _check(method: str, r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    body = r.json() if r.content else None
    validate_response(method, r.request.url.path, status, body)
    return body


def _acct(tel: Telephonist, rest: str = "") -> str:
    return f"{API}/Accounts/{tel.account_sid}{rest}"


# -- Accounts ------------------------------------------------------------------------------------


def test_accounts(tel: Telephonist) -> None:
    with tel.http as h:
        _check("GET", h.get(_acct(tel, ".json")), 200)
        sub = _check("POST", h.post(f"{API}/Accounts.json", data={"FriendlyName": "schema"}), 201)
        _check("POST", h.post(f"{API}/Accounts/{sub['sid']}.json", data={"FriendlyName": "renamed"}), 200)
        _check("POST", h.post(f"{API}/Accounts/{sub['sid']}.json", data={"Status": "suspended"}), 200)
        _check("GET", h.get(f"{API}/Accounts/{sub['sid']}.json"), 200)
        page = _check("GET", h.get(f"{API}/Accounts.json"), 200)
        assert len(page["accounts"]) == 2
        _check("GET", h.get(f"{API}/Accounts.json", params={"FriendlyName": "nobody"}), 200)


# -- IncomingPhoneNumbers ------------------------------------------------------------------------


def test_incoming_phone_numbers_create_list_delete(tel: Telephonist) -> None:
    base = _acct(tel, "/IncomingPhoneNumbers")
    with tel.http as h:
        n = _check("POST", h.post(base + ".json", data={"PhoneNumber": "+15551119001"}), 201)
        _check(
            "POST",
            h.post(
                base + ".json",
                data={
                    "AreaCode": "415",
                    "VoiceUrl": "http://example.com/v",
                    "SmsUrl": "http://example.com/s",
                    "StatusCallback": "http://example.com/cb",
                    "FriendlyName": "configured",
                },
            ),
            201,
        )
        _check("GET", h.get(base + ".json"), 200)
        _check("GET", h.get(base + ".json", params={"PhoneNumber": "+15551119001"}), 200)
        _check("GET", h.get(base + "/Local.json"), 200)
        _check("DELETE", h.delete(f"{base}/{n['sid']}.json"), 204)


def test_incoming_phone_numbers_fetch_update(tel: Telephonist) -> None:
    base = _acct(tel, "/IncomingPhoneNumbers")
    with tel.http as h:
        n = _check("POST", h.post(base + ".json", data={"PhoneNumber": "+15551119002"}), 201)
        _check("GET", h.get(f"{base}/{n['sid']}.json"), 200)
        _check("POST", h.post(f"{base}/{n['sid']}.json", data={"VoiceUrl": "http://example.com/v2"}), 200)


# -- Messages ------------------------------------------------------------------------------------


def test_messages(tel: Telephonist) -> None:
    base = _acct(tel, "/Messages")
    with tel.http as h:
        m = _check(
            "POST", h.post(base + ".json", data={"To": "+15551119010", "From": FROM, "Body": "schema ✓"}), 201
        )
        _check("GET", h.get(f"{base}/{m['sid']}.json"), 200)
        wait_until(lambda: h.get(f"{base}/{m['sid']}.json").json()["status"] == "delivered")
        delivered = _check("GET", h.get(f"{base}/{m['sid']}.json"), 200)
        assert delivered["date_sent"] is not None
        _check("GET", h.get(base + ".json"), 200)
        _check("GET", h.get(base + ".json", params={"To": "+15551119010", "PageSize": 1}), 200)
        _check("POST", h.post(f"{base}/{m['sid']}.json", data={"Body": ""}), 200)
        _check("DELETE", h.delete(f"{base}/{m['sid']}.json"), 204)


def test_failed_message_has_valid_error_fields(tel: Telephonist) -> None:
    tel.sim("POST", "/Phones", PhoneNumber="+15551119011", Answer="fail")
    base = _acct(tel, "/Messages")
    with tel.http as h:
        m = _check(
            "POST", h.post(base + ".json", data={"To": "+15551119011", "From": FROM, "Body": "x"}), 201
        )
        wait_until(lambda: h.get(f"{base}/{m['sid']}.json").json()["status"] in ("undelivered", "failed"))
        body = _check("GET", h.get(f"{base}/{m['sid']}.json"), 200)
    assert body["error_code"] == 30003


def test_mms_media_and_service_messages(tel: Telephonist, webapp: WebApp) -> None:
    base = _acct(tel, "/Messages")
    picture = webapp.file("/schema.png", b"\x89PNG\r\n\x1a\n", "image/png")
    svc = tel.client().messaging.v1.services.create(friendly_name="schema")
    with tel.http as h:
        data = {"To": "+15551119012", "From": FROM, "Body": "a picture", "MediaUrl": picture}
        m = _check("POST", h.post(base + ".json", data=data), 201)
        wait_until(lambda: h.get(f"{base}/{m['sid']}.json").json()["status"] == "delivered")
        media = _check("GET", h.get(f"{base}/{m['sid']}/Media.json"), 200)["media_list"]
        _check("GET", h.get(f"{base}/{m['sid']}/Media/{media[0]['sid']}.json"), 200)
        _check("DELETE", h.delete(f"{base}/{m['sid']}/Media/{media[0]['sid']}.json"), 204)
        data = {"To": "+15551119013", "MessagingServiceSid": svc.sid, "Body": "accepted"}
        accepted = _check("POST", h.post(base + ".json", data=data), 201)
        assert accepted["status"] == "accepted" and accepted["from"] is None
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        data |= {"ScheduleType": "fixed", "SendAt": later}
        scheduled = _check("POST", h.post(base + ".json", data=data), 201)
        assert scheduled["status"] == "scheduled"
        canceled = _check("POST", h.post(f"{base}/{scheduled['sid']}.json", data={"Status": "canceled"}), 200)
        assert canceled["status"] == "canceled"


# -- Calls ---------------------------------------------------------------------------------------


def test_calls(tel: Telephonist, webapp: WebApp) -> None:
    base = _acct(tel, "/Calls")
    url = webapp.twiml("/answer", SAY)
    with tel.http as h:
        c = _check("POST", h.post(base + ".json", data={"To": "+15551119020", "From": FROM, "Url": url}), 201)
        _check("GET", h.get(f"{base}/{c['sid']}.json"), 200)
        tel.call_final(c["sid"])
        done = _check("GET", h.get(f"{base}/{c['sid']}.json"), 200)
        assert done["status"] == "completed"
        _check("GET", h.get(base + ".json"), 200)
        _check("GET", h.get(base + ".json", params={"Status": "completed", "To": "+15551119020"}), 200)

        live = _check(
            "POST",
            h.post(
                base + ".json",
                data={
                    "To": "+15551119021",
                    "From": FROM,
                    "Twiml": '<Response><Pause length="500"/></Response>',
                },
            ),
            201,
        )
        wait_until(lambda: h.get(f"{base}/{live['sid']}.json").json()["status"] == "in-progress")
        _check("GET", h.get(f"{base}/{live['sid']}.json"), 200)
        _check("POST", h.post(f"{base}/{live['sid']}.json", data={"Status": "completed"}), 200)
        tel.call_final(live["sid"])
        _check("DELETE", h.delete(f"{base}/{c['sid']}.json"), 204)


# -- Notifications -------------------------------------------------------------------------------


def test_notifications_from_a_failing_webhook(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/bad", "oops", status=500)
    client = tel.client()
    call = client.calls.create(to="+15551119030", from_=FROM, url=url)
    tel.call_final(call.sid)
    with tel.http as h:
        page = wait_until(
            lambda: (p := h.get(_acct(tel, "/Notifications.json")).json())["notifications"] and p
        )
        validate_response("GET", _acct(tel, "/Notifications.json"), 200, page)
        listed = page["notifications"]
        assert [n["error_code"] for n in listed] == ["11200"]
        n = listed[0]
        assert n["sid"].startswith("NO") and n["call_sid"] == call.sid
        assert n["account_sid"] == tel.account_sid
        assert n["log"] == "0"
        assert n["request_url"] == url
        assert n["uri"] == _acct(tel, f"/Notifications/{n['sid']}.json")

        fetched = _check("GET", h.get(_acct(tel, f"/Notifications/{n['sid']}.json")), 200)
        assert fetched["sid"] == n["sid"] and fetched["error_code"] == "11200"

        per_call = _check("GET", h.get(_acct(tel, f"/Calls/{call.sid}/Notifications.json")), 200)
        assert [x["sid"] for x in per_call["notifications"]] == [n["sid"]]
        _check("GET", h.get(_acct(tel, "/Notifications.json"), params={"Log": "0"}), 200)
        assert (
            _check("GET", h.get(_acct(tel, "/Notifications.json"), params={"Log": "1"}), 200)["notifications"]
            == []
        )

    # Through the SDK as well.
    sdk = client.notifications.list()
    assert [(x.sid, x.error_code) for x in sdk] == [(n["sid"], "11200")]
    assert client.notifications(n["sid"]).fetch().call_sid == call.sid


def test_call_notifications_of_a_clean_call_are_empty(tel: Telephonist) -> None:
    call = tel.client().calls.create(to="+15551119031", from_=FROM, twiml=SAY)
    tel.call_final(call.sid)
    with tel.http as h:
        page = _check("GET", h.get(_acct(tel, f"/Calls/{call.sid}/Notifications.json")), 200)
    assert page["notifications"] == []


def test_call_notifications_of_unknown_call_is_404(tel: Telephonist) -> None:
    with tel.http as h:
        r = h.get(_acct(tel, f"/Calls/CA{'0' * 32}/Notifications.json"))
    assert r.status_code == 404 and r.json()["code"] == 20404


def test_notifications_message_date_filters(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/bad", "oops", status=500)
    call = tel.client().calls.create(to="+15551119032", from_=FROM, url=url)
    tel.call_final(call.sid)
    path = _acct(tel, "/Notifications.json")
    with tel.http as h:
        listed = wait_until(lambda: h.get(path).json()["notifications"])
        day = parsedate_to_datetime(listed[0]["message_date"]).date()
        one = dt.timedelta(days=1)
        for params, count in [
            ({"MessageDate": day.isoformat()}, 1),
            ({"MessageDate>": day.isoformat()}, 1),
            ({"MessageDate<": day.isoformat()}, 1),
            ({"MessageDate>": (day + one).isoformat()}, 0),
            ({"MessageDate<": (day - one).isoformat()}, 0),
        ]:
            page = _check("GET", h.get(path, params=params), 200)
            assert len(page["notifications"]) == count, params


# -- Recordings and Transcriptions ---------------------------------------------------------------


def test_recordings_and_transcriptions(tel: Telephonist, webapp: WebApp) -> None:
    tel.sim("POST", "/Phones", PhoneNumber="+15551119050", GatherInput="speech:Please call me back")
    twiml = '<Response><Record maxLength="20" transcribe="true" action="/done"/></Response>'
    with tel.http as h:
        call = _check(
            "POST",
            h.post(_acct(tel, "/Calls.json"), data={"To": "+15551119050", "From": FROM, "Twiml": twiml}),
            201,
        )
        wait_until(lambda: h.get(_acct(tel, "/Transcriptions.json")).json()["transcriptions"])
        page = _check("GET", h.get(_acct(tel, "/Recordings.json")), 200)
        [rec] = page["recordings"]
        _check("GET", h.get(_acct(tel, f"/Recordings/{rec['sid']}.json")), 200)
        _check("GET", h.get(_acct(tel, f"/Calls/{call['sid']}/Recordings.json")), 200)
        _check("GET", h.get(_acct(tel, f"/Calls/{call['sid']}/Recordings/{rec['sid']}.json")), 200)
        [tr] = _check("GET", h.get(_acct(tel, "/Transcriptions.json")), 200)["transcriptions"]
        _check("GET", h.get(_acct(tel, f"/Transcriptions/{tr['sid']}.json")), 200)
        _check("DELETE", h.delete(_acct(tel, f"/Transcriptions/{tr['sid']}.json")), 204)
        _check("DELETE", h.delete(_acct(tel, f"/Calls/{call['sid']}/Recordings/{rec['sid']}.json")), 204)
        assert h.get(_acct(tel, f"/Recordings/{rec['sid']}.json")).status_code == 404


# -- Queues and Members --------------------------------------------------------------------------


def test_queues_and_members(tel: Telephonist, webapp: WebApp) -> None:
    with tel.http as h:
        q = _check(
            "POST", h.post(_acct(tel, "/Queues.json"), data={"FriendlyName": "schema", "MaxSize": "5"}), 201
        )
        _check("GET", h.get(_acct(tel, "/Queues.json")), 200)
        _check("GET", h.get(_acct(tel, f"/Queues/{q['sid']}.json")), 200)
        _check("POST", h.post(_acct(tel, f"/Queues/{q['sid']}.json"), data={"FriendlyName": "schema2"}), 200)
        twiml = "<Response><Enqueue>schema2</Enqueue></Response>"
        call = _check(
            "POST",
            h.post(_acct(tel, "/Calls.json"), data={"To": "+15551119060", "From": FROM, "Twiml": twiml}),
            201,
        )
        members = _acct(tel, f"/Queues/{q['sid']}/Members")
        wait_until(lambda: h.get(members + ".json").json()["queue_members"])
        _check("GET", h.get(members + ".json"), 200)
        _check("GET", h.get(f"{members}/{call['sid']}.json"), 200)
        _check("GET", h.get(f"{members}/Front.json"), 200)
        out = webapp.twiml("/out", "<Response><Hangup/></Response>")
        _check("POST", h.post(f"{members}/Front.json", data={"Url": out}), 200)
        wait_until(lambda: not h.get(members + ".json").json()["queue_members"])
        _check("DELETE", h.delete(_acct(tel, f"/Queues/{q['sid']}.json")), 204)


# -- Applications and Keys -----------------------------------------------------------------------


def test_applications_and_keys(tel: Telephonist) -> None:
    with tel.http as h:
        app = _check(
            "POST",
            h.post(
                _acct(tel, "/Applications.json"),
                data={"FriendlyName": "a", "VoiceUrl": "https://x.example/v"},
            ),
            201,
        )
        _check("GET", h.get(_acct(tel, "/Applications.json")), 200)
        _check("GET", h.get(_acct(tel, f"/Applications/{app['sid']}.json")), 200)
        _check(
            "POST",
            h.post(_acct(tel, f"/Applications/{app['sid']}.json"), data={"SmsUrl": "https://x.example/s"}),
            200,
        )
        _check("DELETE", h.delete(_acct(tel, f"/Applications/{app['sid']}.json")), 204)
        key = _check("POST", h.post(_acct(tel, "/Keys.json"), data={"FriendlyName": "k"}), 201)
        _check("GET", h.get(_acct(tel, "/Keys.json")), 200)
        _check("GET", h.get(_acct(tel, f"/Keys/{key['sid']}.json")), 200)
        _check("POST", h.post(_acct(tel, f"/Keys/{key['sid']}.json"), data={"FriendlyName": "k2"}), 200)
        _check("DELETE", h.delete(_acct(tel, f"/Keys/{key['sid']}.json")), 204)


# -- Conferences and Participants ----------------------------------------------------------------


def test_conferences_and_participants(tel: Telephonist) -> None:
    twiml = "<Response><Dial><Conference>schema</Conference></Dial></Response>"
    with tel.http as h:
        call = _check(
            "POST",
            h.post(_acct(tel, "/Calls.json"), data={"To": "+15551119070", "From": FROM, "Twiml": twiml}),
            201,
        )
        page = wait_until(lambda: h.get(_acct(tel, "/Conferences.json")).json()["conferences"])
        conf = page[0]["sid"]
        _check("GET", h.get(_acct(tel, "/Conferences.json")), 200)
        _check("GET", h.get(_acct(tel, f"/Conferences/{conf}.json")), 200)
        parts = _acct(tel, f"/Conferences/{conf}/Participants")
        wait_until(lambda: h.get(parts + ".json").json()["participants"])
        _check("GET", h.get(parts + ".json"), 200)
        _check("GET", h.get(f"{parts}/{call['sid']}.json"), 200)
        _check("POST", h.post(f"{parts}/{call['sid']}.json", data={"Muted": "true"}), 200)
        added = _check("POST", h.post(parts + ".json", data={"From": FROM, "To": "+15551119071"}), 201)
        wait_until(lambda: h.get(f"{parts}/{added['call_sid']}.json").json()["status"] == "connected")
        _check("DELETE", h.delete(f"{parts}/{added['call_sid']}.json"), 204)
        _check("POST", h.post(_acct(tel, f"/Conferences/{conf}.json"), data={"Status": "completed"}), 200)
