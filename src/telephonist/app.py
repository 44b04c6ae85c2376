"""The platform: one object that owns the database, the engines, the carriers and the workers,
and the ASGI app that serves the REST API, /sim/v1 and the twimlets over it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from sqlalchemy import bindparam, select
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telephonist import twimlets
from telephonist.api import (
    access_tokens,
    accounts,
    applications,
    calls,
    carriers,
    conferences,
    health,
    keys,
    limits,
    media,
    messages,
    notifications,
    numbers,
    openapi,
    queues,
    recordings,
    services,
    sim,
    sip,
)
from telephonist.api.errors import TwilioError, error_response, handle_twilio_error
from telephonist.api.forms import Params
from telephonist.carriers.sim import SimNetwork
from telephonist.carriers.sip.carrier import SipCarrier
from telephonist.carriers.webrtc.carrier import WebRtcCarrier
from telephonist.carriers.webrtc.signalling import routes as webrtc_routes
from telephonist.config import Settings
from telephonist.console import Console
from telephonist.console.routes import routes as console_routes
from telephonist.messaging.engine import MessagingEngine
from telephonist.messaging.smpp import SmppGateway
from telephonist.messaging.smpp_face import SmppFace
from telephonist.nodes import Nodes
from telephonist.relay import Relay, RelayLive
from telephonist.sids import new_sid, new_token
from telephonist.store.cache import MISSING, TTLCache
from telephonist.store.db import Database, Row, Tx, Unavailable, raw
from telephonist.store.jobs import JobRunner
from telephonist.store.models import accounts as accounts_table
from telephonist.store.models import incoming_phone_numbers
from telephonist.voice.engine import VoiceEngine
from telephonist.webhooks.callbacks import KIND as WEBHOOK_JOB
from telephonist.webhooks.callbacks import CallbackSender
from telephonist.webhooks.client import Webhooks

log = logging.getLogger("telephonist")
DEFAULT_NUMBER = "+15005550006"
_OWNER = select(incoming_phone_numbers).where(incoming_phone_numbers.c.phone_number == bindparam("number"))


class Platform:
    def __init__(self, settings: Settings, webhooks: Webhooks | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.db)
        self.nodes = Nodes(self)
        self.jobs = JobRunner(self.db, self.nodes.id)
        self.webhooks = webhooks or Webhooks(
            settings.webhook_timeout, settings.webhook_allow_private, trusted=[settings.base_url]
        )
        # Read on every request, changed rarely: kept a second (see store/cache.py).
        self.credentials: TTLCache[str, Row] = TTLCache()  # Authorization header -> account
        self.owners: TTLCache[str, Row | None] = TTLCache()  # phone number -> its IncomingPhoneNumber
        self.sim = SimNetwork(self)
        self.messaging = MessagingEngine(self)
        self.smpp = SmppGateway(self)
        self.smpp_face = SmppFace(self)
        self.voice = VoiceEngine(self)
        self.sip = SipCarrier(self)
        self.webrtc = WebRtcCarrier(self)
        self.relay = Relay(self)
        if not self.nodes.engine:  # work written here is run by the engines: tell them
            self.jobs.notify = self.relay.wake_engines
        callbacks = CallbackSender(self.jobs, self.webhooks)
        self.jobs.batch_handlers["message.receipt"] = self.messaging.receipt_batch
        self.jobs.pollers.append((self.messaging.send_queued, self.messaging.next_send))
        self.jobs.handlers |= {
            "message.inbound": self.messaging.handle_inbound,
            "message.prepare": self.messaging.prepare,
            "call.start": self.voice.handle_start,
            WEBHOOK_JOB: callbacks.handle,
        }
        self.runner: asyncio.Task[None] | None = None  # the job runner, once started (engines)
        self._lease: asyncio.Task[None] | None = None
        self.account_sid = ""
        self.auth_token = ""

    def number_owner(self, conn: Tx, number: str) -> Row | None:
        """The IncomingPhoneNumber record of `number`, when an account owns it."""
        cached = self.owners.get(number)
        if cached is not MISSING:
            return cast(Row | None, cached)
        row = raw(conn).first(_OWNER, number=number)
        self.owners.put(number, row)
        return row

    def prepare(self) -> None:
        """Migrate, and on an empty database create the default account and its number."""
        self.db.migrate()
        with self.db.tx() as conn:
            first: Row | None = (
                conn.execute(select(accounts_table).order_by(accounts_table.c.seq).limit(1))
                .mappings()
                .first()
            )
            if first is None:
                first = accounts.create_account(
                    conn,
                    "Telephonist default account",
                    sid=self.settings.account_sid or new_sid("AC"),
                    auth_token=self.settings.auth_token or new_token(),
                )
                owned = conn.execute(
                    select(incoming_phone_numbers.c.sid).where(
                        incoming_phone_numbers.c.phone_number == DEFAULT_NUMBER
                    )
                ).first()
                if owned is None:
                    numbers.add_number(conn, first["sid"], DEFAULT_NUMBER)
            self.account_sid, self.auth_token = first["sid"], first["auth_token"]
        self.nodes.register()

    async def start(self) -> None:
        self._lease = asyncio.ensure_future(self.nodes.run())
        self.relay.start()
        if self.nodes.engine:
            self.runner = asyncio.ensure_future(self.jobs.run())
            self.smpp.start()
            await self.smpp_face.start()
            await self.sip.start()

    async def stop(self) -> None:
        await self.voice.shutdown()
        await self.sip.stop()
        await self.webrtc.stop()
        await self.smpp_face.stop()
        await self.smpp.stop()
        await self.relay.stop()
        for task in (self.runner, self._lease):
            if task is not None:
                task.cancel()
        await self.jobs.drain()
        self.nodes.unregister()
        await self.webhooks.close()
        self.db.close()


async def serve_twimlet(request: Request) -> Response:
    params = Params.parse(request.url.query).items()
    if request.method == "POST":
        params += Params.parse(await request.body()).items()
    try:
        body = twimlets.render(request.path_params["name"], params)
    except LookupError:
        return Response("Not Found", status_code=404)
    return Response(body, media_type="text/xml")


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(TwilioError(20004, "Method not allowed", 405))
    return error_response(TwilioError(20404, f"The requested resource {request.url.path} was not found", 404))


def unavailable() -> TwilioError:
    """The database cannot be reached: Twilio's answer to a request it cannot serve for now."""
    return TwilioError(20503, "Service unavailable", 503)


async def handle_unavailable(_request: Request, _exc: Exception) -> Response:
    return error_response(unavailable())


class HotRoutes:
    """The busiest endpoints (message create and fetch) straight to their handlers, past Starlette's
    router, exception middleware and per-route wrappers: a seventh of a message create's time. Inside
    BodyLimit and ServerErrorMiddleware like every route; a TwilioError answers as anywhere else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for method, pattern, handler in messages.hot_routes:
                if scope["method"] == method and (match := pattern.fullmatch(scope["path"])):
                    scope["path_params"] = match.groupdict()
                    try:
                        response = await handler(Request(scope, receive, send))
                    except TwilioError as err:
                        response = error_response(err)
                    except Unavailable:
                        response = error_response(unavailable())
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over the configured size before reading them (413)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await error_response(TwilioError(20413, "Request Entity Too Large", 413))(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise TwilioError(20413, "Request Entity Too Large", 413)
            return message

        await self.app(scope, limited, send)


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> Starlette:
    settings = settings or Settings()
    platform = platform or Platform(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not platform.account_sid:
            platform.prepare()
        await platform.start()
        try:
            yield
        finally:
            await platform.stop()

    # Starlette tries routes in order: the busiest resources first.
    routes = [
        *messages.routes,
        *calls.routes,
        *accounts.routes,
        *numbers.routes,
        *notifications.routes,
        *recordings.routes,
        *queues.routes,
        *applications.routes,
        *keys.routes,
        *sip.routes,
        *conferences.routes,
        *media.routes,
        *services.routes,
        *sim.routes,
        *carriers.routes,
        *access_tokens.routes,
        *webrtc_routes,
        Route("/twimlets/{name}", serve_twimlet, methods=["GET", "POST"]),
        *console_routes,
        *openapi.routes,
        *health.routes,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            TwilioError: handle_twilio_error,
            HTTPException: handle_http_error,
            Unavailable: handle_unavailable,
        },
    )
    app.state.platform = platform
    platform.relay.app = app
    app.state.console = Console(platform)
    app.add_middleware(HotRoutes)
    app.add_middleware(RelayLive, relay=platform.relay)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)  # added last: the outer of these
    app.state.limits = limits.Limits(settings, nodes=lambda: platform.nodes.api_nodes)
    if platform.relay.active:  # several nodes: each counts the failed authentications of all
        platform.relay.logins = app.state.limits.logins
        app.state.limits.logins.shared = platform.relay.login_failed
    app.add_middleware(limits.InFlight, limits=app.state.limits)  # outermost: a slot is held to the end
    return app
