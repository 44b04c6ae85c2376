"""An SMSC that Telephonist binds to as an ESME: kept bound (enquire_link, reconnect with backoff), paced
to its throughput, slowed down when it throttles, and its deliver_sm (receipts, inbound) handed on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telephonist.carriers.smpp.link import Link, LinkClosed, LinkTimeout
from telephonist.carriers.smpp.pdu import (
    ESME_RMSGQFUL,
    ESME_ROK,
    ESME_RTHROTTLED,
    Bind,
    BindKind,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    status_name,
)
from telephonist.carriers.smpp.session import Session
from telephonist.config import SmscSettings

log = logging.getLogger("telephonist.smpp")
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0
THROTTLE_MIN, THROTTLE_MAX = 0.05, 5.0
# Submit answers that say "not now" rather than "never": the part is sent again after a pause.
TRANSIENT = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})
DeliverHandler = Callable[["SmppCarrier", DeliverSm], Awaitable[int]]


class SubmitRefused(Exception):
    """The SMSC refused a submit_sm for good; `status` is its command_status."""

    def __init__(self, status: int) -> None:
        super().__init__(status_name(status))
        self.status = status


class NotBound(Exception):
    """No bind to send on: send it again once bound."""


class Unanswered(NotBound):
    """The submit went out and the link went down before its answer: the SMSC may have taken it, so
    sending it again once bound may deliver it twice (SMPP cannot tell)."""


@dataclass
class Stats:
    """What `telephonist carriers` and /metrics show of a bind."""

    submitted: int = 0
    accepted: int = 0
    refused: int = 0
    throttled: int = 0
    delivered: int = 0  # deliver_sm received: receipts and inbound parts
    reconnects: int = 0
    last_error: str = ""
    bound_since: float | None = None
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=1000))  # times of accepted submits

    def rate(self, now: float, seconds: float = 10.0) -> float:
        """Accepted submit_sm a second over the last `seconds`."""
        return sum(1 for t in self.recent if t > now - seconds) / seconds


class SmppCarrier:
    def __init__(self, config: SmscSettings, on_deliver: DeliverHandler) -> None:
        self.config = config
        self.name = config.name
        self.on_deliver = on_deliver
        self.stats = Stats()
        self.bound = asyncio.Event()
        self.state = "down"
        self._links: dict[BindKind, Link] = {}
        self._next_submit = 0.0
        self._pause_until = 0.0
        self._throttle = THROTTLE_MIN
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def kinds(self) -> list[BindKind]:
        if self.config.bind == "transceiver":
            return ["transceiver"]
        return ["transmitter", "receiver"]

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(kind)) for kind in self.kinds]

    async def stop(self) -> None:
        for link in list(self._links.values()):
            if not link.closed.is_set():
                try:
                    async with asyncio.timeout(2.0):
                        await link.request(Unbind(), windowed=False)
                except (LinkClosed, LinkTimeout, TimeoutError):
                    pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def submit(self, pdu: SubmitSm) -> str:
        """Submit one part and return the SMSC's message_id. Waits out throttling and the configured
        throughput; raises SubmitRefused for a permanent refusal, NotBound when the link is down."""
        while True:
            await self._pace()
            link = self._links.get("transceiver") or self._links.get("transmitter")
            if link is None or not link.up or not self.bound.is_set():
                raise NotBound(self.name)
            self.stats.submitted += 1
            try:
                resp = await link.request(pdu)
            except (LinkClosed, LinkTimeout) as exc:
                raise Unanswered(str(exc)) from None
            status = resp.command_status
            if status == ESME_ROK and isinstance(resp, SubmitSmResp):
                self._throttle = max(THROTTLE_MIN, self._throttle / 2)
                self.stats.accepted += 1
                self.stats.recent.append(time.monotonic())
                return resp.message_id
            if status in TRANSIENT:
                # Slow the whole bind, not just this part: the SMSC is telling us our rate.
                self.stats.throttled += 1
                self._pause_until = time.monotonic() + self._throttle
                self._throttle = min(THROTTLE_MAX, self._throttle * 2)
                continue
            self.stats.refused += 1
            raise SubmitRefused(status)

    async def _pace(self) -> None:
        now = time.monotonic()
        wait = self._pause_until - now
        if self.config.throughput:
            self._next_submit = max(self._next_submit, now)
            wait = max(wait, self._next_submit - now)
            self._next_submit += 1.0 / self.config.throughput
        if wait > 0:
            await asyncio.sleep(wait)

    async def _keep(self, kind: BindKind) -> None:
        """Keep one bind up for good: connect, bind, serve, and after a failure wait longer each time."""
        backoff = BACKOFF_MIN
        while True:
            self.state = "connecting"
            try:
                if await self._connect(kind):
                    backoff = BACKOFF_MIN
            except (OSError, LinkClosed, LinkTimeout) as exc:
                self.stats.last_error = f"{kind}: {exc.__class__.__name__}: {exc}"
                log.warning("SMSC %s (%s): %s", self.name, kind, self.stats.last_error)
            self._links.pop(kind, None)
            self.bound.clear()
            self.state = "down"
            self.stats.bound_since = None
            self.stats.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(BACKOFF_MAX, backoff * 2)

    async def _connect(self, kind: BindKind) -> bool:
        """One connection's life; True if it was bound (so the next attempt need not back off long)."""
        cfg = self.config
        async with asyncio.timeout(10.0):
            reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
        session = Session(
            "esme",
            window=cfg.window,
            enquire_link_interval=cfg.enquire_link_interval,
            response_timeout=cfg.response_timeout,
            now=asyncio.get_running_loop().time(),
        )
        link = Link(session, reader, writer, self._handle, f"SMSC {self.name} ({kind})")
        reading = asyncio.create_task(link.run())
        try:
            bind = Bind(
                kind=kind, system_id=cfg.system_id, password=cfg.password, system_type=cfg.system_type
            )
            resp = await link.request(bind, windowed=False)
            if resp.command_status != ESME_ROK:
                self.stats.last_error = f"{kind} bind refused: {status_name(resp.command_status)}"
                log.error("SMSC %s: %s", self.name, self.stats.last_error)
                return False
            log.info("SMSC %s: bound as %s", self.name, kind)
            self._links[kind] = link
            if all(k in self._links for k in self.kinds):
                self.state = "bound"
                self.stats.bound_since = time.time()
                self.bound.set()
            await link.closed.wait()
            self.stats.last_error = f"{kind}: connection closed"
            log.warning("SMSC %s (%s): connection closed", self.name, kind)
            return True
        finally:
            link.closed.set()
            writer.close()
            reading.cancel()

    async def _handle(self, pdu: Pdu) -> Pdu | None:
        if isinstance(pdu, DeliverSm):
            self.stats.delivered += 1
            status = await self.on_deliver(self, pdu)
            return DeliverSmResp(sequence_number=pdu.sequence_number, command_status=status)
        return None  # unbind: the session has answered it
