"""Kamailio's dispatcher (deploy/kamailio/kamailio.cfg) in front of two Telephonist nodes, each a process of
its own on one PostgreSQL database: calls from a SIP trunk (SIPp) are spread over both nodes, their ACK
and BYE pass through the proxy, the nodes answer its OPTIONS probes, and once a node is killed every new
call goes to the survivor."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.carriers.sip import sipp
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, WebApp, free_port, postgres_url, wait_until
from twilio.rest import Client

from telephonist.app import Platform
from telephonist.config import Settings
from telephonist.media import audio

from .kamailio import KAMAILIO, NUMBER, Call, check, listening, place_calls, start_kamailio, stop

pytestmark = [
    pytest.mark.slow,
    sipp.needs_sipp,
    pytest.mark.skipif(KAMAILIO is None, reason="Kamailio is not installed (apt-get install kamailio)"),
]


# -- the database both nodes share ----------------------------------------------------------------------
@pytest.fixture
def database(tmp_path: Path) -> str:
    """A database of the test's own on the tests' PostgreSQL server (a SQLite file, which two processes on
    one machine can share too, when PostgreSQL is not installed), migrated, with the default account and
    its number, before any node starts: two nodes starting on an empty one would both create the account."""
    try:
        url = postgres_url(tmp_path)
    except RuntimeError as err:
        if "not installed" not in str(err):
            raise
        url = f"sqlite:///{tmp_path}/telephonist.db"
    platform = Platform(Settings(db=url, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN))
    platform.prepare()
    platform.db.close()
    return url


# -- the nodes ---------------------------------------------------------------------------------------------
@dataclass
class Node:
    name: str
    port: int
    sip_port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def started(self) -> bool:
        """It holds its HTTP and SIP ports, or it ended (a port taken, say)."""
        pid = self.proc.pid
        held = listening(pid, self.sip_port, tcp=False) and listening(pid, self.port, tcp=True)
        return held or self.proc.poll() is not None

    def trace(self) -> list[tuple[str, str, str, str, str]]:
        """Its SIP trace: (call SID or "-", "<-" or "->", peer, first line, Call-ID and CSeq) a message."""
        line = r"telephonist\.sip\.trace (\S+) (<-|->) (\S+) (.+) \(Call-ID (\S+), CSeq ([^)]+)\)$"
        return [
            (m[1], m[2], m[3], m[4], f"{m[5]} {m[6]}") for m in re.finditer(line, self.output(), re.MULTILINE)
        ]

    def calls(self, *steps: tuple[str, str, str], peer: str | None = None) -> set[str]:
        """The SIDs of the calls whose trace has each of `steps` (arrow, first line's start, CSeq method),
        every message of them exchanged with `peer` when given."""
        trace = self.trace()
        sids = {cseq.split()[0]: sid for sid, *_, cseq in trace if sid != "-"}  # by Call-ID
        found = set(sids)
        for arrow, start, method in steps:
            found &= {
                cseq.split()[0]
                for _, way, _, first, cseq in trace
                if way == arrow and first.startswith(start) and cseq.endswith(" " + method)
            }
        if peer is not None:
            found -= {cseq.split()[0] for _, _, other, _, cseq in trace if other != peer}
        return {sids[call_id] for call_id in found}

    def answered(self) -> set[str]:
        """The calls this node answered (its 200 OK to their INVITE)."""
        return self.calls(("->", "SIP/2.0 200 OK", "INVITE"))

    def through(self, proxy: int) -> set[str]:
        """The calls this node answered whose every SIP message went through the proxy: the ACK and INFO of
        the trunk, the node's BYE and its answer."""
        return self.calls(
            ("->", "SIP/2.0 200 OK", "INVITE"),
            ("<-", "ACK ", "ACK"),
            ("<-", "INFO ", "INFO"),
            ("->", "SIP/2.0 200 OK", "INFO"),
            ("->", "BYE ", "BYE"),
            ("<-", "SIP/2.0 200 OK", "BYE"),
            peer=f"127.0.0.1:{proxy}",
        )

    def answered_options_from(self, port: int) -> bool:
        pattern = rf"-> 127\.0\.0\.1:{port} SIP/2\.0 200 OK \(Call-ID \S+, CSeq \d+ OPTIONS\)"
        return re.search(pattern, self.output()) is not None


def spawn_node(tmp_path: Path, name: str, db: str, sip_port: int | None = None) -> Node:
    """`python -m telephonist serve` in a process of its own, HTTP on a free port and SIP on `sip_port` (a
    free one by default), the proxy's address as its trunk."""
    port, sip_port = free_port(), sip_port or sipp.free_udp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEPHONIST_")}
    env |= {
        "TELEPHONIST_ACCOUNT_SID": ACCOUNT_SID,
        "TELEPHONIST_AUTH_TOKEN": AUTH_TOKEN,
        "TELEPHONIST_SIP_PORT": str(sip_port),
        # The proxy is the trunk: every INVITE comes from its address.
        # (Its port is where calls to the trunk's prefixes would go: this one has none.)
        "TELEPHONIST_SIP_TRUNKS": json.dumps([{"name": "kamailio", "host": "127.0.0.1"}]),
        "TELEPHONIST_SIP_TRACE": "true",  # one log line a SIP message: which node answered what
        "TELEPHONIST_NODE_ID": f"sip-{name}",
        "TELEPHONIST_LOG_LEVEL": "warning",
    }
    log = tmp_path / f"node-{name}.log"
    if log.exists():  # started again: the log of its earlier life kept aside
        log.rename(log.with_suffix(f".{time.monotonic_ns()}.log"))
    args = [sys.executable, "-m", "telephonist", "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--db", db]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Node(name, port, sip_port, proc, log)


def start_nodes(tmp_path: Path, names: str, db: str, sip_ports: dict[str, int] | None = None) -> list[Node]:
    """Nodes started together, each ready once it holds its ports and /readyz says so. Tests of other runs
    on this machine hand out ports too: a node that finds its port taken starts again on another."""
    nodes = [spawn_node(tmp_path, name, db, (sip_ports or {}).get(name)) for name in names]
    try:
        for i, node in enumerate(nodes):
            for attempt in range(3):
                wait_until(node.started, 30, 0.05)
                if node.proc.poll() is None:
                    break
                taken = "address already in use" in node.output().lower()
                assert taken and attempt < 2, f"node {node.name} exited:\n{node.output()[-3000:]}"
                nodes[i] = node = spawn_node(tmp_path, node.name, db, (sip_ports or {}).get(node.name))
            wait_ready(node)
    except AssertionError:
        for node in nodes:
            stop(node.proc)
        raise
    return nodes


def wait_ready(node: Node) -> None:
    def ready() -> bool:
        assert node.proc.poll() is None, f"node {node.name} exited:\n{node.output()[-3000:]}"
        try:
            return httpx.get(node.base_url + "/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, timeout=30, interval=0.1)


# -- the test ----------------------------------------------------------------------------------------------
def test_calls_are_spread_over_two_nodes_and_fail_over_to_the_survivor(
    database: str, webapp: WebApp, tmp_path: Path
) -> None:
    # Both nodes before any call: a node starting marks the calls live in the database failed.
    a, b = start_nodes(tmp_path, "ab", database)
    kamailio = None
    try:
        tone = array("h", (round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(3200)))
        url = webapp.file("/tone.wav", audio.wav(tone.tobytes()), "audio/wav")
        twiml = f"<Response><Play>{url}</Play></Response>"
        client = Client(ACCOUNT_SID, AUTH_TOKEN)
        client.api.base_url = a.base_url
        # One database: the number's VoiceUrl set on node a is the one node b runs too.
        client.incoming_phone_numbers.list(phone_number=NUMBER)[0].update(
            voice_url=webapp.twiml("/voice", twiml), voice_method="POST"
        )

        kamailio = start_kamailio(tmp_path, [a, b])
        proxy = kamailio.port
        # The dispatcher's probes reach both nodes and are answered (a node that did not would be skipped).
        wait_until(lambda: a.answered_options_from(proxy) and b.answered_options_from(proxy), timeout=10)

        # Four calls at once through the proxy: two on each node, each run to its end through the proxy.
        calls = place_calls(tmp_path, proxy, ["1", "2", "3", "4"])
        for call in calls:
            check(call, proxy)
        assert sorted(call.node_port for call in calls) == sorted([a.sip_port] * 2 + [b.sip_port] * 2)
        assert len(a.answered()) == 2 and len(b.answered()) == 2
        # Each node had the ACK of its 200 OK, and the answer to its BYE, through the proxy.
        assert a.through(proxy) == a.answered() and b.through(proxy) == b.answered()

        # Node b dies. Calls placed at once still all succeed, on a: a call the dispatcher sends to b before
        # its probe finds it dead times out there and is tried on a (the failure route).
        stop(b.proc, signal.SIGKILL)
        after = place_calls(tmp_path, proxy, ["5", "6", "7", "8"])
        for call in after:
            check(call, proxy)
        assert {call.node_port for call in after} == {a.sip_port}
        # By now the dispatcher has b down, and sends nothing more its way: no call waits for it.
        wait_until(lambda: f"node down: sip:127.0.0.1:{b.sip_port}" in kamailio.output(), timeout=10)
        retries = kamailio.output().count("trying the next one")
        last = place_calls(tmp_path, proxy, ["9", "10"])
        for call in last:
            check(call, proxy)
        assert {call.node_port for call in last} == {a.sip_port}
        assert kamailio.output().count("trying the next one") == retries

        # Node b comes back on its address: the probes find it up, and calls reach it again. (A node just
        # started on a loaded machine may miss the proxy's timer once: that call goes to a, b is marked down
        # until its next probe, and the next pair is placed once it is up again.)
        (b,) = start_nodes(tmp_path, "b", database, {"b": b.sip_port})
        back: list[Call] = []
        for first in (11, 13, 15):
            wait_until(lambda: kamailio.state(b.sip_port) == "up", timeout=10)
            pair = place_calls(tmp_path, proxy, [str(first), str(first + 1)])
            for call in pair:
                check(call, proxy)
            back += pair
            if b.sip_port in {call.node_port for call in pair}:
                break
        on_b = [call for call in back if call.node_port == b.sip_port]
        assert on_b, kamailio.output()[-4000:]
        assert len(b.answered()) == len(on_b) and b.through(proxy) == b.answered()

        # Every call is in the one database, completed, its VoiceUrl fetched once.
        def completed() -> list[str]:
            listed = client.calls.list(to=NUMBER)
            return [c.sid for c in listed if c.status == "completed"] if len(listed) == total else []

        total = 10 + len(back)
        sids = set(wait_until(lambda: len(completed()) == total and completed()))
        assert len(a.answered()) == total - 2 - len(on_b) and a.through(proxy) == a.answered()
        assert a.answered() | b.answered() < sids and not a.answered() & b.answered()
        assert {hit.param("CallSid") for hit in webapp.hits_for("/voice")} == sids
    finally:
        if kamailio is not None:
            stop(kamailio.proc, group=True)
        for node in (a, b):
            stop(node.proc)
