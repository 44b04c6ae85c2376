"""What the application's Url receives on an outbound call: the standard voice parameters (twilio-wire.md
§3.3), by POST or GET, with a signature twilio's RequestValidator accepts (§3.6)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import Telephonist, WebApp
from voice.support import PHONE, PLATFORM_NUMBER, params, place, signed

SAY = "<Response><Say>Hi</Say></Response>"


def test_first_request_carries_the_standard_parameters_by_post(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", SAY))
    assert tel.call_final(sid).status == "completed"
    [hit] = webapp.hits_for("/voice")
    assert hit.method == "POST"
    assert hit.args == {}
    assert hit.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    p = params(hit)
    assert p["CallSid"] == sid
    assert p["AccountSid"] == tel.account_sid
    assert p["From"] == PLATFORM_NUMBER and p["Caller"] == PLATFORM_NUMBER
    assert p["To"] == PHONE and p["Called"] == PHONE
    assert p["CallStatus"] == "in-progress"
    assert p["Direction"] == "outbound-api"
    assert p["ApiVersion"] == "2010-04-01"
    for side, number in (
        ("From", PLATFORM_NUMBER),
        ("Caller", PLATFORM_NUMBER),
        ("To", PHONE),
        ("Called", PHONE),
    ):
        assert p[side + "Country"] == "US", (side, number)
        for geo in ("City", "State", "Zip"):
            assert side + geo in p
    assert "ParentCallSid" not in p
    assert all(len(v) == 1 for v in hit.form.values()), hit.form


def test_post_request_signature_validates(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", SAY))
    tel.call_final(sid)
    [hit] = webapp.hits_for("/voice")
    assert signed(hit)
    assert hit.headers["User-Agent"].startswith("TwilioProxy/")


def test_signature_fails_when_a_parameter_is_tampered_with(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", SAY))
    tel.call_final(sid)
    [hit] = webapp.hits_for("/voice")
    hit.form["To"] = ["+15550000000"]
    assert not signed(hit)


def test_get_puts_the_parameters_in_the_query_string_and_signs_the_full_url(
    tel: Telephonist, webapp: WebApp
) -> None:
    sid = place(tel, webapp.twiml("/voice", SAY), method="GET")
    assert tel.call_final(sid).status == "completed"
    [hit] = webapp.hits_for("/voice")
    assert hit.method == "GET"
    assert hit.form == {}
    p = params(hit)
    assert (p["CallSid"], p["CallStatus"], p["Direction"], p["From"], p["To"]) == (
        sid,
        "in-progress",
        "outbound-api",
        PLATFORM_NUMBER,
        PHONE,
    )
    assert p["AccountSid"] == tel.account_sid and p["ApiVersion"] == "2010-04-01"
    assert signed(hit)


def test_get_keeps_the_urls_own_query_parameters(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/voice", SAY) + "?app=menu&step=1"
    sid = place(tel, url, method="GET")
    tel.call_final(sid)
    [hit] = webapp.hits_for("/voice")
    query = parse_qsl(urlsplit(hit.url).query)
    assert query[:2] == [("app", "menu"), ("step", "1")]
    assert dict(query)["CallSid"] == sid
    assert signed(hit)


def test_post_to_a_url_with_a_query_string_signs_url_and_body(tel: Telephonist, webapp: WebApp) -> None:
    url = webapp.twiml("/voice", SAY) + "?tenant=a%20b&x=1"
    sid = place(tel, url)
    tel.call_final(sid)
    [hit] = webapp.hits_for("/voice")
    assert hit.method == "POST" and hit.args == {"tenant": ["a b"], "x": ["1"]}
    assert params(hit)["CallSid"] == sid
    assert signed(hit)


def test_url_fragment_is_not_sent(tel: Telephonist, webapp: WebApp) -> None:
    sid = place(tel, webapp.twiml("/voice", SAY) + "#rc=2")
    assert tel.call_final(sid).status == "completed"
    [hit] = webapp.hits_for("/voice")
    assert "#" not in hit.url
    assert signed(hit)


def test_each_request_has_its_own_idempotency_token(tel: Telephonist, webapp: WebApp) -> None:
    webapp.twiml("/a", "<Response><Redirect>/b</Redirect></Response>")
    webapp.twiml("/b", SAY)
    sid = place(tel, webapp.url("/a"))
    tel.call_final(sid)
    tokens = [
        h.headers.get("I-Twilio-Idempotency-Token") for h in webapp.hits_for("/a") + webapp.hits_for("/b")
    ]
    assert len(tokens) == 2 and all(tokens) and tokens[0] != tokens[1]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_action_requests_carry_the_standard_parameters_too(
    tel: Telephonist, webapp: WebApp, method: str
) -> None:
    webapp.twiml("/start", f'<Response><Redirect method="{method}">/next</Redirect></Response>')
    webapp.twiml("/next", SAY)
    sid = place(tel, webapp.url("/start"))
    tel.call_final(sid)
    [hit] = webapp.hits_for("/next")
    assert hit.method == method
    p = params(hit)
    assert (p["CallSid"], p["AccountSid"], p["CallStatus"], p["Direction"], p["Called"], p["Caller"]) == (
        sid,
        tel.account_sid,
        "in-progress",
        "outbound-api",
        PHONE,
        PLATFORM_NUMBER,
    )
    assert signed(hit)
