"""Drive smsc_app.py (an smpp34-based SMSC) as a subprocess from tests.  No fixtures here.

Typical use::

    smsc = SmscProcess(tmp_path / "smsc", system_id="telephonist", password="secret").start()
    # ... bind an ESME to 127.0.0.1:smsc.port, submit ...
    smsc.wait_for_submits(3)
    smsc.send_mo("15551230000", "15557654321", "hello", parts=2)
    smsc.kill()
    smsc.start()  # same port, same submit log
    smsc.stop()
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from conftest import free_port  # the run's ports: each handed out once, none a connection can take

APP = Path(__file__).with_name("smsc_app.py")


def smpp34_available() -> bool:
    try:
        import smpp34  # noqa: F401
    except ImportError:
        return False
    return True


def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """predicate()'s first truthy value within `timeout` seconds, else TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class SmscProcess:
    """One SMSC: a fixed SMPP port and submit log that survive stop/kill and start again.

    state_dir holds submits.jsonl (the submit log) and smsc.out (the app's stdout+stderr, appended
    across restarts).  Receipt states by destination suffix default to smsc_app's DEFAULT_STATUSES
    (…0001 UNDELIV, …0002 REJECTD, …0003 EXPIRED, …0004 DELETED, …0005 UNKNOWN, …0009 no receipt);
    `statuses` adds or overrides, e.g. {"7777": "UNDELIV:042"}.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        system_id: str = "telephonist",
        password: str = "secret",
        port: int | None = None,
        dlr_delay: float = 0.3,
        throttle: int | None = None,
        statuses: dict[str, str] | None = None,
        rejects: dict[str, int] | None = None,
        id_style: str = "dec",
        receipt_tlvs: bool = True,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "submits.jsonl"
        self.out_path = self.dir / "smsc.out"
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.control_port = 0
        self.system_id = system_id
        self.password = password
        self.args = ["--dlr-delay", str(dlr_delay), "--id-style", id_style]
        if throttle is not None:
            self.args += ["--throttle", str(throttle)]
        for suffix, state in (statuses or {}).items():
            self.args += ["--status", f"{suffix}={state}"]
        for suffix, status in (rejects or {}).items():
            self.args += ["--reject", f"{suffix}={status:#x}"]
        if not receipt_tlvs:
            self.args.append("--no-receipt-tlvs")
        self.args += list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None

    # -- life cycle -------------------------------------------------------------------------------------

    def command(self) -> list[str]:
        return [
            sys.executable,
            str(APP),
            "--port",
            str(self.port),
            "--state",
            str(self.log_path),
            "--system-id",
            self.system_id,
            "--password",
            self.password,
            *self.args,
        ]

    def start(self, timeout: float = 15.0) -> SmscProcess:
        """Start (or start again after stop/kill) and wait for the READY line; returns self."""
        if self.running:
            raise RuntimeError("SMSC already running")
        offset = self.out_path.stat().st_size if self.out_path.exists() else 0
        with self.out_path.open("ab") as out:
            out.write(f"--- start {time.strftime('%H:%M:%S')} ---\n".encode())
            out.flush()
            deadline = time.monotonic() + timeout
            while True:  # a SIGKILLed predecessor's port is free at once; still, retry EADDRINUSE
                self.proc = subprocess.Popen(
                    self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
                ready = self._wait_ready(offset, deadline)
                if ready:
                    break
                self.proc.wait()
                self.proc = None
                with self.out_path.open("rb") as f:
                    f.seek(offset)
                    in_use = b"address already in use" in f.read().lower()
                if not in_use or time.monotonic() > deadline:
                    raise RuntimeError(f"SMSC did not start; see {self.out_path}:\n{self.output()[-3000:]}")
                offset = self.out_path.stat().st_size
                time.sleep(0.2)
        fields = dict(kv.split("=", 1) for kv in ready.split()[2:])
        self.control_port = int(fields["control"])
        return self

    def _wait_ready(self, offset: int, deadline: float) -> str | None:
        assert self.proc is not None
        while time.monotonic() < deadline:
            with self.out_path.open("rb") as f:
                f.seek(offset)
                for line in f.read().decode("utf-8", "replace").splitlines():
                    if line.startswith("SMSC READY"):
                        return line
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        self.proc.kill()
        return None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout`); returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc, self.proc = self.proc.returncode, None
        return rc

    def kill(self) -> None:
        """SIGKILL, as a crash: no unbind, no goodbye; pending receipts are lost, the log is not."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def restart(self, timeout: float = 15.0) -> SmscProcess:
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> SmscProcess:
        return self if self.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def output(self) -> str:
        return self.out_path.read_text("utf-8", "replace") if self.out_path.exists() else ""

    # -- the submit log ---------------------------------------------------------------------------------

    def submits(self) -> list[dict[str, Any]]:
        """Every accepted submit_sm so far, across restarts, in arrival order (see smsc_app's record)."""
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_text("utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:  # a line cut by SIGKILL
                continue
        return out

    def wait_for_submits(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return poll(lambda: (s := self.submits()) and len(s) >= n and s, timeout, f"{n} submit_sm")

    # -- control port ------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.running:
            raise RuntimeError("SMSC not running")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.control_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")
            e.close()
            raise RuntimeError(f"SMSC control {path}: {e.code} {detail}") from None

    def status(self) -> dict[str, Any]:
        """{pid, port, sessions: [{session_id, system_id, can_receive}], submits, throttled, ...}"""
        return self._call("GET", "/status")

    def sessions(self) -> list[dict[str, Any]]:
        return list(self.status()["sessions"]) if self.running else []

    def wait_bound(self, timeout: float = 15.0, *, receiving: bool = True) -> list[dict[str, Any]]:
        """Wait until an ESME is bound (one that can receive deliver_sm, unless receiving=False)."""

        def bound() -> list[dict[str, Any]]:
            return [s for s in self.sessions() if s["can_receive"] or not receiving]

        return poll(bound, timeout, "an ESME bind")

    def send_mo(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        coding: str | None = None,
        parts: int | None = None,
        concat: bool = True,
        ref: int | None = None,
        ref16: bool = False,
        system_id: str | None = None,
    ) -> dict[str, Any]:
        """Send an MO as deliver_sm(s) to a bound receiver; returns {parts, statuses, pdus, session_id}.

        coding: "gsm7" (data_coding 0), "ucs2" (data_coding 8) or None (GSM-7 if it fits).  Texts longer
        than one SMS are split with an 8-bit concatenation UDH (16-bit with ref16); `parts=N` forces N
        UDH parts even for a short text.  statuses are the deliver_sm_resp command_status values.
        """
        body: dict[str, Any] = {"source": source, "destination": destination, "text": text, "concat": concat}
        for key, value in (("coding", coding), ("parts", parts), ("ref", ref), ("system_id", system_id)):
            if value is not None:
                body[key] = value
        if ref16:
            body["ref16"] = True
        return self._call("POST", "/mo", body)

    def deliver_raw(
        self,
        source: str,
        destination: str,
        short_message: bytes = b"",
        *,
        esm_class: int = 0,
        data_coding: int = 0,
        tlvs: dict[int, bytes] | None = None,
    ) -> dict[str, Any]:
        """One deliver_sm exactly as given (e.g. an MO in message_payload: tlvs={0x0424: b"..."})."""
        body = {
            "source": source,
            "destination": destination,
            "short_message": short_message.hex(),
            "esm_class": esm_class,
            "data_coding": data_coding,
            "tlvs": {f"{k:#06x}": v.hex() for k, v in (tlvs or {}).items()},
        }
        return self._call("POST", "/deliver", body)

    def unbind_all(self) -> None:
        """Send unbind to every bound ESME (they should bind again)."""
        self._call("POST", "/unbind", {})


# --- reading the log ----------------------------------------------------------------------------------


def message_texts(records: Iterable[dict[str, Any]]) -> list[str]:
    """The texts of the messages in submit records, concatenated parts joined in seq order.

    Parts are grouped by (source, destination, concat ref, total) from the UDH or SAR TLVs, in arrival
    order as a handset joins them: a group is done once all its parts came, and a later part with the
    same reference starts a new one.  A message whose parts are not all there is left out.
    Single-part messages keep their place.
    """
    out: list[tuple[float, str]] = []
    groups: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = {}
    for r in records:
        c = (r.get("udh") or {}).get("concat") or r.get("sar")
        if not c:
            out.append((r["ts"], r.get("text") or ""))
            continue
        key = (r["source"], r["destination"], c["ref"], c["total"])
        parts = groups.setdefault(key, {})
        parts[c["seq"]] = r
        if len(parts) == c["total"]:
            del groups[key]
            first = min(p["ts"] for p in parts.values())
            out.append((first, "".join(parts[i].get("text") or "" for i in sorted(parts))))
    return [text for _, text in sorted(out, key=lambda x: x[0])]
