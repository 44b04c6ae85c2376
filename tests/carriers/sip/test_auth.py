"""Digest authentication: RFC 2617's own example, and answers to challenges that check out."""

from __future__ import annotations

from telephonist.carriers.sip import auth
from telephonist.carriers.sip.message import parse_auth


def test_rfc_2617_example_response() -> None:
    credentials = (
        'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", '
        'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    users = {"Mufasa": "Circle Of Life"}
    assert auth.verify(credentials, "GET", "testrealm@host.com", users) == "Mufasa"
    assert auth.verify(credentials, "POST", "testrealm@host.com", users) is None
    assert auth.verify(credentials, "GET", "other", users) is None
    assert auth.verify(credentials, "GET", "testrealm@host.com", {"Mufasa": "wrong"}) is None


def test_an_answer_to_our_challenge_verifies() -> None:
    challenge = auth.challenge("sip.example", "n0nce")
    for algorithm in ("MD5", "SHA-256"):
        offered = challenge.replace("MD5", algorithm)
        answer = auth.answer(offered, "INVITE", "sip:+1555@sip.example", "alice", "pw")
        assert answer is not None
        _, params = parse_auth(answer)
        assert params["qop"] == "auth" and params["algorithm"] == algorithm and params["nonce"] == "n0nce"
        assert auth.verify(answer, "INVITE", "sip.example", {"alice": "pw"}) == "alice"
        assert auth.verify(answer, "INVITE", "sip.example", {"alice": "other"}) is None


def test_challenges_we_cannot_answer() -> None:
    assert auth.answer('Basic realm="x"', "INVITE", "sip:a@b", "u", "p") is None
    assert auth.answer('Digest realm="x", nonce="n", qop="auth-int"', "INVITE", "sip:a@b", "u", "p") is None
    sha512 = 'Digest realm="x", nonce="n", algorithm=SHA-512-256'
    assert auth.answer(sha512, "INVITE", "sip:a@b", "u", "p") is None
    without_qop = auth.answer('Digest realm="x", nonce="n"', "INVITE", "sip:a@b", "u", "p")
    assert without_qop is not None and "qop" not in without_qop
    assert auth.verify(without_qop, "INVITE", "x", {"u": "p"}) == "u"
