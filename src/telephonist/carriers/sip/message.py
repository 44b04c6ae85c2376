"""RFC 3261 SIP messages, sans-IO: `parse(datagram)`, `StreamParser` for TCP framing, `bytes(message)`,
and parsers for the header values a user agent reads (URIs, name-addr, Via, digest challenges)."""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeAlias

SIP_VERSION = "SIP/2.0"
BRANCH_MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 8.1.1.7: a branch starting with it is unique across space and time
MAX_MESSAGE_SIZE = 65535
# RFC 3261 sets neither limit; they bound the work a hostile peer can make us do for one message.
MAX_HEADER_LINE = 8192
MAX_HEADERS = 200
MAX_CSEQ = 2**31 - 1  # RFC 3261 8.1.1.5: the sequence number MUST be less than 2**31
MAX_FORWARDS_LIMIT = 255

Params: TypeAlias = tuple[tuple[str, str | None], ...]

_WS = " \t"  # LWS after unfolding; str.strip() alone would also eat \x1c-\x1f and other Unicode spaces
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_TOKEN_RE = re.compile(_TOKEN)
_DISPLAY_TOKENS = re.compile(rf"{_TOKEN}(?: {_TOKEN})*")
_NUMBER = re.compile(r"0*([0-9]{1,10})")  # [0-9], not \d: int() rejects many Unicode digits
_CSEQ = re.compile(rf"0*([0-9]{{1,10}})[ \t]+({_TOKEN})")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_STATUS = re.compile(r"[1-6][0-9][0-9]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_URI_JUNK = re.compile(r'[\x00-\x20\x7f<>"]')
_HOSTPORT = re.compile(r"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9\-._]+))(?:[ \t]*:[ \t]*([0-9]{1,5}))?")
_SENT_BY = re.compile(rf"SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*({_TOKEN})[ \t]+(.+)", re.IGNORECASE)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_AUTH_SCHEME = re.compile(rf"({_TOKEN})(?:[ \t]+|\Z)")
_AUTH_PARAM = re.compile(
    rf'[ \t]*({_TOKEN})[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^ \t,"]+)[ \t]*(?:,|\Z)', re.DOTALL
)

_CANONICAL = {
    name.lower(): name
    for name in """
    Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events
    Authentication-Info Authorization Call-ID Call-Info Contact Content-Disposition Content-Encoding
    Content-Language Content-Length Content-Type CSeq Date Error-Info Event Expires From In-Reply-To
    Max-Forwards MIME-Version Min-Expires Min-SE Organization P-Asserted-Identity P-Preferred-Identity
    Path Priority Privacy Proxy-Authenticate Proxy-Authorization Proxy-Require RAck Reason Record-Route
    Refer-To Referred-By Replaces Reply-To Require Retry-After Route RSeq Server Session-Expires Subject
    Subscription-State Supported Timestamp To Unsupported User-Agent Via Warning WWW-Authenticate
""".split()
}
# RFC 3261 7.3.3, plus the compact forms of RFC 3265 (o, u), 3515 (r), 3841 (a), 3892 (b) and 4028 (x).
_COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
    "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via", "o": "event", "r": "refer-to",
    "u": "allow-events", "a": "accept-contact", "b": "referred-by", "x": "session-expires",
}  # fmt: skip
# Headers whose values may be comma-joined into one line (RFC 3261 7.3.1); others are read whole.
_LIST_HEADERS = frozenset({"via", "route", "record-route", "contact", "path"})
_SINGLE_HEADERS = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length")
_REQUIRED_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")  # RFC 3261 8.1.1
# Digest parameters written as quoted-string (RFC 2617 3.2.1, 3.2.2); qop only in a challenge.
_QUOTED_AUTH = frozenset({"realm", "domain", "nonce", "opaque", "uri", "response", "username", "cnonce"})


class SipError(ValueError):
    """A message that cannot be parsed; `status`/`reason` are the response a UAS sends (400 Bad Request,
    413 Request Entity Too Large, 505 Version Not Supported, 513 Message Too Large...)."""

    status: int
    reason: str

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{status} {reason}: {detail}" if detail else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.detail = detail


def _bad(detail: str) -> SipError:
    return SipError(400, "Bad Request", detail)


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "...")


def _key(name: str) -> str:
    lower = name.lower()
    return _COMPACT.get(lower, lower)


def _split(text: str, sep: str) -> list[str]:
    """`text` cut at each `sep` outside quoted strings and <...>."""
    parts: list[str] = []
    start, quoted, angle, i = 0, False, False, 0
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<" or char == ">":
            angle = char == "<"
        elif char == sep and not angle:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


class Headers:
    """Header fields in message order; names match case-insensitively and compact forms are expanded."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []  # key (lower case, expanded), name as written, value
        for name, value in items:
            self.add(name, value)

    @staticmethod
    def _field(name: str, value: str) -> tuple[str, str, str]:
        if not _TOKEN_RE.fullmatch(name):
            raise ValueError(f"Invalid header name {name!r}")
        if "\r" in value or "\n" in value:
            raise ValueError(f"{name} header value must not contain CR or LF")
        key = _key(name)
        return key, _CANONICAL.get(key, name), value

    def _index(self, key: str, default: int) -> int:
        return next((i for i, item in enumerate(self._items) if item[0] == key), default)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value; for Via, Route, Record-Route and Contact the first of a comma-joined list."""
        values = self.get_all(name)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        key = _key(name)
        values = [value for k, _, value in self._items if k == key]
        if key not in _LIST_HEADERS:
            return values
        return [part.strip(_WS) for value in values for part in _split(value, ",") if part.strip(_WS)]

    def add(self, name: str, value: str) -> None:
        self._items.append(self._field(name, value))

    def prepend(self, name: str, value: str) -> None:
        """Insert before the first header of that name (a new top Via or Record-Route), else at the front."""
        item = self._field(name, value)
        self._items.insert(self._index(item[0], 0), item)

    def set(self, name: str, value: str) -> None:
        """Replace every header of that name with one, where the first was (else at the end)."""
        item = self._field(name, value)
        at = self._index(item[0], len(self._items))
        self.remove(name)
        self._items.insert(at, item)

    def remove(self, name: str) -> None:
        key = _key(name)
        self._items = [item for item in self._items if item[0] != key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._index(_key(name), -1) >= 0

    def items(self) -> list[tuple[str, str]]:
        return [(name, value) for _, name, value in self._items]

    def copy(self) -> Headers:
        copy = Headers()
        copy._items = list(self._items)
        return copy

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


def _serialize(start_line: str, headers: Headers, body: bytes) -> bytes:
    lines = [start_line]
    length_written = False
    for name, value in headers.items():
        if name == "Content-Length":
            if length_written:
                continue
            value, length_written = str(len(body)), True
        lines.append(f"{name}: {value}")
    if not length_written:
        lines.append(f"Content-Length: {len(body)}")
    lines += ["", ""]
    return "\r\n".join(lines).encode() + body


@dataclass
class Request:
    """A SIP request; `bytes(request)` writes it with Content-Length set to the body's length."""

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __bytes__(self) -> bytes:
        return _serialize(f"{self.method} {self.uri} {SIP_VERSION}", self.headers, self.body)


@dataclass
class Response:
    """A SIP response; `bytes(response)` writes it with Content-Length set to the body's length."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __bytes__(self) -> bytes:
        return _serialize(f"{SIP_VERSION} {self.status} {self.reason}", self.headers, self.body)


Message: TypeAlias = Request | Response


def _decode(line: bytes) -> str:
    try:
        return line.decode()
    except UnicodeDecodeError:
        raise _bad("Header section is not valid UTF-8") from None


def _check_version(version: str) -> None:
    if version.upper() == SIP_VERSION:
        return
    if _VERSION.fullmatch(version):
        raise SipError(505, "Version Not Supported", f"{_show(version)} is not {SIP_VERSION}")
    raise _bad(f"Not a SIP message: version {_show(version)}")


def _start_line(line: str) -> Message:
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        _check_version(version)
        code, _, reason = rest.partition(" ")
        if not _STATUS.fullmatch(code):
            raise _bad(f"Malformed status line {_show(line)}")
        return Response(int(code), reason)
    parts = line.split(" ")
    if len(parts) != 3:
        raise _bad(f"Malformed request line {_show(line)}")
    method, uri, version = parts
    _check_version(version)
    if not _TOKEN_RE.fullmatch(method):
        raise _bad(f"Invalid method {_show(method)}")
    scheme, colon, rest = uri.partition(":")
    if not colon or not rest or not _SCHEME.fullmatch(scheme) or _URI_JUNK.search(rest):
        raise _bad(f"Malformed Request-URI {_show(uri)}")
    if scheme.lower() in ("sip", "sips"):
        Uri.parse(uri)
    return Request(method, uri)


def _parse_head(head: bytes) -> Message:
    """The start line and headers before the blank line, unfolded (RFC 3261 7.3.1)."""
    lines = _LINE_END.split(head)
    if b"\r" in head.replace(b"\r\n", b""):
        raise _bad("Bare CR in header section")
    message = _start_line(_decode(lines[0]))
    fields: list[list[str]] = []  # name, then the value's lines
    size = 0
    for raw in lines[1:]:
        line = _decode(raw)
        if line[:1] in (" ", "\t"):
            if not fields:
                raise _bad("Continuation line before the first header")
            fields[-1].append(line.strip(_WS))
            size += len(raw)
        else:
            if len(fields) == MAX_HEADERS:
                raise _bad(f"More than {MAX_HEADERS} headers")
            name, colon, value = line.partition(":")
            name = name.rstrip(_WS)
            if not colon or not _TOKEN_RE.fullmatch(name):
                raise _bad(f"Malformed header line {_show(line)}")
            fields.append([name, value.strip(_WS)])
            size = len(raw)
        if size > MAX_HEADER_LINE:
            raise _bad(f"Header line longer than {MAX_HEADER_LINE} bytes")
    for name, *parts in fields:
        message.headers.add(name, " ".join(part for part in parts if part))
    return message


def _content_length(headers: Headers) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    match = _NUMBER.fullmatch(value)
    if match is None:
        raise _bad(f"Invalid Content-Length {_show(value)}")
    return int(match[1])


def _check(message: Message) -> None:
    """What RFC 3261 requires of every message beyond framing (8.1.1, 20)."""
    headers = message.headers
    counts = Counter(key for key, _, _ in headers._items)
    for name in _SINGLE_HEADERS:
        if counts[name.lower()] > 1:
            raise _bad(f"More than one {name} header")
    forwards = headers.get("Max-Forwards")
    if forwards is not None:
        match = _NUMBER.fullmatch(forwards)
        if match is None or int(match[1]) > MAX_FORWARDS_LIMIT:
            raise _bad(f"Invalid Max-Forwards {_show(forwards)}")
    if isinstance(message, Response):
        if "CSeq" in headers:
            cseq(headers)
        return
    for name in _REQUIRED_HEADERS:
        if name not in headers:
            raise _bad(f"Missing {name} header")
    _, method = cseq(headers)
    if method != message.method:
        raise _bad(f"CSeq method {method} does not match request method {message.method}")


def parse(data: bytes, max_size: int = MAX_MESSAGE_SIZE) -> Message:
    """One whole message, as a UDP datagram carries it; bytes past Content-Length are ignored."""
    if len(data) > max_size:
        raise SipError(513, "Message Too Large", f"{len(data)} bytes, the limit is {max_size}")
    data = data.lstrip(b"\r\n")  # keep-alives
    if not data:
        raise _bad("Empty message")
    end = _HEAD_END.search(data)
    if end is None:
        raise _bad("No blank line after the headers")
    message = _parse_head(data[: end.start()])
    body = data[end.end() :]
    length = _content_length(message.headers)
    if length is not None:
        if length > len(body):
            raise _bad(f"Content-Length is {length} but the body has {len(body)} bytes")
        body = body[:length]
    message.body = body
    _check(message)
    return message


class StreamParser:
    """Frames messages on a stream (RFC 3261 18.3), where Content-Length is mandatory. After a SipError
    from framing the stream cannot be trusted: answer if you can and close the connection."""

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._pending: tuple[Message, int, int] | None = None  # parsed head, body start, message end

    def _too_large(self, size: int) -> SipError:
        return SipError(513, "Message Too Large", f"{size} bytes or more, the limit is {self.max_size}")

    def feed(self, data: bytes) -> list[Message]:
        """The messages `data` completes, in order; a partial one is kept for the next feed."""
        self._buffer += data
        messages: list[Message] = []
        while True:
            if self._pending is None:
                # CRLFs between messages are keep-alives (RFC 5626 4.4.1).
                del self._buffer[: len(self._buffer) - len(self._buffer.lstrip(b"\r\n"))]
                end = _HEAD_END.search(self._buffer)
                if end is None:
                    if len(self._buffer) > self.max_size:
                        raise self._too_large(len(self._buffer))
                    newline = self._buffer.find(b"\n")
                    if newline >= 0:  # fail on garbage now, not after max_size bytes of it
                        _start_line(_decode(bytes(self._buffer[:newline]).rstrip(b"\r")))
                    return messages
                if end.end() > self.max_size:
                    raise self._too_large(end.end())
                message = _parse_head(bytes(self._buffer[: end.start()]))
                length = _content_length(message.headers)
                if length is None:
                    raise _bad("Missing Content-Length header (mandatory on stream transports)")
                if end.end() + length > self.max_size:
                    raise self._too_large(end.end() + length)
                self._pending = (message, end.end(), end.end() + length)
            message, body_start, message_end = self._pending
            if len(self._buffer) < message_end:
                return messages
            message.body = bytes(self._buffer[body_start:message_end])
            del self._buffer[:message_end]
            self._pending = None
            _check(message)  # framing is intact: the caller may answer 400 and read on
            messages.append(message)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(text: str) -> tuple[str, int]:
    """The quoted string `text` opens with, unescaped, and the index after its closing quote."""
    match = _QUOTED.match(text)
    if match is None:
        raise _bad(f"Unterminated quoted string in {_show(text)}")
    return _QUOTED_PAIR.sub(r"\1", match[1]), match.end()


def _params(pieces: Iterable[str]) -> Params:
    params: list[tuple[str, str | None]] = []
    for piece in pieces:
        name, equals, value = piece.partition("=")
        name, value = name.strip(_WS), value.strip(_WS)
        if not _TOKEN_RE.fullmatch(name) or (equals and not value):
            raise _bad(f"Malformed parameter {_show(piece)}")
        params.append((name, value if equals else None))
    return tuple(params)


def _header_params(text: str) -> Params:
    """`;name=value` parameters after a header value, LWS allowed around `;` and `=`."""
    first, *pieces = _split(text, ";")
    if first.strip(_WS):
        raise _bad(f"Unexpected {_show(first)} before parameters")
    return _params(pieces)


def _format_params(params: Params) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)


def _param(params: Params, name: str) -> str | None:
    """The value of a parameter, "" for one without a value, None if absent."""
    name = name.lower()
    return next(("" if v is None else v for n, v in params if n.lower() == name), None)


def _with_param(params: Params, name: str, value: str | None) -> Params:
    lower = name.lower()
    if any(n.lower() == lower for n, _ in params):
        return tuple((n, value) if n.lower() == lower else (n, v) for n, v in params)
    return (*params, (name, value))


def _hostport(text: str, whole: str) -> tuple[str, int | None]:
    match = _HOSTPORT.fullmatch(text.strip(_WS))
    if match is None:
        raise _bad(f"Malformed host in {_show(whole)}")
    v6, host, port = match.groups()
    if v6 is not None:
        try:
            ipaddress.IPv6Address(v6)
        except ValueError:
            raise _bad(f"Malformed IPv6 address in {_show(whole)}") from None
        host = v6
    if port is not None and int(port) > 65535:
        raise _bad(f"Port out of range in {_show(whole)}")
    return host, None if port is None else int(port)


def _format_host(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


@dataclass(frozen=True)
class Uri:
    """A sip:, sips: or tel: URI (RFC 3261 19.1, RFC 3966), kept as written: user, password, parameter
    values and headers stay %-escaped. An IPv6 host is held without its brackets; a tel: number is `user`."""

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: str = ""
    password: str | None = None

    @classmethod
    def parse(cls, text: str) -> Uri:
        scheme, colon, rest = text.partition(":")
        if not colon or not rest or not _SCHEME.fullmatch(scheme) or _URI_JUNK.search(rest):
            raise _bad(f"Malformed URI {_show(text)}")
        if scheme.lower() == "tel":
            number, *params = rest.split(";")
            if not number:
                raise _bad(f"Malformed URI {_show(text)}")
            return cls(scheme, number, "", params=_params(params))
        if scheme.lower() not in ("sip", "sips"):
            raise SipError(416, "Unsupported URI Scheme", _show(text))
        user: str | None = None
        password: str | None = None
        # "@" may not appear unescaped after the userinfo, but ";", "?" and "/" may appear inside it.
        if "@" in rest:
            userinfo, _, rest = rest.partition("@")
            user, colon, secret = userinfo.partition(":")
            password = secret if colon else None
            if not user:
                raise _bad(f"Empty user in {_show(text)}")
        rest, _, headers = rest.partition("?")
        hostport, *params = rest.split(";")
        host, port = _hostport(hostport, text)
        return cls(scheme, user, host, port, _params(params), headers, password)

    def param(self, name: str) -> str | None:
        """The parameter's value, "" for one without a value (`lr`), None if absent."""
        return _param(self.params, name)

    def __str__(self) -> str:
        if self.scheme.lower() == "tel":
            text = f"{self.scheme}:{self.user}"
        else:
            userinfo = ""
            if self.user is not None:
                userinfo = self.user + ("" if self.password is None else f":{self.password}") + "@"
            text = f"{self.scheme}:{userinfo}{_format_host(self.host, self.port)}"
        return text + _format_params(self.params) + (f"?{self.headers}" if self.headers else "")


@dataclass(frozen=True)
class NameAddr:
    """A From, To, Contact, Route or Record-Route value: display name (unescaped), URI and header params."""

    uri: Uri
    display: str | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip(_WS)
        display: str | None = None
        rest = text
        if text.startswith('"'):
            display, end = _unquote(text)
            rest = text[end:].lstrip(_WS)
            if not rest.startswith("<"):
                raise _bad(f"Expected <uri> after the display name in {_show(text)}")
        elif 0 <= (at := text.find("<")) and (";" not in text[:at]):
            # a "<" after a ";" is in a parameter of a bare addr-spec, such as +sip.instance="<urn:...>"
            display = " ".join(word for word in re.split("[ \t]+", text[:at]) if word) or None
            rest = text[at:]
        if rest.startswith("<"):
            end = rest.find(">")
            if end < 0:
                raise _bad(f"Unterminated <uri> in {_show(text)}")
            # LWS inside <> is invalid, but RFC 4475 (badaspec) allows being liberal about it.
            uri, params = rest[1:end].strip(_WS), rest[end + 1 :]
        else:
            # RFC 3261 20.10: after a bare addr-spec every ;param belongs to the header, not to the URI.
            uri, semi, params = rest.partition(";")
            params = semi + params
        return cls(Uri.parse(uri.strip(_WS)), display, _header_params(params))

    @property
    def tag(self) -> str | None:
        return _param(self.params, "tag")

    def param(self, name: str) -> str | None:
        return _param(self.params, name)

    def with_tag(self, tag: str) -> NameAddr:
        return replace(self, params=_with_param(self.params, "tag", tag))

    def __str__(self) -> str:
        text = f"<{self.uri}>{_format_params(self.params)}"
        if self.display is None:
            return text
        display = self.display if _DISPLAY_TOKENS.fullmatch(self.display) else _quote(self.display)
        return f"{display} {text}"


@dataclass(frozen=True)
class Via:
    """One Via value (RFC 3261 20.42): transport (upper case), sent-by host and port, parameters."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> Via:
        sent, *params = _split(text, ";")
        match = _SENT_BY.fullmatch(sent.strip(_WS))
        if match is None:
            raise _bad(f"Malformed Via {_show(text)}")
        host, port = _hostport(match[2], text)
        return cls(match[1].upper(), host, port, _params(params))

    @property
    def branch(self) -> str | None:
        return _param(self.params, "branch")

    def param(self, name: str) -> str | None:
        """The parameter's value, "" for one without a value (`rport`), None if absent."""
        return _param(self.params, name)

    def with_params(self, **values: str | None) -> Via:
        """Set or replace parameters in place, new ones at the end; None writes a flag such as `rport`."""
        params = self.params
        for name, value in values.items():
            params = _with_param(params, name, value)
        return replace(self, params=params)

    def __str__(self) -> str:
        sent_by = _format_host(self.host, self.port)
        return f"{SIP_VERSION}/{self.transport} {sent_by}{_format_params(self.params)}"


def cseq(headers: Headers) -> tuple[int, str]:
    """The CSeq header's sequence number and method."""
    value = headers.get("CSeq")
    if value is None:
        raise _bad("Missing CSeq header")
    match = _CSEQ.fullmatch(value)
    if match is None or int(match[1]) > MAX_CSEQ:
        raise _bad(f"Malformed CSeq {_show(value)}")
    return int(match[1]), match[2]


def parse_auth(value: str) -> tuple[str, dict[str, str]]:
    """A WWW-/Proxy-Authenticate challenge or (Proxy-)Authorization credentials: the scheme and its
    parameters, names lower-cased and quoted strings unescaped."""
    value = value.strip(_WS)
    match = _AUTH_SCHEME.match(value)
    if match is None:
        raise _bad(f"Malformed authentication header {_show(value)}")
    params: dict[str, str] = {}
    pos = match.end()
    while pos < len(value):
        param = _AUTH_PARAM.match(value, pos)
        if param is None or param.end() == pos:
            raise _bad(f"Malformed authentication parameter in {_show(value)}")
        name, raw = param.groups()
        params[name.lower()] = _unquote(raw)[0] if raw.startswith('"') else raw
        pos = param.end()
    return match[1], params


def format_auth(scheme: str, params: Mapping[str, str], quoted: Collection[str] | None = None) -> str:
    """The inverse of `parse_auth`. By default realm, domain, nonce, opaque, uri, response, username and
    cnonce are quoted, qop too in a challenge (no `response`), and any value that is not a token."""
    if quoted is None:
        quoted = _QUOTED_AUTH if "response" in params else _QUOTED_AUTH | {"qop"}
    names = {name.lower() for name in quoted}
    parts = (
        f"{name}={_quote(value) if name.lower() in names or not _TOKEN_RE.fullmatch(value) else value}"
        for name, value in params.items()
    )
    return f"{scheme} {', '.join(parts)}"


def new_branch() -> str:
    return BRANCH_MAGIC_COOKIE + secrets.token_hex(12)


def new_tag() -> str:
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(16)}@{host}" if host else secrets.token_hex(16)
