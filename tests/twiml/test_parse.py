"""The sans-IO TwiML parser: every voice verb with its defaults and attributes, each error code, the
12200 warnings, hostile XML, and messaging TwiML (twilio-wire.md §4)."""

from __future__ import annotations

import pytest

from telephonist.twiml import TwiMLError, parse_messaging, parse_voice
from telephonist.twiml.verbs import (
    ConferenceTarget,
    Connect,
    Dial,
    DialTarget,
    Document,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Message,
    MessagingDocument,
    Pause,
    Play,
    QueueTarget,
    Record,
    Redirect,
    Reject,
    Say,
    StartStream,
    StopStream,
    Stream,
    Unsupported,
)


def voice(body: str) -> Document:
    return parse_voice(f"<Response>{body}</Response>")


def only(body: str) -> object:
    doc = voice(body)
    assert len(doc.verbs) == 1, doc
    return doc.verbs[0]


def error_code(xml: str, messaging: bool = False) -> int:
    with pytest.raises(TwiMLError) as info:
        (parse_messaging if messaging else parse_voice)(xml)
    assert info.value.message
    return info.value.code


# -- documents ------------------------------------------------------------------------------------


def test_empty_response_is_an_empty_document() -> None:
    assert parse_voice("<Response/>") == Document((), ())
    assert parse_voice("<Response></Response>").verbs == ()


def test_xml_declaration_and_bytes_are_accepted() -> None:
    doc = parse_voice(b'<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n  <Say>Hi</Say>\n</Response>\n')
    assert doc.verbs == (Say("Hi"),)


def test_latin1_bytes_are_decoded_by_their_declaration() -> None:
    doc = parse_voice(b'<?xml version="1.0" encoding="ISO-8859-1"?><Response><Say>caf\xe9</Say></Response>')
    assert doc.verbs == (Say("caf\u00e9"),)


def test_verbs_keep_document_order() -> None:
    doc = voice("<Say>one</Say><Pause/><Play>http://x/a.mp3</Play><Say>two</Say><Hangup/>")
    assert doc.verbs == (Say("one"), Pause(1), Play("http://x/a.mp3"), Say("two"), Hangup())
    assert doc.warnings == ()


def test_twilio_sdk_output_parses() -> None:
    from twilio.twiml.voice_response import VoiceResponse

    r = VoiceResponse()
    r.say("Hello", voice="woman", language="fr", loop=2)
    g = r.gather(
        num_digits=3, action="/next", method="GET", timeout=7, finish_on_key="*", input="dtmf speech"
    )
    g.say("Enter your code")
    g.pause(length=2)
    r.redirect("/again", method="GET")
    doc = parse_voice(str(r))
    assert doc.warnings == ()
    assert doc.verbs == (
        Say("Hello", "woman", "fr", 2),
        Gather(
            action="/next",
            method="GET",
            input=("dtmf", "speech"),
            timeout=7,
            finish_on_key="*",
            num_digits=3,
            prompts=(Say("Enter your code"), Pause(2)),
        ),
        Redirect("/again", "GET"),
    )


# -- <Say> --------------------------------------------------------------------------------------------


def test_say_defaults() -> None:
    assert only("<Say>Hello world.</Say>") == Say(text="Hello world.", voice="man", language="en", loop=1)


def test_say_attributes() -> None:
    verb = only('<Say voice="Polly.Joanna" language="en-US" loop="3">Hi there</Say>')
    assert verb == Say("Hi there", "Polly.Joanna", "en-US", 3)


def test_say_loop_zero_is_allowed() -> None:
    assert only('<Say loop="0">Hi</Say>') == Say("Hi", loop=0)


def test_say_text_is_whitespace_normalised_and_ssml_contributes_text() -> None:
    assert only("<Say>\n   Hello\n   world  </Say>") == Say("Hello world")
    verb = only('<Say>Hello <break time="1s"/><emphasis level="strong">big</emphasis> world</Say>')
    assert verb == Say(
        "Hello big world", ssml='Hello <break time="1s" /><emphasis level="strong">big</emphasis> world'
    )


@pytest.mark.parametrize("loop", ["-1", "two", "1.5", ""])
def test_say_bad_loop_is_13510(loop: str) -> None:
    assert error_code(f'<Response><Say loop="{loop}">Hi</Say></Response>') == 13510


@pytest.mark.parametrize("body", ["<Say></Say>", "<Say/>", "<Say>   </Say>"])
def test_say_without_text_is_13520(body: str) -> None:
    assert error_code(f"<Response>{body}</Response>") == 13520


def test_say_text_limit_is_4096_characters() -> None:
    assert only(f"<Say>{'a' * 4096}</Say>") == Say("a" * 4096)
    assert error_code(f"<Response><Say>{'a' * 4097}</Say></Response>") == 13521


# -- <Play> -------------------------------------------------------------------------------------------


def test_play_defaults() -> None:
    assert only("<Play>https://example.com/a.mp3</Play>") == Play(
        url="https://example.com/a.mp3", loop=1, digits=""
    )


def test_play_loop_and_digits() -> None:
    assert only('<Play loop="4">http://x/a.wav</Play>') == Play("http://x/a.wav", 4)
    assert only('<Play digits="ww12#*w"></Play>') == Play("", 1, "ww12#*w")
    assert only('<Play digits="0123456789"/>') == Play(digits="0123456789")


@pytest.mark.parametrize("loop", ["-2", "x", "1e3"])
def test_play_bad_loop_is_13410(loop: str) -> None:
    assert error_code(f'<Response><Play loop="{loop}">http://x/a.mp3</Play></Response>') == 13410


@pytest.mark.parametrize("digits", ["12a", "1 2", "+1", "D"])
def test_play_bad_digits_is_13430(digits: str) -> None:
    assert error_code(f'<Response><Play digits="{digits}"/></Response>') == 13430


def test_play_without_url_or_digits_is_an_error() -> None:
    assert error_code("<Response><Play/></Response>") == 13420


# -- <Pause> ------------------------------------------------------------------------------------------


def test_pause_defaults_to_one_second() -> None:
    assert only("<Pause/>") == Pause(length=1)
    assert only('<Pause length="10"/>') == Pause(10)
    assert only('<Pause length=" 3 "/>') == Pause(3)


@pytest.mark.parametrize("length", ["0", "-1", "abc", "2.5", ""])
def test_pause_bad_length_is_13910(length: str) -> None:
    assert error_code(f'<Response><Pause length="{length}"/></Response>') == 13910


# -- <Gather> -----------------------------------------------------------------------------------------


def test_gather_defaults() -> None:
    verb = only("<Gather/>")
    assert verb == Gather(
        action=None,
        method="POST",
        input=("dtmf",),
        timeout=5,
        finish_on_key="#",
        num_digits=None,
        speech_timeout=None,
        language="en-US",
        hints="",
        action_on_empty_result=False,
        prompts=(),
    )


def test_gather_attributes() -> None:
    verb = only(
        '<Gather action="/menu" method="get" input="speech dtmf" timeout="0" finishOnKey="*" numDigits="4"'
        ' speechTimeout="auto" language="fr-FR" hints="yes, no" actionOnEmptyResult="true"'
        ' maxSpeechTime="30" profanityFilter="false" bargeIn="true" speechModel="phone_call" enhanced="true"'
        ' partialResultCallback="/p" partialResultCallbackMethod="GET" debug="false"/>'
    )
    assert verb == Gather(
        action="/menu",
        method="GET",
        input=("speech", "dtmf"),
        timeout=0,
        finish_on_key="*",
        num_digits=4,
        speech_timeout="auto",
        language="fr-FR",
        hints="yes, no",
        action_on_empty_result=True,
        prompts=(),
        partial_result_callback="/p",
        partial_result_callback_method="GET",
    )
    assert voice('<Gather finishOnKey="" />').verbs[0] == Gather(finish_on_key="")


def test_gather_nests_say_play_and_pause_in_order() -> None:
    verb = only(
        '<Gather numDigits="1"><Say voice="woman">Press one</Say><Pause length="2"/>'
        "<Play>http://x/beep.mp3</Play></Gather>"
    )
    assert isinstance(verb, Gather)
    assert verb.prompts == (Say("Press one", "woman"), Pause(2), Play("http://x/beep.mp3"))


@pytest.mark.parametrize("key", ["ab", "x", "##", "A"])
def test_gather_bad_finish_on_key_is_13310(key: str) -> None:
    assert error_code(f'<Response><Gather finishOnKey="{key}"/></Response>') == 13310


@pytest.mark.parametrize("method", ["PUT", "DELETE", "", "fetch"])
def test_gather_bad_method_is_13312(method: str) -> None:
    assert error_code(f'<Response><Gather method="{method}"/></Response>') == 13312


@pytest.mark.parametrize("timeout", ["-1", "soon", "1.5"])
def test_gather_bad_timeout_is_13313(timeout: str) -> None:
    assert error_code(f'<Response><Gather timeout="{timeout}"/></Response>') == 13313


@pytest.mark.parametrize("num", ["0", "-3", "four", ""])
def test_gather_bad_num_digits_is_13314(num: str) -> None:
    assert error_code(f'<Response><Gather numDigits="{num}"/></Response>') == 13314


@pytest.mark.parametrize(
    "child",
    [
        "<Dial>+15551230000</Dial>",
        "<Gather/>",
        "<Redirect>/x</Redirect>",
        "<Hangup/>",
        '<Play digits="1"/>',
        "<Sms>hi</Sms>",
    ],
)
def test_gather_bad_nested_verb_is_13320(child: str) -> None:
    assert error_code(f"<Response><Gather>{child}</Gather></Response>") == 13320


@pytest.mark.parametrize("value", ["voice", "dtmf voice", "DTMF", "dtmf,speech"])
def test_gather_bad_input_is_13326(value: str) -> None:
    assert error_code(f'<Response><Gather input="{value}"/></Response>') == 13326


def test_gather_nested_prompt_errors_keep_their_own_codes() -> None:
    assert error_code('<Response><Gather><Say loop="x">Hi</Say></Gather></Response>') == 13510
    assert error_code('<Response><Gather><Pause length="0"/></Gather></Response>') == 13910


# -- <Redirect>, <Reject>, <Hangup> ------------------------------------------------------------------


def test_redirect_defaults_to_post() -> None:
    assert only("<Redirect>/next</Redirect>") == Redirect(url="/next", method="POST")
    assert only('<Redirect method="GET"> http://x/y?a=1&amp;b=2 </Redirect>') == Redirect(
        "http://x/y?a=1&b=2", "GET"
    )


def test_redirect_errors_are_13710() -> None:
    assert error_code("<Response><Redirect/></Response>") == 13710
    assert error_code('<Response><Redirect method="PATCH">/x</Redirect></Response>') == 13710


def test_reject_defaults_to_rejected() -> None:
    assert only("<Reject/>") == Reject(reason="rejected")
    assert only('<Reject reason="busy"/>') == Reject("busy")


@pytest.mark.parametrize("reason", ["nope", "BUSY", "no-answer"])
def test_reject_bad_reason_is_13810(reason: str) -> None:
    assert error_code(f'<Response><Reject reason="{reason}"/></Response>') == 13810


def test_hangup() -> None:
    assert only("<Hangup/>") == Hangup()


def test_hangup_unknown_attribute_is_a_12200_warning() -> None:
    doc = voice('<Hangup reason="x"/>')
    assert doc.verbs == (Hangup(),)
    assert [code for code, _ in doc.warnings] == [12200]


# -- <Sms> / <Message> in a call ----------------------------------------------------------------------


def test_sms_in_voice_defaults() -> None:
    assert only("<Sms>See you</Sms>") == Message(
        body="See you", to=None, from_=None, action=None, method="POST", status_callback=None, media=()
    )


def test_sms_and_message_in_voice_attributes() -> None:
    verb = only(
        '<Sms to="+15551230000" from="+15005550006" action="/sent" method="GET" statusCallback="/st">Hi</Sms>'
    )
    assert verb == Message("Hi", "+15551230000", "+15005550006", "/sent", "GET", "/st")
    assert only("<Message>Hi <Media>http://x/a.png</Media></Message>") == Message(
        "Hi", media=("http://x/a.png",)
    )


# -- Dial ----------------------------------------------------------------------------------------


def test_dial_bare_number_defaults() -> None:
    assert only("<Dial>(415) 555-0100</Dial>") == Dial((DialTarget("number", "+14155550100"),))


def test_dial_attributes_and_nouns() -> None:
    dial = only(
        '<Dial action="/done" method="GET" timeout="12" callerId="+15005550006" hangupOnStar="true" '
        'timeLimit="60" record="true" answerOnBridge="true" sequential="true">'
        '<Number sendDigits="1w2" url="/whisper" method="GET" statusCallback="/s" statusCallbackMethod="GET" '
        'statusCallbackEvent="initiated ringing answered completed">+15551230101</Number>'
        "<Client><Identity>alice</Identity><Parameter name='ticket' value='42'/></Client>"
        "<Sip>sip:bob@pbx.example.com</Sip></Dial>"
    )
    assert dial == Dial(
        targets=(
            DialTarget(
                "number",
                "+15551230101",
                url="/whisper",
                method="GET",
                send_digits="1w2",
                status_callback="/s",
                status_callback_method="GET",
                status_callback_event=("initiated", "ringing", "answered", "completed"),
            ),
            DialTarget("client", "client:alice", parameters=(("ticket", "42"),)),
            DialTarget("sip", "sip:bob@pbx.example.com"),
        ),
        action="/done",
        method="GET",
        timeout=12,
        caller_id="+15005550006",
        hangup_on_star=True,
        time_limit=60,
        record="record-from-answer",
        answer_on_bridge=True,
        sequential=True,
    )


def test_dial_timeout_is_kept_between_5_and_600() -> None:
    assert only('<Dial timeout="1">+15551230101</Dial>').timeout == 5  # type: ignore[attr-defined]
    assert only('<Dial timeout="9000">+15551230101</Dial>').timeout == 600  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        ('<Dial method="PUT">+15551230101</Dial>', 13210),
        ('<Dial timeout="soon">+15551230101</Dial>', 13212),
        ('<Dial hangupOnStar="yes">+15551230101</Dial>', 13213),
        ('<Dial callerId="not a number">+15551230101</Dial>', 13214),
        ("<Dial><Say>hi</Say></Dial>", 13215),
        ("<Dial/>", 13215),
        ('<Dial timeLimit="0">+15551230101</Dial>', 13216),
        ('<Dial record="always">+15551230101</Dial>', 13217),
        ('<Dial sequential="1">+15551230101</Dial>', 13218),
        ('<Dial answerOnBridge="no">+15551230101</Dial>', 13219),
        ('<Dial><Number method="PUT">+15551230101</Number></Dial>', 13221),
        ('<Dial><Number sendDigits="12x">+15551230101</Number></Dial>', 13222),
        ("<Dial>not-a-number</Dial>", 13223),
        ("<Dial><Number>12</Number></Dial>", 13223),
        ("<Dial><Sip>bob@example.com</Sip></Dial>", 13243),
        ('<Dial><Number machineDetection="Maybe">+15551230101</Number></Dial>', 13211),
        ("<Dial>" + "<Number>+15551230101</Number>" * 11 + "</Dial>", 13250),
    ],
)
def test_dial_errors(xml: str, code: int) -> None:
    assert error_code(f"<Response>{xml}</Response>") == code


def test_dial_with_ten_nouns_is_fine() -> None:
    assert len(only("<Dial>" + "<Number>+15551230101</Number>" * 10 + "</Dial>").targets) == 10  # type: ignore[attr-defined]


def test_dial_client_caller_id_may_be_an_identity() -> None:
    assert only('<Dial callerId="support"><Client>alice</Client></Dial>').caller_id == "support"  # type: ignore[attr-defined]


def test_dial_conference_attributes() -> None:
    dial = only(
        '<Dial><Conference muted="true" beep="onExit" startConferenceOnEnter="false" '
        'endConferenceOnExit="true" '
        'waitUrl="" waitMethod="GET" maxParticipants="10" coach="CA1" participantLabel="expert" '
        'statusCallback="/s" statusCallbackEvent="start end join">room</Conference></Dial>'
    )
    assert dial.conference == ConferenceTarget(  # type: ignore[attr-defined]
        name="room",
        muted=True,
        beep="onExit",
        start_on_enter=False,
        end_on_exit=True,
        wait_url="",
        wait_method="GET",
        max_participants=10,
        coach="CA1",
        label="expert",
        status_callback="/s",
        status_callback_event=("start", "end", "join"),
    )


@pytest.mark.parametrize(
    ("attrs", "code"),
    [
        ('muted="yes"', 13230),
        ('endConferenceOnExit="1"', 13231),
        ('startConferenceOnEnter="no"', 13232),
        ('waitMethod="PUT"', 13234),
        ('beep="loud"', 13235),
        ('record="always"', 13217),
        ('statusCallbackEvent="started"', 13215),
    ],
)
def test_dial_conference_errors(attrs: str, code: int) -> None:
    assert error_code(f"<Response><Dial><Conference {attrs}>room</Conference></Dial></Response>") == code


def test_dial_conference_needs_a_name() -> None:
    assert error_code("<Response><Dial><Conference/></Dial></Response>") == 13237


# -- queues --------------------------------------------------------------------------------------


def test_enqueue_and_dial_queue() -> None:
    doc = voice(
        '<Enqueue action="/a" method="GET" waitUrl="/w" waitUrlMethod="GET" maxQueueSize="5">'
        "support</Enqueue>"
        '<Dial><Queue url="/u" method="GET">support</Queue></Dial><Leave/>'
    )
    assert doc.verbs == (
        Enqueue("support", "/a", "GET", "/w", "GET", 5),
        Dial((), queue=QueueTarget("support", "/u", "GET")),
        Leave(),
    )


def test_enqueue_workflow_is_a_warning() -> None:
    doc = voice('<Enqueue workflowSid="WW1"><Task>{}</Task></Enqueue>')
    assert doc.verbs == (Enqueue("WW1"),)
    assert [code for code, _ in doc.warnings] == [12200]


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        ('<Enqueue method="PUT">q</Enqueue>', 14201),
        ("<Enqueue/>", 14204),
        ("<Enqueue>" + "q" * 65 + "</Enqueue>", 14205),
        ('<Enqueue waitUrlMethod="PUT">q</Enqueue>', 14206),
        ('<Dial><Queue method="PUT">q</Queue></Dial>', 14210),
        ("<Dial><Queue/></Dial>", 14212),
        ("<Dial><Queue>" + "q" * 65 + "</Queue></Dial>", 14213),
        ("<Dial><Queue>q</Queue><Number>+15551230101</Number></Dial>", 13215),
    ],
)
def test_queue_errors(xml: str, code: int) -> None:
    assert error_code(f"<Response>{xml}</Response>") == code


# -- Record --------------------------------------------------------------------------------------


def test_record_defaults() -> None:
    assert only("<Record/>") == Record()


def test_record_attributes() -> None:
    assert only(
        '<Record action="/done" method="GET" timeout="10" finishOnKey="#*" maxLength="60" playBeep="false" '
        'trim="do-not-trim" recordingStatusCallback="/rs" recordingStatusCallbackMethod="GET" '
        'recordingStatusCallbackEvent="in-progress completed absent" transcribe="true" '
        'transcribeCallback="/tc"/>'
    ) == Record(
        action="/done",
        method="GET",
        timeout=10,
        finish_on_key="#*",
        max_length=60,
        play_beep=False,
        trim="do-not-trim",
        recording_status_callback="/rs",
        recording_status_callback_method="GET",
        recording_status_callback_event=("in-progress", "completed", "absent"),
        transcribe=True,
        transcribe_callback="/tc",
    )


def test_record_transcription_over_two_minutes_is_a_13615_warning() -> None:
    doc = voice('<Record transcribe="true" maxLength="600"/>')
    assert doc.verbs == (Record(max_length=600),)
    assert [code for code, _ in doc.warnings] == [13615]


def test_record_nested_element_is_a_warning() -> None:
    doc = voice("<Record><Say>x</Say></Record>")
    assert doc.verbs == (Record(),) and [code for code, _ in doc.warnings] == [12200]


# -- Connect -------------------------------------------------------------------------------------


def test_connect_stream() -> None:
    verb = only(
        '<Connect action="/after" method="GET"><Stream url="wss://app.example/media" name="s1" '
        'statusCallback="/st"><Parameter name="a" value="1"/></Stream></Connect>'
    )
    assert verb == Connect(
        Stream("wss://app.example/media", "s1", status_callback="/st", parameters=(("a", "1"),)),
        "/after",
        "GET",
    )


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        ('<Connect><Stream url="https://app.example/media"/></Connect>', 31922),
        ('<Connect><Stream url="wss://x/m" track="both_tracks"/></Connect>', 31941),
    ],
)
def test_connect_stream_errors(xml: str, code: int) -> None:
    assert error_code(f"<Response>{xml}</Response>") == code


def test_start_and_stop_stream() -> None:
    doc = voice(
        '<Start><Stream name="f" track="both_tracks" url="wss://x/m"/></Start><Stop><Stream name="f"/></Stop>'
    )
    assert doc.verbs == (StartStream(Stream("wss://x/m", "f", "both_tracks")), StopStream("f"))
    assert voice("<Start><Transcription/></Start>").verbs == (Unsupported("Start><Transcription"),)
    assert error_code("<Response><Stop><Stream/></Stop></Response>") == 12200


def test_connect_to_anything_else_is_skipped_with_a_warning() -> None:
    assert voice("<Connect><Room>r</Room></Connect>").verbs == (Unsupported("Connect><Room"),)


# -- verbs that are parsed but not run yet, and warnings ---------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Pay",
        "Refer",
        "Echo",
        "Queue",
        "Prompt",
    ],
)
def test_later_verbs_are_parsed_as_unsupported(name: str) -> None:
    doc = voice(f"<Say>a</Say><{name}>x</{name}><Say>b</Say>")
    assert doc.verbs == (Say("a"), Unsupported(name), Say("b"))


def test_unknown_verb_is_a_12200_warning_and_skipped() -> None:
    doc = voice("<Say>a</Say><Shout>b</Shout><say>c</say><Say>d</Say>")
    assert doc.verbs == (Say("a"), Say("d"))
    assert [code for code, _ in doc.warnings] == [12200, 12200]
    assert "Shout" in doc.warnings[0][1] and "say" in doc.warnings[1][1]


@pytest.mark.parametrize(
    "body",
    [
        '<Say colour="red">Hi</Say>',
        '<Play volume="2">http://x/a.mp3</Play>',
        '<Pause seconds="3"/>',
        '<Gather timeOut="3"/>',
        '<Redirect to="x">/y</Redirect>',
        '<Reject cause="busy"/>',
        '<Sms sender="+1">Hi</Sms>',
        '<Gather><Say speed="2">Hi</Say></Gather>',
    ],
)
def test_unknown_attribute_is_a_12200_warning(body: str) -> None:
    doc = voice(body)
    assert len(doc.verbs) == 1
    assert [code for code, _ in doc.warnings] == [12200]


def test_attribute_names_are_case_sensitive() -> None:
    doc = voice('<Gather NumDigits="3"/>')
    assert doc.verbs == (Gather(),)
    assert [code for code, _ in doc.warnings] == [12200]


# -- malformed and hostile XML -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "xml",
    [
        "",
        "   ",
        "not xml",
        "<Response>",
        "<Response><Say>Hi</Response>",
        "<Response></response>",
        "<Response><Say>a & b</Say></Response>",
        "<Response/><Response/>",
        '{"Say": "hi"}',
    ],
)
def test_malformed_xml_is_12100(xml: str) -> None:
    assert error_code(xml) == 12100


@pytest.mark.parametrize(
    "xml", ["<response/>", "<Say>Hi</Say>", "<TwiML><Say>Hi</Say></TwiML>", "<html><body/></html>"]
)
def test_root_other_than_response_is_12102(xml: str) -> None:
    assert error_code(xml) == 12102
    assert error_code(xml, messaging=True) == 12102


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE Response [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Response><Say>&lol9;</Say></Response>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Response><Say>&secret;</Say></Response>"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<Response><Say>Hi</Say></Response>"""

ONE_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY name "world">]>
<Response><Say>Hello &name;</Say></Response>"""


@pytest.mark.parametrize(
    "xml",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY, ONE_ENTITY],
    ids=["billion-laughs", "external-entity", "parameter-entity", "internal-entity"],
)
def test_entity_documents_are_refused_with_12100(xml: str) -> None:
    assert error_code(xml) == 12100
    assert error_code(xml, messaging=True) == 12100


def test_predefined_and_character_entities_still_work() -> None:
    assert only("<Say>Tom &amp; Jerry &lt;3 &#233;&#x41;</Say>") == Say("Tom & Jerry <3 \u00e9A")


# -- messaging TwiML ----------------------------------------------------------------------------------


def test_messaging_plain_message() -> None:
    doc = parse_messaging("<Response><Message>Thanks!</Message></Response>")
    assert doc == MessagingDocument((Message("Thanks!"),), ())


def test_messaging_mixed_content_body_and_media() -> None:
    doc = parse_messaging("<Response><Message>hello<Media>https://x/y.png</Media></Message></Response>")
    assert doc.verbs == (Message(body="hello", media=("https://x/y.png",)),)
    assert doc.warnings == ()


def test_messaging_sdk_mixed_content() -> None:
    from twilio.twiml.messaging_response import MessagingResponse

    r = MessagingResponse()
    r.message("hello").media("https://x/y.png")
    assert parse_messaging(str(r)).verbs == (Message(body="hello", media=("https://x/y.png",)),)


def test_messaging_body_and_media_children() -> None:
    doc = parse_messaging(
        '<Response><Message to="+15551230000" from="+15005550006" action="/st" method="GET">'
        "<Body>Your photo</Body><Media>http://x/1.png</Media><Media>http://x/2.png</Media></Message>"
        '<Redirect method="GET">/more</Redirect></Response>'
    )
    assert doc.verbs == (
        Message(
            "Your photo",
            "+15551230000",
            "+15005550006",
            "/st",
            "GET",
            media=("http://x/1.png", "http://x/2.png"),
        ),
        Redirect("/more", "GET"),
    )


def test_messaging_media_only_message() -> None:
    doc = parse_messaging("<Response><Message><Media>http://x/1.png</Media></Message></Response>")
    assert doc.verbs == (Message("", media=("http://x/1.png",)),)


def test_messaging_empty_message_is_an_error() -> None:
    assert error_code("<Response><Message/></Response>", messaging=True) == 14103
    assert error_code("<Response><Message>  </Message></Response>", messaging=True) == 14103


def test_messaging_bad_method_is_an_error() -> None:
    assert error_code('<Response><Message method="PUT">hi</Message></Response>', messaging=True) == 14104


def test_messaging_voice_verbs_and_unknown_elements_are_warnings() -> None:
    doc = parse_messaging("<Response><Say>hi</Say><Message>ok<Foo/></Message><Bogus/></Response>")
    assert doc.verbs == (Message("ok"),)
    assert [code for code, _ in doc.warnings] == [14110, 12200, 12200]
