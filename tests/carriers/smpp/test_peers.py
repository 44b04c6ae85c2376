"""The two SMPP peers the carrier tests use, proven against each other over loopback TCP.

smsc_app.py (an SMSC on the smpp34 library) and Kannel's bearerbox/smsbox (an ESME) were written by
neither this project nor each other; if they agree on GSM-7, UCS-2, concatenation, receipts, MOs and a
crash of the SMSC, they are fit to judge Telephonist's own SMPP client and server.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:  # a package when tests/carriers/smpp has an __init__.py, plain modules otherwise
    from .kannel import DLR_DELIVERED, DLR_SMSC_ACK, DLR_UNDELIVERED, KannelEsme, kannel_available
    from .smsc import SmscProcess, message_texts, poll, smpp34_available
except ImportError:
    from kannel import DLR_DELIVERED, DLR_SMSC_ACK, DLR_UNDELIVERED, KannelEsme, kannel_available
    from smsc import SmscProcess, message_texts, poll, smpp34_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not smpp34_available(), reason="smpp34 is not installed (pip install -e '.[test]')"),
]
needs_kannel = pytest.mark.skipif(
    not kannel_available(), reason="Kannel's bearerbox/smsbox are not installed (Debian package kannel)"
)

SYSTEM_ID, PASSWORD = "telephonist", "s3cret"
ME = "15550001111"


def new_smsc(root: Path, **kw: Any) -> SmscProcess:
    return SmscProcess(root / "smsc", system_id=SYSTEM_ID, password=PASSWORD, dlr_delay=0.2, **kw).start()


def new_kannel(root: Path, smsc: SmscProcess, **kw: Any) -> KannelEsme:
    return KannelEsme(smsc.host, smsc.port, SYSTEM_ID, PASSWORD, workdir=root / "kannel", **kw).start()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SmscProcess, KannelEsme]]:
    if not kannel_available():
        pytest.skip("Kannel's bearerbox/smsbox are not installed (Debian package kannel)")
    root = tmp_path_factory.mktemp("peers")
    smsc = new_smsc(root)
    try:
        kannel = new_kannel(root, smsc)
        try:
            yield smsc, kannel
        finally:
            kannel.stop()
    finally:
        smsc.stop()


def submits_to(smsc: SmscProcess, destination: str, n: int) -> list[dict[str, Any]]:
    """Wait for n submit_sm to `destination` and return them (the SMSC log is shared by the module)."""
    deadline = time.monotonic() + 15
    while True:
        got = [r for r in smsc.submits() if r["destination"] == destination]
        if len(got) >= n or time.monotonic() > deadline:
            assert len(got) == n, got
            return got
        time.sleep(0.05)


def gsm7(text: str) -> bytes:
    """Unpacked GSM 03.38 septets, written out by hand for the characters the tests use."""
    table = {"@": b"\x00", "£": b"\x01", "$": b"\x02", "{": b"\x1b\x28", "}": b"\x1b\x29", "€": b"\x1b\x65"}
    return b"".join(table.get(c) or c.encode("ascii") for c in text)


@needs_kannel
def test_gsm7_and_ucs2_messages_from_kannel_reach_the_smsc_log(pair: tuple[SmscProcess, KannelEsme]) -> None:
    smsc, kannel = pair
    gsm_text, ucs_text = "Hello @£$ {€}", "Emoji 😀 ünï"
    kannel.send(ME, "15551000100", gsm_text, coding=0, dlr=False)
    kannel.send(ME, "15551000200", ucs_text, coding=2, dlr=False)

    [gsm] = submits_to(smsc, "15551000100", 1)
    assert gsm["data_coding"] == 0
    assert bytes.fromhex(gsm["short_message"]) == gsm7(gsm_text)  # unpacked septets, escapes for { € }
    assert gsm["text"] == gsm_text and gsm["udh"] is None and gsm["esm_class"] & 0x40 == 0
    assert gsm["source"] == ME and gsm["system_id"] == SYSTEM_ID

    [ucs] = submits_to(smsc, "15551000200", 1)
    assert ucs["data_coding"] == 8
    assert bytes.fromhex(ucs["short_message"]) == ucs_text.encode("utf-16-be")  # 😀 as a surrogate pair
    assert ucs["text"] == ucs_text
    assert gsm["message_id"] != ucs["message_id"]


@needs_kannel
def test_a_three_part_message_arrives_as_three_concatenated_submit_sm(
    pair: tuple[SmscProcess, KannelEsme],
) -> None:
    smsc, kannel = pair
    text = "".join(f"part of a long message {i:03d}. " for i in range(14))  # 406 characters
    assert 306 < len(text) <= 459
    kannel.send(ME, "15551000300", text, coding=0, dlr=False)

    parts = sorted(submits_to(smsc, "15551000300", 3), key=lambda p: p["udh"]["concat"]["seq"])
    # (Kannel may submit the parts out of order: 1, 3, 2 is common)
    concat = [p["udh"]["concat"] for p in parts]
    assert [c["seq"] for c in concat] == [1, 2, 3]
    assert {c["total"] for c in concat} == {3} and len({c["ref"] for c in concat}) == 1
    assert all(p["esm_class"] & 0x40 and p["data_coding"] == 0 for p in parts)
    assert [len(p["text"]) for p in parts] == [153, 153, len(text) - 306]
    assert message_texts(parts) == [text]
    assert len({p["message_id"] for p in parts}) == 3


@needs_kannel
def test_receipts_come_back_to_kannels_dlr_url(pair: tuple[SmscProcess, KannelEsme]) -> None:
    smsc, kannel = pair
    ok = kannel.send(ME, "15551000400", "deliver me", coding=0)
    bad = kannel.send(ME, "15551000001", "I will not arrive", coding=0)  # ...0001: UNDELIV err:001
    [ok_sm] = submits_to(smsc, "15551000400", 1)
    [bad_sm] = submits_to(smsc, "15551000001", 1)
    assert ok_sm["registered_delivery"] & 0x03 == 1

    def final(tag: str, rs: list[dict[str, Any]]) -> dict[str, Any] | None:
        finals = DLR_DELIVERED | DLR_UNDELIVERED
        return next((r for r in rs if r["tag"] == tag and r["type"] & finals), None)

    rs = kannel.wait_receipts(lambda rs: bool(final(ok, rs) and final(bad, rs)))
    delivered, failed = final(ok, rs), final(bad, rs)
    assert delivered is not None and failed is not None
    assert delivered["type"] == DLR_DELIVERED
    assert f"id:{ok_sm['receipt_id']} " in delivered["answer"] and "stat:DELIVRD" in delivered["answer"]
    assert delivered["foreign_id"] == ok_sm["message_id"]
    assert failed["type"] == DLR_UNDELIVERED
    assert "stat:UNDELIV err:001" in failed["answer"] and failed["foreign_id"] == bad_sm["message_id"]
    assert any(r["tag"] == ok and r["type"] == DLR_SMSC_ACK for r in rs)  # the submit_sm_resp, as DLR 8


@needs_kannel
def test_mos_from_the_smsc_reach_kannels_get_url_reassembled(pair: tuple[SmscProcess, KannelEsme]) -> None:
    smsc, kannel = pair
    before = len(kannel.received())
    single = smsc.send_mo("15557000001", ME, "Hi {there} €5")
    two_ucs = smsc.send_mo("15557000002", ME, "Zwei Teile 😀 über UCS-2", coding="ucs2", parts=2)
    two_gsm = smsc.send_mo("15557000003", ME, "Two GSM-7 parts @ £1", coding="gsm7", parts=2)
    assert (single["parts"], two_ucs["parts"], two_gsm["parts"]) == (1, 2, 2)
    assert single["statuses"] + two_ucs["statuses"] + two_gsm["statuses"] == [0] * 5

    got = {m["from"]: m for m in kannel.wait_received(before + 3)[before:]}
    # Kannel writes TON-international numbers (smsc_app's MOs use TON 1) with a leading +
    assert got["+15557000001"]["text"] == "Hi {there} €5"
    assert got["+15557000002"]["text"] == "Zwei Teile 😀 über UCS-2"
    assert got["+15557000002"]["coding"] == 2
    assert got["+15557000003"]["text"] == "Two GSM-7 parts @ £1"
    assert all(m["udh"] == b"" for m in got.values())  # bearerbox reassembled the parts
    assert {m["to"] for m in got.values()} == {"+" + ME}


@needs_kannel
def test_kannel_rebinds_after_the_smsc_is_killed_and_restarted(tmp_path: Path) -> None:
    smsc = new_smsc(tmp_path)
    kannel: KannelEsme | None = None
    try:
        kannel = new_kannel(tmp_path, smsc)
        first = [kannel.send(ME, f"1555200{i:04d}", f"before {i}") for i in range(5)]
        kannel.wait_receipts(lambda rs: {r["tag"] for r in rs if r["type"] == DLR_SMSC_ACK} >= set(first))
        pid = smsc.pid

        smsc.kill()
        kannel.wait_unbound(10)
        for i in range(5, 10):  # queued in bearerbox while the link is down
            kannel.send(ME, f"1555200{i:04d}", f"after {i}")
        smsc.start()
        assert smsc.pid != pid
        kannel.wait_bound(20)

        records = smsc.wait_for_submits(10, timeout=20)
        time.sleep(0.5)  # nothing more may come
        records = smsc.submits()
        texts = [r["text"] for r in records]
        expected = [f"before {i}" for i in range(5)] + [f"after {i}" for i in range(5, 10)]
        assert sorted(texts) == sorted(expected)  # each exactly once
        ids = [r["message_id"] for r in records]
        assert len(set(ids)) == 10, ids  # ids continue across the restart
        assert {r["pid"] for r in records} == {pid, smsc.pid}
        assert smsc.wait_bound(5)[0]["system_id"] == SYSTEM_ID
    finally:
        if kannel is not None:
            kannel.stop()
        smsc.stop()


@needs_kannel
def test_kannel_bound_as_transmitter_and_receiver(tmp_path: Path) -> None:
    smsc = new_smsc(tmp_path)
    kannel: KannelEsme | None = None
    try:
        kannel = new_kannel(tmp_path, smsc, transceiver=False)
        sessions = poll(lambda: len(s := smsc.sessions()) == 2 and s, 5, "two sessions")
        assert sorted(s["can_receive"] for s in sessions) == [False, True]
        tag = kannel.send(ME, "15554000000", "over the transmitter")
        [sm] = submits_to(smsc, "15554000000", 1)
        rs = kannel.wait_receipts(lambda rs: any(r["tag"] == tag and r["type"] == DLR_DELIVERED for r in rs))
        assert any(r["foreign_id"] == sm["message_id"] for r in rs)  # the receipt came over the receiver
        smsc.send_mo("15557000009", ME, "over the receiver", parts=2)
        [mo] = kannel.wait_received(1)
        assert mo["text"] == "over the receiver"
    finally:
        if kannel is not None:
            kannel.stop()
        assert smsc.stop() == 0


# --- the SMSC alone, through raw sockets and smpp34's own client -----------------------------------------


def raw_bind(port: int, password: str, command_id: int = 0x00000009) -> int:
    body = SYSTEM_ID.encode() + b"\0" + password.encode() + b"\0" + b"\0" + bytes([0x34, 0, 0]) + b"\0"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(struct.pack(">IIII", 16 + len(body), command_id, 0, 1) + body)
        head = s.recv(16)
        _length, resp_id, status, sequence = struct.unpack(">IIII", head)
        assert (resp_id, sequence) == (command_id | 0x80000000, 1)
        return int(status)


def test_smsc_refuses_a_wrong_password(tmp_path: Path) -> None:
    with new_smsc(tmp_path) as smsc:
        assert raw_bind(smsc.port, "wrong") == 0x0000000E  # ESME_RINVPASWD
        for command_id in (0x00000001, 0x00000002, 0x00000009):  # receiver, transmitter, transceiver
            assert raw_bind(smsc.port, "wrong", command_id) == 0x0000000E
            assert raw_bind(smsc.port, PASSWORD, command_id) == 0
        assert smsc.submits() == []
        assert smsc.stop() == 0  # SIGTERM: a clean exit


def test_smsc_throttles_and_sends_one_receipt_per_part(tmp_path: Path) -> None:
    import smpp34

    async def esme(port: int) -> tuple[list[int], list[Any]]:
        client = smpp34.Client("127.0.0.1", port, SYSTEM_ID, PASSWORD, bind_type="TRX")
        session = await client.connect()
        statuses = []
        for seq in (1, 2):  # a two-part message, both parts asking for a receipt
            udh = bytes([5, 0, 3, 0x42, 2, seq])
            r = await session.submit_sm(
                "15553000000", udh + b"part", source_addr=ME, esm_class=0x40, registered_delivery=1
            )
            statuses.append(r.command_status)
        for _ in range(4):  # the SMSC allows 3 per second: the 4th of this burst is throttled
            r = await session.submit_sm("15553000001", b"burst", source_addr=ME)
            statuses.append(r.command_status)
        try:
            receipts = [await asyncio.wait_for(session.next(), 5) for _ in range(2)]
        finally:
            await session.unbind()
            await client.stop()
        return statuses, receipts

    with new_smsc(tmp_path, throttle=3) as smsc:
        statuses, receipts = asyncio.run(esme(smsc.port))
        records = smsc.submits()

    assert statuses[:2] == [0, 0] and statuses[2:].count(0x58) >= 1
    assert len(records) == statuses.count(0)  # throttled ones are not logged
    part_ids = [r["message_id"] for r in records[:2]]
    assert [r["udh"]["concat"]["seq"] for r in records[:2]] == [1, 2]
    got = sorted(rc.short_message.decode().split()[0] for rc in receipts)
    assert got == sorted(f"id:{i}" for i in part_ids)
    assert all(rc.esm_class == 0x04 for rc in receipts)
    tlv_ids = sorted(next(t.value for t in rc.tlvs if t.tag == 0x001E) for rc in receipts)
    assert tlv_ids == sorted(i.encode() + b"\0" for i in part_ids)
