"""REGISTER as phones get it wrong: unknown domains, registration off, wrong passwords, stale nonces, too
short an interval, someone else's address; and unregistering."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.carriers.sip import sipp
from tests.conftest import Telephonist, running

from telephonist.carriers.sip import auth
from telephonist.carriers.sip.message import Response, parse

DOMAIN = "acme.sip.twilio.com"
PASSWORD = "Secret123456x"


@pytest.fixture(autouse=True)
def _close_phones() -> Iterator[None]:
    yield
    while Phone.opened:
        Phone.opened.pop().close()


@pytest.fixture
def tel(tmp_path: Path) -> Iterator[Telephonist]:
    with running(tmp_path, sip_port=sipp.free_udp_port()) as t:
        client = t.client()
        sd = client.sip.domains.create(
            domain_name=DOMAIN, voice_url="http://127.0.0.1:9/x", sip_registration=True
        )
        phones = client.sip.credential_lists.create(friendly_name="phones")
        phones.credentials.create(username="alice", password=PASSWORD)
        phones.credentials.create(username="bob", password=PASSWORD + "b")
        client.sip.domains(sd.sid).auth.registrations.credential_list_mappings.create(
            credential_list_sid=phones.sid
        )
        client.sip.domains.create(domain_name="closed.sip.twilio.com", voice_url="http://127.0.0.1:9/x")
        yield t


class Phone:
    opened: list[socket.socket] = []  # closed after each test

    def __init__(self, tel: Telephonist, user: str = "alice", domain: str = DOMAIN) -> None:
        self.tel, self.user, self.domain, self.cseq = tel, user, domain, 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        Phone.opened.append(self.sock)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(3)

    def register(self, expires: int = 600, authorization: str = "", contact: str | None = None) -> Response:
        self.cseq += 1
        port = self.sock.getsockname()[1]
        lines = [
            f"REGISTER sip:{self.domain} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-reg-{self.cseq};rport",
            f"From: <sip:{self.user}@{self.domain}>;tag=reg",
            f"To: <sip:{self.user}@{self.domain}>",
            "Call-ID: reg-call",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: {contact or f'<sip:{self.user}@127.0.0.1:{port}>'}",
            f"Expires: {expires}",
        ]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        self.sock.sendto(
            ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(),
            ("127.0.0.1", self.tel.platform.sip.port),
        )
        reply = parse(self.sock.recv(65535))
        assert isinstance(reply, Response)
        return reply

    def login(self, password: str = PASSWORD, **kw: Any) -> Response:
        challenge = self.register(**kw)
        assert challenge.status == 401
        answer = auth.answer(
            challenge.headers.get("WWW-Authenticate") or "",
            "REGISTER",
            f"sip:{self.domain}",
            self.user,
            password,
        )
        assert answer is not None
        return self.register(authorization=answer, **kw)


def bound(tel: Telephonist, user: str = "alice") -> int:
    return sum(1 for r in tel.sip_status()["registrations"] if r["aor"] == f"{user}@{DOMAIN}")


def test_a_phone_registers_with_its_password_and_unregisters(tel: Telephonist) -> None:
    phone = Phone(tel)
    ok = phone.login()
    assert ok.status == 200 and ";expires=600" in (ok.headers.get("Contact") or "")
    assert bound(tel) == 1
    assert phone.login(expires=0).status == 200
    assert bound(tel) == 0


def test_contact_star_removes_every_binding(tel: Telephonist) -> None:
    phone = Phone(tel)
    assert phone.login().status == 200
    assert phone.login(expires=0, contact="*").status == 200
    assert bound(tel) == 0


def test_a_wrong_password_is_challenged_again(tel: Telephonist) -> None:
    assert Phone(tel).login(password="not-it").status == 401
    assert bound(tel) == 0


def test_an_old_nonce_is_stale(tel: Telephonist) -> None:
    phone = Phone(tel)
    old = auth.challenge(DOMAIN, auth.new_nonce(tel.platform.sip.secret, 0.0))
    answer = auth.answer(old, "REGISTER", f"sip:{DOMAIN}", "alice", PASSWORD)
    assert answer is not None
    again = phone.register(authorization=answer)
    assert again.status == 401 and "stale=true" in (again.headers.get("WWW-Authenticate") or "")
    forged = answer.replace(auth.credentials_nonce(answer), "1.0.forged")
    assert "stale" not in (phone.register(authorization=forged).headers.get("WWW-Authenticate") or "")


@pytest.mark.parametrize(
    ("user", "domain", "kw", "status"),
    [
        ("alice", "nowhere.sip.twilio.com", {}, 404),
        ("alice", "closed.sip.twilio.com", {}, 403),  # registration is off there
    ],
)
def test_registrations_that_cannot_be(
    tel: Telephonist, user: str, domain: str, kw: dict[str, Any], status: int
) -> None:
    assert Phone(tel, user, domain).register(**kw).status == status


def test_too_short_an_interval_is_refused_with_the_minimum(tel: Telephonist) -> None:
    reply = Phone(tel).login(expires=30)
    assert reply.status == 423 and reply.headers.get("Min-Expires") == "60"
    assert bound(tel) == 0


def test_nobody_registers_someone_elses_address(tel: Telephonist) -> None:
    phone = Phone(tel, user="alice")
    challenge = phone.register()
    bob = auth.answer(
        challenge.headers.get("WWW-Authenticate") or "", "REGISTER", f"sip:{DOMAIN}", "bob", PASSWORD + "b"
    )
    assert bob is not None
    assert phone.register(authorization=bob).status == 403
    assert bound(tel, "alice") == 0
