"""Live-call commands between nodes over PostgreSQL LISTEN/NOTIFY.

A call's media and TwiML program live in the process that holds it (`calls.node`). A REST request that
acts on a live call (redirect or hang up a call, start or pause its recording, mute or kick a conference
participant, a virtual phone pressing keys) may reach any API node: when the call is held by another node,
the request itself is the command. It is sent on that node's channel, run there through the same ASGI
app (so it is validated and answered exactly as anywhere else), and its response comes back on the
sender's channel. The database is the only thing nodes need to reach, and a node that is gone simply
does not answer: the sender times out and answers 503, and the node's calls are failed by the lease.

API nodes also tell engines that work is waiting (`telephonist_jobs`), so that a message created on one
process is sent within milliseconds by another instead of at the engines' next poll, and tell each other
of failed authentications (`telephonist_logins`), so that a client is locked out of all of them at once.

On SQLite there is one node: everything is local and this module does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from telephonist.api.errors import TwilioError, error_response
from telephonist.store.models import calls, conferences, queue_members

if TYPE_CHECKING:
    from telephonist.api.limits import Logins
    from telephonist.app import Platform

log = logging.getLogger("telephonist.relay")
JOBS = "telephonist_jobs"
LOGINS = "telephonist_logins"  # failed authentications, which every node counts
TIMEOUT = 10.0  # seconds a relayed request may take before the sender gives up (503)
MAX_PAYLOAD = 7900  # PostgreSQL's NOTIFY payload limit is 8000 bytes
RELAYED = "x-telephonist-relayed"  # marks a relayed request, which is never relayed again
_API = r"/2010-04-01/Accounts/AC[0-9a-f]{32}"
# Requests that act on a live call, and where the call's SID is (or its conference's).
_LIVE = [
    ("POST", re.compile(_API + r"/Calls/(?P<call>CA[0-9a-f]{32})\.json")),
    ("POST", re.compile(_API + r"/Calls/(?P<call>CA[0-9a-f]{32})/Recordings(\.json|/[A-Za-z0-9.]+\.json)")),
    ("POST", re.compile(_API + r"/Queues/QU[0-9a-f]{32}/Members/(?P<call>CA[0-9a-f]{32})\.json")),
    ("POST", re.compile(_API + r"/Queues/(?P<queue>QU[0-9a-f]{32})/Members/Front\.json")),
    ("POST", re.compile(_API + r"/Conferences/(?P<conference>CF[0-9a-f]{32})\.json")),
    ("POST", re.compile(_API + r"/Conferences/CF[0-9a-f]{32}/Participants/(?P<call>CA[0-9a-f]{32})\.json")),
    ("DELETE", re.compile(_API + r"/Conferences/CF[0-9a-f]{32}/Participants/(?P<call>CA[0-9a-f]{32})\.json")),
    ("POST", re.compile(r"/sim/v1/Calls/(?P<call>CA[0-9a-f]{32})/\w+")),
]


def channel(node: str) -> str:
    """A node's channel: ids may hold characters an SQL identifier may not."""
    return "telephonist_" + hashlib.sha1(node.encode(), usedforsecurity=False).hexdigest()[:20]


class Relay:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.active = make_url(platform.settings.db).get_backend_name() == "postgresql"
        self.channel = channel(platform.nodes.id)
        self.app: ASGIApp | None = None  # set by create_app: where relayed requests run
        self.logins: Logins | None = None  # set by create_app: the failed authentications counted here
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._serving: set[asyncio.Task[None]] = (
            set()
        )  # relayed requests running here (the loop keeps weak refs)
        self._wake_due = False

    # -- start and stop -------------------------------------------------------------------------------
    def start(self) -> None:
        if self.active:
            self._listener = asyncio.ensure_future(self._listen())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _listen(self) -> None:
        """LISTEN on this node's channel (and, on an engine, for waiting work), reconnecting after the
        database goes away."""
        import psycopg

        url = make_url(self.p.settings.db).set(drivername="postgresql").render_as_string(hide_password=False)
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self.channel}")
                    await conn.execute(f"LISTEN {LOGINS}")
                    if self.p.nodes.engine:
                        await conn.execute(f"LISTEN {JOBS}")
                        self.p.jobs.wake()  # work may have come while not listening
                    delay = 0.5
                    async for note in conn.notifies():
                        if note.channel == JOBS:
                            self.p.jobs.wake()
                        elif note.channel == LOGINS:
                            self._login_failed(orjson.loads(note.payload))
                        else:
                            self._received(orjson.loads(note.payload))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("node %s: listening failed (%s); again in %.1f s", self.p.nodes.id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(10.0, delay * 2)

    def _notify(self, to: str, payload: str) -> None:
        with self.p.db.tx() as conn:
            conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": to, "payload": payload})

    # -- waking the engines ---------------------------------------------------------------------------
    def wake_engines(self) -> None:
        """Work is waiting: one NOTIFY for all the requests of the next few milliseconds."""
        if self.active and not self._wake_due:
            self._wake_due = True
            asyncio.get_running_loop().call_later(0.002, self._send_wake)

    def _send_wake(self) -> None:
        self._wake_due = False
        try:
            self._notify(JOBS, "")
        except Exception:  # the engines' own poll finds the work a second later at most
            log.exception("waking the engines failed")

    # -- failed authentications ------------------------------------------------------------------------
    def login_failed(self, address: str, user: str) -> None:
        """Tell every node of a failed authentication here (Logins.shared)."""
        payload = orjson.dumps({"from": self.p.nodes.id, "address": address, "user": user}).decode()
        try:
            self._notify(LOGINS, payload)
        except Exception as exc:
            log.warning("the other nodes were not told of a failed authentication (%s)", exc)

    def _login_failed(self, message: dict[str, Any]) -> None:
        if self.logins is not None and message["from"] != self.p.nodes.id:
            self.logins.count(message["address"], message["user"])

    # -- relaying requests ----------------------------------------------------------------------------
    def holder(self, scope: Scope) -> str | None:
        """The node that holds the live call a request acts on, when that is another live node."""
        if (
            not self.active
            or scope["type"] != "http"
            or any(k == RELAYED.encode() for k, _ in scope["headers"])
        ):
            return None
        for method, pattern in _LIVE:
            if scope["method"] == method and (match := pattern.fullmatch(scope["path"])):
                break
        else:
            return None
        with self.p.db.tx() as conn:
            if sid := match.groupdict().get("call"):
                query = select(calls.c.node).where(calls.c.sid == sid)
            elif sid := match.groupdict().get("queue"):  # the caller at the front
                query = (
                    select(calls.c.node)
                    .join(queue_members, queue_members.c.call_sid == calls.c.sid)
                    .where(queue_members.c.queue_sid == sid)
                    .order_by(queue_members.c.seq)
                    .limit(1)
                )
            else:  # a conference runs on its home engine (a participant's call may be held by another)
                query = select(conferences.c.node).where(conferences.c.sid == match["conference"])
            node = conn.execute(query).scalar()
            if node is None or node == self.p.nodes.id or not self.p.nodes.alive(conn, node):
                return None
        return str(node)

    async def forward(self, node: str, request: Request) -> Response:
        """Run `request` on `node` and answer with its response."""
        body = await request.body()
        headers = [
            (k, v) for k, v in request.headers.items() if k in ("authorization", "content-type", "accept")
        ]
        rid = uuid.uuid4().hex
        payload = orjson.dumps(
            {
                "id": rid,
                "reply": self.channel,
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": headers,
                "body": body.decode("latin-1"),
            }
        ).decode()
        if len(payload) > MAX_PAYLOAD:
            return error_response(TwilioError(20413, "Request Entity Too Large", 413))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            self._notify(channel(node), payload)
            async with asyncio.timeout(TIMEOUT):
                answer = await future
        except TimeoutError:
            log.warning("node %s did not answer a relayed %s %s", node, request.method, request.url.path)
            return error_response(TwilioError(20503, "Service unavailable", 503))
        finally:
            self._pending.pop(rid, None)
        return Response(
            answer["body"].encode("latin-1"), answer["status"], media_type=answer.get("content_type")
        )

    # -- conferences across engines ------------------------------------------------------------------
    def send(self, node: str, message: dict[str, Any]) -> None:
        """A message for `node` (what voice/conference.py's rooms on several engines say to each other);
        dropped, with a warning, when it cannot be sent."""
        payload = orjson.dumps(message).decode()
        if len(payload) > MAX_PAYLOAD:
            log.warning("a message for node %s is too large to send (%d bytes)", node, len(payload))
            return
        try:
            self._notify(channel(node), payload)
        except Exception as exc:
            log.warning("a message for node %s was lost (%s)", node, exc)

    def _received(self, message: dict[str, Any]) -> None:
        if "room" in message:
            self.p.voice.conferences.received(message)
        elif "bridge" in message:
            self.p.voice.queues.received(message)
        elif "reply" in message:
            task = asyncio.ensure_future(self._serve(message))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)
        elif (future := self._pending.get(message["id"])) is not None and not future.done():
            future.set_result(message)

    async def _serve(self, message: dict[str, Any]) -> None:
        """Run a request relayed to this node, and send its response back."""
        assert self.app is not None
        headers = [*message["headers"], (RELAYED, "1")]
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.app), base_url=self.p.settings.base_url
            ) as client:
                response = await client.request(
                    message["method"],
                    message["path"] + ("?" + message["query"] if message["query"] else ""),
                    headers=headers,
                    content=message["body"].encode("latin-1"),
                )
            answer = {
                "id": message["id"],
                "status": response.status_code,
                "content_type": response.headers.get("content-type"),
                "body": response.content.decode("latin-1"),
            }
            payload = orjson.dumps(answer).decode()
            if len(payload) > MAX_PAYLOAD:
                body = error_response(TwilioError(20500, "The response is too large to relay", 500)).body
                payload = orjson.dumps(answer | {"status": 500, "body": bytes(body).decode()}).decode()
            self._notify(message["reply"], payload)
        except Exception:
            log.exception("serving a relayed %s %s failed", message["method"], message["path"])


class RelayLive:
    """ASGI middleware: a request on a live call held by another node runs there."""

    def __init__(self, app: ASGIApp, relay: Relay) -> None:
        self.app = app
        self.relay = relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        node = self.relay.holder(scope)
        if node is None:
            await self.app(scope, receive, send)
            return
        response = await self.relay.forward(node, Request(scope, receive))
        await response(scope, receive, send)
