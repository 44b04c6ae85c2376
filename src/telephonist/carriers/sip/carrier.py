"""The SIP carrier: one UDP socket for signalling, the transaction layer behind it, calls from trunks to
platform numbers run as legs of the voice engine."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import socket
import sys
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import phonenumbers
from sqlalchemy import select

from telephonist.carriers.sip import auth, registrar, sdp
from telephonist.carriers.sip.dialog import ALLOW, Dialog, response
from telephonist.carriers.sip.leg import SipLeg
from telephonist.carriers.sip.media import Clock, RtpStream
from telephonist.carriers.sip.message import (
    NameAddr,
    Request,
    Response,
    SipError,
    StreamParser,
    Uri,
    Via,
    cseq,
    new_branch,
    new_call_id,
    new_tag,
)
from telephonist.carriers.sip.transaction import Addr, Endpoint, Malformed, RequestIn, ResponseIn, TimedOut
from telephonist.store import notifications, transcripts
from telephonist.store import sip as sip_store
from telephonist.store.db import Row
from telephonist.store.models import calls

if TYPE_CHECKING:
    from telephonist.app import Platform
    from telephonist.config import SipTrunk

log = logging.getLogger("telephonist.sip")
trace = logging.getLogger("telephonist.sip.trace")
_CALL_ID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)")
_CSEQ = re.compile(rb"(?im)^cseq[ \t]*:[ \t]*([^\r\n]+)")
FLOOD_RATE = 500.0  # datagrams a second from one address other than a trunk
# Linux: ICMP errors (port unreachable above all) queued on the socket with the address they concern.
RECVERR = sys.platform.startswith("linux")
IP_RECVERR, MSG_ERRQUEUE = 11, 0x2000
UNREACHABLE = (32011, "Error communicating with your SIP communications infrastructure")
NONCE_LIFETIME = 300.0  # seconds a digest challenge may be answered


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, carrier: SipCarrier, sock: socket.socket) -> None:
        self.carrier = carrier
        self.sock = sock

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.carrier.received(data, addr[:2])

    def error_received(self, exc: Exception) -> None:
        """An ICMP error for a datagram we sent (with IP_RECVERR, Linux): each is queued with the address it
        was sent to, which the kernel's error queue gives back; a peer that is not listening fails at once
        instead of after Timer B's 32 seconds."""
        while True:
            try:
                _data, ancillary, _flags, addr = self.sock.recvmsg(1, 512, MSG_ERRQUEUE)
            except OSError:  # drained (or no error queue at all)
                return
            # struct sock_extended_err begins with the errno of this error.
            number = (
                int.from_bytes(ancillary[0][2][:4], sys.byteorder) if ancillary else getattr(exc, "errno", 0)
            )
            if addr:
                self.carrier.unreachable((str(addr[0]), int(addr[1])), os.strerror(number or 0))


class _Stream(asyncio.Protocol):
    """A TCP connection carrying SIP: messages framed by Content-Length (StreamParser), each handed to the
    transaction layer like a datagram; what goes back to its peer is written here."""

    def __init__(self, carrier: SipCarrier) -> None:
        self.carrier = carrier
        self.parser = StreamParser()
        self.transport: asyncio.Transport | None = None
        self.peer: Addr = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.peer = transport.get_extra_info("peername")[:2]
        self.carrier.streams[self.peer] = self
        self.carrier.core.reliable.add(self.peer)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.parser.feed(data)
        except SipError as err:  # the stream is out of step: nothing after this can be framed
            self.carrier._note(self.peer[0], f"unframeable SIP over TCP ({err.status} {err.reason})")
            assert self.transport is not None
            self.transport.close()
            return
        for message in messages:
            self.carrier.received(bytes(message), self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.carrier.streams.get(self.peer) is self:
            del self.carrier.streams[self.peer]
            self.carrier.core.reliable.discard(self.peer)


class SipCarrier:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        s = platform.settings
        self.host = s.sip_host or s.host
        self.port = s.sip_port
        low, high = s.rtp_ports.split("-")
        self.rtp_ports = (int(low), int(high))
        self.core = Endpoint()
        self.clock = Clock()
        self.legs: dict[str, SipLeg] = {}  # by Call-ID
        self.registrar = registrar.Registrar(platform.db)
        self.secret = secrets.token_bytes(32)  # signs our digest nonces
        self.trunk_hosts: set[str] = set()
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tcp: asyncio.Server | None = None
        self.streams: dict[Addr, _Stream] = {}  # TCP connections, by peer
        self._timer_at: float | None = None
        self.trace = s.sip_trace
        if self.trace:
            trace.setLevel(logging.INFO)  # whatever the log level of the rest
        self._tasks: set[asyncio.Task[None]] = set()
        # Responses to INVITEs we sent, by transaction key, for the legs placing them (None: Timer B).
        self._placing: dict[str, asyncio.Queue[Response | None]] = {}
        self._transport_errors: dict[str, str] = {}  # transaction key -> why its peer cannot be reached
        self._trunk_addr: dict[str, Addr] = {}
        self._trunk_by_host: dict[str, SipTrunk] = {}
        self._next_invite: dict[str, float] = {}  # per trunk, for max_cps
        self._buckets: dict[str, tuple[float, float]] = {}  # per address: flood tokens and when counted
        self._noted: dict[tuple[str, str], tuple[int, float]] = {}  # warnings held back, and since when

    @property
    def running(self) -> bool:
        return self._transport is not None

    async def start(self) -> None:
        if not self.port:
            return
        loop = asyncio.get_running_loop()
        for trunk in self.p.settings.sip_trunks:
            infos = await loop.getaddrinfo(
                trunk.host, trunk.port, type=socket.SOCK_DGRAM, family=socket.AF_INET
            )
            self.trunk_hosts |= {str(info[4][0]) for info in infos}
            self._trunk_by_host |= {str(info[4][0]): trunk for info in infos}
            self._trunk_addr[trunk.name] = (str(infos[0][4][0]), trunk.port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
            if RECVERR:  # ICMP errors reach an unconnected socket only if asked for
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        except OSError:
            sock.close()
            raise
        transport, _ = await loop.create_datagram_endpoint(lambda: _Socket(self, sock), sock=sock)
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self._tcp = await loop.create_server(
            lambda: _Stream(self), self.host, self.port, family=socket.AF_INET
        )
        log.info("SIP on udp and tcp %s:%d", self.host, self.port)

    async def stop(self) -> None:
        for leg in list(self.legs.values()):
            await leg.hangup()
        self._flush()
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._tcp is not None:
            self._tcp.close()
            for stream in list(self.streams.values()):
                if stream.transport is not None:
                    stream.transport.close()
        for task in list(self._tasks):
            task.cancel()

    def status(self) -> dict[str, Any]:
        """What `telephonist sip` shows: where SIP listens, the trunks, the registrations, the live calls."""
        now, clock = time.time(), time.monotonic()
        calls = [
            {
                "call_sid": leg.call_sid,
                "sip_call_id": call_id,
                "direction": "outbound" if leg.route is not None else "inbound",
                "trunk": leg.trunk.name if leg.trunk is not None else None,
                "remote": f"{leg.stream.remote[0]}:{leg.stream.remote[1]}" if leg.stream.remote else None,
                "codec": leg.stream.encoding,
                "state": "answered" if leg.answered else "ringing",
                "seconds": round(clock - leg.started) if leg.answered else 0,
                "rtp_sent": leg.stream.sender.packet_count,
                "rtp_received": leg.stream.received,
            }
            for call_id, leg in self.legs.items()
        ]
        trunks = [
            {
                "name": t.name,
                "sid": t.sid,
                "address": f"{t.transport} {t.host}:{t.port}",
                "prefixes": t.prefixes,
                "max_cps": t.max_cps,
                "calls": sum(1 for leg in self.legs.values() if leg.trunk is t),
            }
            for t in self.p.settings.sip_trunks
        ]
        registrations = [
            {
                "aor": b.aor,
                "contact": b.contact,
                "source": f"{b.source[0]}:{b.source[1]}",
                "expires_in": round(b.expires_at - now),
                "account_sid": b.account_sid,
                "domain_sid": b.domain_sid,
            }
            for b in self.registrar.all(now)
        ]
        listening = f"udp {self.host}:{self.port}" if self.running else None
        return {"listening": listening, "trunks": trunks, "registrations": registrations, "calls": calls}

    # -- the transaction layer's loop -------------------------------------------------------------------
    def received(self, data: bytes, addr: Addr) -> None:
        now = self._now()
        if addr[0] not in self.trunk_hosts and not self._admit(addr[0], now):
            return
        if self.trace:
            self._trace("<-", data, addr)
        self.core.receive(data, addr, now)
        self._pump()

    def _trace(self, arrow: str, data: bytes, addr: Addr) -> None:
        """One line a SIP message, with the SID of its call: a ladder of every call in the log."""
        first = data.split(b"\n", 1)[0].strip().decode(errors="replace")[:120]
        found = _CALL_ID.search(data)
        call_id = found[1].decode(errors="replace") if found else "-"
        leg = self.legs.get(call_id)
        cseq_line = _CSEQ.search(data)
        trace.info(
            "%s %s %s:%d %s (Call-ID %s, CSeq %s)",
            leg.call_sid if leg is not None else "-",
            arrow,
            *addr,
            first,
            call_id,
            cseq_line[1].decode(errors="replace") if cseq_line else "-",
        )

    def _admit(self, host: str, now: float) -> bool:
        """A flood from one address is dropped before it is parsed: FLOOD_RATE datagrams a second, in
        bursts of up to twice that (trunks are not limited)."""
        if len(self._buckets) > 10_000:
            self._buckets.clear()
        tokens, last = self._buckets.get(host, (2.0 * FLOOD_RATE, now))
        tokens = min(2.0 * FLOOD_RATE, tokens + (now - last) * FLOOD_RATE)
        admitted = tokens >= 1
        self._buckets[host] = (tokens - admitted, now)
        if not admitted:
            self._note(host, "datagrams over the flood limit dropped")
        return admitted

    def _note(self, host: str, what: str) -> None:
        """A warning about a misbehaving peer, at most one a second per address and kind."""
        count, since = self._noted.get((host, what), (0, 0.0))
        now = self._now()
        if now - since >= 1.0:
            log.warning("SIP from %s: %s (%d more in the last second)", host, what, count)
            self._noted[(host, what)] = (0, now)
        else:
            self._noted[(host, what)] = (count + 1, since)

    def _pump(self) -> None:
        while (event := self.core.next_event()) is not None:
            if isinstance(event, RequestIn):
                self._request(event.request, event.addr)
            elif isinstance(event, Malformed):
                self._note(event.addr[0], f"malformed message ({event.error.status} {event.error.reason})")
                log.debug("malformed SIP from %s:%d: %s", *event.addr, event.error)
            elif isinstance(event, TimedOut):
                waiting = self._placing.get(event.key)
                if waiting is not None:
                    waiting.put_nowait(None)
                self._timed_out(event.key)
            elif isinstance(event, ResponseIn):
                waiting = self._placing.get(event.key)
                if waiting is not None:
                    waiting.put_nowait(event.response)
                else:  # a 2xx again: our ACK was lost (§13.2.2.4)
                    leg = self.legs.get(event.response.headers.get("Call-ID") or "")
                    if leg is not None and leg.ack is not None:
                        self.core.send(*leg.ack)
        self._flush()

    def _flush(self) -> None:
        if self._transport is not None:
            for data, addr in self.core.datagrams():
                if self.trace:
                    self._trace("->", data, addr)
                stream = self.streams.get(addr)
                if stream is not None and stream.transport is not None:
                    stream.transport.write(data)
                else:
                    self._transport.sendto(data, addr)
        when = self.core.get_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None and self._transport is not None:
            self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, None
        self.core.handle_timer(self._now())
        self._pump()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _respond(self, request: Request, status: int, **kw: object) -> None:
        self.core.respond(request, response(request, status, **kw), self._now())  # type: ignore[arg-type]

    # -- requests ---------------------------------------------------------------------------------------
    def _request(self, req: Request, addr: Addr) -> None:
        leg = self.legs.get(req.headers.get("Call-ID") or "")
        to_tag = NameAddr.parse(req.headers.get("To") or "").tag
        if req.method == "ACK":
            if leg is not None and leg.dialog is not None and leg.dialog.matches(req):
                leg.dialog.confirmed = True
                if leg.offer is None and req.body:  # the answer to the offer of our 200 (a late offer)
                    self._late_answer(leg, req)
            return
        if req.method == "CANCEL":
            self._cancel(req)
        elif req.method == "OPTIONS":
            self._respond(req, 200, extra=(("Allow", ALLOW), ("Accept", "application/sdp")))
        elif to_tag is not None:
            self._in_dialog(req, leg)
        elif req.method == "INVITE":
            if leg is not None:  # a second INVITE of a call already being set up (a fork or a loop)
                self._respond(req, 482 if leg.invite is not req else 100)
                return
            self._respond(req, 100)
            self._spawn(self._incoming(req, addr))
        elif req.method == "REGISTER":
            self._register(req, addr)
        elif req.method in ("BYE", "INFO"):
            self._respond(req, 481)
        else:
            self._respond(req, 405, extra=(("Allow", ALLOW),))

    def _in_dialog(self, req: Request, leg: SipLeg | None) -> None:
        if leg is None or leg.dialog is None or not leg.dialog.matches(req):
            self._respond(req, 481)
            return
        if req.method == "BYE":
            self._respond(req, 200)
            leg.remote_hangup()
        elif req.method == "INVITE":  # a re-INVITE: hold, resume, a new address
            self._reinvite(req, leg)
        elif req.method == "INFO":
            self._info(req, leg)
        else:
            self._respond(
                req,
                405 if req.method in ("REFER", "MESSAGE", "SUBSCRIBE") else 501,
                extra=(("Allow", ALLOW),),
            )

    def _cancel(self, cancel: Request) -> None:
        invite = self.core.invite_of(cancel)
        if invite is None:
            self._respond(cancel, 481)
            return
        self._respond(cancel, 200)
        leg = self.legs.get(invite.headers.get("Call-ID") or "")
        tag = leg.dialog.local.tag if leg is not None and leg.dialog is not None else new_tag()
        self._respond(invite, 487, to_tag=tag)
        if leg is not None:
            leg.remote_hangup()

    def _info(self, req: Request, leg: SipLeg) -> None:
        """DTMF as SIP INFO (application/dtmf-relay `Signal=5` or application/dtmf `5`)."""
        kind = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        text = req.body.decode("ascii", "replace")
        signal = ""
        if kind == "application/dtmf-relay":
            for line in text.splitlines():
                name, _, value = line.partition("=")
                if name.strip().lower() == "signal":
                    signal = value.strip()
        elif kind == "application/dtmf":
            signal = text.strip()
        self._respond(req, 200)
        if len(signal) == 1 and signal.upper() in "0123456789*#ABCD":
            leg.stream.on_key(signal.upper())

    def _late_answer(self, leg: SipLeg, ack: Request) -> None:
        assert leg.answer_sdp is not None
        try:
            negotiated = sdp.negotiated(leg.answer_sdp, sdp.SessionDescription.parse(ack.body))
        except sdp.SdpError as err:
            log.warning("call %s: the ACK's SDP answer is unusable (%s): ending the call", leg.call_sid, err)
            self.end(leg, None)
            leg.remote_hangup()
            return
        leg.stream.configure(negotiated, leg.stream.peer)

    def _reinvite(self, req: Request, leg: SipLeg) -> None:
        assert leg.dialog is not None
        try:
            offer = sdp.SessionDescription.parse(req.body)
            answer, negotiated = sdp.answer(
                offer, self.host, leg.stream.port, leg.session_id, leg.sdp_version + 1
            )
        except sdp.SdpError as err:
            log.warning("call %s: re-INVITE with an SDP we cannot answer: %s", leg.call_sid, err)
            self._respond(req, 488)
            return
        leg.sdp_version += 1
        leg.stream.configure(negotiated, leg.stream.peer)
        self._respond(
            req, 200, to_tag=leg.dialog.local.tag, contact=self.contact(leg), body=str(answer).encode()
        )

    # -- calls from trunks ------------------------------------------------------------------------------
    def contact(self, leg: SipLeg) -> str:
        tcp = ";transport=tcp" if leg.transport == "TCP" else ""
        return f"<sip:{self.host}:{self.port}{tcp}>"

    def via(self, leg: SipLeg) -> Via:
        return Via(leg.transport, self.host, self.port)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _incoming(self, invite: Request, addr: Addr) -> None:
        try:
            await self._route(invite, addr)
        except Exception:  # a fault of ours: the caller hears 500, the rest goes on
            log.exception("INVITE %s from %s:%d failed", invite.headers.get("Call-ID"), *addr)
            self._final(invite, 500)

    async def _route(self, invite: Request, addr: Addr) -> None:
        """A new INVITE: from a phone of a SIP Domain (its Request-URI names the domain), answered by the
        domain's VoiceUrl; or from a trunk to a platform number, answered by that number's VoiceUrl."""
        try:
            uri = Uri.parse(invite.uri)
        except SipError:
            self._final(invite, 416)
            return
        with self.p.db.read() as q:
            domain = sip_store.domain_by_name(q, uri.host)
        if domain is not None:
            user = self._authenticate(invite, domain, "calls")
            if user is None:
                return
            name = domain["domain_name"]
            to = f"sip:{uri.user}@{name}" if uri.user else f"sip:{name}"
            # The domain as the engine sees a number: its webhooks, its account.
            owner = {
                "sid": None,
                "account_sid": domain["account_sid"],
                "phone_number": to,
                "voice_application_sid": None,
                "voice_url": domain["voice_url"],
                "voice_method": domain["voice_method"] or "POST",
                "voice_fallback_url": domain["voice_fallback_url"],
                "voice_fallback_method": domain["voice_fallback_method"] or "POST",
                "status_callback": domain["voice_status_callback_url"],
                "status_callback_method": domain["voice_status_callback_method"] or "POST",
            }
            await self._ring(invite, addr, f"sip:{user}@{name}", owner)
            return
        if addr[0] not in self.trunk_hosts:
            log.warning("INVITE from %s, which is no trunk: 403", addr[0])
            self._final(invite, 403)
            return
        dialled = _number(invite.uri)
        with self.p.db.read() as q:
            number = self.p.sim.owner(q, dialled) if dialled else None
        if number is None:
            log.info("INVITE for %s, which is no platform number: 404", invite.uri)
            self._final(invite, 404)
            return
        await self._ring(invite, addr, _caller(invite), number, self._trunk_by_host.get(addr[0]))

    def _final(self, request: Request, status: int, **kw: Any) -> None:
        self._respond(request, status, to_tag=new_tag(), **kw)
        self._flush()

    def _authenticate(self, req: Request, domain: Row, kind: Literal["calls", "registrations"]) -> str | None:
        """The user of the domain's credential lists for `kind` whose digest credentials `req` carries; else
        None, `req` answered with a challenge (401 for REGISTER, 407 for INVITE) or 403 when the domain
        takes nobody's."""
        with self.p.db.read() as q:
            users = sip_store.credentials(q, domain["sid"], kind)
        if not users:
            log.info("%s for %s, which has no credential list for %s: 403", req.method, domain["sid"], kind)
            self._final(req, 403)
            return None
        realm, now = domain["domain_name"], time.time()
        proxy = req.method != "REGISTER"
        given = req.headers.get("Proxy-Authorization" if proxy else "Authorization")
        stale = False
        if given:
            user = auth.verify(given, req.method, realm, users)
            age = auth.nonce_age(self.secret, auth.credentials_nonce(given), now)
            if user is not None and age is not None and 0 <= age < NONCE_LIFETIME:
                return user
            stale = user is not None  # the right password with an old nonce: ask again, quietly
            if not stale:
                self._note(self._source(req), f"wrong credentials for {realm}")
        challenge = auth.challenge(realm, auth.new_nonce(self.secret, now), stale)
        header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        self._final(req, 407 if proxy else 401, extra=((header, challenge),))
        return None

    @staticmethod
    def _source(req: Request) -> str:
        via = Via.parse(req.headers.get("Via") or "")
        return via.param("received") or via.host

    async def _ring(
        self,
        invite: Request,
        addr: Addr,
        caller: str,
        owner: Mapping[str, Any],
        trunk: SipTrunk | None = None,
    ) -> None:
        """Answer the offer, ring the call and run the owner's (a number's or a domain's) VoiceUrl."""
        call_id = invite.headers.get("Call-ID") or ""
        local_tag = new_tag()
        try:
            offer = sdp.SessionDescription.parse(invite.body) if invite.body else None
        except sdp.SdpError as err:
            log.warning("INVITE with a bad SDP offer from %s: %s", addr[0], err)
            self._final(invite, 488)
            return
        stream = RtpStream(self.clock, "")
        await stream.open(self.host, self.rtp_ports)
        if self.core.final_status(invite):  # CANCELled while the port was opened
            stream.close()
            return
        stream.peer = addr[0]
        leg = SipLeg(self, "", stream, invite)
        leg.source = addr
        leg.transport = "TCP" if addr in self.streams else "UDP"
        leg.dialog = Dialog.as_uas(invite, local_tag)
        leg.offer = offer
        if offer is not None:
            try:
                leg.answer_sdp, negotiated = sdp.answer(offer, self.host, stream.port, leg.session_id)
            except sdp.SdpError as err:
                log.warning("INVITE from %s: %s: 488", addr[0], err)
                stream.close()
                self._final(invite, 488)
                return
            stream.configure(negotiated, addr[0])
        self.legs[call_id] = leg
        sid = self.p.voice.start_inbound(caller, owner, leg=leg, trunk_sid=trunk.sid if trunk else None)
        leg.call_sid = stream.call_sid = sid
        leg.trunk = trunk
        self._event(leg, call_id, addr)
        self._respond(invite, 180, to_tag=local_tag)
        self._flush()

    # -- registrations -------------------------------------------------------------------------------
    def _register(self, req: Request, addr: Addr) -> None:
        """REGISTER of a phone to a SIP Domain with registration on (§10.3)."""
        to = NameAddr.parse(req.headers.get("To") or "").uri
        with self.p.db.read() as q:
            domain = sip_store.domain_by_name(q, to.host)
        if domain is None or not domain["sip_registration"]:
            self._final(req, 404 if domain is None else 403)
            return
        user = self._authenticate(req, domain, "registrations")
        if user is None:
            return
        if (to.user or "") != user:  # a user registers its own address, nobody else's
            self._final(req, 403)
            return
        now, key = time.time(), registrar.aor(user, domain["domain_name"])
        given = [c.strip() for c in req.headers.get_all("Contact")]
        try:
            default = int(req.headers.get("Expires") or registrar.DEFAULT_EXPIRES)
            contacts = [NameAddr.parse(c) for c in given if c != "*"]
            wanted = [(c, int(c.param("expires") or default)) for c in contacts]
        except (SipError, ValueError):
            self._final(req, 400)
            return
        if "*" in given and (default != 0 or len(given) > 1):  # §10.3 step 6
            self._final(req, 400)
            return
        if any(0 < e < registrar.MIN_EXPIRES for _, e in wanted):
            self._final(req, 423, extra=(("Min-Expires", str(registrar.MIN_EXPIRES)),))
            return
        if "*" in given:
            self.registrar.clear(key)
        call_id, number = req.headers.get("Call-ID") or "", cseq(req.headers)[0]
        for contact, expires in wanted:
            expires = min(expires, registrar.MAX_EXPIRES)
            binding = registrar.Binding(
                key,
                str(contact.uri),
                addr,
                now + expires,
                call_id,
                number,
                domain["account_sid"],
                domain["sid"],
            )
            if not self.registrar.update(binding, expires):
                self._final(req, 500, extra=(("Retry-After", "1"),))  # out of order (§10.3 step 7)
                return
        bound = tuple(
            ("Contact", f"<{b.contact}>;expires={max(0, int(b.expires_at - now))}")
            for b in self.registrar.lookup(key, now)
        )
        self._final(req, 200, extra=bound)
        if wanted:
            log.info("%s registered at %s:%d", key, *addr)

    def _event(self, leg: SipLeg, call_id: str, addr: Addr) -> None:
        """The SIP side of a call among its events: its Call-ID, the far end, the trunk."""
        event = {"event": "sip", "call_id": call_id, "remote": f"{addr[0]}:{addr[1]}"}
        if leg.trunk is not None:
            event["trunk"] = leg.trunk.name
        transcripts.add(self.p.db, leg.call_sid, event)
        log.info("call %s: SIP Call-ID %s with %s:%d", leg.call_sid, call_id, *addr)

    def answer(self, leg: SipLeg) -> None:
        """The engine answers: 200 OK with our SDP (an answer, or an offer when the INVITE had none)."""
        assert leg.dialog is not None and leg.invite is not None
        if leg.answer_sdp is None:  # a late offer: ours goes in the 200, the answer comes in the ACK
            leg.answer_sdp = sdp.offer(self.host, leg.stream.port, leg.session_id)
        body = str(leg.answer_sdp).encode()
        self._respond(leg.invite, 200, to_tag=leg.dialog.local.tag, contact=self.contact(leg), body=body)
        self._flush()

    def end(self, leg: SipLeg, status: int | None) -> None:
        """The platform ends a leg: BYE once answered, else the final response `status`."""
        if leg.dialog is None:
            return  # an outgoing leg never answered: its INVITE was CANCELled
        if status is not None and leg.route is None:
            assert leg.invite is not None
            self._respond(leg.invite, status, to_tag=leg.dialog.local.tag)
        elif status is None:
            bye = leg.dialog.request("BYE", self.via(leg), self.contact(leg))
            # A phone behind NAT is reached where its requests come from, not at its private Contact.
            hop = leg.source if leg.source is not None and not leg.dialog.route_set else leg.dialog.next_hop()
            self.core.request(bye, hop, self._now())
        self._flush()

    def forget(self, leg: SipLeg) -> None:
        if leg.dialog is not None:
            self.legs.pop(leg.dialog.call_id, None)

    def _timed_out(self, key: str) -> None:
        """A 2xx never ACKed (key is the Call-ID): the call is over (§13.3.1.4); a BYE unanswered: nothing."""
        leg = self.legs.get(key)
        if leg is not None and leg.dialog is not None and not leg.dialog.confirmed:
            log.warning("call %s: no ACK for 200 OK: ending it", leg.call_sid)
            self.end(leg, None)
            leg.remote_hangup()

    # -- calls to trunks ------------------------------------------------------------------------------
    def _trunk_for(self, to: str) -> SipTrunk | None:
        """The trunk whose prefix matches `to` the longest."""
        best: tuple[int, SipTrunk | None] = (0, None)
        for trunk in self.p.settings.sip_trunks:
            for prefix in trunk.prefixes:
                if to.startswith(prefix) and len(prefix) > best[0]:
                    best = (len(prefix), trunk)
        return best[1]

    def target(self, to: str, account_sid: str, params: Mapping[str, Any] | None = None) -> Target | None:
        """Where a call to `to` goes over SIP, when it does: a number of a trunk's prefixes, a `sip:` URI
        (with the call's SipAuthUsername/SipAuthPassword for its challenge), or `client:<user>` (and
        `sip:<user>@<domain>` of our domains) registered by a phone."""
        if not self.running:
            return None
        if to.startswith("client:"):
            return self._registered(self.registrar.find_user(account_sid, to[7:], time.time()))
        if to.startswith(("sip:", "sips:")):
            try:
                uri = Uri.parse(to.split("?", 1)[0])
            except SipError:
                return None
            with self.p.db.read() as q:
                domain = sip_store.domain_by_name(q, uri.host)
            if domain is not None:  # one of ours: the phone registered there
                key = registrar.aor(uri.user or "", domain["domain_name"])
                return self._registered(self.registrar.lookup(key, time.time()))
            user, password = (
                (params or {}).get("SipAuthUsername", ""),
                (params or {}).get("SipAuthPassword", ""),
            )
            return Target(str(uri), str(uri), (uri.host, uri.port or 5060), user, password)
        trunk = self._trunk_for(to)
        if trunk is None:
            return None
        at = f"sip:{_written(to, trunk.number_format)}@{_host(trunk.host)}:{trunk.port}"
        return Target(at, at, self._trunk_addr[trunk.name], trunk.username, trunk.password, trunk)

    @staticmethod
    def _registered(bindings: list[registrar.Binding]) -> Target | None:
        if not bindings:
            return None
        b = bindings[0]  # the freshest registration
        return Target(b.contact, f"sip:{b.aor}", b.source, nat=True)

    def outbound(self, call_sid: str, target: Target, from_: str) -> SipLeg:
        """The leg of a call to `target` from `from_`; `wait_answer` sends the INVITE."""
        leg = SipLeg(self, call_sid, RtpStream(self.clock, call_sid), None)
        leg.route = target
        leg.caller = from_
        return leg

    async def place(self, leg: SipLeg, timeout: float) -> str:
        """INVITE the target and wait: 'answered', 'busy', 'no-answer' or 'failed' (SIP's answer kept in
        `leg.sip_code`). Unanswered after `timeout` seconds (or cancelled), the INVITE is CANCELled."""
        target = leg.route
        assert target is not None
        if target.trunk is not None:
            await self._pace(target.trunk)
        await leg.stream.open(self.host, self.rtp_ports)
        try:
            addr = await self._resolve(target.hop)
        except OSError as err:
            log.warning("call %s: cannot resolve %s: %s", leg.call_sid, target.hop[0], err)
            leg.sip_code = 404
            return "failed"
        leg.stream.peer = addr[0]
        if target.nat:
            leg.source = addr
        if target.trunk is not None and target.trunk.transport == "tcp":
            leg.transport = "TCP"
            if addr not in self.streams:
                try:
                    await asyncio.get_running_loop().create_connection(lambda: _Stream(self), *addr)
                except OSError as err:
                    log.warning("call %s: cannot connect to %s:%d over TCP: %s", leg.call_sid, *addr, err)
                    leg.sip_code = 503
                    self._notify_unreachable(leg, target, f"cannot connect over TCP: {err.strerror or err}")
                    return "failed"
        offer = sdp.offer(self.host, leg.stream.port, leg.session_id)
        invite = Request("INVITE", target.uri)
        h = invite.headers
        h.add("Via", str(self.via(leg).with_params(branch=new_branch(), rport=None)))
        h.add("Max-Forwards", "70")
        caller = leg.caller.removeprefix("client:")
        if target.trunk is not None:  # the trunk's caller-ID rules
            caller = _written(target.trunk.caller_id or caller, target.trunk.number_format)
        h.add("From", str(NameAddr(Uri("sip", caller, self.host, self.port)).with_tag(new_tag())))
        h.add("To", f"<{target.to}>")
        h.add("Call-ID", new_call_id(self.host))
        h.add("CSeq", "1 INVITE")
        h.add("Contact", self.contact(leg))
        h.add("Allow", ALLOW)
        h.add("User-Agent", "Telephonist")
        h.add("Content-Type", "application/sdp")
        invite.body = str(offer).encode()
        self.legs[h.get("Call-ID") or ""] = leg
        leg.trunk = target.trunk
        self._event(leg, h.get("Call-ID") or "", addr)
        try:
            async with asyncio.timeout(timeout):
                return await self._invite(leg, invite, offer, addr, target)
        except (TimeoutError, asyncio.CancelledError) as stop:
            self._cancel_invite(leg, addr)
            if isinstance(stop, asyncio.CancelledError):
                raise
            leg.sip_code = 487
            return "no-answer"

    @staticmethod
    async def _resolve(hop: Addr) -> Addr:
        infos = await asyncio.get_running_loop().getaddrinfo(
            hop[0].strip("[]"), hop[1], type=socket.SOCK_DGRAM, family=socket.AF_INET
        )
        return str(infos[0][4][0]), hop[1]

    async def _invite(
        self, leg: SipLeg, invite: Request, offer: sdp.SessionDescription, addr: Addr, target: Target
    ) -> str:
        authorized = False
        while True:
            leg.invite = invite
            responses: asyncio.Queue[Response | None] = asyncio.Queue()
            key = self.core.request(invite, addr, self._now())
            self._placing[key] = responses
            self._flush()
            try:
                while (resp := await responses.get()) is not None and resp.status < 200:
                    leg.sip_code = resp.status
            finally:
                del self._placing[key]
            unreachable = self._transport_errors.pop(key, None)
            if unreachable is not None:  # a transport error is a 503 (§8.1.3.1)
                leg.sip_code = 503
                self._notify_unreachable(leg, target, unreachable)
                return "failed"
            if resp is None:  # Timer B: no final response
                leg.sip_code = 408
                self._notify_unreachable(leg, target, "no response (timeout)")
                return "no-answer"
            leg.sip_code = resp.status
            if resp.status in (401, 407) and not authorized and target.username:
                authorized = True
                again = self._authorized(invite, resp, target)
                if again is not None:
                    invite = again
                    continue
            if resp.status >= 300:
                log.info("call %s: the trunk answered %d %s", leg.call_sid, resp.status, resp.reason)
                return _OUTCOME.get(resp.status, "failed")
            return self._answered(leg, invite, resp, offer)

    def unreachable(self, addr: Addr, why: str) -> None:
        """A datagram to `addr` came back undeliverable: the INVITEs being placed there fail now."""
        for key in self.core.unreachable(addr):
            waiting = self._placing.get(key)
            if waiting is not None:
                log.warning("SIP to %s:%d: %s", *addr, why)
                self._transport_errors[key] = why
                waiting.put_nowait(None)
        self._flush()

    def _notify_unreachable(self, leg: SipLeg, target: Target, why: str) -> None:
        """Notification 32011, which Twilio records for each attempt its SIP peer did not take."""
        code, text = UNREACHABLE
        try:
            with self.p.db.tx() as conn:
                call = conn.execute(select(calls.c.account_sid).where(calls.c.sid == leg.call_sid)).first()
                if call is not None:
                    notifications.record(
                        conn,
                        call.account_sid,
                        code,
                        f"{text}: {target.uri}: {why}",
                        call_sid=leg.call_sid,
                        url=target.uri,  # no HTTP method: request_method is a webhook's
                        warning=True,
                    )
        except Exception:  # the call's outcome matters more than its notification
            log.exception("call %s: recording notification %d failed", leg.call_sid, code)

    def _authorized(self, invite: Request, challenge: Response, target: Target) -> Request | None:
        """The INVITE again with credentials (§22.2): a new branch and CSeq, the same Call-ID and tag."""
        name = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        credentials = auth.answer(
            challenge.headers.get(name) or "", "INVITE", invite.uri, target.username, target.password
        )
        if credentials is None:
            return None
        again = Request("INVITE", invite.uri, invite.headers.copy(), invite.body)
        via = Via.parse(invite.headers.get("Via") or "")
        again.headers.set("Via", str(via.with_params(branch=new_branch())))
        again.headers.set("CSeq", f"{cseq(invite.headers)[0] + 1} INVITE")
        again.headers.set("Authorization" if challenge.status == 401 else "Proxy-Authorization", credentials)
        return again

    def _answered(self, leg: SipLeg, invite: Request, ok: Response, offer: sdp.SessionDescription) -> str:
        leg.dialog = Dialog.as_uac(invite, ok)
        leg.dialog.confirmed = True
        ack = leg.dialog.request("ACK", self.via(leg), self.contact(leg))
        leg.ack = (ack, leg.dialog.next_hop())
        self.core.send(*leg.ack)
        self._flush()
        try:
            negotiated = sdp.negotiated(offer, sdp.SessionDescription.parse(ok.body))
        except sdp.SdpError as err:
            log.warning("call %s: the trunk's SDP answer is unusable (%s): hanging up", leg.call_sid, err)
            self.end(leg, None)
            return "failed"
        leg.stream.configure(negotiated, leg.stream.peer)
        leg.answered = True
        leg.started = time.monotonic()
        leg.stream.start()
        return "answered"

    def _cancel_invite(self, leg: SipLeg, addr: Addr) -> None:
        """§9.1: CANCEL with the INVITE's Request-URI, Call-ID, From, To, CSeq number and Via."""
        invite = leg.invite
        if invite is None or leg.answered:
            return
        cancel = Request("CANCEL", invite.uri)
        for name in ("Via", "Max-Forwards", "From", "To", "Call-ID"):
            cancel.headers.add(name, invite.headers.get(name) or "")
        for route in invite.headers.get_all("Route"):
            cancel.headers.add("Route", route)
        cancel.headers.add("CSeq", f"{cseq(invite.headers)[0]} CANCEL")
        self.core.request(cancel, addr, self._now())
        self._flush()

    async def _pace(self, trunk: SipTrunk) -> None:
        if trunk.max_cps <= 0:
            return
        now = self._now()
        at = max(now, self._next_invite.get(trunk.name, now))
        self._next_invite[trunk.name] = at + 1 / trunk.max_cps
        if at > now:
            await asyncio.sleep(at - now)


@dataclass(frozen=True)
class Target:
    """Where an outgoing INVITE goes: its Request-URI and To, the next hop, the credentials for a
    challenge, the trunk (for its call rate); `nat`: a registered phone, reached where it registered from."""

    uri: str
    to: str
    hop: Addr
    username: str = ""
    password: str = ""
    trunk: SipTrunk | None = None
    nat: bool = False


# SIP's final answers to an INVITE as the call's outcome (§21; the rest is 'failed').
_OUTCOME = {486: "busy", 600: "busy", 603: "busy", 408: "no-answer", 480: "no-answer", 487: "no-answer"}


def _written(number: str, style: str) -> str:
    """An E.164 number as a trunk wants it: as is, without its `+`, or in national form (digits only)."""
    if style == "no-plus" or not number.startswith("+"):
        return number.removeprefix("+")
    if style == "national":
        try:
            return str(phonenumbers.parse(number).national_number)
        except phonenumbers.NumberParseException:
            return number.removeprefix("+")
    return number


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _number(uri: str) -> str | None:
    """The platform number a Request-URI names: its user part as E.164 (`+` optional), or None."""
    try:
        user = Uri.parse(uri).user
    except SipError:
        return None
    return _e164(user or "")


def _e164(user: str) -> str | None:
    digits = user.split(";")[0]
    try:
        parsed = phonenumbers.parse(digits if digits.startswith("+") else "+" + digits)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _caller(invite: Request) -> str:
    """The From of a call from a trunk: its number in E.164 when it is one, else the SIP URI."""
    uri = NameAddr.parse(invite.headers.get("From") or "").uri
    return _e164(uri.user or "") or str(uri)
