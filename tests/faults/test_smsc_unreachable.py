"""An SMPP carrier whose SMSC cannot be reached, end to end (smpp34's SMSC in a subprocess, as in
tests/carriers/smpp, whose test_a_carrier_that_is_down_keeps_messages_queued covers an SMSC never started):
an SMSC that dies after binding and stays down, one that takes the connection and never answers the bind,
and messages caught in the carrier's outbox when the link drops. Within their ValidityPeriod messages wait
(`queued`) and go once the SMSC is back; past it they end `failed` with 30001 and one status callback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carriers.smpp.smsc import SmscProcess, message_texts, smpp34_available
from conftest import Telephonist, WebApp, running, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not smpp34_available(), reason="smpp34 (the independent SMSC) is not installed"),
]
NUMBER = "+15005550006"
FINAL = {"delivered", "undelivered", "failed"}
SCALE = 0.1  # a ValidityPeriod of 10 s lasts 1 s here


def carrier(host: str, port: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": "smsc1",
            "host": host,
            "port": port,
            "system_id": "telephonist",
            "password": "secret",
            "prefixes": ["+44"],
            "enquire_link_interval": 5,
            **extra,
        }
    ]


def send(tel: Telephonist, webapp: WebApp, to: str, body: str, **extra: Any) -> str:
    message = tel.client().messages.create(
        to=to, from_=NUMBER, body=body, status_callback=webapp.url(f"/status/{to}"), **extra
    )
    return str(message.sid)


def settled(tel: Telephonist, sid: str) -> Any:
    client = tel.client()
    return wait_until(lambda: (m := client.messages(sid).fetch()).status in FINAL and m, timeout=20)


def callbacks(webapp: WebApp, to: str) -> list[tuple[str | None, str | None]]:
    """(MessageStatus, ErrorCode) of each status callback of the message to `to`."""
    return [(h.param("MessageStatus"), h.param("ErrorCode")) for h in webapp.hits_for(f"/status/{to}")]


def assert_expired(tel: Telephonist, webapp: WebApp, sid: str, to: str) -> None:
    """Failed with 30001 (Queue overflow), told once, never sent."""
    failed = settled(tel, sid)
    assert (failed.status, failed.error_code, failed.error_message) == ("failed", 30001, "Queue overflow")
    wait_until(lambda: callbacks(webapp, to))
    assert callbacks(webapp, to) == [("failed", "30001")]


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[SmscProcess]:
    process = SmscProcess(tmp_path / "smsc", dlr_delay=0.05)
    yield process
    if process.running:
        process.stop()


def test_an_smsc_down_after_binding_keeps_messages_queued_until_it_is_back(
    tmp_path: Path, smsc: SmscProcess, webapp: WebApp
) -> None:
    smsc.start()
    with running(
        tmp_path, time_scale=SCALE, sender_mps={NUMBER: 10000}, smpp_carriers=carrier(smsc.host, smsc.port)
    ) as tel:
        smsc.wait_bound()
        smsc.kill()
        wait_until(lambda: tel.carriers()[0]["state"] != "bound", timeout=10)
        waiting = send(tel, webapp, "+447700901001", "wait for me")
        doomed = send(tel, webapp, "+447700901002", "short-lived", validity_period=5)
        assert_expired(tel, webapp, doomed, "+447700901002")
        assert tel.client().messages(waiting).fetch().status == "queued"
        assert callbacks(webapp, "+447700901001") == []
        smsc.start()
        assert settled(tel, waiting).status == "delivered"
        wait_until(lambda: len(callbacks(webapp, "+447700901001")) == 2)
        assert callbacks(webapp, "+447700901001") == [("sent", None), ("delivered", None)]
        assert message_texts(smsc.submits()) == ["wait for me"]


class Silent:
    """A TCP server that takes connections and never says a word (an SMSC behind a broken proxy)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_an_smsc_that_never_answers_the_bind_keeps_messages_queued(tmp_path: Path, webapp: WebApp) -> None:
    silent = Silent()
    try:
        config = carrier("127.0.0.1", silent.port, response_timeout=0.5)
        with running(tmp_path, time_scale=SCALE, sender_mps={NUMBER: 10000}, smpp_carriers=config) as tel:
            waiting = send(tel, webapp, "+447700901011", "wait for me")
            doomed = send(tel, webapp, "+447700901012", "short-lived", validity_period=5)
            assert_expired(tel, webapp, doomed, "+447700901012")
            wait_until(lambda: "LinkTimeout" in tel.carriers()[0]["last_error"], timeout=10)
            assert tel.carriers()[0]["state"] != "bound"
            assert tel.client().messages(waiting).fetch().status == "queued"
            assert silent.accepted  # it was reached, and it said nothing
    finally:
        silent.close()


def test_messages_in_the_outbox_when_the_link_drops_expire_while_it_is_down(
    tmp_path: Path, smsc: SmscProcess, webapp: WebApp
) -> None:
    """Handed to the carrier (`sending`) but not yet submitted when the SMSC dies: each waits for the SMSC
    no longer than its ValidityPeriod."""
    smsc.start()
    slow = carrier(smsc.host, smsc.port, throughput=2)  # the outbox fills: two submits a second
    with running(tmp_path, time_scale=SCALE, sender_mps={NUMBER: 10000}, smpp_carriers=slow) as tel:
        smsc.wait_bound()
        tos = [f"+4477009010{20 + i}" for i in range(8)]
        sids = {to: send(tel, webapp, to, f"outbox {to}", validity_period=20) for to in tos}  # 2 s here
        smsc.wait_for_submits(1)
        smsc.kill()
        submitted = {f"+{r['destination']}" for r in smsc.submits()}
        assert len(submitted) < len(tos)
        for to in set(tos) - submitted:
            assert_expired(tel, webapp, sids[to], to)  # while it is down, not once it is back
        smsc.start()
        smsc.wait_bound()
        assert settled(tel, send(tel, webapp, "+447700901099", "after")).status == "delivered"
        assert {f"+{r['destination']}" for r in smsc.submits()} == submitted | {"+447700901099"}
