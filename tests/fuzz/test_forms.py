"""Fuzz the form decoder: `Params.parse` reads any body or query string as `parse_qsl(keep_blank_values=True)`
does and never raises; the typed getters raise TwilioError (a 400 with a Twilio code) and nothing else."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import column

from telephonist.api.errors import TwilioError
from telephonist.api.forms import Params, date_filters, parse_date_filter

from ._support import bounded

# Form syntax and its escapes, dense enough that `%`, `+`, `=` and `&` meet in every order.
FORM_TEXT = st.text(st.sampled_from(list("ab=&%+;2BF0eE9 ")) | st.characters(), max_size=60)
FORM_BYTES = st.binary(max_size=60) | FORM_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass"))


@bounded(400)
@given(FORM_TEXT)
def test_text_reads_as_parse_qsl(text: str) -> None:
    assert Params.parse(text).items() == parse_qsl(text, keep_blank_values=True)


@bounded(400)
@given(FORM_BYTES)
def test_bytes_read_as_parse_qsl_of_their_utf8(data: bytes) -> None:
    # parse_qsl itself only takes ASCII bytes; a body is UTF-8 text, undecodable bytes read as U+FFFD.
    text = data.decode("utf-8", "replace")
    assert Params.parse(data).items() == parse_qsl(text, keep_blank_values=True)


VALUES = st.sampled_from(
    [
        "", " ", "0", "-1", "1_000", "\u0663", "1e3", "9" * 5000, "true", "False", "yes", "NO", "get", "Post",
        "PUT", "initiated ringing", "a,b", "2024-02-29", "2024-02-30", "9999-12-31", "0001-01-01",
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "2024-01-01T00:00:00+25:00",
        "2024-01-01T00:00:00Z", "Mon, 01 Jan 2024 00:00:00 +0000", "0:00 PM", "Feb 30", "10000-01-01",
    ]
) | st.text(max_size=30)  # fmt: skip


@bounded(400)
@given(st.lists(st.tuples(st.sampled_from(["X", "DateSent", "DateSent<", "DateSent>"]), VALUES), max_size=4))
def test_typed_getters_raise_only_twilio_errors(pairs: list[tuple[str, str]]) -> None:
    params = Params(pairs)
    getters = [
        lambda: params.integer("X", 0),
        lambda: params.boolean("X"),
        lambda: params.method("X"),
        lambda: params.events("X"),
        lambda: date_filters(params, "DateSent", column("date_sent")),
        *(lambda value=value: parse_date_filter("SendAt", value) for _, value in pairs),
    ]
    for getter in getters:
        try:
            getter()
        except TwilioError as error:
            assert error.status == 400 and error.code > 0 and error.message
