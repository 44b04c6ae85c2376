"""The one way requests reach applications, over the lean client in webhooks/http.py.

Every request is form-encoded and signed with the owning account's auth token; responses are capped at
64 kB (11750) and failures carry Twilio's codes (11200 HTTP error, 11205 connection failure or timeout,
11203 past a `#tt` total time, 11215 redirects, 11243 an unknown retry policy). The URL's connection
overrides (overrides.py) set the timeouts and retries of each webhook; all its attempts together take no
longer than the total time (`#tt`, else the webhook_timeout setting, 15 s), and every attempt carries the
same X-Twilio-Signature and I-Twilio-Idempotency-Token, so an application can tell a retry from a new
request. At most PER_HOST requests are under way to one host (scheme, name and port), so one slow
application cannot take the connections of the others.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

from telephonist import twimlets
from telephonist.webhooks import overrides
from telephonist.webhooks.http import (
    ClientError,
    ConnectFailed,
    HttpClient,
    InvalidURL,
    ReadTimeout,
    Response,
    TimedOut,
    TooLarge,
    TooManyRedirects,
)
from telephonist.webhooks.signature import signature

log = logging.getLogger("telephonist.webhooks")
MAX_RESPONSE_BYTES = 64 * 1024
# A request holds its slot for its round trip and a turn or two of the event loop: 16 slots capped one
# application at ~1,000 webhooks a second on loopback (3,000 looping calls, bench/calls.py, queued for
# them) and a remote one at 16 per round trip. A host that never answers still holds no more than this.
PER_HOST = 64
USER_AGENT = "TwilioProxy/1.1"
GET_SAFE = ":/,'@!$*();"
TOO_LARGE = "TwiML response body too large"
FORM = "application/x-www-form-urlencoded"
# The failures Twilio's retry policies `ct` and `rt` name; `4xx` and `5xx` are the response's status.
_RETRY_ON: dict[type[ClientError], str] = {ConnectFailed: "ct", ReadTimeout: "rt"}


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str
    body: str


@dataclass(frozen=True)
class Exchange:
    """One webhook request and what came back (or the Twilio code it failed with): what a call's
    Events resource and the console's timeline show."""

    method: str
    url: str
    params: list[tuple[str, str]]
    request_headers: dict[str, str]
    status: int | None
    headers: dict[str, str]
    content_type: str
    body: str
    duration_ms: int
    error: int | None = None

    def as_event(self) -> dict[str, Any]:
        return {
            "event": "webhook",
            "method": self.method,
            "url": self.url,
            "parameters": self.params,
            "request_headers": self.request_headers,
            "response_code": self.status,
            "response_headers": self.headers,
            "content_type": self.content_type,
            "response_body": self.body,
            "request_duration": self.duration_ms,
            "error_code": self.error,
        }


Observer = Callable[[Exchange], None]


class Histogram:
    """Webhook latency for /metrics: Prometheus buckets (seconds), their sum and count, in this process."""

    BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)

    def __init__(self) -> None:
        self.counts = [0] * len(self.BOUNDS)
        self.total = 0.0
        self.count = 0

    def add(self, seconds: float) -> None:
        for i, bound in enumerate(self.BOUNDS):
            if seconds <= bound:
                self.counts[i] += 1
        self.total += seconds
        self.count += 1


LATENCY = Histogram()


class FetchError(Exception):
    def __init__(self, code: int, message: str, url: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.url = url
        self.status = status
        self.body = body


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote_plus leaves as it is


def form_encode(params: list[tuple[str, str]], safe: str = "") -> str:
    """urlencode(params, safe=safe), without its per-character quoting of the many names and values
    (SIDs, statuses) that need none: it cost a status callback more than its HTTP request."""
    return "&".join(_quoted(k, safe) + "=" + _quoted(v, safe) for k, v in params)


@lru_cache(maxsize=4096)  # names, numbers and statuses come back again and again
def _quoted(text: str, safe: str) -> str:
    return text if _PLAIN.fullmatch(text) else quote_plus(text, safe)


@lru_cache(maxsize=4096)  # a call's every webhook comes here, with the application's few URLs
def strip_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(fragment=""))


class Webhooks:
    def __init__(
        self, timeout: float = 15.0, allow_private: bool = True, trusted: Iterable[str] = ()
    ) -> None:
        """`timeout`: the total time of one webhook, retries included, when its URL sets no `#tt`.
        `allow_private` false refuses URLs whose host resolves to a private address (11205), but at
        the origins of the `trusted` URLs (the platform's own)."""
        self.timeout = timeout
        self.http = HttpClient(
            per_host=PER_HOST, timeout=timeout, allow_private=allow_private, trusted=trusted
        )

    async def close(self) -> None:
        await self.http.close()

    async def request(
        self,
        url: str,
        method: str,
        params: list[tuple[str, str]],
        auth_token: str,
        observe: Observer | None = None,
        token: str | None = None,
    ) -> Fetched:
        """Send one signed webhook, retried as the URL's connection overrides say, and return the
        response, or raise FetchError; `observe` is told of every attempt. `token`: the webhook's
        I-Twilio-Idempotency-Token, for a caller that may send it again (a durable job); a new one
        by default."""
        fragment = urlsplit(url).fragment if "#" in url else ""
        url = document_url = strip_fragment(url)
        try:
            limits = overrides.parse(fragment)
        except overrides.InvalidRetryPolicy as exc:
            raise FetchError(11243, str(exc), url) from None
        method = method.upper()
        if method == "GET" and params:
            # Leave the characters a web framework shows unescaped in its request URL as they are, so
            # the URL the application validates is the URL that was signed.
            url = url + ("&" if urlsplit(url).query else "?") + form_encode(params, safe=GET_SAFE)
            body_params: list[tuple[str, str]] = []
        else:
            body_params = params
        try:
            local = twimlets.serve(url, body_params)
        except LookupError:
            raise FetchError(11200, "HTTP retrieval failure: status 404", url, 404) from None
        if local is not None:
            if observe is not None:
                observe(Exchange(method, url, body_params, {}, 200, {}, "text/xml", local, 0))
            return Fetched(url, 200, "text/xml", local)
        headers = {
            "User-Agent": USER_AGENT,
            "X-Twilio-Signature": signature(auth_token, url, body_params),
            "I-Twilio-Idempotency-Token": token or str(uuid.uuid4()),
        }
        if body_params:
            headers["Content-Type"] = FORM
        body = form_encode(body_params).encode() if body_params else None
        deadline = time.monotonic() + (limits.total_timeout or self.timeout)

        def record(
            started: float, status: int | None, got: Response | None, text: str, error: int | None
        ) -> None:
            LATENCY.add(time.monotonic() - started)
            if observe is not None:
                took = round((time.monotonic() - started) * 1000)
                headers_in, ctype = (got.headers, got.content_type) if got is not None else ({}, "")
                observe(
                    Exchange(method, url, body_params, headers, status, headers_in, ctype, text, took, error)
                )

        retries = limits.retry_count
        while True:
            started = time.monotonic()
            try:
                resp = await self.http.request(
                    method,
                    url,
                    headers,
                    body,
                    MAX_RESPONSE_BYTES,
                    timeout=deadline - started,
                    connect_timeout=limits.connect_timeout,
                    read_timeout=limits.read_timeout,
                )
            except ClientError as exc:
                err = _fetch_error(exc, url, 11750, TOO_LARGE, limits.total_timeout is not None)
                record(started, err.status, None, "", err.code)
                retry_on = _RETRY_ON.get(type(exc))
            else:
                text = _text(resp)
                if 200 <= resp.status < 300:
                    record(started, resp.status, resp, text, None)
                    # Relative URLs in the document resolve against where it came from, less our parameters.
                    final = document_url if resp.url == url else resp.url
                    return Fetched(final, resp.status, resp.content_type, text)
                record(started, resp.status, resp, text, 11200)
                err = FetchError(
                    11200, f"HTTP retrieval failure: status {resp.status}", url, resp.status, text
                )
                retry_on = f"{resp.status // 100}xx"
            if retries == 0 or retry_on not in limits.retry_policy or time.monotonic() >= deadline:
                raise err
            retries -= 1
            log.info("webhook to %s failed with %s: retrying", urlsplit(url).hostname, err.code)

    async def download(self, url: str, limit: int) -> tuple[str, bytes]:
        """GET a file as Twilio fetches media (no parameters, no signature): its content type and bytes.
        Raises FetchError: 11200 for an HTTP error, 11751 past `limit` bytes, 11205 if unreachable."""
        url = strip_fragment(url)
        with _failures(url, 11751, "Media exceeds messaging provider size limit"):
            resp = await self.http.request("GET", url, {"User-Agent": USER_AGENT}, None, limit)
        if not 200 <= resp.status < 300:
            raise FetchError(11200, f"HTTP retrieval failure: status {resp.status}", url, resp.status)
        return resp.content_type, resp.body


def _text(resp: Response) -> str:
    try:
        return resp.body.decode(resp.charset or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return resp.body.decode("utf-8", "replace")


def _fetch_error(
    exc: ClientError, url: str, too_large: int, too_large_text: str, total_set: bool = False
) -> FetchError:
    """An HTTP client's error as Twilio's code. Past the deadline it is 11205, Twilio's "we wait 15
    seconds", or 11203 when the URL set the total time (`#tt`). A refused private address is 11205 too:
    Twilio's error dictionary gives "URLs that reference private IP addresses or localhost" as a cause."""
    if isinstance(exc, TooLarge):
        return FetchError(too_large, too_large_text, url, exc.status)
    if isinstance(exc, TooManyRedirects):
        return FetchError(11215, "Too many redirects", url)
    if isinstance(exc, InvalidURL):
        return FetchError(11100, "Invalid URL format", url)
    if isinstance(exc, TimedOut) and total_set:
        return FetchError(11203, "HTTP communication total time out triggered", url)
    return FetchError(11205, f"HTTP connection failure: {exc}", url)


@contextmanager
def _failures(url: str, too_large: int, too_large_text: str) -> Iterator[None]:
    """The HTTP client's errors as Twilio's codes."""
    try:
        yield
    except ClientError as exc:
        raise _fetch_error(exc, url, too_large, too_large_text) from None
