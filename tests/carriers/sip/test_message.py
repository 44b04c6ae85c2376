"""SIP message codec: RFC 4475 torture messages, RFC 3261 §24 round trips, stream framing, header values."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephonist.carriers.sip.message import (
    BRANCH_MAGIC_COOKIE,
    Headers,
    Message,
    NameAddr,
    Request,
    Response,
    SipError,
    StreamParser,
    Uri,
    Via,
    cseq,
    format_auth,
    new_branch,
    new_call_id,
    new_tag,
    parse,
    parse_auth,
)

FUZZ = settings(max_examples=80, deadline=None)
PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def crlf(text: str) -> bytes:
    """A message written with \\n line ends, as it goes on the wire."""
    return text.replace("\n", "\r\n").encode()


def request(data: bytes) -> Request:
    message = parse(data)
    assert isinstance(message, Request)
    return message


def rejected(data: bytes, status: int = 400) -> SipError:
    with pytest.raises(SipError) as info:
        parse(data)
    assert info.value.status == status, info.value
    return info.value


SDP_150 = """v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""

# RFC 4475 3.1.1.1, a short tortuous INVITE.
WSINV = crlf(
    r"""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

"""
    + SDP_150
)

# RFC 4475 3.1.1.2, a wide range of valid characters (quoted BEL, NUL and DEL; UTF-8 values).
INTMETH = crlf(
    "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    ":&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
    'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" '
    "<sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;"
    "fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.\n"
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
    "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
    "Max-Forwards: 255\n"
    "extensionHeader-!.%*+_`'~:\ufeff大停電\n"
    "Content-Length: 0\n"
    "\n"
)

# RFC 4475 3.1.1.3, escaped characters in URIs and a compact Content-Type written in upper case.
ESC01 = crlf(
    """INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

"""
    + SDP_150.replace("192.0.2.3", "192.0.2.1").replace("192.0.2.4", "192.0.2.1")
)

# RFC 4475 3.1.1.4, %-escapes that are no escapes: in a method and a header name.
ESC02 = crlf(
    """RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209nsdf
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

"""
)

ESCNULL = crlf(
    """REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

"""
)

LWSDISP = crlf(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

"""
)

SEMIURI = crlf(
    """OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

"""
)

TRANSPORTS = crlf(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

"""
)

NOREASON = crlf(
    """SIP/2.0 100 \nTo: <sip:user@example.com>
From: <sip:user@example.com>;tag=38
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Content-Length: 0

"""
)

UNREASON = crlf(
    """SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 0

"""
)

IPV6 = crlf(
    """REGISTER sip:[2001:db8::10]:5070 SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=81x2
Via: SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111
Call-ID: SSG9559905523997077@hlau_4100
Max-Forwards: 70
Contact: "Caller" <sip:caller@[2001:db8::1]>
CSeq: 98176 REGISTER
Content-Length: 0

"""
)


def test_wsinv_short_tortuous_invite() -> None:
    msg = request(WSINV)
    assert (msg.method, msg.uri) == ("INVITE", "sip:vivekg@chair-dnrc.example.com;unknownparam")
    h = msg.headers
    to = NameAddr.parse(h.get("To") or "")
    assert (str(to.uri), to.display, to.tag) == ("sip:vivekg@chair-dnrc.example.com", None, "1918181833n")
    frm = NameAddr.parse(h.get("f") or "")
    assert (frm.display, frm.tag, str(frm.uri)) == ('J Rosenberg \\"', "98asjd8", "sip:jdrosen@example.com")
    assert h.get("Max-Forwards") == "0068"
    assert cseq(h) == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in map(Via.parse, h.get_all("Via"))] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert h.get("Subject") == ""
    assert h.get("NEWFANGLEDHEADER") == "newfangled value continued newfangled value"
    assert h.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    route = NameAddr.parse(h.get("Route") or "").uri
    assert route.params == (("lr", None), ("unknownwith", "value"), ("unknown-no-value", None))
    [contact] = [NameAddr.parse(c) for c in h.get_all("Contact")]
    assert contact.display == 'Quoted string ""'
    assert contact.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert len(msg.body) == 150 and msg.body.startswith(b"v=0\r\n")
    assert [name for name, _ in h.items()][:4] == ["To", "From", "Max-Forwards", "Call-ID"]
    assert parse(bytes(msg)) == msg


def test_intmeth_wide_range_of_characters() -> None:
    msg = request(INTMETH)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = Uri.parse(msg.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert (uri.host, str(uri)) == ("example.com", msg.uri)
    assert NameAddr.parse(msg.headers.get("To") or "").display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    frm = NameAddr.parse(msg.headers.get("From") or "")
    assert frm.display == "token1~` token2'+_ token3*%!.-"
    assert frm.params == (("fromParam''~+*_!.-%", '"работающий"'), ("tag", "_token~1'+`*%!-."))
    assert Via.parse(msg.headers.get("Via") or "").branch == "z9hG4bK-.!%66*_+`'~"
    assert msg.headers.get("Call-ID") == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert bytes(msg) == INTMETH.replace(b"~:\xef", b"~: \xef")  # the one header written without a space


def test_esc01_escaped_uris_and_compact_headers() -> None:
    msg = request(ESC01)
    assert Uri.parse(msg.uri).user == "sips%3Auser%40example.com"
    assert Uri.parse(msg.headers.get("To") or "").user == "%75se%72"
    assert msg.headers.get("Content-Type") == "application/sdp"
    assert msg.headers.get("Call-ID") == "esc01.239409asdfakjkn23onasd0-3234"
    contact = NameAddr.parse(msg.headers.get("Contact") or "")
    assert contact.uri.params == (("%6C%72", None), ("n%61me", "v%61lue%25%34%31"))
    assert len(msg.body) == 150
    names = [name for name, _ in msg.headers.items()]
    assert names[3:7] == ["Call-ID", "CSeq", "Via", "Content-Type"]


def test_esc02_percent_is_no_escape_in_methods_and_header_names() -> None:
    msg = request(ESC02)
    assert msg.method == "RE%47IST%45R" and cseq(msg.headers) == (29344, "RE%47IST%45R")
    assert NameAddr.parse(msg.headers.get("To") or "").display == "%Z%45"
    assert msg.headers.get_all("Contact") == [
        "<sip:alias1@host1.example.com>",
        "<sip:alias3@host3.example.com>",
    ]
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_escnull_lwsdisp_semiuri_transports() -> None:
    assert [NameAddr.parse(c).uri.user for c in request(ESCNULL).headers.get_all("m")] == ["%00", "%00%00"]
    frm = NameAddr.parse(request(LWSDISP).headers.get("From") or "")
    assert (frm.display, frm.tag) == ("caller", "323")
    semi = request(SEMIURI)
    uri = Uri.parse(semi.uri)
    assert (uri.user, uri.host, uri.params) == ("user;par=u%40example.net", "example.com", ())
    assert semi.headers.get("Accept") == (
        "application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, message/sip, "
        "message/sipfrag"
    )
    vias = [Via.parse(v) for v in request(TRANSPORTS).headers.get_all("Via")]
    assert [v.transport for v in vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert request(TRANSPORTS).headers.get("Call-ID") == "transports.kijh4akdnaqjkwendsasfdj"


def test_responses_without_or_with_unusual_reason_phrase() -> None:
    noreason = parse(NOREASON)
    assert isinstance(noreason, Response) and (noreason.status, noreason.reason) == (100, "")
    assert bytes(noreason) == NOREASON
    unreason = parse(UNREASON)
    assert isinstance(unreason, Response)
    assert unreason.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert bytes(unreason) == UNREASON


def test_ipv6_hosts() -> None:
    msg = request(IPV6)
    uri = Uri.parse(msg.uri)
    assert (uri.host, uri.port, str(uri)) == ("2001:db8::10", 5070, "sip:[2001:db8::10]:5070")
    via = Via.parse(msg.headers.get("Via") or "")
    assert (via.host, via.port, str(via)) == ("2001:db8::9:1", 6050, msg.headers.get("Via"))
    contact = NameAddr.parse(msg.headers.get("Contact") or "")
    assert (contact.display, contact.uri.host) == ("Caller", "2001:db8::1")
    rejected(IPV6.replace(b"sip:[2001:db8::10]:5070", b"sip:2001:db8::10"))
    rejected(IPV6.replace(b"[2001:db8::10]", b"[2001:db8::zz]"))


# RFC 3261 §24.2, with Content-Length set to what the bodies as printed here measure.
F1_SDP = """v=0
o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
F1_INVITE = crlf(
    f"""INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>
Content-Type: application/sdp
Content-Length: {len(crlf(F1_SDP))}

{F1_SDP}"""
)
F2_407 = crlf(
    """SIP/2.0 407 Proxy Authorization Required
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=3flal12sf
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Proxy-Authenticate: Digest realm="atlanta.example.com", qop="auth", nonce="f84f1cec41e6cbe5aea9c8e88d359", \
opaque="", stale=FALSE, algorithm=MD5
Content-Length: 0

"""
)
F8_180 = crlf(
    """SIP/2.0 180 Ringing
Via: SIP/2.0/TLS ss1.atlanta.example.com:5061;branch=z9hG4bK2d4790.1;received=192.0.2.111
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
Record-Route: <sip:ss1.atlanta.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=314159
Call-ID: 3848276298220188511@atlanta.example.com
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>
CSeq: 2 INVITE
Content-Length: 0

"""
)
F14_BYE = crlf(
    """BYE sip:alice@client.atlanta.example.com SIP/2.0
Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7
Max-Forwards: 70
Route: <sip:ss1.atlanta.example.com;lr>
From: Bob <sip:bob@biloxi.example.com>;tag=314159
To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 BYE
Content-Length: 0

"""
)
ROUND_TRIPS = [F1_INVITE, F2_407, F8_180, F14_BYE, NOREASON, UNREASON, IPV6]


@pytest.mark.parametrize("data", ROUND_TRIPS)
def test_exact_round_trip(data: bytes) -> None:
    message = parse(data)
    assert bytes(message) == data
    assert parse(bytes(message)) == message


def test_serializing_canonicalizes_names_and_rewrites_content_length() -> None:
    msg = request(ESC02)
    text = bytes(msg).decode()
    assert "\r\nContent-Length: 0\r\n\r\n" in text and "\r\nC%6Fntact: " in text and "\nl:" not in text
    msg.body = b"hello"
    msg.headers.add("Content-Length", "999")  # a second one is dropped, the first rewritten
    assert bytes(msg).endswith(b"Contact: <sip:alias3@host3.example.com>\r\nContent-Length: 5\r\n\r\nhello")
    assert bytes(Request("OPTIONS", "sip:a@b.example", body=b"xyz")) == (
        b"OPTIONS sip:a@b.example SIP/2.0\r\nContent-Length: 3\r\n\r\nxyz"
    )
    assert bytes(Response(200, "OK")) == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"


def test_bare_lf_keepalives_missing_length_and_extra_bytes() -> None:
    head, body = F1_INVITE.split(b"\r\n\r\n", 1)
    bare = head.replace(b"\r\n", b"\n") + b"\n\n" + body
    assert bytes(parse(b"\r\n\r\n" + bare)) == F1_INVITE
    no_length = F1_INVITE.replace(b"Content-Length: %d\r\n" % len(crlf(F1_SDP)), b"")
    assert b"Content-Length" not in no_length and parse(no_length).body == crlf(F1_SDP)
    assert parse(F1_INVITE + b"trailing junk").body == crlf(F1_SDP)


def with_line(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


BAD_MESSAGES = [
    ("empty", b""),
    ("only keep-alives", b"\r\n\r\n"),
    ("http", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    ("no blank line", F14_BYE[:-2]),
    ("mismatch01 CSeq method", with_line(F14_BYE, b"CSeq: 1 BYE", b"CSeq: 1 INVITE")),
    ("mismatch02 unknown method", with_line(F14_BYE, b"BYE sip:", b"NEWMETHOD sip:")),
    ("CSeq without method", with_line(F14_BYE, b"CSeq: 1 BYE", b"CSeq: 1")),
    ("CSeq not a number", with_line(F14_BYE, b"CSeq: 1 BYE", b"CSeq: one BYE")),
    ("scalar02 CSeq over 2**31", with_line(F14_BYE, b"CSeq: 1 BYE", b"CSeq: 36893488147419103232 BYE")),
    ("Max-Forwards over 255", with_line(F14_BYE, b"Max-Forwards: 70", b"Max-Forwards: 300")),
    ("missing Call-ID", with_line(F14_BYE, b"Call-ID: 3848276298220188511@atlanta.example.com\r\n", b"")),
    ("missing Via", with_line(F14_BYE, F14_BYE.split(b"\r\n")[1] + b"\r\n", b"")),
    ("two To", with_line(F14_BYE, b"Call-ID:", b"t: <sip:x@example.com>\r\nCall-ID:")),
    ("ncl negative Content-Length", with_line(F1_INVITE, b"Content-Length: 151", b"Content-Length: -999")),
    ("clerr truncated body", with_line(F1_INVITE, b"Content-Length: 151", b"Content-Length: 9999")),
    ("mcl01 two Content-Length", with_line(F14_BYE, b"Content-Length: 0", b"Content-Length: 0\r\nl: 5")),
    (
        "ltgtruri",
        with_line(F14_BYE, b"BYE sip:alice@client.atlanta.example.com", b"BYE <sip:a@b.example.com>"),
    ),
    ("two spaces in request line", with_line(F14_BYE, b"BYE sip:", b"BYE  sip:")),
    ("bad method", with_line(F14_BYE, b"BYE sip:", b"B(E sip:")),
    ("junk Request-URI", with_line(F14_BYE, b"BYE sip:alice@client", b"BYE sip:alice@@client")),
    ("bigcode status", with_line(F8_180, b"180 Ringing", b"4294967301 better not break the receiver")),
    ("no colon", with_line(F14_BYE, b"Max-Forwards: 70", b"Max-Forwards 70")),
    ("bad header name", with_line(F14_BYE, b"Max-Forwards: 70", b"Max Forwards: 70")),
    ("fold before first header", with_line(F14_BYE, b"SIP/2.0\r\n", b"SIP/2.0\r\n folded\r\n")),
    ("bare CR", with_line(F14_BYE, b"Max-Forwards: 70", b"Max-Forwards: 70\rX: y")),
    ("not UTF-8", with_line(F14_BYE, b"Bob <", b"B\xffb <")),
    (
        "header line over 8 KiB",
        with_line(F14_BYE, b"Content-Length", b"X: " + b"a" * 8192 + b"\r\nContent-Length"),
    ),
    (
        "folded line over 8 KiB",
        with_line(F14_BYE, b"Content-Length", b"X: a" + b"\r\n " + b"a" * 8190 + b"\r\nl"),
    ),
    ("201 headers", with_line(F14_BYE, b"Content-Length", b"X: a\r\n" * 193 + b"Content-Length")),
]


@pytest.mark.parametrize("data", [data for _, data in BAD_MESSAGES], ids=[name for name, _ in BAD_MESSAGES])
def test_bad_request(data: bytes) -> None:
    rejected(data, 400)


def test_error_messages_say_why() -> None:
    assert str(
        rejected(with_line(F14_BYE, b"Call-ID: 3848276298220188511@atlanta.example.com\r\n", b""))
    ) == ("400 Bad Request: Missing Call-ID header")
    bad = dict(BAD_MESSAGES)
    assert "More than 200 headers" in str(rejected(bad["201 headers"]))
    assert "longer than 8192 bytes" in str(rejected(bad["header line over 8 KiB"]))
    assert "longer than 8192 bytes" in str(rejected(bad["folded line over 8 KiB"]))
    assert "Bare CR" in str(rejected(bad["bare CR"]))
    assert parse(with_line(F14_BYE, b"Content-Length", b"X: a\r\n" * 192 + b"Content-Length"))  # 200 headers
    assert parse(with_line(F14_BYE, b"Content-Length", b"X: " + b"a" * 8189 + b"\r\nContent-Length"))  # 8192
    assert "not valid UTF-8" in str(rejected(with_line(F14_BYE, b"Bob <", b"B\xffb <")))
    error = rejected(with_line(F14_BYE, b"CSeq: 1 BYE", b"CSeq: 1 INVITE"))
    assert error.detail == "CSeq method INVITE does not match request method BYE"


def test_unsupported_version_and_oversize() -> None:
    badvers = crlf(
        """OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

"""
    )
    assert rejected(badvers, 505).reason == "Version Not Supported"
    assert rejected(with_line(F8_180, b"SIP/2.0 180", b"SIP/3.0 180"), 505)
    assert parse(F1_INVITE, max_size=len(F1_INVITE)).body == crlf(F1_SDP)
    with pytest.raises(SipError) as info:
        parse(F1_INVITE, max_size=len(F1_INVITE) - 1)
    assert (info.value.status, info.value.reason) == (513, "Message Too Large")


# -- stream framing -------------------------------------------------------------------------------


def feed_all(parser: StreamParser, chunks: list[bytes]) -> list[Message]:
    return [message for chunk in chunks for message in parser.feed(chunk)]


def test_stream_split_at_every_byte_boundary() -> None:
    data = F1_INVITE + b"\r\n\r\n" + F8_180  # a double-CRLF keep-alive between them
    expected = [parse(F1_INVITE), parse(F8_180)]
    for cut in range(len(data) + 1):
        assert feed_all(StreamParser(), [data[:cut], data[cut:]]) == expected, cut
    assert feed_all(StreamParser(), [data[i : i + 1] for i in range(len(data))]) == expected


def test_stream_two_messages_in_one_feed_and_a_partial_third() -> None:
    parser = StreamParser()
    assert parser.feed(F14_BYE + F1_INVITE + F8_180[:40]) == [parse(F14_BYE), parse(F1_INVITE)]
    assert parser.feed(F8_180[40:]) == [parse(F8_180)]
    assert parser.feed(b"") == []


def test_stream_requires_content_length_and_bounds_size() -> None:
    with pytest.raises(SipError, match="Missing Content-Length"):
        StreamParser().feed(F14_BYE.replace(b"Content-Length: 0\r\n", b""))
    head = F1_INVITE.index(b"\r\n\r\n") + 4
    parser = StreamParser(max_size=head + 150)
    with pytest.raises(SipError) as info:  # the head fits, its Content-Length of 151 does not
        parser.feed(F1_INVITE[: head + 1])
    assert info.value.status == 513
    assert StreamParser(max_size=len(F1_INVITE)).feed(F1_INVITE) == [parse(F1_INVITE)]
    with pytest.raises(SipError) as info:
        StreamParser(max_size=100).feed(b"INVITE sip:a@b.example.com SIP/2.0\r\nX: " + b"y" * 100)
    assert info.value.status == 513


def test_stream_fails_fast_on_garbage_and_reads_on_after_a_bad_message() -> None:
    with pytest.raises(SipError, match="Not a SIP message"):
        StreamParser().feed(b"GET / HTTP/1.1\r\n")
    parser = StreamParser()
    no_call_id = F14_BYE.replace(b"Call-ID: 3848276298220188511@atlanta.example.com\r\n", b"")
    with pytest.raises(SipError, match="Missing Call-ID"):
        parser.feed(no_call_id + F8_180)
    assert parser.feed(b"") == [parse(F8_180)]


# -- fuzzing: parsers raise SipError and nothing else -----------------------------------------------


def only_sip_errors(data: bytes) -> None:
    try:
        message = parse(data)
    except SipError as error:
        assert error.status in (400, 416, 505, 513)
    else:  # writing normalizes (names, Content-Length) once; after that it is a fixed point
        assert bytes(parse(bytes(message))) == bytes(message)


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_parse_arbitrary_bytes(data: bytes) -> None:
    only_sip_errors(data)
    only_sip_errors(b"INVITE sip:a@b.example.com SIP/2.0\r\n" + data)


EDIT = st.tuples(
    st.integers(min_value=0),
    st.sampled_from(["insert", "delete", "replace"]),
    st.one_of(
        st.binary(min_size=1, max_size=3), st.sampled_from([b"\r\n", b"\n ", b":", b";", b",", b'"', b"<"])
    ),
)


@FUZZ
@given(st.lists(EDIT, min_size=1, max_size=6))
def test_fuzz_parse_mutated_invite(edits: list[tuple[int, str, bytes]]) -> None:
    data = bytearray(F1_INVITE)
    for where, kind, chunk in edits:
        at = where % (len(data) + 1)
        if kind == "insert":
            data[at:at] = chunk
        else:
            data[at : at + len(chunk)] = chunk if kind == "replace" else b""
    only_sip_errors(bytes(data))


@FUZZ
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_fuzz_stream(chunks: list[bytes]) -> None:
    try:
        for message in feed_all(StreamParser(max_size=200), [F14_BYE[:30], *chunks]):
            assert bytes(parse(bytes(message))) == bytes(message)
    except SipError:
        pass


HEADER_TEXT = st.text(
    alphabet=st.sampled_from(list('sip:@[]<>";=,.\\ \tabc1-5%?&/')) | st.characters(), max_size=60
)


@FUZZ
@given(HEADER_TEXT)
def test_fuzz_header_value_parsers(text: str) -> None:
    parsers = [Uri.parse, NameAddr.parse, Via.parse, parse_auth]
    if "\r" not in text and "\n" not in text:
        parsers.append(lambda value: cseq(Headers([("CSeq", value)])))
    for parser in parsers:
        try:
            parser(text)
        except SipError:
            pass
    for prefix in ("sip:", "<sip:a@b>;", "SIP/2.0/UDP h;", "Digest "):
        for parser in (Uri.parse, NameAddr.parse, Via.parse, parse_auth):
            try:
                parser(prefix + text)
            except SipError:
                pass


# -- header values ----------------------------------------------------------------------------------


def test_headers_are_ordered_case_insensitive_and_expand_compact_forms() -> None:
    h = Headers([("v", "SIP/2.0/UDP a.example.com, SIP/2.0/UDP b.example.com"), ("i", "abc"), ("X-Odd", "1")])
    assert h.items() == [
        ("Via", "SIP/2.0/UDP a.example.com, SIP/2.0/UDP b.example.com"),
        ("Call-ID", "abc"),
        ("X-Odd", "1"),
    ]
    assert h.get("VIA") == "SIP/2.0/UDP a.example.com" and h.get("call-id") == "abc" and h.get("x-odd") == "1"
    assert h.get("To") is None and h.get("To", "none") == "none" and "t" not in h and "I" in h and 3 not in h
    h.prepend("Via", "SIP/2.0/UDP top.example.com")
    h.prepend("Record-Route", "<sip:p.example.com;lr>")
    assert h.get_all("v") == [
        "SIP/2.0/UDP top.example.com",
        "SIP/2.0/UDP a.example.com",
        "SIP/2.0/UDP b.example.com",
    ]
    assert [name for name, _ in h.items()] == ["Record-Route", "Via", "Via", "Call-ID", "X-Odd"]
    h.set("via", "SIP/2.0/TCP only.example.com")
    h.set("m", "<sip:c@example.com>")
    assert [name for name, _ in h.items()] == ["Record-Route", "Via", "Call-ID", "X-Odd", "Contact"]
    copy = h.copy()
    copy.remove("VIA")
    assert "Via" in h and "Via" not in copy and copy != h and len(copy) == 4
    with pytest.raises(ValueError, match="CR or LF"):
        h.add("Subject", "hi\r\nVia: injected")
    with pytest.raises(ValueError, match="Invalid header name"):
        h.add("Bad Name", "x")


def test_get_all_splits_lists_outside_quotes_and_angle_brackets() -> None:
    h = Headers()
    h.add("Contact", '"Doe, John" <sip:j@a.example.com;x="1,2">;q=0.5, <sip:k@b.example.com?h=a,b> , sip:l@c')
    h.add("Contact", "*")
    h.add("Accept", "application/sdp, text/plain")
    assert h.get_all("Contact") == [
        '"Doe, John" <sip:j@a.example.com;x="1,2">;q=0.5',
        "<sip:k@b.example.com?h=a,b>",
        "sip:l@c",
        "*",
    ]
    assert h.get_all("Accept") == ["application/sdp, text/plain"]  # not a list header: read whole


URIS = [
    ("sip:alice@atlanta.com", ("sip", "alice", None, "atlanta.com", None, (), "")),
    (
        "sip:alice:secretword@atlanta.com;transport=tcp",
        ("sip", "alice", "secretword", "atlanta.com", None, (("transport", "tcp"),), ""),
    ),
    (
        "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
        ("sips", "alice", None, "atlanta.com", None, (), "subject=project%20x&priority=urgent"),
    ),
    (
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        ("sip", "+1-212-555-1212", "1234", "gateway.com", None, (("user", "phone"),), ""),
    ),
    ("sips:1212@gateway.com", ("sips", "1212", None, "gateway.com", None, (), "")),
    ("sip:alice@192.0.2.4:5070", ("sip", "alice", None, "192.0.2.4", 5070, (), "")),
    (
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        ("sip", None, None, "atlanta.com", None, (("method", "REGISTER"),), "to=alice%40atlanta.com"),
    ),
    ("sip:alice;day=tuesday@atlanta.com", ("sip", "alice;day=tuesday", None, "atlanta.com", None, (), "")),
    ("sip:[2001:db8::1]:5060;lr", ("sip", None, None, "2001:db8::1", 5060, (("lr", None),), "")),
    ("SIP:Bob@Biloxi.Example.COM", ("SIP", "Bob", None, "Biloxi.Example.COM", None, (), "")),
    (
        "tel:+1-201-555-0123;phone-context=example.com",
        ("tel", "+1-201-555-0123", None, "", None, (("phone-context", "example.com"),), ""),
    ),
]


@pytest.mark.parametrize(("text", "fields"), URIS)
def test_uri_parse_and_exact_round_trip(text: str, fields: tuple[object, ...]) -> None:
    uri = Uri.parse(text)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port, uri.params, uri.headers) == fields
    assert str(uri) == text


def test_uri_params_and_rejections() -> None:
    uri = Uri.parse("sip:p.example.com;lr;transport=TCP")
    assert (uri.param("lr"), uri.param("TRANSPORT"), uri.param("maddr")) == ("", "TCP", None)
    for junk in ["", "sip", "sip:", "sip:@example.com", "sip:a@", "sip:a@b:99999", "sip:a@b:", "sip:a b@c",
                 "sip:<a@b>", "sip:a@[::zz]", "sip:a@b;=x", "sip:a@b;x=", "1sip:a@b", "tel:"]:  # fmt: skip
        with pytest.raises(SipError) as info:
            Uri.parse(junk)
        assert info.value.status == 400, junk
    with pytest.raises(SipError) as info:
        Uri.parse("http://example.com/")
    assert (info.value.status, info.value.reason) == (416, "Unsupported URI Scheme")


TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
HOSTS = st.one_of(
    st.sampled_from(["example.com", "a", "host-1.example.net", "xn--bcher-kva.example", "192.0.2.1"]),
    st.ip_addresses().map(str),
)
TOKENS = st.text(TOKEN_CHARS, min_size=1, max_size=8)
PARAMS = st.lists(st.tuples(TOKENS, st.none() | TOKENS), max_size=3).map(tuple)
URI_STRATEGY = st.builds(
    Uri,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none()
    | st.text(string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/%", min_size=1, max_size=10),
    host=HOSTS,
    port=st.none() | st.integers(0, 65535),
    params=PARAMS,
    headers=st.sampled_from(["", "subject=hi", "to=alice%40atlanta.com&priority=urgent"]),
)


@PROPERTY
@given(URI_STRATEGY)
def test_uri_round_trip_property(uri: Uri) -> None:
    assert Uri.parse(str(uri)) == uri


@PROPERTY
@given(
    uri=URI_STRATEGY,
    display=st.none() | st.text(max_size=12) | TOKENS,
    params=PARAMS,
)
def test_name_addr_round_trip_property(
    uri: Uri, display: str | None, params: tuple[tuple[str, str | None]]
) -> None:
    name_addr = NameAddr(uri, display, params)
    assert NameAddr.parse(str(name_addr)) == name_addr


def test_name_addr_forms() -> None:
    bob = NameAddr.parse("Bob <sip:bob@biloxi.example.com>;tag=a6c85cf")
    assert (bob.display, bob.tag, str(bob)) == (
        "Bob",
        "a6c85cf",
        "Bob <sip:bob@biloxi.example.com>;tag=a6c85cf",
    )
    quoted = NameAddr.parse('"Alice \\"Al\\" Smith" <sip:alice@atlanta.example.com>')
    assert quoted.display == 'Alice "Al" Smith' and quoted.tag is None
    assert str(quoted.with_tag("1928301774")) == (
        '"Alice \\"Al\\" Smith" <sip:alice@atlanta.example.com>;tag=1928301774'
    )
    # RFC 3261 20.10: with a bare URI the params are the header's; written back with <>.
    bare = NameAddr.parse("sip:carol@chicago.example.com;transport=udp;tag=887s")
    assert bare.uri.params == () and bare.params == (("transport", "udp"), ("tag", "887s"))
    assert str(bare) == "<sip:carol@chicago.example.com>;transport=udp;tag=887s"
    angle = NameAddr.parse("<sip:carol@chicago.example.com;transport=udp>;tag=887s")
    assert angle.uri.param("transport") == "udp" and angle.with_tag("x").tag == "x"
    assert NameAddr.parse("<tel:+15551234567>").uri.user == "+15551234567"
    assert NameAddr.parse('"Mr. Watson" < sip:t.watson@example.org >').uri.host == "example.org"  # badaspec
    assert (
        NameAddr.parse('<sip:a@b>;+sip.instance="<urn:uuid:1;2>"').param("+sip.instance")
        == '"<urn:uuid:1;2>"'
    )
    bare_instance = NameAddr.parse('sip:a@b.example.com;+sip.instance="<urn:uuid:1>";expires=60')
    assert bare_instance.uri.host == "b.example.com" and bare_instance.param("expires") == "60"
    for junk in ['"Mr. J. User <sip:j.user@example.com>', '"x" sip:a@b', "<sip:a@b", "<sip:a@b> tag=1", "*",
                 "<sip:a@b>;;tag=1"]:  # fmt: skip
        with pytest.raises(SipError):
            NameAddr.parse(junk)


def test_via() -> None:
    text = "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport"
    via = Via.parse(text)
    assert (via.transport, via.host, via.port, via.branch, via.param("rport"), str(via)) == (
        "UDP", "pc33.atlanta.example.com", None, "z9hG4bK776asdhds", "", text,
    )  # fmt: skip
    answered = via.with_params(rport="5066", received="192.0.2.4")
    assert str(answered) == (
        "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport=5066;received=192.0.2.4"
    )
    assert str(Via("tls", "::1", 5061).with_params(branch="z9hG4bKx", rport=None)) == (
        "SIP/2.0/tls [::1]:5061;branch=z9hG4bKx;rport"
    )
    assert Via.parse("sip/2.0/tcp h.example.com : 5062 ; maddr=224.2.0.1 ;ttl=16").port == 5062
    assert Via.parse('SIP/2.0/UDP h;x="a;b"').params == (("x", '"a;b"'),)
    for junk in [
        "",
        "SIP/2.0/UDP",
        "SIP/3.0/UDP h",
        "SIP/2.0 h",
        "SIP/2.0/UDP h:port",
        "SIP/2.0/UDP h;",
        "UDP h",
    ]:
        with pytest.raises(SipError):
            Via.parse(junk)


@PROPERTY
@given(
    st.builds(
        Via,
        transport=st.sampled_from(["UDP", "TCP", "TLS", "WS", "WSS", "SCTP"]),
        host=HOSTS,
        port=st.none() | st.integers(0, 65535),
        params=PARAMS,
    )
)
def test_via_round_trip_property(via: Via) -> None:
    assert Via.parse(str(via)) == via


def test_cseq() -> None:
    assert cseq(Headers([("CSeq", "2147483647 REGISTER")])) == (2**31 - 1, "REGISTER")
    assert cseq(Headers([("CSeq", "0009 INVITE")])) == (9, "INVITE")
    for junk in ["2147483648 INVITE", "INVITE 1", "1", "-1 INVITE", "1 INVITE x", "１ INVITE"]:
        with pytest.raises(SipError, match="Malformed CSeq"):
            cseq(Headers([("CSeq", junk)]))
    with pytest.raises(SipError, match="Missing CSeq header"):
        cseq(Headers())


CHALLENGE = (
    'Digest realm="atlanta.example.com", qop="auth", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", '
    "stale=FALSE, algorithm=MD5"
)
CREDENTIALS = (
    'Digest username="alice", realm="atlanta.example.com", nonce="f84f1cec41e6cbe5aea9c8e88d359", '
    'uri="sip:bob@biloxi.example.com", response="42ce3cef44b22f50c6a6071bc8", algorithm=MD5, '
    'cnonce="0a4f113b", opaque="", qop=auth, nc=00000001'
)


def test_parse_and_format_digest() -> None:
    scheme, params = parse_auth(CHALLENGE)
    assert scheme == "Digest"
    assert params == {
        "realm": "atlanta.example.com",
        "qop": "auth",
        "nonce": "f84f1cec41e6cbe5aea9c8e88d359",
        "opaque": "",
        "stale": "FALSE",
        "algorithm": "MD5",
    }
    assert format_auth(scheme, params) == CHALLENGE
    assert format_auth(*parse_auth(CREDENTIALS)) == CREDENTIALS
    assert parse_auth(CREDENTIALS)[1]["qop"] == "auth"
    assert parse_auth('Digest qop="auth,auth-int",REALM = "a \\"b\\" \\\\c"')[1] == {
        "qop": "auth,auth-int",
        "realm": 'a "b" \\c',
    }
    assert format_auth("Digest", {"realm": 'a "b" \\c', "nc": "1"}, quoted=["NC"]) == (
        'Digest realm="a \\"b\\" \\\\c", nc="1"'
    )
    assert parse_auth("Digest") == ("Digest", {})
    for junk in ["", '"Digest"', 'Digest realm="x', "Digest realm", "Digest realm=", 'Digest a="b" c="d"']:
        with pytest.raises(SipError):
            parse_auth(junk)


@PROPERTY
@given(
    st.dictionaries(
        st.text(string.ascii_lowercase + "-", min_size=1, max_size=6), st.text(max_size=10), max_size=5
    ),
    st.booleans(),
)
def test_digest_round_trip_property(params: dict[str, str], credentials: bool) -> None:
    if credentials:
        params["response"] = "6629fae49393a05397450978507c4ef1"
    assert parse_auth(format_auth("Digest", params)) == ("Digest", params)


def test_generated_identifiers() -> None:
    branches = {new_branch() for _ in range(100)}
    assert len(branches) == 100 and all(b.startswith(BRANCH_MAGIC_COOKIE) for b in branches)
    branch = new_branch()
    assert Via.parse(f"SIP/2.0/UDP h;branch={branch}").branch == branch
    tag = new_tag()
    assert len(tag) >= 8 and NameAddr.parse(f"<sip:a@b>;tag={tag}").tag == tag and tag != new_tag()
    call_id = new_call_id("192.0.2.1")
    assert call_id.endswith("@192.0.2.1") and call_id != new_call_id("192.0.2.1")
    assert "@" not in new_call_id("")


def test_sip_error() -> None:
    error = SipError(513, "Message Too Large", "70000 bytes")
    assert isinstance(error, ValueError)
    assert (error.status, error.reason, error.detail, str(error)) == (
        513, "Message Too Large", "70000 bytes", "513 Message Too Large: 70000 bytes",
    )  # fmt: skip
    assert str(SipError(400, "Bad Request")) == "400 Bad Request"
