"""A stand-alone SMSC for end-to-end tests, built on the ``smpp34`` library (not on Telephonist's codec).

    python smsc_app.py --port 2775 --state submits.jsonl --system-id esme --password secret

The SMPP engine (framing, sessions, windowing, enquire_link, submit_sm/deliver_sm codec) is smpp34's
Rust core, listening on an internal loopback port.  A thin gate on the public port relays whole PDUs to
it and makes up for three gaps of smpp34 1.5's Python server:

* it accepts every bind without showing the password: the gate reads each connection's first PDU and
  answers a bind with the wrong system_id or password itself (ESME_RINVSYSID / ESME_RINVPASWD, with
  our system_id in the body) and closes the connection;
* it closes the connection on an ESME's unbind without an unbind_resp: the gate sends the unbind_resp;
* on a bind_receiver session it answers the ESME's deliver_sm_resp with generic_nack, so no deliver_sm
  would ever complete: the gate binds such an ESME upstream as a transceiver and renames the
  bind_transceiver_resp back to bind_receiver_resp.

What it does:

* acknowledges each submit_sm with a unique message_id (a decimal counter continued from the state
  file, so ids stay unique across restarts) and appends one JSON line per accepted submit_sm to the
  state file, flushed before the submit_sm_resp is sent;
* ``--throttle N``: more than N submit_sm in any rolling second are answered ESME_RTHROTTLED and not
  logged;
* sends delivery receipts (deliver_sm, esm_class 0x04, the usual ``id:... stat:... err:...`` text plus
  receipted_message_id, message_state and network_error_code TLVs) when registered_delivery asks,
  after ``--dlr-delay`` seconds, the final state chosen by the destination's suffix (``--status``);
* originates MOs on request through a small JSON-over-HTTP control port on 127.0.0.1 (``--control-port``,
  printed in the ready line):

  - ``GET /status``: {pid, port, sessions: [{session_id, system_id, can_receive}], submits, throttled,
    rejected, receipts, mo_parts, pending_receipts, next_seq}
  - ``POST /mo`` {source, destination, text, coding?: "gsm7"|"ucs2", parts?: N, concat?: true, ref?,
    ref16?, system_id?}: the text as deliver_sm(s) to a receiving ESME, split with a concatenation UDH
    when longer than one SMS or when ``parts`` asks; answers {parts, statuses, session_id, pdus}
  - ``POST /deliver`` {source, destination, short_message (hex), esm_class, data_coding, tlvs: {tag:
    hex}}: one deliver_sm exactly as given
  - ``POST /unbind``: unbind every ESME (409 from /mo and /deliver when no ESME can receive).

It prints ``SMSC READY port=P control=C pid=N`` on stdout once both ports listen, stops cleanly on
SIGTERM/SIGINT (unbinding its ESMEs), and may be SIGKILLed and started again on the same port and
state file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import smpp34

# --- GSM 03.38 default alphabet (unpacked: one septet per octet, as SMPP carries it) -------------------

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXT = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_GSM_ENC = {ch: i for i, ch in enumerate(GSM_BASIC) if ch != "\x1b"}
_GSM_EXT_DEC = {v: k for k, v in GSM_EXT.items()}


def gsm_septets(ch: str) -> bytes | None:
    """The unpacked septets of one character, or None if the default alphabet lacks it."""
    if ch in _GSM_ENC:
        return bytes([_GSM_ENC[ch]])
    if ch in GSM_EXT:
        return bytes([0x1B, GSM_EXT[ch]])
    return None


def gsm_encode(text: str) -> bytes:
    out = bytearray()
    for ch in text:
        s = gsm_septets(ch)
        if s is None:
            raise ValueError(f"{ch!r} is not in the GSM 03.38 default alphabet")
        out += s
    return bytes(out)


def gsm_decode(data: bytes) -> str:
    out, i = [], 0
    while i < len(data):
        b = data[i]
        if b == 0x1B and i + 1 < len(data):
            out.append(_GSM_EXT_DEC.get(data[i + 1], " "))
            i += 2
            continue
        out.append(GSM_BASIC[b] if b < 0x80 else "?")
        i += 1
    return "".join(out)


def decode_body(body: bytes, data_coding: int) -> str | None:
    """Best-effort text of a short message body (UDH already removed); None for binary codings."""
    dc = data_coding
    if dc == 0x00 or ((dc & 0xF0) == 0xF0 and not dc & 0x04):
        return gsm_decode(body) if all(b < 0x80 for b in body) else body.decode("latin-1")
    if dc == 0x01:
        return body.decode("ascii", "replace")
    if dc == 0x03:
        return body.decode("latin-1")
    if dc == 0x08 or (dc & 0xEC) == 0x08:
        return body.decode("utf-16-be", "replace")
    return None


def parse_udh(payload: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a UDHI payload into ({hex, ies, concat}, body)."""
    n = payload[0] + 1 if payload else 0
    udh, body = payload[:n], payload[n:]
    ies, concat, i = [], None, 1
    while i + 1 < len(udh):
        iei, ln = udh[i], udh[i + 1]
        data = udh[i + 2 : i + 2 + ln]
        ies.append({"iei": iei, "data": data.hex()})
        if iei == 0x00 and ln == 3:
            concat = {"ref": data[0], "total": data[1], "seq": data[2]}
        elif iei == 0x08 and ln == 4:
            concat = {"ref": (data[0] << 8) | data[1], "total": data[2], "seq": data[3]}
        i += 2 + ln
    return {"hex": udh.hex(), "ies": ies, "concat": concat}, body


# --- SMPP constants the gate and receipts need ----------------------------------------------------------

BIND_IDS = {0x00000001: "bind_receiver", 0x00000002: "bind_transmitter", 0x00000009: "bind_transceiver"}
BIND_RECEIVER, BIND_TRANSCEIVER = 0x00000001, 0x00000009
UNBIND, UNBIND_RESP = 0x00000006, 0x80000006
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
MESSAGE_STATE = {
    "ENROUTE": 1,
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}
# destination suffix -> (stat, err); "NONE" sends no receipt at all.
DEFAULT_STATUSES = {
    "0001": ("UNDELIV", "001"),
    "0002": ("REJECTD", "002"),
    "0003": ("EXPIRED", "003"),
    "0004": ("DELETED", "004"),
    "0005": ("UNKNOWN", "005"),
    "0009": ("NONE", "000"),
}


def log(msg: str) -> None:
    print(f"{dt.datetime.now().strftime('%H:%M:%S.%f')[:-3]} {msg}", file=sys.stderr, flush=True)


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Config:
    host: str
    port: int
    state: Path
    system_id: str | None
    password: str | None
    smsc_system_id: str
    dlr_delay: float
    throttle: int | None
    statuses: dict[str, tuple[str, str]]
    rejects: dict[str, int]
    id_style: str
    receipt_tlvs: bool
    control_port: int


@dataclass
class Receipt:
    system_id: str
    session_id: str
    kwargs: dict[str, Any]
    due: float


@dataclass
class Smsc:
    cfg: Config
    server: Any = None
    internal_port: int = 0
    sessions: dict[str, Any] = field(default_factory=dict)
    pending: list[Receipt] = field(default_factory=list)
    next_seq: int = 1
    accepted: deque[float] = field(default_factory=deque)
    counters: dict[str, int] = field(
        default_factory=lambda: {"submits": 0, "throttled": 0, "rejected": 0, "receipts": 0, "mo_parts": 0}
    )
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    gate_conns: set[asyncio.StreamWriter] = field(default_factory=set)
    logf: Any = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    # -- state -----------------------------------------------------------------------------------------

    def open_state(self) -> None:
        path = self.cfg.state
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):  # a line cut by SIGKILL: terminate it, readers skip it
                with path.open("ab") as f:
                    f.write(b"\n")
            for line in data.splitlines():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self.next_seq = max(self.next_seq, int(json.loads(line)["seq"]) + 1)
        self.logf = path.open("a", encoding="utf-8")

    def ids(self, seq: int) -> tuple[str, str]:
        """(id in submit_sm_resp and receipted_message_id, id in the receipt text)."""
        if self.cfg.id_style == "hex":
            return format(seq, "x"), str(seq)
        return str(seq), str(seq)

    # -- the smpp34 server -----------------------------------------------------------------------------

    async def start_engine(self) -> None:
        for _ in range(20):
            self.internal_port = free_loopback_port()
            self.server = smpp34.Server(
                host="127.0.0.1", port=self.internal_port, system_id=self.cfg.smsc_system_id
            )
            try:
                await self.server.start()
                return
            except Exception as exc:  # the port was taken meanwhile
                log(f"engine start on {self.internal_port} failed: {exc}")
        raise RuntimeError("could not start the smpp34 server")

    async def events(self) -> None:
        while True:
            ev = await self.server.next()
            if isinstance(ev, smpp34.Esme):
                self.sessions[ev.session_id] = ev
                log(f"bound {ev.system_id} session={ev.session_id} can_receive={ev.can_receive}")
                if ev.can_receive:
                    self.spawn(self.flush_pending())
            elif isinstance(ev, smpp34.SubmitSmEvent):
                self.on_submit(ev)
            elif isinstance(ev, smpp34.Unbound):
                self.sessions.pop(ev.session_id, None)
                log(f"unbound session={ev.session_id}")

    def spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    # -- submit_sm ----------------------------------------------------------------------------------------

    def on_submit(self, ev: Any) -> None:
        now = time.monotonic()
        if self.cfg.throttle is not None:
            while self.accepted and now - self.accepted[0] >= 1.0:
                self.accepted.popleft()
            if len(self.accepted) >= self.cfg.throttle:
                self.counters["throttled"] += 1
                ev.reject(smpp34.ESME_RTHROTTLED)
                return
        for suffix, status in self.cfg.rejects.items():
            if ev.destination_addr.endswith(suffix):
                self.counters["rejected"] += 1
                ev.reject(status)
                return
        seq = self.next_seq
        self.next_seq += 1
        resp_id, text_id = self.ids(seq)
        tlvs = {f"0x{t.tag:04x}": t.value.hex() for t in ev.tlvs}
        payload_tlv = next((t.value for t in ev.tlvs if t.tag == TLV_MESSAGE_PAYLOAD), None)
        sm = ev.short_message
        content = sm if sm or payload_tlv is None else payload_tlv
        udh = None
        body = content
        if ev.esm_class & 0x40 and content:
            udh, body = parse_udh(content)
        sar = None
        sar_tags = {t.tag: t.value for t in ev.tlvs}
        if TLV_SAR_MSG_REF_NUM in sar_tags:
            sar = {
                "ref": int.from_bytes(sar_tags[TLV_SAR_MSG_REF_NUM], "big"),
                "total": int.from_bytes(sar_tags.get(TLV_SAR_TOTAL_SEGMENTS, b"\0"), "big"),
                "seq": int.from_bytes(sar_tags.get(TLV_SAR_SEGMENT_SEQNUM, b"\0"), "big"),
            }
        wall = time.time()
        record = {
            "seq": seq,
            "message_id": resp_id,
            "receipt_id": text_id,
            "pid": os.getpid(),
            "session_id": ev.session_id,
            "system_id": getattr(self.sessions.get(ev.session_id), "system_id", None),
            "service_type": ev.service_type,
            "source": ev.source_addr,
            "source_ton": ev.source_addr_ton,
            "source_npi": ev.source_addr_npi,
            "destination": ev.destination_addr,
            "dest_ton": ev.dest_addr_ton,
            "dest_npi": ev.dest_addr_npi,
            "esm_class": ev.esm_class,
            "protocol_id": ev.protocol_id,
            "data_coding": ev.data_coding,
            "registered_delivery": ev.registered_delivery,
            "short_message": sm.hex(),
            "message_payload": None if payload_tlv is None else payload_tlv.hex(),
            "udh": udh,
            "sar": sar,
            "text": decode_body(body, ev.data_coding),
            "tlvs": tlvs,
            "time": dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds"),
            "ts": wall,
        }
        self.logf.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.logf.flush()  # on disk (page cache) before the ESME hears of it: survives SIGKILL
        ev.accept(resp_id)
        self.counters["submits"] += 1
        if self.cfg.throttle is not None:
            self.accepted.append(now)
        self.schedule_receipt(record, body)

    def final_state(self, destination: str) -> tuple[str, str]:
        for suffix in sorted(self.cfg.statuses, key=len, reverse=True):
            if destination.endswith(suffix):
                return self.cfg.statuses[suffix]
        return ("DELIVRD", "000")

    def schedule_receipt(self, record: dict[str, Any], body: bytes) -> None:
        rd = record["registered_delivery"] & 0x03
        if rd == 0:
            return
        stat, err = self.final_state(record["destination"])
        if stat == "NONE" or (rd == 2 and stat == "DELIVRD"):
            return
        text = (record["text"] or "")[:20]
        text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
        stamp = time.strftime("%y%m%d%H%M", time.gmtime(record["ts"]))
        done = time.strftime("%y%m%d%H%M", time.gmtime(record["ts"] + self.cfg.dlr_delay))
        dlvrd = "001" if stat == "DELIVRD" else "000"
        receipt_text = (
            f"id:{record['receipt_id']} sub:001 dlvrd:{dlvrd} submit date:{stamp} done date:{done} "
            f"stat:{stat} err:{err} text:{text}"
        )
        tlvs = []
        if self.cfg.receipt_tlvs:
            tlvs = [
                smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, record["message_id"].encode() + b"\0"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([MESSAGE_STATE[stat]])),
            ]
            if int(err) != 0:
                gsm_error = bytes([3]) + int(err).to_bytes(2, "big")  # network type 3: GSM
                tlvs.append(smpp34.Tlv(smpp34.TLV_NETWORK_ERROR_CODE, gsm_error))
        kwargs = {
            "destination_addr": record["source"],
            "short_message": receipt_text.encode("ascii"),
            "source_addr": record["destination"],
            "source_addr_ton": record["dest_ton"],
            "source_addr_npi": record["dest_npi"],
            "dest_addr_ton": record["source_ton"],
            "dest_addr_npi": record["source_npi"],
            "esm_class": 0x04,
            "data_coding": 0x00,
            "tlvs": tlvs,
        }
        receipt = Receipt(
            record["system_id"] or "", record["session_id"], kwargs, time.monotonic() + self.cfg.dlr_delay
        )
        self.spawn(self.deliver_receipt(receipt))

    def receiver_for(self, system_id: str, session_id: str | None = None) -> Any:
        """The session to push to: the given one if it can receive, else one of the same system_id."""
        s = self.sessions.get(session_id or "")
        if s is not None and s.can_receive:
            return s
        same = [e for e in self.sessions.values() if e.can_receive and e.system_id == system_id]
        anyone = [e for e in self.sessions.values() if e.can_receive]
        return (same or anyone or [None])[0]

    async def deliver_receipt(self, receipt: Receipt) -> None:
        await asyncio.sleep(max(0.0, receipt.due - time.monotonic()))
        esme = self.receiver_for(receipt.system_id, receipt.session_id)
        if esme is None:
            self.pending.append(receipt)
            return
        try:
            resp = await esme.deliver_sm(**receipt.kwargs)
        except Exception as exc:
            log(f"receipt to {esme.session_id} failed: {exc}; kept for the next bind")
            self.pending.append(receipt)
            return
        self.counters["receipts"] += 1
        if not resp.is_success:
            log(f"receipt answered 0x{resp.command_status:08x}")

    async def flush_pending(self) -> None:
        waiting, self.pending = self.pending, []
        for receipt in waiting:
            await self.deliver_receipt(receipt)

    # -- mobile-originated messages ---------------------------------------------------------------------

    async def send_mo(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        esme = self.receiver_for(req.get("system_id", ""), req.get("session_id"))
        if esme is None:
            return 409, {"error": "no ESME bound that can receive"}
        source = str(req["source"])
        destination = str(req["destination"])
        pdus = build_mo_parts(
            str(req.get("text", "")),
            coding=req.get("coding"),
            parts=req.get("parts"),
            concat=bool(req.get("concat", True)),
            ref=req.get("ref"),
            ref16=bool(req.get("ref16", False)),
        )
        statuses = []
        for short_message, esm_class, data_coding in pdus:
            resp = await esme.deliver_sm(
                destination,
                short_message,
                source_addr=source,
                source_addr_ton=int(req.get("source_ton", 1)),
                source_addr_npi=int(req.get("source_npi", 1)),
                dest_addr_ton=int(req.get("dest_ton", 1)),
                dest_addr_npi=int(req.get("dest_npi", 1)),
                esm_class=esm_class,
                data_coding=data_coding,
            )
            self.counters["mo_parts"] += 1
            statuses.append(resp.command_status)
        return 200, {
            "parts": len(pdus),
            "statuses": statuses,
            "session_id": esme.session_id,
            "pdus": [{"short_message": p[0].hex(), "esm_class": p[1], "data_coding": p[2]} for p in pdus],
        }

    async def send_raw(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        esme = self.receiver_for(req.get("system_id", ""), req.get("session_id"))
        if esme is None:
            return 409, {"error": "no ESME bound that can receive"}
        tlvs = [smpp34.Tlv(int(k, 0), bytes.fromhex(v)) for k, v in req.get("tlvs", {}).items()]
        resp = await esme.deliver_sm(
            str(req["destination"]),
            bytes.fromhex(req.get("short_message", "")),
            source_addr=str(req["source"]),
            esm_class=int(req.get("esm_class", 0)),
            data_coding=int(req.get("data_coding", 0)),
            tlvs=tlvs,
        )
        return 200, {"statuses": [resp.command_status], "session_id": esme.session_id}

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "port": self.cfg.port,
            "sessions": [
                {"session_id": e.session_id, "system_id": e.system_id, "can_receive": e.can_receive}
                for e in self.sessions.values()
            ],
            "pending_receipts": len(self.pending),
            "next_seq": self.next_seq,
            **self.counters,
        }

    # -- the bind gate --------------------------------------------------------------------------------

    async def gate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.gate_conns.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            header = await asyncio.wait_for(reader.readexactly(16), timeout=60)
            length, command_id, _status, sequence = struct.unpack(">IIII", header)
            if not 16 <= length <= 65536:
                return
            body = await reader.readexactly(length - 16)
            if command_id in BIND_IDS:
                fields = body.split(b"\0")
                system_id = fields[0].decode("latin-1")
                password = fields[1].decode("latin-1") if len(fields) > 1 else ""
                error = 0
                if self.cfg.system_id is not None and system_id != self.cfg.system_id:
                    error = ESME_RINVSYSID
                elif self.cfg.password is not None and password != self.cfg.password:
                    error = ESME_RINVPASWD
                if error:
                    log(f"{BIND_IDS[command_id]} from {system_id!r} refused: 0x{error:08x}")
                    # SMPP 3.4 allows the body to be left out on error, but many ESMEs (smpp34's own
                    # client among them) wait for the system_id, so send it as most SMSCs do.
                    body_out = self.cfg.smsc_system_id.encode("latin-1") + b"\0"
                    head = struct.pack(">IIII", 16 + len(body_out), command_id | 0x80000000, error, sequence)
                    writer.write(head + body_out)
                    await writer.drain()
                    await asyncio.sleep(0.2)
                    return
            up_reader, upstream = await asyncio.open_connection("127.0.0.1", self.internal_port)
            renamed: dict[int, int] = {}
            if command_id == BIND_RECEIVER:
                # smpp34 1.5's server answers an ESME's deliver_sm_resp on a receiver session with
                # generic_nack (invalid command id) and never completes the deliver_sm: it is given a
                # transceiver bind instead, and the ESME a bind_receiver_resp.
                header = struct.pack(">IIII", length, BIND_TRANSCEIVER, 0, sequence)
                renamed[sequence] = BIND_RECEIVER | 0x80000000
            upstream.write(header + body)
            answered: set[int] = set()
            await asyncio.gather(
                relay(reader, upstream, reply_to=writer, answered=answered),
                relay(up_reader, writer, answered=answered, renamed=renamed),
            )
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.gate_conns.discard(writer)
            for w in (writer, upstream):
                if w is not None:
                    w.close()

    # -- control port -----------------------------------------------------------------------------------

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1")
            method, target = request_line.split(" ")[:2]
            headers = {}
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                key, _, value = line.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            raw = await reader.readexactly(int(headers.get("content-length") or 0))
            req = json.loads(raw) if raw else {}
            path = urlsplit(target).path
            if method == "GET" and path == "/status":
                code, out = 200, self.status()
            elif method == "POST" and path == "/mo":
                code, out = await self.send_mo(req)
            elif method == "POST" and path == "/deliver":
                code, out = await self.send_raw(req)
            elif method == "POST" and path == "/unbind":
                for e in list(self.sessions.values()):
                    with contextlib.suppress(Exception):
                        await e.unbind()
                code, out = 200, {"unbound": True}
            else:
                code, out = 404, {"error": f"no route {method} {path}"}
        except Exception as exc:
            code, out = 500, {"error": repr(exc)}
        data = json.dumps(out).encode()
        reason = {200: "OK", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}[code]
        head = f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + data)
            await writer.drain()
        writer.close()

    # -- life cycle -----------------------------------------------------------------------------------

    async def run(self) -> None:
        self.open_state()
        await self.start_engine()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        events = loop.create_task(self.events())
        gate = await asyncio.start_server(self.gate, self.cfg.host, self.cfg.port)
        control = await asyncio.start_server(self.control, "127.0.0.1", self.cfg.control_port)
        port = gate.sockets[0].getsockname()[1]
        cport = control.sockets[0].getsockname()[1]
        print(f"SMSC READY port={port} control={cport} pid={os.getpid()}", flush=True)
        log(f"engine on 127.0.0.1:{self.internal_port}, state {self.cfg.state}, next id seq {self.next_seq}")
        await self.stopping.wait()
        log("stopping")
        gate.close()
        control.close()
        for e in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(e.unbind(), 2)
        for w in list(self.gate_conns):
            w.close()
        events.cancel()
        for t in list(self.tasks):
            t.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.stop(), 3)
        self.logf.close()
        print("SMSC STOPPED", flush=True)


async def read_pdu(reader: asyncio.StreamReader) -> bytes | None:
    """One whole PDU, or None at end of stream."""
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError:
        return None
    (length,) = struct.unpack(">I", head)
    if not 16 <= length <= 1 << 20:
        raise ConnectionError(f"bad command_length {length}")
    return head + await reader.readexactly(length - 4)


async def relay(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    answered: set[int],
    reply_to: asyncio.StreamWriter | None = None,
    renamed: dict[int, int] | None = None,
) -> None:
    """Copy whole PDUs from reader to writer until either side closes.

    smpp34 1.5's server drops the connection on an ESME's unbind without an unbind_resp, and Kannel
    then waits 30 s for it before shutting down; so on the ESME-to-SMSC side (reply_to set) the gate
    answers unbind itself, and drops an unbind_resp smpp34 might send for the same sequence number.
    `renamed` maps the sequence number of the bind response to the command_id the ESME expects.
    """
    try:
        while (pdu := await read_pdu(reader)) is not None:
            command_id, status, sequence = struct.unpack(">III", pdu[4:16])
            if reply_to is not None and command_id == UNBIND:
                answered.add(sequence)
                reply_to.write(struct.pack(">IIII", 16, UNBIND_RESP, 0, sequence))
            elif reply_to is None and command_id == UNBIND_RESP and sequence in answered:
                continue
            elif renamed and command_id == BIND_TRANSCEIVER | 0x80000000 and sequence in renamed:
                pdu = pdu[:4] + struct.pack(">III", renamed.pop(sequence), status, sequence) + pdu[16:]
            writer.write(pdu)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        pass
    finally:
        writer.close()


def _split(units: list[bytes], size: int, parts: int | None) -> list[bytes]:
    """Group encoded characters into chunks of at most `size` octets, or into exactly `parts` chunks."""
    if parts:
        total = sum(len(u) for u in units)
        target = -(-total // parts)
        chunks: list[bytearray] = [bytearray()]
        for u in units:
            if len(chunks[-1]) + len(u) > target and len(chunks) < parts:
                chunks.append(bytearray())
            chunks[-1] += u
        return [bytes(c) for c in chunks]
    out: list[bytearray] = [bytearray()]
    for u in units:
        if len(out[-1]) + len(u) > size:
            out.append(bytearray())
        out[-1] += u
    return [bytes(c) for c in out]


def build_mo_parts(
    text: str,
    *,
    coding: str | int | None = None,
    parts: int | None = None,
    concat: bool = True,
    ref: int | None = None,
    ref16: bool = False,
) -> list[tuple[bytes, int, int]]:
    """(short_message, esm_class, data_coding) for each deliver_sm of an MO text.

    coding: "gsm7" (data_coding 0, unpacked septets), "ucs2" (data_coding 8, UTF-16BE, astral characters
    as surrogate pairs) or None for GSM-7 when the text fits the default alphabet.  A text longer than one
    SMS (160 septets / 70 UCS-2 units) is split with a concatenation UDH (153 / 67 per part); `parts`
    forces exactly that many UDH parts whatever the length.
    """
    if coding in (None, "auto"):
        coding = "gsm7" if all(gsm_septets(c) is not None for c in text) else "ucs2"
    if coding in ("gsm7", 0):
        units = [gsm_septets(c) or b"?" for c in text]
        dc, single, multi = 0x00, 160, 153
    elif coding in ("ucs2", 8, 2):
        units = []
        for c in text:
            units.append(c.encode("utf-16-be"))  # a surrogate pair stays one unit: never split
        dc, single, multi = 0x08, 140, 134
    else:
        raise ValueError(f"unknown coding {coding!r}")
    whole = b"".join(units)
    if not parts and (len(whole) <= single or not concat):
        return [(whole, 0x00, dc)]
    if ref16:
        multi -= 1 if dc == 0 else 2  # one more UDH octet (a septet, or a UCS-2 unit rounded up)
    chunks = _split(units, multi, parts)
    ref = random.randrange(1, 0xFFFF if ref16 else 0xFF) if ref is None else int(ref)
    out = []
    for i, chunk in enumerate(chunks, 1):
        if ref16:
            udh = bytes([6, 0x08, 4, ref >> 8, ref & 0xFF, len(chunks), i])
        else:
            udh = bytes([5, 0x00, 3, ref & 0xFF, len(chunks), i])
        out.append((udh + chunk, 0x40, dc))
    return out


def parse_args(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="SMPP listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, required=True, help="SMPP port (0: any free port)")
    p.add_argument("--state", type=Path, required=True, help="submit log (JSON lines), kept across restarts")
    p.add_argument("--system-id", default="telephonist", help="system_id binds must give ('' accepts any)")
    p.add_argument("--password", default="secret", help="password binds must give ('' accepts any)")
    p.add_argument("--smsc-system-id", default="SMSC", help="system_id in our bind_resp")
    p.add_argument("--dlr-delay", type=float, default=0.5, help="seconds before a receipt (default 0.5)")
    p.add_argument("--throttle", type=int, default=None, help="submit_sm per rolling second before 0x58")
    p.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="SUFFIX=STAT[:ERR]",
        help="receipt state for destinations ending in SUFFIX, e.g. 0001=UNDELIV:001 or 0009=NONE",
    )
    p.add_argument(
        "--reject",
        action="append",
        default=[],
        metavar="SUFFIX=STATUS",
        help="answer submit_sm to destinations ending in SUFFIX with this command_status, e.g. 0008=0x0b",
    )
    p.add_argument(
        "--id-style",
        choices=("dec", "hex"),
        default="dec",
        help="dec: decimal ids everywhere; hex: hex in submit_sm_resp and receipted_message_id, "
        "decimal in the receipt text (as many real SMSCs do)",
    )
    p.add_argument("--no-receipt-tlvs", action="store_true", help="receipts carry the text only")
    p.add_argument("--control-port", type=int, default=0, help="HTTP control port on 127.0.0.1 (0: any)")
    a = p.parse_args(argv)
    statuses = dict(DEFAULT_STATUSES)
    for item in a.status:
        suffix, _, rest = item.partition("=")
        stat, _, err = rest.partition(":")
        if stat != "NONE" and stat not in MESSAGE_STATE:
            p.error(f"unknown receipt state {stat!r}")
        statuses[suffix] = (stat, (err or "000").zfill(3))
    rejects = {}
    for item in a.reject:
        suffix, _, status = item.partition("=")
        rejects[suffix] = int(status, 0)
    return Config(
        host=a.host,
        port=a.port,
        state=a.state,
        system_id=a.system_id or None,
        password=a.password or None,
        smsc_system_id=a.smsc_system_id,
        dlr_delay=a.dlr_delay,
        throttle=a.throttle,
        statuses=statuses,
        rejects=rejects,
        id_style=a.id_style,
        receipt_tlvs=not a.no_receipt_tlvs,
        control_port=a.control_port,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    asyncio.run(Smsc(cfg).run())
    # smpp34's tokio threads may still hold a Python future (the cancelled Server.next()) and crash the
    # interpreter's finalisation (SIGABRT/SIGSEGV, now and then); everything is flushed, so leave now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
