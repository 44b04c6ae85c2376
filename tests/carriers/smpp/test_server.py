"""Telephonist's SMPP server face: Kannel (an ESME we did not write) binds with configured credentials and
submits messages, which travel like API messages (statuses, callbacks, the simulated network) and whose
receipts come back to Kannel as deliver_sm. Bad binds and malformed PDUs get SMPP statuses and disturb
nothing else."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Telephonist, free_port, running, wait_until
from telephonist.carriers.smpp.pdu import (
    ESME_RINVCMDID,
    ESME_RINVPASWD,
    ESME_ROK,
    Bind,
    BindResp,
    GenericNack,
    parse_pdu,
)

from .kannel import (
    DLR_DELIVERED,
    DLR_SMSC_ACK,
    DLR_SMSC_NACK,
    DLR_UNDELIVERED,
    KannelEsme,
    kannel_available,
)

NUMBER = "+15005550006"
SYSTEM_ID, PASSWORD = "acme", "s3cret"


@pytest.fixture
def tel(tmp_path: Path) -> Iterator[Telephonist]:
    port = free_port()
    users = [
        {"system_id": SYSTEM_ID, "password": PASSWORD, "account_sid": "AC0123456789abcdef0123456789abcdef"}
    ]
    with running(tmp_path, smpp_port=port, smpp_users=users, sender_mps={NUMBER: 1000}) as t:
        yield t


def smpp_port(tel: Telephonist) -> int:
    server = tel.platform.smpp_face.server
    assert server is not None
    return server.port


def exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes as an ESME would and return what comes back before the server goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.settimeout(1.0)
        received = b""
        try:
            while chunk := s.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def test_a_wrong_password_is_refused(tel: Telephonist) -> None:
    bind = Bind(kind="transceiver", system_id=SYSTEM_ID, password="nope", sequence_number=1)
    resp = parse_pdu(exchange(smpp_port(tel), bytes(bind)))
    assert isinstance(resp, BindResp) and resp.command_status == ESME_RINVPASWD
    unknown = Bind(kind="transceiver", system_id="stranger", password=PASSWORD, sequence_number=1)
    assert parse_pdu(exchange(smpp_port(tel), bytes(unknown))).command_status == ESME_RINVPASWD


def test_malformed_pdus_get_smpp_statuses_and_the_server_keeps_serving(tel: Telephonist) -> None:
    port = smpp_port(tel)
    unknown_command = struct.pack(">IIII", 16, 0x00000099, 0, 7)
    nack = parse_pdu(exchange(port, unknown_command))
    assert isinstance(nack, GenericNack) and (nack.command_status, nack.sequence_number) == (
        ESME_RINVCMDID,
        7,
    )
    too_short = struct.pack(">IIII", 8, 0x00000004, 0, 9)
    assert parse_pdu(exchange(port, too_short)).command_status == 0x02  # ESME_RINVCMDLEN
    before_bind = bytes.fromhex("0000002100000004000000000000000300000131353535000000313535350000000000")
    answer = exchange(port, before_bind + b"\0" * 12)
    assert answer and parse_pdu(answer[: int.from_bytes(answer[:4], "big")]).command_status != ESME_ROK
    good = Bind(kind="transceiver", system_id=SYSTEM_ID, password=PASSWORD, sequence_number=2)
    assert parse_pdu(exchange(port, bytes(good))).command_status == ESME_ROK
    assert tel.client().messages.list() == []


@pytest.mark.slow
@pytest.mark.skipif(not kannel_available(), reason="Kannel (Debian package kannel) is not installed")
def test_kannel_submits_through_telephonist_and_gets_receipts(tel: Telephonist, tmp_path: Path) -> None:
    with KannelEsme("127.0.0.1", smpp_port(tel), SYSTEM_ID, PASSWORD, workdir=tmp_path / "kannel") as kannel:
        kannel.wait_bound()
        tags = {
            "short": kannel.send(NUMBER, "+15551234001", "hello from Kannel"),
            "long": kannel.send(NUMBER, "+15551234002", "K" * 300),
            "emoji": kannel.send(NUMBER, "+15551234003", "Grüße 👋 " * 12, coding=2),
        }
        client = tel.client()
        sent = wait_until(lambda: len(m := client.messages.list()) >= 3 and m, timeout=20)
        by_to = {m.to: m for m in sent}
        assert by_to["+15551234001"].body == "hello from Kannel"
        assert by_to["+15551234002"].body == "K" * 300 and by_to["+15551234002"].num_segments == "2"
        assert by_to["+15551234003"].body == "Grüße 👋 " * 12
        assert all(m.direction == "outbound-api" and m.from_ == NUMBER for m in sent)
        for message in sent:
            wait_until(lambda m=message: client.messages(m.sid).fetch().status == "delivered", timeout=20)
        receipts = kannel.wait_receipts(
            lambda rs: all(
                any(r["tag"] == t and r["type"] == DLR_DELIVERED for r in rs) for t in tags.values()
            ),
            timeout=20,
        )
        assert all(any(r["tag"] == t and r["type"] == DLR_SMSC_ACK for r in receipts) for t in tags.values())
        # An unreachable phone: the message is undelivered, and Kannel hears so.
        tel.sim("POST", "/Phones", PhoneNumber="+15551234009", Answer="fail")
        tag = kannel.send(NUMBER, "+15551234009", "nobody home")
        kannel.wait_receipts(lambda rs: any(r["tag"] == tag and r["type"] == DLR_UNDELIVERED for r in rs))
        # A source that is no number of the account is refused (ESME_RINVSRCADR), and nothing is sent.
        spoofed = kannel.send("+15557770000", "+15551234010", "spoofed")
        kannel.wait_receipts(lambda rs: any(r["tag"] == spoofed and r["type"] == DLR_SMSC_NACK for r in rs))
        assert not [m for m in client.messages.list() if m.to == "+15551234010"]
