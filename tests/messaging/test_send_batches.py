"""Sends run in batches: a message the network cannot take fails alone, the rest of its batch goes out."""

from __future__ import annotations

import pytest

from conftest import Telephonist, wait_until
from messaging._support import PLATFORM_NUMBER

BROKEN = "+15551239901"


def test_a_message_that_cannot_be_handed_over_fails_alone_with_30008(
    tel: Telephonist, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = tel.platform.sim
    real_phone = sim.phone

    def phone(conn: object, number: str) -> object:
        if number == BROKEN:
            raise RuntimeError("simulated fault in the network")
        return real_phone(conn, number)  # type: ignore[arg-type]

    monkeypatch.setattr(sim, "phone", phone)
    client = tel.client()
    sids = [
        client.messages.create(to=to, from_=PLATFORM_NUMBER, body=f"batch {i}").sid
        for i, to in enumerate(["+15551239900", BROKEN, "+15551239902"])
    ]
    final = wait_until(
        lambda: (
            (ms := [client.messages(sid).fetch() for sid in sids])
            and all(m.status in ("delivered", "failed") for m in ms)
            and ms
        )
    )
    assert [(m.status, m.error_code) for m in final] == [
        ("delivered", None),
        ("failed", 30008),
        ("delivered", None),
    ]
    assert final[1].error_message == "Unknown error"
    # The server keeps sending.
    later = client.messages.create(to="+15551239903", from_=PLATFORM_NUMBER, body="after")
    wait_until(lambda: client.messages(later.sid).fetch().status == "delivered")
