"""What an operator sees of SIP: `telephonist sip` and /sip.json (trunks, registrations, live calls),
Prometheus gauges, the trunk on the Call resource, the SIP Call-ID among the call's events, and a
ladder of every SIP message in the log when traces are on."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.carriers.sip import sipp
from tests.conftest import Telephonist, WebApp, database_url, running, wait_until

pytestmark = [sipp.needs_sipp]
NUMBER = "+15005550006"


@pytest.fixture
def sip(tmp_path: Path) -> Iterator[Telephonist]:
    trunk = {"name": "loopback", "host": "127.0.0.1", "prefixes": ["+1555999"]}
    with running(
        tmp_path, time_scale=1.0, sip_port=sipp.free_udp_port(), sip_trunks=[trunk], sip_trace=True
    ) as t:
        yield t


def test_a_live_call_in_the_cli_metrics_and_call_resource(
    sip: Telephonist, webapp: WebApp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telephonist.sip.trace")
    number = sip.client().incoming_phone_numbers.list(phone_number=NUMBER)[0]
    number.update(voice_url=webapp.twiml("/voice", '<Response><Pause length="30"/></Response>'))
    caller = threading.Thread(
        target=sipp.run, args=(tmp_path, sipp.scenario(tmp_path, "uac.xml"), sip.platform.sip.port, NUMBER)
    )
    caller.start()
    live = wait_until(lambda: [c for c in sip.sip_status()["calls"] if c["state"] == "answered"])
    try:
        shown = subprocess.run(
            [
                sys.executable,
                "-m",
                "telephonist",
                "sip",
                "--url",
                sip.base_url,
                "--db",
                database_url(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        metrics = httpx.get(f"{sip.base_url}/metrics").text
    finally:
        sip.client().calls(live[0]["call_sid"]).update(status="completed")  # the platform hangs up
        caller.join(30)
    assert f"SIP on udp 127.0.0.1:{sip.platform.sip.port}" in shown
    trunk_line = next(line for line in shown.splitlines() if line.startswith("loopback"))
    assert "udp 127.0.0.1:5060" in trunk_line and "+1555999" in trunk_line
    call_line = next(line for line in shown.splitlines() if line.startswith(live[0]["call_sid"]))
    assert live[0]["sip_call_id"] in call_line and "inbound" in call_line and "PCMU" in call_line
    assert 'telephonist_sip_calls{trunk="loopback"} 1' in metrics

    call = sip.call_final(live[0]["call_sid"])
    assert call.trunk_sid is not None and call.trunk_sid.startswith("TK") and len(call.trunk_sid) == 34
    events = [e for e in sip.transcript(call.sid) if e.get("event") == "sip"]
    assert events and events[0]["call_id"] == live[0]["sip_call_id"] and events[0]["trunk"] == "loopback"
    ladder = [r.getMessage() for r in caplog.records if r.name == "telephonist.sip.trace"]
    # The INVITE comes before its call has a SID: its Call-ID ties it to the rest of the ladder.
    assert any(
        " <- " in line and " INVITE sip:" in line and live[0]["sip_call_id"] in line for line in ladder
    )
    assert any(line.startswith(f"{call.sid} <- ") and " ACK sip:" in line for line in ladder)
    assert any(line.startswith(f"{call.sid} -> ") and "SIP/2.0 200 OK" in line for line in ladder)
    assert any(line.startswith(f"{call.sid} -> ") and " BYE sip:" in line for line in ladder)


def test_sip_state_is_the_operators_only(sip: Telephonist) -> None:
    assert httpx.get(f"{sip.base_url}/sip.json").status_code == 401
    sub = sip.client().api.accounts.create(friendly_name="tenant")
    assert httpx.get(f"{sip.base_url}/sip.json", auth=(sub.sid, sub.auth_token)).status_code == 401
    state = httpx.get(f"{sip.base_url}/sip.json", auth=(sip.account_sid, sip.auth_token)).json()
    assert state["trunks"][0]["name"] == "loopback" and state["calls"] == [] and state["registrations"] == []
