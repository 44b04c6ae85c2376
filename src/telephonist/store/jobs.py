"""Durable jobs: written in the resource's transaction, claimed with a lease, deleted by their handler.

A handler that must run exactly once (a delivery receipt) deletes its job in the same transaction as its
effects; one that may repeat (a webhook) hands it to `done` after the fact, and the runner deletes the
jobs done since its last round with its next claim. Jobs sharing a `key` run in order, one after another
in one task.

Two kinds of handler. An async handler runs each job in its own task (webhooks, calls). A batch handler
is a plain function that works in the database only (delivery receipts): the runner gives it every
claimed job of its kind in one transaction, one statement per item rather than one transaction. If a
batch fails, its jobs are run one by one, so one bad job holds up only itself.

A poller is work whose queue is a resource table rather than jobs (queued messages): the runner calls
it in a transaction with a limit each time round, and goes round again at once while it is busy. Its
`due` function tells when its next item is due, so that the runner sleeps no longer than that.

The runner outlives its database: while it cannot be reached (a PostgreSQL restart) its rounds fail and it
waits a little longer before each next one; the jobs finished meanwhile are deleted, and those that failed
given their retry, by the first round that reaches the database again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from telephonist.store.db import Database, Raw, Tx, Unavailable, insert_row, raw
from telephonist.store.models import jobs

log = logging.getLogger("telephonist.jobs")
LEASE_SECONDS = 120.0
# Once woken, the runner waits a little so that the work of many requests shares one batch (and one
# commit): 2 ms per item its last round took, up to 50 ms. Light load waits ~nothing, heavy load batches.
WINDOW_PER_ITEM, MAX_WINDOW = 0.002, 0.05
# After a failed round (the database unreachable), the runner waits this long, doubling up to the most.
PAUSE_MIN, PAUSE_MAX = 0.05, 2.0


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


Handler = Callable[[Job], Awaitable[None]]
BatchHandler = Callable[[Raw, list[Job]], None]
Poller = Callable[[Raw, int], int]  # (transaction, limit) -> how many items it took
Due = Callable[[Raw], float | None]  # when a poller's next item is due (epoch seconds), if it has one

_INSERT = insert_row(jobs)
_DELETE = delete(jobs).where(jobs.c.id == bindparam("id"))
_RETRY = (
    update(jobs)
    .where(jobs.c.id == bindparam("id"))
    .values(run_at=bindparam("run_at"), claimed_until=0.0, attempts=bindparam("attempts"))
)
_CLAIM = (
    update(jobs)
    .where(
        jobs.c.id.in_(
            select(jobs.c.id)
            .where(jobs.c.run_at <= bindparam("now"), jobs.c.claimed_until < bindparam("now"))
            .order_by(jobs.c.id)
            .limit(bindparam("n"))
            .with_for_update(skip_locked=True)  # PostgreSQL: engines claim disjoint jobs (SQLite: ignored)
        )
    )
    .values(claimed_until=bindparam("until"), claimed_by=bindparam("node"))
    .returning(*jobs.c)
)
_RENEW = (
    update(jobs)
    .where(jobs.c.id == bindparam("id"), jobs.c.claimed_by == bindparam("node"))
    .values(claimed_until=bindparam("until"))
)
_NEXT_DUE = (
    select(jobs.c.run_at).where(jobs.c.claimed_until < bindparam("now")).order_by(jobs.c.run_at).limit(1)
)
_RELEASE = (
    update(jobs).where(jobs.c.claimed_by == bindparam("node")).values(claimed_until=0.0, claimed_by=None)
)


def enqueue(
    conn: Tx, kind: str, payload: dict[str, Any], delay: float = 0.0, at: float | None = None
) -> None:
    """A job due in `delay` seconds, or at `at` (epoch seconds)."""
    raw(conn).run(
        _INSERT,
        kind=kind,
        payload=payload,
        run_at=time.time() + delay if at is None else at,
        claimed_until=0.0,
        attempts=0,
        claimed_by=None,
    )


def finish(conn: Tx, job: Job) -> None:
    raw(conn).run(_DELETE, id=job.id)


def finish_all(q: Raw, done: list[Job]) -> None:
    q.many(_DELETE, [{"id": job.id} for job in done])


def retry(conn: Tx, job: Job, delay: float) -> None:
    raw(conn).run(_RETRY, id=job.id, run_at=time.time() + delay, attempts=job.attempts + 1)


class JobRunner:
    def __init__(self, db: Database, node: str, concurrency: int = 200, batch: int = 200) -> None:
        self.db = db
        self.node = node
        self.handlers: dict[str, Handler] = {}
        self.batch_handlers: dict[str, BatchHandler] = {}
        self.pollers: list[tuple[Poller, Due]] = []
        self.notify: Callable[[], None] | None = None  # tells the engines of other processes (relay.py)
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._batch = batch
        self._chains: dict[str, list[Job]] = {}  # key -> its jobs waiting behind the one running
        self._done: list[dict[str, int]] = []
        self._retries: list[dict[str, Any]] = []  # retries the database was down for: written next round
        # The jobs claimed here and not over (running, or waiting behind another of their key): id -> when
        # its lease ends. A claim renews those past half their lease, so that no job still running here
        # (a slow webhook, a long wait in its key's line) is claimed again, here or elsewhere.
        self._held: dict[int, float] = {}
        self._pause = PAUSE_MIN
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()
        if self.notify is not None:
            self.notify()

    def done(self, job: Job) -> None:
        """A job that may repeat is finished: deleted with the next claim (within a second), so a crash
        before then runs it again."""
        self._done.append({"id": job.id})

    def release(self, q: Raw, node: str) -> None:
        """The claims of a node that is gone go back to the queue: its jobs run again elsewhere."""
        q.run(_RELEASE, node=node)

    async def run(self) -> None:
        while True:
            try:
                await self._rounds()
            except Exception as exc:
                if isinstance(exc, Unavailable):
                    log.warning("job runner: the database is unavailable (%s); trying again", exc)
                else:
                    log.exception("job runner: a round failed; trying again")
                await asyncio.sleep(self._pause)
                self._pause = min(PAUSE_MAX, self._pause * 2)

    async def _rounds(self) -> None:
        """Claim and run jobs, round after round, until a round fails (run() starts them again)."""
        while True:
            claimed = await self._claim()
            batches: dict[str, list[Job]] = {}
            for job in claimed:
                if job.kind in self.batch_handlers:
                    batches.setdefault(job.kind, []).append(job)
                    continue
                key = job.payload.get("key")
                if key is not None:
                    if key in self._chains:
                        self._chains[key].append(job)
                        continue
                    self._chains[key] = []
                await self._slots.acquire()
                task = asyncio.create_task(self._run_one(job, key))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            for kind, batch in batches.items():
                await self._run_batch(self.batch_handlers[kind], batch)
            busy = len(claimed) >= self._batch
            taken = len(claimed)
            for poller, _ in self.pollers:
                n = await self._poll(poller)
                busy |= n >= self._batch
                taken += n
            if taken and not self.db.url.startswith("sqlite"):
                # No group commit to fill on PostgreSQL: while there is work, go round again at once.
                await asyncio.sleep(0)
            elif not busy:
                self._wake.clear()
                timeout = self._next_due()  # first: if it raises, no wait() coroutine is left unawaited
                try:
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                else:
                    await asyncio.sleep(min(MAX_WINDOW, taken * WINDOW_PER_ITEM))
            else:
                await asyncio.sleep(0)

    def _next_due(self) -> float:
        now = time.time()
        with self.db.read() as q:
            row = q.first(_NEXT_DUE, now=now)
            due = [float(row["run_at"])] if row is not None else []
            due += [t for _, next_due in self.pollers if (t := next_due(q)) is not None]
        return min(1.0, max(0.005, min(due, default=now + 1.0) - now))

    async def _claim(self) -> list[Job]:
        now = time.time()
        until = now + LEASE_SECONDS
        done, self._done = self._done, []
        retries, self._retries = self._retries, []
        renew = [
            {"id": job_id, "until": until, "node": self.node}
            for job_id, ends in self._held.items()
            if ends - now < LEASE_SECONDS / 2
        ]
        try:
            async with self.db.write() as q:
                q.many(_DELETE, done)
                q.many(_RETRY, retries)
                q.many(_RENEW, renew)
                rows = q.all(_CLAIM, now=now, n=self._batch, until=until, node=self.node)
        except BaseException:
            # Not written: the jobs done meanwhile would run again once their lease is over.
            self._done, self._retries = done + self._done, retries + self._retries
            raise
        self._pause = PAUSE_MIN
        for lease in renew:
            if lease["id"] in self._held:
                self._held[lease["id"]] = until
        # A job whose lease ran out while it was still running here (the database was unreachable for
        # longer than the lease) is claimed again by this claim: it goes on running once, its lease renewed.
        fresh = [
            Job(r["id"], r["kind"], r["payload"], r["attempts"]) for r in rows if r["id"] not in self._held
        ]
        self._held.update((r["id"], until) for r in rows)
        return sorted(fresh, key=lambda job: job.id)

    async def _poll(self, poller: Poller) -> int:
        """Run a poller; how many items it took (a full batch means there may be more)."""
        try:
            async with self.db.write() as q:
                return poller(q, self._batch)
        except Unavailable:
            raise  # the round ends: the runner waits for the database
        except Exception:
            log.exception("poller %s failed", getattr(poller, "__qualname__", poller))
            return 0

    async def _run_batch(self, handler: BatchHandler, batch: list[Job]) -> None:
        try:
            await self._try_batch(handler, batch)
        finally:
            for job in batch:
                self._held.pop(job.id, None)

    async def _try_batch(self, handler: BatchHandler, batch: list[Job]) -> None:
        try:
            async with self.db.write() as q:
                handler(q, batch)
        except Unavailable as exc:
            log.warning(
                "%d %s jobs: the database is unavailable (%s); retrying", len(batch), batch[0].kind, exc
            )
            for job in batch:
                self._retry(job, now=False)
        except Exception:
            if len(batch) > 1:
                for job in batch:
                    await self._try_batch(handler, [job])
                return
            job = batch[0]
            log.exception("job %s (%s) failed; retrying", job.id, job.kind)
            self._retry(job)

    async def _run_one(self, job: Job, key: str | None) -> None:
        """Run a job, then the jobs of its key claimed meanwhile, in order."""
        try:
            await self._dispatch(job)
            if key is not None:
                chain = self._chains[key]
                while chain:
                    await self._dispatch(chain.pop(0))
        finally:
            if key is not None:
                del self._chains[key]
            self._slots.release()

    async def _dispatch(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            await handler(job)
        except Unavailable as exc:
            log.warning("job %s (%s): the database is unavailable (%s); retrying", job.id, job.kind, exc)
            self._retry(job, now=False)
        except Exception:
            log.exception("job %s (%s) failed; retrying", job.id, job.kind)
            self._retry(job)
        finally:
            self._held.pop(job.id, None)

    def _retry(self, job: Job, now: bool = True) -> None:
        """Run the job again later. With the database unavailable (or `now` false, when it just was), the
        next round that reaches it writes the retry."""
        delay = min(300.0, 2.0**job.attempts)
        again = {"id": job.id, "run_at": time.time() + delay, "attempts": job.attempts + 1}
        if now:
            try:
                with self.db.fast() as q:
                    q.run(_RETRY, again)
                return
            except Unavailable:
                pass
        self._retries.append(again)

    async def drain(self) -> None:
        """Wait for the jobs already started and delete those done (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        done, self._done = self._done, []
        try:
            with self.db.fast() as q:
                q.many(_DELETE, done)
        except Unavailable as exc:  # they run again after their lease, as after a crash
            log.warning("%d jobs done could not be deleted: the database is unavailable (%s)", len(done), exc)
