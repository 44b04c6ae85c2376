"""Parse TwiML with defusedxml (no entity expansion, no external references) into typed verbs.

Malformed XML is 12100, a root other than <Response> 12102, a bad attribute value the verb's own code
(13xxx); unknown elements and attributes are 12200 warnings and are skipped, as on Twilio.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from xml.etree.ElementTree import Element, ParseError, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from telephonist.numbers import to_e164
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
    MessagingVerb,
    Pause,
    Play,
    Prompt,
    QueueTarget,
    Record,
    Redirect,
    Reject,
    Say,
    StartStream,
    StopStream,
    Stream,
    Unsupported,
    VoiceVerb,
)

MAX_SAY_CHARS = 4096
# Verbs Twilio runs that this release parses but does not execute yet.
_LATER = {
    "Pay",
    "Refer",
    "Echo",
    "Queue",
    "Prompt",
}


class TwiMLError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Reader:
    """Reads one element's attributes, collecting 12200 warnings for the ones the verb does not know."""

    def __init__(self, el: Element, known: set[str], warnings: list[tuple[int, str]]) -> None:
        self.el = el
        for name in el.attrib:
            if name not in known:
                warnings.append((12200, f"Attribute '{name}' is not allowed on <{el.tag}>"))

    def text(self, name: str, default: str | None = None) -> str | None:
        return self.el.attrib.get(name, default)

    def integer(self, name: str, default: int, code: int, minimum: int = 0) -> int:
        raw = self.el.attrib.get(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise TwiMLError(code, f"<{self.el.tag}> attribute {name}='{raw}' is not an integer") from None
        if value < minimum:
            raise TwiMLError(code, f"<{self.el.tag}> attribute {name}='{raw}' must be at least {minimum}")
        return value

    def method(self, name: str, code: int) -> str:
        raw = self.el.attrib.get(name, "POST")
        if raw.upper() not in ("GET", "POST"):
            raise TwiMLError(code, f"<{self.el.tag}> attribute {name}='{raw}' must be GET or POST")
        return raw.upper()

    def boolean(self, name: str, default: bool, code: int) -> bool:
        raw = self.el.attrib.get(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            raise TwiMLError(code, f"<{self.el.tag}> attribute {name}='{raw}' must be true or false")
        return raw.lower() == "true"


def _root(xml: str | bytes) -> Element:
    try:
        root: Element = fromstring(xml)
    except (ParseError, DefusedXmlException) as exc:
        raise TwiMLError(12100, f"Document parse failure: {exc}") from None
    if root.tag != "Response":
        raise TwiMLError(12102, f"The root element must be Response, not <{root.tag}>")
    return root


def _text(el: Element) -> str:
    return (el.text or "").strip()


def _say(el: Element, w: list[tuple[int, str]]) -> Say:
    r = _Reader(el, {"voice", "language", "loop"}, w)
    # SSML children (<break>, <emphasis>, <prosody>…) contribute their text.
    text = " ".join(" ".join(el.itertext()).split())
    if not text:
        raise TwiMLError(13520, "<Say> must contain text")
    if len(text) > MAX_SAY_CHARS:
        raise TwiMLError(13521, f"<Say> text is longer than {MAX_SAY_CHARS} characters")
    ssml = None
    if len(el):
        ssml = ((el.text or "") + "".join(tostring(child, encoding="unicode") for child in el)).strip()
    return Say(
        text,
        r.text("voice", "man") or "man",
        r.text("language", "en") or "en",
        r.integer("loop", 1, 13510),
        ssml,
    )


def _play(el: Element, w: list[tuple[int, str]]) -> Play:
    r = _Reader(el, {"loop", "digits"}, w)
    digits = r.text("digits", "") or ""
    if digits and not re.fullmatch(r"[0-9*#wW]+", digits):
        raise TwiMLError(13430, f"<Play> digits='{digits}' may only contain 0-9, *, # and w")
    url = _text(el)
    if not url and not digits:
        raise TwiMLError(13420, "<Play> needs an audio URL or digits")
    return Play(url, r.integer("loop", 1, 13410), digits)


def _pause(el: Element, w: list[tuple[int, str]]) -> Pause:
    return Pause(_Reader(el, {"length"}, w).integer("length", 1, 13910, minimum=1))


_GATHER_ATTRS = {
    "action",
    "method",
    "input",
    "timeout",
    "finishOnKey",
    "numDigits",
    "speechTimeout",
    "maxSpeechTime",
    "partialResultCallback",
    "partialResultCallbackMethod",
    "language",
    "hints",
    "profanityFilter",
    "bargeIn",
    "actionOnEmptyResult",
    "speechModel",
    "enhanced",
    "debug",
}
_PROMPTS: dict[str, Callable[[Element, list[tuple[int, str]]], Prompt]] = {
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
}


def _gather(el: Element, w: list[tuple[int, str]]) -> Gather:
    r = _Reader(el, _GATHER_ATTRS, w)
    finish = r.text("finishOnKey", "#") or ""
    if len(finish) > 1 or (finish and finish not in "0123456789*#"):
        raise TwiMLError(13310, f"<Gather> finishOnKey='{finish}' must be one of 0-9, * or #")
    inputs = tuple((r.text("input", "dtmf") or "dtmf").split())
    if not inputs or any(i not in ("dtmf", "speech") for i in inputs):
        raise TwiMLError(13326, f"<Gather> input='{r.text('input')}' must be dtmf, speech or both")
    num = r.text("numDigits")
    prompts: list[Prompt] = []
    for child in el:
        make = _PROMPTS.get(child.tag)
        if make is None:
            raise TwiMLError(13320, f"<{child.tag}> cannot be nested in <Gather>")
        if child.tag == "Play" and child.attrib.get("digits"):
            raise TwiMLError(13320, "<Play digits> cannot be nested in <Gather>")
        prompts.append(make(child, w))
    return Gather(
        action=r.text("action"),
        method=r.method("method", 13312),
        input=inputs,
        timeout=r.integer("timeout", 5, 13313),
        finish_on_key=finish,
        num_digits=r.integer("numDigits", 0, 13314, minimum=1) if num is not None else None,
        speech_timeout=r.text("speechTimeout"),
        language=r.text("language", "en-US") or "en-US",
        hints=r.text("hints", "") or "",
        action_on_empty_result=r.boolean("actionOnEmptyResult", False, 13338),
        prompts=tuple(prompts),
        partial_result_callback=r.text("partialResultCallback"),
        partial_result_callback_method=r.method("partialResultCallbackMethod", 13312),
    )


def _hangup(el: Element, w: list[tuple[int, str]]) -> Hangup:
    _Reader(el, set(), w)  # no attributes: each one is a 12200 warning
    return Hangup()


def _redirect(el: Element, w: list[tuple[int, str]]) -> Redirect:
    r = _Reader(el, {"method"}, w)
    url = _text(el)
    if not url:
        raise TwiMLError(13710, "<Redirect> needs a URL")
    return Redirect(url, r.method("method", 13710))


def _reject(el: Element, w: list[tuple[int, str]]) -> Reject:
    reason = _Reader(el, {"reason"}, w).text("reason", "rejected") or "rejected"
    if reason not in ("rejected", "busy"):
        raise TwiMLError(13810, f"<Reject> reason='{reason}' must be rejected or busy")
    return Reject(reason)


def _message(el: Element, w: list[tuple[int, str]]) -> Message:
    r = _Reader(el, {"to", "from", "action", "method", "statusCallback"}, w)
    body = (el.text or "").strip()
    media: list[str] = []
    for child in el:
        if child.tag == "Body":
            body = _text(child)
        elif child.tag == "Media":
            media.append(_text(child))
        else:
            w.append((12200, f"<{child.tag}> is not allowed in <{el.tag}>"))
    if not body and not media:
        raise TwiMLError(14103, f"<{el.tag}> must have a body or media")
    return Message(
        body=body,
        to=r.text("to"),
        from_=r.text("from"),
        action=r.text("action"),
        method=r.method("method", 14104),
        status_callback=r.text("statusCallback"),
        media=tuple(media),
    )


MAX_DIAL_TARGETS = 10
DIAL_RECORD = {
    "do-not-record": "do-not-record",
    "false": "do-not-record",
    "record-from-answer": "record-from-answer",
    "true": "record-from-answer",
    "record-from-ringing": "record-from-ringing",
    "record-from-answer-dual": "record-from-answer-dual",
    "record-from-ringing-dual": "record-from-ringing-dual",
}
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
_DIAL_ATTRS = {
    "action",
    "method",
    "timeout",
    "callerId",
    "hangupOnStar",
    "timeLimit",
    "record",
    "trim",
    "recordingStatusCallback",
    "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent",
    "recordingTrack",
    "answerOnBridge",
    "ringTone",
    "sequential",
    "referUrl",
    "referMethod",
    "callReason",
    "events",
}
_NOUN_ATTRS = {"url", "method", "statusCallback", "statusCallbackMethod", "statusCallbackEvent"}
_DIGITS = re.compile(r"[0-9*#wW]+")
_SIP_URI = re.compile(r"sips?:[^@\s]+@[^\s]+|sips?:[^\s@]+", re.I)


def _noun(el: Element, w: list[tuple[int, str]]) -> DialTarget:
    known = _NOUN_ATTRS | {"sendDigits"} if el.tag in ("Number", "Sip") else set(_NOUN_ATTRS)
    known |= {"username", "password"} if el.tag == "Sip" else set()
    known |= {
        "byoc",
        "machineDetection",
        "machineDetectionTimeout",
        "amdStatusCallback",
        "amdStatusCallbackMethod",
    }
    known |= {
        "machineDetectionSpeechThreshold",
        "machineDetectionSpeechEndThreshold",
        "machineDetectionSilenceTimeout",
    }
    r = _Reader(el, known, w)
    digits = r.text("sendDigits", "") or ""
    if digits and not _DIGITS.fullmatch(digits):
        raise TwiMLError(
            13222 if el.tag == "Number" else 13242, f"<{el.tag}> sendDigits='{digits}' is invalid"
        )
    events = tuple((r.text("statusCallbackEvent", "completed") or "completed").replace(",", " ").split())
    if any(e not in CALL_EVENTS for e in events):
        raise TwiMLError(13215, f"<{el.tag}> statusCallbackEvent='{' '.join(events)}' is invalid")
    parameters: list[tuple[str, str]] = []
    text = _text(el)
    if el.tag == "Number":
        address = to_e164(text)
        if address is None:
            raise TwiMLError(13223, f"<Number> '{text}' is not a valid phone number")
    elif el.tag == "Client":
        for child in el:
            if child.tag == "Identity":
                text = _text(child)
            elif child.tag == "Parameter":
                parameters.append((child.attrib.get("name", ""), child.attrib.get("value", "")))
            else:
                raise TwiMLError(13215, f"<{child.tag}> cannot be nested in <Client>")
        if not text:
            raise TwiMLError(13215, "<Client> needs an identity")
        address = "client:" + text.removeprefix("client:")
    else:
        if not _SIP_URI.fullmatch(text):
            raise TwiMLError(13243, f"<Sip> '{text}' is not a SIP URI")
        address = text
    credentials = {"username": r.text("username") or "", "password": r.text("password") or ""}
    return DialTarget(
        kind=el.tag.lower(),
        address=address,
        **(credentials if el.tag == "Sip" else {}),
        url=r.text("url"),
        method=r.method("method", 13221 if el.tag == "Number" else 13241),
        send_digits=digits,
        status_callback=r.text("statusCallback"),
        status_callback_method=r.method("statusCallbackMethod", 13210),
        status_callback_event=events,
        parameters=tuple(parameters),
        machine_detection=_amd(r),
        amd_status_callback=r.text("amdStatusCallback"),
        amd_status_callback_method=r.method("amdStatusCallbackMethod", 13210),
    )


def _amd(r: _Reader) -> str | None:
    mode = r.text("machineDetection")
    if mode is not None and mode not in ("Enable", "DetectMessageEnd"):
        raise TwiMLError(13211, f"<{r.el.tag}> machineDetection='{mode}' must be Enable or DetectMessageEnd")
    return mode


def _dial(el: Element, w: list[tuple[int, str]]) -> Dial:
    r = _Reader(el, _DIAL_ATTRS, w)
    targets: list[DialTarget] = []
    text = _text(el)
    if text:
        number = to_e164(text)
        if number is None:
            raise TwiMLError(13223, f"<Dial> '{text}' is not a valid phone number")
        targets.append(DialTarget("number", number))
    queue: QueueTarget | None = None
    conference: ConferenceTarget | None = None
    for child in el:
        if child.tag in ("Number", "Client", "Sip"):
            targets.append(_noun(child, w))
        elif child.tag == "Queue" and queue is None and conference is None:
            queue = _queue_noun(child, w)
        elif child.tag == "Conference" and queue is None and conference is None:
            conference = _conference_noun(child, w)
        else:
            raise TwiMLError(13215, f"<{child.tag}> cannot be nested in <Dial> here")
    if (queue is not None or conference is not None) and targets:
        raise TwiMLError(13215, "<Dial> with a <Queue> or <Conference> dials nothing else")
    if not targets and queue is None and conference is None:
        raise TwiMLError(13215, "<Dial> needs a number or a noun to dial")
    if len(targets) > MAX_DIAL_TARGETS:
        raise TwiMLError(13250, f"<Dial> can dial at most {MAX_DIAL_TARGETS} numbers, clients or SIP URIs")
    record = (r.text("record", "do-not-record") or "").lower()
    if record not in DIAL_RECORD:
        raise TwiMLError(13217, f"<Dial> record='{record}' is not a recording mode")
    caller_id = r.text("callerId")
    if caller_id is not None and to_e164(caller_id) is None and not caller_id.startswith("client:"):
        if any(t.kind != "client" for t in targets) or not caller_id.replace("_", "").isalnum():
            raise TwiMLError(13214, f"<Dial> callerId='{caller_id}' is not a phone number")
    return Dial(
        targets=tuple(targets),
        action=r.text("action"),
        method=r.method("method", 13210),
        timeout=min(600, max(5, r.integer("timeout", 30, 13212, minimum=1))),
        caller_id=caller_id,
        hangup_on_star=r.boolean("hangupOnStar", False, 13213),
        time_limit=r.integer("timeLimit", 14400, 13216, minimum=1),
        record=DIAL_RECORD[record],
        answer_on_bridge=r.boolean("answerOnBridge", False, 13219),
        sequential=r.boolean("sequential", False, 13218),
        queue=queue,
        conference=conference,
        recording_status_callback=r.text("recordingStatusCallback"),
        recording_status_callback_method=r.method("recordingStatusCallbackMethod", 13210),
        recording_status_callback_event=_recording_events(r, "Dial"),
        trim=_choice(r, "trim", ("trim-silence", "do-not-trim"), 13239),
        recording_track=_choice(r, "recordingTrack", ("both", "inbound", "outbound"), 13217),
    )


def _recording_events(r: _Reader, verb: str) -> tuple[str, ...]:
    events = tuple((r.text("recordingStatusCallbackEvent", "completed") or "").replace(",", " ").split())
    if not events or any(e not in RECORDING_EVENTS for e in events):
        raise TwiMLError(13621, f"<{verb}> recordingStatusCallbackEvent='{' '.join(events)}' is invalid")
    return events


def _choice(r: _Reader, name: str, allowed: tuple[str, ...], code: int) -> str:
    value = r.text(name, allowed[0]) or allowed[0]
    if value not in allowed:
        raise TwiMLError(code, f"<{r.el.tag}> {name}='{value}' must be one of {', '.join(allowed)}")
    return value


MAX_QUEUE_NAME = 64


CONFERENCE_EVENTS = ("start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement")
_CONFERENCE_ATTRS = {
    "muted",
    "beep",
    "startConferenceOnEnter",
    "endConferenceOnExit",
    "waitUrl",
    "waitMethod",
    "maxParticipants",
    "record",
    "region",
    "coach",
    "trim",
    "statusCallback",
    "statusCallbackMethod",
    "statusCallbackEvent",
    "recordingStatusCallback",
    "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent",
    "eventCallbackUrl",
    "jitterBufferSize",
    "participantLabel",
}


def _conference_noun(el: Element, w: list[tuple[int, str]]) -> ConferenceTarget:
    r = _Reader(el, _CONFERENCE_ATTRS, w)
    name = _text(el)
    if not name or len(name) > 128:
        raise TwiMLError(13237, "<Conference> needs a room name of at most 128 characters")
    beep = r.text("beep", "true") or "true"
    if beep not in ("true", "false", "onEnter", "onExit"):
        raise TwiMLError(13235, f"<Conference> beep='{beep}' must be true, false, onEnter or onExit")
    if (r.text("record") or "do-not-record") not in ("do-not-record", "record-from-start"):
        raise TwiMLError(13217, "<Conference> record must be do-not-record or record-from-start")
    events = tuple((r.text("statusCallbackEvent") or "").replace(",", " ").split())
    if any(e not in CONFERENCE_EVENTS for e in events):
        raise TwiMLError(13215, f"<Conference> statusCallbackEvent='{' '.join(events)}' is invalid")
    size = r.integer("maxParticipants", 250, 13215, minimum=2)
    return ConferenceTarget(
        name=name,
        muted=r.boolean("muted", False, 13230),
        beep=beep,
        start_on_enter=r.boolean("startConferenceOnEnter", True, 13232),
        end_on_exit=r.boolean("endConferenceOnExit", False, 13231),
        wait_url=r.text("waitUrl"),
        wait_method=r.method("waitMethod", 13234),
        max_participants=min(250, size),
        coach=r.text("coach"),
        label=r.text("participantLabel"),
        status_callback=r.text("statusCallback"),
        status_callback_method=r.method("statusCallbackMethod", 13210),
        status_callback_event=events,
        record=r.text("record") == "record-from-start",
    )


def _queue_noun(el: Element, w: list[tuple[int, str]]) -> QueueTarget:
    r = _Reader(el, {"url", "method", "reservationSid", "postWorkActivitySid"}, w)
    name = _text(el)
    if not name:
        raise TwiMLError(14212, "<Dial><Queue> needs a queue name")
    if len(name) > MAX_QUEUE_NAME:
        raise TwiMLError(14213, f"<Dial><Queue> name is longer than {MAX_QUEUE_NAME} characters")
    return QueueTarget(name, r.text("url"), r.method("method", 14210))


def _enqueue(el: Element, w: list[tuple[int, str]]) -> Enqueue:
    r = _Reader(el, {"action", "method", "waitUrl", "waitUrlMethod", "workflowSid", "maxQueueSize"}, w)
    if r.text("workflowSid") is not None:
        w.append((12200, "<Enqueue workflowSid> (TaskRouter) is not supported: the call waits in the queue"))
    # With workflowSid (TaskRouter) the call waits in a queue named after the workflow.
    name = _text(el) or r.text("workflowSid") or ""
    for child in el:
        if child.tag != "Task":  # <Task> goes with workflowSid, warned about above
            w.append((12200, f"<{child.tag}> cannot be nested in <Enqueue>"))
    if not name:
        raise TwiMLError(14204, "<Enqueue> needs a queue name")
    if len(name) > MAX_QUEUE_NAME:
        raise TwiMLError(14205, f"<Enqueue> queue name is longer than {MAX_QUEUE_NAME} characters")
    size = r.text("maxQueueSize")
    return Enqueue(
        name=name,
        action=r.text("action"),
        method=r.method("method", 14201),
        wait_url=r.text("waitUrl"),
        wait_url_method=r.method("waitUrlMethod", 14206),
        max_size=r.integer("maxQueueSize", 100, 14207, minimum=1) if size is not None else None,
    )


def _leave(el: Element, w: list[tuple[int, str]]) -> Leave:
    _Reader(el, set(), w)
    return Leave()


_RECORD_ATTRS = {
    "action",
    "method",
    "timeout",
    "finishOnKey",
    "maxLength",
    "playBeep",
    "trim",
    "recordingStatusCallback",
    "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent",
    "transcribe",
    "transcribeCallback",
    "recordingChannels",
    "recordingTrack",
    "storageUrl",
    "storageUrlMethod",
    "recordingConfigurationId",
}
RECORDING_EVENTS = ("in-progress", "completed", "absent")
MAX_TRANSCRIBED_SECONDS = 120


def _record(el: Element, w: list[tuple[int, str]]) -> Record:
    r = _Reader(el, _RECORD_ATTRS, w)
    for child in el:
        w.append((12200, f"<{child.tag}> cannot be nested in <Record>"))
    finish = r.text("finishOnKey", "1234567890*#") or ""
    if any(key not in "0123456789*#" for key in finish):
        raise TwiMLError(13613, f"<Record> finishOnKey='{finish}' may only contain 0-9, * and #")
    trim = r.text("trim", "trim-silence")
    if trim not in ("trim-silence", "do-not-trim"):
        raise TwiMLError(13699, f"<Record> trim='{trim}' must be trim-silence or do-not-trim")
    events = _recording_events(r, "Record")
    max_length = r.integer("maxLength", 3600, 13612, minimum=1)
    transcribe = r.boolean("transcribe", False, 13614) or r.text("transcribeCallback") is not None
    if transcribe and max_length > MAX_TRANSCRIBED_SECONDS:
        w.append(
            (13615, f"<Record> maxLength {max_length} is over {MAX_TRANSCRIBED_SECONDS} s: not transcribed")
        )
        transcribe = False
    return Record(
        action=r.text("action"),
        method=r.method("method", 13610),
        timeout=r.integer("timeout", 5, 13611),
        finish_on_key=finish,
        max_length=max_length,
        play_beep=r.boolean("playBeep", True, 13616),
        trim=trim or "trim-silence",
        recording_status_callback=r.text("recordingStatusCallback"),
        recording_status_callback_method=r.method("recordingStatusCallbackMethod", 13610),
        recording_status_callback_event=events,
        transcribe=transcribe,
        transcribe_callback=r.text("transcribeCallback"),
    )


def _only_noun(el: Element) -> Element:
    nouns = list(el)
    if len(nouns) != 1:
        raise TwiMLError(12200, f"<{el.tag}> takes exactly one noun")
    return nouns[0]


def _stream(noun: Element, w: list[tuple[int, str]], tracks: tuple[str, ...]) -> Stream:
    s = _Reader(noun, {"url", "name", "track", "statusCallback", "statusCallbackMethod", "connectorName"}, w)
    url = s.text("url") or ""
    if not url.startswith(("ws://", "wss://")):
        raise TwiMLError(31922, f"<Stream> url='{url}' must be a ws:// or wss:// URL")
    track = s.text("track", "inbound_track") or "inbound_track"
    if track not in tracks:
        raise TwiMLError(31941, f"<{noun.tag}> track='{track}' must be one of {', '.join(tracks)}")
    params = tuple(
        (p.attrib.get("name", ""), p.attrib.get("value", "")) for p in noun if p.tag == "Parameter"
    )
    return Stream(
        url=url,
        name=s.text("name"),
        track=track,
        status_callback=s.text("statusCallback"),
        status_callback_method=s.method("statusCallbackMethod", 31951),
        parameters=params,
    )


def _connect(el: Element, w: list[tuple[int, str]]) -> Connect | Unsupported:
    r = _Reader(el, {"action", "method"}, w)
    noun = _only_noun(el)
    if noun.tag != "Stream":  # Room, ConversationRelay, VirtualAgent…: not here
        return Unsupported(f"Connect><{noun.tag}")
    return Connect(_stream(noun, w, ("inbound_track",)), r.text("action"), r.method("method", 12200))


def _start(el: Element, w: list[tuple[int, str]]) -> StartStream | Unsupported:
    _Reader(el, {"action", "method"}, w)
    noun = _only_noun(el)
    if noun.tag != "Stream":  # Recording, Transcription, Siprec: not here
        return Unsupported(f"Start><{noun.tag}")
    return StartStream(_stream(noun, w, ("inbound_track", "outbound_track", "both_tracks")))


def _stop(el: Element, w: list[tuple[int, str]]) -> StopStream | Unsupported:
    _Reader(el, set(), w)
    noun = _only_noun(el)
    if noun.tag != "Stream":
        return Unsupported(f"Stop><{noun.tag}")
    name = _Reader(noun, {"name"}, w).text("name")
    if not name:
        raise TwiMLError(12200, "<Stop><Stream> needs the name of the stream to stop")
    return StopStream(name)


_VOICE: dict[str, Callable[[Element, list[tuple[int, str]]], VoiceVerb]] = {
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
    "Gather": _gather,
    "Redirect": _redirect,
    "Reject": _reject,
    "Hangup": _hangup,
    "Sms": _message,
    "Message": _message,
    "Dial": _dial,
    "Record": _record,
    "Enqueue": _enqueue,
    "Leave": _leave,
    "Connect": _connect,
    "Start": _start,
    "Stop": _stop,
}


# An application answers most webhooks with the same few documents (a menu, its redirect); a Document is
# immutable, so one parse serves them all. Only small ones are kept: a cache hit is a hash of the text.
CACHED_BYTES = 4096


def parse_voice(xml: str | bytes) -> Document:
    if len(xml) <= CACHED_BYTES:
        return _parse_voice_cached(xml)
    return _parse_voice(xml)


@lru_cache(maxsize=512)
def _parse_voice_cached(xml: str | bytes) -> Document:
    return _parse_voice(xml)  # a TwiMLError is not cached: an invalid document is parsed each time


def _parse_voice(xml: str | bytes) -> Document:
    root = _root(xml)
    warnings: list[tuple[int, str]] = []
    verbs: list[VoiceVerb] = []
    for el in root:
        make = _VOICE.get(el.tag)
        if make is not None:
            verbs.append(make(el, warnings))
        elif el.tag in _LATER:
            verbs.append(Unsupported(el.tag))
        else:
            warnings.append((12200, f"<{el.tag}> is not a TwiML verb"))
    return Document(tuple(verbs), tuple(warnings))


def parse_messaging(xml: str | bytes) -> MessagingDocument:
    root = _root(xml)
    warnings: list[tuple[int, str]] = []
    verbs: list[MessagingVerb] = []
    for el in root:
        if el.tag == "Message":
            verbs.append(_message(el, warnings))
        elif el.tag == "Redirect":
            verbs.append(_redirect(el, warnings))
        else:
            warnings.append(
                (14110 if el.tag in _VOICE else 12200, f"<{el.tag}> is not allowed in messaging TwiML")
            )
    return MessagingDocument(tuple(verbs), tuple(warnings))
