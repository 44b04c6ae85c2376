"""The operators' guard (TELEPHONIST_WEBHOOK_ALLOW_PRIVATE=false): webhook and media URLs whose host
resolves to a private address are refused with 11205, checked on the address connected to and at every
redirect; off by default, so the embedded platform reaches applications on the developer's machine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from conftest import running, wait_until
from telephonist.config import Settings
from telephonist.webhooks.client import FetchError, Webhooks
from telephonist.webhooks.http import forbidden
from voice.support import events, notifications, place
from webhooks.support import Step, scripted_app

AUTH = "0123456789abcdef0123456789abcdef"
SAY = "<Response><Say>served</Say></Response>"


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),  # loopback
        ("127.8.9.10", True),
        ("::1", True),
        ("10.1.2.3", True),  # RFC 1918
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # link-local (cloud metadata)
        ("fe80::1%eth0", True),
        ("100.64.0.1", True),  # CGNAT
        ("100.127.255.254", True),
        ("fd12:3456::1", True),  # unique-local
        ("224.0.0.1", True),  # multicast
        ("ff02::1", True),
        ("0.0.0.0", True),  # unspecified
        ("::", True),
        ("::ffff:10.0.0.1", True),  # IPv4-mapped
        ("8.8.8.8", False),  # public: only classified here, never connected to
        ("172.32.0.1", False),
        ("100.128.0.1", False),
        ("2606:4700::1111", False),
    ],
)
def test_the_addresses_the_guard_refuses(address: str, refused: bool) -> None:
    assert forbidden(address) is refused


def test_the_guard_is_off_by_default_and_trusts_only_the_platforms_origin() -> None:
    assert Settings().webhook_allow_private is True
    hooks = Webhooks(allow_private=False, trusted=["http://10.0.0.5:8080/", "not a URL"])
    assert hooks.http.trusted == {("http", "10.0.0.5", 8080)}  # a malformed public URL trusts nothing


def test_a_local_application_is_refused_by_address_not_by_name() -> None:
    async def test() -> None:
        with scripted_app() as app:
            url = app.script("/voice", Step(body=SAY))
            guarded = Webhooks(allow_private=False)
            seen: list[int | None] = []
            for target in (url, url.replace("127.0.0.1", "localhost")):  # a name that resolves to loopback
                with pytest.raises(FetchError) as err:
                    await guarded.request(target, "POST", [], AUTH, lambda e: seen.append(e.error))
                assert err.value.code == 11205 and "private address" in err.value.message
            assert seen == [11205, 11205]  # each refused once: a refusal is not retried
            with pytest.raises(FetchError) as err:
                await guarded.download(url, 1000)  # media too
            assert err.value.code == 11205
            assert app.hits == []
            open_ = Webhooks()
            assert (await open_.request(url, "POST", [], AUTH)).body == SAY
            await guarded.close()
            await open_.close()

    run(test)


def test_every_redirect_hop_is_checked() -> None:
    async def test() -> None:
        with scripted_app("127.0.0.1") as trusted, scripted_app("127.0.0.2") as private:
            inner = private.script("/secret", Step(body=SAY))
            start = trusted.script("/start", Step(302, "", location=inner))
            # The first origin stands for a public application: trusted, it is let through.
            guarded = Webhooks(allow_private=False, trusted=[trusted.base_url])
            with pytest.raises(FetchError) as err:
                await guarded.request(start, "POST", [], AUTH)
            assert err.value.code == 11205
            assert len(trusted.hits) == 1 and private.hits == []
            await guarded.close()

    run(test)


@pytest.mark.parametrize("allow_private", [True, False])
def test_a_call_to_a_local_application(tmp_path: Path, allow_private: bool) -> None:
    with scripted_app() as app, running(tmp_path, webhook_allow_private=allow_private) as tel:
        url = app.script("/voice", Step(body=SAY))
        sid = place(tel, url)
        assert tel.call_final(sid).status == "completed"
        said = [e["text"] for e in events(tel, sid, "say")]
        if allow_private:
            assert said == ["served"] and len(app.hits) == 1
        else:
            assert app.hits == [] and said == ["We are sorry, an application error has occurred. Goodbye."]
            assert [(n.error_code, n.request_url) for n in notifications(tel, sid)] == [("11205", url)]


def test_the_platforms_own_url_stays_reachable_under_the_guard(tmp_path: Path) -> None:
    with running(tmp_path, webhook_allow_private=False) as tel:
        # Served over HTTP by the platform itself (not twimlets.com, which is answered in process).
        sid = place(tel, tel.base_url + "/twimlets/message?Message=from+the+platform")
        assert tel.call_final(sid).status == "completed"
        assert [e["text"] for e in events(tel, sid, "say")] == ["from the platform"]
        assert notifications(tel, sid) == []


def test_mms_media_on_a_private_address_is_refused(tmp_path: Path) -> None:
    with scripted_app() as app, running(tmp_path, webhook_allow_private=False) as tel:
        media = app.script("/cat.png", Step(body="png", content_type="image/png"))
        client = tel.client()
        msg = client.messages.create(to="+15551230000", from_="+15005550006", body="cat", media_url=[media])
        failed = wait_until(lambda: (m := client.messages(msg.sid).fetch()).status == "failed" and m)
        assert failed.error_code == 11205
        assert app.hits == []
