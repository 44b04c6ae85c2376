"""Telephonist as an ESME bound to an SMSC it did not write (smpp34's, in a subprocess): messages routed by
prefix go out as submit_sm, receipts come back as statuses and callbacks, inbound deliver_sm reaches the
app, and throttling, a killed SMSC or a down carrier lose nothing and send nothing twice."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Telephonist, WebApp, database_url, running, wait_until

from .smsc import SmscProcess, message_texts, smpp34_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not smpp34_available(), reason="smpp34 (the independent SMSC) is not installed"),
]
NUMBER = "+15005550006"
FINAL = {"delivered", "undelivered", "failed"}


def carrier(smsc: SmscProcess, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": "smsc1",
            "host": smsc.host,
            "port": smsc.port,
            "system_id": smsc.system_id,
            "password": smsc.password,
            "prefixes": ["+44"],
            "enquire_link_interval": 5,
            **extra,
        }
    ]


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[SmscProcess]:
    process = SmscProcess(tmp_path / "smsc", dlr_delay=0.05).start()
    yield process
    process.stop()


@pytest.fixture
def tel(tmp_path: Path, smsc: SmscProcess) -> Iterator[Telephonist]:
    with running(tmp_path, sender_mps={NUMBER: 10000}, smpp_carriers=carrier(smsc)) as t:
        smsc.wait_bound()
        yield t


def send(tel: Telephonist, to: str, body: str, **extra: Any) -> str:
    return str(tel.client().messages.create(to=to, from_=NUMBER, body=body, **extra).sid)


def settled(tel: Telephonist, sid: str, finals: set[str] = FINAL) -> Any:
    client = tel.client()
    return wait_until(lambda: (m := client.messages(sid).fetch()).status in finals and m, timeout=20)


def outbox(tel: Telephonist) -> list[dict[str, Any]]:
    with tel.http as h:
        r = h.get(f"/2010-04-01/Accounts/{tel.account_sid}/Messages.json", params={"PageSize": 1000})
    return list(r.json()["messages"])


BODIES = {
    "gsm 1 part": "Your code is 1234",
    "gsm 2 parts": "G" * 200,
    "gsm 7 parts": " ".join(f"word{i}" for i in range(180))[:1000],
    "ucs2 1 part": "Grüße 👋 from Telephonist",
    "ucs2 2 parts": "😀" * 40,
    "ucs2 7 parts": ("Ωμέγα 🚀 " * 60)[:400],
}


def test_messages_of_1_2_and_7_parts_in_gsm7_and_ucs2(
    tel: Telephonist, smsc: SmscProcess, webapp: WebApp
) -> None:
    sids = {
        name: send(tel, f"+4477009001{i:02d}", body, status_callback=webapp.url(f"/status/{i}"))
        for i, (name, body) in enumerate(BODIES.items())
    }
    client = tel.client()
    segments = {name: int(client.messages(sid).fetch().num_segments) for name, sid in sids.items()}
    assert [segments[n] for n in BODIES] == [1, 2, 7, 1, 2, 7]
    records = smsc.wait_for_submits(sum(segments.values()))
    assert len(records) == 20
    assert sorted(message_texts(records)) == sorted(BODIES.values())
    codings = {r["destination"]: r["data_coding"] for r in records}
    for i, name in enumerate(BODIES):
        assert codings[f"4477009001{i:02d}"] == (8 if name.startswith("ucs2") else 0)
        assert settled(tel, sids[name]).status == "delivered"
        hits = webapp.wait_hits(f"/status/{i}", 2)
        assert [h.param("MessageStatus") for h in hits] == ["sent", "delivered"]
    assert {r["source"] for r in records} == {NUMBER[1:]}


def test_receipts_for_every_final_state(tel: Telephonist, smsc: SmscProcess, webapp: WebApp) -> None:
    expected = {
        "0000": ("delivered", None),
        "0001": ("undelivered", 30005),  # UNDELIV err:001, unknown subscriber
        "0002": ("failed", 30007),  # REJECTD
        "0003": ("undelivered", 30003),  # EXPIRED
        "0004": ("undelivered", 30008),  # DELETED
        "0005": ("undelivered", 30008),  # UNKNOWN
    }
    sids = {
        suffix: send(tel, f"+44770090{suffix}", f"state {suffix}", status_callback=webapp.url(f"/s{suffix}"))
        for suffix in expected
    }
    for suffix, (status, code) in expected.items():
        message = settled(tel, sids[suffix])
        assert (message.status, message.error_code) == (status, code), suffix
        last = webapp.wait_hits(f"/s{suffix}", 2)[-1]
        assert last.param("MessageStatus") == status
        assert last.param("ErrorCode") == (str(code) if code else None)


def test_inbound_plain_and_concatenated(tel: Telephonist, smsc: SmscProcess, webapp: WebApp) -> None:
    client = tel.client()
    client.incoming_phone_numbers(client.incoming_phone_numbers.list()[0].sid).update(
        sms_url=webapp.url("/sms")
    )
    long_text = "Unicode ✓ " * 30
    results = [
        smsc.send_mo("447700900555", NUMBER[1:], "hello from a handset"),
        smsc.send_mo("447700900556", NUMBER[1:], long_text, coding="ucs2"),
        smsc.send_mo("447700900557", NUMBER[1:], "G" * 400, ref16=True),
    ]
    assert [r["parts"] for r in results] == [1, 5, 3]
    assert all(status == 0 for r in results for status in r["statuses"])
    hits = webapp.wait_hits("/sms", 3)
    got = {h.param("From"): h.param("Body") for h in hits}
    assert got == {
        "+447700900555": "hello from a handset",
        "+447700900556": long_text,
        "+447700900557": "G" * 400,
    }
    assert all(h.param("To") == NUMBER for h in hits)


def test_inbound_to_an_unknown_number_and_bad_coding_are_refused(tel: Telephonist, smsc: SmscProcess) -> None:
    refused = smsc.send_mo("447700900558", "15559990000", "nobody has this number")
    assert refused["statuses"] == [0x0B]  # ESME_RINVDSTADR
    garbled = smsc.deliver_raw("447700900558", NUMBER[1:], b"\x01\x02", data_coding=0x05)
    assert garbled["statuses"] != [0]
    # A receipt for an id nobody sent: answered, logged, nothing else touched.
    receipt = (
        b"id:999999999 sub:001 dlvrd:001 submit date:2611231200 "
        b"done date:2611231200 stat:DELIVRD err:000 text:"
    )
    assert smsc.deliver_raw("447700900558", NUMBER[1:], receipt, esm_class=0x04)["statuses"] == [0]
    assert send(tel, "+447700900559", "still working") and smsc.wait_for_submits(1)
    assert tel.client().messages.list(to=NUMBER) == []


def test_a_throttling_smsc_slows_the_sender_and_loses_nothing(tmp_path: Path) -> None:
    with SmscProcess(tmp_path / "smsc", throttle=20, dlr_delay=0.05) as smsc:
        with running(tmp_path, sender_mps={NUMBER: 10000}, smpp_carriers=carrier(smsc)) as tel:
            smsc.wait_bound()
            sids = [send(tel, "+447700900600", f"burst {i}") for i in range(60)]
            records = smsc.wait_for_submits(60, timeout=30)
            assert sorted(message_texts(records)) == sorted(f"burst {i}" for i in range(60))
            assert smsc.status()["throttled"] > 0
            for sid in sids:
                assert settled(tel, sid).status == "delivered"
            [state] = tel.carriers()
            assert state["throttled"] > 0 and state["accepted"] == 60


def test_an_smsc_killed_mid_burst_loses_nothing_and_resends_only_the_unanswered(tmp_path: Path) -> None:
    with SmscProcess(tmp_path / "smsc", throttle=200, dlr_delay=0.05) as smsc:
        with running(tmp_path, sender_mps={NUMBER: 10000}, smpp_carriers=carrier(smsc)) as tel:
            smsc.wait_bound()
            bodies = [f"burst {i}: " + "x" * (200 if i % 5 == 0 else 10) for i in range(300)]
            sids = [send(tel, "+447700900700", body) for body in bodies]
            wait_until(lambda: len(smsc.submits()) >= 60, timeout=20, interval=0.005)
            smsc.kill()
            smsc.start()
            wait_until(lambda: {r["status"] for r in outbox(tel)} <= {"sent", "delivered"}, timeout=60)
            texts = message_texts(smsc.submits())
            assert set(texts) == set(bodies)  # nothing lost
            # Nothing sent twice, but what the SMSC took and died before answering: SMPP cannot tell
            # those from submits it never got, so they go again (and Telephonist says so in its log).
            unanswered = {
                b for sid, b in zip(sids, bodies, strict=True) if sid in tel.platform.smpp.unanswered
            }
            twice = {t for t in texts if texts.count(t) > 1}
            assert twice <= unanswered and len(twice) <= 10  # at most the window in flight at the kill


def test_a_carrier_that_is_down_keeps_messages_queued(tmp_path: Path) -> None:
    smsc = SmscProcess(tmp_path / "smsc", dlr_delay=0.05)  # not started yet
    with running(tmp_path, time_scale=0.1, sender_mps={NUMBER: 10000}, smpp_carriers=carrier(smsc)) as tel:
        waiting = send(tel, "+447700900800", "wait for me")
        doomed = send(tel, "+447700900801", "short-lived", validity_period=5)  # half a second here
        failed = settled(tel, doomed)
        assert (failed.status, failed.error_code) == ("failed", 30001)
        assert tel.client().messages(waiting).fetch().status == "queued"
        [state] = tel.carriers()
        assert state["state"] in ("down", "connecting")
        with smsc:
            smsc.wait_bound()
            assert settled(tel, waiting).status == "delivered"
            assert message_texts(smsc.submits()) == ["wait for me"]


def test_a_wrong_password_keeps_the_carrier_down(tmp_path: Path) -> None:
    with SmscProcess(tmp_path / "smsc", dlr_delay=0.05) as smsc:
        bad = carrier(smsc, password="wrong")
        with running(tmp_path, sender_mps={NUMBER: 10000}, smpp_carriers=bad) as tel:
            sid = send(tel, "+447700900900", "never sent")
            wait_until(lambda: "ESME_RINVPASWD" in tel.carriers()[0]["last_error"], timeout=10)
            assert tel.client().messages(sid).fetch().status == "queued"
            assert smsc.submits() == []
            # The simulated network still takes what is not routed to the carrier.
            assert settled(tel, send(tel, "+15551230000", "local")).status == "delivered"


def test_carrier_state_in_the_cli_and_metrics(tel: Telephonist, smsc: SmscProcess, tmp_path: Path) -> None:
    send(tel, "+447700900950", "count me")
    smsc.wait_for_submits(1)
    wait_until(lambda: tel.carriers()[0]["accepted"] == 1)
    metrics = httpx.get(f"{tel.base_url}/metrics").text
    assert 'telephonist_smpp_bound{carrier="smsc1"} 1' in metrics
    assert 'telephonist_smpp_accepted_total{carrier="smsc1"} 1' in metrics
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "telephonist",
            "carriers",
            "--url",
            tel.base_url,
            "--db",
            database_url(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    header, row = shown.splitlines()
    assert header.split()[:3] == ["CARRIER", "SMSC", "STATE"]
    assert row.split()[:5] == ["smsc1", f"127.0.0.1:{smsc.port}", "bound", "1", "1"]
    with httpx.Client(base_url=tel.base_url) as h:  # carriers are the operator's: no credentials, no view
        assert h.get("/carriers.json").status_code == 401


def test_a_restart_of_telephonist_mid_burst_resumes_the_outbox(tmp_path: Path) -> None:
    with SmscProcess(tmp_path / "smsc", throttle=10, dlr_delay=0.05) as smsc:
        bodies = [f"resume {i}: " + "y" * (200 if i % 4 == 0 else 5) for i in range(40)]
        with running(tmp_path, sender_mps={NUMBER: 10000}, smpp_carriers=carrier(smsc)) as tel:
            smsc.wait_bound()
            for body in bodies:
                send(tel, "+447700900990", body)
            wait_until(lambda: len(smsc.submits()) >= 8, timeout=20, interval=0.005)
        assert len(smsc.submits()) < 50  # stopped mid-burst
        with running(tmp_path, sender_mps={NUMBER: 10000}, smpp_carriers=carrier(smsc)) as tel:
            records = smsc.wait_for_submits(50, timeout=60)
            assert sorted(message_texts(records)) == sorted(bodies) and len(records) == 50
            wait_until(lambda: {r["status"] for r in outbox(tel)} <= {"sent", "delivered"}, timeout=20)


def test_a_transmitter_and_a_receiver_bind(tmp_path: Path, webapp: WebApp) -> None:
    with SmscProcess(tmp_path / "smsc", dlr_delay=0.05) as smsc:
        binds = carrier(smsc, bind="transmitter+receiver")
        with running(tmp_path, sender_mps={NUMBER: 10000}, smpp_carriers=binds) as tel:
            wait_until(lambda: tel.carriers()[0]["state"] == "bound", timeout=15)
            assert len(smsc.sessions()) == 2
            assert settled(tel, send(tel, "+447700900960", "over the transmitter")).status == "delivered"
            client = tel.client()
            client.incoming_phone_numbers(client.incoming_phone_numbers.list()[0].sid).update(
                sms_url=webapp.url("/sms")
            )
            smsc.send_mo("447700900961", NUMBER[1:], "over the receiver")
            [hit] = webapp.wait_hits("/sms")
            assert hit.param("Body") == "over the receiver"
