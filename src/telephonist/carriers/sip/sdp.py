"""SDP (RFC 4566) session descriptions and the offer/answer model (RFC 3264) for one audio stream of G.711
with RFC 4733 telephone-events, the only media a SIP leg carries. Sans-IO."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

Attribute = tuple[str, str | None]  # a=name:value, or a=name (None)
RtpMap = tuple[str, int] | tuple[str, int, int]  # (ENCODING, clock rate[, channels])

# RFC 4566 section 5: the order of lines in a session description and in each media description.
SESSION_ORDER = "vosiuepcbtrzka"
MEDIA_ORDER = "micbka"
# RFC 3551 table 4 and 5: static payload types, used when an offer lists one without a=rtpmap.
STATIC_PAYLOAD_TYPES: dict[int, RtpMap] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    5: ("DVI4", 8000),
    6: ("DVI4", 16000),
    7: ("LPC", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    10: ("L16", 44100, 2),
    11: ("L16", 44100),
    12: ("QCELP", 8000),
    13: ("CN", 8000),
    14: ("MPA", 90000),
    15: ("G728", 8000),
    16: ("DVI4", 11025),
    17: ("DVI4", 22050),
    18: ("G729", 8000),
    26: ("JPEG", 90000),
    31: ("H261", 90000),
    32: ("MPV", 90000),
    33: ("MP2T", 90000),
    34: ("H263", 90000),
}
DIRECTIONS = {
    "sendrecv": (True, True),
    "sendonly": (True, False),
    "recvonly": (False, True),
    "inactive": (False, False),
}
AUDIO_CODECS = ("PCMU", "PCMA")
# RTP/AVPF only adds feedback messages, which a peer must do without when we send none (RFC 4585).
RTP_PROFILES = ("RTP/AVP", "RTP/AVPF")
TELEPHONE_EVENT = "TELEPHONE-EVENT"
DTMF_PAYLOAD_TYPE = 101
DTMF_EVENTS = "0-16"  # the 16 keys and flash
PTIME = 20
SESSION_NAME = "Telephonist"
# RFC 2543 hold, still sent by older equipment (RFC 3264 section 8.4), and its IPv6 form.
HOLD_ADDRESSES = ("0.0.0.0", "::")


class SdpError(ValueError):
    pass


@dataclass
class Media:
    kind: str
    port: int
    proto: str
    formats: list[int]  # RTP payload types (empty for other protocols, whose tokens are in `fmt`)
    attributes: list[Attribute] = field(default_factory=list)
    connection: str | None = None
    other: list[tuple[str, str]] = field(default_factory=list)  # i=, b= and k= lines, kept as they came
    fmt: list[str] = field(default_factory=list)  # formats of non-RTP media (`t38`, `webrtc-datachannel`)

    def rtpmap(self) -> dict[int, RtpMap]:
        """Each payload type of `formats` whose encoding is known, in the offer's order of preference."""
        maps = dict(STATIC_PAYLOAD_TYPES)
        for value in self.attribute_values("rtpmap"):
            pt, _, encoding = value.partition(" ")
            name, *numbers = encoding.strip().split("/")
            rates = [rate for rate in map(_int, numbers) if rate is not None]
            if _int(pt) is None or len(rates) != len(numbers):
                continue
            if len(rates) == 1:
                maps[int(pt)] = (name.upper(), rates[0])
            elif len(rates) == 2:
                maps[int(pt)] = (name.upper(), rates[0], rates[1])
        return {pt: maps[pt] for pt in self.formats if pt in maps}

    def attribute_values(self, name: str) -> list[str]:
        return [value or "" for key, value in self.attributes if key == name]

    def fmtp(self, pt: int) -> str | None:
        return next(
            (v.partition(" ")[2] for v in self.attribute_values("fmtp") if v.split(" ")[0] == str(pt)), None
        )

    @property
    def direction(self) -> str:
        return _direction_attribute(self.attributes) or "sendrecv"


@dataclass
class SessionDescription:
    origin: str
    session_name: str
    connection: str | None
    media: list[Media]
    version: int = 0  # the v= line; the session's own version is the third field of `origin`
    attributes: list[Attribute] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=lambda: [("t", "0 0")])  # i u e p b t r z k lines

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        if isinstance(text, bytes):
            try:
                text = text.decode()
            except UnicodeDecodeError:
                raise SdpError("SDP is not UTF-8") from None
        lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
        if not lines or not lines[0].startswith("v="):
            raise SdpError("missing v= line")
        sd = cls(origin="", session_name="-", connection=None, media=[], other=[])
        for line in lines:
            kind, equals, value = line.partition("=")
            if len(kind) != 1 or not equals:
                raise SdpError(f"bad SDP line: {line!r}")
            media = sd.media[-1] if sd.media else None
            if kind == "m":
                sd.media.append(_parse_media(value))
            elif kind == "a":
                name, colon, attr = value.partition(":")
                (media or sd).attributes.append((name, attr if colon else None))
            elif kind == "c":
                address = _parse_connection(value)
                if media is None:
                    sd.connection = address
                else:
                    media.connection = address
            elif media is not None:
                media.other.append((kind, value))
            elif kind == "v":
                version = _int(value)
                if version is None:
                    raise SdpError(f"bad v= line: {value!r}")
                sd.version = version
            elif kind == "o":
                if len(value.split()) != 6:
                    raise SdpError(f"bad o= line: {value!r}")
                sd.origin = value
            elif kind == "s":
                sd.session_name = value or "-"
            else:
                sd.other.append((kind, value))
        if not sd.origin:
            raise SdpError("missing o= line")
        if not sd.media:
            raise SdpError("missing m= line")
        for media in sd.media:
            if media.port and not (media.connection or sd.connection):
                raise SdpError(f"no connection address for {media.kind} media")
        return sd

    def __str__(self) -> str:
        lines = [("v", str(self.version)), ("o", self.origin), ("s", self.session_name or "-")]
        lines += _connection(self.connection) + self.other + _attributes(self.attributes)
        if not any(kind == "t" for kind, _ in self.other):
            lines.append(("t", "0 0"))
        out = _ordered(lines, SESSION_ORDER)
        for media in self.media:
            tokens = [media.kind, str(media.port), media.proto, *map(str, media.formats), *media.fmt]
            lines = [("m", " ".join(tokens)), *_connection(media.connection), *media.other]
            out += _ordered(lines + _attributes(media.attributes), MEDIA_ORDER)
        return "".join(f"{kind}={value}\r\n" for kind, value in out)

    def audio(self) -> Media | None:
        return next((m for m in self.media if m.kind == "audio"), None)

    def address(self, media: Media) -> tuple[str, int]:
        address = media.connection or self.connection
        if address is None:
            raise SdpError(f"no connection address for {media.kind} media")
        return address.split("/")[0], media.port  # without a multicast TTL

    def direction(self, media: Media) -> str:
        """The media's direction attribute, else the session's (RFC 3264 section 5.1)."""
        return _direction_attribute(media.attributes) or _direction_attribute(self.attributes) or "sendrecv"


def _direction_attribute(attributes: list[Attribute]) -> str | None:
    return next((name for name, _ in reversed(attributes) if name in DIRECTIONS), None)


def _int(text: str, maximum: int = 0xFFFFFFFF) -> int | None:
    # str.isdigit() alone admits '²' and numbers too long for int(), both of which int() refuses.
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= maximum:
        return int(text)
    return None


def _parse_media(value: str) -> Media:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"bad m= line: {value!r}")
    kind, proto, formats = parts[0], parts[2], parts[3:]
    port = _int(parts[1], 65535)
    if port is None:
        raise SdpError(f"bad port in m= line: {value!r}")
    if "RTP/" not in proto:
        return Media(kind, port, proto, [], fmt=formats)
    payload_types = [pt for pt in (_int(f, 127) for f in formats) if pt is not None]
    if len(payload_types) != len(formats):
        raise SdpError(f"bad payload type in m= line: {value!r}")
    return Media(kind, port, proto, payload_types)


def _parse_connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN":
        raise SdpError(f"bad c= line: {value!r}")
    return parts[2]


def _connection(address: str | None) -> list[tuple[str, str]]:
    if address is None:
        return []
    return [("c", f"IN {'IP6' if ':' in address else 'IP4'} {address}")]


def _attributes(attributes: list[Attribute]) -> list[tuple[str, str]]:
    return [("a", name if value is None else f"{name}:{value}") for name, value in attributes]


def _ordered(lines: list[tuple[str, str]], order: str) -> list[tuple[str, str]]:
    return sorted(lines, key=lambda line: order.find(line[0]) % (len(order) + 1))


@dataclass(frozen=True)
class Negotiated:
    payload_type: int
    encoding: str  # "PCMU" or "PCMA"
    dtmf_payload_type: int | None
    remote: tuple[str, int]
    direction: str  # ours: whether we send and receive
    ptime: int


def _origin(session_id: int, version: int, address: str) -> str:
    return f"- {session_id} {version} IN {'IP6' if ':' in address else 'IP4'} {address}"


def offer(
    address: str, port: int, session_id: int, version: int = 0, direction: str = "sendrecv"
) -> SessionDescription:
    attributes: list[Attribute] = [
        ("rtpmap", "0 PCMU/8000"),
        ("rtpmap", "8 PCMA/8000"),
        ("rtpmap", f"{DTMF_PAYLOAD_TYPE} telephone-event/8000"),
        ("fmtp", f"{DTMF_PAYLOAD_TYPE} {DTMF_EVENTS}"),
        ("ptime", str(PTIME)),
        (direction, None),
    ]
    audio = Media("audio", port, "RTP/AVP", [0, 8, DTMF_PAYLOAD_TYPE], attributes)
    return SessionDescription(_origin(session_id, version, address), SESSION_NAME, address, [audio])


def _codec(media: Media, codecs: Collection[str] = AUDIO_CODECS) -> tuple[int, str] | None:
    """The first of the media's formats that we can send and receive."""
    for pt, rtpmap in media.rtpmap().items():
        if rtpmap[0] in codecs and rtpmap[1:] in ((8000,), (8000, 1)):
            return pt, rtpmap[0]
    return None


def _dtmf(media: Media) -> int | None:
    return next((pt for pt, rtpmap in media.rtpmap().items() if rtpmap[:2] == (TELEPHONE_EVENT, 8000)), None)


def _ptime(media: Media) -> int:
    # Only whole multiples of our 10 ms framing up to 200 ms make sense for G.711 packets.
    ptime = _int(next(iter(media.attribute_values("ptime")), ""), 200)
    return ptime if ptime and ptime % 10 == 0 else PTIME


def _wants(sd: SessionDescription, media: Media) -> tuple[bool, bool]:
    """Whether the peer that wrote `media` will send and receive, c=0.0.0.0 meaning it will not receive."""
    send, receive = DIRECTIONS[sd.direction(media)]
    return send, receive and sd.address(media)[0] not in HOLD_ADDRESSES


def _direction(send: bool, receive: bool) -> str:
    return next(name for name, value in DIRECTIONS.items() if value == (send, receive))


def answer(
    offer: SessionDescription, address: str, port: int, session_id: int, version: int = 0
) -> tuple[SessionDescription, Negotiated]:
    result: Negotiated | None = None
    answered: list[Media] = []
    for media in offer.media:
        usable = result is None and media.kind == "audio" and media.proto in RTP_PROFILES and media.port
        codec = _codec(media) if usable else None
        if codec is None:
            # RFC 3264 section 6: a refused stream is answered with port 0 and the offer's formats.
            answered.append(Media(media.kind, 0, media.proto, list(media.formats), fmt=list(media.fmt)))
            continue
        pt, encoding = codec
        dtmf = _dtmf(media)
        they_send, they_receive = _wants(offer, media)
        direction = _direction(they_receive, they_send)
        attributes: list[Attribute] = [("rtpmap", f"{pt} {encoding}/8000")]
        if dtmf is not None:
            attributes.append(("rtpmap", f"{dtmf} telephone-event/8000"))
            # The events we accept are those offered; without fmtp both sides mean 0-15 (RFC 4733).
            events = media.fmtp(dtmf)
            attributes += [] if events is None else [("fmtp", f"{dtmf} {events}")]
        attributes += [("ptime", str(_ptime(media))), (direction, None)]
        formats = [pt] if dtmf is None else [pt, dtmf]
        answered.append(Media("audio", port, media.proto, formats, attributes))
        result = Negotiated(pt, encoding, dtmf, offer.address(media), direction, _ptime(media))
    if result is None:
        raise SdpError("no common audio codec")
    origin = _origin(session_id, version, address)
    return SessionDescription(origin, SESSION_NAME, address, answered), result


def negotiated(offer_we_sent: SessionDescription, answer: SessionDescription) -> Negotiated:
    ours = offer_we_sent.audio()
    theirs = next((m for m in answer.media if m.kind == "audio" and m.port), None)
    if ours is None or theirs is None:
        raise SdpError("audio stream rejected")
    codec = _codec(theirs, {rtpmap[0] for rtpmap in ours.rtpmap().values()} & set(AUDIO_CODECS))
    if codec is None:
        raise SdpError("no common audio codec")
    we_send, we_receive = DIRECTIONS[offer_we_sent.direction(ours)]
    they_send, they_receive = _wants(answer, theirs)
    direction = _direction(we_send and they_receive, we_receive and they_send)
    dtmf = _dtmf(theirs) if _dtmf(ours) is not None else None
    return Negotiated(codec[0], codec[1], dtmf, answer.address(theirs), direction, _ptime(theirs))
