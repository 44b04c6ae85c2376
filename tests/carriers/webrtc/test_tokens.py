"""Access tokens of the browser phone: the official SDK's are accepted, Telephonist's endpoint mints them, and
expired, forged, other accounts' or malformed ones are refused with Twilio's codes, on sign-in too. Neither
a token nor a secret is ever logged."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import jwt
import pytest
from sqlalchemy import update
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VideoGrant, VoiceGrant
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from conftest import ACCOUNT_SID, AUTH_TOKEN, Telephonist, assert_twilio_error, wait_until
from telephonist import tokens
from telephonist.store.models import api_keys

CLIENT_LOGGERS = ("websockets.client", "twilio", "urllib3", "httpx", "httpcore")


def signal(tel: Telephonist) -> ClientConnection:
    return connect(tel.base_url.replace("http://", "ws://") + "/webrtc/v1/signal", open_timeout=5)


def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=5))
    return message


def verify(tel: Telephonist, token: str) -> tokens.VoiceGrant:
    with tel.db.read() as q:
        return tokens.verify(q, token)


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the server logged (the test's own clients log their requests, which carry the secrets)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS))


def refused(tel: Telephonist, token: str) -> int:
    with pytest.raises(tokens.TokenError) as err:
        verify(tel, token)
    return err.value.code


def sdk_token(key: Any, ttl: int = 3600, account_sid: str = ACCOUNT_SID, **grant: Any) -> str:
    token = AccessToken(account_sid, key.sid, key.secret, identity="alice", ttl=ttl)
    token.add_grant(VoiceGrant(**grant))
    return str(token.to_jwt())


def test_a_token_of_the_twilio_sdk_signs_in_and_rings(
    tel: Telephonist, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = tel.client()
    key = client.new_keys.create(friendly_name="browser")
    app = client.applications.create(voice_url="http://127.0.0.1:9/voice", friendly_name="phone")
    token = sdk_token(
        key, incoming_allow=True, outgoing_application_sid=app.sid, outgoing_application_params={"Mood": "ok"}
    )
    grant = verify(tel, token)
    assert (grant.account_sid, grant.key_sid, grant.identity) == (ACCOUNT_SID, key.sid, "alice")
    assert grant.incoming and grant.application_sid == app.sid and grant.params == {"Mood": "ok"}
    with signal(tel) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert receive(ws) == {"type": "ready", "identity": "alice", "account_sid": ACCOUNT_SID}
        ws.send(json.dumps({"type": "register"}))
        assert receive(ws) == {"type": "registered"}
        # Signed in and registered, client:alice is this tab, no longer a virtual phone: it rings here.
        call = client.calls.create(
            to="client:alice", from_="+15005550006", twiml="<Response><Say>Hi</Say></Response>"
        )
        incoming = receive(ws)
        assert incoming["type"] == "incoming" and incoming["call_sid"] == call.sid
        assert (incoming["from"], incoming["to"]) == ("+15005550006", "client:alice")
        ws.send(json.dumps({"type": "reject", "call": incoming["call"]}))
        assert tel.call_final(call.sid).status == "busy"
        ws.send(json.dumps({"type": "dance"}))
        assert receive(ws)["code"] == 31100
    # Once the tab is gone, client:alice is a virtual phone again.
    wait_until(lambda: not tel.platform.webrtc.devices)
    again = client.calls.create(
        to="client:alice", from_="+15005550006", twiml="<Response><Say>Hi</Say></Response>"
    )
    assert tel.call_final(again.sid).status == "completed"
    assert [e["text"] for e in tel.transcript(again.sid) if e["event"] == "say"] == ["Hi"]
    logged = server_log(caplog)
    assert "signed in as client:alice" in logged
    for secret in (token, key.secret, AUTH_TOKEN, token.split(".")[2]):
        assert secret not in logged


def test_refused_tokens_get_twilio_codes(tel: Telephonist, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = tel.client()
    key = client.new_keys.create()
    now = int(time.time())
    assert refused(tel, "not.a.token") == 20101
    assert refused(tel, sdk_token(key, ttl=-60, incoming_allow=True)) == 20104
    forged = tokens.mint(ACCOUNT_SID, key.sid, "f" * 32, "alice")
    assert refused(tel, forged) == 20107
    assert refused(tel, tokens.mint(ACCOUNT_SID, "SK" + "0" * 32, key.secret, "alice")) == 20103
    other = client.api.accounts.create(friendly_name="other")  # a subaccount: its key is not this one
    assert refused(tel, sdk_token(key, account_sid=other.sid, incoming_allow=True)) == 20103
    assert refused(tel, tokens.mint(ACCOUNT_SID, key.sid, key.secret, "alice", now=now + 600)) == 20105
    assert refused(tel, tokens.mint(ACCOUNT_SID, key.sid, key.secret, "alice", ttl=3 * 86400)) == 20157
    no_voice = AccessToken(ACCOUNT_SID, key.sid, key.secret, identity="alice", grants=[VideoGrant(room="r")])
    assert refused(tel, no_voice.to_jwt()) == 20106
    no_identity = AccessToken(ACCOUNT_SID, key.sid, key.secret, grants=[VoiceGrant(incoming_allow=True)])
    assert refused(tel, no_identity.to_jwt()) == 20106
    payload = jwt.decode(sdk_token(key, incoming_allow=True), options={"verify_signature": False})
    assert refused(tel, jwt.encode(payload, key.secret, algorithm="HS256")) == 20102  # no twilio-fpa cty
    # Over the signalling socket: the error, then the socket closes (policy violation).
    firsts = ({"type": "auth", "token": forged}, {"type": "auth", "token": ""}, {"type": "register"})
    for first, code in zip(firsts, (20107, 20101, 31102), strict=True):
        with signal(tel) as ws:
            ws.send(json.dumps(first))
            assert receive(ws)["code"] == code
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    # A key made before key secrets were kept cannot verify its tokens: refused, and the message says why.
    with tel.db.tx() as conn:
        conn.execute(update(api_keys).where(api_keys.c.sid == key.sid).values(secret=None))
    with pytest.raises(tokens.TokenError, match="create a new API key") as err:
        verify(tel, sdk_token(key, incoming_allow=True))
    assert err.value.code == 20103
    for secret in (key.secret, forged, AUTH_TOKEN):
        assert secret not in server_log(caplog)


def test_the_token_endpoint(tel: Telephonist, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = tel.client()
    app = client.applications.create(voice_url="http://127.0.0.1:9/voice", friendly_name="phone")
    with tel.http as h:
        r = h.post(
            "/webrtc/v1/Tokens", data={"Identity": "alice", "OutgoingApplicationSid": app.sid, "Ttl": 600}
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert jwt.get_unverified_header(body["token"])["cty"] == "twilio-fpa;v=1"
        grant = verify(tel, body["token"])
        assert (grant.identity, grant.application_sid, grant.incoming) == ("alice", app.sid, True)
        assert 590 < grant.expires - time.time() <= 600 and body["ttl"] == 600
        # The account's browser-phone key is made once and reused.
        again = h.post("/webrtc/v1/Tokens", data={"Identity": "bob", "IncomingAllow": "false"}).json()
        assert again["api_key_sid"] == body["api_key_sid"] and not verify(tel, again["token"]).incoming
        assert [k.sid for k in client.keys.list()] == [body["api_key_sid"]]
        # A key of one's own, with its secret; or, authenticated with a key, that key.
        key = client.new_keys.create()
        given = h.post(
            "/webrtc/v1/Tokens", data={"Identity": "alice", "ApiKeySid": key.sid, "ApiKeySecret": key.secret}
        )
        assert (
            given.json()["api_key_sid"] == key.sid and verify(tel, given.json()["token"]).key_sid == key.sid
        )
        as_key = h.post("/webrtc/v1/Tokens", data={"Identity": "alice"}, auth=(key.sid, key.secret))
        assert as_key.json()["api_key_sid"] == key.sid
        wrong = h.post(
            "/webrtc/v1/Tokens", data={"Identity": "a", "ApiKeySid": key.sid, "ApiKeySecret": "x" * 32}
        )
        assert_twilio_error(wrong, 401, 20003)
        assert_twilio_error(h.post("/webrtc/v1/Tokens", data={}), 400, 20001)
        assert_twilio_error(h.post("/webrtc/v1/Tokens", data={"Identity": "a b"}), 400, 31105)
        assert_twilio_error(h.post("/webrtc/v1/Tokens", data={"Identity": "a", "Ttl": "90000"}), 400, 20157)
        unknown = h.post(
            "/webrtc/v1/Tokens", data={"Identity": "a", "OutgoingApplicationSid": "AP" + "0" * 32}
        )
        assert_twilio_error(unknown, 400, 21218)
        assert_twilio_error(
            h.post("/webrtc/v1/Tokens", data={"Identity": "a"}, auth=(ACCOUNT_SID, "no")), 401, 20003
        )
        # The key's secret is never shown again.
        shown = h.get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Keys/{key.sid}.json").json()
        assert shown["sid"] == key.sid and "secret" not in shown
    for secret in (body["token"], again["token"], key.secret, AUTH_TOKEN):
        assert secret not in server_log(caplog)
