"""SIP transactions (RFC 3261 §17, with RFC 6026's handling of 2xx), sans-IO: datagrams and time go in,
datagrams, events and the next timer come out. Retransmissions and their timers live here, not in calls."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

from telephonist.carriers.sip.message import Message, Request, Response, SipError, Via, cseq, parse

T1, T2, T4 = 0.5, 4.0, 5.0  # RFC 3261 §17.1.1.1 and table 4
Addr = tuple[str, int]


@dataclass(frozen=True)
class RequestIn:
    """A new request for the layer above (retransmissions are answered here and never reach it).
    An ACK for a 2xx comes this way too: it belongs to the dialog, not to a transaction."""

    request: Request
    addr: Addr


@dataclass(frozen=True)
class ResponseIn:
    """A response to a request sent with `Endpoint.request`, once per distinct status."""

    response: Response
    key: str


@dataclass(frozen=True)
class TimedOut:
    """A request sent with `Endpoint.request` got no final response (Timer B or F), or a 2xx sent by
    `Endpoint.respond` got no ACK in 64*T1 (the dialog should send BYE)."""

    key: str


@dataclass(frozen=True)
class Malformed:
    """A datagram that could not be parsed (answered with 4xx/5xx when it was a request we could reply to)."""

    error: SipError
    addr: Addr


Event = RequestIn | ResponseIn | TimedOut | Malformed


@dataclass(eq=False)
class _Server:
    request: Request
    addr: Addr
    last: bytes | None = None
    final: int = 0
    interval: float = T1
    acked: bool = False


@dataclass(eq=False)
class _Client:
    request: Request
    addr: Addr
    data: bytes
    interval: float = T1
    final: int = 0
    seen: set[int] = field(default_factory=set)


@dataclass(eq=False)
class _Unacked:
    """A 2xx to an INVITE, retransmitted until its ACK arrives (§13.3.1.4)."""

    data: bytes
    addr: Addr
    interval: float = T1
    acked: bool = False


def _server_key(req: Request) -> tuple[str, str, str]:
    via = Via.parse(req.headers.get("Via") or "")
    method = "INVITE" if req.method == "ACK" else req.method
    return (via.branch or "", f"{via.host}:{via.port or 5060}", method)


class Endpoint:
    """The transaction layer of one UDP socket. Feed it `receive(data, addr, now)`, act on `next_event()`,
    send what `datagrams()` returns and call `handle_timer(now)` at `get_timer()`."""

    def __init__(self, max_size: int = 65535) -> None:
        self.max_size = max_size
        self._servers: dict[tuple[str, str, str], _Server] = {}
        self._clients: dict[str, _Client] = {}
        self._unacked: dict[tuple[str, int], _Unacked] = {}
        self._timers: list[tuple[float, int, Callable[[float], object]]] = []
        self._seq = count()
        self._events: deque[Event] = deque()
        self._out: list[tuple[bytes, Addr]] = []
        # Peers reached over a stream (TCP): no retransmissions but of 2xx (§17.1.1.2, §17.2.1, §13.3.1.4).
        self.reliable: set[Addr] = set()

    @property
    def transactions(self) -> int:
        """Transactions under way, both kinds (a gauge of /metrics)."""
        return len(self._servers) + len(self._clients)

    # -- input ------------------------------------------------------------------------------------
    def receive(self, data: bytes, addr: Addr, now: float) -> None:
        if not data.strip(b"\r\n"):  # keep-alive (RFC 5626 CRLF ping)
            return
        try:
            msg: Message = parse(data, self.max_size)
        except SipError as err:
            self._events.append(Malformed(err, addr))
            self._reply_malformed(data, err, addr)
            return
        if isinstance(msg, Request):
            self._request_in(msg, addr, now)
        else:
            self._response_in(msg, now)

    def _request_in(self, req: Request, addr: Addr, now: float) -> None:
        try:
            key = _server_key(req)
        except SipError as err:
            self._events.append(Malformed(err, addr))
            return
        tx = self._servers.get(key)
        if req.method == "ACK":
            if tx is not None and tx.final >= 300:  # the ACK of our error response: absorbed (§17.2.1)
                if not tx.acked:
                    tx.acked = True
                    self._at(now + T4, lambda now: self._servers.pop(key, None))  # Timer I
                return
            number, _ = cseq(req.headers)
            pending = self._unacked.pop((req.headers.get("Call-ID") or "", number), None)
            if pending is not None:
                pending.acked = True
            self._events.append(RequestIn(req, addr))
            return
        if tx is not None:  # a retransmission: the last response again, nothing for the layer above
            if tx.last is not None:
                self._out.append((tx.last, tx.addr))
            return
        self._servers[key] = _Server(req, addr)
        self._events.append(RequestIn(req, addr))

    def _response_in(self, resp: Response, now: float) -> None:
        via = resp.headers.get("Via")
        if via is None:
            return
        try:
            branch = Via.parse(via).branch or ""
            _, method = cseq(resp.headers)
        except SipError:
            return
        key = f"{branch}:{method}"
        tx = self._clients.get(key)
        if tx is None:
            return  # stray (or a 2xx retransmission after the transaction ended: the dialog re-ACKs it)
        invite = tx.request.method == "INVITE"
        if resp.status < 200:
            tx.interval = T2  # §17.1.2.2: in Proceeding, retransmit at T2
            if resp.status not in tx.seen:
                tx.seen.add(resp.status)
                self._events.append(ResponseIn(resp, key))
            return
        if tx.final:  # a retransmitted final response
            if invite and tx.final >= 300:
                self._out.append((self._ack_for(tx.request, resp), tx.addr))
            elif invite:  # the ACK of a 2xx is the dialog's: it sends it again
                self._events.append(ResponseIn(resp, ""))
            return
        tx.final = resp.status
        self._events.append(ResponseIn(resp, key))
        if invite and resp.status >= 300:
            self._out.append((self._ack_for(tx.request, resp), tx.addr))
        # Completed: retransmissions of the final response are absorbed for a while (Timer D / K).
        self._at(now + (32.0 if invite else T4), lambda now: self._clients.pop(key, None))

    # -- output -----------------------------------------------------------------------------------
    def respond(self, request: Request, response: Response, now: float) -> None:
        """Send `response` to `request` (which arrived as a RequestIn) within its server transaction."""
        key = _server_key(request)
        tx = self._servers.get(key)
        if tx is None or tx.final:
            return
        data, addr = bytes(response), tx.addr
        tx.last = data
        self._out.append((data, addr))
        if response.status < 200:
            return
        tx.final = response.status
        forget = lambda now: self._servers.pop(key, None)  # noqa: E731
        if request.method == "INVITE" and response.status < 300:
            # The transaction ends; the 2xx is retransmitted until the ACK (matched by Call-ID and CSeq).
            call = (request.headers.get("Call-ID") or "", cseq(request.headers)[0])
            pending = self._unacked[call] = _Unacked(data, addr)
            self._at(now + T1, lambda now: self._resend_2xx(pending, now))
            self._at(now + 64 * T1, lambda now: self._2xx_timeout(call, pending))
            self._at(now + 64 * T1, forget)
        elif request.method == "INVITE":
            if addr not in self.reliable:  # Timer G: over TCP the transport does the retransmitting
                self._at(now + T1, lambda now: self._timer_g(tx, now))
            self._at(now + 64 * T1, forget)  # Timer H: no ACK came
        else:
            self._at(now + 64 * T1, forget)  # Timer J

    def request(self, request: Request, addr: Addr, now: float) -> str:
        """Send a request in a new client transaction; its responses come back as ResponseIn with the key
        returned. An ACK for a 2xx is not a transaction: send it with `send`."""
        key = f"{Via.parse(request.headers.get('Via') or '').branch}:{request.method}"
        data = bytes(request)
        self._clients[key] = _Client(request, addr, data)
        self._out.append((data, addr))
        if addr not in self.reliable:
            self._at(now + T1, lambda now: self._retransmit(key, now))  # Timer A / E
        self._at(now + 64 * T1, lambda now: self._client_timeout(key))  # Timer B / F
        return key

    def send(self, message: Message, addr: Addr) -> None:
        self._out.append((bytes(message), addr))

    def unreachable(self, addr: Addr) -> list[str]:
        """A transport error for `addr` (ICMP unreachable, a refused connection): its client transactions
        still waiting for a final response end (§17.1.1.2, §17.1.2.2); their keys, for the TU to treat each
        as a 503 (§8.1.3.1)."""
        keys = [key for key, tx in self._clients.items() if tx.addr == addr and not tx.final]
        for key in keys:
            del self._clients[key]
        return keys

    def invite_of(self, cancel: Request) -> Request | None:
        """The INVITE a CANCEL is for (same branch and sent-by), if its transaction is still open."""
        branch, sent_by, _ = _server_key(cancel)
        tx = self._servers.get((branch, sent_by, "INVITE"))
        return tx.request if tx is not None and not tx.final else None

    def final_status(self, request: Request) -> int:
        """The final status sent to `request` (0 while none has been, or once its transaction is gone)."""
        tx = self._servers.get(_server_key(request))
        return tx.final if tx is not None else 0

    def datagrams(self) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # -- timers -----------------------------------------------------------------------------------
    def _at(self, when: float, action: Callable[[float], object]) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), action))

    def get_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def handle_timer(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            heapq.heappop(self._timers)[2](now)

    def _retransmit(self, key: str, now: float) -> None:
        client = self._clients.get(key)
        if client is None or client.final:
            return
        self._out.append((client.data, client.addr))
        # INVITE doubles without a cap (Timer A); the others cap at T2 (Timer E).
        client.interval = (
            client.interval * 2 if client.request.method == "INVITE" else min(client.interval * 2, T2)
        )
        self._at(now + client.interval, lambda now: self._retransmit(key, now))

    def _client_timeout(self, key: str) -> None:
        client = self._clients.get(key)
        if client is not None and not client.final:
            del self._clients[key]
            self._events.append(TimedOut(key))

    def _timer_g(self, server: _Server, now: float) -> None:
        if (
            not server.acked
            and server.last is not None
            and server.addr
            and self._servers.get(_server_key(server.request)) is server
        ):
            self._out.append((server.last, server.addr))
            server.interval = min(server.interval * 2, T2)
            self._at(now + server.interval, lambda now: self._timer_g(server, now))

    def _resend_2xx(self, pending: _Unacked, now: float) -> None:
        if not pending.acked:
            self._out.append((pending.data, pending.addr))
            pending.interval = min(pending.interval * 2, T2)
            self._at(now + pending.interval, lambda now: self._resend_2xx(pending, now))

    def _2xx_timeout(self, call: tuple[str, int], pending: _Unacked) -> None:
        if not pending.acked:
            pending.acked = True
            self._unacked.pop(call, None)
            self._events.append(TimedOut(call[0]))

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _ack_for(invite: Request, resp: Response) -> bytes:
        """§17.1.1.3: the ACK of a non-2xx, in the INVITE's transaction (same branch, the response's To)."""
        ack = Request("ACK", invite.uri)
        for name in ("Via", "From", "Call-ID"):
            ack.headers.add(name, invite.headers.get(name) or "")
        ack.headers.add("To", resp.headers.get("To") or "")
        for route in invite.headers.get_all("Route"):
            ack.headers.add("Route", route)
        ack.headers.add("CSeq", f"{cseq(invite.headers)[0]} ACK")
        ack.headers.add("Max-Forwards", "70")
        return bytes(ack)

    def _reply_malformed(self, data: bytes, err: SipError, addr: Addr) -> None:
        """Answer a broken request when its Via, From, To, Call-ID and CSeq can still be read (§16.3 says
        a proxy drops the rest; so do we)."""
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        first = head.split(b"\n", 1)[0]
        if first.startswith(b"SIP/") or b" SIP/" not in first:
            return
        needed = {b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq"}
        lines = []
        for line in head.split(b"\n")[1:]:
            name = line.split(b":", 1)[0].strip().lower()
            if name in needed:
                lines.append(line.rstrip(b"\r"))
        if len({ln.split(b":", 1)[0].strip().lower()[:1] for ln in lines}) < 4:
            return
        status = f"SIP/2.0 {err.status} {err.reason}\r\n".encode()
        self._out.append((status + b"\r\n".join(lines) + b"\r\nContent-Length: 0\r\n\r\n", addr))
