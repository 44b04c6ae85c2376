"""SDP and offer/answer: bodies as SIPp, baresip, Asterisk and carrier trunks send them, exact round trips,
the answers we give (codec choice, telephone-events, hold, rejected streams) and what we take from answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephonist.carriers.sip.sdp import (
    Media,
    Negotiated,
    SdpError,
    SessionDescription,
    answer,
    negotiated,
    offer,
)


def sdp(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


# SIPp's built-in uac scenario: one static payload type, no rtpmap needed.
SIPP = sdp(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 192.0.2.10",
    "s=-",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
)

# baresip with its default codecs: wideband first, G.711 further down, telephone-events at 101.
BARESIP = sdp(
    "v=0",
    "o=- 1146309411 2436325373 IN IP4 192.168.1.20",
    "s=-",
    "c=IN IP4 192.168.1.20",
    "t=0 0",
    "a=tool:baresip 3.10.1",
    "m=audio 10010 RTP/AVP 96 9 0 8 101",
    "b=AS:80",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 stereo=1;sprop-stereo=1",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=sendrecv",
    "a=label:1",
    "a=ssrc:2953417374 cname:a1b2c3d4",
    "a=rtcp-rsize",
    "a=ptime:20",
)

# Asterisk chan_pjsip on a European system: PCMA preferred, events 0-16.
ASTERISK = sdp(
    "v=0",
    "o=- 1700000000 1700000002 IN IP4 203.0.113.10",
    "s=Asterisk",
    "c=IN IP4 203.0.113.10",
    "t=0 0",
    "m=audio 18142 RTP/AVP 8 0 101",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=maxptime:150",
    "a=sendrecv",
)

# Asterisk chan_sip putting the call on hold in a re-INVITE.
ASTERISK_HOLD = sdp(
    "v=0",
    "o=root 1821 1822 IN IP4 203.0.113.10",
    "s=Asterisk PBX 13.38.3",
    "c=IN IP4 203.0.113.10",
    "t=0 0",
    "m=audio 12110 RTP/AVP 0 8 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=silenceSupp:off - - - -",
    "a=ptime:20",
    "a=sendonly",
)

# A carrier's media gateway, as Twilio's Elastic SIP Trunking sends it.
TRUNK = sdp(
    "v=0",
    "o=root 1470532297 1470532297 IN IP4 198.51.100.7",
    "s=Twilio Media Gateway",
    "c=IN IP4 198.51.100.7",
    "t=0 0",
    "m=audio 15770 RTP/AVP 0 8 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=maxptime:150",
    "a=sendrecv",
)

# An older PBX: RFC 2543 hold by a null address, DTMF at 96, connection per media, IPv6 at session level.
OLD_PBX_HOLD = sdp(
    "v=0",
    "o=CiscoSystemsSIP-GW-UserAgent 4174 2345 IN IP6 2001:db8::5",
    "s=SIP Call",
    "c=IN IP6 2001:db8::5",
    "t=0 0",
    "m=audio 17406 RTP/AVP 8 96",
    "c=IN IP4 0.0.0.0",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:96 telephone-event/8000",
    "a=fmtp:96 0-16",
    "a=ptime:30",
)

# A softphone with video, and a fax gateway's T.38 stream already refused.
VIDEO_PHONE = sdp(
    "v=0",
    "o=linphone 3242 1235 IN IP4 192.168.1.30",
    "s=Talk",
    "c=IN IP4 192.168.1.30",
    "b=AS:380",
    "t=0 0",
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics",
    "m=audio 7078 RTP/AVP 96 0 8 101",
    "a=rtpmap:96 opus/48000/2",
    "a=rtpmap:101 telephone-event/8000",
    "a=rtcp-fb:* trr-int 1000",
    "m=video 9078 RTP/AVPF 97",
    "a=rtpmap:97 VP8/90000",
    "a=rtcp-fb:97 nack pli",
    "m=image 0 udptl t38",
)

GOLDEN = [SIPP, BARESIP, ASTERISK, ASTERISK_HOLD, TRUNK, OLD_PBX_HOLD, VIDEO_PHONE]


@pytest.mark.parametrize("text", GOLDEN)
def test_golden_round_trips(text: str) -> None:
    assert str(SessionDescription.parse(text)) == text
    assert SessionDescription.parse(text.encode()) == SessionDescription.parse(text)


def test_parse_fields() -> None:
    sd = SessionDescription.parse(BARESIP)
    assert sd.origin == "- 1146309411 2436325373 IN IP4 192.168.1.20"
    assert (sd.session_name, sd.connection, sd.version) == ("-", "192.168.1.20", 0)
    assert sd.attributes == [("tool", "baresip 3.10.1")]
    assert sd.other == [("t", "0 0")]
    audio = sd.audio()
    assert audio is not None
    assert (audio.kind, audio.port, audio.proto, audio.formats) == (
        "audio",
        10010,
        "RTP/AVP",
        [96, 9, 0, 8, 101],
    )
    assert audio.other == [("b", "AS:80")]
    assert ("rtcp-rsize", None) in audio.attributes
    assert audio.rtpmap() == {
        96: ("OPUS", 48000, 2),
        9: ("G722", 8000),
        0: ("PCMU", 8000),
        8: ("PCMA", 8000),
        101: ("TELEPHONE-EVENT", 8000),
    }
    assert audio.direction == "sendrecv"
    assert sd.address(audio) == ("192.168.1.20", 10010)


def test_static_payload_types_need_no_rtpmap() -> None:
    sd = SessionDescription.parse(
        SIPP.replace("a=rtpmap:0 PCMU/8000\r\n", "").replace("RTP/AVP 0", "RTP/AVP 0 8 18")
    )
    assert sd.media[0].rtpmap() == {0: ("PCMU", 8000), 8: ("PCMA", 8000), 18: ("G729", 8000)}
    # A dynamic payload type without rtpmap has no known encoding; a bad rtpmap is ignored the same way.
    media = Media("audio", 1, "RTP/AVP", [0, 97, 98], [("rtpmap", "97 iLBC"), ("rtpmap", "98 x/y")])
    assert media.rtpmap() == {0: ("PCMU", 8000)}


def test_media_connection_and_multicast_ttl() -> None:
    sd = SessionDescription.parse(OLD_PBX_HOLD)
    assert sd.address(sd.media[0]) == ("0.0.0.0", 17406)
    sd = SessionDescription.parse(SIPP.replace("c=IN IP4 192.0.2.10", "c=IN IP4 233.252.0.1/127"))
    assert sd.address(sd.media[0]) == ("233.252.0.1", 6000)


def test_non_rtp_formats_are_kept_as_tokens() -> None:
    image = SessionDescription.parse(VIDEO_PHONE).media[2]
    assert (image.kind, image.port, image.proto, image.formats, image.fmt) == (
        "image",
        0,
        "udptl",
        [],
        ["t38"],
    )


def test_lenient_line_ends() -> None:
    sd = SessionDescription.parse(TRUNK.replace("\r\n", "\n") + "\n\n")
    assert str(sd) == TRUNK


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "missing v= line"),
        (SIPP.replace("v=0\r\n", ""), "missing v= line"),
        (SIPP.replace("v=0", "v=x"), "bad v= line: 'x'"),
        (SIPP.replace("o=user1 53655765 2353687637 IN IP4 192.0.2.10\r\n", ""), "missing o= line"),
        (
            SIPP.replace("IN IP4 192.0.2.10\r\ns", "192.0.2.10\r\ns"),
            "bad o= line: 'user1 53655765 2353687637 192.0.2.10'",
        ),
        (SIPP.split("m=")[0], "missing m= line"),
        (SIPP.replace("c=IN IP4 192.0.2.10\r\n", ""), "no connection address for audio media"),
        (SIPP.replace("c=IN IP4 192.0.2.10", "c=IN IP4"), "bad c= line: 'IN IP4'"),
        (SIPP.replace("c=IN IP4", "c=ATM NSAP"), "bad c= line: 'ATM NSAP 192.0.2.10'"),
        (SIPP.replace("6000", "65536"), "bad port in m= line: 'audio 65536 RTP/AVP 0'"),
        (SIPP.replace("6000", "6000/2"), "bad port in m= line: 'audio 6000/2 RTP/AVP 0'"),
        (SIPP.replace("6000", "-1"), "bad port in m= line: 'audio -1 RTP/AVP 0'"),
        (
            SIPP.replace("RTP/AVP 0", "RTP/AVP 0 128"),
            "bad payload type in m= line: 'audio 6000 RTP/AVP 0 128'",
        ),
        (SIPP.replace("RTP/AVP 0", "RTP/AVP PCMU"), "bad payload type in m= line: 'audio 6000 RTP/AVP PCMU'"),
        (SIPP.replace("m=audio 6000 RTP/AVP 0", "m=audio 6000"), "bad m= line: 'audio 6000'"),
        (SIPP.replace("s=-", "session"), "bad SDP line: 'session'"),
        (SIPP.replace("s=-", "ss=-"), "bad SDP line: 'ss=-'"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SdpError) as caught:
        SessionDescription.parse(text)
    assert str(caught.value) == message


def test_not_utf8() -> None:
    with pytest.raises(SdpError, match="^SDP is not UTF-8$"):
        SessionDescription.parse(SIPP.encode().replace(b"s=-", b"s=\xff"))


def test_rejected_media_needs_no_connection() -> None:
    text = SIPP.replace("c=IN IP4 192.0.2.10\r\n", "").replace("6000", "0")
    assert SessionDescription.parse(text).media[0].port == 0


def test_written_without_timing_gets_t_line() -> None:
    sd = SessionDescription(
        "- 1 1 IN IP4 192.0.2.1", "", "192.0.2.1", [Media("audio", 0, "RTP/AVP", [0])], other=[]
    )
    assert str(sd) == sdp(
        "v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", "m=audio 0 RTP/AVP 0"
    )


# -- offers -----------------------------------------------------------------------------------------


def test_our_offer() -> None:
    assert str(offer("192.0.2.1", 20000, 4242)) == sdp(
        "v=0",
        "o=- 4242 0 IN IP4 192.0.2.1",
        "s=Telephonist",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 20000 RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    )
    held = str(offer("2001:db8::1", 20000, 4242, version=3, direction="sendonly"))
    assert "o=- 4242 3 IN IP6 2001:db8::1\r\n" in held
    assert "c=IN IP6 2001:db8::1\r\n" in held
    assert held.endswith("a=sendonly\r\n")


# -- answers ----------------------------------------------------------------------------------------


def answered(text: str, version: int = 0) -> tuple[str, Negotiated]:
    sd, result = answer(SessionDescription.parse(text), "192.0.2.1", 30000, 77, version)
    return str(sd), result


def test_answer_to_sipp() -> None:
    text, result = answered(SIPP)
    assert text == sdp(
        "v=0",
        "o=- 77 0 IN IP4 192.0.2.1",
        "s=Telephonist",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        "a=ptime:20",
        "a=sendrecv",
    )
    assert result == Negotiated(0, "PCMU", None, ("192.0.2.10", 6000), "sendrecv", 20)


def test_answer_picks_the_offerers_first_g711() -> None:
    text, result = answered(BARESIP, version=1)
    assert "o=- 77 1 IN IP4 192.0.2.1\r\n" in text
    assert "m=audio 30000 RTP/AVP 0 101\r\n" in text
    assert "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n" in text
    assert result == Negotiated(0, "PCMU", 101, ("192.168.1.20", 10010), "sendrecv", 20)
    assert answered(ASTERISK)[1] == Negotiated(8, "PCMA", 101, ("203.0.113.10", 18142), "sendrecv", 20)
    assert answered(TRUNK)[1] == Negotiated(0, "PCMU", 101, ("198.51.100.7", 15770), "sendrecv", 20)


def test_answer_pcma_only_with_events_at_96() -> None:
    text, result = answered(OLD_PBX_HOLD.replace("c=IN IP4 0.0.0.0", "c=IN IP4 192.0.2.99"))
    assert "m=audio 30000 RTP/AVP 8 96\r\n" in text
    assert (
        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\na=ptime:30\r\n" in text
    )
    assert result == Negotiated(8, "PCMA", 96, ("192.0.2.99", 17406), "sendrecv", 30)


def test_answer_events_without_fmtp() -> None:
    text, result = answered(TRUNK.replace("a=fmtp:101 0-16\r\n", ""))
    assert "fmtp" not in text
    assert result.dtmf_payload_type == 101


def test_answer_to_hold() -> None:
    text, result = answered(ASTERISK_HOLD)
    assert text.endswith("a=recvonly\r\n")
    assert result.direction == "recvonly"
    # RFC 2543 hold: we keep listening but send nothing to 0.0.0.0.
    text, result = answered(OLD_PBX_HOLD)
    assert text.endswith("a=recvonly\r\n")
    assert (result.direction, result.remote) == ("recvonly", ("0.0.0.0", 17406))
    assert answered(TRUNK.replace("a=sendrecv", "a=inactive"))[1].direction == "inactive"
    assert answered(TRUNK.replace("a=sendrecv", "a=recvonly"))[1].direction == "sendonly"
    # A session-level attribute applies to media that has none of its own.
    session_hold = TRUNK.replace("a=sendrecv\r\n", "").replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")
    assert answered(session_hold)[1].direction == "recvonly"
    assert answered(session_hold.replace("a=ptime:20", "a=ptime:20\r\na=sendrecv"))[1].direction == "sendrecv"


def test_answer_rejects_other_streams_with_port_zero() -> None:
    text, result = answered(VIDEO_PHONE)
    assert text == sdp(
        "v=0",
        "o=- 77 0 IN IP4 192.0.2.1",
        "s=Telephonist",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=ptime:20",
        "a=sendrecv",
        "m=video 0 RTP/AVPF 97",
        "m=image 0 udptl t38",
    )
    assert result == Negotiated(0, "PCMU", 101, ("192.168.1.30", 7078), "sendrecv", 20)


def test_answer_skips_rejected_and_secure_audio() -> None:
    text = TRUNK.replace("m=audio 15770", "m=audio 0 RTP/AVP 0\r\nm=audio 0 RTP/SAVP 0\r\nm=audio 15770")
    answer_text, result = answered(text)
    assert "m=audio 0 RTP/AVP 0\r\nm=audio 0 RTP/SAVP 0\r\nm=audio 30000 RTP/AVP 0 101\r\n" in answer_text
    assert result.remote == ("198.51.100.7", 15770)
    # A second usable audio stream is refused: a leg carries one.
    twice = TRUNK + TRUNK[TRUNK.index("m=") :]
    assert "m=audio 0 RTP/AVP 0 8 101\r\n" in answered(twice)[0]


@pytest.mark.parametrize(
    "text",
    [
        SIPP.replace("RTP/AVP 0", "RTP/AVP 18 9").replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000"),
        SIPP.replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/16000"),
        SIPP.replace("RTP/AVP", "RTP/SAVP"),
        SIPP.replace("m=audio 6000", "m=audio 0"),
        SIPP.replace("m=audio", "m=video"),
    ],
)
def test_no_common_codec(text: str) -> None:
    with pytest.raises(SdpError, match="^no common audio codec$"):
        answered(text)


# -- answers to our offers --------------------------------------------------------------------------

OURS = offer("192.0.2.1", 20000, 4242)


def test_negotiated_from_answers() -> None:
    assert negotiated(OURS, SessionDescription.parse(ASTERISK)) == Negotiated(
        8, "PCMA", 101, ("203.0.113.10", 18142), "sendrecv", 20
    )
    assert negotiated(OURS, SessionDescription.parse(SIPP)) == Negotiated(
        0, "PCMU", None, ("192.0.2.10", 6000), "sendrecv", 20
    )
    # Their events at another payload type: we send events at theirs.
    assert negotiated(OURS, SessionDescription.parse(OLD_PBX_HOLD)).dtmf_payload_type == 96


def test_negotiated_directions() -> None:
    def direction(ours: str, theirs: str) -> str:
        our_offer = offer("192.0.2.1", 20000, 4242, direction=ours)
        return negotiated(our_offer, SessionDescription.parse(TRUNK.replace("a=sendrecv", theirs))).direction

    assert direction("sendrecv", "a=recvonly") == "sendonly"
    assert direction("sendrecv", "a=sendonly") == "recvonly"
    assert direction("sendonly", "a=recvonly") == "sendonly"
    assert direction("sendonly", "a=inactive") == "inactive"
    assert direction("inactive", "a=sendrecv") == "inactive"
    assert negotiated(OURS, SessionDescription.parse(OLD_PBX_HOLD)).direction == "recvonly"


def test_negotiated_failures() -> None:
    with pytest.raises(SdpError, match="^audio stream rejected$"):
        negotiated(OURS, SessionDescription.parse(TRUNK.replace("m=audio 15770", "m=audio 0")))
    with pytest.raises(SdpError, match="^no common audio codec$"):
        negotiated(OURS, SessionDescription.parse(SIPP.replace("PCMU/8000", "G729/8000")))
    pcmu_only = offer("192.0.2.1", 20000, 4242)
    audio = pcmu_only.media[0]
    audio.formats = [0]
    with pytest.raises(SdpError, match="^no common audio codec$"):
        negotiated(pcmu_only, SessionDescription.parse(OLD_PBX_HOLD))


def test_our_offer_answered_by_ourselves() -> None:
    their_answer, theirs = answer(OURS, "192.0.2.2", 40000, 1)
    ours = negotiated(OURS, SessionDescription.parse(str(their_answer)))
    assert ours == Negotiated(0, "PCMU", 101, ("192.0.2.2", 40000), "sendrecv", 20)
    assert theirs == Negotiated(0, "PCMU", 101, ("192.0.2.1", 20000), "sendrecv", 20)


# -- properties -------------------------------------------------------------------------------------

token = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
name = token.filter(lambda t: ":" not in t)
text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=20).filter(
    lambda t: t == t.strip()
)
attribute = st.tuples(name, st.none() | st.just("") | text)
address = st.sampled_from(["192.0.2.1", "2001:db8::1", "example.com", "233.252.0.1/64"])
media_lines = st.lists(st.tuples(st.sampled_from("ibk"), text), max_size=3).map(
    lambda lines: sorted(lines, key=lambda line: "ibk".index(line[0]))
)
medias = st.builds(
    Media,
    kind=token,
    port=st.integers(1, 65535),
    proto=st.sampled_from(["RTP/AVP", "RTP/SAVPF"]),
    formats=st.lists(st.integers(0, 127), max_size=5),
    attributes=st.lists(attribute, max_size=4),
    connection=st.none() | address,
    other=media_lines,
) | st.builds(
    Media,
    kind=token,
    port=st.integers(0, 65535),
    proto=st.just("udptl"),
    formats=st.just([]),
    fmt=st.lists(token, min_size=1, max_size=2),
    connection=address,
)
descriptions = st.builds(
    SessionDescription,
    origin=st.lists(token, min_size=6, max_size=6).map(" ".join),
    session_name=text,
    connection=address,
    media=st.lists(medias, min_size=1, max_size=3),
    attributes=st.lists(attribute, max_size=4),
    other=st.lists(st.tuples(st.sampled_from("iuk"), text), max_size=3).map(
        lambda lines: sorted([*lines, ("t", "0 0")], key=lambda line: "iutk".index(line[0]))
    ),
)


@given(descriptions)
def test_round_trip(sd: SessionDescription) -> None:
    assert SessionDescription.parse(str(sd)) == sd


@given(st.binary(max_size=200))
def test_parse_raises_only_sdp_error_on_bytes(data: bytes) -> None:
    try:
        SessionDescription.parse(data)
    except SdpError:
        pass


HEADER = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
# Mostly lines that parse, so that answer() and negotiated() see odd but valid descriptions too.
one_line = st.text(st.characters(blacklist_characters="\r\n"), max_size=20)
valid_line = st.one_of(
    st.builds(
        "a={}{}".format,
        st.sampled_from(["rtpmap:", "fmtp:", "ptime:", "sendonly", "recvonly", "inactive", ""]),
        st.sampled_from(
            ["0 PCMU/8000", "8 pcma/8000/1", "96 PCMA/8000", "101 telephone-event/8000", "101 0-15"]
        )
        | one_line,
    ),
    st.builds(
        "m={} {} {} {}".format,
        st.sampled_from(["audio", "audio", "video"]),
        st.sampled_from(["0", "1", "6000"]),
        st.sampled_from(["RTP/AVP", "RTP/AVP", "RTP/SAVP"]),
        st.sampled_from(["0", "8 101", "96 0 101", "18", ""]),
    ),
    st.sampled_from(["c=IN IP4 0.0.0.0", "c=IN IP6 ::", "c=IN IP4 192.0.2.3", "b=AS:64"]),
)
line = st.one_of(valid_line, valid_line, valid_line, one_line)


@given(st.booleans(), st.lists(line, max_size=12))
def test_parse_and_answer_raise_only_sdp_error(header: bool, lines: list[str]) -> None:
    try:
        sd = SessionDescription.parse((HEADER if header else "v=0\r\n") + "\r\n".join(lines))
    except SdpError:
        return
    for step in (lambda: answer(sd, "192.0.2.1", 30000, 1), lambda: negotiated(OURS, sd)):
        try:
            step()
        except SdpError:
            pass
