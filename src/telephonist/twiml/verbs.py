"""Typed TwiML verbs with Twilio's defaults (twilio-wire.md §4.2, §4.3)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Say:
    text: str
    voice: str = "man"
    language: str = "en"
    loop: int = 1
    ssml: str | None = None  # the body as written, when it has SSML elements (<break>, <prosody>…)


@dataclass(frozen=True)
class Play:
    url: str = ""
    loop: int = 1
    digits: str = ""


@dataclass(frozen=True)
class Pause:
    length: int = 1


Prompt = Say | Play | Pause


@dataclass(frozen=True)
class Gather:
    action: str | None = None  # None: the current document's URL
    method: str = "POST"
    input: tuple[str, ...] = ("dtmf",)
    timeout: int = 5
    finish_on_key: str = "#"
    num_digits: int | None = None
    speech_timeout: str | None = None
    language: str = "en-US"
    hints: str = ""
    action_on_empty_result: bool = False
    prompts: tuple[Prompt, ...] = ()
    partial_result_callback: str | None = None
    partial_result_callback_method: str = "POST"


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str = "rejected"


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Message:
    """`<Message>` in messaging TwiML, and `<Sms>` / `<Message>` inside a call."""

    body: str
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = "POST"
    status_callback: str | None = None
    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class DialTarget:
    """A `<Number>`, `<Client>` or `<Sip>` noun of `<Dial>` (a bare number is a `<Number>`)."""

    kind: str  # number | client | sip
    address: str  # E.164, `client:<identity>` or the sip: URI
    url: str | None = None  # TwiML run on the callee once it answers, before the bridge (a whisper)
    method: str = "POST"
    send_digits: str = ""
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_event: tuple[str, ...] = ("completed",)
    parameters: tuple[tuple[str, str], ...] = ()  # <Client><Parameter name value>
    username: str = ""  # <Sip username password>: the credentials for the far end's digest challenge
    password: str = ""
    machine_detection: str | None = None  # Enable, DetectMessageEnd
    amd_status_callback: str | None = None
    amd_status_callback_method: str = "POST"


@dataclass(frozen=True)
class QueueTarget:
    """`<Dial><Queue>`: take the caller at the head of a queue; `url` runs on that caller first."""

    name: str
    url: str | None = None
    method: str = "POST"


@dataclass(frozen=True)
class ConferenceTarget:
    """`<Dial><Conference>`: join the account's conference room of that name."""

    name: str
    muted: bool = False
    beep: str = "true"  # true, false, onEnter, onExit
    start_on_enter: bool = True
    end_on_exit: bool = False
    wait_url: str | None = None  # None: hold music; "": silence
    wait_method: str = "POST"
    max_participants: int = 250
    coach: str | None = None  # the CallSid this participant coaches (heard by that one only)
    label: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_event: tuple[str, ...] = ()
    record: bool = False  # record-from-start: the conference is recorded from its start to its end


@dataclass(frozen=True)
class Dial:
    targets: tuple[DialTarget, ...]
    action: str | None = None  # None: fall through to the next verb
    method: str = "POST"
    timeout: int = 30
    caller_id: str | None = None
    hangup_on_star: bool = False
    time_limit: int = 14400
    record: str = "do-not-record"
    answer_on_bridge: bool = False
    sequential: bool = False
    queue: QueueTarget | None = None  # instead of targets
    conference: ConferenceTarget | None = None  # instead of targets
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_event: tuple[str, ...] = ("completed",)
    trim: str = "trim-silence"
    recording_track: str = "both"


@dataclass(frozen=True)
class Record:
    action: str | None = None  # None: the current document's URL
    method: str = "POST"
    timeout: int = 5  # seconds of silence that end the recording (0: none)
    finish_on_key: str = "1234567890*#"  # any of these ends it
    max_length: int = 3600
    play_beep: bool = True
    trim: str = "trim-silence"
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_event: tuple[str, ...] = ("completed",)
    transcribe: bool = False
    transcribe_callback: str | None = None


@dataclass(frozen=True)
class Enqueue:
    name: str
    action: str | None = None  # None: fall through to the next verb
    method: str = "POST"
    wait_url: str | None = None  # None: hold music
    wait_url_method: str = "POST"
    max_size: int | None = None  # of a queue this creates


@dataclass(frozen=True)
class Leave:
    """In a queue's wait document: leave the queue; the call goes on after its `<Enqueue>`."""


@dataclass(frozen=True)
class Stream:
    """`<Connect><Stream>`: the call's audio over a WebSocket, in Twilio's media-stream messages."""

    url: str
    name: str | None = None
    track: str = "inbound_track"  # a <Start> fork may take outbound_track or both_tracks
    status_callback: str | None = None
    status_callback_method: str = "POST"
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Connect:
    stream: Stream
    action: str | None = None  # None: go on with the next verb once the stream ends
    method: str = "POST"


@dataclass(frozen=True)
class StartStream:
    """`<Start><Stream>`: fork the call's audio to a WebSocket and go on at once."""

    stream: Stream


@dataclass(frozen=True)
class StopStream:
    """`<Stop><Stream name>`: end the fork of that name."""

    name: str


@dataclass(frozen=True)
class Unsupported:
    """A Twilio verb this version of Telephonist does not run yet; the interpreter skips it with a warning."""

    name: str


VoiceVerb = (
    Say
    | Play
    | Pause
    | Gather
    | Hangup
    | Reject
    | Redirect
    | Message
    | Dial
    | Record
    | Enqueue
    | Leave
    | Connect
    | StartStream
    | StopStream
    | Unsupported
)
MessagingVerb = Message | Redirect


@dataclass(frozen=True)
class Document:
    verbs: tuple[VoiceVerb, ...]
    warnings: tuple[tuple[int, str], ...] = field(default=())


@dataclass(frozen=True)
class MessagingDocument:
    verbs: tuple[MessagingVerb, ...]
    warnings: tuple[tuple[int, str], ...] = field(default=())
