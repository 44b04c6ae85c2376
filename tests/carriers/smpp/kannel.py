"""Kannel (Debian's bearerbox + smsbox, 1.4.5) as an external SMPP ESME for tests.  No fixtures here.

    k = KannelEsme("127.0.0.1", smsc_port, "telephonist", "secret", workdir=tmp_path / "kannel").start()
    tag = k.send("15551230000", "15557654321", "hello", coding=0, dlr=True)
    k.wait_receipts(lambda rs: any(r["tag"] == tag and r["type"] == 1 for r in rs))
    k.received()        # MOs that reached the sms-service get-url, reassembled by bearerbox
    k.stop()

Kannel binds as one transceiver (``transceiver-mode = true``) to the SMSC.  MTs go in through smsbox's
sendsms HTTP interface; MOs come out through an sms-service whose get-url points at a small HTTP server
this module runs on loopback, and delivery reports through a per-message dlr-url to the same server.
Every Kannel port (admin, smsbox, sendsms) is a free loopback port and the configuration, logs and pid
files live in `workdir`.
"""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .smsc import free_port, poll

BEARERBOX = "bearerbox"
SMSBOX = "smsbox"

# Kannel's DLR event types (the %d of a dlr-url, bits of dlr-mask).
DLR_DELIVERED = 1  # delivered to phone (stat:DELIVRD)
DLR_UNDELIVERED = 2  # non-delivered to phone (UNDELIV, REJECTD, EXPIRED, DELETED, UNKNOWN)
DLR_BUFFERED = 4  # queued on SMSC (ACCEPTD, ENROUTE)
DLR_SMSC_ACK = 8  # delivered to SMSC: submit_sm_resp ESME_ROK
DLR_SMSC_NACK = 16  # non-delivered to SMSC: submit_sm_resp with an error


def kannel_available() -> bool:
    return bool(shutil.which(BEARERBOX, path=_path()) and shutil.which(SMSBOX, path=_path()))


def _path() -> str:
    return os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/usr/local/sbin"


class _Sink(http.server.ThreadingHTTPServer):
    """Records the GETs Kannel makes to /mo (sms-service) and /dlr (dlr-url)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.lock = threading.Lock()
        self.mo: list[dict[str, Any]] = []
        self.dlr: list[dict[str, Any]] = []


class _SinkHandler(http.server.BaseHTTPRequestHandler):
    server: _Sink
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        url = urllib.parse.urlsplit(self.path)
        # latin-1 keeps %XX octets as they are: Kannel url-encodes raw bytes (UTF-16BE for coding 2)
        raw = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True, encoding="latin-1"))
        if url.path == "/mo":
            with self.server.lock:
                self.server.mo.append(_mo_record(raw))
        elif url.path == "/dlr":
            with self.server.lock:
                self.server.dlr.append(_dlr_record(raw))
        body = b""  # an empty reply: with max-messages = 0 Kannel sends nothing back anyway
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


def _text(raw: bytes, coding: str, charset: str) -> str:
    cs = charset.upper()
    if coding == "2" or cs in ("UTF-16BE", "UCS-2", "UCS-2BE"):
        return raw.decode("utf-16-be", "replace")
    if cs in ("WINDOWS-1252", "ISO-8859-1", "LATIN1"):
        return raw.decode("cp1252", "replace")
    return raw.decode("utf-8", "replace")


def _mo_record(q: dict[str, str]) -> dict[str, Any]:
    raw = q.get("bin", "").encode("latin-1")
    return {
        "from": q.get("from", ""),
        "to": q.get("to", ""),
        "text": _text(raw, q.get("coding", "0"), q.get("charset", "")),
        "raw": raw,
        "coding": int(q.get("coding") or 0),
        "charset": q.get("charset", ""),
        "udh": q.get("udh", "").encode("latin-1"),
        "smsc": q.get("smsc", ""),
        "dcs": q.get("dcs", ""),
        "meta": q.get("meta", ""),
        "time": float(q.get("ts") or 0),
        "received_at": time.time(),
    }


def _dlr_record(q: dict[str, str]) -> dict[str, Any]:
    return {
        "tag": q.get("tag", ""),
        "type": int(q.get("type") or 0),
        "answer": q.get("answer", "").encode("latin-1").decode("utf-8", "replace"),
        "foreign_id": q.get("foreign", ""),
        "from": q.get("from", ""),
        "to": q.get("to", ""),
        "smsc": q.get("smsc", ""),
        "meta": q.get("meta", ""),
        "received_at": time.time(),
    }


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class KannelEsme:
    """bearerbox + smsbox bound as one SMPP transceiver to host:port.

    transceiver=False makes Kannel bind twice instead, a transmitter and a receiver on the same port.
    msg_id_type: Kannel's ``msg-id-type`` (None leaves it out: ids compared as C strings).  0x00 suits
    smsc_app's default decimal ids; use 0x03 with its ``--id-style hex`` (Kannel then takes the hex
    receipted_message_id TLV), or 0x01 with ``--id-style hex --no-receipt-tlvs`` (hex submit_sm_resp,
    decimal receipt text).
    """

    def __init__(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str,
        *,
        workdir: str | os.PathLike[str],
        system_type: str = "telephonist",
        enquire_link_interval: int = 5,
        msg_id_type: int | None = 0x00,
        reconnect_delay: int = 1,
        wait_ack: int = 10,
        max_pending_submits: int = 10,
        resend_freq: int = 1,
        mo_recode: bool = False,
        log_level: int = 0,
        transceiver: bool = True,
    ) -> None:
        self.host, self.port, self.system_id, self.password = host, port, system_id, password
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "kannel.conf"
        self.smsc_id = "sim"
        self.system_type = system_type
        self.enquire_link_interval = enquire_link_interval
        self.msg_id_type = msg_id_type
        self.reconnect_delay = reconnect_delay
        self.wait_ack = wait_ack
        self.max_pending_submits = max_pending_submits
        self.resend_freq = resend_freq
        self.mo_recode = mo_recode
        self.log_level = log_level
        self.transceiver = transceiver
        self.admin_password = "admin-" + uuid.uuid4().hex[:8]
        self.username, self.user_password = "tester", "pw-" + uuid.uuid4().hex[:8]
        self.admin_port = self.smsbox_port = self.sendsms_port = 0
        self.sink: _Sink | None = None
        self.sink_thread: threading.Thread | None = None
        self.bearerbox: subprocess.Popen[bytes] | None = None
        self.smsbox: subprocess.Popen[bytes] | None = None

    # -- configuration ----------------------------------------------------------------------------------

    def config(self) -> str:
        assert self.sink is not None
        sink = f"http://127.0.0.1:{self.sink.server_address[1]}"
        get_url = f"{sink}/mo?from=%p&to=%P&bin=%b&coding=%c&charset=%C&udh=%u&smsc=%i&dcs=%O&meta=%D&ts=%T"
        d = self.dir
        common = [
            "smsc = smpp",
            f"smsc-id = {self.smsc_id}",
            f"host = {self.host}",
            f"smsc-username = {_quote(self.system_id)}",
            f"smsc-password = {_quote(self.password)}",
            f"system-type = {_quote(self.system_type)}",
            'address-range = ""',
            "interface-version = 34",
            f"enquire-link-interval = {self.enquire_link_interval}",
            f"reconnect-delay = {self.reconnect_delay}",
            f"max-pending-submits = {self.max_pending_submits}",
            f"wait-ack = {self.wait_ack}",
            "wait-ack-expire = 0x01",  # requeue a submit_sm whose resp never came (may duplicate)
            "source-addr-ton = 1",
            "source-addr-npi = 1",
            "dest-addr-ton = 1",
            "dest-addr-npi = 1",
            "log-format = 2",
        ]
        if self.msg_id_type is not None:
            common.append(f"msg-id-type = {self.msg_id_type:#04x}")
        if self.transceiver:
            smsc = ["group = smsc", f"port = {self.port}", "transceiver-mode = true", *common]
        else:  # Kannel 1.4.5 wants one group per direction
            smsc = ["group = smsc", f"port = {self.port}", *common, ""]
            smsc += ["group = smsc", f"receive-port = {self.port}", *common]
        lines = [
            "group = core",
            f"admin-port = {self.admin_port}",
            "admin-interface = 127.0.0.1",
            f"admin-password = {_quote(self.admin_password)}",
            f"status-password = {_quote(self.admin_password)}",
            'admin-deny-ip = "*.*.*.*"',
            'admin-allow-ip = "127.0.0.1"',
            f"smsbox-port = {self.smsbox_port}",
            "smsbox-interface = 127.0.0.1",
            'box-deny-ip = "*.*.*.*"',
            'box-allow-ip = "127.0.0.1"',
            f"log-file = {_quote(str(d / 'bearerbox.log'))}",
            f"log-level = {self.log_level}",
            f"access-log = {_quote(str(d / 'access.log'))}",
            "dlr-storage = internal",
            f"sms-resend-freq = {self.resend_freq}",
            "sms-combine-concatenated-mo = true",
            "sms-combine-concatenated-mo-timeout = 60",
            "",
            *smsc,
            "",
            "group = smsbox",
            "bearerbox-host = 127.0.0.1",
            f"bearerbox-port = {self.smsbox_port}",
            f"sendsms-port = {self.sendsms_port}",
            "sendsms-interface = 127.0.0.1",
            f"log-file = {_quote(str(d / 'smsbox.log'))}",
            f"log-level = {self.log_level}",
            f"access-log = {_quote(str(d / 'smsbox-access.log'))}",
            f"mo-recode = {'true' if self.mo_recode else 'false'}",
            "",
            "group = sendsms-user",
            f"username = {_quote(self.username)}",
            f"password = {_quote(self.user_password)}",
            'user-deny-ip = "*.*.*.*"',
            'user-allow-ip = "127.0.0.1"',
            "max-messages = 10",
            "concatenation = true",
            "",
            "group = sms-service",
            "keyword = default",
            "catch-all = true",
            f"get-url = {_quote(get_url)}",
            "max-messages = 0",
            "omit-empty = true",
            "",
        ]
        return "\n".join(lines)

    # -- life cycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> KannelEsme:
        """Start the sink, bearerbox and smsbox, and wait until the SMPP bind is online."""
        if not kannel_available():
            raise RuntimeError("Kannel's bearerbox/smsbox are not installed (Debian package kannel)")
        self.sink = _Sink()
        self.sink_thread = threading.Thread(target=self.sink.serve_forever, name="kannel-sink", daemon=True)
        self.sink_thread.start()
        self.admin_port, self.smsbox_port, self.sendsms_port = free_port(), free_port(), free_port()
        self.conf.write_text(self.config(), encoding="utf-8")
        bb = shutil.which(BEARERBOX, path=_path())
        sb = shutil.which(SMSBOX, path=_path())
        assert bb and sb
        self.bearerbox = self._spawn([bb, "-v", "4", str(self.conf)], "bearerbox.out")
        poll(self._admin_up, timeout, "bearerbox's admin port")
        self.smsbox = self._spawn([sb, "-v", "4", str(self.conf)], "smsbox.out")
        poll(self._sendsms_up, timeout, "smsbox's sendsms port")
        self.wait_bound(timeout)
        return self

    def _spawn(self, argv: list[str], out_name: str) -> subprocess.Popen[bytes]:
        with (self.dir / out_name).open("ab") as out:
            return subprocess.Popen(
                argv, cwd=self.dir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def _check_alive(self) -> None:
        for name, p in (("bearerbox", self.bearerbox), ("smsbox", self.smsbox)):
            if p is not None and p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}: {self.last_error(name)}")

    def last_error(self, box: str = "bearerbox") -> str:
        """The last ERROR or PANIC line of a box's log (Kannel 1.4.5 PANICs when a bind is refused)."""
        path = self.dir / f"{box}.log"
        lines = path.read_text("utf-8", "replace").splitlines() if path.exists() else []
        errors = [ln for ln in lines if " ERROR: " in ln][-1:]
        errors += [ln for ln in lines if " PANIC: " in ln and "PANIC: /" not in ln][:1]
        return " / ".join(errors) or f"no error logged in {path}"

    def _admin_up(self) -> bool:
        self._check_alive()
        try:
            self.status_xml()
        except OSError:
            return False
        return True

    def _sendsms_up(self) -> bool:
        self._check_alive()
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.sendsms_port)) == 0

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM smsbox then bearerbox (SIGKILL after `timeout`), then the sink."""
        for p in (self.smsbox, self.bearerbox):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.smsbox = self.bearerbox = None
        if self.sink is not None:
            self.sink.shutdown()
            self.sink.server_close()
            self.sink = None
        if self.sink_thread is not None:
            self.sink_thread.join(5)
            self.sink_thread = None

    def __enter__(self) -> KannelEsme:
        return self.start() if self.bearerbox is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- status -----------------------------------------------------------------------------------------

    def status_xml(self) -> ET.Element:
        url = f"http://127.0.0.1:{self.admin_port}/status.xml?password={urllib.parse.quote(self.admin_password)}"
        with urllib.request.urlopen(url, timeout=3) as r:
            return ET.fromstring(r.read())

    def smsc_status(self) -> list[str]:
        """Each SMPP link's status word in bearerbox's status.xml: online, connecting, re-connecting, dead.

        One link as a transceiver, two (transmitter, receiver) otherwise.
        """
        return [
            (smsc.findtext("status") or "").split(" ")[0]
            for smsc in self.status_xml().iter("smsc")
            if smsc.findtext("id") == self.smsc_id
        ]

    def is_bound(self) -> bool:
        """Every link to the SMSC is bound."""
        try:
            links = self.smsc_status()
        except OSError:
            return False
        return len(links) == (1 if self.transceiver else 2) and all(s == "online" for s in links)

    def wait_bound(self, timeout: float = 30.0) -> None:
        def bound() -> bool:
            self._check_alive()
            return self.is_bound()

        poll(bound, timeout, f"Kannel's SMPP bind to {self.host}:{self.port}", interval=0.1)

    def wait_unbound(self, timeout: float = 30.0) -> None:
        """Wait until no link to the SMSC is bound."""

        def down() -> bool:
            try:
                return "online" not in self.smsc_status()
            except OSError:
                return False

        poll(down, timeout, "Kannel's SMPP links to drop", interval=0.1)

    # -- traffic ----------------------------------------------------------------------------------------

    def send(
        self,
        from_: str,
        to: str,
        text: str,
        coding: int = 0,
        dlr: bool = True,
        *,
        dlr_mask: int = 31,
        udh: bytes | None = None,
    ) -> str:
        """Submit an MT through smsbox's sendsms; returns the tag its receipts() will carry.

        text is sent as UTF-8 with charset=UTF-8; coding=0 lets Kannel convert it to the GSM default
        alphabet (data_coding 0), coding=2 to UCS-2/UTF-16BE (data_coding 8).  Long texts are split into
        concatenated parts (up to 10) by Kannel itself.  dlr asks for every DLR event (dlr_mask 31).
        """
        assert self.sink is not None
        tag = uuid.uuid4().hex[:12]
        params = {
            "username": self.username,
            "password": self.user_password,
            "from": from_,
            "to": to,
            "text": text,
            "charset": "UTF-8",
            "coding": str(coding),
        }
        if udh is not None:
            params["udh"] = udh.decode("latin-1")
        if dlr:
            sink = f"http://127.0.0.1:{self.sink.server_address[1]}"
            params["dlr-mask"] = str(dlr_mask)
            params["dlr-url"] = (
                f"{sink}/dlr?tag={tag}&type=%d&answer=%A&foreign=%F&from=%p&to=%P&smsc=%i&meta=%D"
            )
        query = urllib.parse.urlencode(params, encoding="utf-8" if udh is None else "latin-1")
        url = f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms?{query}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                answer = r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            answer = e.read().decode("utf-8", "replace")
            e.close()
            raise RuntimeError(f"sendsms refused: {e.code} {answer}") from None
        if not answer.startswith(("0:", "3:")):  # 0: Accepted for delivery, 3: Queued for later delivery
            raise RuntimeError(f"sendsms refused: {answer}")
        return tag

    def received(self) -> list[dict[str, Any]]:
        """MOs that reached the get-url: {from, to, text, raw, coding, charset, udh, smsc, dcs, meta, ...}."""
        assert self.sink is not None
        with self.sink.lock:
            return list(self.sink.mo)

    def receipts(self) -> list[dict[str, Any]]:
        """DLR callbacks: {tag, type (1, 2, 4, 8, 16; 34 = EXPIRED), answer (receipt text), foreign_id...}."""
        assert self.sink is not None
        with self.sink.lock:
            return list(self.sink.dlr)

    def wait_received(self, n: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        return poll(lambda: (r := self.received()) and len(r) >= n and r, timeout, f"{n} MO(s) at get-url")

    def wait_receipts(
        self, until: int | Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Wait for `until` DLR callbacks, or until the predicate holds on the list of them."""

        def ready() -> list[dict[str, Any]] | None:
            rs = self.receipts()
            ok = len(rs) >= until if isinstance(until, int) else until(rs)
            return rs if ok else None

        return poll(ready, timeout, "DLR callbacks")
