"""What a webhook request is made of, for any parameters (repeated names included): the form body as
urlencode writes it, X-Twilio-Signature as the official library computes it."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from telephonist.webhooks.client import GET_SAFE, form_encode
from telephonist.webhooks.signature import signature

TOKEN = "12345678901234567890123456789012"
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
names = st.sampled_from(["To", "From", "Body", "MediaUrl0", "a"])


@given(
    params=st.lists(st.tuples(st.sampled_from(["To", "From", "Body", "MediaUrl0", "a"]), text), max_size=8)
)
def test_signature_matches_the_twilio_library(params: list[tuple[str, str]]) -> None:
    url = "https://app.example.com/sms?x=1"
    expected = RequestValidator(TOKEN).compute_signature(url, MultiDict(params))  # as Flask gives it
    assert signature(TOKEN, url, params) == expected


@given(params=st.lists(st.tuples(text, text), max_size=6))
def test_form_bodies_and_queries_are_what_urlencode_writes(params: list[tuple[str, str]]) -> None:
    assert form_encode(params) == urlencode(params)
    assert form_encode(params, safe=GET_SAFE) == urlencode(params, safe=GET_SAFE)
