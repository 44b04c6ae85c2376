"""The job runner's leases: a job still running when its lease would end is not run again, neither by the
runner that holds it nor by another node's."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import postgres_url
from telephonist.store import jobs
from telephonist.store.db import Database
from telephonist.store.jobs import Job, JobRunner, enqueue
from telephonist.store.models import jobs as jobs_table


@pytest.mark.parametrize("nodes", [1, 2])
def test_a_job_that_outlives_its_lease_runs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nodes: int
) -> None:
    monkeypatch.setattr(jobs, "LEASE_SECONDS", 2.0)
    if nodes == 1:
        url = f"sqlite:///{tmp_path / 't.db'}"
        Database(url).migrate()
    else:  # two engines on one PostgreSQL database
        try:
            url = postgres_url(tmp_path)
        except RuntimeError as err:
            if "not installed" not in str(err):
                raise
            pytest.skip(str(err))
    dbs = [Database(url) for _ in range(nodes)]
    runs: list[str] = []

    def runner(db: Database, node: str) -> JobRunner:
        r = JobRunner(db, node)

        async def slow(job: Job) -> None:  # a webhook to a slow app: longer than the lease
            runs.append(node)
            await asyncio.sleep(3.0)
            r.done(job)

        r.handlers["slow"] = slow
        return r

    async def main() -> None:
        with dbs[0].tx() as conn:
            enqueue(conn, "slow", {})
        tasks = [asyncio.create_task(runner(db, f"node-{i}").run()) for i, db in enumerate(dbs)]
        await asyncio.sleep(4.5)  # the job's end, and the next claim, which deletes it
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert len(runs) == 1
    with dbs[0].tx() as conn:
        assert conn.execute(select(func.count()).select_from(jobs_table)).scalar() == 0
    for db in dbs:
        db.close()
