"""Twilio's connection overrides (`#ct`, `#rt`, `#tt`, `#rc`, `#rp`) and the retries, idempotency tokens,
time limit and per-host limit of webhooks, against real applications on loopback. Every timeout here is
set in milliseconds by the URL's fragment, so nothing waits for the 15 s default."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from conftest import free_port
from telephonist.config import Settings
from telephonist.webhooks import overrides
from telephonist.webhooks.client import PER_HOST, Exchange, FetchError, Webhooks
from telephonist.webhooks.overrides import POLICIES, InvalidRetryPolicy, Overrides
from telephonist.webhooks.signature import signature
from webhooks.support import SIGNATURE, TOKEN, Step, scripted_app

AUTH = "0123456789abcdef0123456789abcdef"
PARAMS = [("CallSid", "CA" + "0" * 32), ("From", "+15551230000"), ("Body", "é & ü")]
SLEEPS = Step(sleep=20.0)  # an application that takes 20 s to answer
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


class Seen:
    """The exchanges `observe` is told of: one per attempt."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def __call__(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    @property
    def errors(self) -> list[int | None]:
        return [e.error for e in self.exchanges]

    @property
    def tokens(self) -> set[str]:
        return {e.request_headers[TOKEN] for e in self.exchanges}


async def failure(hooks: Webhooks, url: str, observe: Any = None) -> FetchError:
    with pytest.raises(FetchError) as err:
        await hooks.request(url, "POST", PARAMS, AUTH, observe)
    return err.value


# -- parsing, as Twilio's "Webhooks connection overrides" page documents them --------------------------


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("", Overrides(5.0, 15.0, None, 1, frozenset({"ct"}))),  # the documented defaults
        ("top", overrides.DEFAULT),  # an anchor of the application's own
        ("ct=1000&rt=2500&tt=9000&rc=3&rp=4xx,5xx", Overrides(1.0, 2.5, 9.0, 3, frozenset({"4xx", "5xx"}))),
        ("ct=50&rt=99999&tt=1&rc=9", Overrides(0.1, 15.0, 0.1, 5, frozenset({"ct"}))),  # clamped
        ("ct=-1&rc=-2", Overrides(0.1, 15.0, None, 0, frozenset({"ct"}))),  # clamped
        ("ct=fast&rt=&rc=1.5&tt=2s", overrides.DEFAULT),  # not whole numbers: ignored
        ("rp=all", Overrides(retry_policy=POLICIES)),
        ("rp=ct,all", Overrides(retry_policy=POLICIES)),
        ("rp=RT", Overrides(retry_policy=frozenset({"rt"}))),
        ("e=dublin&sni=n&page=2", overrides.DEFAULT),  # edge and SNI have no effect; others are the app's
    ],
)
def test_overrides_are_parsed_as_twilio_documents_them(fragment: str, expected: Overrides) -> None:
    assert overrides.parse(fragment) == expected


@pytest.mark.parametrize("fragment", ["rp=sometimes", "rp=", "rp=ct,6xx"])
def test_an_unknown_retry_policy_is_invalid(fragment: str) -> None:
    with pytest.raises(InvalidRetryPolicy):
        overrides.parse(fragment)


def test_the_default_total_time_is_15_seconds() -> None:
    assert Settings().webhook_timeout == 15.0
    assert Webhooks().timeout == 15.0


# -- against a real application ---------------------------------------------------------------------


def test_an_unknown_retry_policy_fails_the_webhook_with_11243_and_sends_nothing() -> None:
    async def test() -> None:
        with scripted_app() as app:
            hooks = Webhooks()
            err = await failure(hooks, app.script("/voice", Step()) + "#rc=2&rp=sometimes")
            assert (err.code, err.url) == (11243, app.base_url + "/voice")
            assert app.hits == []
            await hooks.close()

    run(test)


def test_the_fragment_is_neither_sent_nor_signed() -> None:
    async def test() -> None:
        with scripted_app() as app:
            hooks = Webhooks()
            url = app.script("/voice", Step())
            fetched = await hooks.request(url + "?a=1#ct=1000&rc=2", "POST", PARAMS, AUTH)
            assert fetched.url == url + "?a=1"  # relative URLs in the document resolve against this
            [hit] = app.hits
            assert hit.url == url + "?a=1"
            assert hit.headers[SIGNATURE] == signature(AUTH, url + "?a=1", PARAMS)
            assert RequestValidator(AUTH).validate(hit.url, MultiDict(hit.form), hit.headers[SIGNATURE])
            await hooks.close()

    run(test)


@pytest.mark.parametrize(("fragment", "attempts"), [("", 2), ("#rc=0", 1), ("#rc=3", 4), ("#rc=2&rp=5xx", 1)])
def test_a_refused_connection_is_retried_once_by_default(fragment: str, attempts: int) -> None:
    async def test() -> None:
        hooks, seen = Webhooks(), Seen()
        err = await failure(hooks, f"http://127.0.0.1:{free_port()}/voice{fragment}", seen)
        assert err.code == 11205
        assert seen.errors == [11205] * attempts  # every attempt is recorded
        assert len(seen.tokens) == 1
        await hooks.close()

    run(test)


@pytest.mark.parametrize("status", [500, 503, 404])
def test_a_failing_application_is_not_retried_by_default(status: int) -> None:
    async def test() -> None:
        with scripted_app() as app:
            hooks, seen = Webhooks(), Seen()
            err = await failure(hooks, app.script("/voice", Step(status, "boom")), seen)
            assert (err.code, err.status, err.body) == (11200, status, "boom")
            assert len(app.hits) == 1 and seen.errors == [11200]
            await hooks.close()

    run(test)


@pytest.mark.parametrize(
    ("policy", "statuses"),
    [("5xx", (503, 500)), ("4xx", (404, 429)), ("all", (500, 404)), ("4xx,5xx", (400, 502))],
)
def test_retries_by_policy_carry_the_same_token_and_signature(policy: str, statuses: tuple[int, int]) -> None:
    async def test() -> None:
        with scripted_app() as app:
            hooks, seen = Webhooks(), Seen()
            url = app.script("/status", Step(statuses[0]), Step(statuses[1]), Step(200, "<Response/>"))
            fetched = await hooks.request(url + f"#rc=2&rp={policy}", "POST", PARAMS, AUTH, seen)
            assert fetched.status == 200
            assert [h.headers[TOKEN] for h in app.hits] == [app.hits[0].headers[TOKEN]] * 3
            assert [h.headers[SIGNATURE] for h in app.hits] == [signature(AUTH, url, PARAMS)] * 3
            assert [h.form for h in app.hits] == [app.hits[0].form] * 3
            assert seen.errors == [11200, 11200, None]
            await hooks.close()

    run(test)


def test_retries_stop_at_the_retry_count_and_outside_the_policy() -> None:
    async def test() -> None:
        with scripted_app() as app:
            hooks = Webhooks()
            assert (await failure(hooks, app.script("/a", Step(503)) + "#rc=2&rp=5xx")).status == 503
            assert len(app.hits_for("/a")) == 3
            assert (await failure(hooks, app.script("/b", Step(500)) + "#rc=3&rp=4xx")).status == 500
            assert len(app.hits_for("/b")) == 1
            await hooks.close()

    run(test)


def test_each_webhook_has_a_token_of_its_own_unless_given_one() -> None:
    async def test() -> None:
        with scripted_app() as app:
            hooks = Webhooks()
            url = app.script("/status", Step())
            for _ in range(3):
                await hooks.request(url, "POST", PARAMS, AUTH)
            await hooks.request(url, "POST", PARAMS, AUTH, token="a-token-of-the-callers")
            tokens = app.tokens("/status")
            assert len(set(tokens[:3])) == 3 and all(tokens)
            assert tokens[3] == "a-token-of-the-callers"
            await hooks.close()

    run(test)


def test_a_slow_application_times_out_after_rt_and_is_retried_only_under_rp_rt() -> None:
    async def test() -> None:
        with scripted_app() as app:
            hooks, seen = Webhooks(), Seen()
            began = time.monotonic()
            err = await failure(hooks, app.script("/slow", SLEEPS) + "#rt=300", seen)
            assert err.code == 11205 and seen.errors == [11205]
            assert 0.3 <= time.monotonic() - began < 2.0
            url = app.script("/slow-once", SLEEPS, Step(body="<Response><Say>late</Say></Response>"))
            fetched = await hooks.request(url + "#rt=300&rp=rt", "POST", PARAMS, AUTH, seen)
            assert "late" in fetched.body
            assert len(set(app.tokens("/slow-once"))) == 1 and len(app.hits_for("/slow-once")) == 2
            await hooks.close()

    run(test)


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A response that comes in five pieces 0.2 s apart: 0.8 s in all, never silent for 0.4 s."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in (b"<Response>", b"<Say>", b"slow", b"</Say>", b"</Response>"):
        await asyncio.sleep(0.2)
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    writer.write(b"0\r\n\r\n")


async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Headers, then silence until the client gives up."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<Response>")
    await reader.read()


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A server on loopback that answers with `handler`; its URL. On exit, waits for the handler."""
    ended = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            await writer.wait_closed()
            ended.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/voice"
        await ended.wait()
    finally:
        server.close()
        await server.wait_closed()


def test_rt_is_the_longest_silence_not_the_whole_response() -> None:
    async def test() -> None:
        hooks = Webhooks()
        async with raw_server(trickle) as url:
            fetched = await hooks.request(url + "#rt=400", "POST", PARAMS, AUTH)
            assert fetched.body == "<Response><Say>slow</Say></Response>"
            await hooks.close()  # the kept connection too, so that the handler sees the end
        async with raw_server(stall) as url:
            began = time.monotonic()
            assert (await failure(hooks, url + "#rt=400")).code == 11205
            assert 0.4 <= time.monotonic() - began < 2.0
        await hooks.close()

    run(test)


def test_the_total_time_bounds_every_attempt_together() -> None:
    async def test() -> None:
        with scripted_app() as app:
            url = app.script("/slow", SLEEPS)
            # #tt: 11203 once the total time is spent, however many retries were left.
            hooks, seen = Webhooks(), Seen()
            began = time.monotonic()
            err = await failure(hooks, url + "#rt=300&rp=rt&rc=5&tt=1000", seen)
            took = time.monotonic() - began
            assert err.code == 11203 and 1.0 <= took < 2.0
            assert 3 <= len(seen.exchanges) <= 4 and seen.errors[-1] == 11203
            assert len(app.hits_for("/slow")) == len(seen.exchanges) and len(seen.tokens) == 1
            # Without #tt the limit is the webhook_timeout setting (15 s by default), and the code 11205.
            short = Webhooks(timeout=1.0)
            for fragment in ("#rt=300&rp=rt&rc=5", ""):
                began = time.monotonic()
                assert (await failure(short, url + fragment)).code == 11205
                assert 1.0 <= time.monotonic() - began < 2.0
            await hooks.close()
            await short.close()

    run(test)


def test_a_host_that_never_answers_does_not_delay_the_others() -> None:
    async def test() -> None:
        with scripted_app("127.0.0.1") as hanging, scripted_app("127.0.0.2") as other:
            hooks = Webhooks(timeout=30.0)
            stuck_url = hanging.script("/voice", Step(sleep=60.0))
            stuck = [
                asyncio.ensure_future(hooks.request(stuck_url, "POST", PARAMS, AUTH))
                for _ in range(PER_HOST + 4)
            ]
            await asyncio.to_thread(hanging.wait_hits, "/voice", PER_HOST)
            url = other.script("/voice", Step(body="<Response><Say>quick</Say></Response>"))
            began = time.monotonic()
            answers = await asyncio.gather(*(hooks.request(url, "POST", PARAMS, AUTH) for _ in range(20)))
            assert time.monotonic() - began < 1.0
            assert all("quick" in a.body for a in answers) and len(other.hits) == 20
            # The hanging host has PER_HOST requests under way; the rest wait for one of them to end.
            assert len(hanging.hits) == PER_HOST and not any(task.done() for task in stuck)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
            await hooks.close()

    run(test)
