"""A virtual phone's leg, alone: a REST hang-up or redirect cancels the call's program wherever it waits,
even when the key it waits for arrives in the same turn of the event loop (Python 3.11's wait_for
returned the key then, the cancellation lost: the call looped on after its hang-up)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from telephonist.carriers.sim.network import SimLeg
from telephonist.twiml.verbs import Gather


def leg() -> SimLeg:
    return SimLeg(SimpleNamespace(scale=1.0), "CA" + "0" * 32, "+15551230000", [])  # type: ignore[arg-type]


def cancel_in_each_turn(start: Callable[[SimLeg], Awaitable[Any]], key_first: bool) -> None:
    """Start the wait, press a key (before it, or just as it is cancelled), cancel it 0-4 turns later:
    a task whose cancel() was accepted ends cancelled."""

    async def test() -> None:
        for turns in range(5):
            phone = leg()
            if key_first:
                phone.press("1")
            task = asyncio.ensure_future(start(phone))
            for _ in range(turns):
                await asyncio.sleep(0)
            if not key_first:
                phone.press("1")
            accepted = task.cancel()
            await asyncio.wait([task])
            assert task.cancelled() or not accepted, f"cancellation lost after {turns} turns"

    asyncio.run(test())


def test_a_cancelled_gather_stays_cancelled() -> None:
    cancel_in_each_turn(lambda phone: phone.collect(Gather(num_digits=1)), key_first=True)
    cancel_in_each_turn(lambda phone: phone.collect(Gather(num_digits=1)), key_first=False)


def test_a_cancelled_prompt_stays_cancelled() -> None:
    cancel_in_each_turn(lambda phone: phone.say("Press a key", "man", "en", interruptible=True), False)


def test_a_cancelled_ring_stays_cancelled() -> None:
    async def test() -> None:
        for turns in range(4):
            phone = leg()
            phone.net.phone_now = lambda number: SimpleNamespace(  # type: ignore[attr-defined]
                answer="manual", ring_seconds=1.0
            )
            task = asyncio.ensure_future(phone.wait_answer(60))
            for _ in range(turns):
                await asyncio.sleep(0)
            phone.phone_answers()
            accepted = task.cancel()
            await asyncio.wait([task])
            assert task.cancelled() or not accepted, f"cancellation lost after {turns} turns"

    asyncio.run(test())
