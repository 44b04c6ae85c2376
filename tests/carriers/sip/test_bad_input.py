"""SIP as a careless or hostile peer sends it, over UDP to a running server: each gets its 4xx/5xx or is
dropped, and the server goes on answering."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.carriers.sip import sipp
from tests.conftest import Telephonist, running

from telephonist.carriers.sip.message import Response, parse

NUMBER = "+15005550006"
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


@pytest.fixture
def sip(tmp_path: Path) -> Iterator[Telephonist]:
    trunk = {"name": "loopback", "host": "127.0.0.1"}
    with running(tmp_path, sip_port=sipp.free_udp_port(), sip_trunks=[trunk]) as t:
        yield t


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)
    yield sock
    sock.close()


def request(
    peer: socket.socket,
    method: str,
    uri: str = f"sip:{NUMBER}@127.0.0.1",
    *,
    to_tag: str = "",
    body: str = "",
    ctype: str = "application/sdp",
    call_id: str = "bad-1",
) -> bytes:
    port = peer.getsockname()[1]
    to = f"<{uri}>" + (f";tag={to_tag}" if to_tag else "")
    head = (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{method}-{call_id}\r\n"
        f"From: <sip:+15557770001@127.0.0.1>;tag=x\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
        f"CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContact: <sip:p@127.0.0.1:{port}>\r\n"
    )
    if body:
        head += f"Content-Type: {ctype}\r\n"
    return (head + f"Content-Length: {len(body.encode())}\r\n\r\n" + body).encode()


def answers(tel: Telephonist, peer: socket.socket, data: bytes) -> list[int]:
    """The statuses of what comes back for `data`, until a final one (or none comes)."""
    peer.sendto(data, ("127.0.0.1", tel.platform.sip.port))
    statuses: list[int] = []
    while not statuses or statuses[-1] < 200:
        try:
            reply = parse(peer.recv(65535))
        except TimeoutError:
            break
        assert isinstance(reply, Response)
        statuses.append(reply.status)
    return statuses


def still_serving(tel: Telephonist, peer: socket.socket) -> bool:
    """An OPTIONS is answered 200; sent again after a second without answer, as SIP does over UDP (a
    flood may have filled the socket's buffer, where a datagram is dropped)."""
    peer.settimeout(1)
    return any(answers(tel, peer, request(peer, "OPTIONS", call_id="alive"))[-1:] == [200] for _ in range(5))


def test_options_lists_what_is_allowed(sip: Telephonist, peer: socket.socket) -> None:
    peer.sendto(request(peer, "OPTIONS"), ("127.0.0.1", sip.platform.sip.port))
    reply = parse(peer.recv(65535))
    assert isinstance(reply, Response) and reply.status == 200
    assert "INVITE" in (reply.headers.get("Allow") or "")


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("PUBLISH", {}, 405),  # out of a dialog, a method we do not serve
        ("BYE", {}, 481),  # no such call
        ("BYE", {"to_tag": "nope"}, 481),
        ("INFO", {"to_tag": "nope"}, 481),
        ("INVITE", {"uri": "sip:+15551112222@127.0.0.1", "body": SDP}, 404),  # no platform number
        ("INVITE", {"uri": "sip:not-a-number@127.0.0.1", "body": SDP}, 404),
        ("INVITE", {"body": "v=0\r\nthis is not SDP\r\n"}, 488),
        ("INVITE", {"body": SDP.replace("0 PCMU", "18 G729").replace("AVP 0", "AVP 18")}, 488),  # no codec
    ],
)
def test_requests_that_cannot_be_served_get_their_status(
    sip: Telephonist, peer: socket.socket, method: str, kwargs: dict[str, str], status: int
) -> None:
    statuses = answers(sip, peer, request(peer, method, **kwargs))
    assert statuses[-1] == status
    assert sip.client().calls.list() == []  # nothing half-made
    assert still_serving(sip, peer)


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02garbage",
        b"INVITE sip:x SIP/2.0\r\n",  # truncated: no headers
        b"INVITE sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKa\r\nX: " + b"a" * 60000,
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKstray\r\nCSeq: 1 BYE\r\n\r\n",  # stray
        b"\r\n\r\n",  # keep-alive
    ],
)
def test_garbage_is_dropped_and_the_server_keeps_serving(
    sip: Telephonist, peer: socket.socket, data: bytes
) -> None:
    peer.settimeout(0.5)
    assert answers(sip, peer, data) == []
    peer.settimeout(3)
    assert still_serving(sip, peer)


def test_a_wrong_version_is_answered_505(sip: Telephonist, peer: socket.socket) -> None:
    data = request(peer, "OPTIONS").replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia", 1)
    assert answers(sip, peer, data) == [505]


def test_a_flood_of_malformed_datagrams_disturbs_nothing(
    sip: Telephonist, peer: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(2000):
        peer.sendto(b"INVITE junk %d\r\n\r\n" % i, ("127.0.0.1", sip.platform.sip.port))
    assert still_serving(sip, peer)
    assert len([r for r in caplog.records if r.name == "telephonist.sip"]) <= 5  # no log flood either
