"""The one HTTP client that reaches applications (aiohttp: its pool stays cheap under thousands of
callbacks a second, where httpx's per-request pool scans dominated the messaging benchmark).

Every request is form-encoded and signed with the owning account's auth token; responses are capped at
64 kB (11750) and failures carry Twilio's codes (11200 HTTP error, 11205 connection failure, 11215 redirects).
At most PER_HOST requests are under way to one host, so one slow application cannot take every connection.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from yarl import URL

from telephonist import twimlets
from telephonist.webhooks.signature import signature

log = logging.getLogger("telephonist.webhooks")
MAX_RESPONSE_BYTES = 64 * 1024
PER_HOST = 16
USER_AGENT = "TwilioProxy/1.1"
GET_SAFE = ":/,'@!$*();"
TOO_LARGE = "TwiML response body too large"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str
    body: str


class FetchError(Exception):
    def __init__(self, code: int, message: str, url: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.url = url
        self.status = status
        self.body = body


def strip_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(fragment=""))


class Webhooks:
    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=5.0)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """Made on first use, inside the running loop, as aiohttp wants."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, limit_per_host=PER_HOST),
                timeout=self.timeout,
                headers={"User-Agent": USER_AGENT},
                auto_decompress=True,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, url: str, method: str, params: list[tuple[str, str]], auth_token: str) -> Fetched:
        """Send one signed webhook request and return the response, or raise FetchError."""
        url = document_url = strip_fragment(url)
        method = method.upper()
        if method == "GET" and params:
            # Leave the characters a web framework shows unescaped in its request URL as they are, so
            # the URL the application validates is the URL that was signed.
            url = url + ("&" if urlsplit(url).query else "?") + urlencode(params, safe=GET_SAFE)
            body_params: list[tuple[str, str]] = []
        else:
            body_params = params
        try:
            local = twimlets.serve(url, body_params)
        except LookupError:
            raise FetchError(11200, "HTTP retrieval failure: status 404", url, 404) from None
        if local is not None:
            return Fetched(url, 200, "text/xml", local)
        headers = {
            "X-Twilio-Signature": signature(auth_token, url, body_params),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        if body_params:
            headers["Content-Type"] = FORM
        with _failures(url):
            async with self.session.request(
                method,
                URL(url, encoded=True),  # sent as signed, not re-quoted
                headers=headers,
                data=urlencode(body_params) if body_params else None,
                max_redirects=10,
            ) as resp:
                body = await _read(resp, MAX_RESPONSE_BYTES, FetchError(11750, TOO_LARGE, url, resp.status))
                text = body.decode(resp.charset or "utf-8", "replace")
                if not 200 <= resp.status < 300:
                    raise FetchError(
                        11200, f"HTTP retrieval failure: status {resp.status}", url, resp.status, text
                    )
                # Relative URLs in the document resolve against where it came from, less our parameters.
                final = document_url if str(resp.url) == url else str(resp.url)
                return Fetched(final, resp.status, resp.content_type.lower(), text)

    async def download(self, url: str, limit: int) -> tuple[str, bytes]:
        """GET a file as Twilio fetches media (no parameters, no signature): its content type and bytes.
        Raises FetchError: 11200 for an HTTP error, 11751 past `limit` bytes, 11205 if unreachable."""
        url = strip_fragment(url)
        with _failures(url):
            async with self.session.get(URL(url, encoded=True), max_redirects=10) as resp:
                if not 200 <= resp.status < 300:
                    raise FetchError(11200, f"HTTP retrieval failure: status {resp.status}", url, resp.status)
                too_big = FetchError(11751, "Media exceeds messaging provider size limit", url, 200)
                if resp.content_length is not None and resp.content_length > limit:
                    raise too_big
                body = await _read(resp, limit, too_big)
                ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                return ctype, body


async def _read(resp: aiohttp.ClientResponse, limit: int, too_big: FetchError) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


@contextmanager
def _failures(url: str) -> Iterator[None]:
    """aiohttp's errors as Twilio's codes."""
    try:
        yield
    except aiohttp.TooManyRedirects:
        raise FetchError(11215, "Too many redirects", url) from None
    except aiohttp.InvalidURL:
        raise FetchError(11100, "Invalid URL format", url) from None
    except TimeoutError:
        raise FetchError(11205, "HTTP connection failure: the request timed out", url) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise FetchError(11205, f"HTTP connection failure: {exc.__class__.__name__}", url) from None
