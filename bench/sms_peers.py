"""The peers of bench/sms.py, each run in its own process: an SMSC, a status-callback app and the ceiling's
bare SMPP client.

    python bench/sms_peers.py smsc --port 2775                  # smpp34's SMSC: ack, then DELIVRD at once
    python bench/sms_peers.py callbacks --port 9000             # records `delivered` callbacks
    python bench/sms_peers.py ceiling --smsc-port 2775 --messages 5000 --window 20

smsc: the SMPP side is smpp34's server (its Rust core does framing, windows, enquire_link and the codec),
not Telephonist's code, so the ceiling measures an implementation we did not write. It accepts any bind,
answers every submit_sm with a new decimal message_id and, when registered_delivery asks, sends a
DELIVRD receipt (the Appendix B text plus receipted_message_id and message_state TLVs) after
--dlr-delay seconds (default 0), to the session that submitted. It keeps no log: tests/carriers/smpp's
smsc_app.py writes and flushes a JSON line per submit and relays every PDU through a Python gate, which
a benchmark does not need. It prints `READY port=P` and, per bind, `BOUND session=… system_id=…`.

callbacks: a bare asyncio HTTP/1.1 server (keep-alive). Each POST is a status callback: the time
(time.monotonic, the system-wide CLOCK_MONOTONIC) of the first `MessageStatus=delivered` per MessageSid
is kept, other statuses only counted; it answers 200 with no body. `GET /stats` gives the counts,
`GET /results` {MessageSid: time} and the counts, `POST /reset` forgets everything.

ceiling: binds as a transceiver with Telephonist's own sans-IO session and asyncio link
(telephonist.carriers.smpp: Session, Link, encode_parts, receipt_from_pdu), as the gateway does, keeps
--window submit_sm outstanding and counts DELIVRD receipts; `--client smpp34` uses smpp34's client
instead. Prints one JSON line: messages, receipts, seconds (first submit to last receipt), rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any, cast

RECEIPTED_MESSAGE_ID, MESSAGE_STATE = 0x001E, 0x0427  # TLV tags (SMPP 3.4, 5.3.2.12 and 5.3.2.35)
RECEIPT_DELIVERED = 2  # message_state DELIVERED
BENCH_BODY = "Hello from the SMS benchmark"


def use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# -- the SMSC (smpp34) ------------------------------------------------------------------------------------


async def smsc(port: int, dlr_delay: float) -> None:
    import smpp34

    server = smpp34.Server(host="127.0.0.1", port=port, system_id="BENCHSMSC")
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sessions: dict[str, Any] = {}
    tasks: set[asyncio.Task[None]] = set()
    counts = {"submits": 0, "receipts": 0, "receipt_errors": 0}

    async def receipt(esme: Any, submit: Any, message_id: str) -> None:
        """The DELIVRD receipt of `submit`, from its destination back to its source."""
        if dlr_delay:
            await asyncio.sleep(dlr_delay)
        stamp = time.strftime("%y%m%d%H%M", time.gmtime())
        text = (
            f"id:{message_id} sub:001 dlvrd:001 submit date:{stamp} done date:{stamp} "
            "stat:DELIVRD err:000 text:"
        )
        try:
            resp = await esme.deliver_sm(
                submit.source_addr,
                text.encode("ascii"),
                source_addr=submit.destination_addr,
                source_addr_ton=submit.dest_addr_ton,
                source_addr_npi=submit.dest_addr_npi,
                dest_addr_ton=submit.source_addr_ton,
                dest_addr_npi=submit.source_addr_npi,
                esm_class=0x04,
                tlvs=[
                    smpp34.Tlv(RECEIPTED_MESSAGE_ID, message_id.encode() + b"\0"),
                    smpp34.Tlv(MESSAGE_STATE, bytes([RECEIPT_DELIVERED])),
                ],
            )
            ok = resp.is_success
        except Exception:
            ok = False
        counts["receipts" if ok else "receipt_errors"] += 1

    async def events() -> None:
        seq = 0
        while True:
            ev = await server.next()
            if isinstance(ev, smpp34.SubmitSmEvent):
                seq += 1
                message_id = str(seq)
                ev.accept(message_id)
                counts["submits"] += 1
                esme = sessions.get(ev.session_id)
                if ev.registered_delivery & 0x03 and esme is not None:
                    task = loop.create_task(receipt(esme, ev, message_id))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            elif isinstance(ev, smpp34.Esme):
                sessions[ev.session_id] = ev
                print(f"BOUND session={ev.session_id} system_id={ev.system_id}", flush=True)
            elif isinstance(ev, smpp34.Unbound):
                sessions.pop(ev.session_id, None)
                print(f"UNBOUND session={ev.session_id}", flush=True)

    async def report() -> None:  # what bench/sms.py shows of an incomplete run
        last = ""
        while True:
            await asyncio.sleep(1.0)
            line = "COUNTS " + json.dumps(counts)
            if line != last:
                print(line, flush=True)
                last = line

    reader = loop.create_task(events())
    reporter = loop.create_task(report())
    print(f"READY port={port}", flush=True)
    await stop.wait()
    print("STOPPING " + json.dumps(counts), flush=True)
    reader.cancel()
    reporter.cancel()
    for task in list(tasks):
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.stop(), 3)


# -- the status-callback app ------------------------------------------------------------------------------


class Callbacks:
    def __init__(self) -> None:
        self.delivered: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def record(self, body: bytes, now: float) -> None:
        sid = status = b""
        for pair in body.split(b"&"):
            if pair.startswith(b"MessageSid="):
                sid = pair[11:]
            elif pair.startswith(b"MessageStatus="):
                status = pair[14:]
        name = status.decode("latin-1") or "?"
        self.counts[name] = self.counts.get(name, 0) + 1
        if name == "delivered":
            self.delivered.setdefault(sid.decode("latin-1"), now)

    def answer(self, method: bytes, path: bytes, body: bytes, now: float) -> bytes:
        if method == b"POST" and path != b"/reset":
            self.record(body, now)
            return b""
        if path == b"/reset":
            self.delivered, self.counts = {}, {}
            return b"{}"
        out: dict[str, Any] = {"counts": self.counts, "delivered": len(self.delivered)}
        if path == b"/results":
            out["times"] = self.delivered
        return json.dumps(out).encode()


class HttpServer(asyncio.Protocol):
    """HTTP/1.1 with Content-Length bodies only (what httpx and urllib send), pipelining tolerated."""

    def __init__(self, app: Callbacks) -> None:
        self.app = app
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        now = time.monotonic()
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buffer) < end + 4 + length:
                break
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path = head.split(b" ", 2)[:2]
            payload = self.app.answer(method, path, body, now)
            ctype = b"Content-Type: application/json\r\n" if payload else b""
            out.append(b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (ctype, len(payload), payload))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def callbacks(port: int) -> None:
    loop = asyncio.get_running_loop()
    app = Callbacks()
    server = await loop.create_server(lambda: HttpServer(app), "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY port={port}", flush=True)
    await stop.wait()
    server.close()


# -- the ceiling: a bare SMPP client ----------------------------------------------------------------------


async def ceiling_ours(port: int, n: int, window: int, timeout: float) -> dict[str, Any]:
    from telephonist.carriers.smpp import (
        Bind,
        DeliverSm,
        DeliverSmResp,
        Pdu,
        Session,
        SubmitSm,
        encode_parts,
        receipt_from_pdu,
    )
    from telephonist.carriers.smpp.link import Link

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    receipts = {"delivered": 0, "other": 0, "early": 0, "last": 0.0}
    answered: set[str] = set()  # message_ids of the submit_sm_resp received so far

    async def handle(pdu: Pdu) -> Pdu | None:
        if isinstance(pdu, DeliverSm):
            receipt = receipt_from_pdu(pdu)
            if receipt is not None and receipt.stat == "DELIVRD":
                receipts["delivered"] += 1
                receipts["early"] += receipt.message_id not in answered
                receipts["last"] = time.monotonic()
                if receipts["delivered"] >= n:
                    done.set()
            else:
                receipts["other"] += 1
            return DeliverSmResp(sequence_number=pdu.sequence_number)
        return None

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    session = Session("esme", window=window, enquire_link_interval=30.0, now=loop.time())
    link = Link(session, reader, writer, handle, "ceiling")
    reading = loop.create_task(link.run())
    bound = await link.request(Bind(kind="transceiver", system_id="ceiling", password="secret"), False)
    if bound.command_status:
        raise RuntimeError(f"bind refused: {bound.command_status:#x}")
    [part] = encode_parts(BENCH_BODY, 0)
    todo = iter(range(n))
    refused = 0

    async def worker() -> None:
        nonlocal refused
        for i in todo:
            pdu = SubmitSm(
                source_addr_ton=1,
                source_addr_npi=1,
                source_addr="15005550006",
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=f"4477{i:08d}",
                esm_class=part.esm_class,
                registered_delivery=1,
                data_coding=part.data_coding,
                short_message=part.short_message,
                tlvs=dict(part.tlvs),
            )
            resp = await link.request(pdu)
            refused += resp.command_status != 0
            answered.add(getattr(resp, "message_id", ""))

    start = time.monotonic()
    workers = [loop.create_task(worker()) for _ in range(window)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*workers, done.wait()), timeout)
    result = {
        "messages": n,
        "receipts": receipts["delivered"],
        "other_receipts": receipts["other"],
        # receipts that came before their submit_sm_resp (smpp34's server does not keep that order)
        "receipts_before_resp": receipts["early"],
        "refused": refused,
        "seconds": (receipts["last"] or time.monotonic()) - start,
    }
    reading.cancel()
    writer.close()
    return result


async def ceiling_smpp34(port: int, n: int, window: int, timeout: float) -> dict[str, Any]:
    import smpp34

    client = smpp34.Client("127.0.0.1", port, "ceiling", "secret", bind_type="TRX", window_size=window)
    smsc_session = await client.connect()
    done = asyncio.Event()
    receipts = {"delivered": 0, "other": 0, "last": 0.0}

    async def receive() -> None:
        while True:
            ev = await smsc_session.next()
            if not isinstance(ev, smpp34.DeliverSmEvent):
                return
            if ev.esm_class & 0x04 and b"stat:DELIVRD" in ev.short_message:
                receipts["delivered"] += 1
                receipts["last"] = time.monotonic()
                if receipts["delivered"] >= n:
                    done.set()
            else:
                receipts["other"] += 1

    todo = iter(range(n))
    body = BENCH_BODY.encode()
    refused = 0

    async def worker() -> None:
        nonlocal refused
        for i in todo:
            resp = await smsc_session.submit_sm(
                f"4477{i:08d}",
                body,
                source_addr="15005550006",
                source_addr_ton=1,
                source_addr_npi=1,
                dest_addr_ton=1,
                dest_addr_npi=1,
                registered_delivery=1,
            )
            refused += not resp.is_success

    loop = asyncio.get_running_loop()
    receiving = loop.create_task(receive())
    start = time.monotonic()
    workers = [loop.create_task(worker()) for _ in range(window)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*workers, done.wait()), timeout)
    result = {
        "messages": n,
        "receipts": receipts["delivered"],
        "other_receipts": receipts["other"],
        "refused": refused,
        "seconds": (receipts["last"] or time.monotonic()) - start,
    }
    receiving.cancel()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(smsc_session.unbind(), 2)
    with contextlib.suppress(Exception):
        await client.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    s = sub.add_parser("smsc", help="smpp34's SMSC: ack every submit_sm, send a DELIVRD receipt")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--dlr-delay", type=float, default=0.0, help="seconds before each receipt (default 0)")
    c = sub.add_parser("callbacks", help="the status-callback app")
    c.add_argument("--port", type=int, required=True)
    b = sub.add_parser("ceiling", help="a bare SMPP client against the SMSC")
    b.add_argument("--smsc-port", type=int, required=True)
    b.add_argument("--messages", type=int, default=5000)
    b.add_argument("--window", type=int, default=20)
    b.add_argument("--timeout", type=float, default=120.0)
    b.add_argument("--client", choices=["ours", "smpp34"], default="ours")
    args = ap.parse_args(argv)
    use_uvloop()
    if args.role == "smsc":
        asyncio.run(smsc(args.port, args.dlr_delay))
        # smpp34's tokio threads may still hold a Python future and upset the interpreter's finalisation
        # (as tests/carriers/smpp/smsc_app.py notes): everything is printed, so leave now.
        sys.stdout.flush()
        import os

        os._exit(0)
    if args.role == "callbacks":
        asyncio.run(callbacks(args.port))
        return 0
    run = ceiling_ours if args.client == "ours" else ceiling_smpp34
    result = asyncio.run(run(args.smsc_port, args.messages, args.window, args.timeout))
    print(json.dumps(result), flush=True)
    if args.client == "smpp34":
        sys.stdout.flush()
        import os

        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
