"""Form bodies are read exactly as urllib's parse_qsl reads them (what Twilio clients and Flask agree on)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from telephonist.api.forms import Params

TRICKY = [
    "",
    "&",
    "a",
    "a=",
    "=b",
    "a=1&&b=2",
    "a=1&a=2&a=",
    "Body=caf%C3%A9+%E2%82%AC&To=%2B15551230001",
    "Body=100%25+sure&x=%zz&y=%E2%82",
    "Body=a%26b%3Dc&Url=http%3A%2F%2Fexample.com%2F%3Fq%3D1%2B2",
    "St+ate=x+y&%41=%42",
    "a=b=c",
    "a;b=c",
]


def test_tricky_bodies_read_as_parse_qsl_reads_them() -> None:
    for body in TRICKY:
        assert Params.parse(body.encode()).items() == parse_qsl(body, keep_blank_values=True), body


def test_invalid_utf8_is_replaced_not_refused() -> None:
    assert Params.parse(b"Body=\xff%FF").get("Body") == "\ufffd\ufffd"


@given(st.lists(st.tuples(st.text(), st.text()), max_size=6))
def test_any_encoded_form_round_trips(pairs: list[tuple[str, str]]) -> None:
    body = urlencode(pairs)
    assert Params.parse(body.encode()).items() == parse_qsl(body, keep_blank_values=True)


@given(st.text(alphabet="ab=&%+2B0F;", max_size=20))
def test_malformed_bodies_read_as_parse_qsl_reads_them(body: str) -> None:
    assert Params.parse(body.encode()).items() == parse_qsl(body, keep_blank_values=True)
