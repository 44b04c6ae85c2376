"""Test helpers for applications built on Twilio: a Telephonist running in the test process on a free
port with a fresh database, a `twilio` client pointed at it, and virtual phones to drive.

    def test_ivr(telephonist, my_flask_app_url):
        telephonist.number.update(voice_url=my_flask_app_url + "/voice")
        phone = telephonist.phone("+15551230000", gather=["1"])
        call = phone.call(telephonist.number.phone_number)
        call.wait()
        assert "Thank you" in call.said

The pytest plugin (`telephonist.testing.plugin`, registered as an entry point) provides the
`telephonist` fixture; `start()` works without pytest too.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

import telephonist

T = TypeVar("T")
DEFAULT_NUMBER = "+15005550006"
FINAL = {"completed", "busy", "failed", "no-answer", "canceled"}


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll until `predicate()` is truthy and return it; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {getattr(predicate, '__name__', predicate)}"
            )
        time.sleep(interval)


@dataclass
class SimCall:
    """A call as a virtual phone sees it."""

    tel: Telephonist
    sid: str

    @property
    def info(self) -> dict[str, Any]:
        return self.tel.sim("GET", f"/Calls/{self.sid}")

    @property
    def status(self) -> str:
        return str(self.info["status"])

    @property
    def transcript(self) -> list[dict[str, Any]]:
        """What happened on the call, in order: say, play, gather, dial, heard, record, hangup…"""
        return list(self.info["transcript"])

    @property
    def said(self) -> str:
        """Everything the platform said to the phone, one utterance a line."""
        return "\n".join(e["text"] for e in self.transcript if e["event"] == "say")

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.transcript if e["event"] == kind]

    def press(self, digits: str) -> None:
        self.tel.sim("POST", f"/Calls/{self.sid}/Digits", Digits=digits)

    def speak(self, text: str) -> None:
        self.tel.sim("POST", f"/Calls/{self.sid}/Speech", Text=text)

    def answer(self) -> None:
        self.tel.sim("POST", f"/Calls/{self.sid}/Answer")

    def hangup(self) -> None:
        self.tel.sim("POST", f"/Calls/{self.sid}/Hangup")

    def wait(self, timeout: float = 10.0) -> SimCall:
        """Until the call has ended."""
        wait_for(lambda: self.status in FINAL, timeout)
        return self


@dataclass
class VirtualPhone:
    tel: Telephonist
    number: str

    @property
    def info(self) -> dict[str, Any]:
        return self.tel.sim("GET", f"/Phones/{self.number}")

    @property
    def calls(self) -> list[SimCall]:
        """Calls to and from this phone, oldest first."""
        return [SimCall(self.tel, c["sid"]) for c in self.info["calls"]]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The SMS it received, oldest first (`from`, `body`, `sid`)."""
        return list(self.info["messages"])

    def call(self, to: str, gather: list[str] | None = None) -> SimCall:
        """This phone calls a platform number; `gather` feeds that call's Gathers and Records."""
        body = self.tel.sim("POST", f"/Phones/{self.number}/Calls", To=to, GatherInput=gather or [])
        return SimCall(self.tel, body["sid"])

    def text(self, to: str, body: str) -> str:
        """This phone texts a platform number; the inbound message's SID."""
        return str(self.tel.sim("POST", f"/Phones/{self.number}/Messages", To=to, Body=body)["sid"])

    def wait_for_message(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The messages it received, once there are `count` of them."""

        def received() -> list[dict[str, Any]]:
            messages = self.messages
            return messages if len(messages) >= count else []

        return wait_for(received, timeout)


@dataclass
class Telephonist:
    """A running Telephonist: its URL, credentials, a `twilio` client and virtual phones."""

    base_url: str
    account_sid: str
    auth_token: str
    _stop: Callable[[], None] = field(repr=False, default=lambda: None)

    @property
    def client(self) -> Any:
        """A `twilio.rest.Client` pointed at this Telephonist (the REST API and Messaging Services)."""
        return telephonist.client(self.base_url, self.account_sid, self.auth_token)

    @property
    def number(self) -> Any:
        """The default account's number (+15005550006), as an IncomingPhoneNumber of the SDK."""
        return self.client.incoming_phone_numbers.list(phone_number=DEFAULT_NUMBER)[0]

    def phone(
        self,
        number: str,
        gather: list[str] | None = None,
        answer: str | None = None,
        ring_seconds: float | None = None,
    ) -> VirtualPhone:
        """A virtual phone (it exists anyway; this sets how it behaves). `answer`: auto, busy,
        no-answer, fail or manual; `gather`: what it enters at each Gather or Record, in turn
        (`"1234#"` or `"speech:some words"`)."""
        data: dict[str, Any] = {"PhoneNumber": number}
        if gather is not None:
            data["GatherInput"] = gather
        if answer is not None:
            data["Answer"] = answer
        if ring_seconds is not None:
            data["RingSeconds"] = str(ring_seconds)
        self.sim("POST", "/Phones", **data)
        return VirtualPhone(self, number)

    def call(self, sid: str) -> SimCall:
        return SimCall(self, sid)

    def sim(self, method: str, path: str, **data: Any) -> dict[str, Any]:
        with httpx.Client(base_url=self.base_url, auth=(self.account_sid, self.auth_token), timeout=10) as h:
            r = h.request(method, "/sim/v1" + path, data=data or None)
        if r.status_code >= 400:
            raise AssertionError(f"{method} /sim/v1{path}: {r.status_code} {r.text}")
        return dict(r.json())

    def stop(self) -> None:
        self._stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(directory: Path, time_scale: float = 0.01, **settings: Any) -> Telephonist:
    """Telephonist in a background thread of this process, its SQLite database in `directory`."""
    import uvicorn  # noqa: PLC0415

    from telephonist.app import Platform, create_app  # noqa: PLC0415
    from telephonist.config import Settings  # noqa: PLC0415

    port = _free_port()
    config = Settings(
        host="127.0.0.1",
        port=port,
        db=f"sqlite:///{directory}/telephonist.db",
        account_sid=settings.pop("account_sid", "AC" + secrets.token_hex(16)),
        auth_token=settings.pop("auth_token", secrets.token_hex(16)),
        time_scale=time_scale,
        log_level=settings.pop("log_level", "warning"),
        **settings,
    )
    platform = Platform(config)
    platform.prepare()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config, platform), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="telephonist", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return Telephonist(config.base_url, platform.account_sid, platform.auth_token, stop)
