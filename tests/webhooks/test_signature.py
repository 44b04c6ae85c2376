"""X-Twilio-Signature as the official library computes it, for any parameters (repeated names included)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

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
