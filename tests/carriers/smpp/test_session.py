"""The SMPP session state machine, both ends driven in memory with time passed in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephonist.carriers.smpp import pdu as P
from telephonist.carriers.smpp.pdu import (
    Bind,
    BindResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    parse_pdu,
)
from telephonist.carriers.smpp.session import (
    NEED_DATA,
    BadPdu,
    ConnectionClosed,
    Event,
    LocalProtocolError,
    Response,
    Session,
    State,
    Timeout,
)


def feed(session: Session, data: bytes, now: float | None = None) -> list[Event]:
    session.receive_data(data, now)
    return list(session.events())


def sent(data: bytes) -> list[Pdu]:
    """Split bytes a session produced back into PDUs."""
    pdus = []
    while data:
        length = int.from_bytes(data[:4], "big")
        pdus.append(parse_pdu(data[:length]))
        data = data[length:]
    return pdus


def state_of(session: Session) -> State:
    """The state, read through a call so mypy does not keep an earlier narrowing."""
    return session.state


def bound_pair(kind: P.BindKind = "transceiver", **options: float | int | None) -> tuple[Session, Session]:
    esme = Session("esme", **options)  # type: ignore[arg-type]
    smsc = Session("smsc", **options)  # type: ignore[arg-type]
    bind = Bind(kind, "test", "secret")
    [request] = feed(smsc, esme.send(bind))
    assert request == bind
    [response] = feed(esme, smsc.send(BindResp(kind, "SMSC", sequence_number=request.sequence_number)))
    assert response == Response(bind, BindResp(kind, "SMSC", sequence_number=1))
    return esme, smsc


@pytest.mark.parametrize(
    ("kind", "state"),
    [("transceiver", State.BOUND_TRX), ("transmitter", State.BOUND_TX), ("receiver", State.BOUND_RX)],
)
def test_bind_handshake(kind: P.BindKind, state: State) -> None:
    esme, smsc = bound_pair(kind)
    assert esme.state is smsc.state is state
    assert esme.data_to_send() == smsc.data_to_send() == b""


def test_refused_bind_leaves_both_open_and_may_be_retried() -> None:
    esme, smsc = Session("esme"), Session("smsc")
    bind = Bind("transmitter", "test", "wrong")
    [request] = feed(smsc, esme.send(bind))
    with pytest.raises(LocalProtocolError, match="cannot send bind_transmitter with a bind in flight"):
        esme.send(Bind("transmitter"))
    refusal = BindResp("transmitter", sequence_number=1, command_status=P.ESME_RINVPASWD)
    [event] = feed(esme, smsc.send(refusal))
    assert isinstance(event, Response) and event.request is bind and not event.ok
    assert esme.state is smsc.state is State.OPEN
    assert feed(smsc, esme.send(Bind("transmitter", "test", "secret"))) == [
        Bind("transmitter", "test", "secret", sequence_number=2)
    ]
    feed(esme, smsc.send(BindResp("transmitter", sequence_number=2)))
    assert state_of(esme) is state_of(smsc) is State.BOUND_TX


def test_smsc_refuses_a_second_bind() -> None:
    esme, smsc = bound_pair()
    again = Bind("receiver", sequence_number=9)
    [event] = feed(smsc, bytes(again))
    assert event == BadPdu(P.ESME_RALYBND, "bind_receiver when already bound", 9, P.BIND_RECEIVER, pdu=again)
    assert sent(smsc.data_to_send()) == [
        BindResp("receiver", sequence_number=9, command_status=P.ESME_RALYBND)
    ]
    assert smsc.state is State.BOUND_TRX


def test_smsc_answers_submit_before_bind_with_invalid_bind_status() -> None:
    smsc = Session("smsc")
    submit = SubmitSm(destination_addr="1555", short_message=b"hi", sequence_number=4)
    [event] = feed(smsc, bytes(submit))
    assert isinstance(event, BadPdu) and event.pdu == submit and event.status == P.ESME_RINVBNDSTS
    assert sent(smsc.data_to_send()) == [SubmitSmResp(sequence_number=4, command_status=P.ESME_RINVBNDSTS)]
    assert smsc.state is State.OPEN


def test_smsc_bound_receiver_refuses_submit() -> None:
    _, smsc = bound_pair("receiver")
    [event] = feed(smsc, bytes(SubmitSm(sequence_number=5)))
    assert isinstance(event, BadPdu) and event.message == "submit_sm in state BOUND_RX"
    assert sent(smsc.data_to_send()) == [SubmitSmResp(sequence_number=5, command_status=P.ESME_RINVBNDSTS)]


def test_esme_answers_a_bind_with_generic_nack() -> None:
    esme = Session("esme")
    [event] = feed(esme, bytes(Bind(sequence_number=3)))
    assert isinstance(event, BadPdu) and event.message == "an esme does not accept bind_transceiver"
    assert sent(esme.data_to_send()) == [GenericNack(sequence_number=3, command_status=P.ESME_RINVCMDID)]


def test_local_state_errors() -> None:
    esme, smsc = Session("esme"), Session("smsc")
    with pytest.raises(LocalProtocolError, match="cannot send submit_sm with state OPEN"):
        esme.send(SubmitSm())
    with pytest.raises(LocalProtocolError, match="an smsc does not send bind_transceiver"):
        smsc.send(Bind())
    with pytest.raises(LocalProtocolError, match="no submit_sm 3 awaits an answer"):
        smsc.send(SubmitSmResp(sequence_number=3))
    rx_esme, tx_smsc = bound_pair("receiver")
    with pytest.raises(LocalProtocolError, match="cannot send submit_sm with state BOUND_RX"):
        rx_esme.send(SubmitSm())
    with pytest.raises(LocalProtocolError, match="an esme does not send deliver_sm"):
        rx_esme.send(DeliverSm())
    _, tx_smsc = bound_pair("transmitter")
    with pytest.raises(LocalProtocolError, match="cannot send deliver_sm with state BOUND_TX"):
        tx_smsc.send(DeliverSm())
    with pytest.raises(ValueError, match="destination_addr is at most 20 octets"):
        bound_pair()[0].send(SubmitSm(destination_addr="1" * 30))


def test_submit_and_deliver_both_ways() -> None:
    esme, smsc = bound_pair()
    submit = SubmitSm(destination_addr="15557654321", short_message=b"hi")
    [request] = feed(smsc, esme.send(submit))
    assert request == submit and submit.sequence_number == 2
    [answer] = feed(esme, smsc.send(SubmitSmResp("m1", sequence_number=2)))
    assert answer == Response(submit, SubmitSmResp("m1", sequence_number=2)) and answer.ok
    deliver = DeliverSm(source_addr="15557654321", short_message=b"yo")
    [request] = feed(esme, smsc.send(deliver))
    assert request == deliver
    [answer] = feed(smsc, esme.send(DeliverSmResp(sequence_number=request.sequence_number)))
    assert isinstance(answer, Response) and answer.request is deliver


def test_window_full_until_a_response() -> None:
    esme, smsc = bound_pair(window=2)
    first, second = SubmitSm(), SubmitSm()
    assert esme.can_send()
    smsc.receive_data(esme.send(first) + esme.send(second))
    assert (esme.outstanding, esme.can_send()) == (2, False)
    with pytest.raises(LocalProtocolError, match="window full: 2 requests outstanding"):
        esme.send(SubmitSm())
    esme.send(EnquireLink())  # never held back by the window
    assert list(smsc.events()) == [first, second]
    [event] = feed(esme, smsc.send(SubmitSmResp(sequence_number=second.sequence_number, command_status=0x58)))
    assert isinstance(event, Response) and event.request is second  # which submit was throttled
    assert event.response.command_status == P.ESME_RTHROTTLED and not event.ok
    assert (esme.outstanding, esme.can_send()) == (1, True)
    assert esme.unanswered()[0] is first


def test_enquire_link_is_sent_when_idle_and_answered_by_the_peer() -> None:
    esme, smsc = bound_pair(enquire_link_interval=30, response_timeout=10)
    assert esme.get_timer() == 30
    esme.handle_timer(29)
    assert esme.data_to_send() == b""
    esme.handle_timer(30)
    probe = esme.data_to_send()
    assert sent(probe) == [EnquireLink(sequence_number=2)]
    assert esme.get_timer() == 40  # now the response deadline; no second probe while one is out
    assert feed(smsc, probe, now=31) == []
    answer = smsc.data_to_send()
    assert sent(answer) == [EnquireLinkResp(sequence_number=2)]
    assert feed(esme, answer, now=32) == []
    assert esme.get_timer() == 62
    assert esme.outstanding == 0 and esme.unanswered() == ()


def test_unanswered_enquire_link_is_reported() -> None:
    esme, _ = bound_pair(enquire_link_interval=30, response_timeout=10)
    esme.handle_timer(30)
    esme.data_to_send()
    esme.handle_timer(40)
    [event] = esme.events()
    assert event == Timeout(EnquireLink(sequence_number=2))


def test_no_enquire_link_before_bind_or_when_disabled() -> None:
    assert Session("esme", enquire_link_interval=30).get_timer() is None
    esme, _ = bound_pair(enquire_link_interval=None, response_timeout=None)
    esme.send(SubmitSm())
    assert esme.get_timer() is None


def test_response_timeout_frees_the_window() -> None:
    esme, smsc = bound_pair(enquire_link_interval=60, response_timeout=10, window=1)
    submit = SubmitSm()
    smsc.receive_data(esme.send(submit, now=5))
    assert esme.get_timer() == 15 and not esme.can_send()
    esme.handle_timer(14.9)
    assert esme.next_event() is NEED_DATA
    esme.handle_timer(15)
    assert list(esme.events()) == [Timeout(submit)]
    assert esme.can_send()
    late = SubmitSmResp("m", sequence_number=submit.sequence_number)
    assert list(smsc.events()) == [submit]
    assert feed(esme, smsc.send(late)) == [Response(None, late)]


def test_bind_timeout_allows_a_new_bind() -> None:
    esme = Session("esme", response_timeout=5)
    bind = Bind()
    esme.send(bind, now=100)
    esme.handle_timer(105)
    assert list(esme.events()) == [Timeout(bind)]
    assert esme.state is State.OPEN
    esme.send(Bind())


def test_unbind_from_the_esme() -> None:
    esme, smsc = bound_pair()
    unbind = Unbind()
    data = esme.send(unbind)
    assert esme.state is State.UNBINDING
    with pytest.raises(LocalProtocolError):
        esme.send(SubmitSm())
    # a deliver_sm already in flight is still taken while unbinding
    deliver = DeliverSm()
    [event] = feed(esme, smsc.send(deliver))
    assert event == deliver
    assert feed(smsc, data) == [Unbind(sequence_number=2)]
    assert smsc.state is State.CLOSED
    [event] = feed(esme, smsc.data_to_send())
    assert event == Response(unbind, UnbindResp(sequence_number=2))
    assert state_of(esme) is State.CLOSED


def test_unbind_from_the_smsc_is_answered_by_the_esme() -> None:
    esme, smsc = bound_pair()
    assert feed(esme, smsc.send(Unbind())) == [Unbind(sequence_number=1)]
    assert esme.state is State.CLOSED
    assert sent(esme.data_to_send()) == [UnbindResp(sequence_number=1)]


def test_enquire_link_is_answered_in_any_state() -> None:
    esme = Session("esme")
    assert feed(esme, bytes(EnquireLink(sequence_number=77))) == []
    assert sent(esme.data_to_send()) == [EnquireLinkResp(sequence_number=77)]


def test_sequence_numbers_wrap_and_skip_those_in_use() -> None:
    esme, _ = bound_pair(window=100)
    esme.next_sequence_number = 0x7FFFFFFE
    pdus = [SubmitSm() for _ in range(3)]
    for pdu in pdus:
        esme.send(pdu)
    assert [p.sequence_number for p in pdus] == [0x7FFFFFFE, 0x7FFFFFFF, 1]
    esme.next_sequence_number = 0x7FFFFFFF
    extra = SubmitSm()
    esme.send(extra)
    assert extra.sequence_number == 2  # 0x7FFFFFFF and 1 are still outstanding


def test_byte_at_a_time() -> None:
    esme, smsc = bound_pair()
    data = esme.send(SubmitSm(short_message=b"x" * 100))
    events: list[Event] = []
    for octet in data:
        events += feed(smsc, bytes((octet,)))
    assert [type(e) for e in events] == [SubmitSm]


# Peer garbage: reported, answered where the spec says so, never raised.


def test_length_below_header_is_fatal() -> None:
    smsc = Session("smsc")
    [event] = feed(smsc, bytes.fromhex("00000008 00000015"))
    assert event == BadPdu(
        P.ESME_RINVCMDLEN, "command_length 8 is shorter than the 16-octet header", None, 0x15, fatal=True
    )
    assert sent(smsc.data_to_send()) == [GenericNack(command_status=P.ESME_RINVCMDLEN)]
    assert smsc.state is State.CLOSED
    assert feed(smsc, bytes(EnquireLink(sequence_number=1))) == []
    assert feed(smsc, b"") == [ConnectionClosed()]


def test_huge_claimed_length_is_fatal_and_answered_with_its_sequence() -> None:
    smsc = Session("smsc")
    [event] = feed(smsc, bytes.fromhex("00100000 00000004 00000000 0000002a 00"))
    assert isinstance(event, BadPdu) and event.fatal and event.sequence_number == 42
    assert sent(smsc.data_to_send()) == [GenericNack(sequence_number=42, command_status=P.ESME_RINVCMDLEN)]


def test_unknown_command_is_nacked_and_the_session_goes_on() -> None:
    esme, smsc = bound_pair()
    unknown = bytes.fromhex("00000010 00000103 00000000 00000005")  # data_sm, which we do not speak
    events = feed(smsc, unknown + bytes(SubmitSm(sequence_number=6)))
    assert events == [
        BadPdu(P.ESME_RINVCMDID, "unsupported command data_sm", 5, P.DATA_SM),
        SubmitSm(sequence_number=6),
    ]
    assert sent(smsc.data_to_send()) == [GenericNack(sequence_number=5, command_status=P.ESME_RINVCMDID)]
    assert smsc.state is State.BOUND_TRX


def test_bad_body_is_answered_with_its_own_response() -> None:
    _, smsc = bound_pair()
    data = bytearray(bytes(SubmitSm(sequence_number=8, tlvs={P.MESSAGE_PAYLOAD: b"abc"})))
    data[-4:-3] = b"\x09"  # TLV length 0x0903, past the end
    [event] = feed(smsc, bytes(data))
    assert isinstance(event, BadPdu) and event.status == P.ESME_RINVPARLEN and event.sequence_number == 8
    assert sent(smsc.data_to_send()) == [SubmitSmResp(sequence_number=8, command_status=P.ESME_RINVPARLEN)]


def test_garbled_response_releases_its_request_without_an_answer() -> None:
    esme, _ = bound_pair()
    submit = SubmitSm()
    esme.send(submit)
    garbled = bytes.fromhex("00000014 80000004 00000000 00000002 41424344")  # message_id without its NUL
    [event] = feed(esme, garbled)
    assert isinstance(event, BadPdu) and event.request is submit and event.status == P.ESME_RINVCMDLEN
    assert esme.outstanding == 0 and esme.data_to_send() == b""
    assert feed(esme, bytes.fromhex("00000010 80000099 00000000 00000003"))[0].status == P.ESME_RINVCMDID  # type: ignore[union-attr]
    assert esme.data_to_send() == b""


def test_response_of_the_wrong_kind_is_reported() -> None:
    esme, _ = bound_pair()
    submit = SubmitSm()
    esme.send(submit)
    [event] = feed(esme, bytes(EnquireLinkResp(sequence_number=2)))
    assert event == BadPdu(
        P.ESME_RINVCMDID,
        "enquire_link_resp 2 does not answer submit_sm 2",
        2,
        P.ENQUIRE_LINK_RESP,
        pdu=EnquireLinkResp(sequence_number=2),
    )
    assert esme.unanswered() == (submit,)
    [event] = feed(esme, bytes(GenericNack(sequence_number=2, command_status=P.ESME_RSYSERR)))
    assert isinstance(event, Response) and event.request is submit and not event.ok


def test_peer_close_reports_the_unanswered_requests_after_buffered_pdus() -> None:
    esme, smsc = bound_pair()
    first, second = SubmitSm(), SubmitSm()
    smsc.receive_data(esme.send(first) + esme.send(second))
    assert list(smsc.events()) == [first, second]
    esme.receive_data(smsc.send(SubmitSmResp("m", sequence_number=first.sequence_number)))
    esme.receive_data(b"")
    assert list(esme.events()) == [
        Response(first, SubmitSmResp("m", sequence_number=2)),
        ConnectionClosed((second,)),
    ]
    assert esme.state is State.CLOSED and esme.next_event() is NEED_DATA


chunks = st.lists(st.binary(max_size=40), max_size=20)
valid = st.sampled_from(
    [
        bytes(p)
        for p in (
            Bind(sequence_number=1),
            BindResp(sequence_number=1),
            SubmitSm(sequence_number=2),
            SubmitSmResp(sequence_number=2),
            DeliverSm(sequence_number=3),
            DeliverSmResp(sequence_number=3),
            EnquireLink(sequence_number=4),
            EnquireLinkResp(sequence_number=1),
            Unbind(sequence_number=5),
            UnbindResp(sequence_number=1),
            GenericNack(sequence_number=1),
        )
    ]
)


@given(
    st.sampled_from(["esme", "smsc"]),
    st.lists(valid | st.binary(min_size=1, max_size=40), max_size=20),
    st.booleans(),
)
def test_peer_garbage_never_raises(role: str, pieces: list[bytes], bound: bool) -> None:
    if bound:
        esme, smsc = bound_pair(response_timeout=5, enquire_link_interval=3)
        session = esme if role == "esme" else smsc
    else:
        session = Session(role, response_timeout=5, enquire_link_interval=3)  # type: ignore[arg-type]
    for n, piece in enumerate(pieces):
        assert NEED_DATA not in feed(session, piece, now=n)  # type: ignore[comparison-overlap]
        session.handle_timer(n + 0.5)
        assert isinstance(session.state, State)
        sent(session.data_to_send())  # whatever it answers is well formed
    assert isinstance(feed(session, b"")[-1], ConnectionClosed)
