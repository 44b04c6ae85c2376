"""The transaction layer without sockets or clocks: retransmissions and timers of RFC 3261 §17 in
simulated seconds."""

from __future__ import annotations

from telephonist.carriers.sip.dialog import response
from telephonist.carriers.sip.message import Request, Response, parse
from telephonist.carriers.sip.transaction import T1, T2, Endpoint, Malformed, RequestIn, ResponseIn, TimedOut

PEER = ("127.0.0.1", 5070)
INVITE = (
    b"INVITE sip:+15005550006@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
    b"From: <sip:+15557770001@127.0.0.1>;tag=a\r\n"
    b"To: <sip:+15005550006@127.0.0.1>\r\n"
    b"Call-ID: call-1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:caller@127.0.0.1:5070>\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def ack(branch: str, to_tag: str = "b") -> bytes:
    return (
        "ACK sip:+15005550006@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n"
        "From: <sip:+15557770001@127.0.0.1>;tag=a\r\n"
        f"To: <sip:+15005550006@127.0.0.1>;tag={to_tag}\r\n"
        "Call-ID: call-1\r\nCSeq: 1 ACK\r\nContact: <sip:caller@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def events(ep: Endpoint) -> list[object]:
    out = []
    while (event := ep.next_event()) is not None:
        out.append(event)
    return out


def sent(ep: Endpoint) -> list[str]:
    """The first line of each datagram sent."""
    return [data.split(b"\r\n", 1)[0].decode() for data, _ in ep.datagrams()]


def run_until(ep: Endpoint, end: float) -> list[tuple[float, str]]:
    """Fire every timer up to `end`; what was sent, and when."""
    out = []
    while (when := ep.get_timer()) is not None and when <= end:
        ep.handle_timer(when)
        out += [(when, line) for line in sent(ep)]
    return out


def incoming_invite(ep: Endpoint) -> Request:
    ep.receive(INVITE, PEER, 0.0)
    (event,) = events(ep)
    assert isinstance(event, RequestIn)
    return event.request


def test_a_retransmitted_invite_gets_the_last_response_and_reaches_nobody() -> None:
    ep = Endpoint()
    invite = incoming_invite(ep)
    ep.receive(INVITE, PEER, 0.1)  # before any response: absorbed
    assert events(ep) == [] and sent(ep) == []
    ep.respond(invite, response(invite, 180, to_tag="b"), 0.2)
    assert sent(ep) == ["SIP/2.0 180 Ringing"]
    ep.receive(INVITE, PEER, 0.3)
    assert events(ep) == [] and sent(ep) == ["SIP/2.0 180 Ringing"]


def test_a_2xx_is_retransmitted_with_doubling_intervals_until_its_ack() -> None:
    ep = Endpoint()
    invite = incoming_invite(ep)
    ep.respond(invite, response(invite, 200, to_tag="b"), 0.0)
    assert sent(ep) == ["SIP/2.0 200 OK"]
    resent = run_until(ep, 12.0)
    assert [when for when, _ in resent] == [T1, 3 * T1, 7 * T1, 7 * T1 + T2, 7 * T1 + 2 * T2]
    ep.receive(ack("z9hG4bK-2"), PEER, 12.0)  # the ACK of a 2xx has a branch of its own
    (event,) = events(ep)
    assert isinstance(event, RequestIn) and event.request.method == "ACK"
    assert run_until(ep, 40.0) == [] and events(ep) == []


def test_a_2xx_never_acked_times_out_after_64_t1() -> None:
    ep = Endpoint()
    invite = incoming_invite(ep)
    ep.respond(invite, response(invite, 200, to_tag="b"), 0.0)
    run_until(ep, 64 * T1 - 0.01)
    assert events(ep) == []
    run_until(ep, 64 * T1)
    assert events(ep) == [TimedOut("call-1")]


def test_an_error_response_is_retransmitted_until_its_ack_which_is_absorbed() -> None:
    ep = Endpoint()
    invite = incoming_invite(ep)
    ep.respond(invite, response(invite, 486, to_tag="b"), 0.0)
    assert sent(ep) == ["SIP/2.0 486 Busy Here"]
    assert [line for _, line in run_until(ep, 1.6)] == ["SIP/2.0 486 Busy Here"] * 2
    ep.receive(ack("z9hG4bK-1"), PEER, 1.6)  # same branch as the INVITE: the transaction's own ACK
    assert events(ep) == []
    assert run_until(ep, 40.0) == []


def test_a_bye_we_send_is_retransmitted_capped_at_t2_then_times_out() -> None:
    ep = Endpoint()
    bye = Request("BYE", "sip:caller@127.0.0.1:5070")
    for name, value in (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-bye"),
        ("From", "<sip:+15005550006@127.0.0.1>;tag=b"),
        ("To", "<sip:+15557770001@127.0.0.1>;tag=a"),
        ("Call-ID", "call-1"),
        ("CSeq", "1 BYE"),
    ):
        bye.headers.add(name, value)
    key = ep.request(bye, PEER, 0.0)
    assert sent(ep) == ["BYE sip:caller@127.0.0.1:5070 SIP/2.0"]
    times = [when for when, _ in run_until(ep, 64 * T1)]
    assert times[:5] == [T1, 3 * T1, 7 * T1, 7 * T1 + T2, 7 * T1 + 2 * T2]
    assert events(ep) == [TimedOut(key)]

    key = ep.request(bye, PEER, 100.0)
    sent(ep)
    ok = Response(200, "OK", bye.headers.copy())
    ep.receive(bytes(ok), PEER, 100.1)
    (event,) = events(ep)
    assert isinstance(event, ResponseIn) and event.key == key and event.response.status == 200
    ep.receive(bytes(ok), PEER, 100.2)  # a retransmitted 200: absorbed
    assert events(ep) == [] and run_until(ep, 200.0) == []


def test_a_retransmitted_bye_gets_the_same_200_once_answered() -> None:
    ep = Endpoint()
    data = INVITE.replace(b"INVITE sip", b"BYE sip").replace(b"1 INVITE", b"2 BYE")
    ep.receive(data, PEER, 0.0)
    (event,) = events(ep)
    assert isinstance(event, RequestIn)
    ep.respond(event.request, response(event.request, 200), 0.0)
    assert sent(ep) == ["SIP/2.0 200 OK"]
    ep.receive(data, PEER, 0.5)
    assert events(ep) == [] and sent(ep) == ["SIP/2.0 200 OK"]


def test_cancel_finds_its_invite() -> None:
    ep = Endpoint()
    invite = incoming_invite(ep)
    cancel = INVITE.replace(b"INVITE sip", b"CANCEL sip").replace(b"1 INVITE", b"1 CANCEL")
    ep.receive(cancel, PEER, 0.1)
    (event,) = events(ep)
    assert isinstance(event, RequestIn)
    found = ep.invite_of(event.request)
    assert found is not None and bytes(found) == bytes(invite)


def test_malformed_requests_are_reported_and_answered_when_possible() -> None:
    ep = Endpoint()
    ep.receive(INVITE.replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia"), PEER, 0.0)
    (event,) = events(ep)
    assert isinstance(event, Malformed) and event.error.status == 505
    (reply,) = ep.datagrams()
    answer = parse(reply[0])
    assert isinstance(answer, Response) and answer.status == 505
    assert answer.headers.get("Call-ID") == "call-1" and reply[1] == PEER
    ep.receive(b"\x00\xff garbage", PEER, 0.0)
    assert isinstance(ep.next_event(), Malformed) and ep.datagrams() == []
    ep.receive(b"\r\n\r\n", PEER, 0.0)  # a keep-alive
    assert events(ep) == [] and ep.datagrams() == []


def test_over_a_reliable_transport_only_2xx_are_retransmitted() -> None:
    ep = Endpoint()
    ep.reliable.add(PEER)
    invite = incoming_invite(ep)
    ep.respond(invite, response(invite, 486, to_tag="b"), 0.0)
    assert sent(ep) == ["SIP/2.0 486 Busy Here"]
    assert run_until(ep, 40.0) == []  # no Timer G
    bye = Request("BYE", "sip:caller@127.0.0.1:5070")
    for name, value in (
        ("Via", "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-tcp"),
        ("From", "<sip:a@h>;tag=b"),
        ("To", "<sip:b@h>;tag=a"),
        ("Call-ID", "call-2"),
        ("CSeq", "1 BYE"),
    ):
        bye.headers.add(name, value)
    key = ep.request(bye, PEER, 100.0)
    sent(ep)
    assert run_until(ep, 100.0 + 64 * T1) == []  # no Timer E, but Timer F still ends it
    assert events(ep) == [TimedOut(key)]
