"""HTTP digest authentication as SIP uses it (RFC 3261 §22, RFC 2617 with MD5 and qop=auth; RFC 7616's
SHA-256 answered too), sans-IO: challenges, answers to them, and their checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from telephonist.carriers.sip.message import format_auth, parse_auth

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode()).hexdigest()


def _response(
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str,
    nc: str,
    cnonce: str,
) -> str:
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def answer(challenge: str, method: str, uri: str, username: str, password: str) -> str | None:
    """The Authorization (or Proxy-Authorization) value that answers a WWW- or Proxy-Authenticate
    `challenge` for a request; None when the challenge is not one we can answer."""
    scheme, params = parse_auth(challenge)
    algorithm = params.get("algorithm", "MD5").upper()
    if scheme.lower() != "digest" or algorithm not in _HASHES or "nonce" not in params:
        return None
    offered = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if offered and "auth" not in offered:
        return None  # auth-int only
    qop = "auth" if offered else ""
    nc, cnonce = "00000001", secrets.token_hex(8)
    realm, nonce = params.get("realm", ""), params["nonce"]
    out = {"username": username, "realm": realm, "nonce": nonce, "uri": uri}
    out["response"] = _response(algorithm, username, realm, password, method, uri, nonce, qop, nc, cnonce)
    out["algorithm"] = algorithm
    if qop:
        out |= {"qop": qop, "nc": nc, "cnonce": cnonce}
    if "opaque" in params:
        out["opaque"] = params["opaque"]
    return format_auth("Digest", out)


def challenge(realm: str, nonce: str, stale: bool = False) -> str:
    params = {"realm": realm, "nonce": nonce, "qop": "auth", "algorithm": "MD5"}
    if stale:
        params["stale"] = "true"
    return format_auth("Digest", params)


def verify(credentials: str, method: str, realm: str, passwords: dict[str, str]) -> str | None:
    """The username whose password made `credentials` (an Authorization value) for `method` in `realm`,
    or None. The caller checks that the nonce is one it issued and still fresh."""
    try:
        scheme, params = parse_auth(credentials)
    except ValueError:
        return None
    username = params.get("username", "")
    algorithm = params.get("algorithm", "MD5").upper()
    if scheme.lower() != "digest" or params.get("realm") != realm or algorithm not in _HASHES:
        return None
    password = passwords.get(username)
    if password is None:
        return None
    qop = params.get("qop", "")
    expected = _response(
        algorithm, username, realm, password, method, params.get("uri", ""), params.get("nonce", ""),
        qop, params.get("nc", ""), params.get("cnonce", ""),
    )  # fmt: skip
    return username if hmac.compare_digest(expected, params.get("response", "")) else None


def new_nonce(secret: bytes, now: float) -> str:
    """A nonce that proves itself: when it was made, signed with `secret` (no table of nonces to keep)."""
    stamp = f"{now:.3f}"
    return stamp + "." + hmac.new(secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]


def nonce_age(secret: bytes, nonce: str, now: float) -> float | None:
    """How old a nonce of `new_nonce` is, or None when we did not make it."""
    stamp, _, mac = nonce.rpartition(".")
    good = hmac.new(secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
    if not stamp or not hmac.compare_digest(mac, good):
        return None
    try:
        return now - float(stamp)
    except ValueError:
        return None


def credentials_nonce(credentials: str) -> str:
    try:
        return parse_auth(credentials)[1].get("nonce", "")
    except ValueError:
        return ""
