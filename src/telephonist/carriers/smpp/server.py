"""Telephonist's SMPP server face: ESMEs bind with configured credentials and submit messages; receipts go
back to whichever of their binds can receive. Everything the messages mean is the owner's (`Face`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telephonist.carriers.smpp.link import Link, LinkClosed, LinkTimeout
from telephonist.carriers.smpp.pdu import (
    ESME_RINVPASWD,
    ESME_ROK,
    Bind,
    BindResp,
    DeliverSm,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)
from telephonist.carriers.smpp.session import Session

log = logging.getLogger("telephonist.smpp")
SYSTEM_ID = "telephonist"


@dataclass
class Esme:
    """One bound connection of an ESME."""

    system_id: str
    account_sid: str
    kind: str
    link: Link

    @property
    def receives(self) -> bool:
        return self.kind in ("receiver", "transceiver")


Authenticate = Callable[[str, str], str | None]  # (system_id, password) -> account SID
Submit = Callable[[Esme, SubmitSm], Awaitable[SubmitSmResp]]


class SmppServer:
    def __init__(self, host: str, port: int, authenticate: Authenticate, on_submit: Submit) -> None:
        self.host = host
        self.port = port
        self.authenticate = authenticate
        self.on_submit = on_submit
        self.bound: list[Esme] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("SMPP server listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for esme in list(self.bound):
            esme.link.writer.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def deliver(self, system_id: str, pdu: DeliverSm) -> bool:
        """Send a deliver_sm to a receiving bind of `system_id`; True once it answered ESME_ROK."""
        for esme in [e for e in self.bound if e.system_id == system_id and e.receives]:
            try:
                resp = await esme.link.request(pdu)
            except (LinkClosed, LinkTimeout):
                continue
            return resp.command_status == ESME_ROK
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        session = Session("smsc", now=asyncio.get_running_loop().time())
        state: dict[str, Esme] = {}

        async def handle(pdu: Pdu) -> Pdu | None:
            if isinstance(pdu, Bind):
                account_sid = self.authenticate(pdu.system_id, pdu.password)
                if account_sid is None:
                    log.warning("SMPP bind from %s as %r refused: bad credentials", peer, pdu.system_id)
                    asyncio.get_running_loop().call_later(0.1, writer.close)
                    return BindResp(
                        kind=pdu.kind,
                        system_id=SYSTEM_ID,
                        sequence_number=pdu.sequence_number,
                        command_status=ESME_RINVPASWD,
                    )
                esme = state["esme"] = Esme(pdu.system_id, account_sid, pdu.kind, link)
                self.bound.append(esme)
                log.info("SMPP %s bound as %s (%s) from %s", pdu.system_id, pdu.kind, account_sid, peer)
                return BindResp(kind=pdu.kind, system_id=SYSTEM_ID, sequence_number=pdu.sequence_number)
            if isinstance(pdu, SubmitSm):
                resp = await self.on_submit(state["esme"], pdu)
                resp.sequence_number = pdu.sequence_number
                return resp
            return None  # unbind: the session has answered it

        link = Link(session, reader, writer, handle, f"ESME {peer}")
        try:
            await link.run()
        finally:
            if "esme" in state:
                self.bound.remove(state["esme"])
                log.info("SMPP %s (%s) disconnected", state["esme"].system_id, peer)
            self._connections.discard(task)
