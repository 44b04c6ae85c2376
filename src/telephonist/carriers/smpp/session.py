"""One SMPP v3.4 connection as a sans-IO state machine, usable by an ESME or an SMSC (h11 style).

Bytes in with `receive_data`, events out of `next_event`/`events`, `send(pdu)` returns bytes, and
`data_to_send()` returns what the session answered by itself; time is passed in as `now`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from telephonist.carriers.smpp.pdu import (
    BIND_RECEIVER,
    BIND_TRANSCEIVER,
    BIND_TRANSMITTER,
    DELIVER_SM,
    ENQUIRE_LINK,
    ESME_RALYBND,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_ROK,
    GENERIC_NACK,
    MAX_COMMAND_LENGTH,
    MAX_SEQUENCE_NUMBER,
    RESPONSE_BIT,
    SUBMIT_SM,
    UNBIND,
    Bind,
    BindKind,
    BindResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduError,
    UnbindResp,
    check_command_length,
    command_name,
    parse_pdu,
    response_for,
)


class State(enum.Enum):
    OPEN = "OPEN"
    BOUND_TX = "BOUND_TX"
    BOUND_RX = "BOUND_RX"
    BOUND_TRX = "BOUND_TRX"
    UNBINDING = "UNBINDING"
    CLOSED = "CLOSED"


Role = Literal["esme", "smsc"]

# The rules, in one place. Each role may send these requests in these states; what a session accepts
# from its peer is the peer role's row, checked against the bound state (kept while UNBINDING, so
# messages already in flight are still taken). enquire_link and unbind are answered by the session.
_BOUND: Final = frozenset({State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX})
_TX: Final = frozenset({State.BOUND_TX, State.BOUND_TRX})
_RX: Final = frozenset({State.BOUND_RX, State.BOUND_TRX})
_OPEN: Final = frozenset({State.OPEN})
_SENDS: Final[dict[Role, dict[int, frozenset[State]]]] = {
    "esme": {
        BIND_TRANSMITTER: _OPEN,
        BIND_RECEIVER: _OPEN,
        BIND_TRANSCEIVER: _OPEN,
        SUBMIT_SM: _TX,
        ENQUIRE_LINK: _BOUND,
        UNBIND: _BOUND,
    },
    "smsc": {DELIVER_SM: _RX, ENQUIRE_LINK: _BOUND, UNBIND: _BOUND},
}
_PEER: Final[dict[Role, Role]] = {"esme": "smsc", "smsc": "esme"}
# Only message traffic counts against the window: bind, unbind and enquire_link must never wait behind it.
_WINDOWED: Final = frozenset({SUBMIT_SM, DELIVER_SM})
_BOUND_BY_KIND: Final[dict[BindKind, State]] = {
    "transmitter": State.BOUND_TX,
    "receiver": State.BOUND_RX,
    "transceiver": State.BOUND_TRX,
}


class LocalProtocolError(Exception):
    """Our own side broke the protocol (a bug in the caller): raised by `send`, never for peer input."""


class _Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = _Sentinel.NEED_DATA
NeedData = Literal[_Sentinel.NEED_DATA]


@dataclass(frozen=True)
class Response:
    """A response from the peer and the request of ours it answers (None when nothing was waiting)."""

    request: Pdu | None
    response: Pdu

    @property
    def ok(self) -> bool:
        return self.response.command_status == ESME_ROK and self.response.command_id != GENERIC_NACK


@dataclass(frozen=True)
class Timeout:
    """A request of ours the peer left unanswered for `response_timeout`; it has left the window."""

    request: Pdu


@dataclass(frozen=True)
class BadPdu:
    """A PDU the session could not decode or refused; the answer owed (if any) is in `data_to_send()`.

    `pdu` is a refused well-formed request; `request` is ours, when this was a garbled answer to it
    (it has left the window). After a `fatal` one the framing is lost: send what is queued, then close.
    """

    status: int
    message: str
    sequence_number: int | None = None
    command_id: int | None = None
    pdu: Pdu | None = None
    request: Pdu | None = None
    fatal: bool = False


@dataclass(frozen=True)
class ConnectionClosed:
    """The transport closed; `unanswered` are our requests that will never get a response."""

    unanswered: tuple[Pdu, ...] = ()


Event = Pdu | Response | Timeout | BadPdu | ConnectionClosed


@dataclass
class _Pending:
    request: Pdu
    deadline: float | None
    windowed: bool
    automatic: bool


class Session:
    """An SMPP connection seen from one end. The I/O layer is a loop of this shape:

        session.receive_data(await reader.read(65536), now=loop.time())
        for event in session.events(): ...   # answer peer requests with session.send(resp)
        writer.write(session.data_to_send())
        # and at session.get_timer(): session.handle_timer(loop.time()), then events and data_to_send again

    Pass `now` to `send` and `receive_data` too: a request's response deadline and the idle time before
    an enquire_link count from the time the session was last told.
    """

    def __init__(
        self,
        role: Role,
        *,
        window: int = 10,
        enquire_link_interval: float | None = 30.0,
        response_timeout: float | None = 30.0,
        max_command_length: int = MAX_COMMAND_LENGTH,
        now: float = 0.0,
    ) -> None:
        if role not in _SENDS:
            raise ValueError(f"role must be 'esme' or 'smsc', got {role!r}")
        self.role: Role = role
        self.window = window
        self.enquire_link_interval = enquire_link_interval
        self.response_timeout = response_timeout
        self.max_command_length = max_command_length
        self.state = State.OPEN
        self.next_sequence_number = 1
        self._now = now
        self._last_received = now
        self._buffer = bytearray()
        self._outbox = bytearray()
        self._events: deque[Event] = deque()
        self._pending: dict[int, _Pending] = {}
        self._inbound: dict[int, int] = {}  # the peer's requests we owe an answer: sequence -> command_id
        self._bound_as: State | None = None
        self._binding = False  # a bind is in flight (ESME: sent, SMSC: received and not yet answered)
        self._eof = False
        self._broken = False
        self._closed_reported = False

    @property
    def outstanding(self) -> int:
        """Our submit_sm/deliver_sm requests still waiting for a response."""
        return sum(p.windowed for p in self._pending.values())

    def can_send(self) -> bool:
        """True when a message request (submit_sm for an ESME, deliver_sm for an SMSC) may go now."""
        allowed = _TX if self.role == "esme" else _RX
        return self.state in allowed and self.outstanding < self.window

    def unanswered(self) -> tuple[Pdu, ...]:
        """Our requests still waiting for a response, oldest first."""
        return tuple(p.request for p in self._pending.values() if not p.automatic)

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        """Feed bytes from the peer; b"" means the peer closed the connection."""
        self._tick(now)
        if not data:
            self._eof = True
        elif not (self._eof or self._broken):
            self._buffer += data

    def next_event(self) -> Event | NeedData:
        if self._events:
            return self._events.popleft()
        while not self._broken:
            frame = self._next_frame()
            if frame is None:
                break
            event = frame if isinstance(frame, BadPdu) else self._process(frame)
            if event is not None:
                return event
        if self._eof and not self._closed_reported:
            self._closed_reported = True
            return self._connection_closed()
        return NEED_DATA

    def events(self) -> Iterator[Event]:
        while True:
            event = self.next_event()
            if event is NEED_DATA:
                return
            yield event

    def data_to_send(self) -> bytes:
        """Answers and enquire_links the session produced by itself since the last call."""
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    def send(self, pdu: Pdu, now: float | None = None) -> bytes:
        """Encode a PDU of ours. A request gets the next sequence number (set on the object itself);
        a response must carry the sequence number of a peer request still awaiting its answer."""
        self._tick(now)
        if pdu.command_id == GENERIC_NACK:
            self._inbound.pop(pdu.sequence_number, None)
            return bytes(pdu)
        if pdu.is_response:
            return self._send_response(pdu)
        return self._send_request(pdu, automatic=False)

    def get_timer(self) -> float | None:
        """When `handle_timer` must next be called, or None when nothing is timed."""
        deadlines = [p.deadline for p in self._pending.values() if p.deadline is not None]
        due = self._enquire_link_due()
        if due is not None:
            deadlines.append(due)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        """Report requests past their response timeout and send an enquire_link when the link is idle."""
        self._tick(now)
        for sequence_number, pending in list(self._pending.items()):
            if pending.deadline is not None and pending.deadline <= now:
                del self._pending[sequence_number]
                self._answered(pending.request, ok=False)
                self._events.append(Timeout(pending.request))
        due = self._enquire_link_due()
        if due is not None and due <= now:
            self._outbox += self._send_request(EnquireLink(), automatic=True)

    def _tick(self, now: float | None) -> None:
        if now is not None:
            self._now = now

    def _enquire_link_due(self) -> float | None:
        if self.enquire_link_interval is None or self.state not in _BOUND:
            return None
        if any(p.automatic for p in self._pending.values()):
            return None
        return self._last_received + self.enquire_link_interval

    def _effective_state(self) -> State:
        if self.state is State.UNBINDING and self._bound_as is not None:
            return self._bound_as
        return self.state

    def _send_request(self, pdu: Pdu, *, automatic: bool) -> bytes:
        command_id = pdu.command_id
        allowed = _SENDS[self.role].get(command_id)
        if allowed is None:
            raise LocalProtocolError(f"an {self.role} does not send {command_name(command_id)}")
        if self.state not in allowed or (isinstance(pdu, Bind) and self._binding):
            doing = "a bind in flight" if self._binding else f"state {self.state.name}"
            raise LocalProtocolError(f"cannot send {command_name(command_id)} with {doing}")
        windowed = command_id in _WINDOWED
        if windowed and self.outstanding >= self.window:
            raise LocalProtocolError(f"window full: {self.outstanding} requests outstanding")
        sequence_number = self.next_sequence_number
        while sequence_number in self._pending:
            sequence_number = sequence_number % MAX_SEQUENCE_NUMBER + 1
        pdu.sequence_number = sequence_number
        data = bytes(pdu)  # an encoding error raises here, before any state changes
        self.next_sequence_number = sequence_number % MAX_SEQUENCE_NUMBER + 1
        deadline = None if self.response_timeout is None else self._now + self.response_timeout
        self._pending[sequence_number] = _Pending(pdu, deadline, windowed, automatic)
        if isinstance(pdu, Bind):
            self._binding = True
        elif command_id == UNBIND:
            self.state = State.UNBINDING
        return data

    def _send_response(self, pdu: Pdu) -> bytes:
        sequence_number = pdu.sequence_number
        request_id = pdu.command_id & ~RESPONSE_BIT
        if self._inbound.get(sequence_number) != request_id:
            raise LocalProtocolError(f"no {command_name(request_id)} {sequence_number} awaits an answer")
        data = bytes(pdu)
        del self._inbound[sequence_number]
        if isinstance(pdu, BindResp):
            self._binding = False
            if pdu.command_status == ESME_ROK:
                self.state = self._bound_as = _BOUND_BY_KIND[pdu.kind]
        return data

    def _answered(self, request: Pdu, *, ok: bool) -> None:
        if isinstance(request, Bind):
            self._binding = False
            if ok:
                self.state = self._bound_as = _BOUND_BY_KIND[request.kind]
        elif request.command_id == UNBIND:
            self.state = State.CLOSED
            self._bound_as = None

    def _queue(self, pdu: Pdu) -> None:
        self._outbox += bytes(pdu)

    def _next_frame(self) -> bytes | BadPdu | None:
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        length = int.from_bytes(buffer[:4], "big")
        problem = check_command_length(length, self.max_command_length)
        if problem is not None:
            # The stream cannot be re-synchronised: answer once, then ignore everything the peer sends.
            command_id = int.from_bytes(buffer[4:8], "big") if len(buffer) >= 8 else None
            sequence_number = (
                int.from_bytes(buffer[12:16], "big") if length >= 16 and len(buffer) >= 16 else None
            )
            self._broken = True
            self._buffer.clear()
            self.state = State.CLOSED
            self._queue(GenericNack(sequence_number=sequence_number or 0, command_status=ESME_RINVCMDLEN))
            return BadPdu(ESME_RINVCMDLEN, problem, sequence_number, command_id, fatal=True)
        if len(buffer) < length:
            return None
        frame = bytes(buffer[:length])
        del buffer[:length]
        return frame

    def _process(self, frame: bytes) -> Event | None:
        self._last_received = self._now
        try:
            pdu = parse_pdu(frame, self.max_command_length)
        except PduError as error:
            return self._malformed(error)
        if pdu.is_response:
            return self._on_response(pdu)
        return self._on_request(pdu)

    def _malformed(self, error: PduError) -> BadPdu:
        command_id = error.command_id or 0
        sequence_number = error.sequence_number or 0
        if command_id & RESPONSE_BIT:
            # Never answer a response, or two confused peers would nack each other forever.
            pending = self._pending.get(sequence_number)
            request = None
            if pending is not None and command_id in (
                GENERIC_NACK,
                pending.request.command_id | RESPONSE_BIT,
            ):
                del self._pending[sequence_number]
                self._answered(pending.request, ok=False)
                request = pending.request
            return BadPdu(error.status, error.message, sequence_number, command_id, request=request)
        if error.status in (ESME_RINVCMDLEN, ESME_RINVCMDID):
            self._queue(GenericNack(sequence_number=sequence_number, command_status=error.status))
        else:
            self._queue(response_for(command_id, sequence_number, error.status))
        return BadPdu(error.status, error.message, sequence_number, command_id)

    def _on_response(self, pdu: Pdu) -> Event | None:
        sequence_number = pdu.sequence_number
        pending = self._pending.get(sequence_number)
        if pending is None:
            return Response(None, pdu)
        request = pending.request
        if pdu.command_id not in (GENERIC_NACK, request.command_id | RESPONSE_BIT):
            message = (
                f"{command_name(pdu.command_id)} {sequence_number} does not answer "
                f"{command_name(request.command_id)} {sequence_number}"
            )
            return BadPdu(ESME_RINVCMDID, message, sequence_number, pdu.command_id, pdu=pdu)
        del self._pending[sequence_number]
        ok = pdu.command_status == ESME_ROK and pdu.command_id != GENERIC_NACK
        self._answered(request, ok=ok)
        return None if pending.automatic else Response(request, pdu)

    def _on_request(self, pdu: Pdu) -> Event | None:
        command_id, sequence_number = pdu.command_id, pdu.sequence_number
        if command_id == ENQUIRE_LINK:
            self._queue(EnquireLinkResp(sequence_number=sequence_number))
            return None
        state = self._effective_state()
        if command_id == UNBIND:
            if state not in _BOUND:
                return self._refuse(pdu, ESME_RINVBNDSTS, f"unbind in state {self.state.name}")
            self._queue(UnbindResp(sequence_number=sequence_number))
            self.state = State.CLOSED
            self._bound_as = None
            return pdu
        allowed = _SENDS[_PEER[self.role]].get(command_id)
        if allowed is None:
            self._queue(GenericNack(sequence_number=sequence_number, command_status=ESME_RINVCMDID))
            message = f"an {self.role} does not accept {command_name(command_id)}"
            return BadPdu(ESME_RINVCMDID, message, sequence_number, command_id, pdu=pdu)
        if isinstance(pdu, Bind) and (state in _BOUND or self._binding):
            return self._refuse(pdu, ESME_RALYBND, f"{command_name(command_id)} when already bound")
        if state not in allowed:
            return self._refuse(
                pdu, ESME_RINVBNDSTS, f"{command_name(command_id)} in state {self.state.name}"
            )
        self._inbound[sequence_number] = command_id
        if isinstance(pdu, Bind):
            self._binding = True
        return pdu

    def _refuse(self, pdu: Pdu, status: int, message: str) -> BadPdu:
        self._queue(response_for(pdu.command_id, pdu.sequence_number, status))
        return BadPdu(status, message, pdu.sequence_number, pdu.command_id, pdu=pdu)

    def _connection_closed(self) -> ConnectionClosed:
        unanswered = self.unanswered()
        self.state = State.CLOSED
        self._bound_as = None
        self._binding = False
        self._pending.clear()
        self._inbound.clear()
        return ConnectionClosed(unanswered)
