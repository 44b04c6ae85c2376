"""Abuse and overload limits: each account's API request rate and requests in progress (429, 20429), failed
authentications by client address (refused with 429 for a cool-down), and when outbound API calls start.

Request rates, requests in progress and failed authentications are counted in the process. With several
API processes behind a load balancer each takes its share of an account's rate and requests in progress:
the limit over the API nodes alive (nodes.py counts them at each lease renewal), which is the account's
limit in all when the balancer spreads requests evenly. The calls' pacing slots are rows of the database,
so an account's CPS and a trunk's hold across all the processes."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import math
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from telephonist.api.auth import claimed_user
from telephonist.api.errors import TwilioError
from telephonist.config import Settings, SipTrunk
from telephonist.messaging.senders import push_slot, take_slot
from telephonist.store.db import Raw, Row

Clock = Callable[[], float]
HELD = "telephonist.held"  # scope key: the account whose request slot this request holds, once admitted
MAX_KEYS = 100_000  # past this many client addresses, forget the quiet ones first
CALL_QUEUE_SECONDS = 24 * 3600  # Twilio refuses calls that would not start within 24 hours (22005)


def too_many() -> TwilioError:
    return TwilioError(20429, "Too Many Requests", 429)


class Buckets:
    """Token buckets by key: each holds at most `burst` tokens and gains `rate` a second."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, when they were counted)

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._state.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def take(self, key: str) -> bool:
        """Take a token; False, taking nothing, when there is none."""
        now = self.clock()
        tokens = self._level(key, now)
        if tokens < 1:
            return False
        self._state[key] = (tokens - 1, now)
        return True

    def spend(self, key: str) -> float:
        """Take a token if there is one; the seconds until there is one again (0: there is)."""
        now = self.clock()
        tokens = max(0.0, self._level(key, now) - 1)
        self._state[key] = (tokens, now)
        if len(self._state) > MAX_KEYS:
            self._forget(now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def _forget(self, now: float) -> None:
        """Drop the buckets that have filled up again (they are as good as new); if that is not enough
        (a flood from very many addresses), the oldest half."""
        self._state = {k: v for k, v in self._state.items() if self._level(k, now) < self.burst}
        if len(self._state) > MAX_KEYS:
            self._state = dict(list(self._state.items())[len(self._state) // 2 :])


def client_address(scope: Scope) -> str:
    """Whom failed authentications count against: the peer's address as the server reports it (uvicorn
    takes X-Forwarded-For only from a proxy it trusts); an IPv6 address by its /64, which one host holds."""
    client = scope.get("client")
    host = str(client[0]) if client else ""
    if ":" in host:
        with contextlib.suppress(ValueError):
            return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
    return host


def _pair(address: str, user: str) -> str:
    return f"{address} {user[:64]}"  # a SID is 34 characters: a longer name is the client's, not a key's


class Logins:
    """Failed authentications by client address: `limit` for one user name (an Account SID or API key SID,
    whether it exists or not) and ten times as many for the address overall, then one more every
    `window / limit` seconds. Past that the address is refused without its credentials being looked at,
    so a right guess is no different from a wrong one; other addresses are not affected. With several
    API nodes, each tells the others of its failures (`shared`), so the limits hold across all of them."""

    def __init__(self, limit: int, window: float, clock: Clock = time.monotonic) -> None:
        self.limit, self.clock = limit, clock
        rate = limit / window
        self._per_user = Buckets(rate, limit, clock)
        self._per_address = Buckets(10 * rate, 10 * limit, clock)
        self._until: dict[str, float] = {}  # locked keys -> until when
        self._last = 0.0  # when the last lock ends
        self.shared: Callable[[str, str], None] | None = None  # (address, user): tells the other nodes

    def refused(self, scope: Scope, user: str) -> bool:
        if not self._until:  # the usual case, on every request: nobody is locked out
            return False
        now = self.clock()
        if now >= self._last:
            self._until.clear()
            return False
        address = client_address(scope)
        return any(self._until.get(key, 0.0) > now for key in (address, _pair(address, user)))

    def check(self, scope: Scope, header: str) -> None:
        """20429 when the client is locked out of the user its Authorization header names."""
        if self._until and self.refused(scope, claimed_user(header)):
            raise too_many()

    def failed(self, scope: Scope, user: str) -> None:
        if not self.limit:
            return
        address, user = client_address(scope), user[:64]  # the key's length (_pair), and what is shared
        self.count(address, user)
        if self.shared is not None:
            self.shared(address, user)

    def count(self, address: str, user: str) -> None:
        """A failure of `address` as `user`, here or on another node."""
        now = self.clock()
        for buckets, key in ((self._per_address, address), (self._per_user, _pair(address, user))):
            wait = buckets.spend(key)
            if wait:
                self._until[key] = now + wait
                self._last = max(self._last, now + wait)
        if len(self._until) > MAX_KEYS:
            self._until = {k: t for k, t in self._until.items() if t > now}


SignIn = Callable[[Request, str, str], Row | None]


def guarded_sign_in(authenticate: SignIn) -> SignIn:
    """The console's sign-in, counted and refused as the API's Basic authentication is; a refused sign-in
    looks like a wrong token (the form says no more)."""

    @functools.wraps(authenticate)
    def guarded(request: Request, sid: str, token: str) -> Row | None:
        logins: Logins = request.app.state.limits.logins
        if logins.refused(request.scope, sid.strip()):
            return None
        account = authenticate(request, sid, token)
        if account is None:
            logins.failed(request.scope, sid.strip())
        return account

    return guarded


class CallPacer:
    """When each outbound API call may start. Twilio queues calls beyond the account's calls per second
    (CPS) rather than refusing them, and dequeues them at that rate: an account's calls go one every 1/CPS
    seconds (simulated, as the rest of a call's time is), a trunk's one every 1/max_cps real seconds, each
    in the order they were created. A call's start job is due at its slot; until then it is `queued`.
    The slots are taken in the database (messaging/senders.py), in the transaction that creates the call:
    the API processes of a platform share them, and a refused call (22005) gives its slot back."""

    def __init__(self, cps: float, scale: float, clock: Clock = time.time) -> None:
        self.interval = scale / cps if cps > 0 else 0.0
        self.horizon = CALL_QUEUE_SECONDS * scale
        self.clock = clock  # epoch seconds: every process reads the slots against the same clock

    def reserve(self, q: Raw, account_sid: str, trunk: SipTrunk | None = None) -> float:
        """When the call may start (epoch seconds: its start job is due then, however long the rest of the
        create takes, so calls start in the order they took their slots); 22005 when it would not start
        within 24 hours (raised in the transaction, whose rollback gives the slots back)."""
        now = self.clock()
        at = now
        if self.interval:
            at = take_slot(q, f"call:{account_sid}", self.interval, now) - self.interval
        if trunk is not None and trunk.max_cps > 0:
            step = 1 / trunk.max_cps
            start = take_slot(q, f"call:{trunk.sid}", step, at) - step
            if start > at and self.interval:  # the trunk holds the call back: so is the account's next one
                push_slot(q, f"call:{account_sid}", start + self.interval)
            at = start
        if at - now > self.horizon:
            raise TwilioError(22005, "Call Queue Full")
        return at


class Limits:
    """The limits of one API process (create_app keeps it as `app.state.limits`); `nodes()` tells how many
    API processes share the account's limits."""

    def __init__(
        self, settings: Settings, clock: Clock = time.monotonic, nodes: Callable[[], int] = lambda: 1
    ) -> None:
        self.settings = settings
        rate = settings.api_requests_per_second
        self.requests = Buckets(rate, settings.api_burst, clock) if rate > 0 else None
        self.concurrency = settings.api_concurrency
        self.nodes, self._shared = nodes, 1
        self.active: dict[str, int] = {}  # account SID -> its requests in progress
        self.logins = Logins(settings.auth_failures, settings.auth_failure_window, clock)
        self.calls = CallPacer(settings.calls_per_second, settings.time_scale)

    def _share(self, n: int) -> None:
        """This process's part of each account's limits when `n` API processes share them."""
        self._shared = n
        self.concurrency = math.ceil(self.settings.api_concurrency / n)
        if self.requests is not None:
            self.requests.rate = self.settings.api_requests_per_second / n
            self.requests.burst = max(1.0, self.settings.api_burst / n)

    def admit(self, scope: Scope, account_sid: str) -> None:
        """Count an authenticated request against its account, or refuse it (429, 20429). One slot a
        request, given back by InFlight when the response is over."""
        held: list[str] | None = scope.get(HELD)
        if held is None or held:  # not under InFlight (no request to hold it for), or admitted already
            return
        if (n := self.nodes()) != self._shared:
            self._share(n)
        active = self.active.get(account_sid, 0)
        if self.concurrency and active >= self.concurrency:
            raise too_many()
        if self.requests is not None and not self.requests.take(account_sid):
            raise too_many()
        self.active[account_sid] = active + 1
        held.append(account_sid)

    def release(self, account_sid: str) -> None:
        left = self.active[account_sid] - 1
        if left:
            self.active[account_sid] = left
        else:
            del self.active[account_sid]


class InFlight:
    """ASGI middleware around every route, HotRoutes included: a request's account slot (taken by
    `Limits.admit` once it is authenticated) is given back when its response is over, sent or not."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[str] = []
        scope[HELD] = held
        try:
            await self.app(scope, receive, send)
        finally:
            if held:
                self.limits.release(held[0])
