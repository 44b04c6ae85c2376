"""The asyncio side of an SMPP session: one TCP connection, its timers, requests awaited as futures, and
the peer's requests handed to a handler whose answer is sent when it returns (after a commit, say)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from telephonist.carriers.smpp.pdu import EnquireLink, Pdu, command_name, status_name
from telephonist.carriers.smpp.session import BadPdu, ConnectionClosed, Response, Session, Timeout

log = logging.getLogger("telephonist.smpp")
Handler = Callable[[Pdu], Awaitable[Pdu | None]]


class LinkClosed(Exception):
    """The connection ended before the request was answered: whether the peer took it is unknown."""


class LinkTimeout(Exception):
    """The peer did not answer the request in time."""


class Link:
    """Drive `session` over a reader/writer pair. `handler` answers each request of the peer (returning
    its response, or None when the session already answered); `request` sends one of ours."""

    def __init__(
        self,
        session: Session,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: Handler,
        name: str,
    ) -> None:
        self.session = session
        self.reader = reader
        self.writer = writer
        self.handler = handler
        self.name = name
        self.closed = asyncio.Event()
        self._waiting: dict[int, asyncio.Future[Pdu]] = {}
        self._room: list[asyncio.Future[None]] = []  # requests waiting for room in the window
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()

    @property
    def now(self) -> float:
        return self._loop.time()

    async def run(self) -> None:
        """Read until the connection ends; fail whatever is still waiting."""
        timer = asyncio.create_task(self._timers())
        try:
            while not self.closed.is_set():
                data = await self.reader.read(65536)
                self.session.receive_data(data, now=self.now)
                self._dispatch()
                self._flush()
                if not data:
                    break
        except (ConnectionError, OSError) as exc:
            log.info("%s: connection lost: %s", self.name, exc)
        finally:
            timer.cancel()
            self._close()

    async def request(self, pdu: Pdu, windowed: bool = True) -> Pdu:
        """Send a request and return the peer's response (whatever its status). Message requests wait
        for room in the window first. Raises LinkClosed or LinkTimeout."""
        while windowed and not (self.closed.is_set() or self.session.can_send()):
            room = self._loop.create_future()
            self._room.append(room)
            await room
        if not self.up:
            raise LinkClosed(self.name)
        future: asyncio.Future[Pdu] = self._loop.create_future()
        self.writer.write(self.session.send(pdu, now=self.now))
        self._waiting[pdu.sequence_number] = future
        return await future

    @property
    def up(self) -> bool:
        """Whether a request can go out: the transport may be closed (the peer gone) before this link's
        reader has seen the end of the stream and closed the link."""
        return not (self.closed.is_set() or self.writer.is_closing())

    def _dispatch(self) -> None:
        for event in self.session.events():
            if isinstance(event, Response):
                self._answer(event.request, event.response)
            elif isinstance(event, Timeout):
                if isinstance(event.request, EnquireLink):
                    log.warning("%s: the peer does not answer enquire_link: closing", self.name)
                    self.writer.close()
                self._fail(event.request, LinkTimeout(command_name(event.request.command_id)))
            elif isinstance(event, BadPdu):
                log.warning(
                    "%s: bad PDU from the peer (%s): %s", self.name, status_name(event.status), event.message
                )
                if event.request is not None:
                    self._fail(event.request, LinkClosed(event.message))
                if event.fatal:
                    self.closed.set()
            elif isinstance(event, ConnectionClosed):
                self.closed.set()
            else:
                task = asyncio.create_task(self._serve(event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self._wake_room()

    async def _serve(self, pdu: Pdu) -> None:
        try:
            response = await self.handler(pdu)
        except Exception:
            log.exception("%s: handling %s failed", self.name, command_name(pdu.command_id))
            return  # unanswered: the peer sends it again
        if response is not None and not self.closed.is_set():
            self.writer.write(self.session.send(response, now=self.now))
        self._flush()

    def _answer(self, request: Pdu | None, response: Pdu) -> None:
        if request is None:
            log.warning("%s: a response nobody waits for: %s", self.name, command_name(response.command_id))
            return
        future = self._waiting.pop(request.sequence_number, None)
        if future is not None and not future.done():
            future.set_result(response)

    def _fail(self, request: Pdu, error: Exception) -> None:
        future = self._waiting.pop(request.sequence_number, None)
        if future is not None and not future.done():
            future.set_exception(error)

    def _wake_room(self) -> None:
        waiting, self._room = self._room, []
        for room in waiting:
            if not room.done():
                room.set_result(None)

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def _timers(self) -> None:
        while True:
            due = self.session.get_timer()
            await asyncio.sleep(1.0 if due is None else max(0.0, due - self.now))
            self.session.handle_timer(self.now)
            self._dispatch()
            self._flush()

    def _close(self) -> None:
        self.closed.set()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(LinkClosed(self.name))
        self._waiting.clear()
        self._wake_room()
        with contextlib.suppress(Exception):
            self.writer.close()
