"""Paths and methods the API lacks, and oversized bodies: Twilio error bodies, and the server survives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import Telephonist, assert_twilio_error

API = "/2010-04-01"


def _still_serving(tel: Telephonist) -> None:
    with tel.http as h:
        assert h.get(f"{API}/Accounts/{tel.account_sid}.json").status_code == 200
    message = tel.client().messages.create(to="+15551238000", from_="+15005550006", body="still here")
    assert message.status == "queued"


@pytest.mark.parametrize(
    "suffix",
    ["/Nope.json", "/Messages/SM" + "0" * 32 + "/Nope.json", "/Calls.xml", "/Messages", "/Recordingz.json"],
)
def test_unknown_account_path_is_404_20404(tel: Telephonist, suffix: str) -> None:
    with tel.http as h:
        assert_twilio_error(h.get(f"{API}/Accounts/{tel.account_sid}{suffix}"), 404, 20404)


@pytest.mark.parametrize(
    "path", ["/", "/2010-04-01", "/2010-04-01/Nothing.json", "/2099-01-01/Accounts.json"]
)
def test_unknown_top_level_path_is_404_20404(tel: Telephonist, path: str) -> None:
    with tel.http as h:
        assert_twilio_error(h.get(path), 404, 20404)


@pytest.mark.parametrize("kind", ["Messages", "Calls", "Notifications"])
def test_unknown_sid_is_404_20404_naming_the_path(tel: Telephonist, kind: str) -> None:
    prefix = {"Messages": "SM", "Calls": "CA", "Notifications": "NO"}[kind]
    path = f"{API}/Accounts/{tel.account_sid}/{kind}/{prefix}{'0' * 32}.json"
    with tel.http as h:
        r = h.get(path)
    assert_twilio_error(r, 404, 20404)
    assert path in r.json()["message"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("DELETE", "/Messages.json"),
        ("PUT", "/Messages.json"),
        ("PATCH", "/Calls.json"),
        ("DELETE", "/Calls.json"),
        ("DELETE", ".json"),
        ("DELETE", "/Notifications.json"),
        ("POST", "/Notifications.json"),
    ],
)
def test_wrong_method_is_405_20004(tel: Telephonist, method: str, suffix: str) -> None:
    with tel.http as h:
        assert_twilio_error(h.request(method, f"{API}/Accounts/{tel.account_sid}{suffix}"), 405, 20004)


def test_wrong_method_on_accounts_list_is_405(tel: Telephonist) -> None:
    with tel.http as h:
        assert_twilio_error(h.delete(f"{API}/Accounts.json"), 405, 20004)


def test_two_megabyte_body_is_413_and_server_keeps_serving(tel: Telephonist) -> None:
    before = len(tel.client().messages.list())
    body = b"Body=" + b"a" * (2 * 1024 * 1024)
    with tel.http as h:
        r = h.post(
            f"{API}/Accounts/{tel.account_sid}/Messages.json",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 413, r.text[:200]
    assert r.json()["status"] == 413
    _still_serving(tel)
    assert len(tel.client().messages.list()) == before + 1


def test_chunked_two_megabyte_body_without_length_is_413(tel: Telephonist) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"To=%2B15551238001&From=%2B15005550006&Body="
        for _ in range(32):
            yield b"a" * 65536

    with tel.http as h:
        r = h.post(
            f"{API}/Accounts/{tel.account_sid}/Messages.json",
            content=chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 413, r.text[:200]
    assert tel.client().messages.list(to="+15551238001") == []
    _still_serving(tel)


def test_body_just_under_the_limit_is_read(tel: Telephonist) -> None:
    # 1 MB is the default limit: a body well under it reaches validation (21617: Body too long), not 413.
    with tel.http as h:
        r = h.post(
            f"{API}/Accounts/{tel.account_sid}/Messages.json",
            data={"To": "+15551238002", "From": "+15005550006", "Body": "a" * 500_000},
        )
    assert_twilio_error(r, 400, 21617)
