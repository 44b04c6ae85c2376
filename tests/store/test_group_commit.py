"""Database.write(): the writes of one loop turn share a commit, each block in a savepoint of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from telephonist.store.db import Database, insert_row
from telephonist.store.models import message_senders

_NEW = insert_row(message_senders)


def senders(path: Path) -> set[str]:
    other = Database(f"sqlite:///{path}")  # a second connection: it sees only what was committed
    try:
        with other.tx() as conn:
            return set(conn.execute(select(message_senders.c.sender)).scalars())
    finally:
        other.close()


def test_blocks_of_one_turn_share_a_commit_and_a_failing_block_undoes_only_its_own(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    commits = 0
    commit = db.commit_group

    def counted() -> None:
        nonlocal commits
        commits += db._group is not None
        commit()

    db.commit_group = counted  # type: ignore[method-assign]

    async def write(sender: str, fail: bool) -> None:
        async with db.write() as q:
            q.run(_NEW, sender=sender, next_slot=1.0)
            if fail:
                raise ValueError(sender)
        assert sender in senders(path)  # resumed only once on disk

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(
            *(write(f"+1555000{i:04d}", fail=i % 3 == 0) for i in range(9)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert [type(r).__name__ for r in results] == ["ValueError", "NoneType", "NoneType"] * 3
    assert senders(path) == {f"+1555000{i:04d}" for i in range(9) if i % 3}
    assert commits == 1
    db.close()


def test_blocks_one_after_another_commit_each_and_a_failing_one_is_undone(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 't.db'}")
    db.migrate()

    async def main() -> None:
        async with db.write() as q:
            q.run(_NEW, sender="+15550000001", next_slot=1.0)
        with pytest.raises(KeyError):
            async with db.write() as q:
                q.run(_NEW, sender="+15550000002", next_slot=1.0)
                raise KeyError("undone")

    asyncio.run(main())
    assert senders(tmp_path / "t.db") == {"+15550000001"}
    db.close()
