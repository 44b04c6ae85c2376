"""Fuzz the TwiML parsers: any input parses or raises TwiMLError with a Twilio code, never anything else;
documents that declare entities are refused (12100) rather than expanded."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from hypothesis import given
from hypothesis import strategies as st

from telephonist.twiml import TwiMLError, parse_messaging, parse_voice
from telephonist.twiml.parse import (
    _CONFERENCE_ATTRS,
    _DIAL_ATTRS,
    _GATHER_ATTRS,
    _LATER,
    _NOUN_ATTRS,
    _RECORD_ATTRS,
    _VOICE,
)
from telephonist.twiml.verbs import Document, MessagingDocument

from ._support import bounded

# The parser's own vocabulary, so the fuzzer reaches every verb's attribute checks, plus names it does not
# know (12200 warnings) and wrong-case ones (attribute names are case-sensitive).
VERBS = sorted(_VOICE) + sorted(_LATER) + ["Unknown", "say"]
NOUNS = [
    "Number", "Client", "Sip", "Queue", "Conference", "Stream", "Parameter", "Identity", "Body", "Media",
    "Task", "Say", "Play", "Pause", "Room", "break", "prosody",
]  # fmt: skip
ATTRIBUTES = sorted(
    _GATHER_ATTRS
    | _DIAL_ATTRS
    | _RECORD_ATTRS
    | _CONFERENCE_ATTRS
    | _NOUN_ATTRS
    | {"voice", "language", "loop", "digits", "length", "reason", "to", "from", "sendDigits", "username"}
    | {"password", "machineDetection", "name", "value", "track", "maxQueueSize", "waitUrlMethod"}
    | {"workflowSid", "reservationSid", "unknownAttribute", "LOOP"}
)
# Values that sit on either side of some check: numbers at and past the limits, Unicode digits (int()
# takes them), method and boolean spellings, the enumerations' members and near misses.
VALUES = [
    "", " ", "0", "1", "-1", "5", "600", "601", "4097", "99999999999999999999999", " 7 ", "1.5", "1e3",
    "\u0663", "true", "false", "True", "yes", "GET", "post", "PUT", "dtmf", "speech", "dtmf speech", "dtmf,",
    "#", "*", "12#", "1234567890*#", "ab", "w1w2", "ws://h/p", "wss://h/p", "http://example.com/a",
    "+15005550006", "client:alice", "alice_1", "sip:a@b.example.com", "Enable", "DetectMessageEnd",
    "record-from-answer", "do-not-record", "record-from-start", "completed", "initiated ringing",
    "in-progress absent", "start end join", "both_tracks", "inbound_track", "trim-silence", "do-not-trim",
    "busy", "rejected", "onEnter", "both",
]  # fmt: skip
TEXTS = [
    "", "Hello", "+15551234567", "(415) 555-1212", "15005550006", "0", "client:bob", "bob",
    "sip:bob@example.com", "sips:a@[2001:db8::1]", "sip:", "room", "support", "http://example.com/a.mp3",
    "x" * 129, "y" * 4097,
]  # fmt: skip
# Characters XML 1.0 allows in text (no C0 controls but tab and newlines, no surrogates, no FFFE/FFFF).
XML_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(map(chr, [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF])),
)
TEXT = st.sampled_from(TEXTS) | st.text(XML_CHARS, max_size=20)
ATTRS = st.dictionaries(st.sampled_from(ATTRIBUTES), st.sampled_from(VALUES) | TEXT, max_size=5)

Node = tuple[str, dict[str, str], str, str, list[Any]]  # tag, attributes, text, tail, children


def nodes(tags: list[str], children: st.SearchStrategy[list[Node]]) -> st.SearchStrategy[Node]:
    return st.tuples(st.sampled_from(tags), ATTRS, TEXT, st.sampled_from(["", " ", "tail"]), children)


TREE = st.recursive(
    nodes(NOUNS, st.just([])), lambda inner: nodes(NOUNS, st.lists(inner, max_size=3)), max_leaves=4
)
VERB = nodes(VERBS, st.lists(TREE, max_size=3))


def build(parent: Element, node: Node) -> None:
    tag, attrs, text, tail, children = node
    element = SubElement(parent, tag, attrs)
    element.text, element.tail = text, tail
    for child in children:
        build(element, child)


@st.composite
def documents(draw: st.DrawFn) -> str:
    root = Element(draw(st.sampled_from(["Response"] * 9 + ["Reponse"])))
    for verb in draw(st.lists(VERB, max_size=4)):
        build(root, verb)
    return tostring(root, encoding="unicode")


def parses_or_twiml_error(xml: str | bytes) -> None:
    """Both parsers; TwiMLError must carry a five-digit Twilio error code and say why."""
    for parse, kind in ((parse_voice, Document), (parse_messaging, MessagingDocument)):
        try:
            doc = parse(xml)
        except TwiMLError as error:
            assert isinstance(error.code, int) and 10000 <= error.code <= 99999, error.code
            assert isinstance(error.message, str) and error.message
        else:
            assert isinstance(doc, kind)
            for code, message in doc.warnings:
                assert 10000 <= code <= 99999 and message


@bounded(250)
@given(documents())
def test_documents_from_the_twiml_vocabulary(xml: str) -> None:
    parses_or_twiml_error(xml)
    parses_or_twiml_error(xml.encode())


@bounded(400)
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    parses_or_twiml_error(text)
    parses_or_twiml_error("<Response>" + text)


@bounded(400)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    parses_or_twiml_error(data)
    parses_or_twiml_error(b'<?xml version="1.0" encoding="UTF-8"?><Response>' + data + b"</Response>")


NAME = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)


@st.composite
def entity_documents(draw: st.DrawFn) -> str:
    """A document declaring an internal (possibly nested: "billion laughs"), external or parameter entity,
    and referencing it from a verb's text or an attribute."""
    name = draw(NAME)
    kind = draw(st.sampled_from(["internal", "nested", "system", "public", "parameter"]))
    if kind == "internal":
        declarations = f'<!ENTITY {name} "expanded">'
    elif kind == "nested":
        depth, fan = draw(st.integers(2, 9)), draw(st.integers(2, 10))
        declarations = f'<!ENTITY {name}0 "expanded">' + "".join(
            f'<!ENTITY {name}{i} "{f"&{name}{i - 1};" * fan}">' for i in range(1, depth + 1)
        )
        name = f"{name}{depth}"
    elif kind == "system":
        target = draw(st.sampled_from(["file:///etc/hostname", "http://127.0.0.1:9/x.txt"]))
        declarations = f'<!ENTITY {name} SYSTEM "{target}">'
    elif kind == "public":
        declarations = f'<!ENTITY {name} PUBLIC "-//X//Y" "http://127.0.0.1:9/x.dtd">'
    else:
        declarations = f'<!ENTITY % {name} SYSTEM "http://127.0.0.1:9/x.dtd"> %{name};'
    reference = "" if kind == "parameter" else f"&{name};"
    body = draw(
        st.sampled_from(
            [
                f"<Say>{reference}</Say>",
                f'<Play loop="1">http://example.com/{reference}</Play>',
                f'<Redirect method="POST">{reference}</Redirect>',
                f"<Message>{reference}</Message>",
                f'<Gather action="{reference}"><Say>hi</Say></Gather>',
            ]
        )
    )
    prolog = draw(st.sampled_from(['<?xml version="1.0"?>\n', ""]))
    return f"{prolog}<!DOCTYPE Response [{declarations}]>\n<Response>{body}</Response>"


@bounded(100)
@given(entity_documents())
def test_entity_declarations_are_refused_not_expanded(xml: str) -> None:
    for parse in (parse_voice, parse_messaging):
        for document in (xml, xml.encode()):
            try:
                parse(document)
            except TwiMLError as error:
                assert error.code == 12100, error.message
            else:
                raise AssertionError(f"a document declaring an entity was accepted: {xml!r}")
