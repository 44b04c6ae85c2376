"""<Say> with SSML keeps the markup in the transcript; <Gather partialResultCallback> reports speech as it
is recognised."""

from __future__ import annotations

from conftest import Telephonist, WebApp

from .support import events, params, phone, place, signed


def test_ssml_is_spoken_as_text_and_kept_in_the_transcript(tel: Telephonist, webapp: WebApp) -> None:
    twiml = (
        '<Response><Say voice="Polly.Joanna">Hello <break time="1s"/>'
        '<prosody rate="slow">world</prosody>.</Say></Response>'
    )
    sid = place(tel, twiml=twiml)
    tel.call_final(sid)
    [say] = events(tel, sid, "say")
    assert say["text"] == "Hello world ."
    assert say["ssml"] == 'Hello <break time="1s" /><prosody rate="slow">world</prosody>.'
    assert say["voice"] == "Polly.Joanna"


def test_plain_say_has_no_ssml(tel: Telephonist) -> None:
    sid = place(tel, twiml="<Response><Say>Plain</Say></Response>")
    tel.call_final(sid)
    assert "ssml" not in events(tel, sid, "say")[0]


def test_partial_results_are_posted_word_by_word(tel: Telephonist, webapp: WebApp) -> None:
    phone(tel, GatherInput=["speech:book a table"])
    twiml = '<Response><Gather input="speech" action="/done" partialResultCallback="/partial"/></Response>'
    webapp.twiml("/done", "<Response/>")
    sid = place(tel, webapp.twiml("/voice", twiml))
    tel.call_final(sid)
    hits = webapp.wait_hits("/partial", 3)
    got = [
        (params(h)["SequenceNumber"], params(h)["StableSpeechResult"], params(h)["UnstableSpeechResult"])
        for h in hits
    ]
    assert got == [("1", "", "book"), ("2", "book", "a"), ("3", "book a", "table")]
    assert all(params(h)["CallSid"] == sid and signed(h) for h in hits)
    assert params(webapp.wait_hits("/done")[0])["SpeechResult"] == "book a table"
