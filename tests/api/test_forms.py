"""Form bodies are read exactly as urllib's parse_qsl reads them (what Twilio clients and Flask agree on)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import column

from telephonist.api.errors import TwilioError
from telephonist.api.forms import Params, date_filters

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


@pytest.mark.parametrize(
    "value", ["9999-12-31", "9999-12-31T10:00:00Z", "0001-01-01T00:00:00+01:00", "2024-01-01T00:00:00+25:00"]
)
def test_dates_past_the_calendar_are_invalid_not_a_server_error(value: str) -> None:
    # Found by tests/fuzz/test_forms.py: each was an OverflowError or ValueError, a 500 on every list.
    for name in ("DateSent", "DateSent<", "DateSent>"):
        with pytest.raises(TwilioError) as info:
            date_filters(Params([(name, value)]), "DateSent", column("date_sent"))
        assert (info.value.code, info.value.status) == (20001, 400)
