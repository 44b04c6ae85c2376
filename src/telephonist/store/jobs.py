"""Durable jobs: written in the resource's transaction, claimed with a lease, deleted by their handler.

A handler that must run exactly once (a message send) deletes its job in the same transaction as its
effects; one that may repeat (a webhook) deletes it after the fact. Jobs sharing a `key` run in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from telephonist.store.db import Database
from telephonist.store.models import jobs

log = logging.getLogger("telephonist.jobs")
LEASE_SECONDS = 120.0


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


Handler = Callable[[Job], Awaitable[None]]


def enqueue(conn: Connection, kind: str, payload: dict[str, Any], delay: float = 0.0) -> None:
    conn.execute(
        insert(jobs).values(kind=kind, payload=payload, run_at=time.time() + delay, claimed_until=0.0)
    )


def finish(conn: Connection, job: Job) -> None:
    conn.execute(delete(jobs).where(jobs.c.id == job.id))


def retry(conn: Connection, job: Job, delay: float) -> None:
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job.id)
        .values(run_at=time.time() + delay, claimed_until=0.0, attempts=job.attempts + 1)
    )


class JobRunner:
    def __init__(self, db: Database, concurrency: int = 200, batch: int = 500) -> None:
        self.db = db
        self.handlers: dict[str, Handler] = {}
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._batch = batch
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    def release_stale_claims(self) -> None:
        """At start-up every claim belongs to a process that is gone."""
        with self.db.tx() as conn:
            conn.execute(update(jobs).values(claimed_until=0.0))

    async def run(self) -> None:
        while True:
            claimed = self._claim()
            for job in claimed:
                await self._slots.acquire()
                task = asyncio.create_task(self._run_one(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if len(claimed) < self._batch:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._next_due())
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(0)

    def _next_due(self) -> float:
        with self.db.tx() as conn:
            due = conn.execute(select(jobs.c.run_at).order_by(jobs.c.run_at).limit(1)).scalar()
        if due is None:
            return 1.0
        return min(1.0, max(0.005, float(due) - time.time()))

    def _claim(self) -> list[Job]:
        now = time.time()
        with self.db.tx() as conn:
            rows = (
                conn.execute(
                    select(jobs)
                    .where(jobs.c.run_at <= now, jobs.c.claimed_until < now)
                    .order_by(jobs.c.id)
                    .limit(self._batch)
                )
                .mappings()
                .all()
            )
            if rows:
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id.in_([r["id"] for r in rows]))
                    .values(claimed_until=now + LEASE_SECONDS)
                )
        return [Job(r["id"], r["kind"], r["payload"], r["attempts"]) for r in rows]

    async def _run_one(self, job: Job) -> None:
        try:
            key = job.payload.get("key")
            if key is None:
                await self._dispatch(job)
                return
            lock, users = self._locks.get(key, (asyncio.Lock(), 0))
            self._locks[key] = (lock, users + 1)
            try:
                async with lock:
                    await self._dispatch(job)
            finally:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
        finally:
            self._slots.release()

    async def _dispatch(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            await handler(job)
        except Exception:
            log.exception("job %s (%s) failed; retrying", job.id, job.kind)
            with self.db.tx() as conn:
                retry(conn, job, delay=min(300.0, 2.0**job.attempts))

    async def drain(self) -> None:
        """Wait for the jobs already started (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
